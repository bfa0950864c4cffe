"""The offline demo: a real MCP client drives the real server (over stdio) against the simulator.

It lists the tools, asks for a short clip with a short wait (so it gets a task
handle back, as an agent would when a render outlives its patience), follows the
handle with check_task while printing progress, reads the video through its
resource link, and saves it. This module is a human CLI: it prints to stdout.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tempfile
from pathlib import Path

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters


def _server_params(data_dir: Path, render_seconds: float) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "server.cli", "serve", "--provider", "simulator"],
        env={
            "WAN_MCP_DATA_DIR": str(data_dir),
            "WAN_SIM_QUEUE_SECONDS": "1",
            "WAN_SIM_RUN_SECONDS": str(render_seconds),
            "WAN_POLL_MIN_SECONDS": "0.5",
            "WAN_LOG_LEVEL": "WARNING",
        },
        cwd=str(Path(__file__).resolve().parent.parent),
    )


async def _progress(progress: float, total: float | None, message: str | None) -> None:
    bar = "#" * int(progress / 5) + "." * (20 - int(progress / 5))
    print(f"\r  [{bar}] {progress:5.1f}%  {message or ''}"[:110].ljust(110), end="", flush=True)


async def _demo(out: Path, prompt: str, render_seconds: float) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="wan-demo-"))
    print(f"Starting wan-video-mcp over stdio with the offline simulator (data: {data_dir})")
    async with Client(_server_params(data_dir, render_seconds), read_timeout_seconds=300) as client:
        tools = await client.list_tools()
        print("Tools:", ", ".join(tool.name for tool in tools.tools))
        arguments = {"model": "wan2.6-t2v", "prompt": prompt, "size": "1280*720", "duration": 3,
                     "wait_seconds": 2}
        print(f"generate_video {arguments}")
        result = await client.call_tool("generate_video", arguments, progress_callback=_progress)
        print()
        if result.is_error:
            print("generate_video failed:", _text(result))
            return 1
        task = result.structured_content or {}
        print(f"-> {task.get('status')}: {_text(result)}")
        if task.get("status") != "succeeded":
            print(f"Following the handle: check_task(task_id={task['task_id']!r}, wait_seconds=120)")
            result = await client.call_tool("check_task", {"task_id": task["task_id"], "wait_seconds": 120},
                                            progress_callback=_progress)
            print()
            if result.is_error:
                print("check_task failed:", _text(result))
                return 1
            task = result.structured_content or {}
            print(f"-> {task.get('status')}: {_text(result)}")
        links = [c for c in result.content if isinstance(c, types.ResourceLink)]
        if task.get("status") != "succeeded" or not links:
            print("The task did not finish in time.")
            return 1
        link = links[0]
        print(f"Reading {link.uri} ({link.mime_type}, {link.size} bytes) via resources/read")
        read = await client.read_resource(str(link.uri))
        blob = read.contents[0]
        assert isinstance(blob, types.BlobResourceContents)
        data = base64.b64decode(blob.blob)
    out = out.resolve()
    out.write_bytes(data)
    video = task.get("video") or {}
    media = video.get("media") or {}
    print()
    print(f"Saved {out}")
    print(f"  bytes:    {len(data)} (sha256 {hashlib.sha256(data).hexdigest()[:16]}..., "
          f"matches server: {hashlib.sha256(data).hexdigest() == video.get('sha256')})")
    if media:
        print(f"  media:    {media.get('width')}x{media.get('height')} {media.get('video_codec')}, "
              f"{media.get('duration_seconds')} s at {media.get('fps')} fps, audio: {media.get('has_audio')}")
    print(f"  link:     {link.uri}")
    print(f"  server copy: {video.get('path')}")
    print("Every result above came from the built-in simulator (no API key, no network).")
    return 0


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def run_demo(*, out: Path, prompt: str, render_seconds: float) -> int:
    return anyio.run(_demo, out, prompt, render_seconds)
