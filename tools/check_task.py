"""check_task: a task's state, progress and next step; optionally wait for it (never past the cap)."""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types as types
from pydantic import Field

from wan_video_mcp.server.catalog import WAIT_SECONDS_MAX
from wan_video_mcp.tools.common import AdapterTool, Call, ToolArgs, args_schema, make_tool, parse_args
from wan_video_mcp.tools.outputs import TaskResult
from wan_video_mcp.tools.results import task_or_video

TaskId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="A task_id from generate_video or list_tasks, or a provider task id.",
    ),
]


class CheckTaskArgs(ToolArgs):
    task_id: TaskId
    wait_seconds: Annotated[int, Field(ge=0, le=WAIT_SECONDS_MAX)] = 0


async def handler(arguments: dict[str, Any], call: Call) -> types.CallToolResult:
    args: CheckTaskArgs = parse_args(CheckTaskArgs, arguments)
    engine = call.state.engine
    record = await engine.get_or_adopt(args.task_id, call.remaining(), call.beat("asking the provider"))
    if record.open:
        record = await engine.refresh(record.id, call.remaining(), call.beat("asking the provider"))
    wait, capped = await call.wait_budget(args.wait_seconds)
    if wait > 0 and not record.terminal:
        record = await engine.wait(record.id, wait, call.progress)
    return await task_or_video(call, record, wait_capped_to=capped)


def input_schema(max_wait: int) -> dict[str, Any]:
    """The arguments' schema, its wait maximum following this server's cap (larger waits are shortened)."""
    schema = args_schema(CheckTaskArgs)
    schema["properties"]["wait_seconds"] |= {
        "maximum": max_wait,
        "description": f"Wait up to this many seconds (0-{max_wait}, this server's cap) for the task to finish, "
        "with progress.",
    }
    return schema


def build(max_wait: int) -> AdapterTool:
    return make_tool(
        name="check_task",
        title="Check a video task",
        description="A video task's state, progress and next step; when finished, the video as fetch_video "
        "returns it. Works after restarts and adopts provider task ids. wait_seconds waits with progress.",
        handler=handler,
        input_schema=input_schema(max_wait),
        output_model=TaskResult,
        annotations=types.ToolAnnotations(
            title="Check a video task",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
