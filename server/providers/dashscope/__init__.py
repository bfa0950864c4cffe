"""DashScope / Model Studio native protocol (wire-formats.md section 1; seed 003 is the same behind a prefix).

Submit is ``POST /services/aigc/{video-generation|image2video}/video-synthesis``
with ``X-DashScope-Async: enable``; the task is then read with ``GET /tasks/{id}``.
Everything that turns requests into bodies (``request``) and bodies into statuses
(``response``) or errors (``errors``) is a pure function, so it can be tested
without a network; the provider class (``provider``) only adds headers and one
HTTP exchange per call. ``regions`` says where the service lives.
"""

from wan_video_mcp.server.providers.dashscope.errors import advice_for, parse_error
from wan_video_mcp.server.providers.dashscope.provider import DashScopeProvider
from wan_video_mcp.server.providers.dashscope.regions import REGION_BASE_URLS, REGION_WORKSPACE_HOSTS, base_url_for
from wan_video_mcp.server.providers.dashscope.request import (
    KF2V_SYNTHESIS_PATH,
    LIST_PAGE_SIZE,
    VIDEO_SYNTHESIS_PATH,
    build_submit,
)
from wan_video_mcp.server.providers.dashscope.response import parse_list_item, parse_status

__all__ = [
    "KF2V_SYNTHESIS_PATH",
    "LIST_PAGE_SIZE",
    "REGION_BASE_URLS",
    "REGION_WORKSPACE_HOSTS",
    "VIDEO_SYNTHESIS_PATH",
    "DashScopeProvider",
    "advice_for",
    "base_url_for",
    "build_submit",
    "parse_error",
    "parse_list_item",
    "parse_status",
]
