"""Failing cleanly and cleaning up: a store that is not a database, leftovers of a killed download, huge
echoed inputs, oversized provider answers, idle HTTP sessions. Real server processes where the behaviour
is the process's own (start-up, memory, HTTP sessions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from tests.simulated import TOOL_NAMES, free_port, sim_env, simulator
from tests.stdio_server import REPO, server_run, text_of
from wan_video_mcp.server.store import TaskStore

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PROMPT = {"prompt": "a lighthouse in a storm", "duration": 2, "resolution": "720P"}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_store_that_is_not_a_database_is_named_in_one_line_and_never_touched(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = data / "tasks.sqlite3"
    garbage = b"this was a database once; now it is text\n" * 100
    store.write_bytes(garbage)
    run = server_run(tmp_path, {"WAN_PROVIDER": "simulator", "WAN_LOG_LEVEL": "INFO"})
    async with Client(run.params) as client:
        tools = await client.list_tools()
        dry = await client.call_tool("generate_video", PROMPT | {"dry_run": True})
        real = await client.call_tool("generate_video", PROMPT)
        listed = await client.call_tool("list_tasks", {})
    assert len(tools.tools) == len(TOOL_NAMES) and not dry.is_error, text_of(dry)
    for result in (real, listed):
        assert result.is_error and result.structured_content["error_code"] == "store_unavailable"
        assert str(store) in text_of(result) and "Move" in result.structured_content["hint"]
    assert store.read_bytes() == garbage and sorted(p.name for p in data.iterdir()) == ["tasks.sqlite3"]
    log = run.logfile.read_text()
    about = [line for line in log.splitlines() if str(store) in line]
    assert len(about) == 1 and "Traceback" not in log, log


def test_the_cli_names_a_broken_store_in_one_line(tmp_path):
    (tmp_path / "tasks.sqlite3").write_bytes(b"\x00garbage" * 64)
    env = {**os.environ, "WAN_MCP_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "tasks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and str(tmp_path / "tasks.sqlite3") in done.stderr


async def test_leftover_parts_of_stopped_processes_are_removed_on_start(tmp_path):
    videos = tmp_path / "data" / "videos"
    videos.mkdir(parents=True)
    orphans = [
        videos / "wan_0123456789abcdef0123.p_0123456789ab.1f2e3d4c5b6a.part",  # a stopped process's
        videos / "wan_0123456789abcdef0123.1f2e3d4c5b6a.part",
    ]  # an older, untagged one
    for orphan in orphans:
        orphan.write_bytes(b"half a video")
    keep = videos / "wan_0123456789abcdef0123.mp4"
    keep.write_bytes(b"not ours to judge")
    async with Client(server_run(tmp_path, {"WAN_PROVIDER": "simulator"}).params) as client:
        await client.call_tool("list_tasks", {})
    assert not any(orphan.exists() for orphan in orphans) and keep.exists()


async def test_huge_echoed_inputs_are_clipped_in_errors_and_never_sent_to_the_provider(tmp_path):
    huge = "x" * 10_000
    calls = [(tool, {"task_id": huge}) for tool in ("check_task", "fetch_video", "cancel_task")] + [
        ("generate_video", {"prompt": huge * 10}),
        ("generate_video", {"prompt": "fine", huge: 1}),
        ("list_tasks", {"status": huge}),
    ]
    async with simulator() as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, text_of(result)
            assert len(text_of(result)) < 1000, (tool, text_of(result)[:300])
            assert len(json.dumps(result.structured_content)) < 2000, (tool, result.structured_content)
    assert sim.stats.polls == 0 and sim.stats.submits == 0


async def test_an_oversized_poll_answer_keeps_the_servers_memory_bounded(tmp_path):
    async with simulator(run_seconds=1) as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            sim.faults.poll("oversized", count=4, size=60 * 1024 * 1024)
            result = await client.call_tool("generate_video", PROMPT | {"wait_seconds": 40})
            peak = _peak_rss_mb(run.pid())
    assert result.structured_content["status"] == "succeeded", text_of(result)
    assert sim.stats.faults_applied == 4
    # Four 60 MB answers refused unread: the peak stays near the server's own size (~100 MB), not 4 x 60 MB.
    assert peak < 200, f"peak RSS {peak:.0f} MB"


async def test_idle_http_sessions_are_closed(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "WAN_PROVIDER": "simulator",
        "WAN_MCP_DATA_DIR": str(tmp_path),
        "WAN_HTTP_SESSION_IDLE_SECONDS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "serve", "--http", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    first = await http.post(url, json=init, headers=headers)
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the server did not start"
                    await anyio.sleep(0.2)
            session = {
                **headers,
                "mcp-session-id": first.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            assert (await http.post(url, json=ping, headers=session)).status_code == 200
            await anyio.sleep(3)
            expired = await http.post(url, json=ping, headers=session)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert expired.status_code == 404


def test_a_version_1_store_is_migrated_forward_with_its_tasks(tmp_path):
    import sqlite3

    from wan_video_mcp.server.store.migrations import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "tasks.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute(
            "INSERT INTO tasks (id, created_at, updated_at, provider, endpoint, model, request_json, "
            "fingerprint, state) VALUES ('wan_old', 1, 1, 'dashscope', 'e', 'm', '{}', 'f', 'queued')"
        )
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = TaskStore(path)
    record = store.get_sync("wan_old")
    store.close()
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert version == SCHEMA_VERSION == 6 and record is not None and record.state == "queued"
    assert record.lease_owner is None
