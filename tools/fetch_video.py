"""fetch_video: make sure the MP4 is on disk and return its resource link."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from wan_video_mcp.tools.check_task import TaskId
from wan_video_mcp.tools.common import AdapterTool, Call, ToolArgs, args_schema, make_tool, parse_args
from wan_video_mcp.tools.outputs import TaskResult
from wan_video_mcp.tools.results import video_result


class FetchVideoArgs(ToolArgs):
    task_id: TaskId


async def handler(arguments: dict[str, Any], call: Call) -> types.CallToolResult:
    args: FetchVideoArgs = parse_args(FetchVideoArgs, arguments)
    record = await call.state.engine.get_or_adopt(args.task_id, call.remaining(), call.beat("asking the provider"))
    return await video_result(call, record)


def build() -> AdapterTool:
    return make_tool(
        name="fetch_video",
        title="Fetch a finished video",
        description="Ensure a finished task's MP4 is saved locally (verified) and return its resource link "
        "wan-video://videos/{task_id}.mp4, local path, size, sha256, media facts and a poster frame.",
        handler=handler,
        input_schema=args_schema(FetchVideoArgs),
        output_model=TaskResult,
        annotations=types.ToolAnnotations(
            title="Fetch a finished video",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
