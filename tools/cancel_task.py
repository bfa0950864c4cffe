"""cancel_task: cancel a task the provider has not started yet."""

from __future__ import annotations

from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool

from wan_video_mcp.server.errors import InvalidRequest
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.check_task import STORYBOARD_PREFIX, TaskId
from wan_video_mcp.tools.outcomes import ok_result
from wan_video_mcp.tools.outputs import TaskOutcome
from wan_video_mcp.tools.registration import plain_tool
from wan_video_mcp.tools.view import task_result


async def cancel_task(task_id: TaskId, ctx: Context) -> Annotated[types.CallToolResult, TaskOutcome]:
    call = Call.begin(ctx)
    if task_id.startswith(STORYBOARD_PREFIX):
        raise InvalidRequest(
            f"{task_id} is a storyboard: cancel its shots that are still queued by their task ids (check_task "
            "shows them); the shots already made are kept",
            field="task_id",
        )
    await call.state.engine.owned(task_id, call.principal)  # another's task is not found, and not canceled
    record = await call.state.engine.cancel(task_id, call.remaining(), call.beat("asking the provider to cancel"))
    return ok_result(task_result(call.state, record))


def build() -> Tool:
    """The cancel_task tool."""
    return plain_tool(
        cancel_task,
        description="Cancel a task still queued (one already rendering cannot be stopped); canceled tasks are "
        "not billed.",
        annotations=types.ToolAnnotations(
            title="Cancel a video task",
            idempotent_hint=True,
        ),
    )
