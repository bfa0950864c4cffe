"""Replica numbers: several ``serve --http`` processes on one store, a replica SIGKILLed, and many open tasks.

Everything runs on this machine as separate processes talking over 127.0.0.1: one ``wan-video-mcp simulate``
(DashScope protocol, ``--no-render``: every task's video is the same small placeholder MP4, so rendering does not
take the two CPUs), the server replicas (``wan-video-mcp serve --http --auth required``, provider ``dashscope``,
``DASHSCOPE_BASE_URL`` = the simulator, key ``sk-bench``, ``WAN_POLL_QPS=20``, one shared ``WAN_MCP_DATA_DIR``, a
tokens file with two principals, ``alice`` and ``bob``) and this process as the MCP client (the Python SDK over
streamable HTTP with a bearer token). Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_replicas              # about 6 minutes
    .venv/bin/python -m tests.benchmarks.bench_replicas --quick      # about 2-3 minutes
    options: --tasks N  --open-tasks N  --only A|B  --store postgres|sqlite  --kill-at S  --kill-into-call MS
             --keep-logs

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
   task times), all submitted as fast as 20 calls in flight allow, ``wait_seconds=0``: detection lag p95, polls
   per task, and the replica's memory, ``VmHWM`` (peak) and ``VmRSS`` from ``/proc/<pid>/status`` sampled every
   second, the largest seen.

Goals (from the issue) are printed next to the numbers; missing one is reported, never an error. The exit status
is 1 when a correctness check fails: submits != tasks, a task lost or not finished, a sha256 mismatch, a leak
between principals. Each process's output goes to a log file in the temporary directory; on a failure the tails
are printed. Every process started here is stopped (its process group) and the directory removed on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

REPO = Path(__file__).resolve().parents[2]
PRINCIPALS = ("alice", "bob")
API_KEY = "sk-bench"
POLL_QPS = 20  # the account's budget of task queries per second
IN_FLIGHT = 20
CALL_TIMEOUT = 60.0  # a call with no answer by then is made again elsewhere
RESTART_AFTER = 5.0
ISOLATION_SAMPLE = (20, 5)  # tasks per principal: full, quick
GHOST = "wan_" + "0" * 20  # a task id that does not exist
REQUEST = {"model": "wan2.6-t2v", "size": "1280*720", "duration": 5}
DONE_FAILED = ("failed", "canceled", "expired")
T = TypeVar("T")


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    section: str
    metric: str
    value: str
    unit: str
    goal: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        section: str,
        metric: str,
        value: float | int | str,
        unit: str = "",
        fmt: str = ".1f",
        goal: str = "",
        met: bool | None = None,
    ) -> None:
        text = value if isinstance(value, str) else format(value, fmt if isinstance(value, float) else "d")
        verdict = "" if met is None else ("  ok" if met else "  MISSED")
        self.rows.append(Row(section, metric, text, unit, goal + verdict if goal else ""))

    def print(self) -> None:
        head = Row("section", "metric", "value", "unit", "goal")
        names = ("section", "metric", "value", "unit", "goal")
        widths = [max(len(getattr(r, name)) for r in [head, *self.rows]) for name in names]
        print()
        for row in [head, *self.rows]:
            cells = (
                row.section.ljust(widths[0]),
                row.metric.ljust(widths[1]),
                row.value.rjust(widths[2]),
                row.unit.ljust(widths[3]),
                row.goal,
            )
            print("  ".join(cells).rstrip())


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def spread(values: Sequence[float]) -> str:
    """p50 / p95 / max."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {p95(values):.2f} / {max(values):.2f}"


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def program() -> list[str]:
    """The ``wan-video-mcp`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("wan-video-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wan_video_mcp.server.cli"]


@dataclass
class Proc:
    """A child process in its own process group, its output appended to ``log``; started again on demand."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as sink:
            sink.write(f"\n===== start {self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            sink.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=str(REPO), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL its process group (the process is its group's leader)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM its group, then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no log)"
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"      | {line}" for line in text)

    def problems(self) -> int:
        """Log lines at ERROR or above, and tracebacks."""
        if not self.log.exists():
            return 0
        text = self.log.read_text(errors="replace")
        return len(re.findall(r" (?:ERROR|CRITICAL) |^Traceback", text, flags=re.MULTILINE))


@dataclass
class Processes:
    """Every process started here, stopped on the way out whatever happened."""

    all: list[Proc] = field(default_factory=list)

    def add(self, proc: Proc) -> Proc:
        self.all.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.all:
            proc.stop()


async def simulator_url(proc: Proc, timeout: float = 30.0) -> str:
    """The base URL the simulator prints on its stdout once it listens."""
    with anyio.fail_after(timeout):
        while True:
            found = re.search(r"^(http://127\.0\.0\.1:\d+/\S*api/v1)\s*$", proc.log.read_text(), re.MULTILINE)
            if found:
                return found.group(1)
            if proc.pid is None:
                raise RuntimeError(f"the simulator exited:\n{proc.tail()}")
            await anyio.sleep(0.1)


