"""Server numbers: cold start, per-call overhead, detection lag, concurrent tasks.

Everything runs on this machine and talks to 127.0.0.1 only (the simulator).
Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_server            # about 2-3 minutes
    .venv/bin/python -m tests.benchmarks.bench_server --quick    # about 1 minute
    options: --runs N  --calls N  --tasks K  --concurrent M  --only 1,2,3,4  --instructions

What each number means:

1. Cold start (``--runs``, default 5). Wall time from spawning the process over
   stdio to a completed ``initialize`` + ``tools/list`` through the MCP SDK
   ``Client``: ``python -m wan_video_mcp.server.cli serve`` with the default
   provider (DashScope; no key is needed to start) and with
   ``WAN_PROVIDER=simulator`` (which also starts the in-process simulator), each
   with a fresh ``WAN_MCP_DATA_DIR`` (so it includes creating the SQLite store),
   against a bare ``MCPServer`` with one trivial tool spawned the same way.
   Median, min and max in ms, and each median over the bare server's. The
   difference is what this project adds to the interpreter + SDK import and
   handshake. Wall time on a shared 2-core VM varies by +-15 % between runs;
   ``--instructions`` adds section 1b: each server run once under valgrind's
   callgrind, counting instructions from spawn through ``tools/list`` to exit,
   a number that repeats exactly.

2. Per-call overhead (``--calls``, default 200). In-process ``Client(server)``
   (in-memory transport, no subprocess) on ``build_server(Settings(...))``:
   median and p95 latency of ``list_tasks`` (empty store) and of
   ``generate_video`` with ``dry_run=true`` (schema + validation + pricing,
   nothing submitted), against the bare server's trivial tool. In ms.

3. Detection lag and polls per task (``--tasks`` K, default 5). An in-process
   simulator (DashScope protocol on 127.0.0.1, fallback renderer) and the real
   server (``provider=dashscope``, ``DASHSCOPE_BASE_URL`` = the simulator, key
   ``sk-bench``, default poll settings), driven in-process through the MCP
   client. K distinct ``generate_video`` calls (wan2.6-t2v, 5 s); the simulated
   tasks take about 20-30 s (queue 2 s + run 25 s, each scaled by a seeded
   jitter of +-15 % so the K end times differ; with jitter 0 all K would end at
   the same instant and be K copies of one sample).
   - detection lag: the engine's ``last_polled_at`` for the poll that saw SUCCEEDED (``finished_at``
     holds the provider's own end time)
     minus the simulator's ``ends_at`` (the instant the task became SUCCEEDED).
     Both clocks are this process's ``time.time()``.
   - saved lag: the engine's ``downloaded_at`` minus ``ends_at`` (video on disk).
   - polls/task: the simulator's count of task queries divided by K.
   Two scenarios, run side by side with separate simulators and data dirs:
   (a) nobody waits (``wait_seconds=0``: the background poller alone),
   (b) every call waits (``wait_seconds=120``: the engine polls at
       ``WAN_POLL_MIN_SECONDS`` while someone waits).

4. Concurrent tasks per process (``--concurrent`` M, default 50). M distinct
   ``generate_video`` calls issued at once in-process, each waiting
   (``wait_seconds=120``), against a simulator with short tasks (queue 0.5 s +
   run 3 s, fallback renderer). Wall time until every call has returned with its
   video downloaded, polls issued (simulator count), submits (must equal M),
   downloads completed, and this process's peak RSS (``ru_maxrss``, which
   includes the simulator and everything run before section 4).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.config import DEFAULT_POLL_MAX_SECONDS, Settings
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

REPO = Path(__file__).resolve().parents[2]
BARE_SERVER = """\
from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def ping() -> str:
    return "pong"


