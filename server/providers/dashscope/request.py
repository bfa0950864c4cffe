"""What DashScope is sent: submit paths and bodies, task paths, and the list API's time window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from wan_video_mcp.server.catalog import Family, GenerationRequest
from wan_video_mcp.server.errors import InvalidRequest
from wan_video_mcp.server.providers.dashscope.regions import SERVICE_TZ
from wan_video_mcp.server.providers.fields import wire_fields

__all__ = [
    "KF2V_SYNTHESIS_PATH",
    "LIST_PAGE_SIZE",
    "VIDEO_SYNTHESIS_PATH",
    "build_submit",
    "service_time",
    "task_path",
]

VIDEO_SYNTHESIS_PATH = "/services/aigc/video-generation/video-synthesis"
# First/last-frame models live under a different service path (the SDK switches on "kf2v" in the name).
KF2V_SYNTHESIS_PATH = "/services/aigc/image2video/video-synthesis"
LIST_PAGE_SIZE = 100


def build_submit(request: GenerationRequest, region: str) -> tuple[str, dict[str, Any]]:
    """The submit path (relative to the API root) and JSON body for a validated request."""
    spec = request.spec
    if region not in spec.regions:
        # Cheaper to say so here than to learn it from a ModelNotFound after a round trip.
        raise InvalidRequest(
            f"{spec.id} is not offered in DashScope region '{region}' (available in: {', '.join(spec.regions)})",
            field="model",
        )
    inputs, parameters = wire_fields(request)
    path = KF2V_SYNTHESIS_PATH if request.family is Family.KF2V else VIDEO_SYNTHESIS_PATH
    return path, {"model": spec.wire_name(region), "input": inputs, "parameters": parameters}


def task_path(remote_id: str) -> str:
    """The task id as one URL path segment (an id with '/' or '?' must not reach another endpoint)."""
    return quote(remote_id, safe="")


def service_time(moment: datetime) -> str:
    """``YYYYMMDDhhmmss`` in the service's UTC+8 clock, as the list API expects (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SERVICE_TZ).strftime("%Y%m%d%H%M%S")
