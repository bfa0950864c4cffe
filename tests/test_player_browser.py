"""The in-chat player (MCP Apps) in a real browser: Debian's Chromium, driven by Playwright, against the real server
over streamable HTTP with its simulator. Nothing here leaves 127.0.0.1.

The host page (tests/apps_host.html) does what a chat host does: it finds the tool's ``_meta.ui.resourceUri`` in
tools/list, reads that ``ui://`` resource, renders it in a sandboxed iframe, calls the tool, answers
``ui/initialize`` and sends the tool's input and result. Its MCP requests, and the player's ``tools/call`` and
``resources/read``, go through ``/mcp-proxy``: this test's small web back end, which holds an SDK client of the
server. Playwright launches the system Chromium (``executable_path``), never a downloaded browser; without Chromium
the tests are skipped, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
import uvicorn
from mcp import Client
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from tests.simulated import FAST_POLLING, free_port
from tests.stdio_server import REPO
from wan_video_mcp.tools.player import PLAYER_URI

async_api = pytest.importorskip(
    "playwright.async_api", reason="PLAYWRIGHT IS NOT INSTALLED: the in-chat player's browser tests did not run"
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HOST_PAGE = Path(__file__).with_name("apps_host.html")
WAIT_MS = 60_000  # the longest any single thing in the browser may take
# What the player shows, read in its iframe.
SNAPSHOT = """() => {
  const video = document.getElementById("video"), bar = document.getElementById("bar");
  return {
    state: document.body.dataset.state,
    status: document.getElementById("status").textContent,
    poster: video.poster.slice(0, 22),
    src: video.src.slice(0, 5),
    controls: video.controls,
    progress_bar: getComputedStyle(bar).display !== "none" ? bar.firstElementChild.style.width : null,
  };
}"""
PLAYED_HALF_A_SECOND = "() => document.getElementById('video').currentTime > 0.5"


def chromium() -> str:
    """The system Chromium; skips the calling test, loudly, where there is none."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip(
            "CHROMIUM IS NOT INSTALLED: the in-chat player's browser tests did not run "
            "(apt-get install chromium; CI installs it)"
        )
    return path


@asynccontextmanager
async def wan_server(tmp_path: Path, run_seconds: float) -> AsyncIterator[Client]:
    """``wan-video-mcp serve --http`` on loopback with the simulator rendering in ``run_seconds``; a client of it."""
    port = free_port()
    env = {
        **os.environ,
        **FAST_POLLING,
        "WAN_PROVIDER": "simulator",
        "WAN_MCP_DATA_DIR": str(tmp_path / "data"),
        "WAN_SIM_QUEUE_SECONDS": "0.2",
        "WAN_SIM_RUN_SECONDS": str(run_seconds),
    }
    with (tmp_path / "server.log").open("wb") as log:
        process = await anyio.open_process(
            [sys.executable, "-m", "wan_video_mcp.server.cli", "serve", "--http", "--port", str(port)],
            env=env,
            cwd=str(REPO),
            stdout=log,
            stderr=log,
        )
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:  # not listening yet
                    await anyio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            yield client
    finally:
        process.terminate()
        await process.wait()


@dataclass
class HostBackEnd:
    """The chat host's back end: its page's MCP requests, sent to the real server with the SDK client."""

    client: Client
    videos: anyio.Event  # reads of a video wait until it is set
    calls: list[str] = field(default_factory=list)  # "tools/call check_task", "resources/read <uri>", ...
    results: list[dict[str, Any]] = field(default_factory=list)  # every tools/call result, as the page got it

    async def proxy(self, request: Request) -> JSONResponse:
        body = await request.json()
        method, params = body["method"], body.get("params") or {}
        try:
            if method == "tools/list":
                self.calls.append(method)
                result: Any = await self.client.list_tools()
            elif method == "tools/call":
                self.calls.append(f"{method} {params['name']}")
                result = await self.client.call_tool(params["name"], params.get("arguments") or {})
            elif method == "resources/read":
                self.calls.append(f"{method} {params['uri']}")
                if params["uri"] != PLAYER_URI:
                    await self.videos.wait()
                result = await self.client.read_resource(params["uri"])
            else:
                return JSONResponse({"error": {"code": -32601, "message": f"the host does not proxy {method}"}})
        except MCPError as exc:
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}})
        answer = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        if method == "tools/call":
            self.results.append(answer)
        return JSONResponse({"result": answer})

    def app(self) -> Starlette:
        async def page(_: Request) -> HTMLResponse:
            return HTMLResponse(HOST_PAGE.read_text(encoding="utf-8"))

        return Starlette(routes=[Route("/", page), Route("/mcp-proxy", self.proxy, methods=["POST"])])