server.run("stdio")
"""
QUIET_LOGGERS = ("wan_video_mcp", "httpx", "httpcore", "mcp")
WAIT_SECONDS = 120  # long enough for every simulated task here; generate_video returns as soon as it is done


@dataclass
class Row:
    section: str
    metric: str
    value: str
    unit: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, section: str, metric: str, value: float | int | str, unit: str, fmt: str = ".1f") -> None:
        text = value if isinstance(value, str) else format(value, fmt if isinstance(value, float) else "d")
        self.rows.append(Row(section, metric, text, unit))

    def print(self) -> None:
        widths = [
            max(len(getattr(r, name)) for r in [Row("section", "metric", "value", "unit"), *self.rows])
            for name in ("section", "metric", "value", "unit")
        ]
        print()
        for row in [Row("section", "metric", "value", "unit"), *self.rows]:
            cells = (row.section.ljust(widths[0]), row.metric.ljust(widths[1]), row.value.rjust(widths[2]), row.unit)
            print("  ".join(cells).rstrip())


def quiet() -> None:
    """MCPServer installs an INFO console handler; keep the engine's and httpx's chatter out of the numbers."""
    import logging

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def ms(seconds: float) -> float:
    return seconds * 1000.0


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


# --------------------------------------------------------------------------- 1. cold start


async def time_cold_start(params: StdioServerParameters) -> tuple[float, int]:
    """Seconds from spawn to a completed initialize + tools/list, and the number of tools."""
    with open(os.devnull, "w") as devnull:
        started = time.perf_counter()
        async with Client(stdio_client(params, errlog=devnull)) as client:
            listing = await client.list_tools()
            elapsed = time.perf_counter() - started
    return elapsed, len(listing.tools)


HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def cold_start_servers(tmp: Path) -> dict[str, Callable[[str], StdioServerParameters]]:
    """The servers compared: ours with the default provider (DashScope, no key needed to start), ours with
    the in-process simulator, and a bare MCPServer with one trivial tool. Each spawn gets a fresh data dir."""
    bare_script = tmp / "bare_server.py"
    bare_script.write_text(BARE_SERVER)
    base_env = {"WAN_LOG_LEVEL": "WARNING"}

    def ours(provider: str) -> Callable[[str], StdioServerParameters]:
        def params(run: str) -> StdioServerParameters:
            env = base_env | {"WAN_PROVIDER": provider, "WAN_MCP_DATA_DIR": str(tmp / f"cold-{provider}-{run}")}
            args = ["-m", "wan_video_mcp.server.cli", "serve"]
            return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(REPO))

        return params

    def bare(run: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=base_env, cwd=str(REPO))

    return {"ours (dashscope)": ours("dashscope"), "ours (simulator)": ours("simulator"), "bare MCPServer": bare}


async def bench_cold_start(report: Report, runs: int, tmp: Path) -> None:
    servers = cold_start_servers(tmp)
    # One unmeasured spawn of each warms the OS file cache and writes .pyc files.
    for params in servers.values():
        await time_cold_start(params("warm"))
    times: dict[str, list[float]] = {name: [] for name in servers}
    tools: dict[str, int] = {}
    for i in range(runs):  # interleaved, so drift affects all alike
        for name, params in servers.items():
            elapsed, tools[name] = await time_cold_start(params(str(i)))
            times[name].append(elapsed)
    print(f"1. cold start (spawn -> initialize + tools/list), {runs} runs each")
    bare = statistics.median(times["bare MCPServer"])
    for name, values in times.items():
        med, lo, hi = ms(statistics.median(values)), ms(min(values)), ms(max(values))
        ratio = statistics.median(values) / bare
        print(f"   {name:17s} median {med:7.1f} ms  min {lo:7.1f}  max {hi:7.1f}  x{ratio:.3f}  ({tools[name]} tools)")
        report.add("1 cold start", f"{name} median", med, "ms")
        report.add("1 cold start", f"{name} min / max", f"{lo:.1f} / {hi:.1f}", "ms")
        report.add("1 cold start", f"{name} / bare (medians)", f"{ratio:.3f}", "x")


def count_instructions(params: StdioServerParameters) -> int:
    """Instructions one spawn executes (valgrind callgrind), from start through initialize and tools/list to
    exit at end of input: unlike wall time on a shared machine, the same count on every run."""
    lines = "".join(json.dumps(message) + "\n" for message in HANDSHAKE)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")} | (params.env or {})
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", params.command, *params.args],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        cwd=params.cwd,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None or '"id":2' not in done.stdout.replace(" ", ""):
        raise RuntimeError(f"no count or no tools/list answer: {done.stderr[-500:]}")
    return int(found.group(1))


def bench_cold_start_instructions(report: Report, tmp: Path) -> None:
    if shutil.which("valgrind") is None:
        print("1b. instructions: skipped (valgrind is not installed)")
        return
    counts = {name: count_instructions(params("count")) for name, params in cold_start_servers(tmp).items()}
    bare = counts["bare MCPServer"]
    print("1b. cold start in instructions (valgrind callgrind; spawn -> initialize + tools/list -> exit)")
    for name, count in counts.items():
        print(f"   {name:17s} {count / 1e9:6.3f} G instructions  x{count / bare:.3f}")
        report.add("1b cold start", f"{name} instructions", f"{count / 1e9:.3f}", "G")
        report.add("1b cold start", f"{name} / bare", f"{count / bare:.3f}", "x")


# --------------------------------------------------------------------------- 2. per-call overhead


async def time_interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, warmup: int = 20
) -> dict[str, list[float]]:
    """Round-robin over the calls, so load from anything else on the machine hits all of them alike."""
    for _ in range(warmup):
        for call in calls.values():
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            samples[name].append(time.perf_counter() - started)
    return samples


async def bench_per_call(report: Report, calls: int, tmp: Path) -> None:
    bare = MCPServer("bare")

    @bare.tool()
    def ping() -> str:
        return "pong"

    server = build_server(Settings(provider="simulator", data_dir=tmp / "per-call"))
    quiet()
    dry = {
        "model": "wan2.6-t2v",
        "prompt": "a paper boat on a calm lake at sunrise",
        "size": "1280*720",
        "duration": 5,
        "dry_run": True,
    }
    async with Client(bare) as bare_client, Client(server) as client:
        probe = await client.call_tool("generate_video", dry)
        assert not probe.is_error and probe.structured_content["status"] == "dry_run", probe
        results = await time_interleaved(
            {
                "bare MCPServer ping": lambda: bare_client.call_tool("ping", {}),
                "list_tasks (empty store)": lambda: client.call_tool("list_tasks", {}),
                "generate_video dry_run": lambda: client.call_tool("generate_video", dry),
            },
            calls,
        )
    print(
        f"2. per-call latency, in-process Client (memory transport), {calls} calls each after 20 warm-up, interleaved"
    )
    for name, values in results.items():
        med, tail = ms(statistics.median(values)), ms(p95(values))
        print(f"   {name:26s} median {med:6.2f} ms  p95 {tail:6.2f} ms")
        report.add("2 per call", f"{name} median", med, "ms", ".2f")
        report.add("2 per call", f"{name} p95", tail, "ms", ".2f")


# --------------------------------------------------------------------------- 3 and 4: tasks through the engine


@dataclass
class TaskRow:
    id: str
    remote_id: str | None
    state: str
    submitted_at: float | None
    finished_at: float | None
    downloaded_at: float | None
    download_state: str
    poll_count: int
    last_polled_at: float | None


def read_tasks(db: Path) -> list[TaskRow]:
    """The engine's own records, read from its SQLite file (read-only; WAL allows it alongside the writer)."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        rows = conn.execute(
            "SELECT id, remote_id, state, submitted_at, finished_at, downloaded_at, download_state, poll_count, "
            "last_polled_at "
            "FROM tasks"
        ).fetchall()
    return [TaskRow(*row) for row in rows]


