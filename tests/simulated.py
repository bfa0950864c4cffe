"""The simulator on loopback for end-to-end tests, and the environment that points a server under test at it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

# Renders of a second or two are seen within a poll or two, not the production 3-30 s.
FAST_POLLING = {"WAN_POLL_MIN_SECONDS": "0.2", "WAN_POLL_MAX_SECONDS": "1"}


@asynccontextmanager
async def simulator(**config: Any) -> AsyncIterator[Simulator]:
    """The DashScope simulator as a real HTTP server on 127.0.0.1, rendering in 1.8 s unless told otherwise."""
    values: dict[str, Any] = dict(queue_seconds=0.3, run_seconds=1.5, jitter=0.0, fps=8)
    async with Simulator(SimulatorConfig(**(values | config))) as sim:
        yield sim


def sim_env(sim: Simulator, key: str = "sk-test") -> dict[str, str]:
    """A server's environment for the DashScope provider at the simulator's address."""
    return {"WAN_PROVIDER": "dashscope", "DASHSCOPE_BASE_URL": sim.base_url, "DASHSCOPE_API_KEY": key}


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
