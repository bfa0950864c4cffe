"""Where DashScope lives: the regional API roots, per-workspace hosts, and the service's clock."""

from __future__ import annotations

import re
from datetime import timedelta, timezone

from wan_video_mcp.server.errors import NotConfigured

__all__ = ["REGION_BASE_URLS", "REGION_WORKSPACE_HOSTS", "SERVICE_TZ", "base_url_for", "check_region"]

REGION_BASE_URLS: dict[str, str] = {
    "intl": "https://dashscope-intl.aliyuncs.com/api/v1",
    "us": "https://dashscope-us.aliyuncs.com/api/v1",
    "cn": "https://dashscope.aliyuncs.com/api/v1",
}
# The region part of the newer per-workspace host, {ws}.{region}.maas.aliyuncs.com. Frankfurt, Tokyo and
# Hong Kong have only these hosts (reference/media-protocol.md section 2): they need a workspace id.
REGION_WORKSPACE_HOSTS: dict[str, str] = {
    "intl": "ap-southeast-1",
    "us": "us-east-1",
    "cn": "cn-beijing",
    "eu": "eu-central-1",
    "jp": "ap-northeast-1",
    "hk": "cn-hongkong",
}
# DashScope writes times as "YYYY-MM-DD HH:MM:SS.fff" without a zone; they are Beijing/Singapore
# time (UTC+8). (inference: the US region is assumed to use the same clock; nothing documents otherwise.)
SERVICE_TZ = timezone(timedelta(hours=8))

_WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def check_region(region: str) -> None:
    """Raise ``NotConfigured`` for a region DashScope does not have."""
    if region not in REGION_WORKSPACE_HOSTS:
        raise NotConfigured(f"unknown DashScope region {region!r}; use one of: {', '.join(REGION_WORKSPACE_HOSTS)}")


def base_url_for(region: str, workspace_id: str | None = None, base_url: str | None = None) -> str:
    """The API root (ending in ``/api/v1``) for a region, workspace or explicit override."""
    if base_url:
        # An explicit root already carries /api/v1 (or a gateway prefix such as /qwen/api/v1).
        return base_url.strip().rstrip("/")
    check_region(region)
    if workspace_id:
        workspace_id = workspace_id.strip()
        # The id becomes part of a host name: refuse anything that could redirect the request.
        if not _WORKSPACE_RE.match(workspace_id):
            raise NotConfigured(f"workspace id {workspace_id!r} is not a valid DashScope workspace id")
        return f"https://{workspace_id}.{REGION_WORKSPACE_HOSTS[region]}.maas.aliyuncs.com/api/v1"
    if region not in REGION_BASE_URLS:
        host = f"{{WorkspaceId}}.{REGION_WORKSPACE_HOSTS[region]}.maas.aliyuncs.com"
        raise NotConfigured(
            f"DashScope region {region!r} is reached only through a workspace host ({host}): "
            "set DASHSCOPE_WORKSPACE_ID (or DASHSCOPE_BASE_URL)"
        )
    return REGION_BASE_URLS[region]
