"""vtrix (seed 004): ``POST /model/v1/generation`` under vtrix model ids, ``GET /model/v1/generation/task/{id}``.

Statuses are ``in_queue/processing/done/failed``. vtrix reports every DashScope failure code as
001026095 "Internal generation error" with the upstream code in the message (a 9-digit code
injected with ``fail_next_task`` passes through unchanged), enforces seed 004's own
reference-video rules (001026001..001026003), answers an unknown id with 404, and its
``usage.cost`` is the catalog's list price.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from wan_video_mcp.server.simulator.gateway import Dialect
from wan_video_mcp.server.simulator.http import Response, json_response
from wan_video_mcp.server.simulator.routing import Route
from wan_video_mcp.server.simulator.tasks import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED, UNKNOWN, SimTask
from wan_video_mcp.server.simulator.validation import WIRE_NAMES, ApiError, SubmitPlan, service_of

VTRIX_STATUS = {
    PENDING: "in_queue",
    RUNNING: "processing",
    SUCCEEDED: "done",
    FAILED: "failed",
    CANCELED: "failed",
    UNKNOWN: "failed",
}
VTRIX_INTERNAL_ERROR = "001026095"  # "Internal generation error" (seed 004's table)
_VTRIX_CODE_RE = re.compile(r"^\d{9}$")


@lru_cache(maxsize=1)
def _vtrix_models() -> dict[str, str]:
    """vtrix model id -> catalog id (the provider's table, read lazily: the simulator needs no httpx to start)."""
    from wan_video_mcp.server.providers.vtrix import VTRIX_MODEL_IDS

    return {vtrix_id: model for model, vtrix_id in VTRIX_MODEL_IDS.items()}


def vtrix_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) of a vtrix ``POST /model/v1/generation`` body, with seed 004's own rules.

    vtrix ids map back to catalog ids (``wan26_t2v`` -> ``wan2.6-t2v``). Seed 004 refuses
    more than 2 reference videos (001026001), audio with reference videos (001026002) and
    reference-video durations other than 5 or 10 (001026003), stricter than Alibaba.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter", "The request body must be a JSON object.")
    vtrix_id = body.get("model")
    if not isinstance(vtrix_id, str) or vtrix_id not in _vtrix_models():
        raise ApiError(400, "ModelNotFound", f"Model {vtrix_id!r} is not supported.")
    model = _vtrix_models()[vtrix_id]
    inputs = body.get("input")
    parameters = body.get("parameters")
    if isinstance(inputs, dict) and "reference_video_urls" in inputs:
        urls = inputs["reference_video_urls"]
        if not isinstance(urls, list) or not 1 <= len(urls) <= 2:
            raise ApiError(400, "001026001", "reference_video_urls must be 1-2 video URL array")
        if isinstance(parameters, dict) and parameters.get("audio") is True:
            raise ApiError(400, "001026002", "reference_video_urls cannot be used with audio parameter")
        if isinstance(parameters, dict) and parameters.get("duration", 5) not in (5, 10):
            raise ApiError(400, "001026003", "When using reference_video_urls, duration must be 5 or 10")
    return service_of(WIRE_NAMES[model]), {"model": model, "input": inputs, "parameters": parameters}


def vtrix_failure(failure: tuple[str, str]) -> tuple[str, str]:
    """A task failure as vtrix reports it: a 9-digit code passes through; DashScope's codes become
    001026095 "Internal generation error", with the upstream code and message kept in the message."""
    code, message = failure
    if _VTRIX_CODE_RE.match(code):
        return code, message
    return VTRIX_INTERNAL_ERROR, f"Internal generation error: {code}: {message}"


def vtrix_cost(plan: SubmitPlan) -> str:
    """``usage.cost`` in USD: the catalog's list price of the output seconds."""
    try:
        per_second = plan.spec.price.usd(plan.tier, silent=not plan.audio)
    except (KeyError, AttributeError):
        per_second = 0.0
    return f"{per_second * plan.duration:.2f}"


def vtrix_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /model/v1/generation/task/{id}``: ``output``/``usage`` only when done, ``error`` only when failed."""
    state = task.state(now)
    status = VTRIX_STATUS[state]
    body: dict[str, Any] = {"id": task.gateway_id, "status": status}
    if state == SUCCEEDED and video_url:
        body["output"] = [{"status": status, "content": [{"type": "video", "url": video_url, "jobId": task.task_id}]}]
        body["usage"] = {"cost": vtrix_cost(task.plan), "discount": 0}
    elif state in (FAILED, CANCELED):
        code, message = vtrix_failure(task.failure or (VTRIX_INTERNAL_ERROR, "Task canceled upstream"))
        body["error"] = {"code": code, "message": message}
    return body


def vtrix_error(status: int, code: str, message: str, *, openai: bool = False) -> Response:
    """An error as vtrix answers it, always ``{"error": {code, message}}``."""
    return json_response(status, {"error": {"code": code, "message": message}})


VTRIX = Dialect(
    name="vtrix",
    upstream=vtrix_upstream,
    accepted=lambda task: {"id": task.gateway_id, "status": VTRIX_STATUS[PENDING]},
    unknown_task=lambda task_id: vtrix_error(404, "task_not_found", f"Task {task_id} not found"),
    error=vtrix_error,
)

ROUTES = VTRIX.routes(
    [
        Route(("POST",), "/model/v1/generation", "submit", VTRIX.submit()),
        Route(("GET",), "/model/v1/generation/task/{task_id}", "poll", VTRIX.poll(vtrix_task_body)),
    ]
)