async def wait_listening(proc: Proc, port: int, timeout: float = 60.0) -> None:
    """Until ``/mcp`` answers anything (401 without a token)."""
    with anyio.fail_after(timeout):
        async with httpx.AsyncClient() as http:
            while True:
                if proc.pid is None:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
                try:
                    await http.get(f"http://127.0.0.1:{port}/mcp", timeout=2)
                    return
                except httpx.TransportError:
                    await anyio.sleep(0.2)


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in KiB; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(.*)$", text, re.MULTILINE)}
    return values.get("VmHWM", 0), values.get("VmRSS", 0)


# --------------------------------------------------------------------------- the store, read directly


@dataclass
class TaskRow:
    id: str
    principal: str
    state: str
    remote_id: str | None
    download_state: str
    local_path: str | None
    sha256: str | None
    last_polled_at: float | None
    finished_at: float | None
    downloaded_at: float | None
    poll_count: int
    idempotency_key: str | None
    submit_attempts: int
    video_url: str | None


COLUMNS = (
    "id, principal, state, remote_id, download_state, local_path, sha256, last_polled_at, finished_at, "
    "downloaded_at, poll_count, idempotency_key, submit_attempts, video_url"
)


def epoch(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def task_row(values: Sequence[Any]) -> TaskRow:
    v = list(values)
    for i in (7, 8, 9):
        v[i] = epoch(v[i])
    return TaskRow(*v)


def read_rows(store: str, where: str) -> list[TaskRow]:
    """Every task row, from the SQLite file (read-only; WAL allows it beside the writers) or PostgreSQL."""
    if store == "sqlite":
        db = Path(where)
        if not db.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            try:
                return [task_row(r) for r in conn.execute(f"SELECT {COLUMNS} FROM tasks").fetchall()]
            except sqlite3.OperationalError as exc:  # not created yet
                if "no such table" in str(exc):
                    return []
                raise
    import psycopg

    with psycopg.connect(where, autocommit=True) as conn:
        try:
            return [task_row(r) for r in conn.execute(f"SELECT {COLUMNS} FROM tasks").fetchall()]
        except psycopg.errors.UndefinedTable:
            return []


def finished(row: TaskRow) -> bool:
    return row.state in DONE_FAILED or (
        row.state == "succeeded" and row.download_state in ("downloaded", "download_failed")
    )


# --------------------------------------------------------------------------- MCP sessions that survive a replica


class Down(Exception):
    """The session failed: a refused connection, a broken transport, an answer that never came."""


class Session:
    """One MCP session over streamable HTTP, held open by its own task until closed or broken."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client: Client | None = None
        self.dead = anyio.Event()
        self._close = anyio.Event()
        self._calls: set[anyio.CancelScope] = set()

    async def open(self, tg: anyio.abc.TaskGroup) -> None:
        error: BaseException | None = await tg.start(self._hold)
        if error is not None:
            raise Down(f"cannot open a session: {describe(error)}") from error

    async def _hold(self, *, task_status: anyio.abc.TaskStatus[BaseException | None]) -> None:
        started = False
        try:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {self.token}"}, timeout=httpx2.Timeout(CALL_TIMEOUT, connect=5)
            )
            async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
                self.client, started = client, True
                task_status.started(None)
                await self._close.wait()
        except Exception as exc:
            if not started:
                task_status.started(exc)
        finally:
            self.client = None
            self.dead.set()
            for scope in list(self._calls):
                scope.cancel()

    def close(self) -> None:
        self._close.set()

    async def call(self, action: Callable[[Client], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        """The action's result; ``Down`` when the session breaks or no answer comes in time. MCP errors (a
        JSON-RPC error answer) pass through."""
        client = self.client
        if client is None:
            raise Down("session closed")
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                with anyio.fail_after(timeout):
                    return await action(client)
            except TimeoutError:
                raise Down(f"no answer within {timeout:.0f} s") from None
            finally:
                self._calls.discard(scope)
        raise Down("the session broke during the call")


def describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:200]


class Pool:
    """A session per (principal, replica), opened on first use and again after it broke."""

    def __init__(self, tg: anyio.abc.TaskGroup, urls: list[str], tokens: dict[str, str]) -> None:
        self._tg, self.urls, self._tokens = tg, urls, tokens
        self._sessions: dict[tuple[str, int], Session] = {}
        self._locks: dict[tuple[str, int], anyio.Lock] = {}
        self.opened = 0
        self.failures: list[str] = []  # one line per failed attempt
        self.active: dict[int, dict[int, tuple[float, str]]] = {}  # replica -> calls on it: (since, label)
        self._count = itertools.count()

    async def session(self, principal: str, replica: int) -> Session:
        key = (principal, replica)
        async with self._locks.setdefault(key, anyio.Lock()):
            current = self._sessions.get(key)
            if current is not None and current.client is not None:
                return current
            session = Session(self.urls[replica], self._tokens[principal])
            await session.open(self._tg)
            self.opened += 1
            self._sessions[key] = session
            return session

    def discard(self, principal: str, replica: int) -> None:
        session = self._sessions.pop((principal, replica), None)
        if session is not None:
            session.close()

    async def call(
        self,
        principal: str,
        replica: int,
        action: Callable[[Client], Awaitable[T]],
        attempts: int = 1,
        label: str = "",
    ) -> tuple[T, int, int]:
        """The action's result, the replica that answered and the attempts made: on ``Down`` (or an MCP error
        other than an answer) the next replica is tried, up to ``attempts`` attempts in all."""
        n = len(self.urls)
        for attempt in range(attempts):
            index = (replica + attempt) % n
            try:
                session = await self.session(principal, index)
                token, active = next(self._count), self.active.setdefault(index, {})
                active[token] = (time.monotonic(), label)
                try:
                    return await session.call(action), index, attempt + 1
                finally:
                    del active[token]
            except (Down, MCPError) as exc:
                self.failures.append(f"{principal}@replica{index}: {describe(exc)}")
                self.discard(principal, index)
                if attempt + 1 == attempts:
                    raise Down(f"failed on every attempt: {describe(exc)}") from exc
                await anyio.sleep(0.2 if (attempt + 1) % n else 1.0)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            session.close()
        with anyio.move_on_after(15):
            for session in sessions:
                await session.dead.wait()


# --------------------------------------------------------------------------- a scenario


@dataclass
class Plan:
    label: str
    tasks: int
    replicas: int
    window: float  # submits spread evenly over this many seconds (0: as fast as IN_FLIGHT allows)
    kill_at: float | None  # seconds after the first call: SIGKILL replica 1 (None: no kill)
    kill_into: float  # ... once a call has been on it this long
    queue: float
    run: float
    jitter: float
    timeout: float  # for every task to finish, after the last call returned
    isolation: int  # tasks per principal whose isolation is checked (0: none)


@dataclass
class Call:
    index: int
    principal: str
    key: str
    prompt: str
    replica: int
    task_id: str | None = None
    status: str | None = None
    answered_by: int | None = None
    attempts: int = 0
    error: str | None = None


@dataclass
class Monitor:
    """Samples the simulator's query counters and the replicas' memory every second."""

    root: str
    procs: list[Proc]
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (monotonic, polls, task-list reads)
    hwm_kb: dict[str, int] = field(default_factory=dict)
    rss_kb: dict[str, int] = field(default_factory=dict)

    async def run(self) -> None:
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    stats = (await http.get(f"{self.root}/_sim/stats", timeout=5)).json()
                    self.samples.append((time.monotonic(), int(stats["polls"]), int(stats["lists"])))
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                for proc in self.procs:
                    pid = proc.pid
                    if pid is not None:
                        hwm, rss = memory_kb(pid)
                        self.hwm_kb[proc.name] = max(self.hwm_kb.get(proc.name, 0), hwm)
                        self.rss_kb[proc.name] = max(self.rss_kb.get(proc.name, 0), rss)
                await anyio.sleep(1.0)

    def peak_rate(self, span: int) -> float:
        """The largest rate of task queries (polls and list reads) over ``span`` consecutive sampling intervals
        (about ``span`` seconds)."""
        pairs = zip(self.samples, self.samples[span:], strict=False)
        return max(((b[1] + b[2] - a[1] - a[2]) / (b[0] - a[0]) for a, b in pairs), default=0.0)


@dataclass
class Outcome:
    plan: Plan
    stats: dict[str, int]
    sim_tasks: dict[str, dict[str, Any]]  # remote id -> the simulator's row
    rows: list[TaskRow]
    calls: list[Call]
    complete: bool
    wall: float
    monitor: Monitor
    retried: int
    opened: int  # sessions opened
    gave_up: int
    failures: list[str]
    served_sha: str | None
    file_sha: dict[str, str | None]  # task id -> sha256 of its local file (None: missing)
    isolation: dict[str, list[str]]  # check -> failures ("" for a pass)
    killed: str | None
    cut: list[str]  # keys of the calls in progress on the killed replica
    replicas: list[Proc]


@dataclass
class Rig:
    """What the scenarios share: the temporary directory, the processes, the tokens, the store's server."""

    tmp: Path
    procs: Processes
    store: str
    pg_server: str | None
    tokens: dict[str, str]
    tokens_file: Path
    databases: contextlib.ExitStack


