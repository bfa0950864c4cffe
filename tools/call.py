"""One tool call's budget: the time by which it must answer, its progress notifications and log messages.

Every call answers within ``Settings.max_wait_seconds`` (the cap, below the
60-second request timeout most hosts use): slow work (a paid submit, a provider
query, a download) runs in the background and the call returns a handle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context

from wan_video_mcp.server.auth import principal_of
from wan_video_mcp.tools.state import AppState, state_of

# Kept free at the end of every call for building the result (probing the MP4, a poster frame).
RESULT_RESERVE_SECONDS = 2.0


def current_principal() -> str:
    """Who the request being handled acts for: the bearer token's principal over authenticated HTTP, else the
    local one (stdio, loopback without auth)."""
    return principal_of(get_access_token())


@dataclass
class Call:
    """One tool call: the app state, its context, and the time by which it must answer."""

    state: AppState
    ctx: Context[Any, Any]
    deadline: float  # on anyio's clock
    _last_progress: float = field(default=-1.0, repr=False)

    @classmethod
    def begin(cls, ctx: Context[Any, Any]) -> Call:
        """A call starting now, due within this server's cap."""
        state = state_of(ctx)
        return cls(state, ctx, anyio.current_time() + state.max_wait)

    @property
    def principal(self) -> str:
        """Who this call acts for (``current_principal``)."""
        return current_principal()

    def remaining(self) -> float:
        """Seconds left for waiting, keeping the result-building reserve."""
        return max(0.0, self.deadline - anyio.current_time() - RESULT_RESERVE_SECONDS)

    async def wait_budget(self, requested: int) -> tuple[float, int | None]:
        """How long this call may wait for ``requested`` seconds, and the cap when it had to shorten it (which
        the client is also told in a log message)."""
        cap = self.state.max_wait
        if requested <= cap:
            return min(float(requested), self.remaining()), None
        await self.log(
            "notice", f"wait_seconds={requested} shortened to {cap}s, this server's cap (WAN_MAX_WAIT_SECONDS)"
        )
        return min(float(requested), self.remaining()), cap

    async def progress(self, percent: float, message: str) -> None:
        """A progress notification (only clients that sent a token get one).

        The spec wants every value larger than the last: the render maps to 0-95 of 100, and heartbeats and
        the download step nudge the value up by 0.01, never past 99.99 (the result itself says 'done').
        """
        await self._send(max(round(0.95 * min(max(percent, 0.0), 100.0), 2), self._last_progress + 0.01), message)

    async def heartbeat(self, message: str) -> None:
        """A keep-alive while slow work runs: the same progress, nudged up."""
        await self._send(max(0.0, self._last_progress + 0.01), message)

    async def _send(self, value: float, message: str) -> None:
        self._last_progress = min(round(value, 2), 99.99)
        await self.ctx.report_progress(self._last_progress, 100.0, message)

    async def log(self, level: types.LoggingLevel, message: str) -> None:
        """An MCP log message to this call's client, when its chosen level lets it through."""
        await self.state.client_log.send(self.ctx, level, message)

    def beat(self, message: str) -> Callable[[], Awaitable[None]]:
        """A heartbeat callback for background jobs, repeating ``message``."""

        async def send() -> None:
            await self.heartbeat(message)

        return send
