"""Settings: one typed object built from the environment, overridable by CLI flags.

Each field names the environment variable it is read from (``validation_alias``);
the API key and base URL are read from the variables the provider's registry entry
names. ``Settings(...)`` itself reads nothing from the environment, so code and
tests get exactly what they pass; ``Settings.from_env()`` is where the environment
comes in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from wan_video_mcp.server.providers.registry import PROVIDERS, REGION_ALIASES, ProviderName, Region, provider_entry

__all__ = [
    "APP_NAME",
    "DEFAULT_DEDUPE_WINDOW_SECONDS",
    "DEFAULT_MAX_WAIT_SECONDS",
    "DEFAULT_POLL_MAX_SECONDS",
    "DEFAULT_POLL_MIN_SECONDS",
    "DEFAULT_POLL_QPS",
    "DEFAULT_SWEEP_MIN_TASKS",
    "DOWNLOAD_TIMEOUT",
    "MAX_WAIT_SECONDS_LIMIT",
    "ProviderName",
    "Region",
    "Settings",
    "SettingsError",
    "default_data_dir",
]

APP_NAME = "wan-video-mcp"
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0)
DEFAULT_PROVIDER: ProviderName = "dashscope"
DEFAULT_REGION: Region = "intl"
DEFAULT_DEDUPE_WINDOW_SECONDS = 600.0
DEFAULT_POLL_MIN_SECONDS = 3.0
DEFAULT_POLL_MAX_SECONDS = 30.0
DEFAULT_SWEEP_MIN_TASKS = 5
DEFAULT_POLL_QPS = 10.0  # DashScope allows 20 task queries/s per account; leave room for other clients
# No tool call lasts longer than this: the TypeScript SDK, which most hosts embed, times a request out after
# 60 s unless the host opted into resetTimeoutOnProgress. Hosts with longer limits may raise it.
DEFAULT_MAX_WAIT_SECONDS = 50
MAX_WAIT_SECONDS_LIMIT = 900
MIN_WAIT_SECONDS = 5
DEFAULT_RECONCILE_INTERVAL_SECONDS = 10.0
DEFAULT_HTTP_SESSION_IDLE_SECONDS = 600.0
DEFAULT_HTTP_TIMEOUT_SECONDS = 60.0
DEFAULT_RETRY_BASE_SECONDS = 1.0
DEFAULT_SIM_QUEUE_SECONDS = 2.0
DEFAULT_SIM_RUN_SECONDS = 20.0


def default_data_dir() -> Path:
    """The platform's per-user data directory for this app ($XDG_DATA_HOME or ~/.local/share on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


_PLACEHOLDER_KEYS = {"sk-your-model-studio-key", "sk-...", "your-api-key", "<your api key>"}


def _is_placeholder(value: str) -> bool:
    return value.startswith(("${", "<", "{{")) or value.lower() in _PLACEHOLDER_KEYS


def _unexpanded(value: str) -> bool:
    # A host that passed "${VAR}" through without filling it in.
    return value.startswith("${")


