"""The in-chat player (MCP Apps) as the server offers it: declared by the task tools, served self-contained.

The browser tests (test_player_browser.py) play it in Chromium; these need no browser.
"""

from __future__ import annotations

import re

import pytest

from tests.inmemory import in_memory
from wan_video_mcp.tools.player import PLAYER_URI, player_html

pytestmark = pytest.mark.anyio

SIMULATOR = {"WAN_PROVIDER": "simulator"}
EXTERNAL = r"(?:src|href)=|https?://|@import|url\(|fetch\(|XMLHttpRequest|WebSocket"
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
    "media-src blob: data:"
)


async def test_the_task_tools_declare_the_player_and_the_server_advertises_mcp_apps(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        tools = (await client.list_tools()).tools
        extensions = client.server_capabilities.extensions or {}
    assert {
        "meta": {tool.name: tool.meta for tool in tools},
        "extension": "io.modelcontextprotocol/ui" in extensions,
    } == {
        "meta": {
            "generate_video": {"ui": {"resourceUri": PLAYER_URI}},
            "check_task": {"ui": {"resourceUri": PLAYER_URI}},
            "fetch_video": {"ui": {"resourceUri": PLAYER_URI}},
            "list_tasks": None,
            "cancel_task": None,
            "extend_video": {"ui": {"resourceUri": PLAYER_URI}},
            "generate_storyboard": {"ui": {"resourceUri": PLAYER_URI}},
        },
        "extension": True,
    }


async def test_the_player_is_one_self_contained_page_under_a_strict_csp(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        [content] = (await client.read_resource(PLAYER_URI)).contents
    html = getattr(content, "text", "")
    assert {
        "mime type": content.mime_type,
        "as packaged": html == player_html(),
        "csp": re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html),
        # Nothing is fetched: no external scripts, styles, fonts, images or frames, and no network calls.
        "external references": re.findall(EXTERNAL, html),
        "bridge methods": sorted(set(re.findall(r'"((?:ui/[a-z/-]+)|tools/call|resources/read)"', html))),
    } == {
        "mime type": "text/html;profile=mcp-app",
        "as packaged": True,
        "csp": [CSP],
        "external references": [],
        "bridge methods": [
            "resources/read",
            "tools/call",
            "ui/initialize",
            "ui/notifications/host-context-changed",
            "ui/notifications/initialized",
            "ui/notifications/size-changed",
            "ui/notifications/tool-cancelled",
            "ui/notifications/tool-input",
            "ui/notifications/tool-result",
            "ui/resource-teardown",
        ],
    }
