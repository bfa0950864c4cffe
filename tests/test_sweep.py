"""Sweeps of the task list (``server/jobs/sweep.py``): with many tasks open, their ends are found by reading the
provider's task list, not by a poll each; each ended task is then polled once for its video.

The real server in memory (the SDK's client) on the DashScope provider at the simulator on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.simulated import served
from wan_video_mcp.server.store import TaskStore

pytestmark = pytest.mark.anyio

# wan2.7 at 10 s: before it has learned anything the engine expects such a render to take 180 s and polls it first
# after 18 s; the simulator renders it in about 2.5 s, so only a sweep sees the ends within the 15 s allowed here.
REQUEST: dict[str, Any] = {"model": "wan2.7-t2v", "duration": 10, "resolution": "720P", "wait_seconds": 0}
SETTINGS = {"poll_min_seconds": 1.0, "poll_max_seconds": 30.0}


async def settle(db: Path, count: int, seconds: float) -> list[Any]:
    store = TaskStore(db)
    try:
        with anyio.move_on_after(seconds):
            while True:
                records = store.list_sync(None, 50)
                if len(records) == count and all(r.download_state == "downloaded" for r in records):
                    break
                await anyio.sleep(0.2)
        return store.list_sync(None, 50)
    finally:
        store.close()


async def test_with_many_tasks_open_a_sweep_of_the_list_finds_their_ends_and_each_is_polled_once(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, SETTINGS | {"sweep_min_tasks": 3}, queue_seconds=0.2, run_seconds=2.5) as (
        client,
        sim,
        settings,
    ):
        for n in range(6):
            made = await client.call_tool("generate_video", {**REQUEST, "prompt": f"a lantern, take {n}"})
            assert not made.is_error, made.content
        records = await settle(settings.db_path, 6, 15)
        lists, polls = sim.stats.lists, sim.stats.polls
    assert [r.download_state for r in records] == ["downloaded"] * 6, [(r.state, r.poll_count) for r in records]
    assert lists >= 1 and polls <= 6 + 2, (lists, polls)


async def test_with_few_tasks_open_or_sweeps_off_the_list_is_not_read(tmp_path: Path) -> None:
    """Below ``sweep_min_tasks`` (or with it 0) each task is polled on its own schedule, as before."""
    for minimum, count in ((3, 2), (0, 4)):
        async with served(
            tmp_path / str(minimum), SETTINGS | {"sweep_min_tasks": minimum}, queue_seconds=0.2, run_seconds=1.0
        ) as (client, sim, settings):
            for n in range(count):
                await client.call_tool("generate_video", {**REQUEST, "prompt": f"a kite, take {n}", "duration": 2})
            await anyio.sleep(5)
            assert sim.stats.lists == 0, minimum
