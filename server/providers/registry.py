"""Every provider by name: where its key and base URL come from, whether DashScope's region applies, how to build it.

The table is read by the settings (which variables to read), the composition root
(which class to build, which endpoint owns the tasks) and the CLI (which names
exist). Provider modules are imported only when one is built, so reading the
table costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import httpx

    from wan_video_mcp.server.config import Settings
    from wan_video_mcp.server.providers.base import Provider

__all__ = [
    "PROVIDERS",
    "PROVIDER_NAMES",
    "REGIONS",
    "SIMULATOR_API_KEY",
    "ProviderEntry",
    "ProviderName",
    "REGION_ALIASES",
    "Region",
    "provider_entry",
]

ProviderName = Literal["dashscope", "newapi", "yuto", "vtrix", "simulator"]
PROVIDER_NAMES: tuple[ProviderName, ...] = get_args(ProviderName)
# DashScope's regions (DASHSCOPE_REGION): Singapore, Virginia, Beijing, Frankfurt, Tokyo, Hong Kong.
# Their addresses: dashscope/regions.py (the last three only through a workspace host).
Region = Literal["intl", "us", "cn", "eu", "jp", "hk"]
REGIONS: tuple[Region, ...] = get_args(Region)
# Other names people use for them: Alibaba's region ids (the SDK's DASHSCOPE_API_REGION) and city names.
REGION_ALIASES: dict[str, Region] = {
    "ap-southeast-1": "intl",
    "singapore": "intl",
    "us-east-1": "us",
    "virginia": "us",
    "cn-beijing": "cn",
    "beijing": "cn",
    "eu-central-1": "eu",
    "frankfurt": "eu",
    "ap-northeast-1": "jp",
    "tokyo": "jp",
    "cn-hongkong": "hk",
    "hongkong": "hk",
    "hong-kong": "hk",
}
# The in-process simulator accepts any bearer key; this one says in logs what it is.
SIMULATOR_API_KEY = "sk-simulator"
# Without a key the server still starts (tools/list, dry runs, the local store); the engine refuses
# anything that would reach the provider, so this placeholder is never sent.
_NO_KEY = "sk-not-configured"

Build = Callable[["Settings", "httpx.AsyncClient", "str | None"], "Provider"]


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: its variables, its address rules and its factory."""

    name: ProviderName
    key_vars: tuple[str, ...]  # where the key is read from, first found wins; the first is the one documented
    base_url_vars: tuple[str, ...]  # likewise for the base URL
    regional: bool  # speaks DashScope's own protocol: DASHSCOPE_REGION narrows the catalog
    build: Build  # (settings, client, base_url override) -> the provider

    @property
    def key_var(self) -> str:
        """The variable a person should set for the key."""
        return self.key_vars[0]


def _key(settings: Settings) -> str:
    return settings.api_key.get_secret_value() if settings.api_key else _NO_KEY


def _dashscope(settings: Settings, client: httpx.AsyncClient, base_url: str | None) -> Provider:
    from wan_video_mcp.server.providers.dashscope import DashScopeProvider

    key = SIMULATOR_API_KEY if settings.simulated else _key(settings)
    return DashScopeProvider(
        client,
        api_key=key,
        region=settings.region,
        base_url=base_url or settings.base_url,
        workspace_id=settings.workspace_id,
    )


def _gateway_url(settings: Settings) -> str:
    # A gateway has no default address; the simulator's override is for DashScope's protocol only.
    if not settings.base_url:
        raise ValueError(f"WAN_PROVIDER={settings.provider} needs WAN_BASE_URL (the gateway's address)")
    return settings.base_url


def _newapi(settings: Settings, client: httpx.AsyncClient, base_url: str | None) -> Provider:
    from wan_video_mcp.server.providers.newapi import NewApiProvider

    return NewApiProvider(client, api_key=_key(settings), base_url=_gateway_url(settings))


def _yuto(settings: Settings, client: httpx.AsyncClient, base_url: str | None) -> Provider:
    from wan_video_mcp.server.providers.yuto import YutoProvider

    return YutoProvider(client, api_key=_key(settings), base_url=_gateway_url(settings))


def _vtrix(settings: Settings, client: httpx.AsyncClient, base_url: str | None) -> Provider:
    from wan_video_mcp.server.providers.vtrix import VtrixProvider

    return VtrixProvider(client, api_key=_key(settings), base_url=_gateway_url(settings))


_DASHSCOPE_KEY = ("DASHSCOPE_API_KEY", "WAN_API_KEY")
_GATEWAY_KEY, _GATEWAY_URL = ("WAN_API_KEY",), ("WAN_BASE_URL",)

PROVIDERS: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry("dashscope", _DASHSCOPE_KEY, ("DASHSCOPE_BASE_URL", "WAN_BASE_URL"), True, _dashscope),
        ProviderEntry("newapi", _GATEWAY_KEY, _GATEWAY_URL, False, _newapi),
        ProviderEntry("yuto", _GATEWAY_KEY, _GATEWAY_URL, False, _yuto),
        ProviderEntry("vtrix", _GATEWAY_KEY, _GATEWAY_URL, False, _vtrix),
        # The in-process simulator speaks DashScope's protocol and needs no key (either variable is accepted).
        ProviderEntry("simulator", _DASHSCOPE_KEY[::-1], _GATEWAY_URL, True, _dashscope),
    )
}


def provider_entry(name: str) -> ProviderEntry:
    """The entry for a provider name; ``ValueError`` naming the known ones otherwise."""
    entry = PROVIDERS.get(name)
    if entry is None:
        raise ValueError(f"unknown provider {name!r}; use one of: {', '.join(PROVIDER_NAMES)}")
    return entry
