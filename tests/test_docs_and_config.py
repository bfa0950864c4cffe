"""The README stays true to the code, and settings come from the environment as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wan_video_mcp.server.catalog import markdown_table
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.hosts import host_entry

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_the_readme_model_table_is_the_one_generated_from_the_catalog():
    table = README.split("<!-- model-table -->\n", 1)[1].split("<!-- /model-table -->", 1)[0].strip()
    assert table == markdown_table()


def test_the_readme_starts_with_the_demo_and_the_test_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert blocks[0].endswith("wan-video-mcp demo") and blocks[1].endswith("-m pytest")
    assert README.index(blocks[0]) < README.index(blocks[1]) < README.index("## What it is")


def test_every_documented_setting_is_read_from_the_environment():
    env = {
        "WAN_PROVIDER": "newapi",
        "WAN_API_KEY": "sk-gw",
        "WAN_BASE_URL": "https://gw.test/",
        "WAN_MCP_DATA_DIR": "/tmp/wan-x",
        "WAN_DEDUPE_WINDOW_SECONDS": "30",
        "WAN_MAX_COST_PER_TASK": "1.5",
        "WAN_MAX_COST_PER_DAY": "20",
        "WAN_AUTO_DOWNLOAD": "false",
        "WAN_POLL_MIN_SECONDS": "2",
        "WAN_POLL_MAX_SECONDS": "20",
        "WAN_POLL_QPS": "5",
        "WAN_MAX_WAIT_SECONDS": "240",
    }
    settings = Settings.from_env(env)
    assert (settings.provider, settings.api_key.get_secret_value(), settings.base_url) == (
        "newapi",
        "sk-gw",
        "https://gw.test",
    )
    assert (settings.dedupe_window_seconds, settings.max_cost_per_task_usd, settings.max_cost_per_day_usd) == (
        30,
        1.5,
        20,
    )
    assert (settings.auto_download, settings.poll_min_seconds, settings.poll_max_seconds, settings.poll_qps) == (
        False,
        2,
        20,
        5,
    )
    assert settings.max_wait_seconds == 240
    for name in env:
        assert f"`{name}`" in README or name in README, name


def test_dashscope_settings_and_flags_override_the_environment():
    env = {"DASHSCOPE_API_KEY": "sk-ds", "DASHSCOPE_REGION": "CN", "DASHSCOPE_BASE_URL": "https://h/qwen/api/v1"}
    settings = Settings.from_env(env, region="us")
    assert settings.provider == "dashscope" and settings.region == "us"
    assert settings.api_key.get_secret_value() == "sk-ds" and settings.base_url == "https://h/qwen/api/v1"
    assert "sk-ds" not in repr(settings) and "sk-ds" not in str(settings.model_dump())


def test_an_unknown_provider_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="dashscope"):
        Settings.from_env({"WAN_PROVIDER": "openai"})


def test_mcp_json_holds_the_entries_config_writes_with_the_path_to_fill_in():
    document = json.loads((REPO / "mcp.json").read_text())["mcpServers"]
    command = ["/absolute/path/to/wan-video-mcp/.venv/bin/wan-video-mcp"]
    for name, provider in (("wan-video", "dashscope"), ("wan-video-offline", "simulator")):
        expected = host_entry("claude-desktop", Settings(provider=provider), command=command).entry
        expected["env"].pop("WAN_MCP_DATA_DIR")  # the platform's default, unless the user chooses one
        assert document[name] == expected, name
    assert document["wan-video-http"]["url"] == "http://127.0.0.1:8765/mcp"
    assert "/absolute/path/to/wan-video-mcp" in README and "config --client claude-desktop --write" in README
