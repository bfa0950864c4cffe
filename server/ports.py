"""Listening ports: say plainly when one is taken, and suggest one that is free."""

from __future__ import annotations

import errno
import socket

SERVE_HTTP_PORT = 8765
SIMULATOR_PORT = 8766


def can_listen(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too, so a port in TIME_WAIT is not reported as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port_near(host: str, port: int, tries: int = 50) -> int | None:
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if can_listen(host, candidate):
            return candidate
    return None


def port_in_use_message(command: str, host: str, port: int) -> str:
    """One line for a port that is taken, with a free one to use instead."""
    other = free_port_near(host, port)
    suggestion = f"; try: {command} --port {other}" if other else "; choose another with --port"
    return (
        f"wan-video-mcp: {host}:{port} is already in use (another wan-video-mcp, a simulator or another "
        f"program is listening there){suggestion}"
    )
