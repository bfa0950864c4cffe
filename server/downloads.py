"""Fetching a finished video into the data directory, and reading facts from it.

``download`` makes one attempt: it follows redirects by hand, checking every
hop against an ``AddressPolicy`` (``wan_video_mcp.server.addresses``) before connecting,
streams the body into a temporary file next to the destination, hashing as it
goes, checks the size and that the body is a video (Content-Type, the MP4 box
signature, and with PyAV that the file opens with a video stream), fsyncs and
renames the file into place, so ``dest`` is either absent, the old file, or the
whole new video. Failures leave no partial file and are translated here, once,
into ``VideoUnavailable`` (the signed URL has expired: nothing to retry) or
``DownloadError`` (``retryable`` says whether trying again can help). Retries
belong to the caller.

``probe`` and ``poster_frame_png`` read an MP4 with PyAV, an optional
dependency; they return ``None`` without it. Both are synchronous: run them in
a worker thread.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
import httpx

from wan_video_mcp.server.addresses import AddressPolicy, pin
from wan_video_mcp.server.errors import DownloadError, VideoUnavailable
from wan_video_mcp.server.providers.base import parse_retry_after

if TYPE_CHECKING:
    import av.container
    import av.video.frame
    import av.video.stream

__all__ = [
    "DEFAULT_MAX_BYTES",
    "AddressPolicy",
    "DownloadFailed",
    "DownloadResult",
    "MediaInfo",
    "RemoteUrlExpired",
    "download",
    "file_sha256",
    "has_mp4_signature",
    "poster_frame_png",
    "probe",
    "redact_url",
    "remove_orphaned_parts",
    "verify_video_file",
    "video_path",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_BYTES = 2 * 1024**3
VIDEO_DIR = "videos"
VIDEO_SUFFIX = ".mp4"
# Chunks are handed to a worker thread in batches of about this size: one
# thread hop per batch instead of per 64 KiB network read. Measured against
# anyio.open_file (one hop per write) on a 50 MB loopback body: ~190 MB/s
# against ~135 MB/s (tests/benchmarks/bench_download.py --compare-writers).
WRITE_BATCH_BYTES = 1024**2
# How much of an error body is read to recognise an expired signed URL.
ERROR_BODY_LIMIT = 64 * 1024
POSTER_AT_SECONDS = 1.0
MAX_REDIRECTS = 5
PART_SUFFIX = ".part"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What a storage host may call an MP4; no Content-Type at all is accepted too.
_VIDEO_TYPES = frozenset({"application/mp4", "application/octet-stream", "binary/octet-stream"})
# The first box of an ISO-BMFF file (MP4, MOV, fragmented MP4) is one of these.
_FIRST_BOX_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"})
SIGNATURE_BYTES = 12
# How much of a body that is not a video is quoted in the error message.
QUOTE_CHARS = 120
QUOTE_BYTES = 4 * QUOTE_CHARS  # enough UTF-8 for QUOTE_CHARS characters
_PART_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")

_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
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


@dataclass(frozen=True)
class DownloadResult:
    """A video safely on disk: where, how big, and its SHA-256."""

    path: Path
    size: int
    sha256: str
    content_type: str | None


@dataclass(frozen=True)
class MediaInfo:
    """Facts read from a media file's container and stream headers."""

    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    fps: float | None
    has_audio: bool
    audio_codec: str | None


def video_path(data_dir: Path, task_id: str) -> Path:
    """The local file for a task's video: ``<data_dir>/videos/<task_id>.mp4``."""
    # fullmatch, not match with "$": "$" also accepts a trailing newline.
    if not _TASK_ID.fullmatch(task_id):
        raise ValueError(f"not a valid task id for a file name: {task_id!r}")
    root = Path(data_dir).resolve()
    path = (root / VIDEO_DIR / f"{task_id}{VIDEO_SUFFIX}").resolve()
    # The pattern already rules out separators; this also catches a symlinked
    # videos directory that points outside the data directory.
    if not path.is_relative_to(root):
        raise ValueError(f"video path for task {task_id!r} escapes the data directory")
    return path


