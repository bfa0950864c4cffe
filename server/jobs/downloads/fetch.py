"""Fetching a finished video into the data directory: one attempt, streamed, checked, atomic.

``download`` follows redirects by hand, checking every hop against an ``AddressPolicy``
(``wan_video_mcp.server.jobs.downloads.addresses``) before connecting, streams the body into a
temporary file next to the destination, hashing as it goes, checks the size and that the body is a
video (Content-Type, the MP4 box signature, and with PyAV that the file opens with a video stream),
fsyncs and renames the file into place, so ``dest`` is either absent, the old file, or the whole new
video. Failures leave no partial file and are translated once (``failures``). Retries belong to the
caller.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import httpx

from wan_video_mcp.server.errors import DownloadError, VideoUnavailable
from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy, pin
from wan_video_mcp.server.jobs.downloads.failures import (
    QUOTE_BYTES,
    DownloadFailed,
    content_type_failure,
    disk_failure,
    redact_url,
    status_failure,
    transport_failure,
)
from wan_video_mcp.server.jobs.downloads.files import PART_TAG, discard, open_temp, place, seal, write_batch
from wan_video_mcp.server.jobs.downloads.verify import SIGNATURE_BYTES, signature_problem, verify_video_file

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3
# Chunks are handed to a worker thread in batches of about this size: one
# thread hop per batch instead of per 64 KiB network read. Measured against
# anyio.open_file (one hop per write) on a 50 MB loopback body: ~190 MB/s
# against ~135 MB/s (tests/benchmarks/bench_download.py --compare-writers).
WRITE_BATCH_BYTES = 1024**2
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class DownloadResult:
    """A video safely on disk: where, how big, and its SHA-256."""

    path: Path
    size: int
    sha256: str
    content_type: str | None


async def download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: httpx.Timeout | None = None,
    policy: AddressPolicy | None = None,
    part_tag: str | None = None,
) -> DownloadResult:
    """Fetch the video at ``url`` into ``dest`` atomically, checking where it comes from and that it is one.

    One attempt. ``policy`` says which addresses may serve the video, checked
    before every hop (default: public addresses only; pass
    ``AddressPolicy.for_base_url(<provider base URL>)``). ``headers`` go to
    ``url``'s own origin only, never to a host it redirects to. ``part_tag``
    is put into the temporary file's name, ``<stem>.<tag>.<hex>.part``, so
    ``remove_orphaned_parts`` can tell whose leftovers a part file is.
    """
    if part_tag is not None and not PART_TAG.fullmatch(part_tag):
        raise ValueError(f"part_tag must be 1-64 letters, digits, '_' or '-': {part_tag!r}")
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DownloadFailed(f"the video URL is malformed: {exc}", retryable=False) from exc
    shown = redact_url(target)
    if target.scheme not in ("http", "https"):
        raise DownloadFailed(f"the video URL is not http(s): {shown}", retryable=False)

    started = time.monotonic()
    logger.info("downloading %s to %s", shown, dest)
    try:
        response, last = await _follow(client, target, headers, timeout, policy or AddressPolicy())
        try:
            hop = _shown_hop(last, target)
            if response.status_code != 200:
                raise await status_failure(response, target, last, hop)
            expected = _content_length(response)
            refusal = await content_type_failure(response, expected, hop)
            if refusal is not None:
                raise refusal
            if expected is not None and expected > max_bytes:
                raise DownloadFailed(
                    f"the video at {hop} is {expected} bytes, more than the limit of {max_bytes}",
                    retryable=False,
                    http_status=200,
                )
            result = await _stream_to_file(response, dest, expected, max_bytes, hop, part_tag)
        finally:
            await response.aclose()
    except (DownloadError, VideoUnavailable) as exc:
        logger.warning("download of %s failed: %s", shown, exc.message)
        raise

    elapsed = time.monotonic() - started
    logger.info("downloaded %s: %d bytes in %.1f s, sha256 %s", shown, result.size, elapsed, result.sha256)
    return result


async def _follow(
    client: httpx.AsyncClient,
    target: httpx.URL,
    headers: dict[str, str] | None,
    timeout: httpx.Timeout | None,
    policy: AddressPolicy,
) -> tuple[httpx.Response, httpx.URL]:
    """The streamed response at the end of ``target``'s redirects, each hop checked by ``policy`` first, and
    the URL it came from (by host name: the request itself went to the vetted address)."""
    url = target
    for hops in range(MAX_REDIRECTS + 1):
        try:
            addresses = await policy.check(url)
        except DownloadFailed as exc:
            if url == target:
                raise
            raise DownloadFailed(
                f"{redact_url(target)} redirected to a URL that may not be fetched: {exc.message}",
                retryable=exc.retryable,
            ) from exc
        if headers is not None and _origin(url) != _origin(target):
            # The caller's headers (an Authorization for the provider's own
            # endpoint) belong to the first origin; once the chain leaves it they stay behind.
            headers = None
        shown = _shown_hop(url, target)
        # Built for the host name (its Host header), sent to the address just vetted.
        request = pin(_build_request(client, url, headers, timeout), addresses)
        try:
            # client.stream() cannot drop a client-wide Authorization header, so
            # build the request ourselves and send it streamed, which is all
            # stream() does. auth=None: the client's auth is for the provider API.
            response = await client.send(request, stream=True, auth=None, follow_redirects=False)
        except httpx.TransportError as exc:
            raise transport_failure(exc, shown) from exc
        except httpx.RequestError as exc:  # an undecodable body
            raise DownloadFailed(f"downloading {shown} failed: {type(exc).__name__}", retryable=False) from exc
        status = response.status_code
        if status not in _REDIRECT_STATUSES:
            return response, url
        location = response.headers.get("Location")
        await response.aclose()
        if not location:
            raise DownloadFailed(
                f"the server at {shown} answered HTTP {status}, a redirect without a Location; nothing was saved",
                retryable=False,
                http_status=status,
            )
        if hops == MAX_REDIRECTS:
            raise DownloadFailed(
                f"{redact_url(target)} redirected more than {MAX_REDIRECTS} times; nothing was saved",
                retryable=False,
                http_status=status,
            )
        try:
            url = url.join(location)  # relative to the host name, not the pinned address
        except httpx.InvalidURL as exc:
            raise DownloadFailed(
                f"the server at {shown} redirected to a malformed URL ({exc}); nothing was saved",
                retryable=False,
                http_status=status,
            ) from exc
        logger.info("%s redirects (HTTP %d) to %s", shown, status, redact_url(url))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _shown_hop(url: httpx.URL, target: httpx.URL) -> str:
    """A hop's redacted URL for messages, naming the URL it was reached from."""
    if url == target:
        return redact_url(url)
    return f"{redact_url(url)} (redirected from {redact_url(target)})"


