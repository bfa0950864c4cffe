"""Who may reach the server over streamable HTTP: the bind address, whether bearer tokens are required
(``--auth``), and the Host and Origin headers accepted (DNS rebinding protection, on for every address).

Loopback without ``--auth required`` is as before: no tokens, one local principal. Any other address requires
authentication (server/auth.py), and the host names clients use (``WAN_ALLOWED_HOSTS``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.server.transport_security import TransportSecuritySettings

from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.store.interface import Store, cell_rate

logger = logging.getLogger(__name__)

__all__ = ["LOOPBACK_HOSTS", "AuthMode", "CallRate", "HttpAccess"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AuthMode = Literal["auto", "required"]


@dataclass(frozen=True)
class HttpAccess:
    """How this server is reached over HTTP."""

    host: str
    port: int
    auth_required: bool

    @classmethod
    def decide(cls, host: str, port: int, mode: AuthMode, settings: Settings) -> HttpAccess:
        """The access for ``serve --http``; ValueError saying what to set when it would be unsafe."""
        loopback = host in LOOPBACK_HOSTS
        access = cls(host, port, auth_required=mode == "required" or not loopback)
        if not loopback and not settings.allowed_hosts:
            raise ValueError(
                f"--host {host} serves other machines: set WAN_ALLOWED_HOSTS to the host names (host:port) clients "
                "use to reach it, so requests naming any other host are refused (DNS rebinding)"
            )
        if access.auth_required:
            from wan_video_mcp.server.auth import configured

            configured(settings, access.resource_url(settings))  # raises, naming the variables, when none is set
        return access

    def resource_url(self, settings: Settings) -> str:
        """This server's MCP endpoint as clients name it: the resource tokens are for."""
        if settings.public_url:
            return settings.public_url.rstrip("/")
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/mcp"

    def auth_options(self, settings: Settings) -> dict[str, Any]:
        """The SDK server's ``token_verifier`` and ``auth`` when tokens are required (none otherwise)."""
        if not self.auth_required:
            return {}
        from wan_video_mcp.server.auth import configured

        verifier, auth = configured(settings, self.resource_url(settings))
        return {"token_verifier": verifier, "auth": auth}

    def transport_security(self, settings: Settings) -> TransportSecuritySettings:
        """Host and Origin checks: loopback's names, and those configured (``WAN_ALLOWED_HOSTS``/``_ORIGINS``)."""
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *settings.allowed_hosts]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *settings.allowed_origins]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


@dataclass
class CallRate:
    """At most ``per_minute`` tool calls per principal: bursts up to the limit, then one call every
    60/``per_minute`` seconds. Counted in the task store once the server has one (``store``), so replicas on one
    store share each principal's limit; in this process until then."""

    per_minute: int
    clock: Callable[[], float] = time.time
    store: Store | None = None
    _due: dict[str, float] = field(default_factory=dict)  # principal: when its next call is due (in-process)

    async def wait_for(self, principal: str) -> float:
        """0 when this call may go ahead (and it is counted); else the seconds until one may."""
        interval, now = 60.0 / self.per_minute, self.clock()
        wait: float | None = None
        if self.store is not None:
            store = self.store
            try:
                wait = await store.run(store.admit_call_sync, f"calls:{principal}", interval, self.per_minute, now)
            except Exception:  # the store is down: the call itself will say so; count it here meanwhile
                logger.warning("the shared call limit could not be read; counting in this process", exc_info=True)
        if wait is None:
            wait, due = cell_rate(self._due.get(principal), interval, self.per_minute, now)
            if due is not None:
                self._due[principal] = due
        return math.ceil(wait * 10) / 10
