"""Reading a remote media file a few byte ranges at a time, every hop checked by the address policy.

``RemoteReader.open`` sends the first request (``Range: bytes=0-262143``), following redirects itself
and checking each hop with ``AddressPolicy.check`` before connecting (as the video download does,
``wan_video_mcp.server.jobs.downloads.fetch``). A server that honours Range gives a ``RangedFile``: a
seekable read-only file whose reads outside what it holds go out as further Range requests. Those run
in the event loop while the file is read in a worker thread (``anyio.from_thread.run``), so a parser
that seeks past 100 MB of ``mdat`` to a ``moov`` at the end costs one more small request. A server that
ignores Range sends the whole body, which is spooled to a temporary file up to ``max_bytes``.

Every reader is bounded: at most ``MAX_REQUESTS`` requests (redirect hops included), at most
``max_bytes`` received, and nothing after its deadline. Failures are ``Unmeasurable``: a plain-English
``problem`` and whether the URL could not be fetched at all (``unreachable``).
"""

from __future__ import annotations

import io
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, TypeVar

import anyio
import anyio.from_thread
import httpx

from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy, pin
from wan_video_mcp.server.jobs.downloads.failures import DownloadFailed, redact_url

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

T = TypeVar("T")

__all__ = ["MAX_REDIRECTS", "MAX_REQUESTS", "WINDOW", "Opened", "RangedFile", "RemoteReader", "Unmeasurable"]

WINDOW = 256 * 1024  # the first request, and the least a later one asks for
MAX_CHUNK = 4 * 1024 * 1024  # later requests double in size up to this
MAX_REQUESTS = 16
MAX_REDIRECTS = 5
SPOOL_BYTES = 8 * 1024 * 1024  # a body sent whole is kept in memory up to this, then on disk
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)
_NOT_MEDIA = frozenset({"application/json", "application/xml", "application/xhtml+xml", "application/problem+json"})


class Unmeasurable(Exception):
    """Why a URL's media could not be measured; ``unreachable`` when it could not be fetched at all."""

    def __init__(self, problem: str, *, unreachable: bool = False, http_status: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.unreachable = unreachable
        self.http_status = http_status  # the error status the server answered, when that was the problem


def megabytes(size: int) -> str:
    """``size`` for a message: "100 MB" (of 2**20 bytes), or bytes when under one."""
    return f"{size / 2**20:g} MB" if size >= 2**20 else f"{size} bytes"


@dataclass(frozen=True)
class Opened:
    """The media, readable from the start: a buffered ``RangedFile`` or the whole body spooled; its size."""

    file: IO[bytes]
    size: int


class RangedFile(io.RawIOBase):
    """A seekable, read-only file of ``size`` bytes that holds some windows of it and fetches the rest.

    ``fetch(start, length)`` returns at least one byte from ``start`` (it may return fewer than asked)
    or raises ``Unmeasurable``; once it has failed, every later read that needs the network fails the
    same way (kept in ``failure``, so a parser that wraps exceptions cannot hide the reason).
    """

    def __init__(self, size: int, windows: list[tuple[int, bytes]], fetch: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self._size = size
        self._windows = list(windows)
        self._fetch = fetch
        self._pos = 0
        self._chunk = WINDOW
        self.failure: Unmeasurable | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self._size - self._pos))
        done = 0
        while done < want:
            held = self._held(self._pos + done, want - done)
            if held is None:
                self._load(self._pos + done, want - done)
                continue
            view[done : done + len(held)] = held
            done += len(held)
        self._pos += done
        return done

    def _held(self, pos: int, length: int) -> memoryview | None:
        for start, data in self._windows:
            if start <= pos < start + len(data):
                return memoryview(data)[pos - start : pos - start + length]
        return None

    def _load(self, pos: int, needed: int) -> None:
        if self.failure is not None:
            raise self.failure
        length = min(max(needed, self._chunk), self._size - pos)
        self._chunk = min(self._chunk * 2, MAX_CHUNK)
        later = [start for start, _ in self._windows if start > pos]
        if later and pos + needed <= min(later):
            length = min(length, min(later) - pos)  # what a later window holds is not asked for again
        try:
            data = self._fetch(pos, length)
        except Unmeasurable as exc:
            self.failure = exc
            raise
        self._windows.append((pos, data))


