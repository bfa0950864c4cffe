"""The admin API under ``/_sim/``: faults, counters, the clock, the tasks and the uploads, for a simulator in another
process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from wan_video_mcp.server.simulator.dashscope import format_time, list_item
from wan_video_mcp.server.simulator.faults import DEFAULT_FAILURE_CODE, Fault
from wan_video_mcp.server.simulator.http import Request, Response, json_response
from wan_video_mcp.server.simulator.media_output import output_of
from wan_video_mcp.server.simulator.routing import Handler, Route, RouteTable
from wan_video_mcp.server.simulator.state import SimState

Action = Callable[[SimState, Request, dict[str, Any]], Response]  # (state, request, its JSON object body)


def _missing(status: int, exc: KeyError) -> Response:
    return json_response(status, {"error": f"missing or unknown: {exc}"})


def _admin(action: Action) -> Handler:
    """The action, given the request's JSON object body (none: ``{}``); bad input answers 400."""

    async def handle(state: SimState, req: Request, fault: Fault | None) -> Response:
        try:
            body = json.loads(req.body) if req.body else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return action(state, req, body)
        except KeyError as exc:
            return _missing(400, exc)
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})

    return handle


def _stats(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    return json_response(200, state.stats.snapshot())


def _armed(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    return json_response(200, {"faults": state.faults.armed()})


def _arm(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    options = {k: v for k, v in body.items() if k not in ("target", "kind", "count")}
    armed = state.faults.add(body["target"], body["kind"], int(body.get("count", 1)), **options)
    return json_response(200, {"armed": asdict(armed)})


def _disarm(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    state.faults.clear()
    return json_response(200, {"faults": []})


def _fail(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    code = body.get("code", DEFAULT_FAILURE_CODE)
    if body.get("task_id"):
        try:
            state.faults.fail_task(body["task_id"], code, body.get("message"))
        except KeyError as exc:  # an unknown task
            return _missing(404, exc)
    else:
        state.faults.fail_next_task(code, body.get("message"))
    return json_response(200, {"ok": True})


def _advance(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    state.tasks.advance(float(body["seconds"]))
    return json_response(200, {"now": state.now(), "now_text": format_time(state.now())})


def _reset(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    state.faults.clear()
    state.stats.reset()
    return json_response(200, {"ok": True})


def _tasks(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    now = state.now()
    rows = [
        {
            **list_item(t, now),
            "size": f"{out.width}*{out.height}",
            "duration": out.seconds,
            "audio": t.plan.audio,
            "failure": list(t.failure) if t.failure else None,
            "via": t.via,
            "gateway_id": t.gateway_id,
            "polls": t.polls,
        }
        for t in state.tasks.all()
        for out in (output_of(t),)
    ]
    return json_response(200, {"tasks": rows})


def _uploads(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    rows = [
        {
            "key": o.key,
            "url": o.url,
            "model": o.model,
            "size": o.size,
            "sha256": o.sha256,
            "content_type": o.content_type,
            "api_key_id": "sim-" + hashlib.sha256(o.api_key.encode()).hexdigest()[:8],
            "uploaded_at": format_time(o.uploaded_at),
            "expires_at": format_time(o.expires_at),
        }
        for o in state.uploads.objects(state.now())
    ]
    return json_response(200, {"uploads": rows})


def _about(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    about = {"service": "wan-video-mcp simulator", "base_url": state.base_url, "now": format_time(state.now())}
    return json_response(200, about)


def _unknown(state: SimState, req: Request, body: dict[str, Any]) -> Response:
    return json_response(404, {"error": f"no admin endpoint {req.method} {req.path}"})


# Paths after /_sim.
ROUTES = RouteTable(
    [
        Route(("GET",), "/stats", "other", _admin(_stats)),
        Route(("GET",), "/faults", "other", _admin(_armed)),
        Route(("POST",), "/faults", "other", _admin(_arm)),
        Route(("DELETE",), "/faults", "other", _admin(_disarm)),
        Route(("POST",), "/fail", "other", _admin(_fail)),
        Route(("POST",), "/advance", "other", _admin(_advance)),
        Route(("POST",), "/reset", "other", _admin(_reset)),
        Route(("GET",), "/tasks", "other", _admin(_tasks)),
        Route(("GET",), "/uploads", "other", _admin(_uploads)),
        Route(("GET",), "/", "other", _admin(_about)),
    ],
    not_found=_admin(_unknown),
    not_allowed=_admin(_unknown),
)
