"""The SQLite task store (the embedded default): every task is written here before its paid call.

One connection, used from worker threads under a lock, in short transactions; the async methods hop
off the event loop with ``anyio.to_thread.run_sync``. The rules every backend keeps (one transaction
per decision, leases, instances) are in ``wan_video_mcp.server.store.interface``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wan_video_mcp.server.store.connection import Database
from wan_video_mcp.server.store.interface import (
    INSTANCE_STALE_SECONDS,
    OffLoop,
    Upload,
    cell_rate,
    host_identity,
    pid_alive,
)
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL, OPEN_STATES, TaskRecord
from wan_video_mcp.server.store.sqlite_storyboards import StoryboardTable


class TaskStore(OffLoop, StoryboardTable):
    """Durable task rows in SQLite. Methods ending in ``_sync`` run on the calling thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(path)

    def close(self) -> None:
        self._db.close()

    # -- one-transaction decisions --------------------------------------------------------

    def create_sync(
        self, record: TaskRecord, *, dedupe_since: float | None, admit: Callable[[float], None]
    ) -> tuple[TaskRecord, str]:
        """Attach to the task this request repeats, or insert ``record``: one transaction across processes.

        Returns the task and how it was found: ``"idempotency_key"``, ``"duplicate"`` (same fingerprint
        since ``dedupe_since`` at this endpoint, not failed) or ``"new"``. ``admit(spent_today)`` may raise
        to refuse a new task (the budget); it sees the spend of every process.
        """
        db = self._db
        with db.lock, db.transaction():
            found = self._repeated(
                record.idempotency_key, record.fingerprint, record.endpoint, dedupe_since, record.principal
            )
            if found is not None:
                return found
            day_start = record.created_at - record.created_at % 86400  # UTC day
            admit(self._spent_since(day_start, record.principal))
            db.insert(record)
        return record, "new"

    def repeated_sync(
        self,
        idempotency_key: str | None,
        fingerprint: str,
        endpoint: str,
        dedupe_since: float | None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[TaskRecord, str] | None:
        """The task a request would attach to (as ``create_sync`` decides it), or None: a new one."""
        with self._db.lock:
            return self._repeated(idempotency_key, fingerprint, endpoint, dedupe_since, principal)

    def _repeated(
        self,
        idempotency_key: str | None,
        fingerprint: str,
        endpoint: str,
        dedupe_since: float | None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[TaskRecord, str] | None:
        """A principal's own task only: another's key or twin is never attached to (nor seen)."""
        db = self._db
        if idempotency_key is not None:
            existing = db.row(
                "SELECT * FROM tasks WHERE principal = ? AND idempotency_key = ?", (principal, idempotency_key)
            )
            if existing is not None:
                return existing, "idempotency_key"
        if dedupe_since is not None:
            existing = db.row(
                "SELECT * FROM tasks WHERE principal = ? AND fingerprint = ? AND created_at >= ? AND endpoint = ? "
                "AND state NOT IN ('failed', 'canceled', 'expired') ORDER BY created_at DESC LIMIT 1",
                (principal, fingerprint, dedupe_since, endpoint),
            )
            if existing is not None:
                return existing, "duplicate"
        return None

    def spent_since_sync(self, since: float, principal: str = LOCAL_PRINCIPAL) -> float:
        with self._db.lock:
            return self._spent_since(since, principal)

    def _spent_since(self, since: float, principal: str = LOCAL_PRINCIPAL) -> float:
        """Estimated spend of a principal's tasks created since ``since`` that were, or may yet be, billed (the
        budgets are per principal)."""
        row = self._db.conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM tasks WHERE principal = ? AND created_at >= ? "
            "AND state NOT IN ('failed', 'canceled', 'expired')",
            (principal, since),
        ).fetchone()
        return float(row[0])

    def adopt_sync(self, record: TaskRecord) -> TaskRecord:
        """Insert an adopted task unless its provider id is already some task's (then that task)."""
        assert record.remote_id is not None
        db = self._db
        with db.lock, db.transaction():
            existing: TaskRecord | None = db.row(
                "SELECT * FROM tasks WHERE remote_id = ? AND provider = ? AND endpoint = ?",
                (record.remote_id, record.provider, record.endpoint),
            )
            if existing is not None:
                return existing
            db.insert(record)
        return record

    def assign_remote_sync(self, task_id: str, remote_id: str, now: float, **changes: Any) -> TaskRecord | None:
        """Give an unconfirmed task the provider id reconciliation found, unless another task holds that id
        or the task is no longer unconfirmed (its own submit answered meanwhile)."""
        db = self._db
        with db.lock, db.transaction():
            task = db.row("SELECT provider, endpoint FROM tasks WHERE id = ?", (task_id,), raw=True)
            if task is None:
                raise KeyError(task_id)
            if (
                db.row(
                    "SELECT id FROM tasks WHERE remote_id = ? AND provider = ? AND endpoint = ?",
                    (remote_id, task["provider"], task["endpoint"]),
                    raw=True,
                )
                is not None
            ):
                return None
            return db.update(
                task_id, now, {**changes, "remote_id": remote_id}, "AND state = 'unknown' AND remote_id IS NULL"
            )

    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        with self._db.lock:
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
        with self._db.lock:
            return self._db.update(
                task_id,
                now,
                {**changes, "lease_owner": owner, "lease_until": until},
                where,
                {"now": now, "fresh": now - INSTANCE_STALE_SECONDS, "owner": owner},
            )

    def count_attempt_sync(self, task_id: str, owner: str, attempt: int, now: float, until: float) -> TaskRecord | None:
        with self._db.lock:
            return self._db.update(
                task_id,
                now,
                {"submit_attempts": attempt, "lease_until": until},
                "AND lease_owner = :owner AND state = 'submitting' AND submit_attempts = :before",
                {"owner": owner, "before": attempt - 1},
            )

    def release_sync(self, task_id: str, owner: str, until: float, now: float, **changes: Any) -> TaskRecord | None:
        """Give back the lease ``owner`` took until ``until`` (applying ``changes``); None when that lease is no
        longer held (it lapsed, or the same owner took a new one since, say a download after its poll)."""
        with self._db.lock:
            return self._db.update(
                task_id,
                now,
                {**changes, "lease_owner": None, "lease_until": None},
                "AND lease_owner = :owner AND lease_until = :until",
                {"owner": owner, "until": until},
            )

    def hurry_sync(self, task_id: str, when: float) -> None:
        """Bring the shared next poll forward to ``when`` (someone is waiting on the task)."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE tasks SET next_poll_at = ? WHERE id = ? AND (next_poll_at IS NULL OR next_poll_at > ?)",
                (when, task_id, when),
            )

    def reserve_poll_sync(self, account: str, interval: float, now: float) -> float:
        """When this process may make its next call on ``account``'s budget: the first free slot, ``interval`` after
        the last one any process on this file took (and never before ``now``)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "INSERT INTO poll_budget (account, next_at) VALUES (:account, :now + :interval) "
                "ON CONFLICT (account) DO UPDATE SET next_at = MAX(next_at, :now) + :interval RETURNING next_at",
                {"account": account, "now": now, "interval": interval},
            ).fetchone()
        return float(row[0]) - interval

    def admit_call_sync(self, key: str, interval: float, burst: int, now: float) -> float:
        db = self._db
        with db.lock, db.transaction():
            row = db.conn.execute("SELECT next_at FROM poll_budget WHERE account = ?", (key,)).fetchone()
            wait, due = cell_rate(None if row is None else row[0], interval, burst, now)
            if due is not None:
                db.conn.execute(
                    "INSERT INTO poll_budget (account, next_at) VALUES (?, ?) "
                    "ON CONFLICT (account) DO UPDATE SET next_at = excluded.next_at",
                    (key, due),
                )
        return wait

    def claim_sweep_sync(self, account: str, now: float, every: float) -> tuple[bool, float | None]:
        db = self._db
        with db.lock, db.transaction():
            db.conn.execute("INSERT OR IGNORE INTO poll_budget (account, next_at) VALUES (?, ?)", (account, now))
            won = db.conn.execute(
                "UPDATE poll_budget SET sweep_due_at = ? WHERE account = ? AND (sweep_due_at IS NULL "
                "OR sweep_due_at <= ?) RETURNING swept_at",
                (now + every, account, now),
            ).fetchone()
            if won is not None:
                return True, won[0]
            row = db.conn.execute("SELECT swept_at FROM poll_budget WHERE account = ?", (account,)).fetchone()
        return False, row[0]

    def end_sweep_sync(self, account: str, next_due: float, worked_at: float | None, forget: bool) -> None:
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE poll_budget SET sweep_due_at = ?, swept_at = CASE WHEN ? IS NOT NULL THEN ? "
                "WHEN ? THEN NULL ELSE swept_at END WHERE account = ?",
                (next_due, worked_at, worked_at, forget, account),
            )

    # -- instances ------------------------------------------------------------------------

    def register_instance_sync(self, instance_id: str, now: float) -> None:
        """Record this process; forget instances on this host whose process is gone.

        An earlier instance with this very pid is gone too: a process starts one engine, so it can only be a
        previous run in this process (tests restart engines in-process; concurrent ones re-insert themselves
        on their next heartbeat).
        """
        host = host_identity()
        db = self._db
        with db.lock, db.transaction():
            for row in db.conn.execute("SELECT id, pid FROM instances WHERE host = ?", (host,)).fetchall():
                if row["pid"] == os.getpid() or not pid_alive(row["pid"]):
                    db.conn.execute("DELETE FROM instances WHERE id = ?", (row["id"],))
            db.conn.execute("DELETE FROM instances WHERE heartbeat_at < ?", (now - 86400,))
            db.conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                (instance_id, host, os.getpid(), now, now),
            )

    def heartbeat_sync(self, instance_id: str, now: float) -> None:
        with self._db.lock:
            self._db.conn.execute(
                "INSERT INTO instances (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (instance_id, host_identity(), os.getpid(), now, now),
            )

    def unregister_instance_sync(self, instance_id: str) -> None:
        with self._db.lock:
            self._db.conn.execute("DELETE FROM instances WHERE id = ?", (instance_id,))
            self._db.conn.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (instance_id,)
            )

    def live_instances_sync(self, now: float) -> set[str]:
        with self._db.lock:
            rows = self._db.conn.execute(
                "SELECT id FROM instances WHERE heartbeat_at >= ?", (now - INSTANCE_STALE_SECONDS,)
            ).fetchall()
        return {row["id"] for row in rows}

    # -- uploads --------------------------------------------------------------------------

    def find_upload_sync(self, account: str, model: str, sha256: str, usable_until: float) -> Upload | None:
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT * FROM uploads WHERE account = ? AND model = ? AND sha256 = ? AND expires_at > ?",
                (account, model, sha256, usable_until),
            ).fetchone()
        return Upload(**{name: row[name] for name in row.keys()}) if row is not None else None

    def record_upload_sync(self, upload: Upload) -> None:
        db = self._db
        with db.lock, db.transaction():
            db.conn.execute("DELETE FROM uploads WHERE expires_at < ?", (upload.uploaded_at,))
            db.conn.execute(
                "INSERT OR REPLACE INTO uploads (account, model, sha256, url, size_bytes, uploaded_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        return self._db.one("SELECT * FROM tasks WHERE id = ?", (task_id,))

    def find_remote_sync(self, remote_id: str, provider: str | None = None) -> TaskRecord | None:
        if provider is None:
            return self._db.one("SELECT * FROM tasks WHERE remote_id = ?", (remote_id,))
        return self._db.one("SELECT * FROM tasks WHERE remote_id = ? AND provider = ?", (remote_id, provider))

    def submitting_like_sync(self, fingerprint: str, endpoint: str, exclude: str) -> bool:
        """Whether another task with these parameters is being submitted right now (its answer is pending)."""
        return (
            self._db.one(
                "SELECT * FROM tasks WHERE fingerprint = ? AND endpoint = ? AND state = 'submitting' "
                "AND id != ? LIMIT 1",
                (fingerprint, endpoint, exclude),
            )
            is not None
        )

    def list_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[TaskRecord]:
        """A principal's tasks, newest first."""
        if states:
            marks = ", ".join("?" for _ in states)
            query = f"SELECT * FROM tasks WHERE principal = ? AND state IN ({marks}) ORDER BY created_at DESC LIMIT ?"
            return self._db.many(query, (principal, *states, limit))
        return self._db.many(
            "SELECT * FROM tasks WHERE principal = ? ORDER BY created_at DESC LIMIT ?", (principal, limit)
        )

    def open_tasks_sync(self, endpoint: str) -> list[TaskRecord]:
        marks = ", ".join("?" for _ in OPEN_STATES)
        return self._db.many(
            f"SELECT * FROM tasks WHERE endpoint = ? AND state IN ({marks}) ORDER BY created_at",
            (endpoint, *OPEN_STATES),
        )

    def pending_downloads_sync(self, endpoint: str) -> list[TaskRecord]:
        return self._db.many(
            "SELECT * FROM tasks WHERE endpoint = ? AND state = 'succeeded' "
            "AND download_state IN ('none', 'downloading') ORDER BY finished_at",
            (endpoint,),
        )
