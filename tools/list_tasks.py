"""list_tasks: the tasks this server knows, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from pydantic import Field

from wan_video_mcp.server.store import OPEN_STATES, STORYBOARD_OPEN, shot_of
from wan_video_mcp.server.timefmt import iso
from wan_video_mcp.tools.call import current_principal
from wan_video_mcp.tools.outcomes import ok_result
from wan_video_mcp.tools.outputs import StoryboardSummary, TaskList, TaskListOutcome, TaskSummary
from wan_video_mcp.tools.registration import plain_tool
from wan_video_mcp.tools.state import state_of
from wan_video_mcp.tools.storyboard import STORYBOARD_VIDEO_URI
from wan_video_mcp.tools.view import VIDEO_URI

StatusFilter = Literal[
    "open", "submitting", "unknown", "queued", "running", "succeeded", "failed", "canceled", "expired"
]

# A status filter as it applies to storyboards (running, joining, succeeded or failed): None is every one.
STORYBOARD_FILTERS: dict[str, tuple[str, ...] | None] = {"": None, "open": STORYBOARD_OPEN}


async def list_tasks(
    ctx: Context,
    status: Annotated[
        StatusFilter | None,
        Field(description="Only tasks in this state; 'open' means not finished yet."),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="At most this many tasks (1-100).", strict=True)] = 20,
) -> Annotated[types.CallToolResult, TaskListOutcome]:
    states = OPEN_STATES if status == "open" else ((status,) if status else None)
    engine = state_of(ctx).engine
    principal = current_principal()
    records = await engine.list(states, limit, principal)
    tasks = [
        TaskSummary(
            task_id=r.id,
            status=r.state,
            model=r.model,
            prompt=(r.request.get("prompt") or "")[:120] or None,
            created_at=iso(r.created_at),
            remote_task_id=r.remote_id,
            download_status=r.download_state,
            video_uri=VIDEO_URI.format(task_id=r.id) if r.download_state == "downloaded" else None,
            simulated=r.simulated,
            storyboard_id=shot_of(r.idempotency_key),
        )
        for r in records
    ]
    boards = [
        StoryboardSummary(
            storyboard_id=b.id,
            status=b.state,
            continuity=b.request.get("continuity", "none"),
            shot_count=len(b.shots),
            created_at=iso(b.created_at),
            video_uri=STORYBOARD_VIDEO_URI.format(storyboard_id=b.id) if b.state == "succeeded" else None,
            error=b.error,
        )
        for b in await engine.storyboards.recent(STORYBOARD_FILTERS.get(status or "", (str(status),)), limit, principal)
    ]
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    text = f"{len(tasks)} task(s)" + (": " + ", ".join(f"{n} {s}" for s, n in counts.items()) if tasks else "")
    if boards:
        text += f"; {len(boards)} storyboard(s): " + ", ".join(f"{b.storyboard_id} {b.status}" for b in boards)
    return ok_result(TaskList(count=len(tasks), tasks=tasks, storyboards=boards or None), text=text)


def build() -> Tool:
    """The list_tasks tool."""
    return plain_tool(
        list_tasks,
        description="Recorded video tasks and storyboards, newest first, optionally by state: recovers ids after a "
        "lost context or a restart.",
        annotations=types.ToolAnnotations(
            title="List video tasks",
            read_only_hint=True,
            open_world_hint=False,
        ),
    )
