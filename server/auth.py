"""Who is calling over HTTP: bearer tokens checked through the SDK's own auth (``TokenVerifier``, ``AuthSettings``,
protected-resource metadata), and the principal every task belongs to.

Two ways, either or both:

- **Static tokens** (``WAN_AUTH_TOKENS_FILE``): one line per token, ``<sha256 hex of the token> <principal>``,
  ``#`` comments. Only hashes are on disk; a presented token is hashed and compared with every line in constant
  time. The file is read again when it changes, so a token is revoked by removing its line.
- **OAuth 2.1 resource server** (``WAN_OAUTH_ISSUER`` + ``WAN_OAUTH_INTROSPECTION_URL``): a token is sent to the
  authorization server's RFC 7662 introspection endpoint (with this server's client credentials when given);
  it must be active, unexpired, from the issuer, for this resource when the answer names an audience, and carry
  the required scopes. The principal is ``iss`` + ``sub`` (or the client id). Answers are cached for a minute at
  most, never past the token's expiry.

A token is never logged, and never stored: only its hash keys the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL

__all__ = ["LOCAL_PRINCIPAL", "Introspection", "StaticTokens", "Verifiers", "configured", "principal_of"]

logger = logging.getLogger(__name__)

INTROSPECTION_CACHE_SECONDS = 60.0
INTROSPECTION_TIMEOUT_SECONDS = 10.0
_HEX64 = frozenset("0123456789abcdef")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_of(token: AccessToken | None) -> str:
    """The principal a request acts for: the token's subject (static tokens name it), else the local one."""
    if token is None:
        return LOCAL_PRINCIPAL
    return token.subject or token.client_id


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: str


class StaticTokens:
    """Tokens listed by their SHA-256 in a file (re-read when it changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: tuple[_Entry, ...] = ()
        self._reload()  # a bad file stops the server at start, naming the line

    def _reload(self) -> None:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._entries = parse_token_file(self.path.read_text(encoding="utf-8"), self.path)
        self._stamp = stamp
        logger.info("%d static token(s) from %s", len(self._entries), self.path)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            await anyio.to_thread.run_sync(self._reload)
        except (OSError, ValueError) as exc:  # keep the last good list; say so once per change
            logger.warning("could not re-read %s (%s); the previous tokens stay in force", self.path, exc)
        presented = bytes.fromhex(_digest(token))
        found = None
        for entry in self._entries:  # every line compared, in constant time each: no early exit to time
            if hmac.compare_digest(entry.digest, presented):
                found = entry
        if found is None:
            return None
        return AccessToken(token=token, client_id=found.principal, scopes=[], subject=found.principal)


def parse_token_file(text: str, path: Path | str = "the tokens file") -> tuple[_Entry, ...]:
    """The entries of a tokens file; ValueError naming the line of anything else (never echoing its content)."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or not set(digest) <= _HEX64:
            raise ValueError(
                f"{path} line {number}: expected '<sha256 hex of the token> <principal>' (make the hash with "
                "`printf %s TOKEN | sha256sum`)"
            )
        entries.append(_Entry(bytes.fromhex(digest), parts[1]))
    return tuple(entries)