def settled(rows: list[TaskRow], count: int) -> bool:
    done = [
        r
        for r in rows
        if r.download_state in ("downloaded", "download_failed") or r.state in ("failed", "canceled", "expired")
    ]
    return len(rows) == count and len(done) == count


async def wait_settled(db: Path, count: int, timeout: float) -> tuple[list[TaskRow], bool]:
    """The engine's rows once every task is settled (True), or as they are after ``timeout`` (False)."""
    rows: list[TaskRow] = []
    with anyio.move_on_after(timeout):
        while True:
            rows = await anyio.to_thread.run_sync(read_tasks, db)
            if settled(rows, count):
                return rows, True
            await anyio.sleep(0.2)
    return rows, False


def describe_stuck(rows: list[TaskRow], sim: Simulator, timeout: float) -> str:
    now, sim_tasks = time.time(), {t.task_id: t for t in sim.tasks}
    lines = [f"   !! not every task settled within {timeout:.0f} s; engine rows (sim state in brackets):"]
    for r in rows:
        task = sim_tasks.get(r.remote_id or "")
        sim_state = task.state(sim.now()) if task else "?"
        ended = f", sim ended {now - task.ends_at:.1f} s ago" if task and sim_state == "SUCCEEDED" else ""
        lines.append(
            f"      {r.id} state={r.state} download={r.download_state} engine_polls={r.poll_count} [{sim_state}{ended}]"
        )
    lines.append(f"      simulator stats: {sim.stats.snapshot()}")
    return "\n".join(lines)


def engine_settings(sim: Simulator, data_dir: Path) -> Settings:
    return Settings(provider="dashscope", api_key=SecretStr("sk-bench"), base_url=sim.base_url, data_dir=data_dir)


@dataclass
class Detection:
    label: str
    lags: list[float]  # nan: never recorded as finished
    saved_lags: list[float]  # nan: never saved
    durations: list[float]
    engine_polls: list[int]
    sim_polls: int
    submits: int
    k: int
    wall: float
    stuck: str | None  # a description of what had not settled in time


def finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


