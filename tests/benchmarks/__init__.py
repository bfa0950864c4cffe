"""Scripts that print numbers (``python -m tests.benchmarks.bench_…``); the test command does not run them."""
