"""The simulator on loopback for end-to-end tests, and the environment that points a server under test at it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from pydantic import SecretStr

from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

# Renders of a second or two are seen within a poll or two, not the production 3-30 s.
FAST_POLLING = {"WAN_POLL_MIN_SECONDS": "0.2", "WAN_POLL_MAX_SECONDS": "1"}
# The server's tools, in the order tools/list gives them.
TOOL_NAMES = (
    "generate_video",
    "check_task",
    "fetch_video",
    "list_tasks",
    "cancel_task",
    "extend_video",
    "generate_storyboard",
)


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


# A simulated render of about a second with the small fixed MP4, and polling fast enough to see it at once.
QUICK_RENDER: dict[str, Any] = dict(queue_seconds=0.2, run_seconds=0.8, jitter=0.0, fps=8, renderer="fallback")
QUICK_POLLING: dict[str, Any] = dict(poll_min_seconds=0.1, poll_max_seconds=0.5, retry_base_seconds=0.05)


@asynccontextmanager
async def served(
    tmp_path: Path, settings: dict[str, Any] | None = None, **sim_config: Any
) -> AsyncIterator[tuple[Client, Simulator, Settings]]:
    """The real server in memory (the SDK's client), on the DashScope provider at a simulator on 127.0.0.1.

    ``settings`` override ``QUICK_POLLING`` and the rest of the server's settings; ``sim_config`` overrides
    ``QUICK_RENDER``.
    """
    async with Simulator(SimulatorConfig(**(QUICK_RENDER | sim_config))) as sim:
        config = Settings(
            provider="dashscope",
            api_key=SecretStr("sk-test"),
            base_url=sim.base_url,
            data_dir=tmp_path,
            **(QUICK_POLLING | (settings or {})),
        )
        async with Client(build_server(config)) as client:
            yield client, sim, config
