"""`wan-video-mcp config` and `bundle`: host configurations and an MCP Bundle that really start the server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from tests.simulated import TOOL_NAMES
from tests.ts_clients import MCPB_CLI, MCPB_SCHEMAS, NODE22, node, run_plan
from wan_video_mcp.server.cli import main
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.hosts import HOSTS, config_path, host_entry

CANARY = "sk-canary-hosts-5d1e0c"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    for var in ("WAN_PROVIDER", "DASHSCOPE_API_KEY", "WAN_API_KEY", "WAN_MCP_DATA_DIR", "DASHSCOPE_REGION"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.mark.parametrize("host", HOSTS)
def test_the_printed_config_names_the_installed_executable_the_provider_and_the_key_variable_but_never_the_key(
    home, host, capsys, monkeypatch
):
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY)
    assert main(["config", "--client", host]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    servers = document["servers" if host == "vscode" else "mcpServers"]
    entry = servers["wan-video"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    assert entry["env"]["WAN_PROVIDER"] == "dashscope" and "DASHSCOPE_API_KEY" in entry["env"]
    assert CANARY not in out + err
    if host == "vscode":
        assert entry["env"]["DASHSCOPE_API_KEY"] == "${input:wan-video-api-key}"
        assert document["inputs"][0]["password"] is True


def test_config_paths_follow_each_host_s_documented_location(tmp_path):
    home, cwd = tmp_path / "h", tmp_path / "p"
    where = {
        (host, scope, platform): config_path(host, scope, home=home, cwd=cwd, platform=platform, env={})
        for host in HOSTS
        for scope in ("user", "project")
        for platform in ("darwin", "linux", "win32")
    }
    assert (
        where["claude-desktop", "user", "darwin"]
        == home / "Library/Application Support/Claude/claude_desktop_config.json"
    )
    assert where["claude-desktop", "user", "win32"] == home / "AppData/Roaming/Claude/claude_desktop_config.json"
    assert where["claude-code", "user", "linux"] == home / ".claude.json"
    assert where["claude-code", "project", "linux"] == cwd / ".mcp.json"
    assert where["cursor", "user", "darwin"] == home / ".cursor/mcp.json"
    assert where["cursor", "project", "win32"] == cwd / ".cursor/mcp.json"
    assert where["vscode", "user", "linux"] == home / ".config/Code/User/mcp.json"
    assert where["vscode", "project", "darwin"] == cwd / ".vscode/mcp.json"


def test_write_merges_into_the_host_file_keeping_its_servers_and_settings_with_a_backup(home, capsys, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY)
    path = config_path("claude-desktop")
    path.parent.mkdir(parents=True)
    original = {"mcpServers": {"other": {"command": "/bin/other"}}, "preferences": {"theme": "dark"}}
    path.write_text(json.dumps(original))
    assert main(["config", "--client", "claude-desktop", "--write"]) == 0
    out, err = capsys.readouterr()
    written = json.loads(path.read_text())
    assert written["mcpServers"]["other"] == {"command": "/bin/other"}
    assert written["preferences"] == {"theme": "dark"}
    # Claude Desktop cannot refer to a variable: the key from this shell goes into its file, and only there.
    assert written["mcpServers"]["wan-video"]["env"]["DASHSCOPE_API_KEY"] == CANARY
    [backup] = path.parent.glob("claude_desktop_config.json.bak-*")
    assert json.loads(backup.read_text()) == original
    assert CANARY not in out + err and str(path) in out


def test_write_creates_a_private_file_and_refuses_to_touch_one_that_is_not_json(home, capsys):
    path = config_path("cursor")
    assert main(["config", "--client", "cursor", "--write"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (
        json.loads(path.read_text())["mcpServers"]["wan-video"]["env"]["DASHSCOPE_API_KEY"]
        == "${env:DASHSCOPE_API_KEY}"
    )
    path.write_text("{ not json")
    assert main(["config", "--client", "cursor", "--write"]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert path.read_text() == "{ not json"


def test_vscode_write_adds_the_server_and_its_password_input_once(home):
    assert main(["config", "--client", "vscode", "--write", "--scope", "project"]) == 0
    assert main(["config", "--client", "vscode", "--write", "--scope", "project"]) == 0
    written = json.loads(config_path("vscode", "project").read_text())
    assert written["servers"]["wan-video"]["type"] == "stdio"
    assert [i["id"] for i in written["inputs"]] == ["wan-video-api-key"]


def test_a_host_that_passes_a_variable_through_unexpanded_gets_no_key_and_is_told_why():
    settings = Settings.from_env({"DASHSCOPE_API_KEY": "${DASHSCOPE_API_KEY:-}"})
    assert settings.api_key is None and "without filling it in" in settings.describe()
    placeholder = Settings.from_env(
        {"DASHSCOPE_API_KEY": host_entry("claude-desktop", Settings(), command=["x"]).entry["env"]["DASHSCOPE_API_KEY"]}
    )
    assert placeholder.api_key is None and "placeholder" in placeholder.describe()


@pytest.mark.anyio
@pytest.mark.e2e
async def test_the_command_config_writes_for_claude_desktop_starts_in_a_typescript_client(home, tmp_path):
    node()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "wan-video-mcp"),
            "config",
            "--client",
            "claude-desktop",
            "--provider",
            "simulator",
            "--data-dir",
            str(tmp_path / "data"),
            "--write",
        ],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    entry = json.loads(config_path("claude-desktop").read_text())["mcpServers"]["wan-video"]
    # Exactly what the host would spawn: the command, its args and its env (the transport adds HOME, PATH ...).
    server = {"command": entry["command"], "args": entry["args"], "env": entry["env"]}
    report = await run_plan(
        "v1",
        server,
        [{"op": "list"}, {"op": "call", "name": "generate_video", "arguments": {"prompt": "x", "dry_run": True}}],
    )
    assert [t["name"] for t in report["steps"][0]["tools"]] == list(TOOL_NAMES)
    assert report["steps"][1]["structuredContent"]["status"] == "dry_run"
    assert "provider simulator" in report["stderr"]


def _bundle(tmp_path: Path, home: Path, *args: str) -> tuple[Path, dict]:
    out = tmp_path / "wan.mcpb"
    done = subprocess.run(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "bundle", "--out", str(out), *args],
        cwd=REPO,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"Wrote {out}" in done.stdout
    with zipfile.ZipFile(out) as bundle:
        return out, json.loads(bundle.read("manifest.json"))


def test_the_bundle_manifest_validates_against_the_published_mcpb_schema(tmp_path, home):
    node()
    _, manifest = _bundle(tmp_path, home)
    schema = json.loads((MCPB_SCHEMAS / f"mcpb-manifest-v{manifest['manifest_version']}.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(manifest)
    assert manifest["user_config"]["api_key"]["sensitive"] is True
    assert {"api_key", "region", "data_dir"} <= set(manifest["user_config"])
    assert manifest["server"]["mcp_config"]["env"]["DASHSCOPE_API_KEY"] == "${user_config.api_key}"


@pytest.mark.anyio
@pytest.mark.e2e
async def test_the_bundle_passes_the_mcpb_cli_and_serves_tools_as_claude_desktop_would_start_it(tmp_path, home):
    node()
    out, manifest = _bundle(tmp_path, home, "--provider", "simulator")
    checked = subprocess.run([str(NODE22), str(MCPB_CLI), "info", str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    unpacked = tmp_path / "installed"
    with zipfile.ZipFile(out) as bundle:
        bundle.extractall(unpacked)
    validated = subprocess.run(
        [str(NODE22), str(MCPB_CLI), "validate", str(unpacked / "manifest.json")], capture_output=True, text=True
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    # What Claude Desktop does at start: substitute ${__dirname} and the user's answers into mcp_config.
    answers = {"data_dir": str(tmp_path / "data")}

    def fill(text: str) -> str:
        text = text.replace("${__dirname}", str(unpacked))
        for key, value in answers.items():
            text = text.replace("${user_config." + key + "}", value)
        return text

    config = manifest["server"]["mcp_config"]
    server = {
        "command": config["command"],
        "args": [fill(a) for a in config["args"]],
        "env": {k: fill(v) for k, v in config["env"].items()},
    }
    report = await run_plan("v1", server, [{"op": "list"}])
    assert len(report["steps"][0]["tools"]) == len(TOOL_NAMES)
    assert str(tmp_path / "data") in report["stderr"]
