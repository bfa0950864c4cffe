"""new-api (seed 001): ``POST /v1/video/generations``, the ``{code, message, data: TaskDto}`` poll, ``/v1/videos``.

``GET /v1/video/generations/{id}`` wraps the raw DashScope poll body in ``data.data`` and, as
legacy builds do, puts the result URL in ``fail_reason`` too; ``GET /v1/videos/{id}`` is the
OpenAI-style view of the same task and ``GET /v1/videos/{id}/content`` streams its video (after
the result URL expired: 502, as when the upstream fetch fails). new-api reports SUBMITTED for the
first half of the queue time (before the gateway's first upstream poll), then QUEUED.
"""

from __future__ import annotations

import uuid
from typing import Any

from wan_video_mcp.server.catalog import Family
from wan_video_mcp.server.simulator.dashscope import poll_body
from wan_video_mcp.server.simulator.faults import Fault
from wan_video_mcp.server.simulator.gateway import (
    TASKDTO_PROGRESS,
    Dialect,
    fail_reason,
    gateway_model,
    taskdto_error,
    taskdto_status,
    taskdto_times,
)
from wan_video_mcp.server.simulator.http import Request, Response, json_response
from wan_video_mcp.server.simulator.results import video_response
from wan_video_mcp.server.simulator.routing import Route
from wan_video_mcp.server.simulator.state import SimState
from wan_video_mcp.server.simulator.tasks import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED, SimTask
from wan_video_mcp.server.simulator.validation import ApiError

TASKDTO_ACTION = {
    Family.T2V: "textGenerate",
    Family.I2V: "generate",
    Family.KF2V: "firstTailGenerate",
    Family.R2V: "referenceGenerate",
    Family.R2V_MIXED: "referenceGenerate",
}  # other families (videoedit, wan3.0): "generate"


def _i2v_media(model: str, inputs: dict[str, Any]) -> None:
    """The JS plugin's wan2.7-i2v: without ``media``, one is made of the first frame and audio fields (moved)."""
    if not model.startswith("wan2.7-i2v") or inputs.get("media"):
        return
    media: list[dict[str, Any]] = []
    first_frame, image = inputs.pop("first_frame_url", None), inputs.pop("img_url", None)
    first = first_frame or image
    if first:
        media.append({"type": "first_frame", "url": first})
    audio = inputs.pop("audio_url", None)
    if audio:
        media.append({"type": "driving_audio", "url": audio})
    if media:
        inputs["media"] = media


def newapi_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) new-api's Ali adaptor makes of a ``POST /v1/video/generations`` body.

    ``prompt`` -> input.prompt, ``input_reference`` -> input.img_url, ``duration`` (or the
    string ``seconds``) -> parameters.duration (default 5), ``prompt_extend`` defaults to true
    and ``watermark`` to false, a top-level ``size`` with ``*`` is a size and anything else a
    resolution (newer builds). Then ``metadata`` is laid over the whole struct, so
    ``metadata.input`` / ``metadata.parameters`` pass straight through (as newer builds keep
    every key): the JS plugin's ``Object.assign`` of ``metadata.input`` over ``input`` and of
    ``metadata.parameters`` over ``parameters`` (reference/media-protocol.md section 9), so ``media`` and the
    media protocol's parameters reach the same validation. For wan2.7-i2v without ``media`` the plugin
    makes one of ``first_frame_url``/``img_url`` (first_frame) and ``audio_url`` (driving_audio). The
    adaptor always posts to video-generation, never to image2video.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    model = gateway_model(body.get("model"))
    inputs: dict[str, Any] = {}
    if body.get("prompt") is not None:
        inputs["prompt"] = body["prompt"]
    if body.get("input_reference"):
        inputs["img_url"] = body["input_reference"]
    duration = body.get("duration")
    if duration is None and isinstance(body.get("seconds"), str) and body["seconds"].strip().isdigit():
        duration = int(body["seconds"])
    parameters: dict[str, Any] = {
        "duration": 5 if duration is None else duration,
        "prompt_extend": True,
        "watermark": False,
    }
    size = body.get("size")
    if isinstance(size, str) and size:
        if "*" in size:
            parameters["size"] = size
        else:
            parameters["resolution"] = size.upper() if size.upper().endswith("P") else size.upper() + "P"
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ApiError(400, "invalid_request", "metadata must be a JSON object")
        if metadata.get("model") not in (None, model):
            raise ApiError(400, "invalid_request", "the model in metadata must match the request model")
        for key, target in (("input", inputs), ("parameters", parameters)):
            part = metadata.get(key)
            if part is None:
                continue
            if not isinstance(part, dict):
                raise ApiError(400, "invalid_request", f"metadata.{key} must be a JSON object")
            target.update(part)
    _i2v_media(model, inputs)
    return "video-generation", {"model": model, "input": inputs, "parameters": parameters}