class Settings(BaseModel):
    """Everything the server is configured with. The API key is a secret and never printed."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", validate_default=True, validate_by_name=True, validate_by_alias=True
    )

    provider: ProviderName = Field(DEFAULT_PROVIDER, validation_alias="WAN_PROVIDER")
    api_key: SecretStr | None = None  # read from the provider's key_vars (registry)
    region: Region = Field(DEFAULT_REGION, validation_alias="DASHSCOPE_REGION")
    base_url: str | None = None  # read from the provider's base_url_vars (registry)
    workspace_id: str | None = Field(None, validation_alias="DASHSCOPE_WORKSPACE_ID")
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="WAN_MCP_DATA_DIR")
    # The folders whose files may be given as inputs (the data directory's own videos always may).
    media_roots: tuple[Path, ...] = Field((), validation_alias="WAN_MEDIA_ROOTS")
    dedupe_window_seconds: float = Field(DEFAULT_DEDUPE_WINDOW_SECONDS, validation_alias="WAN_DEDUPE_WINDOW_SECONDS")
    max_cost_per_task_usd: float | None = Field(None, validation_alias="WAN_MAX_COST_PER_TASK")
    max_cost_per_day_usd: float | None = Field(None, validation_alias="WAN_MAX_COST_PER_DAY")
    auto_download: bool = Field(True, validation_alias="WAN_AUTO_DOWNLOAD")
    poll_min_seconds: float = Field(DEFAULT_POLL_MIN_SECONDS, validation_alias="WAN_POLL_MIN_SECONDS")
    poll_max_seconds: float = Field(DEFAULT_POLL_MAX_SECONDS, validation_alias="WAN_POLL_MAX_SECONDS")
    poll_qps: float = Field(DEFAULT_POLL_QPS, validation_alias="WAN_POLL_QPS")
    # With this many tasks open, their ends are found by reading the provider's task list (jobs/sweep.py); 0: never.
    sweep_min_tasks: int = Field(DEFAULT_SWEEP_MIN_TASKS, ge=0, validation_alias="WAN_SWEEP_MIN_TASKS")
    max_wait_seconds: int = Field(
        DEFAULT_MAX_WAIT_SECONDS,
        ge=MIN_WAIT_SECONDS,
        le=MAX_WAIT_SECONDS_LIMIT,
        validation_alias="WAN_MAX_WAIT_SECONDS",
    )
    key_note: str | None = None  # why the key variable was not taken as a key
    # How often a task whose submit outcome is unknown is looked for in the provider's task list.
    reconcile_interval_seconds: float = DEFAULT_RECONCILE_INTERVAL_SECONDS
    # Streamable HTTP sessions with no request for this long are closed (their memory freed).
    http_session_idle_seconds: float = Field(
        DEFAULT_HTTP_SESSION_IDLE_SECONDS, gt=0, validation_alias="WAN_HTTP_SESSION_IDLE_SECONDS"
    )
    # Read timeout for provider calls: a submit that hangs this long becomes "outcome unknown" (reconciled).
    http_timeout_seconds: float = Field(DEFAULT_HTTP_TIMEOUT_SECONDS, validation_alias="WAN_HTTP_TIMEOUT_SECONDS")
    # First delay of retry backoff (submits refused with 429/5xx, failed polls, failed downloads).
    retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS
    # HTTP authentication (server/auth.py): static tokens by their hashes, and/or an OAuth 2.1 resource server.
    auth_tokens_file: Path | None = Field(None, validation_alias="WAN_AUTH_TOKENS_FILE")
    oauth_issuer: str | None = Field(None, validation_alias="WAN_OAUTH_ISSUER")
    oauth_introspection_url: str | None = Field(None, validation_alias="WAN_OAUTH_INTROSPECTION_URL")
    oauth_required_scopes: tuple[str, ...] = Field((), validation_alias="WAN_OAUTH_REQUIRED_SCOPES")
    oauth_client_id: str | None = Field(None, validation_alias="WAN_OAUTH_CLIENT_ID")
    oauth_client_secret: SecretStr | None = Field(None, validation_alias="WAN_OAUTH_CLIENT_SECRET")
    # This server's public URL (its /mcp endpoint), the resource tokens are issued for.
    public_url: str | None = Field(None, validation_alias="WAN_PUBLIC_URL")
    # Host and Origin headers accepted over HTTP besides loopback's (DNS rebinding protection stays on).
    allowed_hosts: tuple[str, ...] = Field((), validation_alias="WAN_ALLOWED_HOSTS")
    allowed_origins: tuple[str, ...] = Field((), validation_alias="WAN_ALLOWED_ORIGINS")
    # The task store: PostgreSQL at this URL (several replicas share it), else SQLite in the data directory. A secret:
    # the URL may hold a password.
    database_url: SecretStr | None = Field(None, validation_alias="WAN_DATABASE_URL")
    # At most this many tool calls a minute per principal (unset: no limit).
    rate_limit_per_minute: int | None = Field(None, ge=1, validation_alias="WAN_RATE_LIMIT_PER_MINUTE")
    # Simulator (provider=simulator): how long a simulated task queues and renders.
    sim_queue_seconds: float = Field(DEFAULT_SIM_QUEUE_SECONDS, validation_alias="WAN_SIM_QUEUE_SECONDS")
    sim_run_seconds: float = Field(DEFAULT_SIM_RUN_SECONDS, validation_alias="WAN_SIM_RUN_SECONDS")

    @field_validator("provider", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> Any:
        """Lower case; Alibaba's region ids and city names name our regions too."""
        if not isinstance(value, str):
            return value
        value = value.strip().lower()
        return REGION_ALIASES.get(value, value)

    @field_validator("media_roots", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        """A PATH-like list (':' between folders; ';' on Windows), empty entries skipped; each must be absolute."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(os.pathsep) if part.strip()]
        if isinstance(value, (list, tuple)):
            for part in value:
                if not Path(os.path.expanduser(str(part))).is_absolute():
                    raise ValueError(f"{str(part)!r} is not an absolute path")
            return tuple(Path(os.path.expanduser(str(part))) for part in value)
        return value

    @field_validator("oauth_required_scopes", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        """A list given as one string: words separated by commas or spaces."""
        return tuple(value.replace(",", " ").split()) if isinstance(value, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_only(cls, value: Any) -> Any:
        """Empty is unset; anything else must be a PostgreSQL URL (SQLite needs none: it is in the data directory)."""
        if isinstance(value, str):
            if not value.strip():
                return None
            scheme = value.split("://", 1)[0].lower() if "://" in value else ""
            if scheme not in ("postgresql", "postgres"):
                raise ValueError(
                    "WAN_DATABASE_URL must be a postgresql://user:password@host:port/database URL (leave it unset "
                    f"for the SQLite store in the data directory); its scheme is {scheme or 'missing'!r}"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def key_env_name(self) -> str:
        return provider_entry(self.provider).key_var

    @property
    def simulated(self) -> bool:
        return self.provider == "simulator"

    @property
    def regional(self) -> bool:
        """Whether the provider speaks DashScope's protocol, so the region narrows what it offers."""
        return provider_entry(self.provider).regional

    @property
    def key_configured(self) -> bool:
        return self.simulated or self.api_key is not None

    def endpoint_text(self) -> str:
        """Where requests go, for people: the region and its URL, or the gateway's base URL."""
        if self.simulated:
            return "in-process simulator on 127.0.0.1 (nothing leaves this machine)"
        if self.regional:
            from wan_video_mcp.server.errors import WanError
            from wan_video_mcp.server.providers.dashscope.regions import base_url_for

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
            f"{APP_NAME}: provider {self.provider}, {self.endpoint_text()}; data {self.data_dir}; "
            f"{'' if self.database_url is None else f'tasks in {self.store_text}; '}key {key}; "
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
    def store_text(self) -> str:
        """Where the task store is, for people (a PostgreSQL URL without its password)."""
        if self.database_url is None:
            return str(self.db_path)
        return redacted(self.database_url.get_secret_value())

    @property
    def video_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def input_dir(self) -> Path:
        """Where local inputs are copied as they were checked, so that what is uploaded is what was checked."""
        return self.data_dir / "inputs"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables; keyword overrides (CLI flags) win.

        Empty values and unexpanded placeholders (a host that passed "${VAR}" through) count as unset.
        A value that does not parse raises ``SettingsError`` naming the variable.
        """
        given = os.environ if env is None else env
        environment = _readable(given)
        values: dict[str, object] = {
            field: environment[var] for var, field in _FIELD_OF_VAR.items() if var in environment
        }
        values.update(_key_and_base_url(str(values.get("provider", DEFAULT_PROVIDER)).lower(), environment, given))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(exc) from None


def _readable(env: Mapping[str, str]) -> dict[str, str]:
    """The environment as the settings read it: values stripped, empty or unexpanded ones dropped."""
    return {k: v.strip() for k, v in env.items() if v.strip() and not _unexpanded(v.strip())}


def _key_and_base_url(provider: str, environment: Mapping[str, str], given: Mapping[str, str]) -> dict[str, object]:
    """The key (or why there is none) and base URL from the variables the provider reads them from."""
    entry = PROVIDERS.get(provider)
    if entry is None:
        return {}  # validation names the unknown provider
    values: dict[str, object] = {}
    key = next((environment[var] for var in entry.key_vars if environment.get(var)), None)
    base_url = next((environment[var] for var in entry.base_url_vars if environment.get(var)), None)
    raw_key = (given.get(entry.key_var) or "").strip()
    if key and _is_placeholder(key):
        # A template pasted as is: no key, and said so.
        values["key_note"] = f"it holds the placeholder {key[:40]!r}, not a key"
    elif key:
        values["api_key"] = SecretStr(key)
    elif _unexpanded(raw_key):
        values["key_note"] = f"the client passed {raw_key[:40]!r} through without filling it in"
    if base_url:
        values["base_url"] = base_url
    return values


# Field name for each variable and back; the key and base URL variables depend on the provider (registry).
_FIELD_OF_VAR = {
    str(field.validation_alias): name
    for name, field in Settings.model_fields.items()
    if isinstance(field.validation_alias, str)
}
_VAR_OF_FIELD = {name: var for var, name in _FIELD_OF_VAR.items()} | {"base_url": "WAN_BASE_URL"}


_SECRET_FIELDS = {"api_key", "database_url", "oauth_client_secret"}  # never echoed in an error


class SettingsError(ValueError):
    """Settings that do not parse, each problem named by its environment variable."""

    def __init__(self, error: ValidationError) -> None:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "settings"
            value = item.get("input")
            shown = "" if name in _SECRET_FIELDS else f"={value!r}"
            problems.append(f"{_VAR_OF_FIELD.get(name, name)}{shown}: {item['msg']}")
        super().__init__("invalid settings: " + "; ".join(problems))


def redacted(url: str) -> str:
    """The URL as people may see it: scheme, user, host and database, never a password (neither in the user part,
    however it is written, nor as a ``password=`` parameter: parameters are left out)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "a PostgreSQL URL"
    userinfo, at, location = rest.rpartition("@")
    host, slash, path = location.partition("/")
    host = re.split(r"[?#]", host, maxsplit=1)[0]
    database = re.split(r"[?#]", path, maxsplit=1)[0] if slash else ""
    user = ""
    if at:
        name, colon, _ = userinfo.partition(":")
        user = f"{name}{':***' if colon else ''}@"
    return f"{scheme}://{user}{host}{'/' + database if database else ''}"
