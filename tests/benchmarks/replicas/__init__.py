"""The parts of the replica benchmark; run it as ``.venv/bin/python -m tests.benchmarks.bench_replicas``, whose
docstring explains every number it prints.

- ``fleet``: the processes (the simulator, the PostgreSQL cluster, the replicas) and their cleanup;
- ``client``: MCP sessions over streamable HTTP, round-robin over the replicas, a failed call made again elsewhere;
- ``measure``: reading the store and the simulator, the sampled counters and memory, the sha256 of the videos;
- ``scenario``: one run (the calls, the SIGKILL, the wait for the tasks) and the isolation checks;
- ``report``: the checks and numbers of each run, the table, and a scenario beside its baseline.
"""
