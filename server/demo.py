"""The offline demo: a real MCP client drives the real server (over stdio) against the simulator.

It lists the tools, asks for a short clip with a short wait (so it gets a task
handle back, as an agent would when a render outlives its patience), follows the
handle with check_task while printing progress, reads the video through its
resource link, and saves it. It writes nothing itself: the CLI hands it ``echo``.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from wan_video_mcp.server.config import DEFAULT_MAX_WAIT_SECONDS

WAIT_SECONDS = DEFAULT_MAX_WAIT_SECONDS


def _server_params(data_dir: Path, render_seconds: float) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "wan_video_mcp.server.cli", "serve", "--provider", "simulator"],
        env={
            "WAN_MCP_DATA_DIR": str(data_dir),
            "WAN_SIM_QUEUE_SECONDS": "1",
            "WAN_SIM_RUN_SECONDS": str(render_seconds),
            "WAN_POLL_MIN_SECONDS": "0.5",
            "WAN_LOG_LEVEL": "WARNING",
        },
        cwd=str(Path(__file__).resolve().parent.parent),
    )


class _Demo:
    """One demo run; everything it shows goes through ``echo`` (the CLI writes it to stdout)."""

    def __init__(self, client: Client, echo: Callable[[str], None]) -> None:
        self.client = client
        self.echo = echo

    def say(self, text: str = "") -> None:
        self.echo(text + "\n")

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        bar = "#" * int(progress / 5) + "." * (20 - int(progress / 5))
        self.echo(f"\r  [{bar}] {progress:5.1f}%  {message or ''}"[:110].ljust(110))

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult | None:
        """Call a tool with a progress bar; None (after saying why) when it fails."""
        self.say(f"{name} {arguments}")
        result = await self.client.call_tool(name, arguments, progress_callback=self.progress)
        self.say()
        if result.is_error:
            self.say(f"{name} failed: {_text(result)}")
            return None
        self.say(f"-> {(result.structured_content or {}).get('status')}: {_text(result)}")
        return result


async def _demo(out: Path, prompt: str, render_seconds: float, echo: Callable[[str], None]) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="wan-demo-"))
    echo(f"Starting wan-video-mcp over stdio with the offline simulator (data: {data_dir})\n")
    async with Client(_server_params(data_dir, render_seconds), read_timeout_seconds=300) as client:
        demo = _Demo(client, echo)
        tools = await client.list_tools()
        demo.say("Tools: " + ", ".join(tool.name for tool in tools.tools))
        # A short wait, so the call comes back with a handle, as it would for an agent on a real render.
        result = await demo.call(
            "generate_video",
            {"model": "wan2.6-t2v", "prompt": prompt, "size": "1280*720", "duration": 3, "wait_seconds": 2},
        )
        task = (result.structured_content or {}) if result else {}
        while result and task.get("status") in ("submitting", "queued", "running", "unknown"):
            # As next_step says: check again, waiting at most the server's cap, until the video is there.
            demo.say("Following the handle:")
            result = await demo.call("check_task", {"task_id": task["task_id"], "wait_seconds": WAIT_SECONDS})
            task = (result.structured_content or {}) if result else {}
        links = [c for c in result.content if isinstance(c, types.ResourceLink)] if result else []
        if task.get("status") != "succeeded" or not links:
            demo.say("The task did not finish.")
            return 1
        link = links[0]
        demo.say(f"Reading {link.uri} ({link.mime_type}, {link.size} bytes) via resources/read")
        read = await client.read_resource(str(link.uri))
        blob = read.contents[0]
        assert isinstance(blob, types.BlobResourceContents)
        data = base64.b64decode(blob.blob)
    out = out.resolve()
    out.write_bytes(data)
    video = task.get("video") or {}
    media = video.get("media") or {}
    digest = hashlib.sha256(data).hexdigest()
    lines = [
        "",
        f"Saved {out}",
        f"  bytes:    {len(data)} (sha256 {digest[:16]}..., matches server: {digest == video.get('sha256')})",
    ]
    if media:
        lines.append(
            f"  media:    {media.get('width')}x{media.get('height')} {media.get('video_codec')}, "
            f"{media.get('duration_seconds')} s at {media.get('fps')} fps, audio: {media.get('has_audio')}"
        )
    lines += [
        f"  link:     {link.uri}",
        f"  server copy: {video.get('path')}",
        "Every result above came from the built-in simulator (no API key, no network).",
    ]
    echo("\n".join(lines) + "\n")
    return 0


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def run_demo(*, out: Path, prompt: str, render_seconds: float, echo: Callable[[str], None]) -> int:
    return anyio.run(_demo, out, prompt, render_seconds, echo)