def write_tokens(tmp: Path) -> tuple[dict[str, str], Path]:
    tokens = {p: f"{p}-{secrets.token_hex(16)}" for p in PRINCIPALS}
    path = tmp / "tokens"
    path.write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()} {p}\n" for p, t in tokens.items()))
    return tokens, path


def replica_env(rig: Rig, base_url: str, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "DASHSCOPE_"))}
    env |= {
        "WAN_PROVIDER": "dashscope",
        "DASHSCOPE_API_KEY": API_KEY,
        "DASHSCOPE_BASE_URL": base_url,
        "WAN_MCP_DATA_DIR": str(data_dir),
        "WAN_AUTH_TOKENS_FILE": str(rig.tokens_file),
        "WAN_POLL_QPS": str(POLL_QPS),
    }
    if database_url:
        env["WAN_DATABASE_URL"] = database_url
    return env


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def said(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in (getattr(result, "content", None) or []))


class Scenario:
    """One run: a simulator, the replicas on a new store, the client's calls, and what came of them."""

    def __init__(self, plan: Plan, rig: Rig) -> None:
        self.plan, self.rig = plan, rig
        self.work = rig.tmp / plan.label
        self.work.mkdir()
        self.killed: str | None = None
        self.cut: list[str] = []  # keys of the calls in progress on the replica when it was killed
        self.started = 0.0
        self.replicas: list[Proc] = []
        self.ports: list[int] = []
        tag = secrets.token_hex(3)  # keys and prompts of this run only
        self.calls = [
            Call(
                i,
                PRINCIPALS[i % 2],
                f"bench-{plan.label}-{tag}-{i:04d}",
                f"bench {plan.label} {tag}: a paper boat number {i} drifting on a calm lake at sunrise",
                i % plan.replicas,
            )
            for i in range(plan.tasks)
        ]

    async def start_simulator(self) -> tuple[Proc, str]:
        p = self.plan
        options = ["--queue-seconds", str(p.queue), "--run-seconds", str(p.run), "--jitter", str(p.jitter)]
        argv = [*program(), "simulate", "--port", str(free_port()), *options, "--no-render", "--fetch-media", "off"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "DASHSCOPE_"))}
        sim = self.rig.procs.add(Proc("simulator", argv, env, self.work / "simulator.log"))
        sim.start()
        return sim, await simulator_url(sim)

    async def start_replicas(self, base_url: str) -> tuple[list[Proc], list[int], str]:
        """The replicas, listening; their ports; where their store is (a database URL or the SQLite file)."""
        rig, data_dir = self.rig, self.work / "data"
        database_url: str | None = None
        if rig.store == "postgres":
            from tests.pgcluster import fresh_database

            assert rig.pg_server is not None
            database_url = rig.databases.enter_context(fresh_database(rig.pg_server))
        env = replica_env(rig, base_url, data_dir, database_url)
        ports = [free_port() for _ in range(self.plan.replicas)]
        replicas = [
            rig.procs.add(
                Proc(
                    f"replica{i}",
                    [*program(), "serve", "--http", "--auth", "required", "--port", str(port)],
                    env,
                    self.work / f"replica{i}.log",
                )
            )
            for i, port in enumerate(ports)
        ]
        for proc in replicas:
            proc.start()
        for proc, port in zip(replicas, ports, strict=True):
            await wait_listening(proc, port)
        return replicas, ports, database_url or str(data_dir / "tasks.sqlite3")

    async def kill_and_restart(self, pool: Pool, victim: int, at: float, into: float) -> None:
        """At ``at`` s, once a call has been on the victim for ``into`` s (waiting at most 5 s for one),
        SIGKILL it; start it again RESTART_AFTER s later. The calls it had are noted in ``self.cut``."""
        await anyio.sleep(max(0.0, self.started + at - time.monotonic()))
        with anyio.move_on_after(5):
            while not any(t < time.monotonic() - into for t, _ in pool.active.get(victim, {}).values()):
                await anyio.sleep(0.002)
        proc = self.replicas[victim]
        proc.kill()
        self.cut = [label for _, label in pool.active.get(victim, {}).values()]
        killed_at = time.monotonic() - self.started
        await anyio.sleep(RESTART_AFTER)
        proc.start()
        await wait_listening(proc, self.ports[victim])
        self.killed = (
            f"{proc.name} SIGKILLed at +{killed_at:.1f} s with {len(self.cut)} call(s) in progress on it, "
            f"listening again at +{time.monotonic() - self.started:.1f} s"
        )
        say(f"   {self.killed}")

    async def submit_all(self, pool: Pool) -> None:
        """Every call, spread over the window, at most IN_FLIGHT at once; a failed replica's calls go to the next
        one with the same idempotency key."""
        plan, limit = self.plan, anyio.Semaphore(IN_FLIGHT)

        async def submit(call: Call) -> None:
            async with limit:
                arguments = {**REQUEST, "prompt": call.prompt, "wait_seconds": 0, "idempotency_key": call.key}
                call.attempts = 1  # in flight
                try:
                    result, call.answered_by, call.attempts = await pool.call(
                        call.principal,
                        call.replica,
                        lambda c: c.call_tool("generate_video", arguments),
                        attempts=4 * plan.replicas,
                        label=call.key,
                    )
                except Down as exc:
                    call.error = str(exc)
                    return
                content = result.structured_content or {}
                if result.is_error:
                    call.error = said(result)[:200]
                call.task_id, call.status = content.get("task_id"), content.get("status")

        async with anyio.create_task_group() as submits:
            for call in self.calls:
                await anyio.sleep(max(0.0, self.started + call.index * plan.window / plan.tasks - time.monotonic()))
                submits.start_soon(submit, call)

    async def wait_finished(self, where: str, monitor: Monitor) -> tuple[list[TaskRow], bool]:
        """The store's rows once every task has finished (and a killed replica is back), True; or as they are at
        the timeout, False."""
        plan, rows = self.plan, list[TaskRow]()
        deadline, next_note = time.monotonic() + plan.timeout, time.monotonic() + 15
        while True:
            rows = await anyio.to_thread.run_sync(read_rows, self.rig.store, where)
            if len(rows) >= plan.tasks and all(finished(r) for r in rows) and (plan.kill_at is None or self.killed):
                return rows, True
            now = time.monotonic()
            if now > deadline:
                return rows, False
            if now >= next_note:
                next_note = now + 15
                succeeded = sum(r.state == "succeeded" for r in rows)
                saved = sum(r.download_state == "downloaded" for r in rows)
                polls = monitor.samples[-1][1] if monitor.samples else 0
                say(
                    f"   +{now - self.started:4.0f} s: {len(rows)} tasks stored, {succeeded} succeeded, {saved} saved; "
                    f"{polls} polls so far"
                )
            await anyio.sleep(1.0)

    async def run(self) -> Outcome:
        plan = self.plan
        sim, base_url = await self.start_simulator()
        root = base_url[: base_url.index("/api/v1")]
        self.replicas, self.ports, where = await self.start_replicas(base_url)
        replicas, ports = self.replicas, self.ports
        monitor = Monitor(root, replicas)
        isolation: dict[str, list[str]] = {}
        async with anyio.create_task_group() as tg:
            pool = Pool(tg, [f"http://127.0.0.1:{port}/mcp" for port in ports], self.rig.tokens)
            try:
                dry_run = {**REQUEST, "prompt": "a dry run", "dry_run": True}
                dry, _, _ = await pool.call("alice", 0, lambda c: c.call_tool("generate_video", dry_run))
                if dry.is_error or (dry.structured_content or {}).get("status") != "dry_run":
                    raise RuntimeError(f"the request is not accepted: {said(dry)}")
                tg.start_soon(monitor.run)
                say(
                    f"{plan.label}: {plan.tasks} calls on {plan.replicas} replica(s)"
                    + (f" over {plan.window:g} s" if plan.window else "")
                    + (f"; replica1 SIGKILLed at +{plan.kill_at:g} s" if plan.kill_at is not None else "")
                    + f"; tasks queue {plan.queue:g} s + run {plan.run:g} s (jitter {plan.jitter:g}), "
                    f"store {self.rig.store}"
                )
                self.started = time.monotonic()
                if plan.kill_at is not None:
                    tg.start_soon(self.kill_and_restart, pool, 1 % plan.replicas, plan.kill_at, plan.kill_into)
                await self.submit_all(pool)
                errors = sum(1 for c in self.calls if c.error)
                say(
                    f"   every call returned after {time.monotonic() - self.started:.1f} s ({errors} with an error); "
                    "waiting for the tasks"
                )
                rows, complete = await self.wait_finished(where, monitor)
                wall = time.monotonic() - self.started
                # The counters first, before anything here touches the simulator.
                async with httpx.AsyncClient() as http:
                    stats = (await http.get(f"{root}/_sim/stats")).json()
                    listed = (await http.get(f"{root}/_sim/tasks")).json()["tasks"]
                if plan.isolation:
                    isolation = await check_isolation(pool, self.calls, rows, plan)
            finally:
                await pool.close()
                tg.cancel_scope.cancel()
        served_sha = await served_video_sha(base_url, rows)
        file_sha = {
            r.id: sha256_file(Path(r.local_path)) if r.local_path and Path(r.local_path).exists() else None
            for r in rows
        }
        return Outcome(
            plan=plan,
            stats=stats,
            sim_tasks={t["task_id"]: t for t in listed},
            rows=rows,
            calls=self.calls,
            complete=complete,
            wall=wall,
            monitor=monitor,
            retried=sum(1 for c in self.calls if c.attempts > 1),
            opened=pool.opened,
            gave_up=sum(1 for c in self.calls if c.error and c.task_id is None),
            failures=list(pool.failures),
            served_sha=served_sha,
            file_sha=file_sha,
            isolation=isolation,
            killed=self.killed,
            cut=self.cut,
            replicas=[sim, *replicas],
        )


