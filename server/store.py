"""SQLite task store (WAL): every task is written here before its paid call.

One connection, used from worker threads under a lock, in short transactions;
the async methods hop off the event loop with ``anyio.to_thread.run_sync``.
The schema is versioned in ``PRAGMA user_version`` and migrated forward on open.

Several server processes may share one data directory (a desktop host and an IDE
host each start their own). Every decision that must be made once is one write
transaction (``BEGIN IMMEDIATE``, which SQLite serialises across processes):
attach-or-insert of a submit, adopting a provider id, and the *leases*. A lease
(``lease_owner``, ``lease_until``) marks the one process polling, submitting or
downloading a task right now; it lapses at ``lease_until`` or as soon as its
owner's row in ``instances`` stops being refreshed (the process is gone). The
shared poll schedule is ``next_poll_at``: whoever holds the lease when it comes
due polls, so processes on one store never multiply polls.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import anyio

from wan_video_mcp.server.errors import StoreUnavailable

T = TypeVar("T")

# Engine states. `submitting`: row written, paid call in flight. `unknown`: the submit's
# outcome is ambiguous until reconciled against the provider's task list.
OPEN_STATES = ("submitting", "unknown", "queued", "running")
TERMINAL_STATES = ("succeeded", "failed", "canceled", "expired")
DOWNLOAD_STATES = ("none", "downloading", "downloaded", "download_failed")
# An instance whose heartbeat is older than this is gone, and its leases with it.
INSTANCE_STALE_SECONDS = 15.0

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
    # 2: leases shared by the processes on one store, and the processes themselves.
    """
    ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
    ALTER TABLE tasks ADD COLUMN lease_until REAL;
    CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
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
    lease_owner: str | None = None  # the instance polling, submitting or downloading it right now
    lease_until: float | None = None

    @property
    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = json.loads(self.request_json)
        return request

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


