"""The in-chat player (MCP Apps) in a real browser: Debian's Chromium, driven by Playwright, against the real server
over streamable HTTP with its simulator. Nothing here leaves 127.0.0.1.

The host page (tests/apps_host.html) does what a chat host does: it finds the tool's ``_meta.ui.resourceUri`` in
tools/list, reads that ``ui://`` resource, renders it in a sandboxed iframe, calls the tool, answers
``ui/initialize`` and sends the tool's input and result. Its MCP requests, and the player's ``tools/call`` and
``resources/read``, go through ``/mcp-proxy``: this test's small web back end, which holds an SDK client of the
server. Playwright launches the system Chromium (``executable_path``), never a downloaded browser; without Chromium
the tests are skipped, loudly.

What a real server does rarely or only with awkward timing (a retryable error from check_task, a storyboard joined
while one of its shots plays) is scripted instead: the same host page, with a back end that answers as the test says.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
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

from tests.media_files import mp4
from tests.simulated import FAST_POLLING, free_port
from tests.stdio_server import REPO
from wan_video_mcp.tools.player import PLAYER_URI, player_html

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


@dataclass
class ScriptedBackEnd:
    """A chat host's back end with no MCP server behind it: ``tool`` (with the player), whose calls ``answer``
    scripts, and the MP4 behind each video URI."""

    tool: str
    answer: Callable[[str, dict[str, Any]], dict[str, Any]]  # a tools/call's result from the tool's name, arguments
    videos: dict[str, bytes]
    calls: list[tuple[float, str]] = field(default_factory=list)  # (when, "check_task sb_1"), (when, "read <uri>")

    async def proxy(self, request: Request) -> JSONResponse:
        body = await request.json()
        method, params = body["method"], body.get("params") or {}
        if method == "tools/list":
            tool = {"name": self.tool, "inputSchema": {"type": "object"}, "_meta": {"ui": {"resourceUri": PLAYER_URI}}}
            return JSONResponse({"result": {"tools": [tool]}})
        if method == "resources/read" and params["uri"] == PLAYER_URI:
            player = {"uri": PLAYER_URI, "mimeType": "text/html;profile=mcp-app", "text": player_html()}
            return JSONResponse({"result": {"contents": [player]}})
        if method == "resources/read":
            self.calls.append((time.monotonic(), f"read {params['uri']}"))
            blob = base64.b64encode(self.videos[params["uri"]]).decode()
            return JSONResponse(
                {"result": {"contents": [{"uri": params["uri"], "mimeType": "video/mp4", "blob": blob}]}}
            )
        arguments = params.get("arguments") or {}
        self.calls.append((time.monotonic(), f"{params['name']} {arguments.get('task_id', '')}".strip()))
        return JSONResponse({"result": self.answer(params["name"], arguments)})

    def named(self, call: str) -> list[float]:
        """When the player (or the host) made ``call``."""
        return [when for when, made in self.calls if made == call]


def task_result(task_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """A tools/call result holding a task (a storyboard with ``shots``)."""
    task = {"task_id": task_id, "status": status, "message": f"Task {task_id} is {status}.", **fields}
    return {"content": [{"type": "text", "text": task["message"]}], "structuredContent": task, "isError": False}


def error_result(code: str, message: str, hint: str, *, retryable: bool) -> dict[str, Any]:
    """An ``isError`` tools/call result: an ErrorResult as the server's tools return it."""
    error = {"error_code": code, "message": message, "retryable": retryable, "hint": hint}
    return {"content": [{"type": "text", "text": message}], "structuredContent": error, "isError": True}


def host_app(proxy: Callable[[Request], Any]) -> Starlette:
    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(HOST_PAGE.read_text(encoding="utf-8"))

    return Starlette(routes=[Route("/", page), Route("/mcp-proxy", proxy, methods=["POST"])])


@asynccontextmanager
async def web_host(client: Client) -> AsyncIterator[tuple[HostBackEnd, str]]:
    """The host page and its back end on 127.0.0.1 (a port of the system's choosing), and the page's address."""
    backend = HostBackEnd(client, anyio.Event())
    async with host_page(backend.proxy) as address:
        yield backend, address


