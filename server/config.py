"""Settings: one typed object built from the environment, overridable by CLI flags."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ProviderName = Literal["dashscope", "newapi", "yuto", "vtrix", "simulator"]
Region = Literal["intl", "us", "cn"]

APP_NAME = "wan-video-mcp"
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0)
DEFAULT_DEDUPE_WINDOW_SECONDS = 600.0
DEFAULT_POLL_MIN_SECONDS = 3.0
DEFAULT_POLL_MAX_SECONDS = 30.0
DEFAULT_POLL_QPS = 10.0  # DashScope allows 20 task queries/s per account; leave room for other clients
# No tool call lasts longer than this: the TypeScript SDK, which most hosts embed, times a request out after
# 60 s unless the host opted into resetTimeoutOnProgress. Hosts with longer limits may raise it.
DEFAULT_MAX_WAIT_SECONDS = 50
MAX_WAIT_SECONDS_LIMIT = 900
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


_PLACEHOLDER_KEYS = {"sk-your-model-studio-key", "sk-...", "your-api-key", "<your api key>"}


def _is_placeholder(value: str) -> bool:
    value = value.strip()
    return value.startswith(("${", "<", "{{")) or value.lower() in _PLACEHOLDER_KEYS


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
    max_wait_seconds: int = Field(DEFAULT_MAX_WAIT_SECONDS, ge=5, le=MAX_WAIT_SECONDS_LIMIT)
    key_note: str | None = None  # why the key variable was not taken as a key
    # How often a task whose submit outcome is unknown is looked for in the provider's task list.
    reconcile_interval_seconds: float = 10.0
    # Streamable HTTP sessions with no request for this long are closed (their memory freed).
    http_session_idle_seconds: float = Field(600.0, gt=0)
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
    def simulated(self) -> bool:
        return self.provider == "simulator"

    @property
    def key_configured(self) -> bool:
        return self.simulated or self.api_key is not None

    def endpoint_text(self) -> str:
        """Where requests go, for people: the region and its URL, or the gateway's base URL."""
        if self.simulated:
            return "in-process simulator on 127.0.0.1 (nothing leaves this machine)"
        if self.provider == "dashscope":
            from wan_video_mcp.server.errors import WanError
            from wan_video_mcp.server.providers.dashscope import base_url_for

            try:
                url = base_url_for(self.region, self.workspace_id, self.base_url)
            except WanError as exc:
                return f"unusable endpoint: {exc.message}"
            return url if self.base_url else f"region {self.region} ({url})"
        return self.base_url or "no base URL (set WAN_BASE_URL)"

    def describe(self) -> str:
        """One line saying what is configured, for stderr at start-up; never the key itself."""
        if self.simulated:
            key = "not needed"
        elif self.api_key is not None:
            key = f"{self.key_env_name} present"
        else:
            why = f" ({self.key_note})" if self.key_note else ""
            key = f"MISSING{why}: set {self.key_env_name} in the env of this server's client configuration"
        return (
            f"{APP_NAME}: provider {self.provider}, {self.endpoint_text()}; data {self.data_dir}; key {key}; "
            f"{'SIMULATED results' if self.simulated else 'real, billed results'}; waits capped at "
            f"{self.max_wait_seconds}s"
        )

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
        """Build settings from environment variables; keyword overrides (CLI flags) win.

        Empty values and unexpanded placeholders (a host that passed "${VAR}" through) count as unset.
        A value that does not parse raises ``SettingsError`` naming the variable.
        """
        raw_env = os.environ if env is None else env
        env = {k: v.strip() for k, v in raw_env.items() if v.strip() and not v.strip().startswith("${")}
        provider = (env.get("WAN_PROVIDER") or "dashscope").lower()
        values: dict[str, object] = {"provider": provider}
        key_var = "DASHSCOPE_API_KEY" if provider in ("dashscope", "simulator") else "WAN_API_KEY"
        if provider == "dashscope":
            key = env.get("DASHSCOPE_API_KEY") or env.get("WAN_API_KEY")
            base_url = env.get("DASHSCOPE_BASE_URL") or env.get("WAN_BASE_URL")
        else:
            key = env.get("WAN_API_KEY") or (env.get("DASHSCOPE_API_KEY") if provider == "simulator" else None)
            base_url = env.get("WAN_BASE_URL")
        raw_key = (raw_env.get(key_var) or "").strip()
        if key and _is_placeholder(key):
            # A template pasted as is: no key, and said so.
            values["key_note"] = f"it holds the placeholder {key[:40]!r}, not a key"
        elif key:
            values["api_key"] = SecretStr(key)
        elif raw_key.startswith("${"):
            values["key_note"] = f"the client passed {raw_key[:40]!r} through without filling it in"
        if base_url:
            values["base_url"] = base_url
        for var, name in ENV_VARS.items():
            if var in env:
                values[name] = env[var].lower() if name == "region" else env[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(exc) from None


# Settings read from one environment variable each (the provider, key and base URL are read above).
ENV_VARS = {
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
    "WAN_MAX_WAIT_SECONDS": "max_wait_seconds",
    "WAN_HTTP_TIMEOUT_SECONDS": "http_timeout_seconds",
    "WAN_HTTP_SESSION_IDLE_SECONDS": "http_session_idle_seconds",
    "WAN_SIM_QUEUE_SECONDS": "sim_queue_seconds",
    "WAN_SIM_RUN_SECONDS": "sim_run_seconds",
}
_VAR_OF = {name: var for var, name in ENV_VARS.items()} | {"provider": "WAN_PROVIDER", "base_url": "WAN_BASE_URL"}


class SettingsError(ValueError):
    """Settings that do not parse, each problem named by its environment variable."""

    def __init__(self, error: ValidationError) -> None:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "settings"
            value = item.get("input")
            shown = "" if name == "api_key" else f"={value!r}"
            problems.append(f"{_VAR_OF.get(name, name)}{shown}: {item['msg']}")
        super().__init__("invalid settings: " + "; ".join(problems))
