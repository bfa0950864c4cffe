"""MCP logging: the client chooses a level with ``logging/setLevel``; tools send what passes it.

The protocol versions hosts negotiate today (2025-06-18, 2025-11-25) leave the
filtering to the server, per connection. From 2026-07-28 the level travels in
each request's ``_meta`` and the SDK filters; ``logging/setLevel`` is gone there.
The SDK marks the capability deprecated and offers no handler for it on
``MCPServer``, so it is registered on the low-level server, the only place that
takes one (through tools/sdk_compat.py).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, get_args
from weakref import WeakKeyDictionary

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

from wan_video_mcp.tools.sdk_compat import add_request_handler, connection_of

logger = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)  # debug ... emergency, least severe first
DEFAULT_LEVEL = "info"


class ClientLog:
    """Per-connection log levels and the sending of log messages that pass them."""

    def __init__(self) -> None:
        self._levels: WeakKeyDictionary[Any, str] = WeakKeyDictionary()

    def install(self, server: MCPServer[Any]) -> None:
        """Serve ``logging/setLevel`` (which also advertises the logging capability)."""

        async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
            self._levels[connection_of(ctx.session)] = params.level
            return types.EmptyResult()

        add_request_handler(server, "logging/setLevel", types.SetLevelRequestParams, set_level)

    async def send(self, ctx: Context[Any, Any], level: types.LoggingLevel, message: str) -> None:
        """Send ``message`` at ``level`` when this connection's level lets it through (never fails the call)."""
        session = ctx.request_context.session
        threshold = self._levels.get(connection_of(session), DEFAULT_LEVEL)
        if LEVELS.index(level) < LEVELS.index(threshold):
            return
        try:
            with warnings.catch_warnings():  # deprecated only from 2026-07-28; the SDK filters that era itself
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await session.send_log_message(
                    level=level, data=message, logger="wan-video-mcp", related_request_id=ctx.request_id
                )
        except Exception as exc:  # a client gone away must not turn a result into an error
            logger.debug("could not send a log message: %r", exc)
