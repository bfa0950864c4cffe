"""The task store: its interface, the SQLite backend, the schema's migrations and the task record."""

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
    "shot_key",
    "shot_of",
]