class RemoteReader:
    """Range requests for one URL, within a deadline, ``MAX_REQUESTS`` requests and ``max_bytes`` bytes."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        policy: AddressPolicy,
        *,
        max_bytes: int,
        timeout: float,
    ) -> None:
        self._client = client
        self._url = url  # after open(): where the redirects ended, which later requests go to
        self._policy = policy
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._shown = redact_url(url)
        self._opened = False
        self.requests = 0
        self.received = 0
        self.size: int | None = None

    async def open(self) -> Opened:
        """The first request: a ``RangedFile`` holding the first ``WINDOW`` bytes, or the whole body."""
        opened = await self._bounded(self._open)
        self._opened = True
        return opened

    async def read(self, start: int, length: int) -> bytes:
        """1 to ``length`` bytes from ``start``, by one more Range request (``RangedFile``'s fetch)."""
        return await self._bounded(lambda: self._read(start, length))

    def fetch_from_thread(self, start: int, length: int) -> bytes:
        """``read`` for a ``RangedFile`` read in a worker thread started by ``anyio.to_thread.run_sync``."""
        return anyio.from_thread.run(self.read, start, length)

    async def _bounded(self, step: Callable[[], Awaitable[T]]) -> T:
        """``step()`` before the deadline, its network failures said as ``Unmeasurable``."""
        remaining = self._deadline - time.monotonic()
        late = Unmeasurable(
            f"{self._shown} did not answer within {self._timeout:g} s"
            if not self._opened
            else f"reading {self._shown} took longer than {self._timeout:g} s",
            unreachable=not self._opened,
        )
        if remaining <= 0:
            raise late
        try:
            with anyio.fail_after(remaining):
                return await step()
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise late from exc
        except httpx.TransportError as exc:
            raise self._failed(f"the connection to {self._shown} failed ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:  # an undecodable body
            raise self._failed(f"reading {self._shown} failed ({type(exc).__name__})") from exc

    def _failed(self, problem: str, status: int | None = None) -> Unmeasurable:
        return Unmeasurable(problem, unreachable=not self._opened, http_status=status)

    async def _open(self) -> Opened:
        asked = min(WINDOW, self._max_bytes)
        response = await self._get(0, asked)
        try:
            status = response.status_code
            if status in (200, 206):
                self._refuse_non_media(response)
            if status == 206:
                first, last, total = _content_range(response, self._shown)
                if first == 0 and total is not None and last < total:
                    self.size = total
                    head = await self._body(response, min(last + 1, asked))  # never more than asked
                    ranged = RangedFile(total, [(0, head)], self.fetch_from_thread)
                    return Opened(io.BufferedReader(ranged), total)
            elif status == 200:
                return await self._spool(response)
            elif status == 416 and _unsatisfied_total(response) == 0:
                self.size = 0
                raise Unmeasurable(f"{self._shown} is empty (0 bytes)")
            else:
                raise self._failed(f"could not fetch {self._shown}: the server answered HTTP {status}", status)
        finally:
            await response.aclose()
        # A 206 that cannot be used (no total size, not from byte 0): ask for the whole body instead.
        response = await self._get(None, None)
        try:
            if response.status_code != 200:
                status = response.status_code
                raise self._failed(f"could not fetch {self._shown}: the server answered HTTP {status}", status)
            self._refuse_non_media(response)
            return await self._spool(response)
        finally:
            await response.aclose()

    async def _read(self, start: int, length: int) -> bytes:
        length = min(length, self._max_bytes - self.received)
        if length <= 0:
            raise Unmeasurable(f"measuring {self._shown} needed more than {megabytes(self._max_bytes)}")
        response = await self._get(start, length)
        try:
            if response.status_code != 206:
                raise Unmeasurable(
                    f"{self._shown} stopped answering byte ranges (HTTP {response.status_code}) while it was read"
                )
            first, last, _ = _content_range(response, self._shown)
            if first != start:
                raise Unmeasurable(f"{self._shown} answered a byte range other than the one asked for")
            data = await self._body(response, min(last - first + 1, length))
        finally:
            await response.aclose()
        if not data:
            raise Unmeasurable(f"{self._shown} sent no bytes for a byte range it had announced")
        return data

    async def _get(self, start: int | None, length: int | None) -> httpx.Response:
        """The streamed response at the end of the redirects from ``self._url``, each hop checked first."""
        headers = {"Accept-Encoding": "identity"}  # ranges count the bytes as stored
        if start is not None and length is not None:
            headers["Range"] = f"bytes={start}-{start + length - 1}"
        url = self._url
        for hops in range(MAX_REDIRECTS + 1):
            self.requests += 1
            if self.requests > MAX_REQUESTS:
                raise self._failed(f"measuring {self._shown} needed more than {MAX_REQUESTS} requests")
            try:
                addresses = await self._policy.check(url)
            except DownloadFailed as exc:
                if exc.retryable:  # the host name did not resolve
                    raise self._failed(exc.message) from exc
                via = "" if url == self._url else f" (redirected from {self._shown})"
                raise self._failed(f"the address of {redact_url(url)}{via} is not allowed: {exc.message}") from exc
            # Credentials in the URL would become an Authorization header: never sent, like the client's own.
            bare = url.copy_with(userinfo=b"") if url.userinfo else url
            request = self._client.build_request("GET", bare, headers=headers, timeout=httpx.Timeout(self._timeout))
            request.headers.pop("Authorization", None)  # a client-wide key is for the provider, never for media
            response = await self._client.send(pin(request, addresses), stream=True, auth=None, follow_redirects=False)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                self._url = url
                return response
            await response.aclose()
            if hops == MAX_REDIRECTS:
                break
            try:
                url = url.join(location)
            except httpx.InvalidURL as exc:
                raise self._failed(f"{self._shown} redirected to a malformed URL") from exc
        raise self._failed(f"{self._shown} redirected more than {MAX_REDIRECTS} times")

    def _refuse_non_media(self, response: httpx.Response) -> None:
        media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media.startswith("text/") or media in _NOT_MEDIA:
            raise Unmeasurable(f"{self._shown} is not a media file: the server answered {media}")

    async def _body(self, response: httpx.Response, length: int) -> bytes:
        """Exactly ``length`` bytes of a ranged body (a longer one is cut short), counted in ``received``."""
        parts: list[bytes] = []
        got = 0
        async for chunk in response.aiter_bytes():
            part = chunk[: length - got]
            parts.append(part)
            got += len(part)
            if got >= length:
                break
        self.received += got
        if got < length:
            raise Unmeasurable(f"{self._shown} sent {got} of the {length} bytes of a byte range")
        return b"".join(parts)

    async def _spool(self, response: httpx.Response) -> Opened:
        """The whole body (the server ignored Range) in a spooled temporary file, up to ``max_bytes``."""
        too_large = Unmeasurable(
            f"{self._shown} is larger than {megabytes(self._max_bytes)}, the most read to measure it "
            "(its server does not answer byte ranges)"
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit():
            self.size = int(declared)
            if self.size > self._max_bytes:
                raise too_large
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            async for chunk in response.aiter_bytes():
                self.received += len(chunk)
                if self.received > self._max_bytes:
                    raise too_large
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        self.size = self.received
        if not self.received:
            spool.close()
            raise Unmeasurable(f"{self._shown} is empty (0 bytes)")
        spool.seek(0)
        return Opened(spool, self.received)


def _content_range(response: httpx.Response, shown: str) -> tuple[int, int, int | None]:
    """(first, last, total or None) of a 206's Content-Range; a malformed one is a problem."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match is None or int(match[2]) < int(match[1]):
        raise Unmeasurable(f"{shown} answered a byte range without a valid Content-Range")
    return int(match[1]), int(match[2]), None if match[3] == "*" else int(match[3])


def _unsatisfied_total(response: httpx.Response) -> int | None:
    match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None