async def detection_run(
    label: str, k: int, wait_seconds: int, queue: float, run: float, jitter: float, tmp: Path
) -> Detection:
    config = SimulatorConfig(queue_seconds=queue, run_seconds=run, jitter=jitter, seed=1, renderer="fallback")
    data_dir = tmp / f"detect-{wait_seconds}"
    async with Simulator(config) as sim:
        server = build_server(engine_settings(sim, data_dir))
        quiet()
        async with Client(server) as client:
            started = time.perf_counter()

            async def one(i: int) -> None:
                arguments = {
                    "model": "wan2.6-t2v",
                    "prompt": f"bench detection {label} task {i}",
                    "size": "1280*720",
                    "duration": 5,
                    "wait_seconds": wait_seconds,
                }
                result = await client.call_tool("generate_video", arguments)
                assert not result.is_error, result

            async with anyio.create_task_group() as tg:
                for i in range(k):
                    tg.start_soon(one, i)
            # Generous: two full poll_max intervals past the longest task, plus download time.
            limit = (queue + run) * (1 + jitter) + 2 * DEFAULT_POLL_MAX_SECONDS + 30
            rows, complete = await wait_settled(data_dir / "tasks.sqlite3", k, limit)
            wall = time.perf_counter() - started
            stuck = None if complete else describe_stuck(rows, sim, limit)
        sim_tasks = {t.task_id: t for t in sim.tasks}
        lags, saved, durations = [], [], []
        for row in rows:
            task = sim_tasks[row.remote_id or ""]
            done = row.state == "succeeded" and row.last_polled_at is not None
            lags.append(row.last_polled_at - task.ends_at if done and row.last_polled_at else math.nan)
            saved.append(row.downloaded_at - task.ends_at if row.downloaded_at else math.nan)
            durations.append(task.ends_at - task.submitted_at)
        return Detection(
            label,
            lags,
            saved,
            durations,
            [r.poll_count for r in rows],
            sim.stats.polls,
            sim.stats.submits,
            k,
            wall,
            stuck,
        )


def print_detection(report: Report, d: Detection, key: str) -> None:
    order = sorted(range(len(d.durations)), key=lambda i: d.durations[i])
    print(
        f"   ({key}) {d.label}: {d.k} tasks, {d.submits} submits, {d.sim_polls} polls "
        f"= {d.sim_polls / d.k:.1f} polls/task, done in {d.wall:.1f} s"
    )
    for i in order:
        print(
            f"       task ran {d.durations[i]:5.1f} s  detected after +{d.lags[i]:5.2f} s  "
            f"saved after +{d.saved_lags[i]:5.2f} s  engine polls {d.engine_polls[i]}"
        )
    if d.stuck:
        print(d.stuck)
    section = f"3{key} detection"
    lags, saved = finite(d.lags), finite(d.saved_lags)
    if lags:
        report.add(section, f"{d.label}: lag median", statistics.median(lags), "s", ".2f")
        report.add(section, f"{d.label}: lag min / max", f"{min(lags):.2f} / {max(lags):.2f}", "s")
    if saved:
        report.add(section, f"{d.label}: saved lag median", statistics.median(saved), "s", ".2f")
    if len(lags) < d.k or len(saved) < d.k:
        report.add(section, f"{d.label}: NOT detected / NOT saved", f"{d.k - len(lags)} / {d.k - len(saved)}", "tasks")
    report.add(section, f"{d.label}: polls per task", d.sim_polls / d.k, "polls", ".1f")


