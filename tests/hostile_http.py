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
        url = server.url("/video.mp4")       # http://127.0.0.1:<port>/video.mp4
        ...
        assert server.hits("/page") == 1

Routes match the path exactly (the query string is ignored); a path without
a route answers 404 text/plain. Routes may be changed while the server runs.
Every response closes its connection (HTTP/1.0), so a body without a
Content-Length ends when the connection does.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
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


class HostileServer:
    """An HTTP server on 127.0.0.1 with programmable routes and a hit counter per path."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._hits: Counter[str] = Counter()
        self._seen: dict[str, list[dict[str, str]]] = {}
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
    ) -> None:
        """Answer GET ``path`` with ``status`` and ``body``; ``content_type=None`` sends no Content-Type."""
        self._set(path, _Route(status, body, content_type, dict(headers or {})))

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

    # --- internals -------------------------------------------------------------------

    def _set(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes[path] = route

    def _arrived(self, path: str, headers: dict[str, str]) -> _Route | None:
        with self._lock:
            self._hits[path] += 1
            self._seen.setdefault(path, []).append(headers)
            return self._routes.get(path)


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
                    self._write_body(route, length)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on the body: that is often the point of the test

        def _write_body(self, route: _Route, length: int) -> None:
            self.wfile.write(route.body)
            remaining = length - len(route.body)
            zeros = bytes(_CHUNK)
            while remaining > 0:
                self.wfile.write(zeros[: min(_CHUNK, remaining)])
                remaining -= _CHUNK

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler
