"""generate_storyboard: several shots, validated and priced as one before anything is paid, made as durable tasks and
joined into one MP4; and how a storyboard is shown (``storyboard_result``, also check_task's for an ``sb_`` id)."""

# No ``from __future__ import annotations``: the wait's maximum is this server's cap, known only in ``build``.

from typing import Annotated, Any, Literal

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from pydantic import Field

from wan_video_mcp.server.catalog import WAIT_SECONDS_MAX
from wan_video_mcp.server.errors import InvalidRequest, TaskNotFound
from wan_video_mcp.server.jobs.shots import RetryPlan
from wan_video_mcp.server.store import StoryboardRecord, TaskRecord
from wan_video_mcp.server.timefmt import iso
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.outcomes import ok_result
from wan_video_mcp.tools.outputs import ShotState, TaskOutcome, TaskResult, VideoFile
from wan_video_mcp.tools.registration import plain_tool
from wan_video_mcp.tools.state import AppState

STORYBOARD_URI = "wan-video://storyboards/{storyboard_id}"
STORYBOARD_VIDEO_URI = "wan-video://storyboards/{storyboard_id}.mp4"
SHOTS_MAX = 10
SHARED = ("model", "resolution", "ratio", "size", "audio", "negative_prompt", "seed", "prompt_extend", "watermark")
WAIT_STEP_SECONDS = 1.0


def build(max_wait: int) -> Tool:
    """generate_storyboard, its wait maximum following this server's cap."""
    WaitSeconds = Annotated[int, Field(ge=0, le=WAIT_SECONDS_MAX, json_schema_extra={"maximum": max_wait}, strict=True)]

    async def generate_storyboard(
        ctx: Context,
        shots: Annotated[
            list[dict[str, Any]] | None,
            Field(
                max_length=SHOTS_MAX,
                description="Per shot: generate_video's fields ({prompt, duration?, media?, ...}).",
            ),
        ] = None,
        continuity: Literal["none", "last_frame", "clip"] = "none",
        model: str | None = None,
        resolution: str | None = None,
        ratio: str | None = None,
        size: str | None = None,
        audio: bool | None = None,
        wait_seconds: WaitSeconds = 45,
        dry_run: bool = False,
        idempotency_key: Annotated[str | None, Field(max_length=128)] = None,
        force_new: bool = False,
        storyboard_id: Annotated[str | None, Field(max_length=64)] = None,
        retry_shot: Annotated[int | None, Field(ge=0)] = None,
    ) -> Annotated[types.CallToolResult, TaskOutcome]:
        call = Call.begin(ctx)
        if (storyboard_id is None) != (retry_shot is None):
            missing = "storyboard_id" if storyboard_id is None else "retry_shot"
            raise InvalidRequest(f"{missing} is needed too: storyboard_id and retry_shot retry one shot", field=missing)
        if storyboard_id is not None and retry_shot is not None:
            boards = call.state.engine.storyboards
            if dry_run:
                return ok_result(
                    retry_preview(
                        call.state,
                        await boards.retry_plan(storyboard_id, retry_shot, save=False, principal=call.principal),
                    )
                )
            plan = await boards.retry(storyboard_id, retry_shot, call.principal)
            return await wait_and_show(call, storyboard_id, wait_seconds, said=f"The retry {plan.describe()}. ")
        if not shots:
            raise InvalidRequest(f"shots is required: 1-{SHOTS_MAX} shots, each {{prompt, ...}}", field="shots")
        given = {"model": model, "resolution": resolution, "ratio": ratio, "size": size, "audio": audio}
        arguments = {
            "continuity": continuity,
            "shared": {k: v for k, v in given.items() if v is not None},
            "shots": shots,
        }
        boards = call.state.engine.storyboards
        if dry_run:
            request, calls = await boards.check(arguments, call.principal)
            from wan_video_mcp.server.catalog import estimate_cost

            costs = [estimate_cost(c.request) for c in calls]
            total = sum(c.amount_max_usd or c.amount_usd for c in costs)
            lines = "; ".join(
                f"shot {i}: {c.request.summary()} ${k.amount_usd:.2f}"
                for i, (c, k) in enumerate(zip(calls, costs, strict=True))
            )
            result = TaskResult(
                task_id=None,
                status="dry_run",
                model=calls[0].request.model,
                message=f"Valid storyboard of {len(calls)} shots ({continuity}), estimated at most ${total:.2f}: "
                f"{lines}. Nothing was submitted.",
                next_step="Call generate_storyboard again without dry_run to make it (each shot is billed).",
                provider=call.state.provider_name,
                simulated=call.state.simulated,
            )
            return ok_result(result)
        record, total, how = await boards.create(
            arguments, idempotency_key, force_new=force_new, principal=call.principal
        )
        if how == "new":
            await call.log("info", f"storyboard {record.id}: {len(shots)} shots, estimated at most ${total:.2f}")
        return await wait_and_show(call, record.id, wait_seconds, attached=None if how == "new" else how)

    return plain_tool(
        generate_storyboard,
        description="Shots checked and priced together, each a task paid once, joined into one MP4. Go on after a "
        "failure: storyboard_id + retry_shot.",
        annotations=types.ToolAnnotations(title="Generate a storyboard", destructive_hint=False),
    )


