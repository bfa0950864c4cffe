"""Starting the real server as a stdio subprocess for end-to-end tests."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import mcp_types as types
from mcp.client.stdio import StdioServerParameters

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ServerRun:
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
    base_env = {
        "WAN_MCP_DATA_DIR": str(data_dir),
        "WAN_POLL_MIN_SECONDS": "0.2",
        "WAN_POLL_MAX_SECONDS": "1",
        "WAN_LOG_LEVEL": "DEBUG",
    }
    script = 'echo $$ > "$1"; exec "$0" -m server.cli serve 2>>"$2"'
    params = StdioServerParameters(
        command="sh",
        args=["-c", script, sys.executable, str(pidfile), str(logfile)],
        env=base_env | env,
        cwd=str(REPO),
    )
    return ServerRun(params, pidfile, logfile, data_dir)


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