_COLUMNS = tuple(f.name for f in fields(TaskRecord))
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
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(path, f"it cannot be opened ({exc})") from exc
        try:
            self._conn.row_factory = sqlite3.Row
            # Read first: a file that is not a database fails here, before anything writes to it.
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a row written before a paid call must survive a power cut, not only a crash.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreUnavailable(path, f"it is not a readable SQLite database ({exc})") from exc
        except StoreUnavailable:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    self.path,
                    f"its schema version {version} is newer than this server's {SCHEMA_VERSION}; upgrade wan-video-mcp",
                )
            for number in range(version, SCHEMA_VERSION):
                with self._transaction():
                    if self._conn.execute("PRAGMA user_version").fetchone()[0] != number:
                        continue  # another process migrated it meanwhile
                    # executescript() would COMMIT on its own; run statements inside our transaction.
                    for statement in _MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other process on this file (caller holds the lock)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- sync primitives -------------------------------------------------------------

    def _insert(self, record: TaskRecord) -> None:
        placeholders = ", ".join(f":{name}" for name in _COLUMNS)
        self._conn.execute(f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({placeholders})", asdict(record))

    def insert_sync(self, record: TaskRecord) -> TaskRecord:
        with self._lock:
            self._insert(record)
        return record

    def create_sync(
        self, record: TaskRecord, *, dedupe_since: float | None, admit: Callable[[float], None]
    ) -> tuple[TaskRecord, str]:
        """Attach to the task this request repeats, or insert ``record``: one transaction across processes.

        Returns the task and how it was found: ``"idempotency_key"``, ``"duplicate"`` (same fingerprint
        since ``dedupe_since`` at this endpoint, not failed) or ``"new"``. ``admit(spent_today)`` may raise
        to refuse a new task (the budget); it sees the spend of every process.
        """
        with self._lock, self._transaction():
            if record.idempotency_key is not None:
                existing = self._row("SELECT * FROM tasks WHERE idempotency_key = ?", (record.idempotency_key,))
                if existing is not None:
                    return existing, "idempotency_key"
            if dedupe_since is not None:
                existing = self._row(
                    "SELECT * FROM tasks WHERE fingerprint = ? AND created_at >= ? AND endpoint = ? "
                    "AND state NOT IN ('failed', 'canceled', 'expired') ORDER BY created_at DESC LIMIT 1",
                    (record.fingerprint, dedupe_since, record.endpoint),
                )
                if existing is not None:
                    return existing, "duplicate"
            day_start = record.created_at - record.created_at % 86400  # UTC day
            admit(self._spent_since(day_start))
            self._insert(record)
        return record, "new"

    def adopt_sync(self, record: TaskRecord) -> TaskRecord:
        """Insert an adopted task unless its provider id is already some task's (then that task)."""
        assert record.remote_id is not None
        with self._lock, self._transaction():
            existing: TaskRecord | None = self._row(
                "SELECT * FROM tasks WHERE remote_id = ? AND provider = ? AND endpoint = ?",
                (record.remote_id, record.provider, record.endpoint),
            )
            if existing is not None:
                return existing
            self._insert(record)
        return record

    def assign_remote_sync(self, task_id: str, remote_id: str, now: float, **changes: Any) -> TaskRecord | None:
        """Give an unconfirmed task the provider id reconciliation found, unless another task holds that id
        or the task is no longer unconfirmed (its own submit answered meanwhile)."""
        with self._lock, self._transaction():
            task = self._row("SELECT provider, endpoint FROM tasks WHERE id = ?", (task_id,), raw=True)
            if task is None:
                raise KeyError(task_id)
            if (
                self._row(
                    "SELECT id FROM tasks WHERE remote_id = ? AND provider = ? AND endpoint = ?",
                    (remote_id, task["provider"], task["endpoint"]),
                    raw=True,
                )
                is not None
            ):
                return None
            return self._update(
                task_id, now, {**changes, "remote_id": remote_id}, "AND state = 'unknown' AND remote_id IS NULL"
            )

    def submitting_like_sync(self, fingerprint: str, endpoint: str, exclude: str) -> bool:
        """Whether another task with these parameters is being submitted right now (its answer is pending)."""
        return (
            self._one(
                "SELECT * FROM tasks WHERE fingerprint = ? AND endpoint = ? AND state = 'submitting' "
                "AND id != ? LIMIT 1",
                (fingerprint, endpoint, exclude),
            )
            is not None
        )

    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        with self._lock:
            record = self._update(task_id, now, changes)
        if record is None:
            raise KeyError(task_id)
        return record

    def _update(
        self, task_id: str, now: float, changes: dict[str, Any], where: str = "", params: dict[str, Any] | None = None
    ) -> TaskRecord | None:
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        changes = {**changes, "updated_at": now}
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        row = self._conn.execute(
            f"UPDATE tasks SET {assignments} WHERE id = :__id {where} RETURNING *",
            {**changes, **(params or {}), "__id": task_id},
        ).fetchone()
        return None if row is None else _from_row(row)

    # -- leases -------------------------------------------------------------------------

    def claim_sync(
        self,
        task_id: str,
        owner: str,
        now: float,
        until: float,
        *,
        due: bool = False,
        download: bool = False,
        **changes: Any,
    ) -> TaskRecord | None:
        """Take the task's lease for ``owner`` (and apply ``changes``) unless a live instance holds it.

        ``due``: only when its shared poll time has come. ``download``: only a finished task whose video
        is not saved yet. None when someone else has it (or there is nothing to do).
        """
        # A lapsed lease is free, except a submit's: a paid call may outlast any bound, so only its owner's
        # death frees it.
        where = (
            "AND (lease_owner IS NULL OR (lease_until < :now AND state != 'submitting') OR NOT EXISTS "
            "(SELECT 1 FROM instances WHERE instances.id = tasks.lease_owner AND heartbeat_at >= :fresh))"
        )
        if due:
            where += " AND (next_poll_at IS NULL OR next_poll_at <= :now)"
        if download:
            # A download may start under the poll lease this owner holds (the poll that saw the task finish).
            where = where.replace("lease_owner IS NULL", "lease_owner IS NULL OR lease_owner = :owner")
            where += " AND state = 'succeeded' AND download_state != 'downloaded'"
        with self._lock:
            return self._update(
                task_id,
                now,
                {**changes, "lease_owner": owner, "lease_until": until},
                where,
                {"now": now, "fresh": now - INSTANCE_STALE_SECONDS, "owner": owner},
            )

    def release_sync(self, task_id: str, owner: str, until: float, now: float, **changes: Any) -> TaskRecord | None:
        """Give back the lease ``owner`` took until ``until`` (applying ``changes``); None when that lease is no
        longer held (it lapsed, or the same owner took a new one since, say a download after its poll)."""
        with self._lock:
            return self._update(
                task_id,
                now,
                {**changes, "lease_owner": None, "lease_until": None},
                "AND lease_owner = :owner AND lease_until = :until",
                {"owner": owner, "until": until},
            )

    def hurry_sync(self, task_id: str, when: float) -> None:
        """Bring the shared next poll forward to ``when`` (someone is waiting on the task)."""
        with self._lock:
            self._conn.execute(
                "UPDATE tasks SET next_poll_at = ? WHERE id = ? AND (next_poll_at IS NULL OR next_poll_at > ?)",
                (when, task_id, when),
            )

    def register_instance_sync(self, instance_id: str, now: float) -> None:
        """Record this process; forget instances on this host whose process is gone.

        An earlier instance with this very pid is gone too: a process starts one engine, so it can only be a
        previous run in this process (tests restart engines in-process; concurrent ones re-insert themselves
        on their next heartbeat).
        """
        host = socket.gethostname()
        with self._lock, self._transaction():
            for row in self._conn.execute("SELECT id, pid FROM instances WHERE host = ?", (host,)).fetchall():
                if row["pid"] == os.getpid() or not _pid_alive(row["pid"]):
                    self._conn.execute("DELETE FROM instances WHERE id = ?", (row["id"],))
            self._conn.execute("DELETE FROM instances WHERE heartbeat_at < ?", (now - 86400,))
            self._conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                (instance_id, host, os.getpid(), now, now),
            )

    def heartbeat_sync(self, instance_id: str, now: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (instance_id, socket.gethostname(), os.getpid(), now, now),
            )

    def unregister_instance_sync(self, instance_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM instances WHERE id = ?", (instance_id,))
            self._conn.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (instance_id,)
            )

    def live_instances_sync(self, now: float) -> set[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM instances WHERE heartbeat_at >= ?", (now - INSTANCE_STALE_SECONDS,)
            ).fetchall()
        return {row["id"] for row in rows}

    # -- queries ------------------------------------------------------------------------

    def get_sync(self, task_id: str) -> TaskRecord | None:
        return self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))

    def find_remote_sync(self, remote_id: str, provider: str | None = None) -> TaskRecord | None:
        if provider is None:
            return self._one("SELECT * FROM tasks WHERE remote_id = ?", (remote_id,))
        return self._one("SELECT * FROM tasks WHERE remote_id = ? AND provider = ?", (remote_id, provider))

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

    def known_submits_sync(self, endpoint: str, since: float) -> list[TaskRecord]:
        """Tasks of this endpoint with a provider id, submitted by us since ``since`` (for clock offsets)."""
        return self._many(
            "SELECT * FROM tasks WHERE endpoint = ? AND remote_id IS NOT NULL AND adopted = 0 "
            "AND submitted_at >= ? ORDER BY submitted_at DESC LIMIT 50",
            (endpoint, since),
        )

    def spent_since_sync(self, since: float) -> float:
        """Estimated spend of tasks created since ``since`` that were, or may yet be, billed."""
        with self._lock:
            return self._spent_since(since)

    def _spent_since(self, since: float) -> float:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM tasks WHERE created_at >= ? "
            "AND state NOT IN ('failed', 'canceled', 'expired')",
            (since,),
        ).fetchone()
        return float(row[0])

    def _row(self, query: str, params: Sequence[Any], *, raw: bool = False) -> Any:
        """One row inside a transaction the caller holds (``raw``: the sqlite3.Row itself)."""
        row = self._conn.execute(query, params).fetchone()
        if row is None or raw:
            return row
        return _from_row(row)

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


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (unknown counts as alive)."""
    if os.name == "nt":  # os.kill would terminate it there; rely on the heartbeat going stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


__all__ = [
    "INSTANCE_STALE_SECONDS",
    "OPEN_STATES",
    "TERMINAL_STATES",
    "TaskRecord",
    "TaskStore",
    "new_task_id",
]
