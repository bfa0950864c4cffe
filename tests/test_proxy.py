"""The shared HTTP client honours the environment's proxy settings, as httpx's own client does."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from wan_video_mcp.server.providers.http import shared_client

pytestmark = pytest.mark.anyio

TIMEOUT = httpx.Timeout(5.0)


def _fake_proxy() -> tuple[str, list[str]]:
    """A loopback HTTP proxy that answers one request and records its request line."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            seen.append(head.split(b"\r\n", 1)[0].decode())
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nproxied")

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", seen


async def test_requests_go_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, seen = _fake_proxy()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    async with shared_client(TIMEOUT) as client:
        response = await client.get("http://provider.invalid/api/v1/tasks/abc")
    assert (response.status_code, response.text, seen) == (
        200,
        "proxied",
        ["GET http://provider.invalid/api/v1/tasks/abc HTTP/1.1"],
    )


async def test_without_a_proxy_the_client_connects_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server, seen = _fake_proxy()  # here an ordinary server: a direct request names only the path
    async with shared_client(TIMEOUT) as client:
        response = await client.get(f"{server}/api/v1/tasks/abc")
    assert (response.text, seen) == ("proxied", ["GET /api/v1/tasks/abc HTTP/1.1"])
