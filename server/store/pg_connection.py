"""The PostgreSQL store's connections: a psycopg 3 pool shared by worker threads, the migrations, and the statements.

Every write that must be decided once across replicas is one transaction; the decisions that read before they write
(attach-or-insert of a submit or a storyboard, adopting a provider id) first take a transaction-scoped advisory lock
on what they decide about (the principal, the provider id), so replicas decide them one at a time, as SQLite's
``BEGIN IMMEDIATE`` does for processes on one file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from wan_video_mcp.server.config import redacted
from wan_video_mcp.server.errors import StoreUnavailable, StoreUnreachable
from wan_video_mcp.server.store.migrations import SCHEMA_VERSION, postgres_statements
from wan_video_mcp.server.store.records import COLUMNS, TaskRecord, from_row

POOL_SIZE = 10  # connections per process: worker threads beyond it wait their turn
CONNECT_SECONDS = 10.0
MIGRATION_LOCK = 0x57414E00  # the advisory lock replicas starting together migrate under, one at a time

Row = dict[str, Any]
# SQLSTATEs of an outage: connection exceptions, the server shutting down or starting, too many connections.
_OUTAGE_STATES = ("08", "57P", "53300")


def lock_key(*parts: str) -> int:
    """A 64-bit advisory lock key for a decision about ``parts`` (the same for every replica)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the schema stores them: booleans as integers (the columns are shared with SQLite's), and text
    without NUL characters, which PostgreSQL refuses (a provider's message could carry one; SQLite keeps it)."""
    return {name: _plain_value(value) for name, value in values.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


class PgDatabase:
    """The pool and the schema; ``StoreUnavailable`` when the server cannot serve as the task store."""

    def __init__(self, url: str) -> None:
        self.where = redacted(url)
        hint = "Check WAN_DATABASE_URL and that the database server is reachable; dry runs work meanwhile."
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": int(CONNECT_SECONDS)},
            open=False,
            name="wan-video-mcp",
            check=ConnectionPool.check_connection,  # a connection lost to a database restart is replaced, not lent
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_SECONDS)
            self._migrate()
        except (PoolTimeout, psycopg.Error) as exc:
            self.pool.close()
            reason = str(exc).replace(url, self.where).strip() or type(exc).__name__
            raise StoreUnavailable(self.where, f"it cannot be reached or read ({reason})", hint=hint) from exc
        except StoreUnavailable:
            self.pool.close()
            raise

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = 0 if row is None else int(row["version"])
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    self.where,
                    f"its schema version {version} is newer than this server's {SCHEMA_VERSION}; upgrade wan-video-mcp",
                    hint="Upgrade wan-video-mcp on this machine to the version the other replicas run.",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in postgres_statements(number):
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection; an outage (no connection, a lost one, none free in time) is ``StoreUnreachable``,
        which says so and is retryable. Other database errors stay what they are (the engine's bugs to report)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnreachable(self.where, f"no connection was free in time ({exc})") from exc
        except psycopg.OperationalError as exc:
            if exc.sqlstate is not None and not exc.sqlstate.startswith(_OUTAGE_STATES):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnreachable(self.where, reason) from exc

    @contextmanager
    def transaction(self, *locks: int) -> Iterator[Any]:
        """One transaction on a pooled connection, holding the advisory ``locks`` (released at its end)."""
        with self.connection() as conn, conn.transaction():
            for key in locks:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield conn

    # -- statements (each on its own connection unless given one)

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run a statement outside any transaction: the number of rows it touched."""
        with self.connection() as conn:
            return int(conn.execute(query, params).rowcount)

    def rows(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        with self.connection() as conn:
            rows: list[Row] = conn.execute(query, params).fetchall()
            return rows

    def first(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        found = self.rows(query, params)
        return found[0] if found else None

    def task(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> TaskRecord | None:
        row = self.first(query, params)
        return None if row is None else from_row(row)

    def tasks(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[TaskRecord]:
        return [from_row(row) for row in self.rows(query, params)]

    @staticmethod
    def insert(conn: Any, record: TaskRecord) -> None:
        marks = ", ".join(f"%({name})s" for name in COLUMNS)
        conn.execute(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", plain(asdict(record)))

    def update(
        self,
        task_id: str,
        now: float,
        changes: dict[str, Any],
        where: str = "",
        params: dict[str, Any] | None = None,
        conn: Any = None,
    ) -> TaskRecord | None:
        """Set columns of a task (``where``: more conditions, in ``%(name)s`` form): the row after, or None."""
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        changes = {**changes, "updated_at": now}
        assignments = ", ".join(f"{name} = %({name})s" for name in changes)
        query = f"UPDATE tasks SET {assignments} WHERE id = %(__id)s {where} RETURNING *"
        values = {**plain(changes), **(params or {}), "__id": task_id}
        if conn is not None:
            row = conn.execute(query, values).fetchone()
        else:
            row = self.first(query, values)
        return None if row is None else from_row(row)
