"""The processes: the simulator, the PostgreSQL cluster and its databases, the replicas; and their cleanup.

Every child runs in its own process group with its output appended to a log file in the temporary directory;
``rig`` stops them all (their groups), drops the databases, stops the cluster and removes the directory, whatever
ends the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

REPO = Path(__file__).resolve().parents[3]
PRINCIPALS = ("alice", "bob")
API_KEY = "sk-bench"
POLL_QPS = 20  # the account's budget of task queries per second


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


def replica_env(
    rig: Rig, base_url: str, data_dir: Path, database_url: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment without its ``WAN_*`` and ``DASHSCOPE_*`` variables, plus the replicas' own
    and then ``extra`` (a scenario's, such as ``WAN_SWEEP_MIN_TASKS=0``)."""
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
    env |= extra or {}
    return env


async def start_simulator(rig: Rig, work: Path, queue: float, run: float, jitter: float) -> tuple[Proc, str]:
    """A new ``wan-video-mcp simulate`` (``--no-render``, no media fetched), listening: it and its base URL."""
    options = ["--queue-seconds", str(queue), "--run-seconds", str(run), "--jitter", str(jitter)]
    argv = [*program(), "simulate", "--port", str(free_port()), *options, "--no-render", "--fetch-media", "off"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "DASHSCOPE_"))}
    sim = rig.procs.add(Proc("simulator", argv, env, work / "simulator.log"))
    sim.start()
    return sim, await simulator_url(sim)


async def start_replicas(
    rig: Rig, work: Path, count: int, base_url: str, extra: Mapping[str, str]
) -> tuple[list[Proc], list[int], str]:
    """``count`` replicas on a new store, listening; their ports; where their store is (a database URL or the
    SQLite file)."""
    data_dir = work / "data"
    database_url: str | None = None
    if rig.store == "postgres":
        from tests.pgcluster import fresh_database

        assert rig.pg_server is not None
        database_url = rig.databases.enter_context(fresh_database(rig.pg_server))
    env = replica_env(rig, base_url, data_dir, database_url, extra)
    ports = [free_port() for _ in range(count)]
    replicas = [
        rig.procs.add(
            Proc(
                f"replica{i}",
                [*program(), "serve", "--http", "--auth", "required", "--port", str(port)],
                env,
                work / f"replica{i}.log",
            )
        )
        for i, port in enumerate(ports)
    ]
    for proc in replicas:
        proc.start()
    for proc, port in zip(replicas, ports, strict=True):
        await wait_listening(proc, port)
    return replicas, ports, database_url or str(data_dir / "tasks.sqlite3")


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