def newapi_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v1/video/generations/{id}``: the ``{code, message, data: TaskDto}`` envelope, with the raw
    DashScope poll body in ``data.data`` and (legacy) the result URL in ``fail_reason`` on success."""
    state, status = task.state(now), taskdto_status(task, now)
    dto: dict[str, Any] = {
        "task_id": task.gateway_id,
        "action": TASKDTO_ACTION.get(task.plan.spec.family, "generate"),
        "status": status,
        "fail_reason": fail_reason(task, state),
    }
    if state == SUCCEEDED and video_url:
        dto["fail_reason"] = dto["result_url"] = video_url
    dto |= taskdto_times(task, state)
    dto["progress"] = TASKDTO_PROGRESS[status]
    dto["data"] = poll_body(task, now, video_url)
    return {"code": "success", "message": "", "data": dto}


def newapi_video_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v1/videos/{id}`` (new-api's OpenAI-style view of the same task)."""
    state = task.state(now)
    status = {PENDING: "queued", RUNNING: "in_progress", SUCCEEDED: "completed"}.get(state, "failed")
    body: dict[str, Any] = {
        "id": task.gateway_id,
        "object": "video",
        "model": task.plan.model_name,
        "status": status,
        "progress": int(TASKDTO_PROGRESS[taskdto_status(task, now)][:-1]),
        "created_at": int(task.submitted_at),
    }
    if state in (SUCCEEDED, FAILED):
        body["completed_at"] = int(task.ends_at)
    if state == SUCCEEDED:
        body["metadata"] = {"url": video_url}
    elif state in (FAILED, CANCELED):
        code, message = task.failure or ("Canceled", "task canceled upstream")
        body["error"] = {"code": code, "message": message}
    return body


def _accepted(task: SimTask) -> dict[str, Any]:
    return {
        "id": task.gateway_id,
        "object": "video",
        "model": task.plan.model_name,
        "status": "queued",
        "progress": 0,
        "created_at": int(task.submitted_at),
    }


NEWAPI = Dialect(
    name="newapi",
    upstream=newapi_upstream,
    accepted=_accepted,
    unknown_task=lambda task_id: taskdto_error(400, "task_not_exist", "task_not_exist"),
    new_id=lambda: "task_" + uuid.uuid4().hex,  # new-api hands out its own task_... ids
)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


async def _stream_video(state: SimState, req: Request, key: str, fault: Fault | None) -> Response:
    """new-api's ``/v1/videos/{id}/content``: the gateway streams the upstream video (Range forwarded)."""
    task = NEWAPI.owned_task(state, req, key)
    if task is None:
        return json_response(404, _error("Task not found", "invalid_request_error"))
    now = state.now()
    status = taskdto_status(task, now)
    if status != "SUCCESS":
        message = f"Task is not completed yet, current status: {status}"
        return json_response(400, _error(message, "invalid_request_error"))
    state.result_url(task, now)  # starts the render if no poll has yet
    if (fault is not None and fault.kind == "expired") or now > int(task.ends_at + state.config.url_ttl_seconds):
        message = "Failed to fetch the video from upstream: HTTP 403 (the upstream URL has expired)"
        return json_response(502, _error(message, "server_error"))
    return await video_response(state, req, task, fault)


_stream_video_with_key = NEWAPI.handler(_stream_video)


async def _content(state: SimState, req: Request, fault: Fault | None) -> Response:
    if req.method == "GET":  # a download, counted before the key is checked
        state.stats.downloads += 1
    return await _stream_video_with_key(state, req, fault)


ROUTES = NEWAPI.routes(
    [
        Route(("POST",), "/v1/video/generations", "submit", NEWAPI.submit()),
        Route(("GET",), "/v1/video/generations/{task_id}", "poll", NEWAPI.poll(newapi_task_body)),
        Route(("GET", "HEAD"), "/v1/videos/{task_id}/content", "download", _content),
        Route(("GET",), "/v1/videos/{task_id}", "poll", NEWAPI.poll(newapi_video_body)),
    ]
)
