"""check_task: a task's state, progress and next step; optionally wait for it (never past the cap)."""

# No ``from __future__ import annotations``: the wait's maximum is this server's cap, so the tool's signature is
# built in ``build`` and its annotations must be evaluated there, where the cap is known.

from typing import Annotated

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from pydantic import Field

from wan_video_mcp.server.catalog import WAIT_SECONDS_MAX
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.outputs import TaskOutcome
from wan_video_mcp.tools.registration import plain_tool
from wan_video_mcp.tools.results import task_or_video

STORYBOARD_PREFIX = "sb_"
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # (one character at least: no min_length needed)

TaskId = Annotated[
    str,
    Field(
        max_length=128,
        pattern=TASK_ID_PATTERN,
        description="A task or storyboard id, or a provider's task id.",
        strict=True,
    ),
]


def build(max_wait: int) -> Tool:
    """check_task, its wait maximum following this server's cap (larger waits are shortened)."""
    # Published: at most the cap. Accepted: up to WAIT_SECONDS_MAX, shortened to the cap (and the result says so),
    # for clients that do not read the schema's maximum.
    WaitSeconds = Annotated[
        int,
        Field(
            ge=0,
            le=WAIT_SECONDS_MAX,
            json_schema_extra={"maximum": max_wait},
            strict=True,
            description=f"Wait up to this long (cap {max_wait}) for the task to finish, with progress.",
        ),
    ]

    async def check_task(
        task_id: TaskId, ctx: Context, wait_seconds: WaitSeconds = 0
    ) -> Annotated[types.CallToolResult, TaskOutcome]:
        call = Call.begin(ctx)
        if task_id.startswith(STORYBOARD_PREFIX):  # a storyboard: its shots' progress, then its joined video
            from wan_video_mcp.tools.storyboard import wait_and_show

            return await wait_and_show(call, task_id, wait_seconds)
        engine = call.state.engine
        record = await engine.get_or_adopt(
            task_id, call.remaining(), call.beat("asking the provider"), principal=call.principal
        )
        if record.open:
            record = await engine.refresh(record.id, call.remaining(), call.beat("asking the provider"))
        wait, capped = await call.wait_budget(wait_seconds)
        if wait > 0 and not record.terminal:
            record = await engine.wait(record.id, wait, call.progress)
        return await task_or_video(call, record, wait_capped_to=capped)

    return plain_tool(
        check_task,
        description="A task's or storyboard's state, progress and next step; when finished, its video. Adopts "
        "provider task ids.",
        annotations=types.ToolAnnotations(
            title="Check a video task",
            read_only_hint=True,
        ),
    )