async def served_video_sha(base_url: str, rows: list[TaskRow]) -> str | None:
    """The sha256 of the bytes the simulator serves for one task's video URL (fetched once, here)."""
    row = next((r for r in rows if r.remote_id), None)
    if row is None:
        return None
    async with httpx.AsyncClient(timeout=30) as http:
        url = row.video_url
        if not url or not url.startswith("http"):
            polled = await http.get(f"{base_url}/tasks/{row.remote_id}", headers={"Authorization": f"Bearer {API_KEY}"})
            url = polled.json()["output"].get("video_url")
        if not url:
            return None
        video = await http.get(url)
        return hashlib.sha256(video.content).hexdigest() if video.status_code == 200 else None


async def check_isolation(pool: Pool, calls: list[Call], rows: list[TaskRow], plan: Plan) -> dict[str, list[str]]:
    """Each check's outcomes: "" for a pass, else what was wrong."""
    results: dict[str, list[str]] = {
        "other's check_task = unknown id's": [],
        "other's video read = unknown id's": [],
        "owner's check_task succeeds": [],
        "owner's video read succeeds": [],
        "list_tasks shows only own tasks": [],
    }
    by_key = {r.idempotency_key: r for r in rows}
    own: dict[str, set[str]] = {p: {r.id for r in rows if r.principal == p} for p in PRINCIPALS}
    samples: list[tuple[str, str, int]] = []  # (owner, task id, replica)
    for principal in PRINCIPALS:
        mine = [c for c in calls if c.principal == principal and c.key in by_key]
        samples += [(principal, by_key[c.key].id, i % plan.replicas) for i, c in enumerate(mine[: plan.isolation])]

    async def text_of(principal: str, replica: int, tool: str, task_id: str) -> tuple[bool, str]:
        result, _, _ = await pool.call(principal, replica, lambda c: c.call_tool(tool, {"task_id": task_id}))
        return bool(result.is_error), said(result)

    async def read(principal: str, replica: int, task_id: str) -> str | None:
        """None when the video was read, else the error's text."""

        async def attempt(client: Client) -> str | None:
            try:
                await client.read_resource(f"wan-video://videos/{task_id}.mp4")
            except MCPError as exc:  # the server's answer: an error
                return exc.error.message
            return None

        answer, _, _ = await pool.call(principal, replica, attempt)
        return answer

    unknown: dict[tuple[str, int], tuple[str, str | None]] = {}
    for principal in PRINCIPALS:
        for replica in range(plan.replicas):
            _, text = await text_of(principal, replica, "check_task", GHOST)
            unknown[(principal, replica)] = (text.replace(GHOST, "ID"), (await read(principal, replica, GHOST)))
    for owner, task_id, replica in samples:
        other = next(p for p in PRINCIPALS if p != owner)
        ghost_text, ghost_read = unknown[(other, replica)]
        error, text = await text_of(other, replica, "check_task", task_id)
        ok = error and text.replace(task_id, "ID") == ghost_text
        results["other's check_task = unknown id's"].append("" if ok else f"{other} on {task_id}: {text[:160]}")
        refused = await read(other, replica, task_id)
        same = (
            refused is not None
            and ghost_read is not None
            and refused.replace(task_id, "ID") == ghost_read.replace(GHOST, "ID")
        )
        results["other's video read = unknown id's"].append("" if same else f"{other} read {task_id}: {refused}")
        error, text = await text_of(owner, replica, "check_task", task_id)
        results["owner's check_task succeeds"].append("" if not error else f"{owner} on {task_id}: {text[:160]}")
        got = await read(owner, replica, task_id)
        results["owner's video read succeeds"].append("" if got is None else f"{owner} read {task_id}: {got[:160]}")
    for principal in PRINCIPALS:
        for replica in range(plan.replicas):
            listed, _, _ = await pool.call(principal, replica, lambda c: c.call_tool("list_tasks", {"limit": 100}))
            for task in (listed.structured_content or {}).get("tasks", []):
                tid = task.get("task_id")
                results["list_tasks shows only own tasks"].append(
                    "" if tid in own[principal] else f"{principal} on replica{replica} sees {tid}"
                )
    return results


