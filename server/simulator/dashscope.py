"""DashScope's native protocol (reference/wire-formats.md, section 1): its bodies, errors, handlers and routes.

The API answers under ``/api/v1`` and, as a gateway would, under ``/qwen/api/v1`` (seed 003).
Cancelling a task that is not PENDING, or an unknown task, answers 400 ``UnsupportedOperation``
(the message observed from the real service); ``start_time``/``end_time`` of the task list are
read as UTC+8 (Beijing) times; wan2.6-r2v bills its reference videos as measured when they were
read (``media``), else each as ``REFERENCE_VIDEO_SECONDS``. The media protocol's usage is
``media_output.media_usage``; its SUCCEEDED poll has ``orig_prompt`` but no ``actual_prompt`` (the
reference's response tables list none). With ``X-DashScope-OssResourceResolve: enable`` every
``oss://`` URL of a submit must name a live upload of the same key and model (``uploads.oss_refusal``),
else the submit answers 400 ``InvalidParameter``; the upload API itself is ``oss_upload``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from wan_video_mcp.server.catalog import Protocol
from wan_video_mcp.server.simulator.config import BEIJING, DAY
from wan_video_mcp.server.simulator.faults import Fault
from wan_video_mcp.server.simulator.http import Request, Response, json_response
from wan_video_mcp.server.simulator.media_output import ASSUMED_VIDEO_SECONDS, media_usage, video_seconds
from wan_video_mcp.server.simulator.routing import ANY, Handler, Route, RouteTable
from wan_video_mcp.server.simulator.state import KeyProblem, SimState
from wan_video_mcp.server.simulator.tasks import FAILED, PENDING, STARTED, SUCCEEDED, UNKNOWN, SimTask, new_id
from wan_video_mcp.server.simulator.uploads import oss_refusal
from wan_video_mcp.server.simulator.validation import MSG_URL, ApiError, SubmitPlan, plan_submit, service_of

REFERENCE_VIDEO_SECONDS = ASSUMED_VIDEO_SECONDS

# Error texts of the real service (Model Studio error-code table).
KEY_MESSAGES = {KeyProblem.MISSING: "No API-key provided.", KeyProblem.WRONG: "Invalid API-key provided."}
MSG_SYNC = "current user api does not support synchronous calls"
MSG_CANCEL = "Failed to cancel the task, please confirm if the task is in PENDING status."


def format_time(ts: float) -> str:
    """A DashScope timestamp: UTC+8, ``YYYY-MM-DD HH:MM:SS.fff``."""
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error answer in DashScope's shape."""
    return json_response(status, {"code": code, "message": message, "request_id": new_id()}, headers)


# --------------------------------------------------------------------------- bodies (pure)


def usage_body(task: SimTask) -> dict[str, Any]:
    """The ``usage`` object of a SUCCEEDED poll: wan2.6 and the media protocol have their own shapes."""
    plan = task.plan
    if plan.spec.protocol is Protocol.MEDIA:
        return media_usage(task)
    sr = int(plan.tier.rstrip("P"))
    if plan.generation == "wan2.6":
        seconds_in = round(video_seconds(plan, task.media)[0])
        return {
            "duration": float(plan.duration + seconds_in),
            "size": plan.size,
            "input_video_duration": seconds_in,
            "output_video_duration": plan.duration,
            "video_count": 1,
            "SR": sr,
        }
    usage: dict[str, Any] = {"video_duration": plan.duration, "video_count": 1}
    if plan.generation == "wan2.1":
        usage["video_ratio"] = "standard"
    elif plan.spec.uses_size:
        usage["video_ratio"] = plan.size
    else:
        usage["SR"] = sr
    return usage


def actual_prompt(plan: SubmitPlan) -> str:
    if not plan.prompt_extend:
        return plan.prompt
    return (plan.prompt + " " if plan.prompt else "") + "(Simulated prompt extension: soft light, steady camera.)"


def poll_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """The answer to ``GET /tasks/{id}`` for a known, unexpired task."""
    state = task.state(now)
    output: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": state,
        "submit_time": format_time(task.submitted_at),
    }
    if state in STARTED:
        output["scheduled_time"] = format_time(task.scheduled_at)
    if (ended := task.end_time(state)) is not None:
        output["end_time"] = format_time(ended)
    body: dict[str, Any] = {"request_id": new_id(), "output": output}
    if state == SUCCEEDED:
        output["orig_prompt"] = task.plan.prompt
        if task.plan.generation != "wan2.6" and task.plan.spec.protocol is Protocol.LEGACY:
            output["actual_prompt"] = actual_prompt(task.plan)
        output["video_url"] = video_url
        body["usage"] = usage_body(task)
    elif state == FAILED and task.failure:
        output["code"], output["message"] = task.failure
    return body


def unknown_body(task_id: str) -> dict[str, Any]:
    return {"request_id": new_id(), "output": {"task_id": task_id, "task_status": UNKNOWN}}


def list_item(task: SimTask, now: float) -> dict[str, Any]:
    """One row of ``GET /tasks``: times in epoch milliseconds, as the real list has them."""
    state = task.state(now)
    service = service_of(task.plan.spec)
    item: dict[str, Any] = {
        "api_key_id": "sim-" + hashlib.sha256(task.api_key.encode()).hexdigest()[:8],
        "caller_parent_id": "simulated",
        "caller_uid": "simulated",
        "gmt_create": int(task.submitted_at * 1000),
        "model_name": task.plan.model_name,
        "region": "simulated",
        "request_id": task.request_id,
        "status": state,
        "task_id": task.task_id,
        "user_api_unique_key": f"apikey:v1:aigc:{service}:video-synthesis:{task.plan.model_name}",
    }
    if state in STARTED:
        item["start_time"] = int(task.scheduled_at * 1000)
    if (ended := task.end_time(state)) is not None:
        item["end_time"] = int(ended * 1000)
    return item