def _build_request(
    client: httpx.AsyncClient,
    target: httpx.URL,
    headers: dict[str, str] | None,
    timeout: httpx.Timeout | None,
) -> httpx.Request:
    given = httpx.Headers(headers)
    if "Accept-Encoding" not in given:
        # identity: Content-Length then counts the bytes we store.
        given["Accept-Encoding"] = "identity"
    request = client.build_request(
        "GET", target, headers=given, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
    )
    if "Authorization" not in given:
        # The shared client may carry the provider's key; a storage host must never see it.
        request.headers.pop("Authorization", None)
    return request


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


async def _stream_to_file(
    response: httpx.Response, dest: Path, expected: int | None, max_bytes: int, shown: str, tag: str | None
) -> DownloadResult:
    try:
        tmp, fh = await anyio.to_thread.run_sync(open_temp, dest, tag)
    except OSError as exc:
        raise disk_failure(exc, dest) from exc
    hasher = hashlib.sha256()
    try:
        size = await _receive(response, fh, hasher, expected, max_bytes, shown)
        await anyio.to_thread.run_sync(seal, fh)
        # The last check before the file becomes "the video": does it open as one?
        reason = await anyio.to_thread.run_sync(verify_video_file, tmp)
        if reason is not None:
            raise DownloadFailed(f"the body from {shown} {reason}; nothing was saved", retryable=True, http_status=200)
        await anyio.to_thread.run_sync(place, tmp, dest)
    except BaseException as exc:
        # Shielded: a cancelled download still removes its temporary file.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(discard, fh, tmp)
        if isinstance(exc, OSError):
            raise disk_failure(exc, dest) from exc
        raise
    return DownloadResult(
        path=dest, size=size, sha256=hasher.hexdigest(), content_type=response.headers.get("Content-Type")
    )


async def _receive(
    response: httpx.Response,
    fh: IO[bytes],
    hasher: hashlib._Hash,
    expected: int | None,
    max_bytes: int,
    shown: str,
) -> int:
    """Copy the body to ``fh`` and ``hasher``; return the number of bytes stored.

    Abandons the body as soon as its first bytes show it is no MP4.
    """
    # With Content-Encoding, Content-Length counts the encoded bytes on the wire.
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    received = 0
    head = b""  # the first bytes, for the signature check and the error message
    batch: list[bytes] = []
    batch_size = 0
    try:
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise DownloadFailed(
                    f"the video at {shown} is larger than the limit of {max_bytes} bytes; download abandoned",
                    retryable=False,
                    http_status=response.status_code,
                )
            if expected is not None and (response.num_bytes_downloaded if encoded else received) > expected:
                raise DownloadFailed(
                    f"the server at {shown} sent more than the {expected} bytes it announced; nothing was saved",
                    retryable=True,
                    http_status=response.status_code,
                )
            if len(head) < SIGNATURE_BYTES:
                head = (head + chunk)[:QUOTE_BYTES]
                if len(head) >= SIGNATURE_BYTES:
                    _check_signature(head, shown)
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= WRITE_BATCH_BYTES:
                await anyio.to_thread.run_sync(write_batch, fh, hasher, batch)
                batch, batch_size = [], 0
    except httpx.TransportError as exc:
        raise transport_failure(exc, shown) from exc
    except httpx.DecodingError as exc:
        raise DownloadFailed(f"the body from {shown} could not be decoded; nothing was saved", retryable=True) from exc
    if batch:
        await anyio.to_thread.run_sync(write_batch, fh, hasher, batch)
    wire = response.num_bytes_downloaded if encoded else received
    if expected is not None and wire < expected:
        raise DownloadFailed(
            f"the download from {shown} ended after {wire} of {expected} bytes; nothing was saved",
            retryable=True,
            http_status=response.status_code,
        )
    if len(head) < SIGNATURE_BYTES:
        _check_signature(head, shown)
    return received


def _check_signature(head: bytes, shown: str) -> None:
    reason = signature_problem(head)
    if reason is not None:
        raise DownloadFailed(f"the body from {shown} {reason}; nothing was saved", retryable=True, http_status=200)
