"""The temporary-upload API (reference/media-protocol.md section 8): DashScope's getPolicy and OSS's PostObject.

``GET {api root}/uploads?action=getPolicy&model=<id>`` (``POLICY_ROUTES``, under the API roots) answers
a policy in DashScope's shape, behind its key check; a missing or unknown model (not a catalog id) or
another action answers 400 ``InvalidParameter``; more than ``policy_rate_per_second`` calls of one
(key, model) in a second answer 429 ``Throttling.RateQuota`` (with ``Retry-After: 1``, the window).
The policy's ``upload_host`` is the simulator itself (``UPLOAD_PATH``, ``UPLOAD_ROUTES``), which takes
the multipart form as OSS does and answers its errors in OSS's XML (``uploads.UploadStore.accept``);
``success_action_status`` 200 or 201 (with a PostResponse XML) is answered as asked, anything else 204.
Faults: target "policy" (e.g. "429"), target "upload" ("expired": the next uploads answer "Policy expired.").
"""

from __future__ import annotations

import hashlib

from wan_video_mcp.server.simulator.config import SimulatorConfig
from wan_video_mcp.server.simulator.dashscope import error_response, keyed, not_allowed, not_found
from wan_video_mcp.server.simulator.faults import FAULT_ERRORS, Fault
from wan_video_mcp.server.simulator.http import Request, Response, json_response
from wan_video_mcp.server.simulator.multipart import FormError, parse_form
from wan_video_mcp.server.simulator.results import oss_error
from wan_video_mcp.server.simulator.routing import Route, RouteTable
from wan_video_mcp.server.simulator.state import SimState
from wan_video_mcp.server.simulator.tasks import new_id
from wan_video_mcp.server.simulator.uploads import (
    ACCESS_KEY_ID,
    ACL,
    CAPACITY_LIMIT_MB,
    FORBID_OVERWRITE,
    MB,
    Policy,
    UploadRefused,
)
from wan_video_mcp.server.simulator.validation import WIRE_NAMES

UPLOAD_PATH = "/oss-upload"  # the upload_host's path, on the simulator itself
FORM_OVERHEAD_BYTES = MB  # room for the form's other fields and boundaries, over the largest file


def upload_body_limit(config: SimulatorConfig) -> int:
    """The largest request body an upload may have (the HTTP layer answers 413 past it)."""
    return config.upload_max_file_mb * MB + FORM_OVERHEAD_BYTES


def policy_data(state: SimState, policy: Policy) -> dict[str, object]:
    """The ``data`` of a getPolicy answer."""
    return {
        "policy": policy.text,
        "signature": policy.signature,
        "upload_dir": policy.upload_dir,
        "upload_host": state.root_url + UPLOAD_PATH,
        "expire_in_seconds": round(state.config.upload_policy_seconds),
        "max_file_size_mb": state.config.upload_max_file_mb,
        "capacity_limit_mb": CAPACITY_LIMIT_MB,
        "oss_access_key_id": ACCESS_KEY_ID,
        "x_oss_object_acl": ACL,
        "x_oss_forbid_overwrite": FORBID_OVERWRITE,
    }


async def _get_policy(state: SimState, req: Request, key: str) -> Response:
    action, model = req.query.get("action"), req.query.get("model")
    if action != "getPolicy":
        return error_response(400, "InvalidParameter", f"The action must be getPolicy, not {action!r}.")
    if not model:
        return error_response(400, "InvalidParameter", "Required parameter 'model' missing from request.")
    if model not in WIRE_NAMES:
        return error_response(400, "InvalidParameter", f"The model {model!r} is not a model files can be uploaded for.")
    now = state.now()
    if not state.uploads.admit(key, model, now):
        status, code, message = FAULT_ERRORS["429"]
        return error_response(status, code, message, {"Retry-After": "1"})
    policy = state.uploads.issue(key, model, now)
    state.stats.policies += 1
    return json_response(200, {"request_id": new_id(), "data": policy_data(state, policy)})


def _post_response(key: str, etag: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>\n'
        f"  <Bucket>dashscope-file-simulated</Bucket>\n  <Location>oss://{key}</Location>\n"
        f"  <Key>{key}</Key>\n  <ETag>{etag}</ETag>\n</PostResponse>\n"
    ).encode()


async def _post_object(state: SimState, req: Request, fault: Fault | None) -> Response:
    try:
        parts = parse_form(req.headers.get("content-type", ""), req.body)
        stored = state.uploads.accept(parts, state.now(), expired=fault is not None and fault.kind == "expired")
    except FormError as exc:
        return oss_error(400, "MalformedPOSTRequest", f"The body of your POST request is not well-formed: {exc}.")
    except UploadRefused as exc:
        return oss_error(exc.status, exc.code, exc.message, **exc.extra)
    state.stats.uploads += 1
    state.stats.upload_bytes += stored.size
    etag = '"' + hashlib.md5(stored.data, usedforsecurity=False).hexdigest().upper() + '"'
    headers = {"ETag": etag, "x-oss-request-id": new_id().replace("-", "").upper()[:24]}
    wanted = next((p.text for p in parts if p.name.lower() == "success_action_status"), "")
    if wanted == "201":
        return Response(201, _post_response(stored.key, etag), content_type="application/xml", headers=headers)
    return Response(200 if wanted == "200" else 204, content_type="text/plain", headers=headers)


async def _oss_not_allowed(state: SimState, req: Request, fault: Fault | None) -> Response:
    return oss_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")


# Paths after the API root (/api/v1 or /qwen/api/v1).
POLICY_ROUTES = RouteTable(
    [Route(("GET",), "/uploads", "policy", keyed(_get_policy))], not_found=not_found, not_allowed=not_allowed
)
# The upload host (whole paths).
UPLOAD_ROUTES = RouteTable(
    [Route(("POST",), UPLOAD_PATH, "upload", _post_object)],
    not_found=_oss_not_allowed,
    not_allowed=_oss_not_allowed,
)
