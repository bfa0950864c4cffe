"""The storyboards table of the PostgreSQL store (``PostgresStore`` is a ``PgStoryboardTable``), with the rules of the
SQLite one (``sqlite_storyboards``): attach-or-insert under the principal's advisory lock, shot entries changed one
transaction at a time with the row locked (``FOR UPDATE``), one runner per storyboard across replicas."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.store.interface import INSTANCE_STALE_SECONDS
from wan_video_mcp.server.store.pg_connection import PgDatabase, lock_key, plain
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL
from wan_video_mcp.server.store.storyboards import (
    STORYBOARD_COLUMNS,
    STORYBOARD_OPEN,
    StoryboardRecord,
    storyboard_from_row,
    storyboard_row,
)


class PgStoryboardTable:
    """The storyboard methods of the store (``_sync``: on the calling thread), on the store's pool."""

    _db: PgDatabase

    def create_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str]:
        row = plain(storyboard_row(record))
        with self._db.transaction(lock_key("storyboards", record.principal)) as conn:
            found = self._repeated_storyboard(conn, record, dedupe_since)
            if found is not None:
                return found
            marks = ", ".join(f"%({name})s" for name in row)
            conn.execute(f"INSERT INTO storyboards ({', '.join(row)}) VALUES ({marks})", row)
        return record, "new"

    def repeated_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str] | None:
        with self._db.connection() as conn:
            return self._repeated_storyboard(conn, record, dedupe_since)

    @staticmethod
    def _repeated_storyboard(
        conn: Any, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str] | None:
        if record.idempotency_key is not None:
            found = conn.execute(
                "SELECT * FROM storyboards WHERE principal = %s AND idempotency_key = %s",
                (record.principal, record.idempotency_key),
            ).fetchone()
            if found is not None:
                return storyboard_from_row(found), "idempotency_key"
        if dedupe_since is not None:
            found = conn.execute(
                "SELECT * FROM storyboards WHERE principal = %s AND fingerprint = %s AND endpoint = %s "
                "AND created_at >= %s AND state != 'failed' ORDER BY created_at DESC LIMIT 1",
                (record.principal, record.fingerprint, record.endpoint, dedupe_since),
            ).fetchone()
            if found is not None:
                return storyboard_from_row(found), "duplicate"
        return None

    def get_storyboard_sync(self, storyboard_id: str) -> StoryboardRecord | None:
        row = self._db.first("SELECT * FROM storyboards WHERE id = %s", (storyboard_id,))
        return storyboard_from_row(row) if row is not None else None

    def update_storyboard_sync(self, storyboard_id: str, now: float, **changes: Any) -> StoryboardRecord:
        with self._db.transaction() as conn:
            return self._write_storyboard(conn, storyboard_id, {**changes, "updated_at": now})

    @staticmethod
    def _write_storyboard(conn: Any, storyboard_id: str, changes: dict[str, Any]) -> StoryboardRecord:
        unknown = set(changes) - set(STORYBOARD_COLUMNS)
        if unknown:
            raise ValueError(f"unknown storyboard columns: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = %({name})s" for name in changes)
        row = conn.execute(
            f"UPDATE storyboards SET {assignments} WHERE id = %(__id)s RETURNING *",
            {**plain(changes), "__id": storyboard_id},
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
        """Some shots' entries changed in one transaction, the row locked meanwhile, so a runner and a retry on two
        replicas that change different shots never undo each other; None when the state is not ``expect_state``."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT state, shots_json FROM storyboards WHERE id = %s FOR UPDATE", (storyboard_id,)
            ).fetchone()
            if row is None:
                raise KeyError(storyboard_id)
            if expect_state is not None and row["state"] != expect_state:
                return None
            entries = json.loads(row["shots_json"])
            for index, shot in shots.items():
                entries[index] = shot
            return self._write_storyboard(
                conn, storyboard_id, {**changes, "shots_json": json.dumps(entries), "updated_at": now}
            )

    def claim_storyboard_sync(self, storyboard_id: str, endpoint: str, owner: str, now: float, until: float) -> bool:
        touched = self._db.execute(
            "UPDATE storyboards SET owner = %(owner)s, owner_until = %(until)s WHERE id = %(id)s "
            "AND endpoint = %(endpoint)s AND state = ANY(%(open)s) AND (owner IS NULL OR owner = %(owner)s "
            "OR owner_until < %(now)s OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at >= %(fresh)s))",
            {
                "owner": owner,
                "until": until,
                "id": storyboard_id,
                "endpoint": endpoint,
                "open": list(STORYBOARD_OPEN),
                "now": now,
                "fresh": now - INSTANCE_STALE_SECONDS,
            },
        )
        return touched == 1

    def release_storyboard_sync(self, storyboard_id: str, owner: str) -> None:
        self._db.execute(
            "UPDATE storyboards SET owner = NULL, owner_until = NULL WHERE id = %s AND owner = %s",
            (storyboard_id, owner),
        )

    def list_storyboards_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[StoryboardRecord]:
        where = "AND state = ANY(%s) " if states else ""
        params = (principal, list(states), limit) if states else (principal, limit)
        rows = self._db.rows(
            f"SELECT * FROM storyboards WHERE principal = %s {where}ORDER BY created_at DESC LIMIT %s", params
        )
        return [storyboard_from_row(row) for row in rows]

    def open_storyboards_sync(self, endpoint: str) -> list[StoryboardRecord]:
        rows = self._db.rows(
            "SELECT * FROM storyboards WHERE endpoint = %s AND state = ANY(%s) ORDER BY created_at",
            (endpoint, list(STORYBOARD_OPEN)),
        )
        return [storyboard_from_row(row) for row in rows]
