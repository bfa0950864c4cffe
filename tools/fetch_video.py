"""fetch_video: make sure the MP4 is on disk and return its resource link."""

from __future__ import annotations

from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool

from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.check_task import STORYBOARD_PREFIX, TaskId
from wan_video_mcp.tools.outputs import TaskOutcome
from wan_video_mcp.tools.registration import plain_tool
from wan_video_mcp.tools.results import video_result


async def fetch_video(task_id: TaskId, ctx: Context) -> Annotated[types.CallToolResult, TaskOutcome]:
    call = Call.begin(ctx)
    if task_id.startswith(STORYBOARD_PREFIX):  # a storyboard: its joined video once there
        from wan_video_mcp.tools.storyboard import wait_and_show

        return await wait_and_show(call, task_id, 0)
    record = await call.state.engine.get_or_adopt(
        task_id, call.remaining(), call.beat("asking the provider"), principal=call.principal
    )
    return await video_result(call, record)


def build() -> Tool:
    """The fetch_video tool."""
    return plain_tool(
        fetch_video,
        description="Save a finished task's MP4 (verified); returns wan-video://videos/{task_id}.mp4, path, size, "
        "sha256, media facts and a poster.",
        annotations=types.ToolAnnotations(
            title="Fetch a finished video",
            destructive_hint=False,
            idempotent_hint=True,
        ),
    )