def _parse_list_time(value: str, name: str) -> float:
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise ApiError(400, "InvalidParameter", f"The {name} must be formatted as YYYYMMDDhhmmss.") from None


def _positive_int(value: str | None, name: str, default: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "InvalidParameter", f"The {name} must be an integer.") from None
    if not 1 <= number <= high:
        raise ApiError(400, "InvalidParameter", f"The {name} must be between 1 and {high}.")
    return number


# --------------------------------------------------------------------------- handlers

KeyedHandler = Callable[[SimState, Request, str], Awaitable[Response]]


def keyed(handler: KeyedHandler) -> Handler:
    """The handler, behind DashScope's key check (a 401 ``InvalidApiKey`` without a good key)."""

    async def checked(state: SimState, req: Request, fault: Fault | None) -> Response:
        key = state.api_key(req)
        if isinstance(key, KeyProblem):
            return error_response(401, "InvalidApiKey", KEY_MESSAGES[key])
        return await handler(state, req, key)

    return checked


def _submit(service: str) -> Handler:
    async def submit(state: SimState, req: Request, key: str) -> Response:
        if req.headers.get("x-dashscope-async", "").lower() != "enable":
            return error_response(403, "AccessDenied", MSG_SYNC)
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return error_response(400, "InvalidParameter", "The request body is not valid JSON.")
        try:
            oss_resolve = req.headers.get("x-dashscope-ossresourceresolve", "").lower() == "enable"
            plan = plan_submit(service, body, oss_resolve=oss_resolve)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
        if oss_resolve and (refusal := oss_refusal(state.uploads, plan, key, state.now())):
            return error_response(400, "InvalidParameter", refusal)
        task = state.create_task(plan, key, via=req.params["root"])
        output = {"task_status": PENDING, "task_id": task.task_id}
        return json_response(200, {"output": output, "request_id": task.request_id})

    return keyed(submit)


async def _poll(state: SimState, req: Request, key: str) -> Response:
    task_id = req.params["task_id"]
    task = state.tasks.live(task_id)
    if task is None:
        return json_response(200, unknown_body(task_id))
    task.polls += 1
    now = state.now()
    return json_response(200, poll_body(task, now, state.result_url(task, now)))


async def _cancel(state: SimState, req: Request, key: str) -> Response:
    task = state.tasks.live(req.params["task_id"])
    now = state.now()
    if task is None or task.state(now) != PENDING:
        return error_response(400, "UnsupportedOperation", MSG_CANCEL)
    task.canceled_at = now
    # No "simulated" field here: the SDK would show it as the whole output (the header still says it).
    return json_response(200, {"request_id": new_id()}, label=False)


async def _list(state: SimState, req: Request, key: str) -> Response:
    q, now = req.query, state.now()
    try:
        page_no = _positive_int(q.get("page_no"), "page_no", 1, 1_000_000)
        page_size = _positive_int(q.get("page_size"), "page_size", 10, 100)
        start = _parse_list_time(q["start_time"], "start_time") if q.get("start_time") else None
        end = _parse_list_time(q["end_time"], "end_time") if q.get("end_time") else None
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    if start is None:
        start = (end if end is not None else now) - DAY
    if end is None:
        end = start + DAY
    if end - start > DAY:
        return error_response(
            400, "InvalidParameter", "The time range between start_time and end_time cannot exceed 24 hours."
        )
    rows = sorted(
        (
            t
            for t in state.tasks.all()
            if not t.expired(now, state.config.task_ttl_seconds)
            and start <= t.submitted_at <= end + 0.999
            and (not q.get("model_name") or t.plan.model_name == q["model_name"])
            and (not q.get("status") or t.state(now) == q["status"].upper())
            and (not q.get("task_id") or t.task_id == q["task_id"])
        ),
        key=lambda t: t.submitted_at,
        reverse=True,
    )
    page = rows[(page_no - 1) * page_size : page_no * page_size]
    return json_response(
        200,
        {
            "total": len(rows),
            "data": [list_item(t, now) for t in page],
            "total_page": math.ceil(len(rows) / page_size),
            "page_no": page_no,
            "request_id": new_id(),
            "page_size": page_size,
        },
    )


async def not_found(state: SimState, req: Request, fault: Fault | None) -> Response:
    return error_response(404, "NotFound", f"No such resource: {req.path}")


async def not_allowed(state: SimState, req: Request, fault: Fault | None) -> Response:
    return error_response(405, "MethodNotAllowed", f"{req.method} is not allowed on {req.path}")


async def _bad_service(state: SimState, req: Request, fault: Fault | None) -> Response:
    return error_response(400, "InvalidParameter", MSG_URL)


# Paths after the API root (/api/v1 or /qwen/api/v1); the aio SDK polls /tasks/{id}/ (trailing slashes are dropped).
ROUTES = RouteTable(
    [
        Route(("POST",), "/services/aigc/video-generation/video-synthesis", "submit", _submit("video-generation")),
        Route(("POST",), "/services/aigc/image2video/video-synthesis", "submit", _submit("image2video")),
        Route(("POST",), "/tasks/{task_id}/cancel", "cancel", keyed(_cancel)),
        Route(("GET",), "/tasks/{task_id}", "poll", keyed(_poll)),
        Route(("GET",), "/tasks", "list", keyed(_list)),
        Route(ANY, "/services/{rest*}", "other", _bad_service),
    ],
    not_found=not_found,
    not_allowed=not_allowed,
)
# Any other path: DashScope's 404.
NOWHERE = RouteTable([], not_found=not_found, not_allowed=not_found)