# --------------------------------------------------------------------------- printing


def report_correctness(o: Outcome, report: Report, problems: list[str]) -> None:
    """Submits, the store's rows by key, finished tasks, downloads and hashes: what must be exactly right."""
    n, section, stats, rows = o.plan.tasks, o.plan.label, o.stats, o.rows

    def line(metric: str, value: str, goal: str, ok: bool, problem: str, unit: str = "") -> None:
        report.add(section, metric, value, unit, goal=goal, met=ok)
        if not ok and problem:
            problems.append(f"{section}: {problem}")

    submits = f"{stats['submits']} / {stats['submits_accepted']}"
    ok = stats["submits"] == n and stats["submits_accepted"] == n
    line("submits / accepted at the simulator", submits, f"exactly {n}", ok, f"submits / accepted {submits} != {n}")
    by_key: dict[str | None, list[TaskRow]] = {}
    for r in rows:
        by_key.setdefault(r.idempotency_key, []).append(r)
    keys = {c.key for c in o.calls}
    odd: dict[str, list[str | None]] = {
        "duplicated keys": [k for k, rs in by_key.items() if len(rs) > 1],
        "keys missing": [c.key for c in o.calls if c.key not in by_key],
        "keys never used": [k for k in by_key if k not in keys],
        "wrong principal": [c.key for c in o.calls if c.key in by_key and by_key[c.key][0].principal != c.principal],
        "a call's task id is not the key's": [
            c.key for c in o.calls if c.task_id and c.key in by_key and by_key[c.key][0].id != c.task_id
        ],
    }
    found = {name: which[:3] for name, which in odd.items() if which}
    ok = len(rows) == n and not found
    line("tasks in the store (distinct keys)", f"{len(rows)} ({len(by_key)})", f"{n}, none lost", ok, f"{found}")
    unfinished = [r for r in rows if not finished(r)]
    unsaved = [r for r in rows if finished(r) and not (r.state == "succeeded" and r.download_state == "downloaded")]
    unknown = [r for r in rows if not r.remote_id or r.remote_id not in o.sim_tasks]
    detail = "".join(
        f"\n      {r.id} key={r.idempotency_key} state={r.state} download={r.download_state} remote={r.remote_id}"
        for r in list({r.id: r for r in unfinished + unsaved + unknown}.values())[:10]
    )
    line(
        "tasks succeeded and saved",
        f"{n - len(unfinished) - len(unsaved)} / {n}",
        "all",
        o.complete and not unfinished and not unsaved and not unknown,
        f"not finished {len(unfinished)}, failed or not saved {len(unsaved)}, no simulator task {len(unknown)}"
        + ("" if o.complete else " (timed out)")
        + detail,
    )
    gave_up = [c for c in o.calls if c.error and c.task_id is None]
    errored = [c for c in o.calls if c.error and c.task_id]
    report.add(section, "calls made again elsewhere / failed", f"{o.retried} / {len(gave_up)}", "calls")
    if gave_up or errored:
        problems.append(
            f"{section}: {len(gave_up)} calls failed on every attempt, {len(errored)} answered with an error: "
            + "; ".join(c.error or "" for c in gave_up + errored)[:600]
        )
    downloads = f"{stats['downloads']} / {stats['downloads_completed']}"
    once = stats["downloads"] == n and stats["downloads_completed"] == n
    report.add(section, "downloads / completed at the simulator", downloads, "", goal=f"{n} each", met=once)
    same_file = sum(1 for r in rows if r.sha256 and o.file_sha.get(r.id) == r.sha256)
    same_served = sum(1 for r in rows if r.sha256 and r.sha256 == o.served_sha)
    ok = same_file == same_served == len(rows) and o.served_sha is not None
    line(
        "sha256 file == stored / stored == served",
        f"{same_file} / {same_served}",
        "all",
        ok,
        f"sha256 file == stored for {same_file}, stored == served for {same_served} of {len(rows)} "
        f"(served {o.served_sha})",
        f"of {len(rows)}",
    )
    if o.isolation:
        for name, outcomes in o.isolation.items():
            failed = [x for x in outcomes if x]
            line(
                f"isolation: {name}",
                f"{len(outcomes) - len(failed)} / {len(failed)}",
                "none failed",
                not failed,
                f"{name}: {len(failed)} failed, e.g. {failed[0] if failed else ''}",
                "passed / failed",
            )


