"""Result URLs, OSS style: signed and expiring, whole files or one byte range, with the download faults applied."""

from __future__ import annotations

import hmac
import re
import time
import uuid
from email.utils import formatdate
from typing import Literal

import anyio

from wan_video_mcp.server.simulator.dashscope import not_allowed, not_found
from wan_video_mcp.server.simulator.faults import Fault
from wan_video_mcp.server.simulator.http import Request, Response
from wan_video_mcp.server.simulator.routing import ANY, Route, RouteTable
from wan_video_mcp.server.simulator.state import SimState, sign
from wan_video_mcp.server.simulator.tasks import SUCCEEDED, SimTask

_RESULT_PATH = re.compile(r"/results/([0-9a-f-]{36})\.mp4")
_ISO = "%Y-%m-%dT%H:%M:%S.000Z"


def oss_error(status: int, code: str, message: str, **extra: str) -> Response:
    """An error answer in OSS's XML shape."""
    fields = "".join(
        f"  <{k}>{v}</{k}>\n"
        for k, v in {
            "Code": code,
            "Message": message,
            "RequestId": uuid.uuid4().hex.upper()[:24],
            "HostId": "simulated-oss.127.0.0.1",
            **extra,
        }.items()
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n{fields}</Error>\n'.encode()
    return Response(status, body, content_type="application/xml")


def parse_range(value: str | None, size: int) -> tuple[int, int] | None | Literal["invalid"]:
    """One ``bytes=`` range; None when absent or not a single range (then the whole file is sent)."""
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    first, _, last = value[6:].strip().partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), (int(last) if last else size - 1)
    except ValueError:
        return None
    end = min(end, size - 1)
    if start > end or start >= size:
        return "invalid"
    return start, end


async def _download(state: SimState, req: Request, fault: Fault | None) -> Response:
    if req.method not in ("GET", "HEAD"):
        return await not_allowed(state, req, fault)
    if req.method == "GET":
        state.stats.downloads += 1
    match = _RESULT_PATH.fullmatch(req.path)
    task = state.tasks.get(match.group(1)) if match else None
    now = state.now()
    if task is None or task.state(now) != SUCCEEDED:
        return oss_error(404, "NoSuchKey", "The specified key does not exist.")
    expires, signature = req.query.get("Expires", ""), req.query.get("Signature", "")
    if not expires.isdigit() or not hmac.compare_digest(signature, sign(state.secret, task.task_id, int(expires))):
        return oss_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if (fault is not None and fault.kind == "expired") or now > int(expires):
        return oss_error(
            403,
            "AccessDenied",
            "Request has expired.",
            Expires=time.strftime(_ISO, time.gmtime(int(expires))),
            ServerTime=time.strftime(_ISO, time.gmtime(now)),
        )
    return await video_response(state, req, task, fault)


async def video_response(state: SimState, req: Request, task: SimTask, fault: Fault | None) -> Response:
    """The MP4 of a SUCCEEDED task (whole or one range), with the download faults applied."""
    path = await state.renders.path(task)
    size = (await anyio.Path(path).stat()).st_size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{task.task_id}"',
        "Last-Modified": formatdate(task.ends_at, usegmt=True),
    }
    if fault is not None and fault.kind == "malformed":
        junk = (b"SIMULATED CORRUPT BODY " * (size // 23 + 1))[:size]
        return Response(200, junk, content_type="video/mp4", headers=headers)
    if fault is not None and fault.kind == "html":
        page = b"<!doctype html><html><body><h1>Sign in to the network</h1></body></html>"
        return Response(200, page, content_type="text/html; charset=utf-8")
    if fault is not None and fault.kind == "text":
        return Response(200, b"upstream error: try again later", content_type="text/plain")
    if fault is not None and fault.kind == "redirect":
        return Response(302, b"", content_type="text/plain", headers={"Location": fault.location or "/"})
    byte_range = parse_range(req.headers.get("range"), size)
    if byte_range == "invalid":
        return Response(416, b"", content_type="video/mp4", headers={"Content-Range": f"bytes */{size}"})
    status = 200
    if byte_range is None:
        byte_range = (0, size - 1)
    else:
        status = 206
        headers["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{size}"
    response = Response(status, content_type="video/mp4", headers=headers, file=path, file_range=byte_range)
    if fault is not None and fault.kind == "truncated":
        response.truncate_at = fault.truncate_at if fault.truncate_at is not None else response.length // 2
    if fault is not None and fault.kind == "slow":
        response.throttle = fault.bytes_per_second
    return response


# Every method reaches the handler (a download fault is taken first), which answers any but GET and HEAD with a 405.
ROUTES = RouteTable([Route(ANY, "/results/{name*}", "download", _download)], not_found=not_found, not_allowed=not_found)
