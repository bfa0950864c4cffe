"""The task store: its interface, the SQLite and PostgreSQL backends, the schema's migrations and the task record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_video_mcp.server.store.interface import INSTANCE_STALE_SECONDS, Store, Upload
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL, OPEN_STATES, TERMINAL_STATES, TaskRecord, new_task_id
from wan_video_mcp.server.store.sqlite import TaskStore
from wan_video_mcp.server.store.storyboards import (
    STORYBOARD_OPEN,
    StoryboardRecord,
    new_storyboard_id,
    shot_key,
    shot_of,
)

if TYPE_CHECKING:
    from wan_video_mcp.server.config import Settings


def open_store(settings: Settings) -> Store:
    """The configured store: PostgreSQL at ``WAN_DATABASE_URL`` when set (psycopg is imported only then), else the
    SQLite file in the data directory. ``StoreUnavailable`` when it cannot be used."""
    if settings.database_url is not None:
        try:
            from wan_video_mcp.server.store.postgres import PostgresStore
        except ImportError as exc:
            from wan_video_mcp.server.errors import StoreUnavailable

            raise StoreUnavailable(
                settings.store_text,
                f"the PostgreSQL driver is not installed ({exc.name})",
                hint="Install it with: pip install 'wan-video-mcp[postgres]' (psycopg 3), then restart the server.",
            ) from exc
        return PostgresStore(settings.database_url.get_secret_value())
    return TaskStore(settings.db_path)


__all__ = [
    "INSTANCE_STALE_SECONDS",
    "LOCAL_PRINCIPAL",
    "OPEN_STATES",
    "STORYBOARD_OPEN",
    "TERMINAL_STATES",
    "Store",
    "TaskRecord",
    "StoryboardRecord",
    "TaskStore",
    "Upload",
    "new_storyboard_id",
    "new_task_id",
    "open_store",
    "shot_key",
    "shot_of",
]
