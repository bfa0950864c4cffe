"""The task record (one row of the task table), the task states and new task ids."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from typing import Any

# Engine states. `submitting`: row written, paid call in flight. `unknown`: the submit's
# outcome is ambiguous until reconciled against the provider's task list.
OPEN_STATES = ("submitting", "unknown", "queued", "running")
TERMINAL_STATES = ("succeeded", "failed", "canceled", "expired")


def new_task_id() -> str:
    return "wan_" + uuid.uuid4().hex[:20]


LOCAL_PRINCIPAL = "local"  # stdio, and HTTP on loopback without auth: the one user of this machine


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
    principal: str = "local"  # who it belongs to: only they see it (server/auth.py)
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


COLUMNS = tuple(f.name for f in fields(TaskRecord))
COLUMN_TYPES = {f.name: str(f.type) for f in fields(TaskRecord)}  # "float | None", "bool", ...


def from_row(row: Any) -> TaskRecord:
    """A task from a row of either backend (SQLite's rows, PostgreSQL's dicts: both read by column name)."""
    return TaskRecord(**typed(row, COLUMN_TYPES))


def typed(row: Any, types: dict[str, str]) -> dict[str, Any]:
    """A row's values as the record's fields are typed: SQLite stores booleans as integers, and hands back a REAL
    column holding a whole number as an int after ``RETURNING``."""
    values = {name: row[name] for name in types}
    for name, kind in types.items():
        if values[name] is None:
            continue
        if kind.startswith("bool"):
            values[name] = bool(values[name])
        elif kind.startswith("float"):
            values[name] = float(values[name])
    return values