def report_numbers(o: Outcome, report: Report) -> None:
    """Polls, detection lag, the poll rate, memory: measured, compared with the goals, never an error."""
    plan, section, rows = o.plan, o.plan.label, o.rows
    ends = {tid: t["end_time"] / 1000 for tid, t in o.sim_tasks.items() if t.get("end_time")}
    mean = o.stats["polls"] / plan.tasks
    report.add(section, "polls per task (simulator total / N)", mean, "polls", goal="<= 12", met=mean <= 12)
    per_task = [float(t.get("polls", 0)) for t in o.sim_tasks.values()]
    if any(per_task):
        report.add(section, "polls per task p50 / p95 / max", spread(per_task), "polls")
    lags = [
        r.last_polled_at - ends[r.remote_id]
        for r in rows
        if r.state == "succeeded" and r.last_polled_at and r.remote_id in ends
    ]
    saved = [r.downloaded_at - ends[r.remote_id] for r in rows if r.downloaded_at and r.remote_id in ends]
    if lags:
        report.add(section, "detection lag p50 / p95 / max", spread(lags), "s", goal="p95 <= 5", met=p95(lags) <= 5)
    if saved:
        report.add(section, "saved lag p50 / p95 / max", spread(saved), "s")
    report.add(section, "task-list reads (sweeps)", o.stats["lists"], "reads")
    # One-second samples of a counter read over HTTP: 5 % for the timing of the reads themselves.
    peak, peak5 = o.monitor.peak_rate(1), o.monitor.peak_rate(5)
    rate, goal = f"{peak:.1f} / {peak5:.1f}", f"<= {POLL_QPS}"
    report.add(section, "peak queries/s over 1 s / 5 s", rate, "/s", goal=goal, met=peak <= POLL_QPS * 1.05)
    durations = [ends[tid] - t["gmt_create"] / 1000 for tid, t in o.sim_tasks.items() if tid in ends]
    if durations:
        report.add(section, "simulated task length min / max", f"{min(durations):.0f} / {max(durations):.0f}", "s")
    report.add(section, "sessions opened / failed attempts", f"{o.opened} / {len(o.failures)}", "")
    for proc in o.replicas:
        if count := proc.problems():
            report.add(section, f"{proc.name}: ERROR lines + tracebacks in its log", count, "lines")
    alone = plan.replicas == 1
    for name, kb in sorted(o.monitor.hwm_kb.items()):
        memory = f"{kb / 1024:.1f} / {o.monitor.rss_kb.get(name, 0) / 1024:.1f}"
        small: bool | None = kb / 1024 <= 150 if alone else None
        report.add(
            section, f"{name} VmHWM / max VmRSS", memory, "MB", goal="<= 150 (VmHWM)" if alone else "", met=small
        )


