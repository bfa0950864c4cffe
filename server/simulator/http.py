"""HTTP/1.1 for the simulator: h11 reads the requests, and the faults stay real on the way out.

h11 parses requests (keep-alive, pipelining, chunked bodies, ``Expect: 100-continue``) and frames
whole responses. The faults step around it on purpose: a body shorter than its Content-Length is
``Data`` followed by closing the socket (h11 is never told the message ended), a throttled body is
paced ``Data``, a reset closes the socket with SO_LINGER 0, a hang closes it after a sleep.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import h11
from anyio.abc import SocketAttribute, SocketStream

logger = logging.getLogger(__name__)

SIMULATOR_HEADER = ("X-Wan-Simulator", "1")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024  # a 10 MB image as a data URL, with room to spare (uploads: ``BodyLimit``)
KEEPALIVE_IDLE_SECONDS = 75.0
CHUNK = 64 * 1024

# The peer went away or sent garbage: the connection is dropped without a word.
PEER_ERRORS: tuple[type[BaseException], ...] = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    h11.ProtocolError,
    ConnectionError,
    ValueError,
    OSError,
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # the path parameters of the route that matched


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_range: tuple[int, int] | None = None  # inclusive byte range of ``file``
    throttle: int | None = None  # bytes per second
    truncate_at: int | None = None  # body bytes sent before the connection is closed

    @property
    def length(self) -> int:
        if self.file_range is not None:
            return self.file_range[1] - self.file_range[0] + 1
        return len(self.body)


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None, *, label: bool = True
) -> Response:
    """A JSON answer; ``label`` adds the ``"simulated": true`` field every body but one carries."""
    data = {**body, "simulated": True} if label else body
    return Response(status, json.dumps(data, ensure_ascii=False).encode(), headers=headers or {})


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


BodyLimit = Callable[[str, str], int]  # (method, path) -> the largest body read; a longer one answers 413


def default_body_limit(method: str, path: str) -> int:
    return MAX_BODY_BYTES


def _request(head: h11.Request, body: bytes) -> Request:
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    parts = urlsplit(head.target.decode("latin-1"))
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return Request(head.method.decode("ascii").upper(), parts.path or "/", query, headers, body)


class HttpConnection:
    """One client connection: reads requests with h11 and writes responses (whole, throttled or cut short)."""

    def __init__(self, stream: SocketStream, body_limit: BodyLimit = default_body_limit) -> None:
        self.stream = stream
        self._body_limit = body_limit
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._method = "GET"  # of the request being answered: HEAD gets no body

    async def next_request(self) -> Request | None:
        """The next request; None when the peer closed between requests or sent one that is refused."""
        head: h11.Request | None = None
        body = bytearray()
        limit = MAX_BODY_BYTES
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if head is not None:  # garbage inside a body: nothing sensible to answer
                    raise
                await self._refuse(exc.error_status_hint)  # 431 for a head over MAX_HEAD_BYTES, else 400
                return None
            if event is h11.NEED_DATA:
                if self._h11.they_are_waiting_for_100_continue:
                    await self.stream.send(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))
                try:
                    data = await self.stream.receive(CHUNK)
                except anyio.EndOfStream:
                    data = b""
                self._h11.receive_data(data)
            elif isinstance(event, h11.Request):
                head, self._method = event, event.method.decode("ascii").upper()
                limit = self._body_limit(self._method, urlsplit(event.target.decode("latin-1")).path)
                length = dict(event.headers).get(b"content-length", b"0")
                if int(length or b"0") > limit:
                    await self._refuse(413)
                    return None
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:  # a chunked body past the cap
                    raise h11.RemoteProtocolError("request body too large")
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _request(head, bytes(body))
            else:  # ConnectionClosed: the peer left between requests
                return None

    async def _refuse(self, status: int) -> None:
        """Answer a request that will not be read, and close."""
        head = h11.Response(
            status_code=status, headers=[("Content-Length", "0"), ("Connection", "close")], reason=_reason(status)
        )
        await self.stream.send((self._h11.send(head) or b"") + (self._h11.send(h11.EndOfMessage()) or b""))

    async def send(self, resp: Response, *, date: float) -> bool:
        """Write ``resp``; return False when its body was cut short on purpose (the connection is then closed)."""
        headers = {
            "Date": formatdate(date, usegmt=True),
            "Server": "wan-video-mcp-simulator",
            "Content-Type": resp.content_type,
            "Content-Length": str(resp.length),
            "Connection": "keep-alive",  # h11 says close instead when the request asked for it
            SIMULATOR_HEADER[0]: SIMULATOR_HEADER[1],
            **resp.headers,
        }
        head = h11.Response(status_code=resp.status, headers=list(headers.items()), reason=_reason(resp.status))
        await self.stream.send(self._h11.send(head) or b"")
        if self._method != "HEAD":
            limit = min(resp.length, resp.truncate_at if resp.truncate_at is not None else resp.length)
            async for data in self._body(resp, limit):
                await self.stream.send(self._h11.send(h11.Data(data=data)) or b"")
                if resp.throttle is not None:
                    await anyio.sleep(len(data) / resp.throttle)
            if limit < resp.length:
                await self.stream.aclose()
                return False
        await self.stream.send(self._h11.send(h11.EndOfMessage()) or b"")
        return True

    async def _body(self, resp: Response, limit: int) -> AsyncIterator[bytes]:
        if resp.file is None:
            if limit:
                yield resp.body[:limit]
            return
        assert resp.file_range is not None
        start = resp.file_range[0]
        sent, step = 0, CHUNK if resp.throttle is None else max(1, resp.throttle // 10)
        async with await anyio.open_file(resp.file, "rb") as handle:
            await handle.seek(start)
            while sent < limit:
                data = await handle.read(min(step, limit - sent))
                if not data:
                    break
                yield data
                sent += len(data)

    def next_cycle(self) -> bool:
        """Get ready for the next request on this connection; False when it must close instead."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    async def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
        sock = self.stream.extra(SocketAttribute.raw_socket, None)
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    async def hang_up(self, after: float) -> None:
        """Answer nothing for ``after`` seconds, then close."""
        await anyio.sleep(after)
        await self.stream.aclose()


Answer = Callable[[Request, HttpConnection], Awaitable[bool]]


async def serve_connection(stream: SocketStream, answer: Answer, body_limit: BodyLimit = default_body_limit) -> None:
    """Serve one connection (keep-alive, idle timeout) until the peer leaves or ``answer`` returns False."""
    connection = HttpConnection(stream, body_limit)
    try:
        async with stream:
            while True:
                request = None
                with anyio.move_on_after(KEEPALIVE_IDLE_SECONDS):
                    request = await connection.next_request()
                if request is None or not await answer(request, connection) or not connection.next_cycle():
                    break
    except PEER_ERRORS:
        pass  # the peer went away or sent garbage: drop the connection
    except Exception:  # a bug must not take the listener down with it
        logger.exception("simulator connection handler failed")
