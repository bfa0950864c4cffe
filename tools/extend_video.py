"""extend_video: continue a finished video, as a continuation where the model has one, else from its last frame.

- ``clip``: wan2.7-i2v takes the earlier video as ``first_clip`` and renders on from it; its output holds the clip,
  so the request's duration is the clip's length plus the extension (at most 15 s; the clip 2-10 s).
- ``last_frame``: the earlier video's last frame, written next to it in the server's videos folder (always an
  allowed input), becomes the first frame of an image-to-video request on the model of the same generation.

Either way the request then takes generate_video's own path (``generate``): validated, its local inputs read and
uploaded once, priced, deduplicated, persisted and submitted once.
"""

# No ``from __future__ import annotations``: the wait's maximum is this server's cap, known only in ``build``.

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from pydantic import Field

from wan_video_mcp.server.catalog import MODEL_INDEX, WAIT_SECONDS_MAX, Family, ModelSpec, Protocol
from wan_video_mcp.server.catalog.measured import SECONDS_TOLERANCE
from wan_video_mcp.server.errors import InvalidRequest
from wan_video_mcp.server.jobs.shot_media import last_frame_of
from wan_video_mcp.server.store import TaskRecord
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.check_task import TASK_ID_PATTERN
from wan_video_mcp.tools.generate_video import generate
from wan_video_mcp.tools.outputs import TaskOutcome
from wan_video_mcp.tools.registration import plain_tool

CLIP_MODEL = "wan2.7-i2v"
CLIP_SECONDS = (2.0, 10.0)  # what first_clip takes (reference/media-protocol.md section 5.2)
SECONDS_SLACK = 0.25  # a measured length over a whole second by less than this counts as that second
# The image-to-video model each generation continues on (the first one offered here is used).
I2V_BY_GENERATION = {
    "wan3.0": ("wan3.0-video", "wan2.7-i2v"),
    "wan2.7": ("wan2.7-i2v",),
    "wan2.6": ("wan2.6-i2v", "wan2.6-i2v-flash"),
    "wan2.5": ("wan2.5-i2v-preview",),
    "wan2.2": ("wan2.2-i2v-plus", "wan2.2-i2v-flash"),
    "wan2.1": ("wan2.1-i2v-plus", "wan2.1-i2v-turbo"),
}
Method = Literal["auto", "clip", "last_frame"]


def build(max_wait: int) -> Tool:
    """extend_video, its wait maximum following this server's cap."""
    WaitSeconds = Annotated[int, Field(ge=0, le=WAIT_SECONDS_MAX, json_schema_extra={"maximum": max_wait}, strict=True)]

    async def extend_video(
        task_id: Annotated[
            str,
            Field(max_length=128, pattern=TASK_ID_PATTERN, strict=True),
        ],
        prompt: Annotated[str, Field(min_length=1, max_length=5000)],
        ctx: Context,
        duration: Annotated[int, Field(ge=2, le=15, strict=True, description="Seconds added.")] = 5,
        method: Method = "auto",
        model: str | None = None,
        wait_seconds: WaitSeconds = 45,
        idempotency_key: Annotated[str | None, Field(max_length=128)] = None,
        dry_run: bool = False,
    ) -> Annotated[types.CallToolResult, TaskOutcome]:
        call = Call.begin(ctx)
        source = await _finished_video(call, task_id)
        path = call.state.engine.local_file(source)
        assert path is not None  # _finished_video saved it
        seconds = await _seconds_of(path)
        chosen, target = _plan(call, source, method, model, seconds, duration)
        arguments: dict[str, Any] = {"model": target.id, "prompt": prompt, "wait_seconds": wait_seconds}
        tier = _tier_of(source)
        if tier and not target.uses_size and tier in target.tiers:
            arguments["resolution"] = tier  # the continuation keeps the source's quality (and price tier)
        arguments |= {"dry_run": dry_run} | ({"idempotency_key": idempotency_key} if idempotency_key else {})
        if chosen == "clip":
            total = _total(seconds, duration)
            clip = {"type": "first_clip", "url": f"wan-video://videos/{source.id}.mp4"}
            arguments |= {"duration": total, "media": [clip]}
        else:
            frame = await _last_frame(source.id, path)
            if duration not in target.durations:
                allowed = ", ".join(str(d) for d in target.plain_durations)
                raise InvalidRequest(
                    f"{target.id} makes {allowed} s from a first frame, not {duration}", field="duration"
                )
            arguments["duration"] = duration
            if target.protocol is Protocol.MEDIA:
                arguments["media"] = [{"type": "first_frame", "url": str(frame)}]
            else:
                arguments["img_url"] = str(frame)
        result = await generate(arguments, call)
        if result.is_error:
            return result
        first = result.content[0] if result.content else None
        if chosen == "clip":  # wan2.7-i2v bills a first_clip task by its whole output, the clip it holds included
            how = (
                f"as a continuation of its video (first_clip) on {target.id}, billed as one {arguments['duration']} s "
                f"video that holds the {seconds:.1f} s source"
            )
        else:
            how = f"from its last frame on {target.id}, billed as a new {duration} s video"
        intro = f"Extending task {source.id} {how}. "
        if isinstance(first, types.TextContent):
            first.text = intro + first.text
        structured = result.structured_content
        if isinstance(structured, dict):
            structured["method"] = chosen
            structured["message"] = intro + str(structured.get("message", ""))
            if structured.get("status") == "dry_run":
                structured["next_step"] = "Call extend_video again without dry_run to make it (this is billed)."
        return result

    return plain_tool(
        extend_video,
        description="Continue a finished video: wan2.7-i2v continues the video itself (method clip), other models "
        "start from its last frame.",
        annotations=types.ToolAnnotations(title="Extend a Wan video", destructive_hint=False),
    )