class Introspection:
    """RFC 7662 token introspection at the authorization server."""

    def __init__(
        self,
        url: str,
        issuer: str,
        *,
        resource: str | None,
        required_scopes: tuple[str, ...] = (),
        client_id: str | None = None,
        client_secret: str | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Any = time.time,
    ) -> None:
        self.url, self.issuer, self.resource = url, issuer.rstrip("/"), resource
        self.required = frozenset(required_scopes)
        self._auth = (client_id, client_secret or "") if client_id else None
        self._client = client
        self._clock = clock
        self._cache: dict[str, tuple[float, AccessToken | None]] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        key, now = _digest(token), self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1].model_copy(update={"token": token}) if cached[1] else None
        answer = await self._introspect(token)
        verified = self._verified(answer, now) if answer is not None else None
        if answer is not None:  # (an unreachable server is not cached: the next request asks again)
            until = now + INTROSPECTION_CACHE_SECONDS
            if verified is not None and verified.expires_at is not None:
                until = min(until, verified.expires_at)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (until, verified.model_copy(update={"token": ""}) if verified else None)
        return verified

    async def _introspect(self, token: str) -> dict[str, Any] | None:
        data = {"token": token, "token_type_hint": "access_token"}
        try:
            if self._client is not None:
                response = await self._client.post(self.url, data=data, auth=self._auth or httpx.USE_CLIENT_DEFAULT)
            else:
                async with httpx.AsyncClient(timeout=INTROSPECTION_TIMEOUT_SECONDS) as client:
                    response = await client.post(self.url, data=data, auth=self._auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            logger.warning("token introspection at %s failed: %s", self.url, type(exc).__name__)
            return None
        if response.status_code != 200:
            logger.warning("token introspection at %s answered HTTP %d", self.url, response.status_code)
            return None
        try:
            body = response.json()
        except ValueError:
            logger.warning("token introspection at %s answered something other than JSON", self.url)
            return None
        return body if isinstance(body, dict) else None

    def _verified(self, answer: dict[str, Any], now: float) -> AccessToken | None:
        if answer.get("active") is not True:
            return None
        expires = answer.get("exp")
        if isinstance(expires, (int, float)) and expires <= now:
            return None
        issuer = answer.get("iss")
        if issuer is not None and str(issuer).rstrip("/") != self.issuer:
            return None
        audience = answer.get("aud")
        if self.resource is not None and audience is not None:
            audiences = audience if isinstance(audience, list) else [audience]
            if self.resource.rstrip("/") not in {str(a).rstrip("/") for a in audiences}:
                return None
        scopes = str(answer.get("scope") or "").split()
        if not self.required <= set(scopes):
            return None
        subject = answer.get("sub")
        client_id = str(answer.get("client_id") or subject or "")
        if not subject and not client_id:
            return None
        principal = f"{self.issuer}#{subject}" if subject else f"{self.issuer}#client:{client_id}"
        return AccessToken(
            token="",
            client_id=client_id,
            scopes=scopes,
            expires_at=int(expires) if isinstance(expires, (int, float)) else None,
            resource=self.resource,
            subject=principal,
            claims={"iss": self.issuer},
        )


class Verifiers:
    """The configured verifiers, tried in turn: the first that knows the token says who it is."""

    def __init__(self, *verifiers: TokenVerifier) -> None:
        self.verifiers = verifiers

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self.verifiers:
            found = await verifier.verify_token(token)
            if found is not None:
                return found
        return None


def configured(settings: Settings, resource_url: str) -> tuple[TokenVerifier, AuthSettings]:
    """The verifier and the SDK's auth settings the configuration asks for; ValueError naming what to set when it
    asks for none (or for half of OAuth)."""
    verifiers: list[TokenVerifier] = []
    if settings.auth_tokens_file is not None:
        verifiers.append(StaticTokens(settings.auth_tokens_file))
    oauth = (settings.oauth_issuer, settings.oauth_introspection_url)
    if any(oauth) and not all(oauth):
        raise ValueError("OAuth needs both WAN_OAUTH_ISSUER and WAN_OAUTH_INTROSPECTION_URL")
    if settings.oauth_issuer and settings.oauth_introspection_url:
        secret = settings.oauth_client_secret.get_secret_value() if settings.oauth_client_secret else None
        verifiers.append(
            Introspection(
                settings.oauth_introspection_url,
                settings.oauth_issuer,
                resource=resource_url,
                required_scopes=settings.oauth_required_scopes,
                client_id=settings.oauth_client_id,
                client_secret=secret,
            )
        )
    if not verifiers:
        raise ValueError(
            "authentication is required here but none is configured: set WAN_AUTH_TOKENS_FILE (lines of "
            "'<sha256 of a token> <principal>'), or WAN_OAUTH_ISSUER and WAN_OAUTH_INTROSPECTION_URL"
        )
    oauth_on = bool(settings.oauth_issuer)
    auth = AuthSettings(
        # Static tokens alone have no authorization server to point clients to: no protected-resource metadata.
        issuer_url=AnyHttpUrl(settings.oauth_issuer or resource_url),
        resource_server_url=AnyHttpUrl(resource_url) if oauth_on else None,
        required_scopes=list(settings.oauth_required_scopes) or None,
        validate_token_resource=False,  # Introspection checks the audience itself
    )
    return Verifiers(*verifiers), auth
