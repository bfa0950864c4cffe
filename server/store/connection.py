"""One SQLite connection (WAL) shared by worker threads under a lock: opening, migrating, transactions, rows.

Short transactions only; a write that must be decided once across processes is ``BEGIN IMMEDIATE``,
which SQLite serialises across every process on the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wan_video_mcp.server.errors import StoreUnavailable
from wan_video_mcp.server.store.migrations import SCHEMA_VERSION, statements
from wan_video_mcp.server.store.records import COLUMNS, TaskRecord, from_row


class Database:
    """The connection and its lock; ``StoreUnavailable`` when the file cannot serve as the task store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(path, f"it cannot be opened ({exc})") from exc
        try:
            self.conn.row_factory = sqlite3.Row
            # Read first: a file that is not a database fails here, before anything writes to it.
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a row written before a paid call must survive a power cut, not only a crash.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreUnavailable(path, f"it is not a readable SQLite database ({exc})") from exc
        except StoreUnavailable:
            self.conn.close()
            raise

    def _migrate(self) -> None:
        with self.lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    self.path,
                    f"its schema version {version} is newer than this server's {SCHEMA_VERSION}; upgrade wan-video-mcp",
                )
            for number in range(version, SCHEMA_VERSION):
                with self.transaction():
                    if self.conn.execute("PRAGMA user_version").fetchone()[0] != number:
                        continue  # another process migrated it meanwhile
                    # executescript() would COMMIT on its own; run statements inside our transaction.
                    for statement in statements(number):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other process on this file (caller holds the lock)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- statements: insert, update and row run under the lock (and transaction) the caller holds

    def insert(self, record: TaskRecord) -> None:
        placeholders = ", ".join(f":{name}" for name in COLUMNS)
        self.conn.execute(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({placeholders})", asdict(record))

    def update(
        self, task_id: str, now: float, changes: dict[str, Any], where: str = "", params: dict[str, Any] | None = None
    ) -> TaskRecord | None:
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        changes = {**changes, "updated_at": now}
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        row = self.conn.execute(
            f"UPDATE tasks SET {assignments} WHERE id = :__id {where} RETURNING *",
            {**changes, **(params or {}), "__id": task_id},
        ).fetchone()
        return None if row is None else from_row(row)

    def row(self, query: str, params: Sequence[Any], *, raw: bool = False) -> Any:
        """One row inside a transaction the caller holds (``raw``: the sqlite3.Row itself)."""
        row = self.conn.execute(query, params).fetchone()
        if row is None or raw:
            return row
        return from_row(row)

    def one(self, query: str, params: Sequence[Any]) -> TaskRecord | None:
        """One task, under the lock (taken here)."""
        with self.lock:
            row = self.conn.execute(query, params).fetchone()
        return None if row is None else from_row(row)

    def many(self, query: str, params: Sequence[Any]) -> list[TaskRecord]:
        """Tasks, under the lock (taken here)."""
        with self.lock:
            rows = self.conn.execute(query, params).fetchall()
        return [from_row(row) for row in rows]