async def _finished_video(call: Call, task_id: str) -> TaskRecord:
    engine = call.state.engine
    record = await engine.owned(task_id, call.principal)
    if record.state != "succeeded":
        raise InvalidRequest(
            f"task {record.id} is {record.state}: only a finished video can be extended"
            + (" (wait for it with check_task)" if record.open else ""),
            field="task_id",
        )
    record = await engine.ensure_downloaded(record.id)
    if engine.local_file(record) is None:
        raise InvalidRequest(f"the video of task {record.id} is not on this machine; call fetch_video", field="task_id")
    return record


async def _seconds_of(path: Path) -> float:
    from wan_video_mcp.server.media.inspect import inspect_file

    facts = await anyio.to_thread.run_sync(inspect_file, path, str(path), path.stat().st_size)
    if facts.seconds is None:
        raise InvalidRequest(f"the length of {path.name} could not be read: {facts.problem}", field="task_id")
    return facts.seconds


def _plan(
    call: Call, source: TaskRecord, method: str, model: str | None, seconds: float, duration: int
) -> tuple[str, ModelSpec]:
    """The method and the model the continuation is made with."""
    offered = {spec.id: spec for spec in call.state.models}
    if model is not None:
        if model not in offered:
            raise InvalidRequest(f"model '{model}' is not offered here; see wan-video://models", field="model")
        target = offered[model]
    else:
        generation = source.model.split("-")[0]
        choices = [offered[m] for m in I2V_BY_GENERATION.get(generation, ()) if m in offered]
        if CLIP_MODEL in offered and (method == "clip" or (method == "auto" and generation == "wan2.7")):
            choices.insert(0, offered[CLIP_MODEL])
        if not choices:
            choices = [spec for spec in offered.values() if spec.family is Family.I2V]
        if not choices:
            raise InvalidRequest("no image-to-video model is offered here to continue a video with", field="model")
        target = choices[0]
    total = _total(seconds, duration)  # a continuation's duration is the whole output, the clip included
    longest = max(MODEL_INDEX[CLIP_MODEL].durations)
    # (held to the same tolerance as the request's own check of the clip, so auto never picks a clip it refuses)
    clip_fits = CLIP_SECONDS[0] - SECONDS_TOLERANCE <= seconds <= CLIP_SECONDS[1] + SECONDS_TOLERANCE
    fits = target.id == CLIP_MODEL and clip_fits and total <= longest
    if method == "clip" and not fits:
        if target.id != CLIP_MODEL:
            why, field = f"{target.id} takes no first_clip", "method"
        elif not clip_fits:
            why = f"the video is {seconds:.1f} s; a first_clip is {CLIP_SECONDS[0]:g}-{CLIP_SECONDS[1]:g} s"
            field = "method"
        else:
            why = f"the video's {seconds:.1f} s + {duration} s make {total} s; {CLIP_MODEL} makes at most {longest} s"
            field = "duration"
        raise InvalidRequest(f"method 'clip' cannot be used: {why}; use last_frame (or less duration)", field=field)
    if method == "last_frame" and MODEL_INDEX[target.id].family not in (Family.I2V, Family.OMNI):
        raise InvalidRequest(f"{target.id} takes no first frame; choose an image-to-video model", field="model")
    return ("clip" if method in ("clip", "auto") and fits else "last_frame"), target


def _total(seconds: float, duration: int) -> int:
    """The whole continuation in whole seconds: a clip measured a little long (5.04 s: its last frame's length,
    its audio's padding) does not cost a second more."""
    return math.ceil(seconds + duration - SECONDS_SLACK)


def _tier_of(source: TaskRecord) -> str | None:
    """The source video's resolution tier (720P, ...), from its request."""
    request = source.request
    spec = MODEL_INDEX.get(source.model)
    shape = request.get("resolution") or request.get("size")
    return spec.tier_of(str(shape)) if spec is not None and shape else None


async def _last_frame(task_id: str, video: Path) -> Path:
    """The video's last frame as a PNG next to it (in the always-allowed videos folder), written once."""
    try:
        return Path(await last_frame_of(task_id, video))
    except ImportError:
        raise InvalidRequest(
            "the last frame cannot be read without PyAV: install wan-video-mcp[video], or use method clip",
            field="method",
        ) from None
    except ValueError as exc:
        raise InvalidRequest(f"the last frame of task {task_id} could not be read: {exc}", field="task_id") from None
