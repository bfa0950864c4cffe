"""The real ``wan-video-mcp serve --http`` process for tests: started on a free loopback port, waited for until it
answers, stopped after (a test may SIGKILL it first)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
from anyio.abc import Process

from tests.simulated import free_port
from tests.stdio_server import REPO


@dataclass
class Replica:
    port: int
    log: Path
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@asynccontextmanager
async def replica(
    tmp_path: Path, name: str, env: dict[str, str], arguments: tuple[str, ...] = ("--auth", "required")
) -> AsyncIterator[Replica]:
    """One ``serve --http`` process (with ``arguments``; its log in ``tmp_path/{name}.log``), answering; stopped (if
    still running) after."""
    port, log = free_port(), tmp_path / f"{name}.log"
    with log.open("ab") as sink:
        process = await anyio.open_process(
            [sys.executable, "-m", "wan_video_mcp.server.cli", "serve", "--http", "--port", str(port), *arguments],
            env={**os.environ, **env},
            cwd=str(REPO),
            stdout=sink,
            stderr=sink,
        )
        try:
            with anyio.fail_after(30):
                async with httpx.AsyncClient() as http:
                    while True:
                        try:
                            await http.get(f"http://127.0.0.1:{port}/mcp")
                            break
                        except httpx.ConnectError:
                            assert process.returncode is None, log.read_text(errors="replace")
                            await anyio.sleep(0.2)
            yield Replica(port, log, process)
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