def say_slowest(o: Outcome, count: int = 5) -> None:
    """The tasks whose end was seen last after it happened: who took the call, how often each was polled."""
    by_key = {c.key: c for c in o.calls}
    timed = []
    for r in o.rows:
        sim = o.sim_tasks.get(r.remote_id or "")
        if sim and sim.get("end_time") and r.last_polled_at and r.state == "succeeded":
            timed.append((r.last_polled_at - sim["end_time"] / 1000, r, sim))
    if not timed:
        return
    say(f"   the {min(count, len(timed))} slowest detections:")
    for lag, r, sim in sorted(timed, key=lambda item: item[0], reverse=True)[:count]:
        call = by_key.get(r.idempotency_key or "")
        taker = f"replica{call.answered_by}" if call and call.answered_by is not None else "?"
        length = (sim["end_time"] - sim["gmt_create"]) / 1000
        say(
            f"      {r.id}: seen {lag:5.1f} s after its end; ran {length:5.1f} s; call taken by {taker}; "
            f"{sim.get('polls', '?')} polls at the simulator, poll_count {r.poll_count} in the store"
        )


def report_outcome(o: Outcome, report: Report, problems: list[str]) -> None:
    say(f"\n{o.plan.label}: {o.plan.tasks} tasks on {o.plan.replicas} replica(s), done in {o.wall:.0f} s")
    if o.killed:
        say(f"   {o.killed}")
    calls = {c.key: c for c in o.calls}
    for key in o.cut:
        c, rows = calls[key], [r for r in o.rows if r.idempotency_key == key]
        say(
            f"      cut call {key}: {c.attempts} attempts, answered by replica{c.answered_by} with {c.task_id} "
            f"({c.status}); store: {[(r.id, r.state, r.submit_attempts) for r in rows]}"
        )
    say_slowest(o)
    if o.failures:
        say(f"   failed attempts ({len(o.failures)}), first ones:")
        for line in o.failures[:8]:
            say(f"      {line}")
    report_correctness(o, report, problems)
    report_numbers(o, report)


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("WAN_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from tests.pgcluster import start_cluster

    cluster = start_cluster(durable=True)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@contextlib.contextmanager
def rig(store: str, keep: bool) -> Iterator[Rig]:
    """Synchronous, outside the event loop: whatever ends the loop (Ctrl-C, SIGTERM), this still stops every
    process, drops the databases, stops the cluster and removes the directory."""
    procs = Processes()
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="wan-bench-replicas-"))
        if not keep:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        pg = stack.enter_context(postgres_server()) if store == "postgres" else None
        databases = stack.enter_context(contextlib.ExitStack())
        stack.callback(procs.stop)  # before the databases are dropped (callbacks run last-in first-out)
        tokens, tokens_file = write_tokens(tmp)
        yield Rig(tmp, procs, store, pg, tokens, tokens_file, databases)


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
    parser.add_argument("--quick", action="store_true", help="fewer and shorter tasks (about 2 minutes)")
    parser.add_argument("--tasks", type=int, help="tasks in scenario A (default 300, quick 30)")
    parser.add_argument("--open-tasks", type=int, help="tasks in scenario B (default 500, quick 60)")
    parser.add_argument("--only", choices=("A", "B"), help="run one scenario")
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
