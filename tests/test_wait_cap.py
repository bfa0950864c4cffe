"""No call outlives its client: every tool call and resource read answers within WAN_MAX_WAIT_SECONDS, whatever
the provider or the download does; slow work carries on in the background and nothing is paid twice.

The server runs in-process (the SDK's in-memory client); the provider is the simulator over real loopback HTTP,
with faults that make it slower than the cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.simulated import served
from wan_video_mcp.server.app import instructions
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.simulator import Simulator

pytestmark = pytest.mark.anyio

# The smallest cap Settings accepts; the default cap's margin below the clients' timeout is pinned in test_ts_clients.
CAP = 5
MARGIN = 1.5  # scheduling slack on a busy 2-core machine
PROMPT = {"prompt": "a lighthouse in a storm", "duration": 2, "resolution": "720P"}


@asynccontextmanager
async def stack(tmp_path: Path, **sim_config) -> AsyncIterator[tuple[Client, Simulator, Settings]]:
    settings = dict(reconcile_interval_seconds=10, http_timeout_seconds=60, max_wait_seconds=CAP)
    async with served(tmp_path, settings, **sim_config) as served_stack:
        yield served_stack


async def timed(coro):
    started = anyio.current_time()
    result = await coro
    return result, anyio.current_time() - started


async def until(predicate, seconds: float = 60) -> None:
    with anyio.fail_after(seconds):
        while not await predicate():
            await anyio.sleep(0.1)


async def test_the_published_wait_maximum_and_every_piece_of_advice_follow_the_cap(tmp_path):
    async with stack(tmp_path, run_seconds=600) as (client, _, settings):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        handle = (await client.call_tool("generate_video", PROMPT | {"wait_seconds": 0})).structured_content
    waits = {name: tools[name].input_schema["properties"]["wait_seconds"] for name in ("generate_video", "check_task")}
    assert {
        "maximum": {name: wait["maximum"] for name, wait in waits.items()},
        "cap in the description": {name: str(CAP) in wait["description"] for name, wait in waits.items()},
        "generate_video's default": waits["generate_video"]["default"],
        "next step": f"wait_seconds={CAP})" in handle["next_step"],
        "instructions": f"wait_seconds={CAP})" in instructions(settings),
    } == {
        "maximum": {"generate_video": CAP, "check_task": CAP},
        "cap in the description": {"generate_video": True, "check_task": True},
        "generate_video's default": CAP,
        "next step": True,
        "instructions": True,
    }


async def test_a_longer_wait_is_shortened_to_the_cap_and_the_result_says_so(tmp_path):
    async with stack(tmp_path, run_seconds=600) as (client, sim, _):
        handle = (await client.call_tool("generate_video", PROMPT | {"wait_seconds": 0})).structured_content
        result, took = await timed(client.call_tool("check_task", {"task_id": handle["task_id"], "wait_seconds": 120}))
    checked = result.structured_content
    assert {
        "is_error": result.is_error,
        "in time": took <= CAP + MARGIN,
        "wait_capped_to": checked["wait_capped_to"],
        "said so": f"shortened to {CAP}s" in checked["message"],
        "still pending": checked["status"] in ("queued", "running"),
        "submits": sim.stats.submits,
    } == {
        "is_error": False,
        "in time": True,
        "wait_capped_to": CAP,
        "said so": True,
        "still pending": True,
        "submits": 1,
    }, (
        took,
        checked,
    )


async def test_a_submit_slower_than_the_cap_returns_the_task_id_in_time_and_is_never_sent_twice(tmp_path):
    async with stack(tmp_path) as (client, sim, _):
        # Created, then no answer for longer than the cap and its margin: a call that waited for it would be late.
        sim.faults.submit("hang", seconds=CAP + MARGIN + 0.5, processed=True)
        result, took = await timed(client.call_tool("generate_video", PROMPT))
        handle = result.structured_content
        assert {
            "is_error": result.is_error,
            "in time": took <= CAP + MARGIN,
            "status": handle["status"],
            "task id": bool(handle["task_id"]),
            "next step names check_task": "check_task" in handle["next_step"],
        } == {
            "is_error": False,
            "in time": True,
            "status": "submitting",
            "task id": True,
            "next step names check_task": True,
        }, (took, handle)

        async def settled() -> bool:
            checked = await client.call_tool("check_task", {"task_id": handle["task_id"], "wait_seconds": CAP})
            return checked.structured_content["status"] == "succeeded"

        await until(settled)
    assert sim.stats.submits == 1


async def test_a_provider_that_hangs_on_a_status_query_does_not_hold_check_task(tmp_path):
    async with stack(tmp_path, run_seconds=600) as (client, sim, _):
        handle = (await client.call_tool("generate_video", PROMPT | {"wait_seconds": 0})).structured_content
        sim.faults.poll("hang", seconds=CAP + 10, count=50)
        result, took = await timed(client.call_tool("check_task", {"task_id": handle["task_id"]}))
    assert {
        "is_error": result.is_error,
        "in time": took <= CAP + MARGIN,
        "still pending": result.structured_content["status"] in ("queued", "running"),
    } == {"is_error": False, "in time": True, "still pending": True}, (took, result.structured_content)


async def test_a_download_slower_than_the_cap_returns_a_handle_then_the_video(tmp_path):
    async with stack(tmp_path) as (client, sim, _):
        sim.faults.download("slow", bytes_per_second=400)  # the 5.8 kB fallback clip takes ~15 s
        handle = (await client.call_tool("generate_video", PROMPT | {"wait_seconds": 0})).structured_content
        sim.advance(5)
        for tool in ("check_task", "fetch_video"):  # the first sees the task finish and starts the download
            result, took = await timed(client.call_tool(tool, {"task_id": handle["task_id"]}))
            fetched = result.structured_content
            # Still saving: a handle to come back with, not an error.
            assert {
                "is_error": result.is_error,
                "in time": took <= CAP + MARGIN,
                "status": fetched["status"],
                "video": "video" in fetched,
                "download_status": fetched["download_status"],
                "next step names fetch_video": "fetch_video" in fetched["next_step"],
            } == {
                "is_error": False,
                "in time": True,
                "status": "succeeded",
                "video": False,
                "download_status": "downloading",
                "next step names fetch_video": True,
            }, (tool, took, fetched)
        (read_error, took) = await timed(_read_error(client, f"wan-video://videos/{handle['task_id']}.mp4"))
        assert ("still being saved" in read_error, took <= CAP + MARGIN) == (True, True), (read_error, took)

        async def saved() -> bool:
            again = await client.call_tool("fetch_video", {"task_id": handle["task_id"]})
            return "video" in again.structured_content

        await until(saved)
    assert (sim.stats.submits, sim.stats.downloads) == (1, 1)


async def _read_error(client: Client, uri: str) -> str:
    with pytest.raises(MCPError) as caught:
        await client.read_resource(uri)
    return str(caught.value)
