"""The real server in this process, driven by the SDK's in-memory client: tool behaviour without a subprocess.

The server is built from an environment exactly as ``serve`` builds it (``Settings.from_env``), so a test reads
like its stdio twin; only the transport differs. Tests of the transport itself live in test_e2e.py over stdio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client

from tests.simulated import FAST_POLLING
from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.config import Settings


def settings_for(tmp_path: Path, env: Mapping[str, str], **overrides: object) -> Settings:
    """Settings from ``env`` (and ``overrides``, as CLI flags would), with the data directory in
    ``tmp_path / "data"`` and fast polling."""
    return Settings.from_env({"WAN_MCP_DATA_DIR": str(tmp_path / "data")} | FAST_POLLING | dict(env), **overrides)


@asynccontextmanager
async def in_memory(tmp_path: Path, env: Mapping[str, str], **overrides: object) -> AsyncIterator[Client]:
    """A connected client of a server configured by ``env`` and ``overrides`` (see ``settings_for``)."""
    async with Client(build_server(settings_for(tmp_path, env, **overrides))) as client:
        yield client
