"""End to end through the transports: the real server as a subprocess over stdio (and streamable HTTP), driven by
the MCP SDK client, against the simulator over real loopback HTTP. Nothing here leaves 127.0.0.1.

Only what needs a process is here: the key never leaking to stdout, logs or files; a kill -9 mid-wait; HTTP; the
demo and simulate commands. Tool behaviour runs in process, in test_tool_flows.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.simulated import free_port, sim_env, simulator
from tests.stdio_server import REPO, server_run, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CANARY_KEY = "sk-canary-7f3e9b21d4c8a6e0"


def _stored_remote_id(data_dir: Path) -> str | None:
    db = data_dir / "tasks.sqlite3"
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT remote_id FROM tasks").fetchone()
    return row[0] if row else None


async def test_killing_the_server_mid_wait_loses_nothing_and_submits_nothing_new(tmp_path):
    async with simulator(run_seconds=4) as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with anyio.create_task_group() as tg:

            async def doomed_call() -> None:
                # The connection dies with the server: that failure is the point of the test.
                with contextlib.suppress(Exception):
                    async with Client(run.params) as client:
                        await client.call_tool("generate_video", {"prompt": "survive a crash", "wait_seconds": 60})

            tg.start_soon(doomed_call)
            with anyio.fail_after(20):
                while sim.stats.submits_accepted == 0:
                    await anyio.sleep(0.05)
            with anyio.fail_after(10):  # the kill lands mid-wait, after the provider's id is stored
                while not _stored_remote_id(run.data_dir):
                    await anyio.sleep(0.05)
            os.kill(run.pid(), signal.SIGKILL)
            tg.cancel_scope.cancel()
        assert sim.stats.submits == 1  # the kill came mid-render: the video is still to come
        sim.advance(10)  # the render finishes while no server runs
        restarted = server_run(tmp_path, sim_env(sim), name="restarted")
        async with Client(restarted.params) as client:
            listed = await client.call_tool("list_tasks", {})
            [task] = listed.structured_content["tasks"]
            checked = await client.call_tool("check_task", {"task_id": task["task_id"], "wait_seconds": 60})
            fetched = await client.call_tool("fetch_video", {"task_id": task["task_id"]})
    assert {
        "checked": checked.structured_content["status"],
        "fetched": (fetched.is_error, Path(fetched.structured_content["video"]["path"]).exists()),
        "submits": sim.stats.submits,
        # This server downloaded at DEBUG: its log names the signed URL without its query (httpx's lines silenced).
        "signed URLs in the log": "Signature=" in restarted.logfile.read_text(),
    } == {"checked": "succeeded", "fetched": (False, True), "submits": 1, "signed URLs in the log": False}, text_of(
        checked
    )


async def test_the_api_key_never_appears_in_results_logs_or_files(tmp_path):
    async with simulator(required_key="sk-the-right-key") as sim:
        run = server_run(tmp_path, sim_env(sim, key=CANARY_KEY))
        async with Client(run.params) as client:
            outputs = [
                await client.call_tool("generate_video", {"prompt": "leak check", "wait_seconds": 5}),
                await client.call_tool("check_task", {"task_id": "0385dc79-5ff8-4d82-bcb6-000000000000"}),
                await client.call_tool("list_tasks", {}),
            ]
            models = await client.read_resource("wan-video://models")
    assert (outputs[0].is_error, "InvalidApiKey" in text_of(outputs[0])) == (True, True), text_of(outputs[0])
    blob = json.dumps([o.model_dump(mode="json") for o in outputs]) + models.model_dump_json()
    files = [path for path in run.data_dir.rglob("*") if path.is_file()]
    assert files  # the store at least: the check below looked at something
    assert {
        "results": CANARY_KEY in blob,
        "log": CANARY_KEY in run.logfile.read_text(),
        "files": [str(path) for path in files if CANARY_KEY.encode() in path.read_bytes()],
    } == {"results": False, "log": False, "files": []}


async def test_streamable_http_serves_the_same_tools_on_loopback(tmp_path):
    port = free_port()
    env = {**os.environ, "WAN_PROVIDER": "simulator", "WAN_MCP_DATA_DIR": str(tmp_path)}
    process = await anyio.open_process(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "serve", "--http", "--port", str(port)],
        env=env,
        cwd=str(REPO),
    )
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                        tools = await client.list_tools()
                        dry = await client.call_tool("generate_video", {"prompt": "x", "dry_run": True})
                    break
                except Exception:  # not listening yet
                    await anyio.sleep(0.2)
    finally:
        process.terminate()
        await process.wait()
    assert (len(tools.tools), dry.structured_content["status"]) == (7, "dry_run")


async def test_the_demo_saves_a_playable_mp4_that_matches_the_request(tmp_path):
    import av

    out = tmp_path / "demo.mp4"
    result = await anyio.run_process(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "demo", "--out", str(out), "--render-seconds", "2"],
        cwd=str(tmp_path),
        env={**os.environ},
        check=False,
    )
    stdout = result.stdout.decode()
    assert result.returncode == 0, stdout + result.stderr.decode()
    assert (f"Saved {out}" in stdout, "matches server: True" in stdout) == (True, True), stdout
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert {
            "frame size": (video.codec_context.width, video.codec_context.height),
            "codec": video.codec_context.name,
            "audio streams": len(container.streams.audio),
            "duration about 3 s": abs(float(container.duration / av.time_base) - 3) < 0.5,
        } == {"frame size": (1280, 720), "codec": "h264", "audio streams": 1, "duration about 3 s": True}


async def test_the_standalone_simulator_command_serves_dashscope_on_loopback(tmp_path):
    import httpx

    env = {**os.environ}
    process = await anyio.open_process(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "simulate", "--port", "0", "--run-seconds", "1"],
        env=env,
        cwd=str(REPO),
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(20):
            line = (await process.stdout.receive()).decode().strip().splitlines()[0]
        assert (line.startswith("http://127.0.0.1:"), line.endswith("/api/v1")) == (True, True), line
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{line}/services/aigc/video-generation/video-synthesis",
                headers={"Authorization": "Bearer sk-x", "X-DashScope-Async": "enable"},
                json={"model": "wan2.6-t2v", "input": {"prompt": "hello"}, "parameters": {"size": "1280*720"}},
            )
        assert (answer.status_code, answer.json()["output"]["task_status"], answer.headers["X-Wan-Simulator"]) == (
            200,
            "PENDING",
            "1",
        ), answer.text
    finally:
        process.terminate()
        await process.wait()