@asynccontextmanager
async def web_host(client: Client) -> AsyncIterator[tuple[HostBackEnd, str]]:
    """The host page and its back end on 127.0.0.1 (a port of the system's choosing), and the page's address."""
    backend = HostBackEnd(client, anyio.Event())
    server = uvicorn.Server(uvicorn.Config(backend.app(), host="127.0.0.1", port=0, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield backend, f"http://127.0.0.1:{port}/"
        finally:
            server.should_exit = True


@asynccontextmanager
async def browser_page() -> AsyncIterator[Any]:
    """A page of the system Chromium, headless."""
    executable = chromium()
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            yield await browser.new_page(viewport={"width": 700, "height": 540})
        finally:
            await browser.close()


async def open_chat(page: Any, address: str, tool: str, arguments: dict[str, Any]) -> Any:
    """The host page calling ``tool``; the player's frame once the player has initialized."""
    scenario = quote(json.dumps({"tool": tool, "arguments": arguments}))
    await page.goto(f"{address}?scenario={scenario}")
    await page.wait_for_selector("body[data-view=initialized]", state="attached", timeout=WAIT_MS)
    return await (await page.query_selector("#view")).content_frame()


async def until(frame: Any, predicate: str) -> None:
    """Wait (bounded by the caller's ``fail_after``) until ``predicate`` holds in ``frame``.

    Playwright's ``wait_for_function`` compiles its predicate with eval, which the player's CSP refuses, as it should;
    ``evaluate`` is not subject to it.
    """
    while not await frame.evaluate(predicate):
        await anyio.sleep(0.05)


async def test_a_finished_video_shows_its_poster_then_plays_in_the_chat(tmp_path: Path) -> None:
    arguments = {"prompt": "a paper boat on a pond", "resolution": "720P", "duration": 2, "wait_seconds": 30}
    async with wan_server(tmp_path, run_seconds=1) as client, web_host(client) as (host, address):
        async with browser_page() as page:
            with anyio.fail_after(120):
                frame = await open_chat(page, address, "generate_video", arguments)
                # The host holds the read of the MP4: until it arrives the player shows the poster and what it does.
                await until(frame, "() => document.body.dataset.state === 'loading'")
                loading = await frame.evaluate(SNAPSHOT)
                await page.screenshot(path=tmp_path / "player-poster.png")
                host.videos.set()
                await until(frame, PLAYED_HALF_A_SECOND)
                playing = await frame.evaluate(SNAPSHOT)
                await page.screenshot(path=tmp_path / "player-playing.png")
    print(f"screenshots: {tmp_path / 'player-poster.png'} {tmp_path / 'player-playing.png'}")
    [result] = host.results
    task = result["structuredContent"]
    assert {
        "task": (task["status"], task["video"]["media"]["height"]),
        "poster in the result": [block["type"] for block in result["content"]],
        "host calls": host.calls,
        "while the MP4 is read": loading,
        "once it plays": playing,
    } == {
        "task": ("succeeded", 720),
        "poster in the result": ["text", "resource_link", "image"],
        "host calls": [
            "tools/list",
            f"resources/read {PLAYER_URI}",
            "tools/call generate_video",
            f"resources/read {task['video']['uri']}",
        ],
        "while the MP4 is read": {
            "state": "loading",
            "status": "Loading the video…",
            "poster": "data:image/png;base64,",
            "src": "",
            "controls": False,
            "progress_bar": None,
        },
        "once it plays": {
            "state": "playing",
            "status": task["summary"],
            "poster": "data:image/png;base64,",
            "src": "blob:",
            "controls": True,
            "progress_bar": None,
        },
    }


async def test_a_rendering_task_shows_progress_and_plays_once_polling_through_the_host_finds_it_done(
    tmp_path: Path,
) -> None:
    arguments = {"prompt": "a kite over a beach", "resolution": "720P", "duration": 2, "wait_seconds": 0}
    async with wan_server(tmp_path, run_seconds=6) as client, web_host(client) as (host, address):
        host.videos.set()
        async with browser_page() as page:
            with anyio.fail_after(120):
                frame = await open_chat(page, address, "generate_video", arguments)
                await until(
                    frame,
                    "() => document.body.dataset.state === 'rendering' && "
                    "parseFloat(document.querySelector('#bar i').style.width) > 0",
                )
                rendering = await frame.evaluate(SNAPSHOT)
                await page.screenshot(path=tmp_path / "player-rendering.png")
                await until(frame, PLAYED_HALF_A_SECOND)
                playing = await frame.evaluate(SNAPSHOT)
    print(f"screenshot: {tmp_path / 'player-rendering.png'}")
    first, *checks = (result["structuredContent"] for result in host.results)
    calls = [call for i, call in enumerate(host.calls) if i == 0 or call != host.calls[i - 1]]
    assert {
        "first result": (first["status"] in {"submitting", "queued", "running"}, "video" in first),
        "checks": ({check["task_id"] for check in checks}, checks[-1]["status"], checks[-1]["video"]["uri"]),
        "host calls": calls,
        "while it renders": (rendering["state"], rendering["status"].startswith("[SIMULATED] Task")),
        "once it plays": (playing["state"], playing["src"], playing["progress_bar"]),
    } == {
        "first result": (True, False),
        "checks": ({first["task_id"]}, "succeeded", f"wan-video://videos/{first['task_id']}.mp4"),
        "host calls": [
            "tools/list",
            f"resources/read {PLAYER_URI}",
            "tools/call generate_video",
            "tools/call check_task",
            f"resources/read wan-video://videos/{first['task_id']}.mp4",
        ],
        "while it renders": ("rendering", True),
        "once it plays": ("playing", "blob:", None),
    }, host.calls