def retry_preview(state: AppState, plan: RetryPlan) -> TaskResult:
    """What a retry would do, as a dry run's result: nothing is made, saved or paid."""
    sid = plan.record.id
    return TaskResult(
        task_id=sid,
        status="dry_run",
        model=str(plan.record.request["shared"].get("model", "")),
        message=f"A retry of storyboard {sid} {plan.describe()}. Nothing was submitted.",
        next_step=f"Call generate_storyboard(storyboard_id='{sid}', retry_shot={(plan.shots or (0,))[0]}) "
        "without dry_run to do it.",
        provider=state.provider_name,
        simulated=state.simulated,
    )


async def wait_and_show(
    call: Call, storyboard_id: str, wait_seconds: int, *, attached: str | None = None, said: str = ""
) -> types.CallToolResult:
    """Wait up to ``wait_seconds`` (within the call's budget) for the storyboard to end, then show it."""
    boards = call.state.engine.storyboards
    wait, _ = await call.wait_budget(wait_seconds)
    deadline = anyio.current_time() + wait
    while True:
        record = await boards.get(storyboard_id, call.principal)
        if record is None:
            raise TaskNotFound(f"no storyboard '{storyboard_id}' is known to this server")
        if record.open:
            boards.start(record.id)  # its runner, here unless a live process runs it already
        tasks = await boards.shot_tasks(record)
        if not record.open or anyio.current_time() >= deadline:
            break
        done = sum(1 for t in tasks if t is not None and t.state == "succeeded")
        await call.progress(100 * done / max(1, len(tasks)), f"storyboard {record.id}: {done}/{len(tasks)} shots done")
        await anyio.sleep(min(WAIT_STEP_SECONDS, max(0.0, deadline - anyio.current_time())))
    outcome = storyboard_outcome(call.state, record, tasks)
    if attached:  # the same storyboard, asked for again
        said = f"(The same storyboard was asked for earlier: this is {record.id}, nothing more was paid.) " + said
    if isinstance(outcome.structured_content, dict) and said:
        outcome.structured_content["message"] = said + outcome.structured_content["message"]
        if attached:
            outcome.structured_content["attached"] = attached
        first = outcome.content[0] if outcome.content else None
        if isinstance(first, types.TextContent):
            first.text = said + first.text
    return outcome


def storyboard_outcome(
    state: AppState, record: StoryboardRecord, tasks: list[TaskRecord | None]
) -> types.CallToolResult:
    result = storyboard_result(state, record, tasks)
    extra: list[types.ContentBlock] = []
    if result.video is not None:
        extra.append(
            types.ResourceLink(
                type="resource_link",
                uri=result.video.uri,
                name=f"{record.id}.mp4",
                mime_type="video/mp4",
                size=result.video.size_bytes,
            )
        )
    return ok_result(result, extra=extra)


def storyboard_result(state: AppState, record: StoryboardRecord, tasks: list[TaskRecord | None]) -> TaskResult:
    """A storyboard as the tools show it: its state, each shot's, and the joined video once there."""
    engine = state.engine
    shots = []
    for index, task in enumerate(tasks):
        percent = engine.progress(task)[0] if task is not None and task.open else None
        shots.append(
            ShotState(
                index=index,
                task_id=task.id if task else None,
                status=task.state if task else "waiting",
                progress_percent=round(percent, 1) if percent is not None else None,
            )
        )
    done = sum(1 for s in shots if s.status == "succeeded")
    sid = record.id
    video = None
    joined = engine.storyboards.joined_file(record)
    if joined is not None:
        path = joined
        video = VideoFile(
            uri=STORYBOARD_VIDEO_URI.format(storyboard_id=sid),
            size_bytes=record.file_size or 0,
            sha256=record.sha256 or "",
            path=str(path),
            file_uri=path.resolve().as_uri(),
        )
        seconds = f"{record.seconds:.1f} s, " if record.seconds else ""
        message = f"Storyboard {sid} ready: {len(shots)} shots joined ({seconds}{record.join_method}), saved to {path}."
        next_step = f"Open or read the resource {video.uri}."
    elif record.state in ("failed", "succeeded"):  # (succeeded without its file: it was deleted)
        message = (
            f"Storyboard {sid} stopped: {record.error}"
            if record.state == "failed"
            else f"Storyboard {sid} was joined, but its video is missing from disk."
        )
        plan = engine.storyboards.outlook(record, tasks)
        next_step = (
            f"Call generate_storyboard(storyboard_id='{sid}', retry_shot={(plan.shots or (0,))[0]}) to go on: it "
            f"{plan.describe()} (dry_run=true first shows this again; the other shots are kept, not paid again)."
        )
    else:
        message = f"Storyboard {sid}: {done} of {len(shots)} shots done ({record.state})."
        next_step = f"Call check_task(task_id='{sid}', wait_seconds={state.max_wait}); the server goes on meanwhile."
    model = next((t.model for t in tasks if t is not None), record.request["shared"].get("model", ""))
    return TaskResult(
        task_id=sid,
        status=record.state,
        model=str(model),
        message=message,
        next_step=next_step,
        progress_percent=round(100 * done / max(1, len(shots)), 1),
        provider=state.provider_name,
        simulated=state.simulated,
        video=video,
        shots=shots,
        created_at=iso(record.created_at),
    )
