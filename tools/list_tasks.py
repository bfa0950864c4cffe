"""list_tasks: the tasks this server knows, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import mcp_types as types
from pydantic import BaseModel, Field

from wan_video_mcp.server.store import OPEN_STATES
from wan_video_mcp.tools.common import AdapterTool, Call, ToolArgs, args_schema, make_tool, ok_result, parse_args
from wan_video_mcp.tools.view import VIDEO_URI, iso

StatusFilter = Literal[
    "open", "submitting", "unknown", "queued", "running", "succeeded", "failed", "canceled", "expired"
]


class ListTasksArgs(ToolArgs):
    status: Annotated[
        StatusFilter | None, Field(description="Only tasks in this state; 'open' means not finished yet.")
    ] = None
    limit: Annotated[int, Field(ge=1, le=100, description="At most this many tasks (1-100).")] = 20


class TaskSummary(BaseModel):
    task_id: str
    status: str
    model: str
    prompt: str | None
    created_at: str | None
    remote_task_id: str | None
    download_status: str
    video_uri: str | None
    simulated: bool


class TaskList(BaseModel):
    count: int
    tasks: list[TaskSummary]


async def handler(arguments: dict[str, Any], call: Call) -> types.CallToolResult:
    args: ListTasksArgs = parse_args(ListTasksArgs, arguments)
    state = call.state
    states = OPEN_STATES if args.status == "open" else ((args.status,) if args.status else None)
    records = await state.engine.list(states, args.limit)
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
        )
        for r in records
    ]
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    text = f"{len(tasks)} task(s)" + (": " + ", ".join(f"{n} {s}" for s, n in counts.items()) if tasks else "")
    return ok_result(TaskList(count=len(tasks), tasks=tasks), text=text)


def build() -> AdapterTool:
    return make_tool(
        name="list_tasks",
        title="List video tasks",
        description="List the video tasks this server has recorded, newest first, optionally by state: use it "
        "to recover task ids after a lost context or a restart.",
        handler=handler,
        input_schema=args_schema(ListTasksArgs),
        output_model=TaskList,
        annotations=types.ToolAnnotations(
            title="List video tasks",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
