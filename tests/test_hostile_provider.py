"""A provider (or whatever answers in its place) that hands the server something other than a video:
nothing is saved, reported or served as the video, and the task says why. The real server with the
SDK's in-memory client, against the simulator and a hostile HTTP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.hostile_http import HostileServer
from tests.simulated import served
from tests.stdio_server import text_of
from wan_video_mcp.server.simulator import Simulator

pytestmark = pytest.mark.anyio

PROMPT = {"prompt": "a lighthouse in a storm", "duration": 2, "resolution": "720P"}


@asynccontextmanager
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Client, Simulator]]:
    settings = dict(retry_base_seconds=0.02, max_wait_seconds=20)
    async with served(tmp_path, settings, run_seconds=0.6) as (client, sim, _):
        yield client, sim


async def generate_and_fetch(client: Client) -> tuple[types.CallToolResult, types.CallToolResult]:
    generated = await client.call_tool("generate_video", PROMPT | {"wait_seconds": 15})
    task_id = generated.structured_content["task_id"]
    fetched = await client.call_tool("fetch_video", {"task_id": task_id})
    return generated, fetched


async def assert_no_video(client: Client, tmp_path: Path, task_id: str) -> None:
    """Not on disk, not in a result, not readable as the video resource."""
    videos = tmp_path / "videos"
    assert not (videos / f"{task_id}.mp4").exists()
    assert not list(videos.glob("*.part")) if videos.exists() else True
    with pytest.raises(MCPError):
        await client.read_resource(f"wan-video://videos/{task_id}.mp4")
    listed = await client.call_tool("list_tasks", {})
    [row] = [t for t in listed.structured_content["tasks"] if t["task_id"] == task_id]
    assert row["download_status"] != "downloaded" and row.get("video_uri") is None


@pytest.mark.parametrize(("kind", "why"), [("html", "text/html"), ("text", "text/plain"), ("malformed", "MP4")])
async def test_a_200_that_is_not_a_video_is_never_saved_or_served(tmp_path, kind, why):
    async with stack(tmp_path) as (client, sim):
        sim.faults.download(kind, count=50)
        generated, fetched = await generate_and_fetch(client)
        task_id = generated.structured_content["task_id"]
        await assert_no_video(client, tmp_path, task_id)
        checked = await client.call_tool("check_task", {"task_id": task_id})
    assert generated.structured_content.get("video") is None
    assert fetched.is_error and why in text_of(fetched), text_of(fetched)
    assert fetched.structured_content["retryable"] is True and "again" in fetched.structured_content["hint"]
    assert checked.structured_content["download_status"] == "download_failed"
    assert why in checked.structured_content["message"]
    assert sim.stats.downloads >= 2  # retried while the URL lives


async def test_a_redirect_to_another_port_serving_text_is_followed_but_not_saved(tmp_path):
    with HostileServer() as hostile:
        hostile.route(
            "/internal", body=b"admin console: 84 bytes of something that is not a video", content_type="text/plain"
        )
        hostile.redirect("/hop", hostile.url("/internal"))
        async with stack(tmp_path) as (client, sim):
            sim.faults.download("redirect", count=50, location=hostile.url("/hop"))
            generated, fetched = await generate_and_fetch(client)
            await assert_no_video(client, tmp_path, generated.structured_content["task_id"])
        assert hostile.hits("/internal") >= 1
    assert fetched.is_error and "text/plain" in text_of(fetched)


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/v.mp4", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"]
)
async def test_a_redirect_to_a_private_address_is_refused_without_connecting(tmp_path, target):
    async with stack(tmp_path) as (client, sim):
        sim.faults.download("redirect", count=50, location=target)
        generated, fetched = await generate_and_fetch(client)
        task_id = generated.structured_content["task_id"]
        await assert_no_video(client, tmp_path, task_id)
        checked = await client.call_tool("check_task", {"task_id": task_id})
    assert fetched.is_error, text_of(fetched)
    reason = checked.structured_content["message"]
    assert "private" in reason or "metadata" in reason or "http(s)" in reason, reason
    # Refused at the first hop it names: one request to the simulator per attempt, none elsewhere.
    assert sim.stats.downloads_completed == 0


async def test_an_oversized_poll_answer_is_refused_unread_and_polling_carries_on(tmp_path):
    async with stack(tmp_path) as (client, sim):
        sim.faults.poll("oversized", count=3, size=50 * 1024 * 1024)
        generated = await client.call_tool("generate_video", PROMPT | {"wait_seconds": 15})
        task_id = generated.structured_content["task_id"]
        checked = await client.call_tool("check_task", {"task_id": task_id, "wait_seconds": 15})
    assert sim.stats.faults_applied == 3
    assert checked.structured_content["status"] == "succeeded", text_of(checked)
    assert checked.structured_content["download_status"] == "downloaded"
