"""End to end with the clients hosts embed: the TypeScript SDK 1.x (which validates every result's structured
content against the tool's output schema, error results included, and times a request out after 60 s) and the
v2 client, both over stdio with default request options, against the simulator on loopback."""

from __future__ import annotations

import jsonschema
import pytest

from tests.ts_clients import python_server, run_plan
from wan_video_mcp.server.app import offered_models
from wan_video_mcp.server.config import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CLIENTS = ["v1", "v2"]
CLIENT_TIMEOUT_MS = 60_000  # the TypeScript SDK's DEFAULT_REQUEST_TIMEOUT_MSEC


def calls(report: dict) -> list[dict]:
    return [step for step in report["steps"] if step["op"] == "call"]


def output_schemas(report: dict) -> dict[str, dict]:
    [listing] = [step for step in report["steps"] if step["op"] == "list"]
    return {tool["name"]: tool["outputSchema"] for tool in listing["tools"]}


# (tool, arguments, None for a success or what the error's text must name: the field, or the id)
UNKNOWN = "wan_00000000000000000000"
EVERY_TOOL = [
    ("generate_video", {"prompt": "a lighthouse at dusk", "dry_run": True}, None),
    ("generate_video", {"prompt": "x", "duration": 99}, "duration"),
    ("generate_video", {"prompt": "x", "colour": "red"}, "colour"),
    ("generate_video", {"prompt": "a queued task", "duration": 2, "size": "1280*720", "wait_seconds": 0}, None),
    ("check_task", {"task_id": UNKNOWN}, UNKNOWN),
    ("check_task", {"task_id": "x", "wait_seconds": -1}, "wait_seconds"),
    ("fetch_video", {"task_id": "../../etc/passwd"}, "task_id"),
    ("fetch_video", {"task_id": UNKNOWN}, UNKNOWN),
    ("list_tasks", {"limit": 0}, "limit"),
    ("list_tasks", {"status": "open"}, None),
    ("cancel_task", {"task_id": UNKNOWN}, UNKNOWN),
    ("cancel_task", {}, "task_id"),
]


