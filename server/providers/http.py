"""HTTP with a provider: one exchange with transport failures translated once and the answer's size capped,
and the shared client's transport, built when first used."""

from __future__ import annotations

import email.utils
import json
import math
import time
import urllib.request
from typing import Any

import anyio
import anyio.to_thread
import httpx

from wan_video_mcp.server.errors import ProviderError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_RETRY_AFTER_SECONDS",
    "DeferredTransport",
    "shared_client",
    "json_or_none",
    "parse_retry_after",
    "send",
]

# The longest pause a Retry-After header can impose.
MAX_RETRY_AFTER_SECONDS = 300.0
# No task answer, list page or error body comes near this; a bigger one is refused unread.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    # A server may ask for a pause, not for a task to be abandoned: "inf" or a date in 9999 is clamped.
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    paid: bool = False,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """One HTTP exchange, with transport failures translated into ``ProviderError``.

    For a ``paid`` request (a submit), a failure after the body may have reached
    the service leaves ``created=None``: the engine must reconcile, never resend.
    The answer is read into memory up to ``max_bytes``: a provider (or something
    posing as one) cannot make the server hold an arbitrarily large body.
    """
    try:
        request = client.build_request(method, url, headers=headers, json=json_body, params=params)
        response = await client.send(request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the service: safe to try again, even for a submit.
        raise ProviderError(
            f"could not connect to the provider ({type(exc).__name__})", retryable=True, created=False
        ) from exc
    except httpx.TransportError as exc:
        raise _sent_failure(exc, paid) from exc
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(response, max_bytes, paid)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(response, max_bytes, paid)
    except httpx.HTTPError as exc:  # a reset mid-body, an undecodable (say, bad gzip) body
        raise _sent_failure(exc, paid) from exc
    finally:
        await response.aclose()
    # The same response with its (decoded) body in memory: the streamed one cannot be read again.
    kept = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=response.request)


def _sent_failure(exc: httpx.HTTPError, paid: bool) -> ProviderError:
    # Read timeout, reset or protocol error after sending: the task may exist.
    return ProviderError(
        f"the connection to the provider failed after the request was sent ({type(exc).__name__})",
        retryable=not paid,
        created=None if paid else False,
    )


def _too_large(response: httpx.Response, max_bytes: int, paid: bool) -> ProviderError:
    what = "the submit" if paid else "a query"
    return ProviderError(
        f"the provider's answer to {what} (HTTP {response.status_code}) is larger than {max_bytes // 1024} KiB, "
        "far more than any task answer; it was not read" + ("; the task may have been created" if paid else ""),
        provider_code="response_too_large",
        http_status=response.status_code,
        retryable=not paid,
        created=None if paid else False,
    )


def json_or_none(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def shared_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The one client for providers and downloads.

    With a proxy in the environment (``HTTPS_PROXY``, ``ALL_PROXY``, …, as httpx reads them) it is httpx's own
    client, which routes through the proxy and honours ``NO_PROXY``: a transport passed in would switch that
    off. Without one, httpx's default transport is built at the first request (``DeferredTransport``).
    """
    if urllib.request.getproxies():
        return httpx.AsyncClient(timeout=timeout)
    return httpx.AsyncClient(timeout=timeout, transport=DeferredTransport())


class DeferredTransport(httpx.AsyncBaseTransport):
    """httpx's default transport, built at the first request instead of when the client is made.

    Building it loads the CA bundle into a TLS context and imports httpcore: tens of
    milliseconds that a cold start would otherwise spend before answering ``initialize``.
    It is built in a worker thread, once, with httpx's own defaults (verification,
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``, limits), so requests behave as with a plain client.
    """

    def __init__(self) -> None:
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._building = anyio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            async with self._building:
                if self._transport is None:
                    self._transport = await anyio.to_thread.run_sync(httpx.AsyncHTTPTransport)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