async def bench_detection(report: Report, k: int, quick: bool, tmp: Path) -> None:
    queue, run, jitter = (1.0, 8.0, 0.25) if quick else (2.0, 25.0, 0.15)
    results: dict[str, Detection] = {}

    async def scenario(key: str, label: str, wait_seconds: int) -> None:
        results[key] = await detection_run(label, k, wait_seconds, queue, run, jitter, tmp)

    print(
        f"3. detection lag: {k} tasks each, queue {queue:g} s + run {run:g} s (+-{jitter:.0%} jitter), "
        "default poll settings; running (a) and (b) side by side ...",
        flush=True,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(scenario, "a", "no waiter", 0)
        tg.start_soon(scenario, "b", f"waiter {WAIT_SECONDS}s", WAIT_SECONDS)
    for key in ("a", "b"):
        print_detection(report, results[key], key)


async def bench_concurrent(report: Report, m: int, tmp: Path) -> None:
    queue, run = 0.5, 3.0
    config = SimulatorConfig(queue_seconds=queue, run_seconds=run, jitter=0.0, renderer="fallback")
    data_dir = tmp / "concurrent"
    rss_before = peak_rss_mb()
    async with Simulator(config) as sim:
        server = build_server(engine_settings(sim, data_dir))
        quiet()
        async with Client(server) as client:
            statuses: list[str] = []

            async def one(i: int) -> None:
                arguments = {
                    "model": "wan2.6-t2v",
                    "prompt": f"bench concurrent task {i}",
                    "size": "1280*720",
                    "duration": 5,
                    "wait_seconds": WAIT_SECONDS,
                }
                result = await client.call_tool("generate_video", arguments)
                statuses.append("error" if result.is_error else result.structured_content["status"])

            started, started_epoch = time.perf_counter(), time.time()
            async with anyio.create_task_group() as tg:
                for i in range(m):
                    tg.start_soon(one, i)
            calls_wall = time.perf_counter() - started
            rows, complete = await wait_settled(data_dir / "tasks.sqlite3", m, 60)
            stuck = None if complete else describe_stuck(rows, sim, 60)
        stats = sim.stats
        last_end = max(t.ends_at for t in sim.tasks)
    rss_after = peak_rss_mb()
    downloaded = sum(r.download_state == "downloaded" for r in rows)
    last_saved = max(r.downloaded_at or 0.0 for r in rows)
    saved_wall = last_saved - started_epoch
    ok = stats.submits == m and stats.submits_accepted == m and downloaded == m
    print(
        f"4. {m} concurrent generate_video calls (wait_seconds={WAIT_SECONDS}), tasks queue {queue:g} s + run "
        f"{run:g} s, fallback renderer"
    )
    print(
        f"   all {downloaded} videos saved {saved_wall:.2f} s after the first call (every call returned after "
        f"{calls_wall:.2f} s); last video saved {last_saved - last_end:.2f} s after the last task finished"
    )
    print(
        f"   submits {stats.submits} (accepted {stats.submits_accepted}) {'== M' if ok else '!= M  <-- MISMATCH'}, "
        f"polls {stats.polls} ({stats.polls / m:.1f}/task, {stats.polls / calls_wall:.1f}/s), downloads "
        f"completed {stats.downloads_completed}, call results {sorted(set(statuses))}"
    )
    print(f"   peak RSS {rss_after:.1f} MB (was {rss_before:.1f} MB before this section)")
    if stuck:
        print(stuck)
    report.add("4 concurrent", f"{m} tasks: wall until all saved", saved_wall, "s", ".2f")
    report.add("4 concurrent", "last saved after last finished", last_saved - last_end, "s", ".2f")
    report.add("4 concurrent", "polls issued", stats.polls, "polls")
    report.add("4 concurrent", "polls per task", stats.polls / m, "polls", ".1f")
    report.add(
        "4 concurrent",
        "submits (accepted) == M",
        f"{stats.submits} ({stats.submits_accepted}) {'yes' if ok else 'NO'}",
        "",
    )
    report.add("4 concurrent", "peak RSS after / before", f"{rss_after:.1f} / {rss_before:.1f}", "MB")


# --------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    sections = {int(s) for s in args.only.split(",")} if args.only else {1, 2, 3, 4}
    report = Report()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wan-bench-") as name:
        tmp = Path(name)
        if 1 in sections:
            await bench_cold_start(report, args.runs, tmp)
            if args.instructions:
                bench_cold_start_instructions(report, tmp)
        if 2 in sections:
            await bench_per_call(report, args.calls, tmp)
        if 3 in sections:
            await bench_detection(report, args.tasks, args.quick, tmp)
        if 4 in sections:
            await bench_concurrent(report, args.concurrent, tmp)
    report.print()
    print(f"\ntotal {time.perf_counter() - started:.0f} s; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter tasks (about a minute)")
    parser.add_argument("--runs", type=int, help="cold starts per server (default 5, quick 3)")
    parser.add_argument("--calls", type=int, help="timed calls per tool (default 200, quick 50)")
    parser.add_argument("--tasks", type=int, help="tasks per detection scenario (default 5, quick 3)")
    parser.add_argument("--concurrent", type=int, help="concurrent tasks in section 4 (default 50, quick 20)")
    parser.add_argument("--only", help="comma-separated sections to run, e.g. 1,2")
    parser.add_argument(
        "--instructions", action="store_true", help="also count section 1's instructions with valgrind (about 3 min)"
    )
    args = parser.parse_args(argv)
    defaults = {"runs": (5, 3), "calls": (200, 50), "tasks": (5, 3), "concurrent": (50, 20)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


if __name__ == "__main__":
    anyio.run(main, parse_args())
