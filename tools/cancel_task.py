"""cancel_task: cancel a task the provider has not started yet."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.mcpserver import Context

from tools.check_task import TaskId
from tools.common import AdapterTool, TaskResult, ToolArgs, args_schema, make_tool, ok_result, parse_args, state_of
from tools.common import task_result as view


class CancelTaskArgs(ToolArgs):
    task_id: TaskId


async def handler(arguments: dict[str, Any], ctx: Context) -> types.CallToolResult:
    args: CancelTaskArgs = parse_args(CancelTaskArgs, arguments)
    state = state_of(ctx)
    record = await state.engine.cancel(args.task_id)
    return ok_result(view(state, record))


def build() -> AdapterTool:
    return make_tool(
        name="cancel_task",
        title="Cancel a video task",
        description="Cancel a video task that is still queued (providers cannot stop a task that is already "
        "rendering). Canceled tasks are not billed.",
        handler=handler,
        input_schema=args_schema(CancelTaskArgs),
        output_model=TaskResult,
        annotations=types.ToolAnnotations(
            title="Cancel a video task", read_only_hint=False, destructive_hint=True, idempotent_hint=True,
            open_world_hint=True,
        ),
    )
