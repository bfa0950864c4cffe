"""End to end: the real server as a subprocess over stdio, driven by the MCP SDK client,
against the simulator over real loopback HTTP. Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import jsonschema
import mcp_types as types
import pytest
from mcp import Client

from tests.stdio_server import REPO, server_run, text_of
from tests.test_schema_lint import TOOLS_LIST_BUDGET
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CANARY_KEY = "sk-canary-7f3e9b21d4c8a6e0"


@asynccontextmanager
async def simulator(**config) -> AsyncIterator[Simulator]:
    values = dict(queue_seconds=0.3, run_seconds=1.5, jitter=0.0, fps=8)
    async with Simulator(SimulatorConfig(**(values | config))) as sim:
        yield sim


def sim_env(sim: Simulator, key: str = "sk-test") -> dict[str, str]:
    return {"WAN_PROVIDER": "dashscope", "DASHSCOPE_BASE_URL": sim.base_url, "DASHSCOPE_API_KEY": key}


def _stored_remote_id(data_dir: Path) -> str | None:
    db = data_dir / "tasks.sqlite3"
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT remote_id FROM tasks").fetchone()
    return row[0] if row else None


async def test_tools_list_carries_every_model_rule_in_a_valid_2020_12_schema_within_20_kb(tmp_path):
    async with simulator() as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        listing = await client.list_tools()
    wire = listing.model_dump(mode="json", by_alias=True, exclude_none=True)
    size = len(json.dumps(wire, separators=(",", ":")))
    assert size <= TOOLS_LIST_BUDGET, size
    tools = {tool["name"]: tool for tool in wire["tools"]}
    assert set(tools) == {"generate_video", "check_task", "fetch_video", "list_tasks", "cancel_task"}
    schema = tools["generate_video"]["inputSchema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["model"]["default"] == "wan2.6-t2v"
    assert any("if" in rule and "then" in rule for rule in schema["allOf"])
    for tool in tools.values():
        jsonschema.Draft202012Validator.check_schema(tool["outputSchema"])
    assert tools["check_task"]["annotations"]["readOnlyHint"] is True
    assert tools["generate_video"]["annotations"]["idempotentHint"] is False


BAD_INPUTS = [
    ({"model": "wan9-t2v", "prompt": "x"}, "model"),
    ({"model": "wan2.1-t2v-turbo", "prompt": "x", "size": "1920*1080"}, "size"),
    ({"model": "wan2.5-t2v-preview", "prompt": "x", "duration": 7}, "duration"),
    ({"model": "wan2.2-t2v-plus", "prompt": "x" * 801}, "prompt"),
    ({"prompt": "x", "negative_prompt": "n" * 501}, "negative_prompt"),
    ({"prompt": "x", "seed": 2147483648}, "seed"),
    ({"prompt": "x", "seed": -1}, "seed"),
    ({"model": "wan2.5-t2v-preview", "prompt": "x", "shot_type": "multi"}, "shot_type"),
    ({"prompt": "x", "shot_type": "multi", "prompt_extend": False}, "shot_type"),
    ({"model": "wan2.1-t2v-plus", "prompt": "x", "audio": True}, "audio"),
    ({"model": "wan2.2-t2v-plus", "prompt": "x", "audio_url": "https://a.test/a.mp3"}, "audio_url"),
    ({"model": "wan2.6-i2v", "img_url": "ftp://a.test/a.png"}, "img_url"),
    ({"model": "wan2.6-i2v", "prompt": "x"}, "img_url"),
    ({"prompt": "x", "duration": "5"}, "duration"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "x", "colour": "red"}, "colour"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "a\x00b"}, "prompt"),
    ({}, "prompt"),
]


async def test_bad_input_gets_an_error_naming_the_field_and_nothing_is_submitted(tmp_path):
    async with simulator() as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        for arguments, field in BAD_INPUTS:
            result = await client.call_tool("generate_video", arguments)
            assert result.is_error, arguments
            error = result.structured_content
            assert error["error_code"] == "invalid_request", arguments
            assert field in [p["field"] for p in error["problems"]], (arguments, error)
            assert field in text_of(result)
        assert (await client.call_tool("list_tasks", {})).structured_content["count"] == 0
    assert sim.stats.submits == 0


async def test_the_server_starts_without_a_key_and_a_submit_names_the_variable(tmp_path):
    run = server_run(tmp_path, {"WAN_PROVIDER": "dashscope", "DASHSCOPE_BASE_URL": "http://127.0.0.1:9/api/v1"})
    run.params.env.pop("DASHSCOPE_API_KEY", None)
    async with Client(run.params) as client:
        assert len((await client.list_tools()).tools) == 5
        dry = await client.call_tool("generate_video", {"prompt": "a cat", "dry_run": True})
        result = await client.call_tool("generate_video", {"prompt": "a cat"})
    assert not dry.is_error and dry.structured_content["status"] == "dry_run"
    assert result.is_error and "DASHSCOPE_API_KEY" in text_of(result)
    assert result.structured_content["error_code"] == "not_configured"


async def test_a_generation_finishes_within_the_wait_and_the_link_reads_back_the_same_bytes(tmp_path):
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with simulator() as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            result = await client.call_tool(
                "generate_video",
                {"prompt": "a paper boat on a lake", "size": "1280*720", "duration": 2, "wait_seconds": 60},
                progress_callback=on_progress,
            )
            assert not result.is_error, text_of(result)
            task = result.structured_content
            [link] = [c for c in result.content if isinstance(c, types.ResourceLink)]
            read = await client.read_resource(str(link.uri))
    assert task["status"] == "succeeded"
    assert link.mime_type == "video/mp4" and link.size == task["video"]["size_bytes"]
    data = base64.b64decode(read.contents[0].blob)
    local = Path(task["video"]["path"])
    assert hashlib.sha256(data).hexdigest() == task["video"]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert local.is_relative_to(tmp_path / "data")
    media = task["video"]["media"]
    assert (media["width"], media["height"]) == (1280, 720) and abs(media["duration_seconds"] - 2) < 0.5
    assert progress and all(total == 100 for _, total, _ in progress) and all(message for *_, message in progress)
    assert sim.stats.submits == 1
    assert "Signature=" not in run.logfile.read_text()  # signed URLs are logged without their query


async def test_a_pending_handle_then_check_then_fetch_with_exactly_one_submit(tmp_path):
    async with simulator(run_seconds=180) as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        progress = []

        async def on_progress(value, total, message):
            progress.append(message)

        first = await client.call_tool(
            "generate_video", {"prompt": "a slow sunrise", "wait_seconds": 2}, progress_callback=on_progress
        )
        handle = first.structured_content
        assert handle["status"] in ("queued", "running") and handle["poll_after_seconds"] > 0
        assert "check_task" in handle["next_step"] and progress
        again = await client.call_tool("generate_video", {"prompt": "a slow sunrise", "wait_seconds": 0})
        assert again.structured_content["task_id"] == handle["task_id"]
        assert again.structured_content["attached"] == "duplicate"
        sim.advance(200)
        checked = await client.call_tool("check_task", {"task_id": handle["task_id"], "wait_seconds": 60})
        assert checked.structured_content["status"] == "succeeded", text_of(checked)
        fetched = await client.call_tool("fetch_video", {"task_id": handle["task_id"]})
        [link] = [c for c in fetched.content if isinstance(c, types.ResourceLink)]
        read = await client.read_resource(str(link.uri))
        listed = await client.call_tool("list_tasks", {"status": "succeeded"})
    assert (
        hashlib.sha256(base64.b64decode(read.contents[0].blob)).hexdigest()
        == fetched.structured_content["video"]["sha256"]
    )
    assert listed.structured_content["tasks"][0]["task_id"] == handle["task_id"]
    assert sim.stats.submits == 1


async def test_a_failed_task_reports_its_code_and_a_remedy(tmp_path):
    async with simulator() as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        sim.faults.fail_next_task("DataInspectionFailed")
        result = await client.call_tool("generate_video", {"prompt": "something flagged", "wait_seconds": 60})
        still_up = await client.list_tools()
    task = result.structured_content
    assert task["status"] == "failed"
    assert task["error"]["code"] == "DataInspectionFailed" and "moderation" in task["error"]["remedy"]
    assert "DataInspectionFailed" in text_of(result)
    assert len(still_up.tools) == 5


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
        async with Client(server_run(tmp_path, sim_env(sim), name="restarted").params) as client:
            listed = await client.call_tool("list_tasks", {})
            [task] = listed.structured_content["tasks"]
            checked = await client.call_tool("check_task", {"task_id": task["task_id"], "wait_seconds": 60})
            fetched = await client.call_tool("fetch_video", {"task_id": task["task_id"]})
    assert checked.structured_content["status"] == "succeeded", text_of(checked)
    assert not fetched.is_error and Path(fetched.structured_content["video"]["path"]).exists()
    assert sim.stats.submits == 1


async def test_throttled_submits_honour_retry_after_and_create_one_task(tmp_path):
    async with simulator() as sim, Client(server_run(tmp_path, sim_env(sim)).params) as client:
        sim.faults.submit(429, count=2, retry_after=0.2)
        result = await client.call_tool(
            "generate_video", {"prompt": "patience", "size": "1280*720", "duration": 2, "wait_seconds": 60}
        )
    assert result.structured_content["status"] == "succeeded", text_of(result)
    assert sim.stats.submits == 3 and sim.stats.submits_accepted == 1


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
    assert outputs[0].is_error and "InvalidApiKey" in text_of(outputs[0])
    blob = json.dumps([o.model_dump(mode="json") for o in outputs]) + models.model_dump_json()
    assert CANARY_KEY not in blob
    assert CANARY_KEY not in run.logfile.read_text()
    for path in run.data_dir.rglob("*"):
        if path.is_file():
            assert CANARY_KEY.encode() not in path.read_bytes(), path


async def test_the_default_wait_returns_a_handle_for_a_3_minute_task_with_progress_on_the_way(tmp_path):
    # The real default: no wait_seconds given, so the call waits 45 s for a task that needs 180 s.
    messages: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with (
        simulator(queue_seconds=5, run_seconds=175) as sim,
        Client(server_run(tmp_path, sim_env(sim)).params) as client,
    ):
        result = await client.call_tool(
            "generate_video", {"prompt": "a three minute render"}, progress_callback=on_progress
        )
    handle = result.structured_content
    assert not result.is_error and handle["status"] in ("queued", "running")
    assert handle["task_id"] and handle["poll_after_seconds"] > 0 and "check_task" in handle["next_step"]
    assert 44 <= handle["elapsed_seconds"] < 60
    assert len(messages) >= 8 and any("running" in m for m in messages)
    assert sim.stats.submits == 1


async def test_streamable_http_serves_the_same_tools_on_loopback(tmp_path):
    port = _free_port()
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
    assert len(tools.tools) == 5 and dry.structured_content["status"] == "dry_run"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    assert f"Saved {out}" in stdout and "matches server: True" in stdout
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert video.codec_context.name == "h264" and container.streams.audio
        assert abs(float(container.duration / av.time_base) - 3) < 0.5


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
        assert line.startswith("http://127.0.0.1:") and line.endswith("/api/v1")
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{line}/services/aigc/video-generation/video-synthesis",
                headers={"Authorization": "Bearer sk-x", "X-DashScope-Async": "enable"},
                json={"model": "wan2.6-t2v", "input": {"prompt": "hello"}, "parameters": {"size": "1280*720"}},
            )
        assert answer.status_code == 200 and answer.json()["output"]["task_status"] == "PENDING"
        assert answer.headers["X-Wan-Simulator"] == "1"
    finally:
        process.terminate()
        await process.wait()
