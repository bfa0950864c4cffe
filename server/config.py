"""Settings: one typed object built from the environment, overridable by CLI flags."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ProviderName = Literal["dashscope", "newapi", "yuto", "vtrix", "simulator"]
Region = Literal["intl", "us", "cn"]

APP_NAME = "wan-video-mcp"
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0)
DEFAULT_DEDUPE_WINDOW_SECONDS = 600.0
DEFAULT_POLL_MIN_SECONDS = 3.0
DEFAULT_POLL_MAX_SECONDS = 30.0
DEFAULT_POLL_QPS = 10.0  # DashScope allows 20 task queries/s per account; leave room for other clients
SIMULATOR_API_KEY = "sk-simulator"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The platform's per-user data directory for this app."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / APP_NAME


class Settings(BaseModel):
    """Everything the server is configured with. The API key is a secret and never printed."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName = "dashscope"
    api_key: SecretStr | None = None
    region: Region = "intl"
    base_url: str | None = None
    workspace_id: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    dedupe_window_seconds: float = DEFAULT_DEDUPE_WINDOW_SECONDS
    max_cost_per_task_usd: float | None = None
    max_cost_per_day_usd: float | None = None
    auto_download: bool = True
    poll_min_seconds: float = DEFAULT_POLL_MIN_SECONDS
    poll_max_seconds: float = DEFAULT_POLL_MAX_SECONDS
    poll_qps: float = DEFAULT_POLL_QPS
    # How long a task whose submit outcome is unknown may stay unlisted before it counts as never created.
    reconcile_grace_seconds: float = 60.0
    # Read timeout for provider calls: a submit that hangs this long becomes "outcome unknown" (reconciled).
    http_timeout_seconds: float = 60.0
    # First delay of retry backoff (submits refused with 429/5xx, failed polls, failed downloads).
    retry_base_seconds: float = 1.0
    # Simulator (provider=simulator): how long a simulated task queues and renders.
    sim_queue_seconds: float = 2.0
    sim_run_seconds: float = 20.0

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def key_env_name(self) -> str:
        return "DASHSCOPE_API_KEY" if self.provider == "dashscope" else "WAN_API_KEY"

    @property
    def http_timeout(self) -> httpx.Timeout:
        seconds = self.http_timeout_seconds
        return httpx.Timeout(connect=min(10.0, seconds), read=seconds, write=30.0, pool=10.0)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tasks.sqlite3"

    @property
    def video_dir(self) -> Path:
        return self.data_dir / "videos"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables; keyword overrides (CLI flags) win."""
        env = os.environ if env is None else env
        provider = (env.get("WAN_PROVIDER") or "dashscope").strip().lower()
        values: dict[str, object] = {"provider": provider}
        if provider == "dashscope":
            key = env.get("DASHSCOPE_API_KEY") or env.get("WAN_API_KEY")
            base_url = env.get("DASHSCOPE_BASE_URL") or env.get("WAN_BASE_URL")
        else:
            key = env.get("WAN_API_KEY") or (env.get("DASHSCOPE_API_KEY") if provider == "simulator" else None)
            base_url = env.get("WAN_BASE_URL")
        if key:
            values["api_key"] = SecretStr(key.strip())
        if base_url:
            values["base_url"] = base_url.strip()
        simple = {
            "DASHSCOPE_REGION": "region",
            "DASHSCOPE_WORKSPACE_ID": "workspace_id",
            "WAN_MCP_DATA_DIR": "data_dir",
            "WAN_DEDUPE_WINDOW_SECONDS": "dedupe_window_seconds",
            "WAN_MAX_COST_PER_TASK": "max_cost_per_task_usd",
            "WAN_MAX_COST_PER_DAY": "max_cost_per_day_usd",
            "WAN_AUTO_DOWNLOAD": "auto_download",
            "WAN_POLL_MIN_SECONDS": "poll_min_seconds",
            "WAN_POLL_MAX_SECONDS": "poll_max_seconds",
            "WAN_POLL_QPS": "poll_qps",
            "WAN_HTTP_TIMEOUT_SECONDS": "http_timeout_seconds",
            "WAN_SIM_QUEUE_SECONDS": "sim_queue_seconds",
            "WAN_SIM_RUN_SECONDS": "sim_run_seconds",
        }
        for var, name in simple.items():
            raw = env.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip().lower() if name == "region" else raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
