"""SQLite task store (WAL): every task is written here before its paid call.

One connection, used from worker threads under a lock, in short transactions;
the async methods hop off the event loop with ``anyio.to_thread.run_sync``.
The schema is versioned in ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import anyio

T = TypeVar("T")

# Engine states. `submitting`: row written, paid call in flight. `unknown`: the submit's
# outcome is ambiguous until reconciled against the provider's task list.
OPEN_STATES = ("submitting", "unknown", "queued", "running")
TERMINAL_STATES = ("succeeded", "failed", "canceled", "expired")
ALL_STATES = OPEN_STATES + TERMINAL_STATES
DOWNLOAD_STATES = ("none", "downloading", "downloaded", "download_failed")

_MIGRATIONS: tuple[str, ...] = (
    # 1: the task table.
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        request_json TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        idempotency_key TEXT,
        state TEXT NOT NULL,
        remote_id TEXT,
        remote_state TEXT,
        progress REAL,
        submit_attempts INTEGER NOT NULL DEFAULT 0,
        submitted_at REAL,
        finished_at REAL,
        next_poll_at REAL,
        poll_count INTEGER NOT NULL DEFAULT 0,
        poll_errors INTEGER NOT NULL DEFAULT 0,
        last_polled_at REAL,
        video_url TEXT,
        video_url_expires_at REAL,
        actual_prompt TEXT,
        usage_json TEXT,
        error_code TEXT,
        error_message TEXT,
        error_retryable INTEGER,
        cost_usd REAL,
        cost_json TEXT,
        download_state TEXT NOT NULL DEFAULT 'none',
        download_attempts INTEGER NOT NULL DEFAULT 0,
        download_error TEXT,
        local_path TEXT,
        file_size INTEGER,
        sha256 TEXT,
        downloaded_at REAL,
        adopted INTEGER NOT NULL DEFAULT 0,
        simulated INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX tasks_remote ON tasks(provider, endpoint, remote_id) WHERE remote_id IS NOT NULL;
    CREATE UNIQUE INDEX tasks_idem ON tasks(idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_fingerprint ON tasks(fingerprint, created_at);
    CREATE INDEX tasks_state ON tasks(state);
    CREATE INDEX tasks_created ON tasks(created_at);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def new_task_id() -> str:
    return "wan_" + uuid.uuid4().hex[:20]


@dataclass(frozen=True)
class TaskRecord:
    """One row of the task table."""

    id: str
    created_at: float
    updated_at: float
    provider: str
    endpoint: str  # the base URL the task lives at (tasks from another endpoint are not polled here)
    model: str
    request_json: str
    fingerprint: str
    state: str
    idempotency_key: str | None = None
    remote_id: str | None = None
    remote_state: str | None = None
    progress: float | None = None
    submit_attempts: int = 0
    submitted_at: float | None = None
    finished_at: float | None = None
    next_poll_at: float | None = None
    poll_count: int = 0
    poll_errors: int = 0
    last_polled_at: float | None = None
    video_url: str | None = None
    video_url_expires_at: float | None = None
    actual_prompt: str | None = None
    usage_json: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_retryable: bool | None = None
    cost_usd: float | None = None
    cost_json: str | None = None
    download_state: str = "none"
    download_attempts: int = 0
    download_error: str | None = None
    local_path: str | None = None
    file_size: int | None = None
    sha256: str | None = None
    downloaded_at: float | None = None
    adopted: bool = False
    simulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # not stored

    @property
    def request(self) -> dict[str, Any]:
        return json.loads(self.request_json)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def video_pending(self) -> bool:
        """Finished at the provider, and its video not saved yet (nor given up on)."""
        return self.state == "succeeded" and self.download_state in ("none", "downloading")


_COLUMNS = tuple(f.name for f in fields(TaskRecord) if f.name != "extra")
_BOOL_COLUMNS = {"adopted", "simulated", "error_retryable"}


def _from_row(row: sqlite3.Row) -> TaskRecord:
    values = {name: row[name] for name in _COLUMNS}
    for name in _BOOL_COLUMNS:
        if values[name] is not None:
            values[name] = bool(values[name])
    return TaskRecord(**values)


class TaskStore:
    """Durable task rows. Methods ending in ``_sync`` run on the calling thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a row written before a paid call must survive a power cut, not only a crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"task store {self.path} has schema version {version}, newer than this server's "
                    f"{SCHEMA_VERSION}; upgrade wan-video-mcp"
                )
            for number in range(version, SCHEMA_VERSION):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # executescript() would COMMIT on its own; run statements inside our transaction.
                    for statement in _MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- sync primitives -------------------------------------------------------------

    def insert_sync(self, record: TaskRecord) -> TaskRecord:
        values = asdict(record)
        values.pop("extra")
        placeholders = ", ".join(f":{name}" for name in _COLUMNS)
        with self._lock:
            self._conn.execute(f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({placeholders})", values)
        return record

    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        changes["updated_at"] = now
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE tasks SET {assignments} WHERE id = :__id RETURNING *", {**changes, "__id": task_id}
            )
            row = cursor.fetchone()
        if row is None:
            raise KeyError(task_id)
        return _from_row(row)

    def get_sync(self, task_id: str) -> TaskRecord | None:
        return self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))

    def find_remote_sync(self, remote_id: str, provider: str | None = None) -> TaskRecord | None:
        if provider is None:
            return self._one("SELECT * FROM tasks WHERE remote_id = ?", (remote_id,))
        return self._one("SELECT * FROM tasks WHERE remote_id = ? AND provider = ?", (remote_id, provider))

    def find_idempotency_key_sync(self, key: str) -> TaskRecord | None:
        return self._one("SELECT * FROM tasks WHERE idempotency_key = ?", (key,))

    def find_duplicate_sync(self, fingerprint: str, since: float, endpoint: str) -> TaskRecord | None:
        """The newest task with these exact parameters since ``since`` that did not fail."""
        return self._one(
            "SELECT * FROM tasks WHERE fingerprint = ? AND created_at >= ? AND endpoint = ? "
            "AND state NOT IN ('failed', 'canceled', 'expired') ORDER BY created_at DESC LIMIT 1",
            (fingerprint, since, endpoint),
        )

    def list_sync(self, states: Sequence[str] | None = None, limit: int = 20) -> list[TaskRecord]:
        if states:
            marks = ", ".join("?" for _ in states)
            query = f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?"
            return self._many(query, (*states, limit))
        return self._many("SELECT * FROM tasks ORDER BY created_at DESC LIMIT ?", (limit,))

    def open_tasks_sync(self, endpoint: str) -> list[TaskRecord]:
        marks = ", ".join("?" for _ in OPEN_STATES)
        return self._many(
            f"SELECT * FROM tasks WHERE endpoint = ? AND state IN ({marks}) ORDER BY created_at",
            (endpoint, *OPEN_STATES),
        )

    def pending_downloads_sync(self, endpoint: str) -> list[TaskRecord]:
        return self._many(
            "SELECT * FROM tasks WHERE endpoint = ? AND state = 'succeeded' "
            "AND download_state IN ('none', 'downloading') ORDER BY finished_at",
            (endpoint,),
        )

    def spent_since_sync(self, since: float) -> float:
        """Estimated spend of tasks created since ``since`` that were, or may yet be, billed."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM tasks WHERE created_at >= ? "
                "AND state NOT IN ('failed', 'canceled', 'expired')",
                (since,),
            ).fetchone()
        return float(row[0])

    def _one(self, query: str, params: Sequence[Any]) -> TaskRecord | None:
        with self._lock:
            row = self._conn.execute(query, params).fetchone()
        return None if row is None else _from_row(row)

    def _many(self, query: str, params: Sequence[Any]) -> list[TaskRecord]:
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [_from_row(row) for row in rows]

    # -- async wrappers ---------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def insert(self, record: TaskRecord) -> TaskRecord:
        return await self.run(self.insert_sync, record)

    async def update(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        return await self.run(self.update_sync, task_id, now, **changes)

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self.run(self.get_sync, task_id)


__all__ = [
    "ALL_STATES",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "TaskRecord",
    "TaskStore",
    "new_task_id",
]
