"""generate_video: validate, budget, persist, submit once, wait with progress."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.mcpserver import Context

from server.catalog import ModelSpec, estimate_cost, input_schema, validate
from tools.common import AdapterTool, TaskResult, make_tool, ok_result, state_of
from tools.results import task_or_video

DESCRIPTION = (
    "Generate a video with an Alibaba Wan model. The request is checked first (a rejected one costs nothing), "
    "recorded, submitted exactly once and awaited up to wait_seconds with progress. Returns the video as a "
    "resource link, or a task_id for check_task; the server keeps polling and saves the video itself. An "
    "identical recent request returns the same task instead of paying twice."
)

ATTACHED_TEXT = {
    "duplicate": "An identical request was made recently, so this call attached to that task instead of paying "
    "again (pass force_new=true to really generate another). ",
    "idempotency_key": "This idempotency_key was used before, so this call returns that task. ",
}


def build(models: tuple[ModelSpec, ...]) -> AdapterTool:
    async def handler(arguments: dict[str, Any], ctx: Context) -> types.CallToolResult:
        state = state_of(ctx)
        call = validate(arguments, state.models)
        if call.dry_run:
            cost = estimate_cost(call.request)
            result = TaskResult(
                task_id=None,
                status="dry_run",
                model=call.request.model,
                summary=call.request.summary(),
                message=f"Valid request: {call.request.summary()}, estimated ${cost.amount_usd:.2f} "
                f"({cost.per_second_usd}/s). Nothing was submitted.",
                next_step="Call generate_video again without dry_run to submit it (this is billed).",
                provider=state.provider_name,
                simulated=state.simulated,
                cost_estimate=cost,
                request=call.request.model_dump(mode="json", exclude_none=True),
            )
            return ok_result(result)
        outcome = await state.engine.submit(call)
        record = outcome.record
        if call.wait_seconds > 0 and not record.terminal:

            async def report(progress: float, total: float, message: str) -> None:
                await ctx.report_progress(progress, total, message)

            record = await state.engine.wait(record.id, call.wait_seconds, report)
        result = await task_or_video(state, record, attached=outcome.attached)
        prefix = ATTACHED_TEXT.get(outcome.attached)
        if prefix:
            first = result.content[0]
            assert isinstance(first, types.TextContent)
            first.text = prefix + first.text
        return result

    return make_tool(
        name="generate_video",
        title="Generate a Wan video",
        description=DESCRIPTION,
        handler=handler,
        input_schema=input_schema(models),
        output_model=TaskResult,
        annotations=types.ToolAnnotations(
            title="Generate a Wan video", read_only_hint=False, destructive_hint=False, idempotent_hint=False,
            open_world_hint=True,
        ),
    )
