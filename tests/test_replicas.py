"""Several replicas, one truth: real ``wan-video-mcp serve --http --auth required`` processes on one PostgreSQL
database (a real server: ``tests/pgcluster.py``) and one shared data directory, against one simulator on 127.0.0.1,
reached with the Python SDK's client.

- one request given to two replicas at once is paid once (by its idempotency key, and by its parameters);
- the video is downloaded once, and every replica serves it; another principal is told it does not exist;
- a replica killed with SIGKILL leaves its tasks to the others, which finish and save them without paying again.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.http_serving import replica
from tests.simulated import free_port, sim_env, simulator
from tests.test_http_auth import ALICE, BOB, tokens_file

pytestmark = pytest.mark.anyio

QUICK = {"WAN_POLL_MIN_SECONDS": "0.2", "WAN_POLL_MAX_SECONDS": "1", "WAN_RETRY_BASE_SECONDS": "0.1"}
REQUEST = {"model": "wan2.7-t2v", "prompt": "a red kite over dunes", "duration": 2, "resolution": "720P"}


@asynccontextmanager
async def session(url: str, token: str) -> AsyncIterator[Client]:
    bearer = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    async with bearer, Client(streamable_http_client(url, http_client=bearer)) as client:
        yield client


def environment(tmp_path: Path, sim: Any, pg_url: str) -> dict[str, str]:
    return {
        **sim_env(sim, "sk-replicas"),
        **QUICK,
        "WAN_DATABASE_URL": pg_url,
        "WAN_MCP_DATA_DIR": str(tmp_path / "shared"),
        "WAN_AUTH_TOKENS_FILE": str(tokens_file(tmp_path)),
    }


async def call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with session(url, token) as client:
        result = await client.call_tool(tool, arguments)
    content = result.structured_content or {}
    assert not result.is_error, content
    return content


async def settled(url: str, token: str, task_id: str, seconds: float = 60) -> dict[str, Any]:
    """check_task until the video is saved."""
    task: dict[str, Any] = {}
    with anyio.move_on_after(seconds):
        while True:
            task = await call(url, token, "check_task", {"task_id": task_id})
            if task.get("status") == "succeeded" and task.get("download_status") == "downloaded":
                return task
            await anyio.sleep(0.3)
    raise AssertionError(f"{task_id} not saved within {seconds} s: {task}")


async def test_one_request_given_to_two_replicas_at_once_is_paid_once_and_served_by_both(
    tmp_path: Path, pg_url: str
) -> None:
    async with simulator(queue_seconds=0.2, run_seconds=1.0, renderer="fallback") as sim:
        env = environment(tmp_path, sim, pg_url)
        async with replica(tmp_path, "a", env) as a, replica(tmp_path, "b", env) as b:
            keyed: list[dict[str, Any]] = []
            twins: list[dict[str, Any]] = []

            async def send(url: str, arguments: dict[str, Any], into: list[dict[str, Any]]) -> None:
                into.append(await call(url, ALICE, "generate_video", {**arguments, "wait_seconds": 0}))

            async with anyio.create_task_group() as tg:
                for url in (a.url, b.url) * 3:
                    tg.start_soon(send, url, {**REQUEST, "idempotency_key": "one-order"}, keyed)
                    tg.start_soon(send, url, {**REQUEST, "prompt": "a blue kite over dunes"}, twins)
            task_ids = {result["task_id"] for result in keyed}, {result["task_id"] for result in twins}
            assert (len(task_ids[0]), len(task_ids[1])) == (1, 1), (keyed, twins)
            first, second = task_ids[0].pop(), task_ids[1].pop()
            done = [await settled(a.url, ALICE, first), await settled(b.url, ALICE, second)]
            assert (sim.stats.submits_accepted, sim.stats.downloads_completed) == (2, 2)
            videos = {}
            for r in (a, b):
                async with session(r.url, ALICE) as alice:
                    read = await alice.read_resource(f"wan-video://videos/{first}.mp4")
                videos[r.port] = getattr(read.contents[0], "blob", None)
            async with session(b.url, BOB) as bob:
                theirs = await bob.call_tool("check_task", {"task_id": first})
                listed = await bob.call_tool("list_tasks", {})
    assert len(set(videos.values())) == 1 and None not in videos.values()
    assert {task["video"]["sha256"] for task in done} and all(task["video"]["sha256"] for task in done)
    assert theirs.is_error and "known" in str(theirs.content), theirs.content
    assert (listed.structured_content or {}).get("tasks") == []


async def test_a_killed_replicas_tasks_are_finished_by_another_without_paying_again(
    tmp_path: Path, pg_url: str
) -> None:
    async with simulator(queue_seconds=0.5, run_seconds=4.0, renderer="fallback") as sim:
        env = environment(tmp_path, sim, pg_url)
        async with replica(tmp_path, "b", env) as b:
            async with replica(tmp_path, "a", env) as a:
                made = [
                    await call(a.url, who, "generate_video", {**REQUEST, "prompt": f"shot {n}", "wait_seconds": 0})
                    for n, who in enumerate((ALICE, BOB, ALICE))
                ]
                os.kill(a.process.pid, signal.SIGKILL)
                await a.process.wait()
            assert sim.stats.submits_accepted == 3
            # B takes A's leases once A's heartbeat is stale (INSTANCE_STALE_SECONDS), then polls and saves them.
            done = [
                await settled(b.url, who, task["task_id"], seconds=90)
                for task, who in zip(made, (ALICE, BOB, ALICE), strict=True)
            ]
            log = b.log.read_text(errors="replace")
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.stats.downloads_completed) == (3, 3, 3), log[-3000:]
    assert all(Path(task["video"]["path"]).is_file() for task in done)
    assert all(str(tmp_path / "shared") in task["video"]["path"] for task in done)


async def test_each_principal_uploads_its_own_copy_of_a_file_and_reuses_only_its_own(
    tmp_path: Path, pg_url: str
) -> None:
    """The same local PNG sent by Alice twice (on two replicas) is uploaded once; Bob's send of it is uploaded again
    (his task never reads Alice's oss:// URL)."""
    from tests.media_files import BLUE, png

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    image = pictures / "start.png"
    image.write_bytes(png(480, 360, BLUE))
    frame = {"model": "wan2.7-i2v", "media": [{"type": "first_frame", "url": str(image)}], "duration": 2}
    async with simulator(queue_seconds=0.2, run_seconds=0.5, renderer="fallback") as sim:
        env = {**environment(tmp_path, sim, pg_url), "WAN_MEDIA_ROOTS": str(pictures)}
        async with replica(tmp_path, "a", env) as a, replica(tmp_path, "b", env) as b:
            sent = [
                await call(url, who, "generate_video", {**frame, "prompt": prompt, "wait_seconds": 30})
                for url, who, prompt in ((a.url, ALICE, "one"), (b.url, ALICE, "two"), (a.url, BOB, "three"))
            ]
        urls = {task.plan.prompt: [ref.url for ref in task.plan.inputs] for task in sim.tasks}
        uploads = len(sim.uploads)
    assert [task["status"] for task in sent] == ["succeeded"] * 3
    assert uploads == 2
    assert urls["one"] == urls["two"] != urls["three"], urls


def test_a_database_url_is_never_shown_with_its_password(tmp_path: Path) -> None:
    """A wrong scheme is refused naming the variable; an unreachable server is named with its password masked, in
    the error and in ``doctor``."""
    import subprocess

    from wan_video_mcp.server.config import Settings, SettingsError
    from wan_video_mcp.server.errors import StoreUnavailable
    from wan_video_mcp.server.store import open_store

    secret = "s3cret-pw-91c"
    with pytest.raises(SettingsError) as wrong:
        Settings.from_env({"WAN_DATABASE_URL": f"mysql://wan:{secret}@127.0.0.1/wan"})
    closed = f"postgresql://wan:{secret}@127.0.0.1:{free_port()}/wan"
    with pytest.raises(StoreUnavailable) as unreachable:
        open_store(Settings.from_env({"WAN_DATABASE_URL": closed, "WAN_MCP_DATA_DIR": str(tmp_path)}))
    # libpq also takes the password as a parameter, and characters that are not escaped in the user part.
    odd = [f"postgresql://wan@127.0.0.1:1/wan?password={secret}", f"postgresql://wan:#{secret}?[@127.0.0.1:1/wan"]
    described = [Settings.from_env({"WAN_DATABASE_URL": url}).describe() for url in odd]
    doctor = subprocess.run(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "doctor"],
        env={**os.environ, "WAN_DATABASE_URL": closed, "WAN_MCP_DATA_DIR": str(tmp_path), "WAN_PROVIDER": "simulator"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = {
        "wrong scheme": str(wrong.value),
        "unreachable": str(unreachable.value),
        "doctor": doctor.stdout,
        "as a parameter": described[0],
        "unescaped": described[1],
    }
    assert {name: secret in text for name, text in said.items()} == dict.fromkeys(said, False), said
    assert "WAN_DATABASE_URL" in said["wrong scheme"] and "'mysql'" in said["wrong scheme"]
    assert "postgresql://wan:***@127.0.0.1" in said["unreachable"] and "cannot be reached" in said["unreachable"]
    assert "postgresql://wan:***@127.0.0.1" in said["doctor"], doctor.stdout + doctor.stderr


async def test_a_database_outage_is_a_retryable_error_that_pays_nothing_and_the_server_recovers(tmp_path: Path) -> None:
    """With the database server stopped, tools answer a retryable ``store_unreachable`` naming the store (never its
    password) and nothing is submitted; once it is back, the same server goes on without a restart."""
    from pydantic import SecretStr

    from tests.pgcluster import start_cluster
    from tests.simulated import served

    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        settings = {"database_url": SecretStr(cluster.url.replace("postgres@", "postgres:pw-never-shown@"))}
        async with served(tmp_path, settings) as (client, sim, _):
            before = await client.call_tool("list_tasks", {})
            cluster.halt()
            listed = await client.call_tool("list_tasks", {})
            made = await client.call_tool("generate_video", {"prompt": "a heron", "duration": 2, "wait_seconds": 0})
            cluster.restart()
            after = await client.call_tool("generate_video", {"prompt": "a heron", "duration": 2, "wait_seconds": 0})
            submits = sim.stats.submits
    finally:
        cluster.stop()
    assert not before.is_error and not after.is_error, after.content
    for result in (listed, made):
        said = result.structured_content or {}
        assert (result.is_error, said.get("error_code"), said.get("retryable")) == (True, "store_unreachable", True)
        assert "postgres:***@127.0.0.1" in said.get("message", "") and "pw-never-shown" not in str(result.content)
    assert submits == 1  # the one made after the outage
