"""What the gateway dialects share: a ``Dialect`` (how a gateway words things), its submit and poll handlers, TaskDto.

A gateway submit is validated exactly as DashScope validates the body the gateway makes of it
(``plan_submit``), counts in ``stats.submits`` and arms the same fault targets. An unknown model
has no channel (503 ``model_not_found``, as new-api's distributor answers); a task id is known only
to the dialect that handed it out and only to the key that submitted it. Gateways answer from their
own database, so a finished task keeps its final state after DashScope would have forgotten it,
while its result URL still expires.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from wan_video_mcp.server.simulator.faults import Fault
from wan_video_mcp.server.simulator.http import Request, Response, json_response
from wan_video_mcp.server.simulator.routing import Handler, Route, RouteTable
from wan_video_mcp.server.simulator.state import KeyProblem, SimState
from wan_video_mcp.server.simulator.tasks import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    STARTED,
    SUCCEEDED,
    UNKNOWN,
    SimTask,
    new_id,
)
from wan_video_mcp.server.simulator.validation import WIRE_NAMES, ApiError, plan_submit

KEY_MESSAGES = {
    KeyProblem.MISSING: "No API key provided (Authorization: Bearer).",
    KeyProblem.WRONG: "Invalid API key.",
}

# new-api's TaskDto (also YutoAI's): DashScope task_status -> status, and the fixed progress string of each status.
TASKDTO_STATUS = {
    PENDING: "QUEUED",
    RUNNING: "IN_PROGRESS",
    SUCCEEDED: "SUCCESS",
    FAILED: "FAILURE",
    CANCELED: "FAILURE",
    UNKNOWN: "FAILURE",
}
TASKDTO_PROGRESS = {
    "NOT_START": "0%",
    "SUBMITTED": "10%",
    "QUEUED": "20%",
    "IN_PROGRESS": "30%",
    "SUCCESS": "100%",
    "FAILURE": "100%",
}

TaskBody = Callable[[SimTask, float, str | None], dict[str, Any]]  # (task, now, result URL) -> poll answer


class ErrorShape(Protocol):
    def __call__(self, status: int, code: str, message: str, *, openai: bool = False) -> Response: ...


def taskdto_error(status: int, code: str, message: str, *, openai: bool = False) -> Response:
    """An error as new-api (and YutoAI) answer it: task errors as ``{code, message, data}``, their middleware's
    (key, channel) OpenAI-style."""
    if openai:
        return json_response(status, {"error": {"message": message, "type": "new_api_error", "code": code}})
    return json_response(status, {"code": code, "message": message, "data": None})


@dataclass(frozen=True)
class Dialect:
    """How one gateway words a submit, its answer, its errors and its ids."""

    name: str  # "newapi", "yuto" or "vtrix": a task's ``via``
    upstream: Callable[[Any], tuple[str, dict[str, Any]]]  # gateway body -> the DashScope (service, body)
    accepted: Callable[[SimTask], dict[str, Any]]  # the answer to an accepted submit
    unknown_task: Callable[[str], Response]  # the answer for an id it does not know (for this key)
    error: ErrorShape = taskdto_error
    new_id: Callable[[], str] = new_id  # the ids it hands out

    def refusal(self, status: int, code: str, message: str) -> Response:
        """A refusal by the gateway's own middleware (key, route): OpenAI-style where the dialect has that shape."""
        return self.error(status, code, message, openai=True)

    def handler(self, handle: Callable[[SimState, Request, str, Fault | None], Awaitable[Response]]) -> Handler:
        """``handle``, behind the gateway's key check (a 401 in its middleware's shape without a good key)."""

        async def checked(state: SimState, req: Request, fault: Fault | None) -> Response:
            key = state.api_key(req)
            if isinstance(key, KeyProblem):
                return self.refusal(401, "unauthorized", KEY_MESSAGES[key])
            return await handle(state, req, key, fault)

        return checked

    def submit(self) -> Handler:
        """The gateway's submit: its body made into DashScope's, validated as DashScope would, then one task."""

        async def submit(state: SimState, req: Request, key: str, fault: Fault | None) -> Response:
            try:
                body = json.loads(req.body or b"null")
            except ValueError:
                return self.error(400, "invalid_request", "The request body is not valid JSON.")
            try:
                service, upstream = self.upstream(body)
                # What DashScope behind the gateway would accept. Whether a gateway adds the oss:// resolve
                # header is not documented: the simulator takes it that it does (oss:// URLs pass).
                plan = plan_submit(service, upstream, oss_resolve=True)
            except ApiError as exc:
                return self.error(exc.status, exc.code, exc.message, openai=exc.code == "model_not_found")
            task = state.create_task(plan, key, via=self.name, gateway_id=self.new_id())
            return json_response(200, self.accepted(task))

        return self.handler(submit)

    def owned_task(self, state: SimState, req: Request, key: str) -> SimTask | None:
        """The route's task: a gateway answers for it only to the key that submitted it (and, from its own
        database, for good)."""
        task = state.tasks.by_gateway_id(self.name, unquote(req.params["task_id"]))
        return task if task is not None and task.api_key == key else None

    def poll(self, body: TaskBody) -> Handler:
        """A poll of the route's task, answered with ``body``."""

        async def poll(state: SimState, req: Request, key: str, fault: Fault | None) -> Response:
            task = self.owned_task(state, req, key)
            if task is None:
                return self.unknown_task(unquote(req.params["task_id"]))
            now = state.now()
            return json_response(200, body(task, now, state.result_url(task, now)))

        return self.handler(poll)

    def routes(self, routes: list[Route]) -> RouteTable:
        """The dialect's route table, with its own 404 and 405."""

        async def not_found(state: SimState, req: Request, fault: Fault | None) -> Response:
            return self.refusal(404, "not_found", f"No such resource: {req.path}")

        async def not_allowed(state: SimState, req: Request, fault: Fault | None) -> Response:
            return self.refusal(405, "method_not_allowed", f"{req.method} is not allowed on {req.path}")

        return RouteTable(routes, not_found=not_found, not_allowed=not_allowed)


