"""YutoAI (seed 000): the flat ``POST /v2/videos/generations`` and ``GET /v2/videos/generations/{task_id}``.

The poll is a flat TaskDto with the result in ``data.output(s)``; YutoAI reports SUBMITTED for the
first half of the queue time, then QUEUED, as new-api does.
"""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog import Family
from wan_video_mcp.server.simulator.gateway import (
    TASKDTO_PROGRESS,
    Dialect,
    fail_reason,
    gateway_model,
    taskdto_error,
    taskdto_status,
    taskdto_times,
)
from wan_video_mcp.server.simulator.routing import Route
from wan_video_mcp.server.simulator.tasks import SUCCEEDED, SimTask
from wan_video_mcp.server.simulator.validation import WIRE_NAMES, ApiError, service_of


def _flag(value: Any) -> Any:
    """Seed 000 types ``audio`` as a string: "true"/"false" are read as booleans, anything else is left as is."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def yuto_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) of a flat YutoAI ``POST /v2/videos/generations`` body.

    ``images[0]`` is the image of an i2v model (first and last frame of a kf2v model, sent to
    image2video), ``videos[]`` the reference videos of r2v; ``aspect_ratio`` is ignored.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    model = gateway_model(body.get("model"))
    family = WIRE_NAMES[model].family
    inputs = {k: body[k] for k in ("prompt", "negative_prompt", "audio_url", "template") if body.get(k) is not None}
    images = body.get("images")
    if images is not None and not isinstance(images, list):
        raise ApiError(400, "InvalidParameter", "images must be a list of URLs")
    if images:
        if family is Family.KF2V:
            inputs["first_frame_url"] = images[0]
            if len(images) > 1:
                inputs["last_frame_url"] = images[1]
        else:
            inputs["img_url"] = images[0]
    videos = body.get("videos")
    if videos:
        inputs["reference_video_urls"] = videos
    parameters = {
        k: _flag(body[k])
        for k in ("size", "resolution", "duration", "prompt_extend", "watermark", "seed", "audio", "shot_type")
        if body.get(k) is not None
    }
    return service_of(WIRE_NAMES[model]), {"model": model, "input": inputs, "parameters": parameters}


def yuto_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v2/videos/generations/{task_id}``: a flat TaskDto with the result in ``data.output(s)``."""
    state, status = task.state(now), taskdto_status(task, now)
    body: dict[str, Any] = {"task_id": task.gateway_id, "status": status, "fail_reason": fail_reason(task, state)}
    body |= taskdto_times(task, state)
    body["progress"] = TASKDTO_PROGRESS[status]
    body["data"] = {"output": video_url, "outputs": [video_url]} if state == SUCCEEDED and video_url else None
    return body


YUTO = Dialect(
    name="yuto",
    upstream=yuto_upstream,
    accepted=lambda task: {"task_id": task.gateway_id},
    unknown_task=lambda task_id: taskdto_error(400, "task_not_exist", "task_not_exist"),
)

ROUTES = YUTO.routes(
    [
        Route(("POST",), "/v2/videos/generations", "submit", YUTO.submit()),
        Route(("GET",), "/v2/videos/generations/{task_id}", "poll", YUTO.poll(yuto_task_body)),
    ]
)
