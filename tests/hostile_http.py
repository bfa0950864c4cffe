"""A small programmable HTTP server on 127.0.0.1 that answers what a test tells it to.

For tests of clients that must not trust what a URL returns: HTML pages with
status 200, redirects anywhere (other ports, private addresses, ``file://``),
redirect loops, bodies larger than any limit. It runs the standard library's
``ThreadingHTTPServer`` in a background thread, so it serves sync and async
tests alike::

    with HostileServer() as server:
        server.route("/page", body=b"<html>portal</html>", content_type="text/html")
        server.redirect("/video.mp4", "/page")
        server.big("/huge.mp4", 50_000_000)
        server.route("/clip.mp4", body=mp4, ranges=True)   # answers Range: bytes=... with 206
        url = server.url("/video.mp4")       # http://127.0.0.1:<port>/video.mp4
        ...
        assert server.hits("/page") == 1
        assert server.bytes_sent("/clip.mp4") < len(mp4)

Routes match the path exactly (the query string is ignored); a path without
a route answers 404 text/plain. Routes may be changed while the server runs.
A route made with ``ranges=True`` honours a single ``Range: bytes=...``
(206 with Content-Range, or 416 past the end) and says ``Accept-Ranges``;
every other route ignores Range and sends the whole body with 200.
Every response closes its connection (HTTP/1.0), so a body without a
Content-Length ends when the connection does.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["HostileServer"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Route:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A streamed body of `size` bytes: `body` first, then zeros.
    size: int | None = None
    announce_length: bool = True
    # Honour a single "Range: bytes=..." request header (206 / 416); otherwise Range is ignored.
    ranges: bool = False


class HostileServer:
    """An HTTP server on 127.0.0.1 with programmable routes and a hit counter per path."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._hits: Counter[str] = Counter()
        self._seen: dict[str, list[dict[str, str]]] = {}
        self._sent: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> HostileServer:
        """Listen on a free port of 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        httpd.daemon_threads = True  # close() must not wait for a client that stopped reading
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile-http", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port (in-flight responses are abandoned)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- addresses ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (still known after close(), for assertions on messages)."""
        if self._port is None:
            raise RuntimeError("the server was never started: use it as a context manager or call start()")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.origin + (path if path.startswith("/") else "/" + path)

    # --- routes ------------------------------------------------------------------

    def route(
        self,
        path: str,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = "application/octet-stream",
        headers: dict[str, str] | None = None,
        *,
        ranges: bool = False,
    ) -> None:
        """Answer GET ``path`` with ``status`` and ``body``; ``content_type=None`` sends no Content-Type.

        ``ranges=True`` (with status 200) answers a single ``Range: bytes=a-b`` / ``a-`` / ``-n`` with 206 and
        that slice of ``body``, or 416 when it starts past the end; a malformed or multi-range header gets 200.
        """
        self._set(path, _Route(status, body, content_type, dict(headers or {}), ranges=ranges))

    def redirect(self, path: str, location: str | None, status: int = 302) -> None:
        """Answer ``path`` with ``status`` and ``Location: location`` (sent as given; None sends none)."""
        headers = {"Location": location} if location is not None else {}
        self._set(path, _Route(status, b"", "text/plain", headers))

    def big(
        self,
        path: str,
        size: int,
        content_type: str | None = "video/mp4",
        *,
        prefix: bytes = b"",
        announce_length: bool = True,
    ) -> None:
        """Stream ``size`` bytes at ``path``: ``prefix``, then zeros, in 64 KiB writes.

        ``announce_length=False`` sends no Content-Length: the body just ends with the connection.
        """
        self._set(path, _Route(200, prefix[:size], content_type, {}, size=size, announce_length=announce_length))

    # --- what happened -------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests asked for ``path`` so far."""
        with self._lock:
            return self._hits[path]

    def headers(self, path: str) -> list[dict[str, str]]:
        """The request headers (names lower-cased) of each request for ``path``, oldest first."""
        with self._lock:
            return [dict(h) for h in self._seen.get(path, [])]

    def bytes_sent(self, path: str) -> int:
        """How many body bytes were written for ``path`` so far (all requests; a client that hung up early
        may have received fewer)."""
        with self._lock:
            return self._sent[path]

    # --- internals -------------------------------------------------------------------

    def _set(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes[path] = route

    def _arrived(self, path: str, headers: dict[str, str]) -> _Route | None:
        with self._lock:
            self._hits[path] += 1
            self._seen.setdefault(path, []).append(headers)
            return self._routes.get(path)

    def _count(self, path: str, size: int) -> None:
        with self._lock:
            self._sent[path] += size


def _byte_range(header: str | None, length: int) -> tuple[int, int] | None | Literal[False]:
    """The inclusive (first, last) byte a ``Range`` header asks of a ``length``-byte body; None to ignore the
    header (absent, malformed, several ranges); False when it cannot be satisfied (416)."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    try:
        if not dash:
            return None
        if not first_text:  # bytes=-n: the last n bytes
            suffix = int(last_text)
            if suffix <= 0 or length == 0:
                return False
            return max(0, length - suffix), length - 1
        first = int(first_text)
        last = int(last_text) if last_text else None
    except ValueError:
        return None
    if first < 0 or (last is not None and last < first):
        return None
    if first >= length:
        return False
    return first, length - 1 if last is None else min(last, length - 1)


def _handler_for(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            path = urlsplit(self.path).path
            route = server._arrived(path, {k.lower(): v for k, v in self.headers.items()})
            if route is None:
                route = _Route(404, f"no route for {path}\n".encode(), "text/plain")
            if route.ranges and route.size is None and route.status == 200:
                self._answer_range(path, route, send_body=send_body)
                return
            length = route.size if route.size is not None else len(route.body)
            try:
                self.send_response(route.status)
                if route.content_type is not None:
                    self.send_header("Content-Type", route.content_type)
                if route.size is None or route.announce_length:
                    self.send_header("Content-Length", str(length))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self._write_body(path, route, length)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on the body: that is often the point of the test

        def _answer_range(self, path: str, route: _Route, *, send_body: bool) -> None:
            total = len(route.body)
            wanted = _byte_range(self.headers.get("Range"), total)
            if wanted is False:
                status, body, content_range = 416, b"", f"bytes */{total}"
            elif wanted is None:
                status, body, content_range = 200, route.body, None
            else:
                first, last = wanted
                status, body, content_range = 206, route.body[first : last + 1], f"bytes {first}-{last}/{total}"
            try:
                self.send_response(status)
                if route.content_type is not None:
                    self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                if content_range is not None:
                    self.send_header("Content-Range", content_range)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)
                    server._count(path, len(body))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _write_body(self, path: str, route: _Route, length: int) -> None:
            self.wfile.write(route.body)
            server._count(path, len(route.body))
            remaining = length - len(route.body)
            zeros = bytes(_CHUNK)
            while remaining > 0:
                self.wfile.write(zeros[: min(_CHUNK, remaining)])
                server._count(path, min(_CHUNK, remaining))
                remaining -= _CHUNK

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler
