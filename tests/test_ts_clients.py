"""End to end with the clients hosts embed: the TypeScript SDK 1.x (which validates every result's structured
content against the tool's output schema, error results included, and times a request out after 60 s) and the
v2 client, both over stdio with default request options, against the simulator on loopback.

Time-outs are scaled down: a test that needs the client to time out runs the server with a short cap and the
client with a matching short request timeout; one fast test pins the same relation between the real defaults.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio
import jsonschema
import pytest

from tests.ts_clients import default_request_timeouts_ms, python_server, run_plan
from wan_video_mcp.server.app import offered_models
from wan_video_mcp.server.config import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CLIENTS = ["v1", "v2"]
# What a call may take beyond the server's cap before the client gives up: stdio, JSON, a busy machine.
CLIENT_TIMEOUT_MARGIN_SECONDS = 5
SHORT_CAP = 5  # the smallest cap Settings accepts


async def concurrently(run: Callable[[str], Awaitable[dict]], names: list[str]) -> dict[str, dict]:
    """``run(name)`` for every name at once (these tests mostly wait), each one's report by name."""
    reports: dict[str, dict] = {}

    async def one(name: str) -> None:
        reports[name] = await run(name)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return reports


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
    ("generate_video", {"prompt": "a queued task", "duration": 2, "resolution": "720P", "wait_seconds": 0}, None),
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
    error_fields = {"error_code", "message", "retryable", "hint"}
    for (name, arguments, named), step in zip(EVERY_TOOL + more, calls(report), strict=True):
        assert step["ok"], (client, name, arguments, step.get("error"))  # the client did not throw
        jsonschema.Draft202012Validator(schemas[name]).validate(step["structuredContent"])
        got, expected = {"isError": step["isError"]}, {"isError": named is not None}
        if named is not None:
            got |= {"error fields": set(step["structuredContent"]) >= error_fields, "names": named in step["text"]}
            expected |= {"error fields": True, "names": True}
        assert got == expected, (name, arguments, step["structuredContent"], step["text"])
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
    assert {
        "ok, isError": (result["ok"], result["isError"]),
        "error_code": (result["structuredContent"] or {}).get("error_code"),
        "variable named": "DASHSCOPE_API_KEY" in result.get("text", ""),
        "start-up line": "key MISSING" in report["stderr"],  # it says so before any call
    } == {"ok, isError": (True, True), "error_code": "not_configured", "variable named": True, "start-up line": True}, (
        result
    )


async def test_the_default_cap_stays_below_the_typescript_sdk_s_default_request_timeout_with_margin():
    # The fast tests below run a short cap against a matching short client timeout; this is the real pair.
    default_cap = Settings.from_env({}).max_wait_seconds
    timeouts = await default_request_timeouts_ms()
    assert {client: default_cap + CLIENT_TIMEOUT_MARGIN_SECONDS <= ms / 1000 for client, ms in timeouts.items()} == {
        client: True for client in CLIENTS
    }, (default_cap, timeouts)


async def test_a_render_longer_than_the_client_timeout_returns_a_task_id_in_time_and_its_next_steps_lead_to_the_video(
    tmp_path,
):
    # The pair the test above pins, scaled down: a 5 s cap, a 10 s client timeout, and a 14 s render, longer than
    # the default wait (3 s: the cap less the result reserve) plus one call of the client's whole timeout, so advice
    # to wait past the cap would end in a client timeout here.
    client_timeout_ms = (SHORT_CAP + CLIENT_TIMEOUT_MARGIN_SECONDS) * 1000

    async def follow_to_the_video(client: str) -> dict:
        server = python_server(
            tmp_path / client,
            WAN_PROVIDER="simulator",
            WAN_MAX_WAIT_SECONDS=str(SHORT_CAP),
            WAN_SIM_QUEUE_SECONDS="1",
            WAN_SIM_RUN_SECONDS="13",
            WAN_POLL_MIN_SECONDS="0.5",
            WAN_POLL_MAX_SECONDS="2",
        )
        # A 2 s clip: the simulator makes its file quickly once the render time is up.
        slow = {"prompt": "a very slow sunrise", "duration": 2}
        follow = {"op": "follow", "name": "generate_video", "arguments": slow}
        return await run_plan(
            client,
            server,
            [{"op": "list"}, follow | {"options": {"timeout": client_timeout_ms}}, {"op": "read_video"}],
        )

    for client, report in (await concurrently(follow_to_the_video, CLIENTS)).items():
        [follow] = [s for s in report["steps"] if s["op"] == "follow"]
        first, *rest = follow["calls"]
        handle, last = first["structuredContent"] or {}, follow["calls"][-1]["structuredContent"] or {}
        names = [c["name"] for c in rest]
        [read] = [s for s in report["steps"] if s["op"] == "read_video"]
        assert {
            "every call answered": [c["ok"] for c in follow["calls"]],
            "every call within the cap": [c["elapsedMs"] < (SHORT_CAP + 2) * 1000 for c in follow["calls"]],
            "first: a pending handle": (bool(handle.get("task_id")), handle.get("status") in ("queued", "running")),
            "advice: check_task at the cap": f"check_task(task_id='{handle.get('task_id')}', wait_seconds={SHORT_CAP})"
            in handle.get("next_step", ""),
            # check_task until it finishes; then fetch_video (again, on a loaded machine) when the finish came too
            # late in a wait to save the file.
            "followed": (
                re.fullmatch(r"(check_task,)*(fetch_video,)*", "".join(f"{name}," for name in names)) is not None,
                names[-1:] in (["check_task"], ["fetch_video"]),
            ),
            "last: the video": (last.get("status"), last.get("video", {}).get("size_bytes", 0) > 0),
            "read back": (read["ok"], read.get("mimeType"), read.get("sha256") == read["file"]["sha256"]),
            "as reported": read.get("reported") == read["file"]["sha256"],
        } == {
            "every call answered": [True] * len(follow["calls"]),
            "every call within the cap": [True] * len(follow["calls"]),
            "first: a pending handle": (True, True),
            "advice: check_task at the cap": True,
            "followed": (True, True),
            "last: the video": ("succeeded", True),
            "read back": (True, "video/mp4", True),
            "as reported": True,
        }, (
            client,
            [
                (c["name"], c["elapsedMs"], (c.get("error") or c["structuredContent"] or {}).get("next_step"))
                for c in follow["calls"]
            ],
        )


async def test_progress_comes_at_least_every_5_seconds_so_a_host_that_resets_its_timeout_on_progress_keeps_waiting(
    tmp_path,
):
    # This one needs real time: a wait longer than the client's timeout, which only progress keeps alive. 9 s
    # against 6 s: two heartbeats 4 s apart, and the gap to the end.
    async def wait_on_progress(client: str) -> dict:
        server = python_server(tmp_path / client, WAN_PROVIDER="simulator", WAN_SIM_RUN_SECONDS="600")
        handle = {"op": "call", "name": "generate_video", "arguments": {"prompt": "slow", "wait_seconds": 0}}
        check = {
            "op": "call",
            "name": "check_task",
            "arguments": {"task_id": "$last_task_id", "wait_seconds": 9},
            "options": {"timeout": 6000, "resetTimeoutOnProgress": True},
        }
        return await run_plan(client, server, [{"op": "list"}, handle, check])

    for client, report in (await concurrently(wait_on_progress, CLIENTS)).items():
        _, waited = calls(report)
        times = [0] + [p["atMs"] for p in waited["progress"]] + [waited["elapsedMs"]]
        values = [p["progress"] for p in waited["progress"]]
        assert {
            "answered after the client's timeout": (waited["ok"], waited["elapsedMs"] > 6000),
            "longest gap (ms) at most 5000": max(b - a for a, b in zip(times, times[1:], strict=False)) <= 5000,
            "values rise": values == sorted(set(values)),
            "totals": {p["total"] for p in waited["progress"]},
        } == {
            "answered after the client's timeout": (True, True),
            "longest gap (ms) at most 5000": True,
            "values rise": True,
            "totals": {100},
        }, (client, waited.get("error"), times)


async def test_log_messages_follow_the_level_the_client_sets(tmp_path):
    generate = {"op": "call", "name": "generate_video", "arguments": {"prompt": "logged", "wait_seconds": 0}}
    # A wait above the cap on a finished (canceled, so queued long) task: the notice that shortens it, no wait.
    cancel = {"op": "call", "name": "cancel_task", "arguments": {"task_id": "$last_task_id"}}
    check = {"op": "call", "name": "check_task", "arguments": {"task_id": "$last_task_id", "wait_seconds": 60}}
    plans = {
        "quiet": [{"op": "set_level", "level": "warning"}, generate],
        "chatty": [{"op": "set_level", "level": "info"}, generate, cancel, check],
    }

    async def run(name: str) -> dict:
        server = python_server(
            tmp_path / name, WAN_PROVIDER="simulator", WAN_SIM_QUEUE_SECONDS="600", WAN_MAX_WAIT_SECONDS=str(SHORT_CAP)
        )
        return await run_plan("v1", server, plans[name])

    reports = await concurrently(run, list(plans))
    levels_and_text = [(log["level"], log["data"]) for log in reports["chatty"]["logs"]]
    assert {
        "quiet": reports["quiet"]["logs"],
        "submitted once (info)": any(level == "info" and "submitted once" in text for level, text in levels_and_text),
        "wait shortened (notice)": any(
            level == "notice" and f"shortened to {SHORT_CAP}s" in text for level, text in levels_and_text
        ),
    } == {"quiet": [], "submitted once (info)": True, "wait shortened (notice)": True}, levels_and_text


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
    assert [p["name"] for p in listed["prompts"]] == ["wan_video_prompt", "wan_prompt_guide"]
    text = rendered["messages"][0]["content"]["text"]
    assert {phrase: phrase in text for phrase in ("a fox in the snow", "1500 characters", "dry_run=true")} == {
        "a fox in the snow": True,
        "1500 characters": True,
        "dry_run=true": True,
    }, text
    for failed, words in (
        (unknown, "unknown prompt"),
        (missing, "idea"),
        (bad_model, "wan9"),
        (unknown_ref, "unknown prompt"),
    ):
        error = failed.get("error") or {}
        assert (failed["ok"], error.get("code"), words in error.get("message", "")) == (False, -32602, True), failed
    offered = offered_models(Settings(provider="simulator"))
    assert models["completion"]["values"] == [m.id for m in offered if m.id.startswith("wan2.2-")] != []
    assert generated["structuredContent"]["task_id"] in task_ids["completion"]["values"]