def redact_url(url: str | httpx.URL) -> str:
    """The URL without query, fragment or credentials, safe to log and show."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def file_sha256(path: Path | str) -> str:
    """The hex SHA-256 of a local file (blocking: call it from a worker thread)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
    if part_tag is not None and not _PART_TAG.fullmatch(part_tag):
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
                raise await _status_failure(response, target, last, hop)
            expected = _content_length(response)
            refusal = await _content_type_failure(response, expected, hop)
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
            raise _transport_failure(exc, shown) from exc
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


async def _content_type_failure(response: httpx.Response, expected: int | None, shown: str) -> DownloadFailed | None:
    """The error for a 200 whose Content-Type says it is not a video (an HTML portal page, a JSON error)."""
    value = response.headers.get("Content-Type", "")
    media = value.split(";", 1)[0].strip().lower()
    if not media or media.startswith("video/") or media in _VIDEO_TYPES:
        return None
    size = f" ({expected} bytes)" if expected is not None else ""
    body = await _read_prefix(response, QUOTE_BYTES)
    return DownloadFailed(
        f"the server at {shown} answered {media}{size} instead of a video, beginning {_quote(body)}; nothing was saved",
        retryable=True,
        http_status=200,
    )


def _quote(data: bytes) -> str:
    """At most QUOTE_CHARS printable characters of ``data``, quoted, for an error message."""
    text = data.decode("utf-8", errors="replace")
    chars = (" " if ch.isspace() else ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text)
    scrubbed = " ".join("".join(chars).split())
    if len(scrubbed) > QUOTE_CHARS:
        scrubbed = scrubbed[: QUOTE_CHARS - 1] + "…"
    return f'"{scrubbed}"' if scrubbed else "(an empty body)"


def _signature_problem(head: bytes) -> str | None:
    """Why ``head``, the first bytes of a body, cannot begin an MP4; None when it can."""
    if len(head) < SIGNATURE_BYTES:
        return f"is only {len(head)} bytes long, too short to be an MP4"
    size = int.from_bytes(head[:4], "big")
    if head[4:8] not in _FIRST_BOX_TYPES or 1 < size < 8:
        return f"does not start like an MP4 (no ISO-BMFF box; it begins {_quote(head)})"
    return None


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


def _transport_failure(exc: httpx.TransportError, shown: str) -> DownloadFailed:
    return DownloadFailed(
        f"the connection to {shown} failed ({type(exc).__name__}); nothing was saved",
        retryable=True,
    )


async def _status_failure(response: httpx.Response, target: httpx.URL, last: httpx.URL, shown: str) -> Exception:
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
        tmp, fh = await anyio.to_thread.run_sync(_open_temp, dest, tag)
    except OSError as exc:
        raise _disk_failure(exc, dest) from exc
    hasher = hashlib.sha256()
    try:
        size = await _receive(response, fh, hasher, expected, max_bytes, shown)
        await anyio.to_thread.run_sync(_seal, fh)
        # The last check before the file becomes "the video": does it open as one?
        reason = await anyio.to_thread.run_sync(verify_video_file, tmp)
        if reason is not None:
            raise DownloadFailed(f"the body from {shown} {reason}; nothing was saved", retryable=True, http_status=200)
        await anyio.to_thread.run_sync(_place, tmp, dest)
    except BaseException as exc:
        # Shielded: a cancelled download still removes its temporary file.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_discard, fh, tmp)
        if isinstance(exc, OSError):
            raise _disk_failure(exc, dest) from exc
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
                await anyio.to_thread.run_sync(_write_batch, fh, hasher, batch)
                batch, batch_size = [], 0
    except httpx.TransportError as exc:
        raise _transport_failure(exc, shown) from exc
    except httpx.DecodingError as exc:
        raise DownloadFailed(f"the body from {shown} could not be decoded; nothing was saved", retryable=True) from exc
    if batch:
        await anyio.to_thread.run_sync(_write_batch, fh, hasher, batch)
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
    reason = _signature_problem(head)
    if reason is not None:
        raise DownloadFailed(f"the body from {shown} {reason}; nothing was saved", retryable=True, http_status=200)


