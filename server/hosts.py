"""``wan-video-mcp config --client X [--write]``: this installation's entry in a host's MCP configuration.

Hosts start stdio servers with a bare environment and often without the shell's
PATH, so the entry names the installed executable by absolute path and carries
the provider settings in ``env``. The API key is never printed. Where a host can
refer to a secret instead of holding it (Claude Code ``${VAR:-}``, Cursor
``${env:VAR}``, a VS Code password input), the entry refers to it; Claude Desktop
has no such syntax, so ``--write`` copies the key from this shell's environment
into its configuration file (or a placeholder when there is none), and the MCPB
bundle (``wan-video-mcp bundle``) keeps it in the OS keychain instead.

Sources (read 2026-12): modelcontextprotocol.io/docs/develop/connect-local-servers (Claude Desktop),
code.claude.com/docs/en/mcp (Claude Code), cursor.com/docs/context/mcp (Cursor),
code.visualstudio.com/docs/agents/reference/mcp-configuration (VS Code).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.jobs.downloads import write_atomically
from wan_video_mcp.server.providers.registry import provider_entry

HOSTS = ("claude-desktop", "claude-code", "cursor", "vscode")
Scope = Literal["user", "project"]
SERVER_NAME = "wan-video"
KEY_PLACEHOLDER = "<your API key>"
VSCODE_KEY_INPUT = "wan-video-api-key"


def executable() -> list[str]:
    """How to start this installation's server: the console script beside this Python, by absolute path."""
    argv0 = Path(sys.argv[0])
    if argv0.name in ("wan-video-mcp", "wan-video-mcp.exe") and argv0.exists():
        return [str(argv0.absolute())]
    bindir = Path(sys.executable).absolute().parent  # not resolved: a venv's python is a symlink
    for name in ("wan-video-mcp", "wan-video-mcp.exe"):
        if (bindir / name).exists():
            return [str(bindir / name)]
    return [str(Path(sys.executable).absolute()), "-m", "wan_video_mcp.server.cli"]


def config_path(
    host: str,
    scope: Scope = "user",
    *,
    home: Path | None = None,
    cwd: Path | None = None,
    platform: str = sys.platform,
    env: dict[str, str] | None = None,
) -> Path:
    """The file a host reads its MCP servers from, for this operating system."""
    home = home or Path.home()
    cwd = cwd or Path.cwd()
    env = dict(os.environ) if env is None else env
    appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    if host == "claude-desktop":  # one file; Linux has only community builds, which use XDG
        if platform == "darwin":
            return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
        return (appdata if platform == "win32" else xdg) / "Claude" / "claude_desktop_config.json"
    if host == "claude-code":
        return cwd / ".mcp.json" if scope == "project" else home / ".claude.json"
    if host == "cursor":
        return (cwd if scope == "project" else home) / ".cursor" / "mcp.json"
    if host == "vscode":
        if scope == "project":
            return cwd / ".vscode" / "mcp.json"
        if platform == "darwin":
            return home / "Library" / "Application Support" / "Code" / "User" / "mcp.json"
        return (appdata if platform == "win32" else xdg) / "Code" / "User" / "mcp.json"
    raise ValueError(f"unknown client '{host}'; choose one of: {', '.join(HOSTS)}")


@dataclass(frozen=True)
class HostEntry:
    """A server entry for one host, and what the host's file keeps it under."""

    host: str
    servers_key: str  # "mcpServers", or "servers" for VS Code
    name: str
    entry: dict[str, Any]
    inputs: list[dict[str, Any]]  # VS Code's prompted secrets
    key_note: str  # what happened to the API key, for the person

    def document(self) -> dict[str, Any]:
        """The entry as a complete configuration file of its own."""
        doc: dict[str, Any] = {self.servers_key: {self.name: self.entry}}
        if self.inputs:
            doc["inputs"] = self.inputs
        return doc


def host_entry(
    host: str,
    settings: Settings,
    *,
    name: str = SERVER_NAME,
    literal_key: bool = False,
    command: list[str] | None = None,
) -> HostEntry:
    """The entry for ``host``; ``literal_key`` puts the configured key itself into it (Claude Desktop only)."""
    if host not in HOSTS:
        raise ValueError(f"unknown client '{host}'; choose one of: {', '.join(HOSTS)}")
    command = command or executable()
    env: dict[str, str] = {"WAN_PROVIDER": settings.provider}
    if settings.provider == "dashscope":
        env["DASHSCOPE_REGION"] = settings.region
        if settings.workspace_id:
            env["DASHSCOPE_WORKSPACE_ID"] = settings.workspace_id
    if settings.base_url:
        env[provider_entry(settings.provider).base_url_vars[0]] = settings.base_url
    env["WAN_MCP_DATA_DIR"] = str(settings.data_dir)
    inputs: list[dict[str, Any]] = []
    var = settings.key_env_name
    if settings.simulated:
        note = "The simulator needs no API key."
    elif host == "claude-code":
        env[var] = f"${{{var}:-}}"
        note = f"Claude Code fills in {var} from the environment it was started in."
    elif host == "cursor":
        env[var] = f"${{env:{var}}}"
        note = f"Cursor fills in {var} from its environment (start Cursor from a shell that has it)."
    elif host == "vscode":
        env[var] = f"${{input:{VSCODE_KEY_INPUT}}}"
        inputs = [
            {
                "type": "promptString",
                "id": VSCODE_KEY_INPUT,
                "password": True,
                "description": f"API key for wan-video-mcp ({var})",
            }
        ]
        note = "VS Code asks for the key once and keeps it in its secret storage."
    elif literal_key and settings.api_key is not None:
        env[var] = settings.api_key.get_secret_value()
        note = f"The key from {var} in this shell was written into the file (Claude Desktop cannot refer to it)."
    else:
        env[var] = KEY_PLACEHOLDER
        note = (
            f"Replace {KEY_PLACEHOLDER} with your key, or run with --write and {var} set, or use "
            "`wan-video-mcp bundle` to keep the key in the OS keychain."
        )
    entry: dict[str, Any] = {"command": command[0], "args": [*command[1:], "serve"], "env": env}
    if host in ("claude-code", "cursor", "vscode"):
        entry = {"type": "stdio", **entry}
    return HostEntry(host, "servers" if host == "vscode" else "mcpServers", name, entry, inputs, note)


class ConfigFileError(ValueError):
    """A host's configuration file we must not touch (unreadable, or not the JSON object it should be)."""


def merge_into(path: Path, entry: HostEntry) -> Path | None:
    """Merge ``entry`` into the host's file, keeping everything else; returns the backup made, if any."""
    document: dict[str, Any] = {}
    backup = None
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if text.strip():
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigFileError(
                    f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix or move it "
                    "first, nothing was changed"
                ) from exc
            if not isinstance(document, dict):
                raise ConfigFileError(
                    f"{path} holds a JSON {type(document).__name__}, not an object; nothing was changed"
                )
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        counter = 1
        while backup.exists():
            counter += 1
            backup = path.with_name(f"{path.name}.bak-{stamp}-{counter}")
        shutil.copy2(path, backup)
    servers = document.setdefault(entry.servers_key, {})
    if not isinstance(servers, dict):
        raise ConfigFileError(f"{path}: '{entry.servers_key}' is not an object; nothing was changed")
    servers[entry.name] = entry.entry
    if entry.inputs:
        inputs = [i for i in document.get("inputs", []) if i.get("id") not in {n["id"] for n in entry.inputs}]
        document["inputs"] = inputs + entry.inputs
    # It may hold a key: a new file is private; an existing one keeps its permissions.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode(), mode)
    return backup
