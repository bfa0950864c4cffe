"""What an agent sees, call by call: the real server in process (the SDK's in-memory client against
``build_server``), the simulator over real loopback HTTP. The stdio transport itself is tested in test_e2e.py."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path

import anyio
import jsonschema
import mcp_types as types
import pytest

from tests.inmemory import in_memory
from tests.simulated import TOOL_NAMES, sim_env, simulator
from tests.stdio_server import text_of
from tests.test_schema_lint import TOOLS_LIST_BUDGET
from wan_video_mcp.tools.call import RESULT_RESERVE_SECONDS

pytestmark = pytest.mark.anyio


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_tools_list_carries_every_model_rule_in_a_valid_2020_12_schema_within_20_kb(tmp_path):
    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        listing = await client.list_tools()
    wire = listing.model_dump(mode="json", by_alias=True, exclude_none=True)
    size = len(json.dumps(wire, separators=(",", ":")))
    assert size <= TOOLS_LIST_BUDGET, size
    tools = {tool["name"]: tool for tool in wire["tools"]}
    assert set(tools) == set(TOOL_NAMES)
    schema = tools["generate_video"]["inputSchema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    for tool in tools.values():
        jsonschema.Draft202012Validator.check_schema(tool["outputSchema"])
    assert {
        "default model": schema["properties"]["model"]["default"],
        "per-model rules": any("if" in rule and "then" in rule for rule in schema["allOf"]),
        "check_task read-only": tools["check_task"]["annotations"]["readOnlyHint"],
        # An omitted hint is MCP's default (idempotentHint: false).
        "generate_video idempotent": tools["generate_video"]["annotations"].get("idempotentHint", False),
    } == {
        "default model": "wan2.7-t2v",
        "per-model rules": True,
        "check_task read-only": True,
        "generate_video idempotent": False,
    }


BAD_INPUTS = [
    ({"model": "wan9-t2v", "prompt": "x"}, "model"),
    ({"model": "wan2.1-t2v-turbo", "prompt": "x", "size": "1920*1080"}, "size"),
    ({"model": "wan2.5-t2v-preview", "prompt": "x", "duration": 7}, "duration"),
    ({"model": "wan2.2-t2v-plus", "prompt": "x" * 801}, "prompt"),
    ({"prompt": "x", "negative_prompt": "n" * 501}, "negative_prompt"),
    ({"prompt": "x", "seed": 2147483648}, "seed"),
    ({"prompt": "x", "seed": -2}, "seed"),
    ({"prompt": "x", "size": "1280*720"}, "size"),
    ({"prompt": "x", "ratio": "2:1"}, "ratio"),
    ({"model": "wan2.7-i2v", "media": [{"type": "last_frame", "url": "https://a.test/a.png"}]}, "media"),
    ({"model": "wan2.7-i2v", "media": [{"type": "first_frame", "url": "data:text/plain;base64,eA=="}]}, "media[0].url"),
    (
        {
            "model": "wan2.7-r2v",
            "prompt": "x",
            "media": [{"type": "reference_video", "url": "https://a.test/v.mp4"}] * 6,
        },
        "media",
    ),
    ({"model": "wan3.0-video", "negative_prompt": "blur", "prompt": "x"}, "negative_prompt"),
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
    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        for arguments, field in BAD_INPUTS:
            result = await client.call_tool("generate_video", arguments)
            error = result.structured_content or {}
            assert {
                "is_error": result.is_error,
                "error_code": error.get("error_code"),
                "field among the problems": field in [p["field"] for p in error.get("problems", [])],
                "field in the text": field in text_of(result),
            } == {
                "is_error": True,
                "error_code": "invalid_request",
                "field among the problems": True,
                "field in the text": True,
            }, (arguments, error)
        listed = await client.call_tool("list_tasks", {})
    assert (listed.structured_content["count"], sim.stats.submits) == (0, 0)


async def test_the_server_starts_without_a_key_and_a_submit_names_the_variable(tmp_path):
    # The stdio twin, with the start-up line that says the key is missing, is in test_ts_clients.py.
    env = {"WAN_PROVIDER": "dashscope", "DASHSCOPE_BASE_URL": "http://127.0.0.1:9/api/v1"}
    async with in_memory(tmp_path, env) as client:
        listing = await client.list_tools()
        dry = await client.call_tool("generate_video", {"prompt": "a cat", "dry_run": True})
        result = await client.call_tool("generate_video", {"prompt": "a cat"})
    assert {
        "tools": len(listing.tools),
        "dry run": (dry.is_error, dry.structured_content["status"]),
        "submit": (result.is_error, result.structured_content["error_code"]),
        "variable named": "DASHSCOPE_API_KEY" in text_of(result),
    } == {"tools": 7, "dry run": (False, "dry_run"), "submit": (True, "not_configured"), "variable named": True}


async def test_a_generation_finishes_within_the_wait_and_the_link_reads_back_the_same_bytes(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        result = await client.call_tool(
            "generate_video",
            {"prompt": "a paper boat on a lake", "resolution": "720P", "duration": 2, "wait_seconds": 60},
            progress_callback=on_progress,
        )
        assert not result.is_error, text_of(result)
        task = result.structured_content
        [link] = [c for c in result.content if isinstance(c, types.ResourceLink)]
        read = await client.read_resource(str(link.uri))
    video, local = task["video"], Path(task["video"]["path"])
    assert {
        "status": task["status"],
        "link": (link.mime_type, link.size),
        "sha256 read, reported, on disk": (sha256(base64.b64decode(read.contents[0].blob)), video["sha256"]),
        "on disk": sha256(local.read_bytes()),
        "inside the data directory": local.is_relative_to(tmp_path / "data"),
        "frame size": (video["media"]["width"], video["media"]["height"]),
        "duration about 2 s": abs(video["media"]["duration_seconds"] - 2) < 0.5,
        "progress out of 100, each with a message": bool(progress) and all(t == 100 and m for _, t, m in progress),
        "submits": sim.stats.submits,
    } == {
        "status": "succeeded",
        "link": ("video/mp4", video["size_bytes"]),
        "sha256 read, reported, on disk": (video["sha256"], video["sha256"]),
        "on disk": video["sha256"],
        "inside the data directory": True,
        "frame size": (1280, 720),
        "duration about 2 s": True,
        "progress out of 100, each with a message": True,
        "submits": 1,
    }
    # Our log lines name signed URLs without their query (the simulator's lines are the provider's side; httpx's
    # own request lines are silenced by the CLI's logging set-up, which test_e2e.py checks on a real server's log).
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("wan_video_mcp.") and not r.name.startswith("wan_video_mcp.server.simulator")
    ]
    assert (bool(ours), [line for line in ours if "Signature=" in line]) == (True, [])


async def test_a_pending_handle_then_check_then_fetch_with_exactly_one_submit(tmp_path):
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with simulator(run_seconds=180) as sim, in_memory(tmp_path, sim_env(sim)) as client:
        first = await client.call_tool(
            "generate_video", {"prompt": "a slow sunrise", "wait_seconds": 2}, progress_callback=on_progress
        )
        handle = first.structured_content
        assert {
            "pending": handle["status"] in ("queued", "running"),
            "poll_after_seconds > 0": handle["poll_after_seconds"] > 0,
            "next step names check_task": "check_task" in handle["next_step"],
            "progress on the way": bool(progress),
        } == {
            "pending": True,
            "poll_after_seconds > 0": True,
            "next step names check_task": True,
            "progress on the way": True,
        }, handle
        again = await client.call_tool("generate_video", {"prompt": "a slow sunrise", "wait_seconds": 0})
        assert (again.structured_content["task_id"], again.structured_content["attached"]) == (
            handle["task_id"],
            "duplicate",
        )
        sim.advance(200)
        checked = await client.call_tool("check_task", {"task_id": handle["task_id"], "wait_seconds": 60})
        assert checked.structured_content["status"] == "succeeded", text_of(checked)
        fetched = await client.call_tool("fetch_video", {"task_id": handle["task_id"]})
        [link] = [c for c in fetched.content if isinstance(c, types.ResourceLink)]
        read = await client.read_resource(str(link.uri))
        listed = await client.call_tool("list_tasks", {"status": "succeeded"})
    assert {
        "read back": sha256(base64.b64decode(read.contents[0].blob)),
        "listed": [t["task_id"] for t in listed.structured_content["tasks"]],
        "submits": sim.stats.submits,
    } == {
        "read back": fetched.structured_content["video"]["sha256"],
        "listed": [handle["task_id"]],
        "submits": 1,
    }


async def test_a_failed_task_reports_its_code_and_a_remedy(tmp_path):
    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        sim.faults.fail_next_task("DataInspectionFailed")
        result = await client.call_tool("generate_video", {"prompt": "something flagged", "wait_seconds": 60})
        still_up = await client.list_tools()
    task = result.structured_content
    assert {
        "status": task["status"],
        "code": task["error"]["code"],
        "remedy speaks of moderation": "moderation" in task["error"]["remedy"],
        "code in the text": "DataInspectionFailed" in text_of(result),
        "tools still listed": len(still_up.tools),
    } == {
        "status": "failed",
        "code": "DataInspectionFailed",
        "remedy speaks of moderation": True,
        "code in the text": True,
        "tools still listed": 7,
    }


async def test_throttled_submits_honour_retry_after_and_create_one_task(tmp_path):
    # Whole seconds, as the header carries them; 20 times the backoff base set here, so only honouring the header
    # makes the two waits this long.
    retry_after = 1
    accepted_after: list[float] = []

    async def watch_for_the_accepted_submit() -> None:
        while not sim.stats.submits_accepted:
            await anyio.sleep(0.01)
        accepted_after.append(anyio.current_time() - started)

    async with simulator() as sim, in_memory(tmp_path, sim_env(sim), retry_base_seconds=0.05) as client:
        sim.faults.submit(429, count=2, retry_after=retry_after)
        async with anyio.create_task_group() as tg:
            started = anyio.current_time()
            tg.start_soon(watch_for_the_accepted_submit)
            result = await client.call_tool(
                "generate_video", {"prompt": "patience", "resolution": "720P", "duration": 2, "wait_seconds": 60}
            )
    assert {
        "status": result.structured_content["status"],
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
        "waited Retry-After twice": accepted_after[0] >= 2 * retry_after,
    } == {"status": "succeeded", "submits": (3, 1), "waited Retry-After twice": True}, (text_of(result), accepted_after)


# A short cap so the default wait is seconds, not the production 50 s (whose margin below the TypeScript SDK's
# request timeout test_ts_clients.py pins); long enough for two progress beats, 4 s apart.
SHORT_CAP = 7


async def test_the_default_wait_returns_a_handle_for_a_3_minute_task_with_progress_on_the_way(tmp_path):
    # No wait_seconds given: the call waits the server's default (the cap, less the result reserve) for a task
    # that needs 180 s, then returns a handle.
    beats: list[tuple[float, str]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        beats.append((anyio.current_time() - started, message or ""))

    async with simulator(queue_seconds=0.5, run_seconds=179.5) as sim:
        env = sim_env(sim) | {"WAN_MAX_WAIT_SECONDS": str(SHORT_CAP)}
        async with in_memory(tmp_path, env) as client:
            started = anyio.current_time()
            result = await client.call_tool(
                "generate_video", {"prompt": "a three minute render"}, progress_callback=on_progress
            )
            took = anyio.current_time() - started
    handle = result.structured_content
    times = [0.0] + [at for at, _ in beats] + [took]
    assert {
        "is_error": result.is_error,
        "pending": handle["status"] in ("queued", "running"),
        "task id": bool(handle["task_id"]),
        "poll_after_seconds > 0": handle["poll_after_seconds"] > 0,
        "next step names check_task": "check_task" in handle["next_step"],
        "waited the default": SHORT_CAP - RESULT_RESERVE_SECONDS - 1 <= handle["elapsed_seconds"] < SHORT_CAP,
        "answered within the cap": took < SHORT_CAP,
        "progress at least every 5 s": max(b - a for a, b in zip(times, times[1:], strict=False)) <= 5,
        "progress follows the render": any(m.startswith("running") for _, m in beats),
        "submits": sim.stats.submits,
    } == {
        "is_error": False,
        "pending": True,
        "task id": True,
        "poll_after_seconds > 0": True,
        "next step names check_task": True,
        "waited the default": True,
        "answered within the cap": True,
        "progress at least every 5 s": True,
        "progress follows the render": True,
        "submits": 1,
    }, (handle, beats, took)


async def test_a_bug_after_the_paid_submit_is_never_reported_as_bad_arguments(tmp_path, monkeypatch, caplog):
    # A pydantic error raised inside generate_video after the submit (here: building its result) is a bug of
    # ours: the agent must hear "internal error, check list_tasks", never "invalid request, nothing charged".
    from pydantic import BaseModel

    class Broken(BaseModel):
        fps: int

    async def broken_result(*args, **kwargs):
        Broken.model_validate({"fps": "not a number"})

    monkeypatch.setattr("wan_video_mcp.tools.generate_video.task_or_video", broken_result)
    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        result = await client.call_tool(
            "generate_video", {"prompt": "a lighthouse in a storm", "duration": 2, "resolution": "720P"}
        )
        listed = await client.call_tool("list_tasks", {})
    error = result.structured_content
    assert (result.is_error, error["error_code"], "list_tasks" in error["hint"], "charged" in text_of(result)) == (
        True,
        "internal_error",
        True,
        False,
    )
    assert listed.structured_content["count"] == 1  # the task was paid for and recorded
    assert "generate_video failed unexpectedly" in caplog.text


async def test_an_unknown_field_is_reported_with_every_other_problem_of_the_call(tmp_path):
    async with simulator() as sim, in_memory(tmp_path, sim_env(sim)) as client:
        missing = await client.call_tool("check_task", {"bogus": 1})
        invalid = await client.call_tool("list_tasks", {"limit": "ten", "colour": "red"})
    assert (missing.is_error, missing.structured_content["field"]) == (True, "task_id")
    assert [p["field"] for p in missing.structured_content["problems"]] == ["task_id", "bogus"]
    assert ("unknown field 'bogus'" in text_of(missing), "task_id" in text_of(missing)) == (True, True)
    assert [p["field"] for p in invalid.structured_content["problems"]] == ["limit", "colour"]
