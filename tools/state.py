"""What the lifespan yields and every tool reaches through its ``Context``: the app state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from mcp.server.mcpserver import Context

from wan_video_mcp.server.catalog import ModelSpec
from wan_video_mcp.server.config import Settings

if TYPE_CHECKING:
    from wan_video_mcp.server.jobs import JobEngine
    from wan_video_mcp.tools.client_log import ClientLog


@dataclass
class AppState:
    """What the lifespan yields; tools reach it through the request context."""

    settings: Settings
    engine: JobEngine
    models: tuple[ModelSpec, ...]
    provider_name: str
    simulated: bool
    client_log: ClientLog

    @property
    def max_wait(self) -> int:
        """This server's cap on any call's wait (``WAN_MAX_WAIT_SECONDS``)."""
        return self.settings.max_wait_seconds


def state_of(ctx: Context[Any, Any]) -> AppState:
    """The app state of the server answering ``ctx``'s request."""
    return cast(AppState, ctx.request_context.lifespan_context)