def _disk_failure(exc: OSError, dest: Path) -> DownloadFailed:
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


# Blocking helpers, each run in a worker thread.


def _open_temp(dest: Path, tag: str | None = None) -> tuple[Path, IO[bytes]]:
    """A new temporary file next to ``dest``: ``<stem>.<hex>.part``, or ``<stem>.<tag>.<hex>.part``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{dest.stem}.{tag}" if tag else dest.stem
    while True:
        tmp = dest.with_name(f"{prefix}.{secrets.token_hex(6)}{PART_SUFFIX}")
        try:
            return tmp, open(tmp, "xb")  # closed by _seal (or _commit) or _discard
        except FileExistsError:
            continue


def _write_batch(fh: IO[bytes], hasher: hashlib._Hash, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)  # releases the GIL for large buffers
        fh.write(chunk)


def _commit(fh: IO[bytes], tmp: Path, dest: Path) -> None:
    _seal(fh)
    _place(tmp, dest)


def _seal(fh: IO[bytes]) -> None:
    """Flush, fsync and close the temporary file: its content is final and readable by path."""
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def _place(tmp: Path, dest: Path) -> None:
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def write_atomically(dest: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``dest`` with ``data`` the way a download lands: a temp file, fsync'd, renamed over it."""
    tmp, fh = _open_temp(dest)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        fh.write(data)
        _commit(fh, tmp, dest)
    except BaseException:
        _discard(fh, tmp)
        raise


