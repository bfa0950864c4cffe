"""Replica numbers: several ``serve --http`` processes on one store, a replica SIGKILLed, and many open tasks.

Everything runs on this machine as separate processes talking over 127.0.0.1: one ``wan-video-mcp simulate``
(DashScope protocol, ``--no-render``: every task's video is the same small placeholder MP4, so rendering does not
take the two CPUs), the server replicas (``wan-video-mcp serve --http --auth required``, provider ``dashscope``,
``DASHSCOPE_BASE_URL`` = the simulator, key ``sk-bench``, ``WAN_POLL_QPS=20``, one shared ``WAN_MCP_DATA_DIR``, a
tokens file with two principals, ``alice`` and ``bob``) and this process as the MCP client (the Python SDK over
streamable HTTP with a bearer token). Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_replicas              # about 8 minutes
    .venv/bin/python -m tests.benchmarks.bench_replicas --quick      # about 2-3 minutes
    options: --tasks N  --open-tasks N  --only A|B  --no-baseline  --store postgres|sqlite  --kill-at S
             --kill-into-call MS  --keep-logs

This file is the entry point (the options and the order of the runs); the parts are in ``tests/benchmarks/replicas/``:
``fleet`` (the processes), ``client`` (the MCP sessions and the calls made again), ``measure`` (the store, the
simulator's counters, memory, hashes, lags), ``scenario`` (one run, the isolation checks) and ``report`` (the table).

The store (``--store``): ``postgres`` (the default) gives every replica ``WAN_DATABASE_URL`` naming a new database
on a throwaway cluster (``tests/pgcluster.py``, fsync on; ``WAN_TEST_DATABASE_URL`` names a running server to use
instead); ``sqlite`` gives them none, so they share ``tasks.sqlite3`` in the shared data directory.

A. ``--tasks`` N (default 300, quick 30) tasks on 3 replicas, one replica SIGKILLed and restarted.
   Simulated tasks queue 5 s and run 65 s, each time scaled by a factor drawn from [0.3, 1.7] (``--jitter 0.7``),
   so they take about 20-120 s (quick: 2 + 20 s, jitter 0.5: about 11-33 s). The client opens one session per
   (principal, replica) and issues N ``generate_video`` calls (wan2.6-t2v, 1280*720, 5 s, distinct prompts,
   ``wait_seconds=0``, each with its own ``idempotency_key``), alternating principals and round-robin over the
   replicas, spread evenly over the first 30 s (quick: 10 s), at most 20 in flight. A call whose replica fails (a
   refused connection, a broken session, no answer within 60 s) is made again on the next replica with the SAME
   idempotency key, as a real client would: it must attach to the task, not pay for a second one. ``--kill-at``
   seconds after the first call (default 40 % into the submit window, so calls are in flight and tasks open), as
   soon as a call has been on it for ``--kill-into-call`` ms (default 30; at most 5 s later), one replica is
   SIGKILLed (its whole process group), and 5 s later started again on the same port with the same environment.
   The calls it had in progress are listed with what became of them. Then the client waits (at most 10 min;
   quick: 3) until the store holds N tasks, each succeeded with its video downloaded, and prints:
   - submits / accepted: the simulator's count of submit requests and of tasks it created (must be exactly N:
     one more is a task paid twice);
   - tasks in the store, by idempotency key (N distinct keys, N rows, each with the principal that called, every
     call's returned task id the one the store has for its key; none lost, none duplicated);
   - downloads / completed: video GETs the simulator answered and bodies it sent whole (ideally N each);
   - sha256: every local file hashed here equals the sha256 the store recorded and the sha256 of the bytes the
     simulator serves (one video URL fetched here once, after the counters were read);
   - polls per task: the simulator's task polls (``GET /tasks/{id}``) over N, and per task (the simulator
     counts each task's polls) p50 / p95 / max; and the reads of the task list (``GET /tasks``: the engine's
     sweeps), which spend the same budget;
   - detection lag: the store's ``last_polled_at`` (the poll that saw SUCCEEDED; no later poll happens) minus
     the simulator's ``end_time`` of the task (the instant it became SUCCEEDED; both clocks are this machine's
     ``time.time()``), p50 / p95 / max; and the saved lag, ``downloaded_at`` minus ``end_time``; the five
     slowest detections are listed with the replica that took the call and their poll counts;
   - peak queries per second: the simulator's counters of polls and list reads sampled every second
     (``/_sim/stats``), the largest increase over one interval divided by its length, and over five; the
     account's budget is 20 a second (the 1 s figure is "ok" up to 21: the samples' own timing varies);
   - each replica's log: lines at ERROR and tracebacks, counted; and the replicas' memory (as in B);
   - calls made again after a replica failed, and calls that failed on every attempt;
   - isolation: for 20 tasks of each principal (quick: 5), the OTHER principal's ``check_task`` and
     ``resources/read wan-video://videos/{id}.mp4`` must fail with the same text as for an id that does not
     exist (the ids replaced), while the owner's succeed; each principal's ``list_tasks`` (limit 100) on every
     replica must show only its own tasks. Counts of checks passed and failed.
B. ``--open-tasks`` N (default 500, quick 60) tasks on ONE replica (a fresh simulator and store with the same
   task times), all submitted as fast as 20 calls in flight allow, ``wait_seconds=0``: the same numbers as A
   (no kill, no isolation checks), chiefly detection lag p95, polls per task, and the replica's memory,
   ``VmHWM`` (peak) and ``VmRSS`` from ``/proc/<pid>/status`` sampled every second, the largest seen.
B0 (sweeps off), the baseline, right after B unless ``--no-baseline`` (``--only B`` runs B and B0): B again, on
   another fresh simulator (the same settings) and store, with ``WAN_SWEEP_MIN_TASKS=0`` on the replica, so the
   engine never reads the task list (``server/jobs/sweep.py``) and polls each task on its own adaptive schedule,
   as before the sweeps. Its checks are B's; its numbers show what the sweeps change.

The table has a section per run (A, B, B0 (sweeps off)). The issue's goals are printed next to A's and B's
numbers (the baseline has none); missing one is reported, never an error. After the table, B's numbers that the
sweeps change (polls per task mean and p50 / p95 / max, detection and saved lag, task-list reads, peak queries per
second, the replica's VmHWM / VmRSS) are printed beside B0's; those of B0 appear there only. The exit status is 1
when a correctness check of any run (the baseline's too) fails: submits != tasks, a task lost or not finished, a
sha256 mismatch, a leak between principals. Each process's output goes to a log file in the temporary directory;
on a failure the tails are printed. Every process started here is stopped (its process group) and the directory
removed on the way out.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence

import anyio

from tests.benchmarks.replicas.fleet import Rig, rig
from tests.benchmarks.replicas.report import Report, report_outcome
from tests.benchmarks.replicas.scenario import Plan, Scenario, say

ISOLATION_SAMPLE = (20, 5)  # tasks per principal: full, quick
BASELINE_ENV = {"WAN_SWEEP_MIN_TASKS": "0"}  # no sweeps: each task polled on its own schedule


def plans(args: argparse.Namespace) -> list[Plan]:
    quick = args.quick
    queue, run, jitter = (2.0, 20.0, 0.5) if quick else (5.0, 65.0, 0.7)
    window = 10.0 if quick else 30.0
    longest = (queue + run) * (1 + jitter)
    timeout = max(180.0 if quick else 600.0, longest)
    sample = ISOLATION_SAMPLE[1] if quick else ISOLATION_SAMPLE[0]
    kill_at = args.kill_at if args.kill_at is not None else 0.4 * window
    chosen = []
    if args.only in (None, "A"):
        into = args.kill_into_call / 1000
        chosen.append(
            Plan("A", args.tasks, 3, window, kill_at, into, queue, run, jitter, max(timeout, longest), sample)
        )
    if args.only in (None, "B"):
        chosen.append(Plan("B", args.open_tasks, 1, 0.0, None, 0.0, queue, run, jitter, timeout, 0))
        if not args.no_baseline:  # B again, with sweeps off
            baseline = Plan("B0", args.open_tasks, 1, 0.0, None, 0.0, queue, run, jitter, timeout, 0)
            baseline.env, baseline.note, baseline.baseline_of = dict(BASELINE_ENV), "sweeps off", "B"
            chosen.append(baseline)
    return chosen


async def main(args: argparse.Namespace, r: Rig) -> int:
    report, problems = Report(), list[str]()
    began = time.perf_counter()
    for plan in plans(args):
        outcome = await Scenario(plan, r).run()
        report_outcome(outcome, report, problems)
        for proc in outcome.replicas:
            proc.stop()
    if problems:
        for proc in r.procs.all:
            say(f"\n   {proc.name} ({proc.log}), last lines:\n{proc.tail(20)}")
    report.print()
    print(
        f"\ntotal {time.perf_counter() - began:.0f} s; store {args.store}; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    if problems:
        print("\nCORRECTNESS FAILURES:")
        for line in problems:
            print(f" - {line}")
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter tasks (about 2-3 minutes)")
    parser.add_argument("--tasks", type=int, help="tasks in scenario A (default 300, quick 30)")
    parser.add_argument("--open-tasks", type=int, help="tasks in scenario B and its baseline (default 500, quick 60)")
    parser.add_argument("--only", choices=("A", "B"), help="run one scenario (B: with its baseline)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip B0, scenario B again with sweeps off (WAN_SWEEP_MIN_TASKS=0)"
    )
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres", help="the shared store")
    parser.add_argument(
        "--kill-at", type=float, help="seconds after the first call to SIGKILL a replica (default 40%% of the window)"
    )
    parser.add_argument(
        "--kill-into-call", type=float, default=30.0, help="kill this many ms into a call on the replica (default 30)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory (its path is printed)")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = 30 if args.quick else 300
    if args.open_tasks is None:
        args.open_tasks = 60 if args.quick else 500
    return args


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, interrupt)
    with rig(args.store, args.keep_logs) as r:
        say(f"work directory {r.tmp}" + (f"; PostgreSQL {r.pg_server}" if r.pg_server else ""))
        try:
            status: int = anyio.run(main, args, r)
            return status
        except BaseException:
            say("\n!! the benchmark stopped; the processes' last lines:")
            for proc in r.procs.all:
                say(f"   {proc.name} ({proc.log}):\n{proc.tail()}")
            raise


if __name__ == "__main__":
    sys.exit(run())
