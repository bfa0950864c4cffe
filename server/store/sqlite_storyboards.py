"""The storyboards table of the SQLite store (``TaskStore`` is a ``StoryboardTable``): one row per storyboard, its
shots' entries written one transaction at a time, and the runner's lease on it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.store.connection import Database
from wan_video_mcp.server.store.interface import INSTANCE_STALE_SECONDS
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL
from wan_video_mcp.server.store.storyboards import (
    STORYBOARD_COLUMNS,
    STORYBOARD_OPEN,
    StoryboardRecord,
    storyboard_from_row,
    storyboard_row,
)


class StoryboardTable:
    """The storyboard methods of the store (``_sync``: on the calling thread), on the store's connection."""

    _db: Database

    def create_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str]:
        """Insert the storyboard unless one with its idempotency key exists, or (``dedupe_since``) a recent one of
        the same request that has not failed: then that one, and how it was found (as ``create_sync``)."""
        row = storyboard_row(record)
        with self._db.lock, self._db.transaction():
            found = self._repeated_storyboard(record, dedupe_since)
            if found is not None:
                return found
            self._db.conn.execute(
                f"INSERT INTO storyboards ({', '.join(row)}) VALUES ({', '.join(':' + name for name in row)})", row
            )
        return record, "new"

    def repeated_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str] | None:
        with self._db.lock:
            return self._repeated_storyboard(record, dedupe_since)

    def _repeated_storyboard(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str] | None:
        conn = self._db.conn
        if record.idempotency_key is not None:
            row = conn.execute(
                "SELECT * FROM storyboards WHERE principal = ? AND idempotency_key = ?",
                (record.principal, record.idempotency_key),
            )
            found = row.fetchone()
            if found is not None:
                return storyboard_from_row(found), "idempotency_key"
        if dedupe_since is not None:
            found = conn.execute(
                "SELECT * FROM storyboards WHERE principal = ? AND fingerprint = ? AND endpoint = ? "
                "AND created_at >= ? AND state != 'failed' ORDER BY created_at DESC LIMIT 1",
                (record.principal, record.fingerprint, record.endpoint, dedupe_since),
            ).fetchone()
            if found is not None:
                return storyboard_from_row(found), "duplicate"
        return None

    def get_storyboard_sync(self, storyboard_id: str) -> StoryboardRecord | None:
        with self._db.lock:
            row = self._db.conn.execute("SELECT * FROM storyboards WHERE id = ?", (storyboard_id,)).fetchone()
        return storyboard_from_row(row) if row is not None else None

    def update_storyboard_sync(self, storyboard_id: str, now: float, **changes: Any) -> StoryboardRecord:
        with self._db.lock, self._db.transaction():
            return self._write_storyboard(storyboard_id, {**changes, "updated_at": now})

    def _write_storyboard(self, storyboard_id: str, changes: dict[str, Any]) -> StoryboardRecord:
        """Set columns of a storyboard row (the caller holds the lock and a transaction)."""
        unknown = set(changes) - set(STORYBOARD_COLUMNS)
        if unknown:
            raise ValueError(f"unknown storyboard columns: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        row = self._db.conn.execute(
            f"UPDATE storyboards SET {assignments} WHERE id = :__id RETURNING *", {**changes, "__id": storyboard_id}
        ).fetchone()
        if row is None:
            raise KeyError(storyboard_id)
        return storyboard_from_row(row)

    def set_shots_sync(
        self,
        storyboard_id: str,
        now: float,
        shots: dict[int, dict[str, Any]],
        *,
        expect_state: str | None = None,
        **changes: Any,
    ) -> StoryboardRecord | None:
        """Some shots' entries changed (with other columns) in one transaction, so a runner and a retry that change
        different shots never undo each other; None (nothing changed) when the state is not ``expect_state``."""
        with self._db.lock, self._db.transaction():
            row = self._db.conn.execute(
                "SELECT state, shots_json FROM storyboards WHERE id = ?", (storyboard_id,)
            ).fetchone()
            if row is None:
                raise KeyError(storyboard_id)
            if expect_state is not None and row["state"] != expect_state:
                return None
            entries = json.loads(row["shots_json"])
            for index, shot in shots.items():
                entries[index] = shot
            return self._write_storyboard(
                storyboard_id, {**changes, "shots_json": json.dumps(entries), "updated_at": now}
            )

    def claim_storyboard_sync(self, storyboard_id: str, endpoint: str, owner: str, now: float, until: float) -> bool:
        """Take (or keep) the running of an open storyboard of this endpoint unless a live process holds it: one
        runner per store."""
        placeholders = ", ".join("?" for _ in STORYBOARD_OPEN)
        with self._db.lock, self._db.transaction():
            cursor = self._db.conn.execute(
                f"UPDATE storyboards SET owner = ?, owner_until = ? WHERE id = ? AND endpoint = ? "
                f"AND state IN ({placeholders}) AND (owner IS NULL OR owner = ? OR owner_until < ? "
                "OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at >= ?))",
                (owner, until, storyboard_id, endpoint, *STORYBOARD_OPEN, owner, now, now - INSTANCE_STALE_SECONDS),
            )
        return cursor.rowcount == 1

    def release_storyboard_sync(self, storyboard_id: str, owner: str) -> None:
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE storyboards SET owner = NULL, owner_until = NULL WHERE id = ? AND owner = ?",
                (storyboard_id, owner),
            )

    def list_storyboards_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[StoryboardRecord]:
        where = f"AND state IN ({', '.join('?' for _ in states)}) " if states else ""
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT * FROM storyboards WHERE principal = ? {where}ORDER BY created_at DESC LIMIT ?",
                (principal, *(states or ()), limit),
            ).fetchall()
        return [storyboard_from_row(row) for row in rows]

    def open_storyboards_sync(self, endpoint: str) -> list[StoryboardRecord]:
        placeholders = ", ".join("?" for _ in STORYBOARD_OPEN)
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT * FROM storyboards WHERE endpoint = ? AND state IN ({placeholders}) ORDER BY created_at",
                (endpoint, *STORYBOARD_OPEN),
            ).fetchall()
        return [storyboard_from_row(row) for row in rows]
