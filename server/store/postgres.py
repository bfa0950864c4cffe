"""The PostgreSQL task store (``WAN_DATABASE_URL=postgresql://…``): several replicas on one database, one truth.

The same rules as the SQLite store (``wan_video_mcp.server.store.interface``), kept across machines:
- a submit is decided once: the attach-or-insert runs under an advisory lock on its principal, and the unique index
  on ``(principal, idempotency_key)`` stands behind it, so two replicas given one request at once pay once;
- a task's lease is taken with ``SELECT … FOR UPDATE SKIP LOCKED``: a replica never waits on a row another is
  claiming, it moves on; a lease lapses with its owner's heartbeat (``instances``), so a dead replica's tasks are
  taken over;
- the poll budget is one row per provider account (``reserve_poll_sync``), shared by every replica.

psycopg 3 in its blocking form, on a pool, from worker threads: the engine calls every ``_sync`` method through
``run`` (as it does SQLite's), so one interface serves both backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from wan_video_mcp.server.store.interface import (
    INSTANCE_STALE_SECONDS,
    OffLoop,
    Upload,
    cell_rate,
    host_identity,
    pid_alive,
)
from wan_video_mcp.server.store.pg_connection import PgDatabase, lock_key
from wan_video_mcp.server.store.pg_storyboards import PgStoryboardTable
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL, OPEN_STATES, TaskRecord, from_row

_SETTLED_OUT = "('failed', 'canceled', 'expired')"  # states never billed: not twins, not spent


class PostgresStore(OffLoop, PgStoryboardTable):
    """Durable task rows in PostgreSQL. Methods ending in ``_sync`` block the calling thread."""

    def __init__(self, url: str) -> None:
        self._db = PgDatabase(url)
        self.where = self._db.where

    def close(self) -> None:
        self._db.close()

    # -- one-transaction decisions --------------------------------------------------------

    def create_sync(
        self, record: TaskRecord, *, dedupe_since: float | None, admit: Callable[[float], None]
    ) -> tuple[TaskRecord, str]:
        """Attach to the task this request repeats, or insert ``record`` (as ``TaskStore.create_sync``): decided
        under the principal's lock, so replicas see each other's inserts and spend."""
        with self._db.transaction(lock_key("tasks", record.principal)) as conn:
            found = self._repeated(
                conn, record.idempotency_key, record.fingerprint, record.endpoint, dedupe_since, record.principal
            )
            if found is not None:
                return found
            day_start = record.created_at - record.created_at % 86400  # UTC day
            admit(self._spent_since(conn, day_start, record.principal))
            self._db.insert(conn, record)
        return record, "new"

    def repeated_sync(
        self,
        idempotency_key: str | None,
        fingerprint: str,
        endpoint: str,
        dedupe_since: float | None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[TaskRecord, str] | None:
        with self._db.connection() as conn:
            return self._repeated(conn, idempotency_key, fingerprint, endpoint, dedupe_since, principal)

    @staticmethod
    def _repeated(
        conn: Any,
        idempotency_key: str | None,
        fingerprint: str,
        endpoint: str,
        dedupe_since: float | None,
        principal: str,
    ) -> tuple[TaskRecord, str] | None:
        if idempotency_key is not None:
            row = conn.execute(
                "SELECT * FROM tasks WHERE principal = %s AND idempotency_key = %s", (principal, idempotency_key)
            ).fetchone()
            if row is not None:
                return from_row(row), "idempotency_key"
        if dedupe_since is not None:
            row = conn.execute(
                "SELECT * FROM tasks WHERE principal = %s AND fingerprint = %s AND created_at >= %s AND endpoint = %s "
                f"AND state NOT IN {_SETTLED_OUT} ORDER BY created_at DESC LIMIT 1",
                (principal, fingerprint, dedupe_since, endpoint),
            ).fetchone()
            if row is not None:
                return from_row(row), "duplicate"
        return None

    def spent_since_sync(self, since: float, principal: str = LOCAL_PRINCIPAL) -> float:
        with self._db.connection() as conn:
            return self._spent_since(conn, since, principal)

    @staticmethod
    def _spent_since(conn: Any, since: float, principal: str) -> float:
        row = conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM tasks WHERE principal = %s AND created_at >= %s "
            f"AND state NOT IN {_SETTLED_OUT}",
            (principal, since),
        ).fetchone()
        return float(row["spent"])

    def adopt_sync(self, record: TaskRecord) -> TaskRecord:
        """Insert an adopted task unless its provider id is already some task's (then that task)."""
        assert record.remote_id is not None
        with self._db.transaction(lock_key("remote", record.provider, record.endpoint, record.remote_id)) as conn:
            existing = self._holder(conn, record.remote_id, record.provider, record.endpoint)
            if existing is not None:
                return existing
            self._db.insert(conn, record)
        return record

    @staticmethod
    def _holder(conn: Any, remote_id: str, provider: str, endpoint: str) -> TaskRecord | None:
        row = conn.execute(
            "SELECT * FROM tasks WHERE remote_id = %s AND provider = %s AND endpoint = %s",
            (remote_id, provider, endpoint),
        ).fetchone()
        return None if row is None else from_row(row)

    def assign_remote_sync(self, task_id: str, remote_id: str, now: float, **changes: Any) -> TaskRecord | None:
        """Give an unconfirmed task the provider id reconciliation found, unless another task holds that id or the
        task is no longer unconfirmed (its own submit answered meanwhile)."""
        task = self._db.first("SELECT provider, endpoint FROM tasks WHERE id = %s", (task_id,))
        if task is None:
            raise KeyError(task_id)
        with self._db.transaction(lock_key("remote", task["provider"], task["endpoint"], remote_id)) as conn:
            if self._holder(conn, remote_id, task["provider"], task["endpoint"]) is not None:
                return None
            return self._db.update(
                task_id,
                now,
                {**changes, "remote_id": remote_id},
                "AND state = 'unknown' AND remote_id IS NULL",
                conn=conn,
            )

    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        record = self._db.update(task_id, now, changes)
        if record is None:
            raise KeyError(task_id)
        return record

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
        """Take the task's lease for ``owner`` (as ``TaskStore.claim_sync``). The row is locked with ``SKIP LOCKED``:
        while another replica is claiming or changing it, this one gets None at once instead of waiting."""
        free = (
            "lease_owner IS NULL OR (lease_until < %(now)s AND state != 'submitting') OR NOT EXISTS "
            "(SELECT 1 FROM instances WHERE instances.id = tasks.lease_owner AND heartbeat_at >= %(fresh)s)"
        )
        if download:  # a download may start under the poll lease this owner holds
            free = "lease_owner = %(owner)s OR " + free
        where = f"AND ({free})"
        if due:
            where += " AND (next_poll_at IS NULL OR next_poll_at <= %(now)s)"
        if download:
            where += " AND state = 'succeeded' AND download_state != 'downloaded'"
        where += " AND id = (SELECT id FROM tasks WHERE id = %(__id)s FOR UPDATE SKIP LOCKED)"
        return self._db.update(
            task_id,
            now,
            {**changes, "lease_owner": owner, "lease_until": until},
            where,
            {"now": now, "fresh": now - INSTANCE_STALE_SECONDS, "owner": owner},
        )

    def count_attempt_sync(self, task_id: str, owner: str, attempt: int, now: float, until: float) -> TaskRecord | None:
        return self._db.update(
            task_id,
            now,
            {"submit_attempts": attempt, "lease_until": until},
            "AND lease_owner = %(owner)s AND state = 'submitting' AND submit_attempts = %(before)s",
            {"owner": owner, "before": attempt - 1},
        )

    def release_sync(self, task_id: str, owner: str, until: float, now: float, **changes: Any) -> TaskRecord | None:
        return self._db.update(
            task_id,
            now,
            {**changes, "lease_owner": None, "lease_until": None},
            "AND lease_owner = %(owner)s AND lease_until = %(until)s",
            {"owner": owner, "until": until},
        )

    def hurry_sync(self, task_id: str, when: float) -> None:
        self._db.execute(
            "UPDATE tasks SET next_poll_at = %s WHERE id = %s AND (next_poll_at IS NULL OR next_poll_at > %s)",
            (when, task_id, when),
        )

    def reserve_poll_sync(self, account: str, interval: float, now: float) -> float:
        """When this process may make its next call on ``account``'s budget: the first free slot, ``interval`` after
        the last one taken by any replica (and never before ``now``)."""
        row = self._db.first(
            "INSERT INTO poll_budget (account, next_at) VALUES (%(account)s, %(now)s + %(interval)s) "
            "ON CONFLICT (account) DO UPDATE SET next_at = GREATEST(poll_budget.next_at, %(now)s) + %(interval)s "
            "RETURNING next_at",
            {"account": account, "now": now, "interval": interval},
        )
        assert row is not None
        return float(row["next_at"]) - interval

    def admit_call_sync(self, key: str, interval: float, burst: int, now: float) -> float:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO poll_budget (account, next_at) VALUES (%s, %s) ON CONFLICT (account) DO NOTHING",
                (key, now),
            )
            row = conn.execute("SELECT next_at FROM poll_budget WHERE account = %s FOR UPDATE", (key,)).fetchone()
            wait, due = cell_rate(row["next_at"], interval, burst, now)
            if due is not None:
                conn.execute("UPDATE poll_budget SET next_at = %s WHERE account = %s", (due, key))
        return wait

    def claim_sweep_sync(self, account: str, now: float, every: float) -> tuple[bool, float | None]:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO poll_budget (account, next_at) VALUES (%s, %s) ON CONFLICT (account) DO NOTHING",
                (account, now),
            )
            won = conn.execute(
                "UPDATE poll_budget SET sweep_due_at = %s WHERE account = %s AND (sweep_due_at IS NULL "
                "OR sweep_due_at <= %s) RETURNING swept_at",
                (now + every, account, now),
            ).fetchone()
            if won is not None:
                return True, won["swept_at"]
            row = conn.execute("SELECT swept_at FROM poll_budget WHERE account = %s", (account,)).fetchone()
        return False, row["swept_at"]

    def end_sweep_sync(self, account: str, next_due: float, worked_at: float | None, forget: bool) -> None:
        self._db.execute(
            "UPDATE poll_budget SET sweep_due_at = %s, swept_at = CASE WHEN %s::double precision IS NOT NULL "
            "THEN %s WHEN %s THEN NULL ELSE swept_at END WHERE account = %s",
            (next_due, worked_at, worked_at, forget, account),
        )

    # -- instances ------------------------------------------------------------------------

    def register_instance_sync(self, instance_id: str, now: float) -> None:
        """Record this process; forget instances on this host whose process is gone (as ``TaskStore``'s)."""
        host = host_identity()
        with self._db.transaction() as conn:
            for row in conn.execute("SELECT id, pid FROM instances WHERE host = %s", (host,)).fetchall():
                if row["pid"] == os.getpid() or not pid_alive(row["pid"]):
                    conn.execute("DELETE FROM instances WHERE id = %s", (row["id"],))
            conn.execute("DELETE FROM instances WHERE heartbeat_at < %s", (now - 86400,))
            conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
                (instance_id, host, os.getpid(), now, now),
            )

    def heartbeat_sync(self, instance_id: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
            (instance_id, host_identity(), os.getpid(), now, now),
        )

    def unregister_instance_sync(self, instance_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM instances WHERE id = %s", (instance_id,))
            conn.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s", (instance_id,)
            )

    def live_instances_sync(self, now: float) -> set[str]:
        rows = self._db.rows("SELECT id FROM instances WHERE heartbeat_at >= %s", (now - INSTANCE_STALE_SECONDS,))
        return {row["id"] for row in rows}

    # -- uploads --------------------------------------------------------------------------

    def find_upload_sync(self, account: str, model: str, sha256: str, usable_until: float) -> Upload | None:
        row = self._db.first(
            "SELECT account, model, sha256, url, size_bytes, uploaded_at, expires_at FROM uploads "
            "WHERE account = %s AND model = %s AND sha256 = %s AND expires_at > %s",
            (account, model, sha256, usable_until),
        )
        return Upload(**row) if row is not None else None

    def record_upload_sync(self, upload: Upload) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM uploads WHERE expires_at < %s", (upload.uploaded_at,))
            conn.execute(
                "INSERT INTO uploads (account, model, sha256, url, size_bytes, uploaded_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (account, model, sha256) DO UPDATE SET "
                "url = EXCLUDED.url, size_bytes = EXCLUDED.size_bytes, uploaded_at = EXCLUDED.uploaded_at, "
                "expires_at = EXCLUDED.expires_at",
                (
                    upload.account,
                    upload.model,
                    upload.sha256,
                    upload.url,
                    upload.size_bytes,
                    upload.uploaded_at,
                    upload.expires_at,
                ),
            )

    # -- queries ------------------------------------------------------------------------

    def get_sync(self, task_id: str) -> TaskRecord | None:
        return self._db.task("SELECT * FROM tasks WHERE id = %s", (task_id,))

    def find_remote_sync(self, remote_id: str, provider: str | None = None) -> TaskRecord | None:
        if provider is None:
            return self._db.task("SELECT * FROM tasks WHERE remote_id = %s LIMIT 1", (remote_id,))
        return self._db.task(
            "SELECT * FROM tasks WHERE remote_id = %s AND provider = %s LIMIT 1", (remote_id, provider)
        )

    def submitting_like_sync(self, fingerprint: str, endpoint: str, exclude: str) -> bool:
        row = self._db.first(
            "SELECT 1 FROM tasks WHERE fingerprint = %s AND endpoint = %s AND state = 'submitting' AND id != %s "
            "LIMIT 1",
            (fingerprint, endpoint, exclude),
        )
        return row is not None

    def list_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[TaskRecord]:
        """A principal's tasks, newest first."""
        if states:
            return self._db.tasks(
                "SELECT * FROM tasks WHERE principal = %s AND state = ANY(%s) ORDER BY created_at DESC LIMIT %s",
                (principal, list(states), limit),
            )
        return self._db.tasks(
            "SELECT * FROM tasks WHERE principal = %s ORDER BY created_at DESC LIMIT %s", (principal, limit)
        )

    def open_tasks_sync(self, endpoint: str) -> list[TaskRecord]:
        return self._db.tasks(
            "SELECT * FROM tasks WHERE endpoint = %s AND state = ANY(%s) ORDER BY created_at",
            (endpoint, list(OPEN_STATES)),
        )

    def pending_downloads_sync(self, endpoint: str) -> list[TaskRecord]:
        return self._db.tasks(
            "SELECT * FROM tasks WHERE endpoint = %s AND state = 'succeeded' "
            "AND download_state IN ('none', 'downloading') ORDER BY finished_at",
            (endpoint,),
        )
