"""Several real server processes on one data directory (a desktop host and an IDE host each start one):
one provider task per request, one download per video. Each server is a stdio subprocess driven by the
MCP SDK client, against one simulator on loopback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.simulated import sim_env, simulator
from tests.stdio_server import server_run, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def _rows(data_dir: Path) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(data_dir / "tasks.sqlite3")) as conn:
        return conn.execute("SELECT id, remote_id FROM tasks ORDER BY created_at").fetchall()


async def _both(a: Client, b: Client, name: str, arguments: dict) -> list:
    """The same call sent to both servers at the same moment."""
    results: list = [None, None]
    ready = anyio.Event()

    async def one(index: int, client: Client) -> None:
        await ready.wait()
        results[index] = await client.call_tool(name, arguments)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0, a)
        tg.start_soon(one, 1, b)
        await anyio.sleep(0.05)
        ready.set()
    return results


async def test_identical_requests_to_two_processes_at_once_create_one_provider_task(tmp_path):
    async with (
        simulator(run_seconds=30) as sim,
        Client(server_run(tmp_path, sim_env(sim), name="desktop").params) as desktop,
        Client(server_run(tmp_path, sim_env(sim), name="ide").params) as ide,
    ):
        pairs = []
        for n in range(4):
            arguments = {"prompt": f"two hosts, one fox #{n}", "duration": 2, "wait_seconds": 0}
            pairs.append(await _both(desktop, ide, "generate_video", arguments))
    for first, second in pairs:
        assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
        assert first.structured_content["task_id"] == second.structured_content["task_id"]
        assert sorted([first.structured_content["attached"], second.structured_content["attached"]]) == [
            "duplicate",
            "new",
        ]
    assert sim.stats.submits == 4 and sim.stats.submits_accepted == 4
    assert len(_rows(tmp_path / "data")) == 4


async def test_a_shared_idempotency_key_gives_both_processes_the_one_task(tmp_path):
    async with (
        simulator(run_seconds=30) as sim,
        Client(server_run(tmp_path, sim_env(sim), name="desktop").params) as desktop,
        Client(server_run(tmp_path, sim_env(sim), name="ide").params) as ide,
    ):
        outcomes = []
        for n in range(3):
            # force_new turns the duplicate check off: only the key stands between us and a second payment.
            arguments = {
                "prompt": "keyed",
                "duration": 2,
                "wait_seconds": 0,
                "force_new": True,
                "idempotency_key": f"job-{n}",
            }
            outcomes.append(await _both(desktop, ide, "generate_video", arguments))
    for first, second in outcomes:
        assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
        assert first.structured_content["task_id"] == second.structured_content["task_id"]
        assert sorted([first.structured_content["attached"], second.structured_content["attached"]]) == [
            "idempotency_key",
            "new",
        ]
    assert sim.stats.submits_accepted == 3


async def test_two_processes_waiting_on_one_task_download_its_video_once(tmp_path):
    async with (
        simulator(run_seconds=2) as sim,
        Client(server_run(tmp_path, sim_env(sim), name="desktop").params) as desktop,
        Client(server_run(tmp_path, sim_env(sim), name="ide").params) as ide,
    ):
        started = await desktop.call_tool("generate_video", {"prompt": "one file", "duration": 2, "wait_seconds": 0})
        task_id = started.structured_content["task_id"]
        checked = await _both(desktop, ide, "check_task", {"task_id": task_id, "wait_seconds": 40})
        fetched = await _both(desktop, ide, "fetch_video", {"task_id": task_id})
    for result in checked:
        assert result.structured_content["status"] == "succeeded", text_of(result)
    paths = {result.structured_content["video"]["path"] for result in fetched}
    hashes = {result.structured_content["video"]["sha256"] for result in fetched}
    assert len(paths) == 1 and len(hashes) == 1 and Path(paths.pop()).exists()
    assert sim.stats.downloads == 1 and sim.stats.downloads_completed == 1
    assert sim.stats.submits == 1
    assert not list((tmp_path / "data" / "videos").glob("*.part"))


async def test_two_processes_waiting_on_one_task_poll_it_no_more_than_one_process_does(tmp_path):
    async def polls_while_waiting(clients: list[Client], prompt: str) -> int:
        started = await clients[0].call_tool("generate_video", {"prompt": prompt, "duration": 2, "wait_seconds": 0})
        before = sim.stats.polls
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(
                    client.call_tool,
                    "check_task",
                    {"task_id": started.structured_content["task_id"], "wait_seconds": 40},
                )
        return sim.stats.polls - before

    async with (
        simulator(run_seconds=4) as sim,
        Client(server_run(tmp_path, sim_env(sim), name="desktop").params) as desktop,
        Client(server_run(tmp_path, sim_env(sim), name="ide").params) as ide,
    ):
        alone = await polls_while_waiting([desktop], "one process waits")
        together = await polls_while_waiting([desktop, ide], "two processes wait")
    # Unshared, two pollers would make about twice the polls; the shared schedule keeps them near one's.
    assert alone >= 5 and together <= 1.5 * alone, (alone, together)