@asynccontextmanager
async def host_page(proxy: Callable[[Request], Any]) -> AsyncIterator[str]:
    """The host page with ``proxy`` as its back end on 127.0.0.1 (a port of the system's choosing); its address."""
    server = uvicorn.Server(uvicorn.Config(host_app(proxy), host="127.0.0.1", port=0, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}/"
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


async def within(seconds: float, frame: Any, predicate: str) -> bool:
    """Whether ``predicate`` comes to hold in ``frame`` within ``seconds``: a test that goes on to assert what it saw
    fails with the whole picture rather than a timeout."""
    with anyio.move_on_after(seconds):
        await until(frame, predicate)
        return True
    return False


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


# The scripted tests' videos: a shot and the storyboard joined, told apart by their width.
SHOT_VIDEO, BOARD_VIDEO = "wan-video://videos/wan_a.mp4", "wan-video://videos/sb_1.mp4"
WIDTH = "document.getElementById('video').videoWidth"  # in a predicate
BUTTONS = (
    "() => [...document.querySelectorAll('#shots button')].map((b) => `${b.textContent}${b.disabled ? ' (off)' : ''}`)"
)


async def test_a_storyboard_is_still_followed_while_a_chosen_shot_plays_and_its_joined_video_follows_the_shot(
    tmp_path: Path,
) -> None:
    joined = False  # the storyboard is open until the test says otherwise

    def answer(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if arguments.get("task_id") == "wan_a":
            return task_result("wan_a", "succeeded", video={"uri": SHOT_VIDEO})
        if not joined:
            shots = [
                {"index": 0, "task_id": "wan_a", "status": "succeeded", "progress_percent": 100},
                {"index": 1, "task_id": "wan_b", "status": "running", "progress_percent": 40},
            ]
            return task_result("sb_1", "running", progress_percent=70, shots=shots)
        shots = [{"index": i, "task_id": f"wan_{c}", "status": "succeeded"} for i, c in enumerate("ab")]
        return task_result("sb_1", "succeeded", summary="The storyboard sb_1.", video={"uri": BOARD_VIDEO}, shots=shots)

    # The shot lasts long enough for the joined video to arrive while it plays (the player checks every 3 s).
    videos = {SHOT_VIDEO: mp4(seconds=9, size=(320, 240)), BOARD_VIDEO: mp4(seconds=3, size=(480, 270))}
    host = ScriptedBackEnd("generate_storyboard", answer, videos)
    async with host_page(host.proxy) as address, browser_page() as page:
        with anyio.fail_after(90):
            frame = await open_chat(page, address, "generate_storyboard", {"shots": [{"prompt": "a"}, {"prompt": "b"}]})
            await until(frame, "() => !!document.querySelector('#shots button:enabled')")
            before = await frame.evaluate(BUTTONS)
            await frame.click("#shots button:enabled")
            clicked = time.monotonic()
            await until(frame, f"() => {WIDTH} === 320 && document.getElementById('video').currentTime > 0.3")
            with anyio.move_on_after(10):  # the player goes on checking the storyboard while the shot plays
                while not [when for when in host.named("check_task sb_1") if when > clicked]:
                    await anyio.sleep(0.05)
            checked_while_the_shot_plays = [when for when in host.named("check_task sb_1") if when > clicked] != []
            joined = True
            offered = await within(
                10, frame, "() => document.getElementById('shots').textContent.includes('Whole storyboard')"
            )
            # The shot the user chose plays on; the joined video is offered, and follows it.
            while_the_shot_plays = {
                "status": await frame.evaluate("() => document.getElementById('status').textContent"),
                "buttons": await frame.evaluate(BUTTONS),
                "width": await frame.evaluate(f"() => {WIDTH}"),
                "ended": await frame.evaluate("() => document.getElementById('video').ended"),
            }
            followed = await within(15, frame, f"() => {WIDTH} === 480 && ({PLAYED_HALF_A_SECOND})()")
            after_it = (await frame.evaluate(SNAPSHOT))["state"], await frame.evaluate(BUTTONS)
            back = False
            if followed:  # any shot again, and back to the whole storyboard, from the strip
                await frame.click("#shots button:nth-child(2)")
                await until(frame, f"() => {WIDTH} === 320")
                await frame.click("#shots button:first-child")
                back = await within(10, frame, f"() => {WIDTH} === 480")
    assert {
        "the storyboard checked while the shot plays": checked_while_the_shot_plays,
        "the strip before": before,
        "offered while the shot plays": offered,
        "while the shot plays": while_the_shot_plays,
        "the joined video follows the shot": followed,
        "after it": after_it,
        "back to the whole from the strip": back,
        "videos read": [call for _, call in host.calls if call.startswith("read")],
    } == {
        "the storyboard checked while the shot plays": True,
        "the strip before": ["Shot 0 · succeeded", "Shot 1 · running (off)"],
        "offered while the shot plays": True,
        "while the shot plays": {
            "status": "The whole storyboard is ready: it plays after this shot.",
            "buttons": ["▶ Whole storyboard", "Shot 0 · succeeded", "Shot 1 · succeeded"],
            "width": 320,
            "ended": False,
        },
        "the joined video follows the shot": True,
        "after it": ("playing", ["▶ Whole storyboard", "Shot 0 · succeeded", "Shot 1 · succeeded"]),
        "back to the whole from the strip": True,
        "videos read": [f"read {SHOT_VIDEO}", f"read {BOARD_VIDEO}", f"read {SHOT_VIDEO}", f"read {BOARD_VIDEO}"],
    }, host.calls


async def test_a_retryable_error_from_check_task_slows_polling_down_and_a_final_one_stops_it(tmp_path: Path) -> None:
    checks = iter(
        [
            error_result("provider_unavailable", "The provider is busy.", "Try again shortly.", retryable=True),
            task_result("wan_1", "running", progress_percent=60),
            error_result("task_not_found", "No task wan_1 here.", "Check the task id.", retryable=False),
        ]
    )

    def answer(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return task_result("wan_1", "running", progress_percent=20) if name == "generate_video" else next(checks)

    host = ScriptedBackEnd("generate_video", answer, {})
    async with host_page(host.proxy) as address, browser_page() as page:
        with anyio.fail_after(90):
            frame = await open_chat(page, address, "generate_video", {"prompt": "a lighthouse at dusk"})
            retrying = None
            if await within(10, frame, "() => document.getElementById('status').textContent.includes('busy')"):
                retrying = await frame.evaluate(SNAPSHOT)
            await within(20, frame, "() => document.body.dataset.state === 'failed'")
            failed = await frame.evaluate(SNAPSHOT)
            await anyio.sleep(7)  # longer than any wait the player would take before checking again
    when = host.named("check_task wan_1")
    gaps = [later - earlier for earlier, later in itertools.pairwise(when)]
    # (held to bounds, not exact seconds: a loaded machine runs the page's timers late, never early)
    slowed_then_restored = len(gaps) == 2 and gaps[0] >= 5.5 and gaps[1] < 5.5
    assert {
        "calls": [call for _, call in host.calls],
        "6 s after the retryable error, 3 s after the next good check": (slowed_then_restored, gaps),
        "while it retries": retrying and (retrying["state"], retrying["status"], retrying["progress_bar"]),
        "once an error is final": (failed["state"], failed["status"]),
    } == {
        "calls": ["generate_video", "check_task wan_1", "check_task wan_1", "check_task wan_1"],
        # After the retryable error the player waits twice as long, then back to 3 s once a check succeeds.
        "6 s after the retryable error, 3 s after the next good check": (True, gaps),
        "while it retries": ("rendering", "The provider is busy. Try again shortly. Trying again in 6 s.", "20%"),
        "once an error is final": ("failed", "No task wan_1 here. Check the task id."),
    }, host.calls
