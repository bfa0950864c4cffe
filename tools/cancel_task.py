"""cancel_task: cancel a task the provider has not started yet."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from wan_video_mcp.tools.check_task import TaskId
from wan_video_mcp.tools.common import AdapterTool, Call, ToolArgs, args_schema, make_tool, ok_result, parse_args
from wan_video_mcp.tools.outputs import TaskResult
from wan_video_mcp.tools.view import task_result


class CancelTaskArgs(ToolArgs):
    task_id: TaskId


async def handler(arguments: dict[str, Any], call: Call) -> types.CallToolResult:
    args: CancelTaskArgs = parse_args(CancelTaskArgs, arguments)
    record = await call.state.engine.cancel(args.task_id, call.remaining(), call.beat("asking the provider to cancel"))
    return ok_result(task_result(call.state, record))


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
            title="Cancel a video task",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
