"""The storyboard record: a persisted group of shot tasks and the join of their videos.

A storyboard's shots are ordinary tasks, submitted with the idempotency key ``{storyboard id}:{shot}:{attempt}`` (a
retried shot is a new attempt), so a runner that starts again after a crash re-submits each shot with its key and
attaches to the task that exists instead of paying again. The row keeps what only the storyboard knows: its request (the
shots, the shared settings, the continuity), which task each shot is, and the joined video.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from wan_video_mcp.server.store.records import typed

STORYBOARD_OPEN = ("running", "joining")
STORYBOARD_STATES = (*STORYBOARD_OPEN, "succeeded", "failed")


SHOT_KEY_RE = re.compile(r"(sb_[0-9a-f]{20}):\d+:\d+")


def new_storyboard_id() -> str:
    return "sb_" + uuid.uuid4().hex[:20]


def shot_key(storyboard_id: str, index: int, attempt: int) -> str:
    """The idempotency key of a shot's attempt: a restarted runner submits it again and attaches, never pays."""
    return f"{storyboard_id}:{index}:{attempt}"


def shot_of(idempotency_key: str | None) -> str | None:
    """The storyboard a task is a shot of, from its idempotency key."""
    match = SHOT_KEY_RE.fullmatch(idempotency_key or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class StoryboardRecord:
    """One row of the storyboards table."""

    id: str
    created_at: float
    updated_at: float
    request_json: str  # the storyboard as validated: shared settings, continuity, each shot's arguments
    state: str  # running | joining | succeeded | failed
    shots_json: str = "[]"  # per shot: {"task_id": ..., "attempt": n} (null until submitted)
    local_path: str | None = None
    file_size: int | None = None
    sha256: str | None = None
    seconds: float | None = None
    join_method: str | None = None  # copy | encode | last (clip continuity: the last shot holds them all)
    error: str | None = None
    owner: str | None = None  # the process running it now (its lease lapses at owner_until, or with the process)
    owner_until: float | None = None
    endpoint: str = ""  # the provider base URL its shots are paid at (only a process serving it runs it)
    idempotency_key: str | None = None
    fingerprint: str = ""  # the request's (its local inputs by their bytes): a repeat within the window attaches
    principal: str = "local"  # who it belongs to: only they see it

    @property
    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = json.loads(self.request_json)
        return request

    @property
    def shots(self) -> list[dict[str, Any] | None]:
        shots: list[dict[str, Any] | None] = json.loads(self.shots_json)
        return shots

    @property
    def open(self) -> bool:
        return self.state in STORYBOARD_OPEN


STORYBOARD_COLUMNS = tuple(f.name for f in fields(StoryboardRecord))


def storyboard_row(record: StoryboardRecord) -> dict[str, Any]:
    return asdict(record)


STORYBOARD_TYPES = {f.name: str(f.type) for f in fields(StoryboardRecord)}


def storyboard_from_row(row: Any) -> StoryboardRecord:
    return StoryboardRecord(**typed(row, STORYBOARD_TYPES))
