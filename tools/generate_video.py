"""generate_video: validate, budget, persist, submit once, wait with progress (never past the cap)."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from wan_video_mcp.server.catalog import ModelSpec, estimate_cost, input_schema, validate
from wan_video_mcp.server.catalog.measured import apply_measurements
from wan_video_mcp.server.store import TaskRecord
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.inputs import measured_request, read_local_inputs
from wan_video_mcp.tools.outcomes import ok_result
from wan_video_mcp.tools.outputs import TaskOutcome, TaskResult
from wan_video_mcp.tools.registration import CatalogTool, catalog_tool
from wan_video_mcp.tools.results import task_or_video

DESCRIPTION = (
    "Generate a Wan video: checked first (a refusal costs nothing), recorded, submitted once, awaited up to "
    "wait_seconds. Returns the video (a resource link) or a task_id for check_task; an identical recent request "
    "returns its task. Inputs: URLs, local files in the allowed folders (absolute path, file://) or an earlier "
    "video's task id."
)

ATTACHED_TEXT = {
    "duplicate": "An identical request was made recently, so this call attached to that task instead of paying "
    "again (pass force_new=true to really generate another). ",
    "idempotency_key": "This idempotency_key was used before, so this call returns that task. ",
}


async def generate(arguments: dict[str, Any], call: Call) -> types.CallToolResult:
    """generate_video's whole path for raw arguments (extend_video and the storyboard build theirs and come here)."""
    state = call.state
    validated = validate(arguments, state.models).model_copy(update={"principal": call.principal})
    unmeasured: list[str] = []
    # A call that attaches to an earlier task (its idempotency key, a recent twin) pays nothing and is not
    # read or measured again: an input URL that has since expired, or a local file since moved, must not refuse
    # the way back to a paid video. Local inputs are read first when there are any: their bytes are the
    # request's identity.
    earlier = None if validated.dry_run else await state.engine.repeated(validated)
    if earlier is None:
        request, local = await read_local_inputs(call, validated.request)
        validated = validated.model_copy(update={"request": request})
        if request.sources and not validated.dry_run:
            earlier = await state.engine.repeated(validated)
        if earlier is None:
            request, unmeasured = await measured_request(call, validated.request, local)
        elif local:  # the same bytes as a recent task's: checked again here, with no request to anyone
            request = apply_measurements(request, local)
        validated = validated.model_copy(update={"request": request})
    if validated.dry_run:
        cost = estimate_cost(validated.request)
        most = f" (at most ${cost.amount_max_usd:.2f})" if cost.amount_max_usd is not None else ""
        unchecked = f" Not measured, so not checked: {'; '.join(unmeasured)}." if unmeasured else ""
        if validated.request.sources:
            files = ", ".join(src.given for src in validated.request.sources)
            unchecked += f" Local input(s) read and checked: {files}; they are sent to the provider on submit."
        priced = TaskResult(
            task_id=None,
            status="dry_run",
            model=validated.request.model,
            summary=validated.request.summary(),
            message=f"Valid request: {validated.request.summary()}, estimated ${cost.amount_usd:.2f}{most}: "
            f"{cost.breakdown}.{unchecked} Nothing was submitted.",
            next_step="Call generate_video again without dry_run to submit it (this is billed).",
            provider=state.provider_name,
            simulated=state.simulated,
            cost_estimate=cost,
            request=validated.request.model_dump(mode="json", exclude_none=True),
        )
        return ok_result(priced)
    if validated.request.sources and earlier is None:
        await call.progress(0, f"sending {len(validated.request.sources)} local input file(s) to the provider")
    # The submit's answer is worth the whole budget (a refusal is reported now, not on the next check);
    # wait_seconds is about the render.
    started = call.remaining()
    outcome = await state.engine.submit(validated, timeout=started, heartbeat=call.beat("submitting to the provider"))
    record = outcome.record
    await _log_submit(call, outcome.attached, record)
    wait, capped = await call.wait_budget(validated.wait_seconds)
    wait = min(wait, max(0.0, validated.wait_seconds - (started - call.remaining())))
    if wait > 0 and not record.terminal and record.state != "submitting":
        record = await state.engine.wait(record.id, wait, call.progress)
    result = await task_or_video(call, record, attached=outcome.attached, wait_capped_to=capped)
    prefix = ATTACHED_TEXT.get(outcome.attached)
    if prefix:
        first = result.content[0]
        assert isinstance(first, types.TextContent)
        first.text = prefix + first.text
    return result


async def _log_submit(call: Call, attached: str, record: TaskRecord) -> None:
    if attached != "new":
        await call.log("info", f"attached to the existing task {record.id} ({attached}); nothing new was paid")
    elif record.remote_id:
        await call.log("info", f"task {record.id} submitted once to {record.provider} as {record.remote_id}")
    elif record.state == "submitting":
        await call.log(
            "warning",
            f"task {record.id}: the provider has not answered the submit yet; it is "
            "not sent again, and its outcome is recorded when it comes",
        )


def build(models: tuple[ModelSpec, ...], max_wait: int) -> CatalogTool:
    """generate_video for the offered models, its wait maximum following this server's cap."""

    return catalog_tool(
        generate,
        name="generate_video",
        description=DESCRIPTION,
        input_schema=input_schema(models, max_wait=max_wait),
        output_model=TaskOutcome,
        annotations=types.ToolAnnotations(
            title="Generate a Wan video",
            destructive_hint=False,
        ),
    )