@pytest.mark.parametrize("client", CLIENTS)
async def test_every_tool_s_success_and_error_reach_a_typescript_client_as_results_naming_the_field(tmp_path, client):
    server = python_server(tmp_path / "data", WAN_PROVIDER="simulator", WAN_SIM_QUEUE_SECONDS="600")
    queued = "$last_task_id"  # the task generate_video queued (the harness fills in its id)
    more = [
        ("check_task", {"task_id": queued}, None),
        ("fetch_video", {"task_id": queued}, "no video"),
        ("cancel_task", {"task_id": queued}, None),
        ("cancel_task", {"task_id": queued}, "nothing to cancel"),
    ]
    report = await run_plan(
        client, server, [{"op": "list"}] + [{"op": "call", "name": n, "arguments": a} for n, a, _ in EVERY_TOOL + more]
    )
    schemas = output_schemas(report)
    for (name, arguments, named), step in zip(EVERY_TOOL + more, calls(report), strict=True):
        assert step["ok"], (client, name, arguments, step.get("error"))  # the client did not throw
        jsonschema.Draft202012Validator(schemas[name]).validate(step["structuredContent"])
        if named is None:
            assert not step["isError"], (name, step["text"])
        else:
            assert step["isError"], (name, arguments)
            error = step["structuredContent"]
            assert {"error_code", "message", "retryable", "hint"} <= set(error), error
            assert named in step["text"], (name, named, step["text"])
    assert [
        c["structuredContent"].get("status") or c["structuredContent"]["error_code"] for c in calls(report)[-4:]
    ] == ["queued", "not_ready", "canceled", "not_cancelable"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_missing_key_is_an_error_result_a_typescript_client_accepts(tmp_path, client):
    server = python_server(tmp_path / "data", WAN_PROVIDER="dashscope", DASHSCOPE_BASE_URL="http://127.0.0.1:9/api/v1")
    report = await run_plan(
        client, server, [{"op": "list"}, {"op": "call", "name": "generate_video", "arguments": {"prompt": "a cat"}}]
    )
    [result] = calls(report)
    assert result["ok"] and result["isError"], result
    assert result["structuredContent"]["error_code"] == "not_configured"
    assert "DASHSCOPE_API_KEY" in result["text"]
    assert "key MISSING" in report["stderr"]  # the start-up line says so before any call


async def test_a_render_longer_than_the_client_timeout_returns_a_task_id_in_time_and_its_next_steps_lead_to_the_video(
    tmp_path,
):
    import anyio

    reports: dict[str, dict] = {}

    async def one(client: str) -> None:
        # 113 s: longer than the default wait (45 s) plus one check_task of 60 s, the wait the server used to
        # advise, so advice above the cap would end in a client timeout here.
        server = python_server(
            tmp_path / client,
            WAN_PROVIDER="simulator",
            WAN_SIM_QUEUE_SECONDS="3",
            WAN_SIM_RUN_SECONDS="110",
            WAN_POLL_MIN_SECONDS="0.5",
            WAN_POLL_MAX_SECONDS="2",
        )
        reports[client] = await run_plan(
            client,
            server,
            [
                {"op": "list"},
                {"op": "follow", "name": "generate_video", "arguments": {"prompt": "a very slow sunrise"}},
                {"op": "read_video"},
            ],
        )

    async with anyio.create_task_group() as tg:
        for client in CLIENTS:
            tg.start_soon(one, client)
    for client, report in reports.items():
        [follow] = [s for s in report["steps"] if s["op"] == "follow"]
        first, *rest = follow["calls"]
        assert all(call["ok"] for call in follow["calls"]), (client, [c.get("error") for c in follow["calls"]])
        assert all(call["elapsedMs"] < 52_000 for call in follow["calls"]), [c["elapsedMs"] for c in follow["calls"]]
        assert first["structuredContent"]["task_id"] and first["structuredContent"]["status"] in ("queued", "running")
        assert (
            "check_task" in first["structuredContent"]["next_step"]
            and "wait_seconds=50" in first["structuredContent"]["next_step"]
        )
        last = follow["calls"][-1]["structuredContent"]
        assert last["status"] == "succeeded" and last["video"]["size_bytes"] > 0, last
        # check_task until it finishes; a fetch_video last when the finish came too late in a wait to save the file.
        names = [c["name"] for c in rest]
        assert names and set(names[:-1]) <= {"check_task"} and names[-1] in ("check_task", "fetch_video"), names
        [read] = [s for s in report["steps"] if s["op"] == "read_video"]
        assert read["ok"] and read["mimeType"] == "video/mp4"
        assert read["sha256"] == read["file"]["sha256"] == read["reported"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_progress_comes_at_least_every_5_seconds_so_a_host_that_resets_its_timeout_on_progress_keeps_waiting(
    tmp_path, client
):
    server = python_server(tmp_path / "data", WAN_PROVIDER="simulator", WAN_SIM_RUN_SECONDS="600")
    handle = {"op": "call", "name": "generate_video", "arguments": {"prompt": "slow", "wait_seconds": 0}}
    report = await run_plan(client, server, [{"op": "list"}, handle])
    task_id = calls(report)[0]["structuredContent"]["task_id"]
    report = await run_plan(
        client,
        server,
        [
            {"op": "list"},
            {
                "op": "call",
                "name": "check_task",
                "arguments": {"task_id": task_id, "wait_seconds": 20},
                "options": {"timeout": 6000, "resetTimeoutOnProgress": True},
            },
        ],
    )
    [waited] = calls(report)
    assert waited["ok"], waited.get("error")  # 20 s with a 6 s timeout: only progress kept it alive
    times = [0] + [p["atMs"] for p in waited["progress"]] + [waited["elapsedMs"]]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) <= 5000, times
    values = [p["progress"] for p in waited["progress"]]
    assert values == sorted(set(values)) and all(p["total"] == 100 for p in waited["progress"])


async def test_log_messages_follow_the_level_the_client_sets(tmp_path):
    server = python_server(
        tmp_path / "data", WAN_PROVIDER="simulator", WAN_SIM_RUN_SECONDS="600", WAN_MAX_WAIT_SECONDS="5"
    )
    generate = {"op": "call", "name": "generate_video", "arguments": {"prompt": "logged", "wait_seconds": 0}}
    check = {"op": "call", "name": "check_task", "arguments": {"task_id": "$last_task_id", "wait_seconds": 60}}
    quiet = await run_plan("v1", server, [{"op": "set_level", "level": "warning"}, generate])
    chatty = await run_plan(
        "v1",
        server,
        [
            {"op": "set_level", "level": "info"},
            generate | {"arguments": {"prompt": "logged", "wait_seconds": 0, "force_new": True}},
            check,
        ],
    )
    assert quiet["logs"] == []
    levels_and_text = [(log["level"], log["data"]) for log in chatty["logs"]]
    assert any(level == "info" and "submitted once" in text for level, text in levels_and_text), levels_and_text
    assert any(level == "notice" and "shortened to 5s" in text for level, text in levels_and_text)


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_prompt_and_completions_are_real_and_an_unknown_prompt_is_invalid_params(tmp_path, client):
    server = python_server(tmp_path / "data", WAN_PROVIDER="simulator")
    report = await run_plan(
        client,
        server,
        [
            {"op": "prompts"},
            {
                "op": "get_prompt",
                "name": "wan_video_prompt",
                "arguments": {"idea": "a fox in the snow", "model": "wan2.6-t2v", "duration": "10"},
            },
            {"op": "get_prompt", "name": "test_simple_prompt"},
            {"op": "get_prompt", "name": "wan_video_prompt", "arguments": {"model": "wan2.6-t2v"}},
            {"op": "get_prompt", "name": "wan_video_prompt", "arguments": {"idea": "x", "model": "wan9"}},
            {
                "op": "complete",
                "ref": {"type": "ref/prompt", "name": "wan_video_prompt"},
                "argument": {"name": "model", "value": "wan2.2-"},
            },
            {"op": "call", "name": "generate_video", "arguments": {"prompt": "a fox", "wait_seconds": 0}},
            {
                "op": "complete",
                "ref": {"type": "ref/resource", "uri": "wan-video://videos/{task_id}.mp4"},
                "argument": {"name": "task_id", "value": "wan_"},
            },
            {
                "op": "complete",
                "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                "argument": {"name": "arg1", "value": ""},
            },
        ],
    )
    listed, rendered, unknown, missing, bad_model, models, generated, task_ids, unknown_ref = report["steps"]
    assert [p["name"] for p in listed["prompts"]] == ["wan_video_prompt"]
    text = rendered["messages"][0]["content"]["text"]
    assert "a fox in the snow" in text and "1500 characters" in text and "dry_run=true" in text
    for failed, words in (
        (unknown, "unknown prompt"),
        (missing, "idea"),
        (bad_model, "wan9"),
        (unknown_ref, "unknown prompt"),
    ):
        assert not failed["ok"] and failed["error"]["code"] == -32602 and words in failed["error"]["message"]
    offered = offered_models(Settings(provider="simulator"))
    assert models["completion"]["values"] == [m.id for m in offered if m.id.startswith("wan2.2-")] != []
    assert generated["structuredContent"]["task_id"] in task_ids["completion"]["values"]