def gateway_model(model: Any) -> str:
    """The model name of a gateway submit; an unknown one has no channel (new-api's distributor answers 503)."""
    if model is None or model == "":
        raise ApiError(400, "invalid_request", "model is required")
    if not isinstance(model, str) or model not in WIRE_NAMES:
        raise ApiError(503, "model_not_found", f"No available channel for model {model} under group default")
    return model


# --------------------------------------------------------------------------- TaskDto (new-api and YutoAI)


def taskdto_status(task: SimTask, now: float) -> str:
    """new-api's TaskDto status: SUBMITTED for the first half of the queue time (before the gateway's
    first upstream poll), then QUEUED, IN_PROGRESS, SUCCESS or FAILURE."""
    state = task.state(now)
    if state == PENDING and now < (task.submitted_at + task.scheduled_at) / 2:
        return "SUBMITTED"
    return TASKDTO_STATUS[state]


def fail_reason(task: SimTask, state: str) -> str:
    """A FAILED task's ``fail_reason``: ``"task failed, code: X , message: Y"``."""
    if state == FAILED and task.failure:
        return f"task failed, code: {task.failure[0]} , message: {task.failure[1]}"
    if state == CANCELED:
        return "task canceled upstream"
    return ""


def taskdto_times(task: SimTask, state: str) -> dict[str, int]:
    """TaskDto's times, in epoch seconds (0 for one that has not come)."""
    finished = task.end_time(state)
    return {
        "submit_time": int(task.submitted_at),
        "start_time": int(task.scheduled_at) if state in STARTED else 0,
        "finish_time": int(finished) if finished is not None else 0,
    }
