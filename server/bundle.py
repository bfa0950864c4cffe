"""``wan-video-mcp bundle``: an MCP Bundle (.mcpb) that installs this server in Claude Desktop.

A bundle is a zip holding ``manifest.json`` (MCPB manifest 0.3, the newest the
published validator ``@anthropic-ai/mcpb`` 2.1.2 accepts for a Python server;
it rejects "1.0") and the entry point. Claude Desktop asks for the settings in
``user_config`` when the bundle is installed and keeps the API key, marked
``sensitive``, in the OS keychain; it substitutes them into ``mcp_config``.

This bundle runs the server from the installation that built it (its Python, by
absolute path): compiled dependencies such as pydantic-core and PyAV cannot be
shipped portably inside a bundle (the MCPB README says as much), so a bundle is
built per machine and rebuilt after the installation moves.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import anyio

from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.jobs.downloads import write_atomically

MANIFEST_VERSION = "0.3"
ENTRY_POINT = "server/main.py"
PLATFORMS = {"darwin": "darwin", "win32": "win32", "linux": "linux"}

LAUNCHER = '''"""Claude Desktop starts this with the Python of the wan-video-mcp installation that built the bundle."""

import sys

try:
    from wan_video_mcp.server.cli import main
except ImportError as exc:
    sys.stderr.write(f"wan-video-mcp is no longer installed for {sys.executable} ({exc}); reinstall it there or "
                     "build the bundle again with `wan-video-mcp bundle`\\n")
    sys.exit(1)

sys.exit(main(["serve"]))
'''


def user_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """What Claude Desktop asks for at install: the key (kept in the keychain), region or base URL, data folder."""
    config: dict[str, dict[str, Any]] = {}
    if not settings.simulated:
        whose = "Alibaba Model Studio (DashScope)" if settings.provider == "dashscope" else "gateway"
        config["api_key"] = {
            "type": "string",
            "title": "API key",
            "sensitive": True,
            "required": True,
            "description": f"Your {whose} API key. Kept in the system keychain; the server never prints it.",
        }
    if settings.provider == "dashscope":
        config["region"] = {
            "type": "string",
            "title": "Region",
            "required": False,
            "default": settings.region,
            "description": "intl (Singapore), us (Virginia), cn (Beijing), or with a workspace id eu (Frankfurt), "
            "jp (Tokyo), hk (Hong Kong): the region your key belongs to.",
        }
    elif not settings.simulated:
        config["base_url"] = {
            "type": "string",
            "title": "Gateway URL",
            "required": True,
            "default": settings.base_url or "",
            "description": "The root URL of the gateway that serves the Wan models.",
        }
    config["data_dir"] = {
        "type": "directory",
        "title": "Data folder",
        "required": False,
        "description": "Where tasks and videos are kept. Empty: the platform's per-user data folder.",
    }
    return config


def manifest(settings: Settings, tools: list[dict[str, str]], version: str) -> dict[str, Any]:
    """The bundle's manifest.json."""
    env = {
        "WAN_PROVIDER": settings.provider,
        "WAN_MCP_DATA_DIR": "${user_config.data_dir}",
        "WAN_MAX_WAIT_SECONDS": str(settings.max_wait_seconds),
    }
    if not settings.simulated:
        env[settings.key_env_name] = "${user_config.api_key}"
    if settings.provider == "dashscope":
        env["DASHSCOPE_REGION"] = "${user_config.region}"
    elif not settings.simulated:
        env["WAN_BASE_URL"] = "${user_config.base_url}"
    platform = PLATFORMS.get(sys.platform)
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": "wan-video-mcp",
        "display_name": "Wan video" + (" (simulator)" if settings.simulated else ""),
        "version": version,
        "description": "Generate videos with Alibaba's Wan models: checked before paying, paid once, never lost.",
        "long_description": "Requests are validated against each model's rules before anything is paid; every "
        "task is recorded before the paid call, submitted once, polled in the background, and its video "
        "downloaded and verified before the provider's URL expires.",
        "author": {"name": "wan-video-mcp"},
        "server": {
            "type": "python",
            "entry_point": ENTRY_POINT,
            "mcp_config": {
                "command": str(Path(sys.executable).absolute()),
                "args": ["${__dirname}/" + ENTRY_POINT],
                "env": env,
            },
        },
        "tools": tools,
        "prompts_generated": True,
        "keywords": ["video", "wan", "alibaba", "dashscope", "generation"],
        "license": "MIT",
        "compatibility": {
            **({"platforms": [platform]} if platform else {}),
            "runtimes": {"python": f">={sys.version_info.major}.{sys.version_info.minor}"},
        },
        "user_config": user_config(settings),
    }


async def _tools(settings: Settings) -> list[dict[str, str]]:
    from wan_video_mcp.server.app import build_server

    return [{"name": t.name, "description": t.description or ""} for t in await build_server(settings).list_tools()]


def build(settings: Settings, out: Path) -> dict[str, Any]:
    """Write the bundle to ``out``; returns its manifest."""
    from wan_video_mcp.server.app import version

    document = manifest(settings, anyio.run(_tools, settings), version())
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.json", json.dumps(document, indent=2) + "\n")
        bundle.writestr(ENTRY_POINT, LAUNCHER)
    write_atomically(out, packed.getvalue())
    return document
