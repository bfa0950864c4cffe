"""Starting the real server as a stdio subprocess for end-to-end tests."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import mcp_types as types
from mcp.client.stdio import StdioServerParameters

from tests.simulated import FAST_POLLING

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ServerRun:
    """A stdio server to start: its parameters, and where its pid, log and data go."""

    params: StdioServerParameters
    pidfile: Path
    logfile: Path
    data_dir: Path

    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())


def server_run(tmp_path: Path, env: dict[str, str], name: str = "server") -> ServerRun:
    """A stdio server command whose stderr goes to a file and whose pid is recorded (for kill -9)."""
    data_dir = tmp_path / "data"
    pidfile, logfile = tmp_path / f"{name}.pid", tmp_path / f"{name}.log"
    base_env = {"WAN_MCP_DATA_DIR": str(data_dir), "WAN_LOG_LEVEL": "DEBUG"} | FAST_POLLING
    script = 'echo $$ > "$1"; exec "$0" -m wan_video_mcp.server.cli serve 2>>"$2"'
    params = StdioServerParameters(
        command="sh",
        args=["-c", script, sys.executable, str(pidfile), str(logfile)],
        env=base_env | env,
        cwd=str(REPO),
    )
    return ServerRun(params, pidfile, logfile, data_dir)


def text_of(result: types.CallToolResult) -> str:
    """A result's text content, joined."""
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
