"""Storyboards and extend_video end to end: the real server over stdio (MCP Python SDK client) against the simulator
on 127.0.0.1. Each shot is one submit; the joined MP4 lasts the shots' sum; a SIGKILL mid-storyboard and a restart
finish it with no extra submit."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import av
import pytest
from mcp import Client

from tests.simulated import sim_env, simulator
from tests.stdio_server import server_run, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SHOTS = [
    {"prompt": "a red kite rises over the dunes", "duration": 2},
    {"prompt": "the kite loops in the wind", "duration": 2},
    {"prompt": "the kite lands softly", "duration": 2},
]
SHARED = {"model": "wan2.7-t2v", "resolution": "720P", "ratio": "16:9"}


def seconds_of(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def finished(client: Client, storyboard_id: str) -> dict[str, Any]:
    with anyio.fail_after(120):
        while True:
            result = await client.call_tool("check_task", {"task_id": storyboard_id, "wait_seconds": 10})
            assert not result.is_error, text_of(result)
            content = result.structured_content or {}
            if content["status"] in ("succeeded", "failed"):
                return dict(content)


@pytest.mark.parametrize("continuity", ["none", "last_frame", "clip"])
async def test_a_three_shot_storyboard_is_one_mp4_as_long_as_its_shots(tmp_path: Path, continuity: str) -> None:
    async with simulator(run_seconds=1.0) as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            started = await client.call_tool(
                "generate_storyboard", {"shots": SHOTS, "continuity": continuity, "wait_seconds": 0} | SHARED
            )
            assert not started.is_error, text_of(started)
            board = await finished(client, (started.structured_content or {})["task_id"])
    assert board["status"] == "succeeded", board
    path = Path(board["video"]["path"])
    assert {
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
        "shots": [shot["status"] for shot in board["shots"]],
        "seconds": round(seconds_of(path), 1),
        "plays": frames_of(path) > 0,
    } == {
        "submits": (3, 3),
        "shots": ["succeeded"] * 3,
        "seconds": pytest.approx(6.0, abs=0.2),
        "plays": True,
    }


async def test_a_storyboard_killed_midway_finishes_after_a_restart_with_no_extra_submit(tmp_path: Path) -> None:
    async with simulator(run_seconds=1.5) as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            started = await client.call_tool(
                "generate_storyboard", {"shots": SHOTS, "continuity": "last_frame", "wait_seconds": 0} | SHARED
            )
            assert not started.is_error, text_of(started)
            board_id = (started.structured_content or {})["task_id"]
            with anyio.fail_after(60):
                while sim.stats.submits_accepted < 2:  # the second shot is on its way
                    await anyio.sleep(0.1)
            os.kill(run.pid(), signal.SIGKILL)
        restarted = server_run(tmp_path, sim_env(sim), name="restarted")
        async with Client(restarted.params) as client:
            board = await finished(client, board_id)
    assert board["status"] == "succeeded", board
    assert (sim.stats.submits, sim.stats.submits_accepted) == (3, 3)
    assert round(seconds_of(Path(board["video"]["path"])), 1) == pytest.approx(6.0, abs=0.2)


@pytest.mark.parametrize(
    ("source", "method", "added"),
    [
        ({"model": "wan2.7-t2v", "resolution": "720P", "duration": 2}, "clip", 2),
        ({"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}, "last_frame", 5),  # wan2.5: 5 or 10 s
    ],
)
async def test_extend_video_continues_a_finished_task(
    tmp_path: Path, source: dict[str, Any], method: str, added: int
) -> None:
    async with simulator(run_seconds=1.0) as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            first = await client.call_tool("generate_video", {"prompt": "a kite", "wait_seconds": 60} | source)
            first_id = (first.structured_content or {})["task_id"]
            with anyio.fail_after(60):
                while (first.structured_content or {}).get("download_status") != "downloaded":
                    first = await client.call_tool("fetch_video", {"task_id": first_id})
                    await anyio.sleep(0.2)
            extended = await client.call_tool(
                "extend_video",
                {"task_id": first_id, "prompt": "the kite flies on", "duration": added, "wait_seconds": 60},
            )
    assert not extended.is_error, text_of(extended)
    said = "continuation of its video" if method == "clip" else "from its last frame"
    assert said in text_of(extended)
    assert (sim.stats.submits_accepted, len(sim.uploads)) == (2, 1)
