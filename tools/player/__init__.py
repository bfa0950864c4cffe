"""The in-chat player (MCP Apps): one self-contained HTML page that the task tools declare in ``_meta.ui``.

A host with MCP Apps renders ``PLAYER_URI`` in a sandboxed iframe beside the tool's result and hands the page that
result: the page shows the poster, reads the MP4 through the host (``resources/read``) and plays it, or follows a
task that is still rendering by calling ``check_task`` through the host. Hosts without Apps ignore ``_meta.ui`` and
show the results' text, resource link and poster as before: the results are the same for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files

from mcp.server.apps import Apps
from mcp.server.mcpserver.tools import Tool

PLAYER_URI = "ui://wan-video/player.html"
# The tools whose results the player shows: a tool returning a task (or a storyboard) joins with its name.
PLAYER_TOOLS = frozenset({"generate_video", "check_task", "fetch_video", "extend_video", "generate_storyboard"})


def player_html() -> str:
    """The player page as packaged."""
    return files(__name__).joinpath("player.html").read_text(encoding="utf-8")


def player_extension() -> Apps:
    """The MCP Apps extension serving the player: the ``ui://`` resource, and ``io.modelcontextprotocol/ui``
    advertised in the server's capabilities."""
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        player_html(),
        name="player",
        title="Wan video player",
        description="Plays a task's video in the chat, or follows a task while it renders (MCP Apps).",
        prefers_border=False,
    )
    return apps


def declare_player(tools: Iterable[Tool]) -> None:
    """Point the tools named in ``PLAYER_TOOLS`` at the player (``_meta.ui.resourceUri``, nothing more: tools/list
    has a byte budget)."""
    for tool in tools:
        if tool.name in PLAYER_TOOLS:
            tool.meta = (tool.meta or {}) | {"ui": {"resourceUri": PLAYER_URI}}


__all__ = ["PLAYER_TOOLS", "PLAYER_URI", "declare_player", "player_extension", "player_html"]
