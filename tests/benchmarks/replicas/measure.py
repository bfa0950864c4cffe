"""What is measured: the store's rows (read directly), the simulator's counters and memory sampled every second,
the sha256 of the videos, and the statistics of the lags and polls."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.benchmarks.replicas.fleet import API_KEY, Proc

DONE_FAILED = ("failed", "canceled", "expired")


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


# --------------------------------------------------------------------------- the simulator and the replicas


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in KiB; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(.*)$", text, re.MULTILINE)}
    return values.get("VmHWM", 0), values.get("VmRSS", 0)


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


# --------------------------------------------------------------------------- the videos


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


# --------------------------------------------------------------------------- lags and polls


def ends(sim_tasks: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Remote id -> the simulator's ``end_time`` of the task (when it became SUCCEEDED), in epoch seconds."""
    return {tid: t["end_time"] / 1000 for tid, t in sim_tasks.items() if t.get("end_time")}


def detection_lags(rows: list[TaskRow], ended: dict[str, float]) -> list[float]:
    """The store's ``last_polled_at`` (the poll that saw SUCCEEDED) minus the task's end, per succeeded task."""
    return [
        r.last_polled_at - ended[r.remote_id]
        for r in rows
        if r.state == "succeeded" and r.last_polled_at and r.remote_id in ended
    ]


def saved_lags(rows: list[TaskRow], ended: dict[str, float]) -> list[float]:
    """``downloaded_at`` minus the task's end, per downloaded task."""
    return [r.downloaded_at - ended[r.remote_id] for r in rows if r.downloaded_at and r.remote_id in ended]


def polls_per_task(sim_tasks: dict[str, dict[str, Any]]) -> list[float]:
    """The simulator's count of each task's polls (``GET /tasks/{id}``)."""
    return [float(t.get("polls", 0)) for t in sim_tasks.values()]


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def spread(values: Sequence[float]) -> str:
    """p50 / p95 / max."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {p95(values):.2f} / {max(values):.2f}"
