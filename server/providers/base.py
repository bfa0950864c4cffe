"""The one small interface every wire format implements, and its normalized results.

A provider turns a validated ``GenerationRequest`` into one HTTP submit and a
provider response into a ``RemoteStatus``. It makes exactly one attempt per
call: retries, backoff and the submit-once rule live in the engine, which
decides from ``ProviderError.retryable`` / ``.created`` / ``.retry_after``.
Providers know nothing of MCP or the store.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from server.catalog import GenerationRequest
from server.errors import ProviderError

__all__ = [
    "ProviderError",
    "Provider",
    "RemoteState",
    "RemoteStatus",
    "RemoteTask",
    "TERMINAL_STATES",
    "parse_retry_after",
    "send",
]

RemoteState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})


@dataclass(frozen=True)
class RemoteStatus:
    """A provider's answer about one task, in our vocabulary."""

    remote_id: str
    state: RemoteState
    progress: float | None = None  # 0..100 when the provider reports it
    video_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    actual_prompt: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    model: str | None = None  # set by list_recent where the provider says it
    submitted_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class RemoteTask:
    """What a successful submit returns: the provider's id and the first status."""

    remote_id: str
    status: RemoteStatus
    request_id: str | None = None


class Provider(Protocol):
    """One wire format. Every method makes one attempt and raises ``ProviderError``."""

    name: str

    def offers(self, model: str) -> bool:
        """Whether this provider can serve the catalog model id."""
        ...

    async def submit(self, request: GenerationRequest) -> RemoteTask: ...

    async def poll(self, remote_id: str) -> RemoteStatus: ...

    async def cancel(self, remote_id: str) -> None: ...

    async def list_recent(self, since: datetime) -> list[RemoteStatus] | None:
        """Tasks the account submitted since ``since``; ``None`` if the API has no list."""
        ...

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The URL (and any headers) to stream the finished MP4 from."""
        ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    paid: bool = False,
) -> httpx.Response:
    """One HTTP exchange, with transport failures translated into ``ProviderError``.

    For a ``paid`` request (a submit), a failure after the body may have reached
    the service leaves ``created=None``: the engine must reconcile, never resend.
    """
    try:
        return await client.request(method, url, headers=headers, json=json_body, params=params)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the service: safe to try again, even for a submit.
        raise ProviderError(
            f"could not connect to the provider ({type(exc).__name__})", retryable=True, created=False
        ) from exc
    except httpx.TransportError as exc:
        # Read timeout, reset or protocol error after sending: the task may exist.
        raise ProviderError(
            f"the connection to the provider failed after the request was sent ({type(exc).__name__})",
            retryable=not paid,
            created=None if paid else False,
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
