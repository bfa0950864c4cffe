"""Why a download failed, said once: the errors it raises and the messages that name what the server sent.

Failures are translated here into ``RemoteUrlExpired`` (the signed URL has expired: nothing to retry) or
``DownloadFailed`` (``retryable`` says whether trying again can help). Messages show URLs redacted: no
query, fragment or credentials.
"""

from __future__ import annotations

import errno
from pathlib import Path

import httpx

from wan_video_mcp.server.errors import DownloadError, VideoUnavailable
from wan_video_mcp.server.providers.http import parse_retry_after

# How much of an error body is read to recognise an expired signed URL.
ERROR_BODY_LIMIT = 64 * 1024
# What a storage host may call an MP4; no Content-Type at all is accepted too.
_VIDEO_TYPES = frozenset({"application/mp4", "application/octet-stream", "binary/octet-stream"})
# How much of a body that is not a video is quoted in the error message.
QUOTE_CHARS = 120
QUOTE_BYTES = 4 * QUOTE_CHARS  # enough UTF-8 for QUOTE_CHARS characters
_EXPIRED_STATUSES = frozenset({403, 404, 410})
_EXPIRED_MARKER = b"request has expired"
# Query parameters of presigned object-storage URLs (Aliyun OSS v1/v4, S3 v4).
_SIGNED_QUERY_KEYS = frozenset(
    {
        "ossaccesskeyid",
        "expires",
        "signature",
        "x-oss-signature",
        "x-oss-expires",
        "x-oss-credential",
        "x-amz-signature",
        "x-amz-expires",
    }
)
_EXPIRED_HINT = (
    "The provider keeps a finished video for 24 hours and this link has expired; "
    "there is nothing left to fetch. Generate the video again if you still need it."
)


class DownloadFailed(DownloadError):
    """A ``DownloadError`` that also says what the server answered."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        if hint is None and not retryable:
            # The inherited hint says to call again; for this failure that would not help.
            hint = (
                "The provider's video URL does not lead to a video this server may fetch; check the task in "
                "the provider's console."
            )
        super().__init__(message, retryable=retryable, hint=hint)
        self.http_status = http_status
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "http_status": self.http_status}


class RemoteUrlExpired(VideoUnavailable):
    """The signed download URL no longer works; retrying cannot help."""

    retryable = False
    hint = _EXPIRED_HINT

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "http_status": self.http_status}


def redact_url(url: str | httpx.URL) -> str:
    """The URL without query, fragment or credentials, safe to log and show."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


async def content_type_failure(response: httpx.Response, expected: int | None, shown: str) -> DownloadFailed | None:
    """The error for a 200 whose Content-Type says it is not a video (an HTML portal page, a JSON error)."""
    value = response.headers.get("Content-Type", "")
    media = value.split(";", 1)[0].strip().lower()
    if not media or media.startswith("video/") or media in _VIDEO_TYPES:
        return None
    size = f" ({expected} bytes)" if expected is not None else ""
    body = await _read_prefix(response, QUOTE_BYTES)
    return DownloadFailed(
        f"the server at {shown} answered {media}{size} instead of a video, beginning {quote(body)}; nothing was saved",
        retryable=True,
        http_status=200,
    )


def quote(data: bytes) -> str:
    """At most QUOTE_CHARS printable characters of ``data``, quoted, for an error message."""
    text = data.decode("utf-8", errors="replace")
    chars = (" " if ch.isspace() else ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text)
    scrubbed = " ".join("".join(chars).split())
    if len(scrubbed) > QUOTE_CHARS:
        scrubbed = scrubbed[: QUOTE_CHARS - 1] + "…"
    return f'"{scrubbed}"' if scrubbed else "(an empty body)"


def transport_failure(exc: httpx.TransportError, shown: str) -> DownloadFailed:
    return DownloadFailed(
        f"the connection to {shown} failed ({type(exc).__name__}); nothing was saved",
        retryable=True,
    )


async def status_failure(response: httpx.Response, target: httpx.URL, last: httpx.URL, shown: str) -> Exception:
    """The error for a non-200 answer (returned, for the caller to raise)."""
    status = response.status_code
    if 400 <= status < 500:
        body = await _read_prefix(response, ERROR_BODY_LIMIT)
        if _EXPIRED_MARKER in body.lower() or (
            status in _EXPIRED_STATUSES and (_is_signed_storage(target) or _is_signed_storage(last, response))
        ):
            return RemoteUrlExpired(
                f"the remote video URL has expired (HTTP {status} from {shown})", http_status=status
            )
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429 or status >= 500:
        return DownloadFailed(
            f"the server at {shown} answered HTTP {status}; nothing was saved",
            retryable=True,
            http_status=status,
            retry_after=retry_after,
        )
    return DownloadFailed(
        f"the server at {shown} answered HTTP {status} instead of the video",
        retryable=False,
        http_status=status,
        retry_after=retry_after,
    )


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body; never more, and never fails."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    return b"".join(parts)[:limit]


def _is_signed_storage(url: httpx.URL, response: httpx.Response | None = None) -> bool:
    """Whether a URL looks like a presigned object-storage link (Aliyun OSS and kin)."""
    if url.host.endswith(".aliyuncs.com"):
        return True
    if any(key.lower() in _SIGNED_QUERY_KEYS for key in url.params.keys()):
        return True
    if response is not None:
        if "x-oss-request-id" in response.headers:
            return True
        if response.headers.get("Server", "").lower().startswith("aliyunoss"):
            return True
    return False


def disk_failure(exc: OSError, dest: Path) -> DownloadFailed:
    """A write that failed here, not at the provider. Out of space may pass (retryable, and the hint says
    when); a permission or read-only error will not until someone fixes it (not retryable, and the hint
    says what to fix, not to call again)."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DownloadFailed(
            f"could not write the video to {dest.parent}: {reason}",
            retryable=True,
            hint=f"Free space in {dest.parent}, then call fetch_video again; the provider keeps the video for "
            "24 hours after the task finished.",
        )
    return DownloadFailed(
        f"could not write the video to {dest.parent}: {reason}",
        retryable=False,
        hint=f"The server cannot write to {dest.parent}: fix its permissions or set WAN_MCP_DATA_DIR to a writable "
        "folder and restart the server; the provider keeps the video for 24 hours after the task finished.",
    )