def _discard(fh: IO[bytes], tmp: Path) -> None:
    try:
        fh.close()
    except OSError:
        pass
    tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_orphaned_parts(video_dir: Path, keep: Callable[[Path], bool] | None = None) -> int:
    """Delete the ``*.part`` files downloads left in ``video_dir``; return how many went.

    A part file outlives its download only when the process died mid-way.
    Not recursive. ``keep`` spares the files it returns True for (say, those
    whose name carries this process's ``part_tag``: downloads still running);
    without it every part file goes, so call it before any download starts.
    Blocking: run it in a worker thread.
    """
    removed = 0
    for path in sorted(Path(video_dir).glob(f"*{PART_SUFFIX}")):
        if keep is not None and keep(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("could not remove the leftover download %s: %s", path, exc.strerror or exc)
            continue
        removed += 1
    if removed:
        logger.info("removed %d leftover partial download(s) from %s", removed, video_dir)
    return removed


# Media checks and facts (PyAV, optional).


def verify_video_file(path: Path) -> str | None:
    """Why the file at ``path`` is not a video to hand out; None when it is one.

    Always checks the MP4 box signature; with PyAV also that the container
    opens and has a video stream. The reason reads after the file's name:
    "<path> is not a playable MP4 (PyAV: no video stream)". Blocking: run it
    in a worker thread.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(QUOTE_BYTES)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    reason = _signature_problem(head) or _box_walk_problem(path)
    if reason is not None:
        return reason
    try:
        has_video = _read_with_pyav(path, lambda container: bool(container.streams.video))
    except _Unreadable as exc:
        return f"is not a playable MP4 (PyAV: {exc})"
    return "is not a playable MP4 (PyAV: no video stream)" if has_video is False else None


def has_mp4_signature(path: Path) -> bool:
    """Whether the file at ``path`` begins like an MP4: the cheap check of a file already accepted once.

    Reads 12 bytes; False when the file cannot be read. ``verify_video_file``
    is the full check.
    """
    try:
        with open(path, "rb") as fh:
            return _signature_problem(fh.read(SIGNATURE_BYTES)) is None
    except OSError:
        return False


def _box_walk_problem(path: Path) -> str | None:
    """Why the top-level ISO-BMFF boxes do not tile the file exactly (a body cut short, junk appended);
    None when they do. Reads only the 8- or 16-byte box headers."""
    try:
        with open(path, "rb") as fh:
            total = os.fstat(fh.fileno()).st_size
            offset = 0
            while offset < total:
                fh.seek(offset)
                header = fh.read(16)
                if len(header) < 8:
                    return f"ends inside a box header at byte {offset} of {total} (cut short)"
                size = int.from_bytes(header[:4], "big")
                if size == 1:  # a 64-bit size follows the type
                    if len(header) < 16:
                        return f"ends inside a box header at byte {offset} of {total} (cut short)"
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # the last box runs to the end of the file
                    return None
                if size < 8:
                    return f"has a malformed box at byte {offset} (size {size})"
                if offset + size > total:
                    return f"is cut short: a box at byte {offset} needs {size} bytes, the file has {total - offset}"
                offset += size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Media facts (PyAV, optional).


def probe(path: Path) -> MediaInfo | None:
    """Duration, size, codecs and audio presence of a video; None without PyAV or when unreadable."""
    try:
        return _read_with_pyav(path, _media_info)
    except _Unreadable:
        return None


class _Unreadable(Exception):
    """PyAV could not read the file; the message is its short reason."""


def _read_with_pyav(path: Path, use: Callable[[av.container.InputContainer], T]) -> T | None:
    """``use`` applied to the opened file; None without PyAV; ``_Unreadable`` when PyAV cannot read it."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            return use(container)
    except av.FFmpegError as exc:
        raise _Unreadable(_short(exc.strerror or type(exc).__name__)) from exc
    except (OSError, ValueError, IndexError, UnicodeError) as exc:
        raise _Unreadable(type(exc).__name__) from exc


def _media_info(container: av.container.InputContainer) -> MediaInfo | None:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        return None
    duration: float | None = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    elif video is not None and video.duration and video.time_base:
        duration = float(video.duration * video.time_base)
    width = height = None
    video_codec = None
    fps: float | None = None
    if video is not None:
        width = video.codec_context.width or None
        height = video.codec_context.height or None
        video_codec = video.codec_context.name
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else None
    return MediaInfo(
        duration_seconds=duration,
        width=width,
        height=height,
        video_codec=video_codec,
        fps=fps,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def poster_frame_png(path: Path, max_width: int = 320) -> bytes | None:
    """A PNG of the frame ~1 s in (else the first), at most ``max_width`` wide; None if unavailable."""
    if max_width < 1:
        raise ValueError("max_width must be at least 1")

    def first_good_frame(container: av.container.InputContainer) -> bytes | None:
        if not container.streams.video:
            return None
        frame = _poster_frame(container, container.streams.video[0])
        return _encode_png(frame, max_width) if frame is not None else None

    try:
        return _read_with_pyav(path, first_good_frame)
    except _Unreadable:
        return None


def _poster_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.video.frame.VideoFrame | None:
    # Decode from the start rather than seek: generated clips are short and
    # often a single GOP, so a seek would land on frame 0 anyway.
    first = None
    for frame in container.decode(stream):
        if first is None:
            first = frame
        if frame.time is not None and frame.time >= POSTER_AT_SECONDS:
            return frame
    return first


def _encode_png(frame: av.video.frame.VideoFrame, max_width: int) -> bytes | None:
    import av

    width, height = frame.width, frame.height
    if width > max_width:
        height = max(1, round(height * max_width / width))
        width = max_width
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "rgb24"
    packets = [*encoder.encode(rgb), *encoder.encode(None)]
    data = b"".join(bytes(packet) for packet in packets)
    return data or None
