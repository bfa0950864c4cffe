"""check_task: a task's state, progress and next step; optionally wait for it."""

from __future__ import annotations

from typing import Annotated, Any

import mcp_types as types
from mcp.server.mcpserver import Context
from pydantic import Field

from server.catalog import WAIT_SECONDS_MAX
from tools.common import AdapterTool, TaskResult, ToolArgs, args_schema, make_tool, parse_args, state_of
from tools.results import task_or_video

TaskId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                              description="A task_id from generate_video or list_tasks, or a provider task id.")]


class CheckTaskArgs(ToolArgs):
    task_id: TaskId
    wait_seconds: Annotated[int, Field(ge=0, le=WAIT_SECONDS_MAX, description=(
        "Wait up to this many seconds (0-900) for the task to finish, with progress."))] = 0


async def handler(arguments: dict[str, Any], ctx: Context) -> types.CallToolResult:
    args: CheckTaskArgs = parse_args(CheckTaskArgs, arguments)
    state = state_of(ctx)
    record = await state.engine.get_or_adopt(args.task_id)
    if record.open:
        record = await state.engine.refresh(record.id)
    if args.wait_seconds > 0 and not record.terminal:

        async def report(progress: float, total: float, message: str) -> None:
            await ctx.report_progress(progress, total, message)

        record = await state.engine.wait(record.id, args.wait_seconds, report)
    return await task_or_video(state, record)


def build() -> AdapterTool:
    return make_tool(
        name="check_task",
        title="Check a video task",
        description="A video task's state, progress and next step; when finished, the video as fetch_video "
        "returns it. Works after restarts and adopts provider task ids. wait_seconds waits with progress.",
        handler=handler,
        input_schema=args_schema(CheckTaskArgs),
        output_model=TaskResult,
        annotations=types.ToolAnnotations(
            title="Check a video task", read_only_hint=True, destructive_hint=False, idempotent_hint=True,
            open_world_hint=True,
        ),
    )
