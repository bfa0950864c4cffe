"""Storyboards and extend_video through the real server in memory (the SDK's client) against the simulator on
127.0.0.1: what is refused before anything is paid, the dry run, the daily budget over the whole, a failed shot made
again alone, how a storyboard is shown (check_task and its resources), and extend_video's refusals.

The happy paths over stdio (the three continuities, a restart, both ways of extending) are in test_e2e_storyboard.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from tests.simulated import served
from tests.stdio_server import text_of
from wan_video_mcp.server.simulator import Simulator

pytestmark = pytest.mark.anyio

SHARED = {"model": "wan2.7-t2v", "resolution": "720P", "ratio": "16:9"}
SHOTS = [
    {"prompt": "a red kite rises over the dunes", "duration": 2},
    {"prompt": "the kite loops in the wind", "duration": 2},
    {"prompt": "the kite lands softly", "duration": 2},
]
ENDED = ("succeeded", "failed")
# A render that does not end by itself: the test moves the simulator's clock (``sim.advance``) past it.
LONG_RUN = 600.0


def content(result: Any) -> dict[str, Any]:
    return dict(result.structured_content or {})


async def board(client: Client, storyboard_id: str, wait_seconds: int = 0) -> dict[str, Any]:
    result = await client.call_tool("check_task", {"task_id": storyboard_id, "wait_seconds": wait_seconds})
    assert not result.is_error, text_of(result)
    return content(result)


async def ended(client: Client, storyboard_id: str) -> dict[str, Any]:
    """The storyboard once it succeeded or failed."""
    with anyio.fail_after(60):
        while (shown := await board(client, storyboard_id, wait_seconds=5))["status"] not in ENDED:
            pass
    return shown


async def every_shot_submitted(client: Client, storyboard_id: str) -> list[str]:
    """The shots' task ids once each shot has been handed to the provider (its remote id is known)."""
    with anyio.fail_after(30):
        while True:
            shots = (await board(client, storyboard_id))["shots"]
            ids = [shot.get("task_id") for shot in shots]
            if all(ids):
                remotes = [content(await client.call_tool("check_task", {"task_id": i})) for i in ids]
                if all(r.get("remote_task_id") for r in remotes):
                    return [str(i) for i in ids]
            await anyio.sleep(0.05)


async def remote_id(client: Client, task_id: str) -> str:
    return str(content(await client.call_tool("check_task", {"task_id": task_id}))["remote_task_id"])


async def sim_tasks(sim: Simulator, count: int) -> None:
    with anyio.fail_after(30):
        while len(sim.tasks) < count:
            await anyio.sleep(0.05)


def storyboard(**arguments: Any) -> dict[str, Any]:
    return {"shots": SHOTS, "wait_seconds": 0} | SHARED | arguments


# ---------------------------------------------------------------------------------------------- refused up front


async def test_every_shot_breaking_a_rule_is_named_by_its_index_and_nothing_is_submitted(tmp_path: Path) -> None:
    shots = [SHOTS[0], {"prompt": "too long", "duration": 20}, {"prompt": "odd", "bogus": 1}]
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", storyboard(shots=shots))
    refused = content(result)
    assert result.is_error
    assert {
        "error_code": refused["error_code"],
        "field": refused["field"],
        "problems": [p["field"] for p in refused["problems"]],
        "each names its shot": [p["message"].split(":")[0] for p in refused["problems"]],
        "submits": sim.stats.submits,
    } == {
        "error_code": "invalid_request",
        "field": "shots[1].duration",
        "problems": ["shots[1].duration", "shots[2].bogus"],
        "each names its shot": ["shot 1", "shot 2"],
        "submits": 0,
    }
    assert "duration 20" in text_of(result) and "'bogus'" in text_of(result)


@pytest.mark.parametrize("arguments", [{}, {"shots": []}], ids=["missing", "empty"])
async def test_a_storyboard_without_shots_is_refused_naming_shots(tmp_path: Path, arguments: dict[str, Any]) -> None:
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", {"wait_seconds": 0} | arguments)
    assert (result.is_error, content(result).get("field"), sim.stats.submits) == (True, "shots", 0)
    assert "shots is required" in text_of(result)


async def test_clip_shots_whose_running_total_passes_ten_seconds_before_the_last_are_refused(tmp_path: Path) -> None:
    # 4 + 4 + 4 = 12 s would be sent as the last shot's first_clip, which takes 2-10 s; each shot alone is valid.
    shots = [{"prompt": f"shot {i}", "duration": 4} for i in range(3)] + [{"prompt": "last", "duration": 2}]
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", storyboard(shots=shots, continuity="clip"))
    refused = content(result)
    assert (result.is_error, refused["field"], [p["field"] for p in refused["problems"]]) == (True, "shots", ["shots"])
    assert "add up to 12 s" in refused["message"] and "at most 10 s" in refused["message"]
    assert sim.stats.submits == 0


@pytest.mark.parametrize(
    ("continuity", "model", "named"),
    [
        # Virginia offers wan2.6 and wan3.0 only: no image-to-video model of wan2.2 to start a shot from a frame.
        ("last_frame", "wan2.2-t2v-plus", "no image-to-video model of wan2.2"),
        ("clip", "wan2.6-t2v", "clip continuity needs wan2.7-i2v"),
    ],
)
async def test_a_continuity_this_region_cannot_make_is_refused_naming_continuity(
    tmp_path: Path, continuity: str, model: str, named: str
) -> None:
    async with served(tmp_path, {"region": "us"}) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", storyboard(continuity=continuity, model=model))
    assert (result.is_error, content(result).get("field"), sim.stats.submits) == (True, "continuity", 0)
    assert named in text_of(result)


def test_without_a_model_last_frame_shots_follow_on_the_first_shots_generation_whatever_the_hash_seed() -> None:
    program = (
        "from types import SimpleNamespace\n"
        "from wan_video_mcp.server.catalog import models_for\n"
        "from wan_video_mcp.server.jobs.storyboards import Storyboards\n"
        "boards = Storyboards(SimpleNamespace(models={s.id: s for s in models_for('intl')}), None)\n"
        "request, calls = boards.plan({'continuity': 'last_frame', 'shots': [{'prompt': 'a'}, {'prompt': 'b'}]})\n"
        "print(calls[0].request.model, calls[1].request.model)\n"
    )
    seen = set()
    for seed in range(8):
        env = os.environ | {"PYTHONHASHSEED": str(seed)}
        run = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
        seen.add(run.stdout.strip())
    assert seen == {"wan2.7-t2v wan2.7-i2v"}


# ---------------------------------------------------------------------------------------------- dry run


@pytest.mark.parametrize(
    ("continuity", "listed"),
    [
        (
            "none",
            ["shot 0: wan2.7-t2v 720P 16:9 2s", "shot 1: wan2.7-t2v 720P 16:9 2s", "shot 2: wan2.7-t2v 720P 16:9 2s"],
        ),
        # Each clip shot holds everything before it: its duration is the running total, on wan2.7-i2v.
        ("clip", ["shot 0: wan2.7-t2v 720P 16:9 2s", "shot 1: wan2.7-i2v 720P 4s", "shot 2: wan2.7-i2v 720P 6s"]),
    ],
)
async def test_a_dry_run_lists_each_shot_and_the_total_and_submits_nothing(
    tmp_path: Path, continuity: str, listed: list[str]
) -> None:
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", storyboard(continuity=continuity, dry_run=True))
    shown = content(result)
    message = shown["message"]
    prices = [float(p) for p in re.findall(r"shot \d: [^$]*\$(\d+\.\d\d)", message)]
    total = re.search(r"estimated at most \$(\d+\.\d\d)", message)
    assert (result.is_error, shown["status"], "task_id" in shown) == (False, "dry_run", False)
    assert [line in message for line in listed] == [True] * 3, message
    assert f"3 shots ({continuity})" in message and "Nothing was submitted" in message
    assert total is not None and float(total.group(1)) == pytest.approx(sum(prices), abs=0.02), message
    assert (sim.stats.submits, len(sim.uploads)) == (0, 0)


# ---------------------------------------------------------------------------------------------- budget


async def test_the_daily_cap_refuses_the_storyboards_total_though_each_shot_alone_fits(tmp_path: Path) -> None:
    # Each 2 s 720P shot is about $0.17; the three together about $0.50.
    async with served(tmp_path, {"max_cost_per_day_usd": 0.40}) as (client, sim, _):
        refused = await client.call_tool("generate_storyboard", storyboard())
        submits_after_refusal = sim.stats.submits
        one = await client.call_tool("generate_storyboard", storyboard(shots=SHOTS[:1], wait_seconds=30))
    assert (refused.is_error, content(refused).get("error_code"), submits_after_refusal) == (
        True,
        "budget_exceeded",
        0,
    )
    assert "daily cap of $0.40" in text_of(refused)
    assert (one.is_error, content(one)["status"], sim.stats.submits) == (False, "succeeded", 1), text_of(one)


async def test_a_per_task_cap_below_one_shot_refuses_the_storyboard_before_anything_is_paid(tmp_path: Path) -> None:
    async with served(tmp_path, {"max_cost_per_task_usd": 0.10}) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", storyboard())
    assert (result.is_error, content(result).get("error_code"), sim.stats.submits) == (True, "budget_exceeded", 0)


async def test_a_per_task_cap_each_shot_fits_lets_the_storyboard_through(tmp_path: Path) -> None:
    async with served(tmp_path, {"max_cost_per_task_usd": 0.20}) as (client, _, _):
        result = await client.call_tool("generate_storyboard", storyboard(dry_run=False))
    assert not result.is_error, text_of(result)


# ---------------------------------------------------------------------------------------------- retry


async def test_a_failed_shot_is_made_again_alone_and_the_storyboard_finishes(tmp_path: Path) -> None:
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, _):
        started = await client.call_tool("generate_storyboard", storyboard())
        sid = content(started)["task_id"]
        first_ids = await every_shot_submitted(client, sid)
        sim.faults.fail_task(await remote_id(client, first_ids[1]))
        sim.advance(2 * LONG_RUN)  # shots 0 and 2 succeed
        failed = await ended(client, sid)

        not_failed = await client.call_tool("generate_storyboard", {"storyboard_id": sid, "retry_shot": 0})
        out_of_range = await client.call_tool("generate_storyboard", {"storyboard_id": sid, "retry_shot": 3})
        submits_before_retry = sim.stats.submits

        retried = await client.call_tool(
            "generate_storyboard", {"storyboard_id": sid, "retry_shot": 1, "wait_seconds": 0}
        )
        await sim_tasks(sim, 4)
        sim.advance(2 * LONG_RUN)
        done = await ended(client, sid)

    assert (failed["status"], [s["status"] for s in failed["shots"]]) == (
        "failed",
        ["succeeded", "failed", "succeeded"],
    )
    assert f"shot 1 ({first_ids[1]}) failed" in failed["message"]
    assert f"generate_storyboard(storyboard_id='{sid}', retry_shot=1)" in failed["next_step"]
    assert {
        "shot 0": (not_failed.is_error, content(not_failed).get("field")),
        "shot 3": (out_of_range.is_error, content(out_of_range).get("field")),
    } == {"shot 0": (True, "retry_shot"), "shot 3": (True, "retry_shot")}
    assert "shot 0 is succeeded: nothing to make again there; the retry makes shot(s) 1 again" in text_of(not_failed)
    assert (retried.is_error, content(retried)["status"]) == (False, "running"), text_of(retried)
    done_ids = [s["task_id"] for s in done["shots"]]
    assert {
        "status": done["status"],
        "shots": [s["status"] for s in done["shots"]],
        "kept": (done_ids[0], done_ids[2]),
        "shot 1 is new": done_ids[1] != first_ids[1],
        "submits": (submits_before_retry, sim.stats.submits, sim.stats.submits_accepted),
        "video": done["video"]["uri"],
    } == {
        "status": "succeeded",
        "shots": ["succeeded"] * 3,
        "kept": (first_ids[0], first_ids[2]),
        "shot 1 is new": True,
        "submits": (3, 4, 4),
        "video": f"wan-video://storyboards/{sid}.mp4",
    }


async def test_retrying_an_unknown_storyboard_is_refused_naming_it(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", {"storyboard_id": "sb_nope", "retry_shot": 0})
    assert (result.is_error, content(result).get("field"), sim.stats.submits) == (True, "storyboard_id", 0)


async def test_retrying_a_shot_that_was_never_made_is_refused(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, sim, _):
        sim.faults.fail_next_task()  # last_frame: shot 0 fails, so shots 1 and 2 are never submitted
        started = await client.call_tool("generate_storyboard", storyboard(continuity="last_frame"))
        sid = content(started)["task_id"]
        failed = await ended(client, sid)
        result = await client.call_tool("generate_storyboard", {"storyboard_id": sid, "retry_shot": 2})
    assert [s["status"] for s in failed["shots"]] == ["failed", "waiting", "waiting"]
    assert (result.is_error, content(result).get("field"), sim.stats.submits) == (True, "retry_shot", 1)


async def test_retry_shot_without_a_storyboard_id_is_refused_instead_of_making_a_new_storyboard(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (client, _, _):
        result = await client.call_tool("generate_storyboard", storyboard(retry_shot=1))
    assert (result.is_error, content(result).get("field")) == (True, "storyboard_id"), text_of(result)


# ---------------------------------------------------------------------------------------------- shown


async def test_check_task_and_the_storyboard_resource_show_each_shot(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, _, _):
        started = content(await client.call_tool("generate_storyboard", storyboard()))
        sid = started["task_id"]
        early = await board(client, sid)
        done = await ended(client, sid)
        read = await client.read_resource(f"wan-video://storyboards/{sid}")
    [resource] = read.contents
    shown = json.loads(getattr(resource, "text", ""))
    assert [s["index"] for s in early["shots"]] == [0, 1, 2]
    assert {s["status"] for s in early["shots"]} <= {"waiting", "queued", "running", "succeeded"}
    assert (done["status"], [s["status"] for s in done["shots"]]) == ("succeeded", ["succeeded"] * 3)
    assert all(s["task_id"].startswith("wan_") for s in done["shots"])
    assert resource.mime_type == "application/json"
    assert {
        "task_id": shown["task_id"],
        "status": shown["status"],
        "shots": [(s["index"], s["task_id"], s["status"]) for s in shown["shots"]],
        "video": shown["video"]["sha256"],
    } == {
        "task_id": sid,
        "status": "succeeded",
        "shots": [(s["index"], s["task_id"], s["status"]) for s in done["shots"]],
        "video": done["video"]["sha256"],
    }


async def test_the_storyboard_video_resource_is_the_joined_mp4(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, _, _):
        started = content(await client.call_tool("generate_storyboard", storyboard()))
        done = await ended(client, started["task_id"])
        read = await client.read_resource(done["video"]["uri"])
    [video] = read.contents
    data = base64.b64decode(getattr(video, "blob", ""))
    assert (video.mime_type, hashlib.sha256(data).hexdigest(), len(data)) == (
        "video/mp4",
        done["video"]["sha256"],
        done["video"]["size_bytes"],
    )


async def test_an_unknown_storyboard_is_not_found_by_check_task_and_by_both_resources(tmp_path: Path) -> None:
    unknown = "sb_00000000000000000000"
    async with served(tmp_path) as (client, _, _):
        checked = await client.call_tool("check_task", {"task_id": unknown})
        errors = {}
        for uri in (f"wan-video://storyboards/{unknown}", f"wan-video://storyboards/{unknown}.mp4"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            errors[uri] = (caught.value.error.code, f"no storyboard '{unknown}" in caught.value.error.message)
    assert (checked.is_error, content(checked).get("error_code")) == (True, "task_not_found")
    assert unknown in text_of(checked)
    assert errors == dict.fromkeys(errors, (INVALID_PARAMS, True))


# ---------------------------------------------------------------------------------------------- extend_video


async def test_extending_a_task_not_finished_is_refused_naming_task_id(tmp_path: Path) -> None:
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, _):
        source = await client.call_tool("generate_video", {"prompt": "a kite", "duration": 2, "wait_seconds": 0})
        result = await client.call_tool(
            "extend_video", {"task_id": content(source)["task_id"], "prompt": "on", "wait_seconds": 0}
        )
    assert (result.is_error, content(result).get("field"), sim.stats.submits) == (True, "task_id", 1)
    assert "only a finished video can be extended" in text_of(result)


async def test_extend_video_refuses_a_method_or_model_that_cannot_continue_the_video(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, sim, _):
        source = await client.call_tool(
            "generate_video", {"prompt": "a kite", "model": "wan2.2-t2v-plus", "wait_seconds": 30}
        )
        assert content(source).get("download_status") == "downloaded", text_of(source)
        base = {"task_id": content(source)["task_id"], "prompt": "on", "wait_seconds": 0}
        refusals = {}
        for name, extra in {
            "clip on a legacy model": {"method": "clip", "model": "wan2.2-i2v-plus"},
            "unknown model": {"model": "wan9.9-i2v"},
            "a model without a first frame": {"method": "last_frame", "model": "wan2.2-t2v-plus"},
        }.items():
            result = await client.call_tool("extend_video", base | extra)
            refusals[name] = (result.is_error, content(result).get("field"))
            assert "nothing was submitted" in text_of(result)
    assert refusals == {
        "clip on a legacy model": (True, "method"),
        "unknown model": (True, "model"),
        "a model without a first frame": (True, "model"),
    }
    assert sim.stats.submits == 1


@pytest.mark.parametrize(
    ("method", "said"),
    [("auto", "as a continuation of its video (first_clip) on wan2.7-i2v"), ("last_frame", "from its last frame")],
)
async def test_an_extend_dry_run_says_its_method_and_submits_nothing(tmp_path: Path, method: str, said: str) -> None:
    # Real renders: the fixed fallback MP4 (160x90) is smaller than wan2.7-i2v takes as an input.
    async with served(tmp_path, renderer="auto") as (client, sim, _):
        source = await client.call_tool(
            "generate_video",
            {"prompt": "a kite", "model": "wan2.7-t2v", "resolution": "720P", "duration": 2, "wait_seconds": 30},
        )
        assert content(source).get("download_status") == "downloaded", text_of(source)
        result = await client.call_tool(
            "extend_video",
            {"task_id": content(source)["task_id"], "prompt": "on", "method": method, "dry_run": True},
        )
    shown = content(result)
    assert (result.is_error, shown.get("status"), "task_id" in shown) == (False, "dry_run", False), text_of(result)
    assert said in text_of(result) and "Nothing was submitted" in text_of(result)
    assert (sim.stats.submits, len(sim.uploads)) == (1, 0)


async def test_auto_extends_from_the_last_frame_when_clip_and_extension_pass_fifteen_seconds(tmp_path: Path) -> None:
    async with served(tmp_path, renderer="auto") as (client, sim, _):
        source = await client.call_tool(
            "generate_video",
            {"prompt": "a kite", "model": "wan2.7-t2v", "resolution": "720P", "duration": 2, "wait_seconds": 30},
        )
        result = await client.call_tool(
            "extend_video", {"task_id": content(source)["task_id"], "prompt": "on", "duration": 14, "dry_run": True}
        )
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert "from its last frame" in text_of(result)
    assert sim.stats.submits == 1


async def test_a_shot_whose_local_file_is_missing_is_refused_before_anything_is_paid(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    shots = [{"prompt": "from the photo", "media": [{"type": "first_frame", "url": str(folder / "gone.png")}]}]
    async with served(tmp_path, {"media_roots": (folder,)}) as (client, sim, _):
        for dry_run in (True, False):
            result = await client.call_tool(
                "generate_storyboard",
                {"shots": shots, "model": "wan2.7-i2v", "resolution": "720P", "dry_run": dry_run, "wait_seconds": 0},
            )
            assert (result.is_error, content(result).get("field")) == (True, "shots[0].media[0].url"), text_of(result)
            assert "gone.png" in text_of(result)
        assert (sim.stats.submits, len(sim.uploads)) == (0, 0)


async def test_shots_to_be_joined_are_refused_without_pyav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool("generate_storyboard", {"shots": SHOTS, **SHARED, "wait_seconds": 0})
    assert (result.is_error, content(result).get("field")) == (True, "continuity")
    assert "wan-video-mcp[video]" in text_of(result)
    assert sim.stats.submits == 0


async def test_a_storyboard_left_by_a_process_that_stopped_is_finished_by_another_on_the_same_store(
    tmp_path: Path,
) -> None:
    from mcp import Client as SdkClient
    from pydantic import SecretStr

    from tests.simulated import QUICK_POLLING, QUICK_RENDER
    from wan_video_mcp.server.app import build_server
    from wan_video_mcp.server.config import Settings
    from wan_video_mcp.server.simulator import SimulatorConfig

    # The real renderer: the fallback clip is too small (160x90) to start an image-to-video shot from.
    async with Simulator(SimulatorConfig(**(QUICK_RENDER | {"run_seconds": 2.0, "renderer": "auto"}))) as sim:
        settings = Settings(
            provider="dashscope",
            api_key=SecretStr("sk-test"),
            base_url=sim.base_url,
            data_dir=tmp_path,
            **QUICK_POLLING,
        )
        async with SdkClient(build_server(settings)) as first:
            started = await first.call_tool(
                "generate_storyboard", {"shots": SHOTS, "continuity": "last_frame", **SHARED, "wait_seconds": 0}
            )
            board_id = content(started)["task_id"]
        # The first process has gone (its runner with it); a second one on the same store takes the storyboard over.
        async with SdkClient(build_server(settings)) as second:
            done = await ended(second, board_id)
    assert done["status"] == "succeeded", done
    assert (sim.stats.submits, sim.stats.submits_accepted) == (len(SHOTS), len(SHOTS))


# -------------------------------------------------------------------------- saving, submitting or joining goes wrong


def _failed_shot(message: str, said: str) -> int:
    """The index of the shot a failed storyboard's message names as the one that stopped it."""
    found = re.search(rf"shot (\d+) [^:]*{re.escape(said)}", message)
    assert found is not None, message
    return int(found.group(1))


def _join_failing_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``join_clips`` raising ``JoinError("boom")`` the first time (the runner imports it when it joins); the
    number of clips of each call is recorded in the list returned."""
    from wan_video_mcp.server.media import join as join_module
    from wan_video_mcp.server.media.join import JoinError

    real = join_module.join_clips
    calls: list[int] = []

    def failing_once(clips: Any, out: Path, tag: str | None = None) -> Any:
        calls.append(len(clips))
        if len(calls) == 1:
            raise JoinError("boom")
        return real(clips, out, tag)

    monkeypatch.setattr(join_module, "join_clips", failing_once)
    return calls


async def test_with_auto_download_off_the_runner_saves_each_shot_itself_and_the_storyboard_finishes(
    tmp_path: Path,
) -> None:
    async with served(tmp_path, {"auto_download": False}) as (client, sim, _):
        started = await client.call_tool("generate_storyboard", storyboard())
        done = await ended(client, content(started)["task_id"])
        shots = [content(await client.call_tool("check_task", {"task_id": s["task_id"]})) for s in done["shots"]]
    assert (done["status"], [s["status"] for s in done["shots"]]) == ("succeeded", ["succeeded"] * 3), done
    assert [s.get("download_status") for s in shots] == ["downloaded"] * 3
    assert (sim.stats.submits, sim.stats.submits_accepted) == (3, 3)


async def test_a_shot_whose_video_cannot_be_saved_fails_the_storyboard_and_its_retry_saves_it_without_paying(
    tmp_path: Path,
) -> None:
    """Downloads refused for a while fail the storyboard naming the shot; once they work again, the retry saves the
    finished video (it was paid) instead of making the shot again."""
    async with served(tmp_path) as (client, sim, _):
        sim.faults.add("download", "expired", count=100)  # every download answers 403 "Request has expired."
        started = await client.call_tool("generate_storyboard", storyboard())
        sid = content(started)["task_id"]
        failed = await ended(client, sid)
        first_ids = [s["task_id"] for s in failed["shots"]]
        index = _failed_shot(failed["message"], "could not be saved")
        submits_before_retry = sim.stats.submits

        sim.faults.clear()
        retried = await client.call_tool(
            "generate_storyboard", {"storyboard_id": sid, "retry_shot": index, "wait_seconds": 0}
        )
        done = await ended(client, sid)
    assert (failed["status"], [s["status"] for s in failed["shots"]]) == ("failed", ["succeeded"] * 3), failed
    assert f"shot {index} ({first_ids[index]}) finished, but its video could not be saved" in failed["message"]
    assert "expired" in failed["message"]
    # (nothing is made again: the join it starts may be under way, or done, by the time the call answers)
    assert (retried.is_error, content(retried).get("status") in ("running", "joining", "succeeded")) == (
        False,
        True,
    ), text_of(retried)
    done_ids = [s["task_id"] for s in done["shots"]]
    assert {
        "status": done["status"],
        "shots": [s["status"] for s in done["shots"]],
        "kept": [done_ids[i] == first_ids[i] for i in range(3)],
        "submits": (submits_before_retry, sim.stats.submits, sim.stats.submits_accepted),
        "video": (done.get("video") or {}).get("uri"),
    } == {
        "status": "succeeded",
        "shots": ["succeeded"] * 3,
        "kept": [True] * 3,  # the retry downloads the finished shot: nothing is made (or paid) again
        "submits": (3, 3, 3),
        "video": f"wan-video://storyboards/{sid}.mp4",
    }, done


async def test_a_download_cut_short_once_is_tried_again_and_the_storyboard_finishes(tmp_path: Path) -> None:
    # Auto-download off: the runner is the only one saving the shots, so it meets the fault.
    async with served(tmp_path, {"auto_download": False}) as (client, sim, _):
        sim.faults.add("download", "truncated")
        started = await client.call_tool("generate_storyboard", storyboard())
        done = await ended(client, content(started)["task_id"])
    assert done["status"] == "succeeded", done["message"]
    assert sim.stats.submits == 3


@pytest.mark.parametrize(
    "refusals",
    [
        3,  # within one submit's 4 attempts
        4,
        6,
    ],
)
async def test_submits_refused_for_now_are_tried_again_and_each_shot_is_accepted_once(
    tmp_path: Path, refusals: int
) -> None:
    async with served(tmp_path) as (client, sim, _):
        sim.faults.add("submit", "429", count=refusals, retry_after=0.0)
        started = await client.call_tool("generate_storyboard", storyboard())
        done = await ended(client, content(started)["task_id"])
    assert (done["status"], [s["status"] for s in done["shots"]]) == ("succeeded", ["succeeded"] * 3), done["message"]
    assert (sim.stats.submits, sim.stats.submits_accepted) == (3 + refusals, 3)


async def test_a_submit_refused_for_good_fails_the_storyboard_and_its_retry_finishes_it(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, sim, _):
        # A refusal trying again cannot help, on the first shot's submit only. (A 429 whose code is the account's
        # quota: the simulator's error faults are 429, 500 and 503, and a 5xx submit is ambiguous, not refused.)
        sim.faults.add("submit", "429", code="Throttling.AllocationQuota", message="Allocated quota exceeded.")
        started = await client.call_tool("generate_storyboard", storyboard())
        sid = content(started)["task_id"]
        failed = await ended(client, sid)
        submits_after_refusal = (sim.stats.submits, sim.stats.submits_accepted)
        sim.faults.clear()
        retried = await client.call_tool(
            "generate_storyboard", {"storyboard_id": sid, "retry_shot": 0, "wait_seconds": 0}
        )
        done = await ended(client, sid)
    assert failed["status"] == "failed", failed
    assert "shot 0 could not be submitted" in failed["message"], failed["message"]
    assert "Throttling.AllocationQuota" in failed["message"]
    # The refused task is kept on the shot: it is shown, and retry takes that shot.
    assert (failed["shots"][0]["status"], [s["status"] for s in failed["shots"][1:]]) == ("failed", ["waiting"] * 2)
    assert "retry_shot=0" in failed["next_step"]
    assert submits_after_refusal == (1, 0)
    assert (retried.is_error, content(retried).get("status")) == (False, "running"), text_of(retried)
    assert (done["status"], [s["status"] for s in done["shots"]]) == ("succeeded", ["succeeded"] * 3), done
    assert done["shots"][0]["task_id"] != failed["shots"][0]["task_id"]
    assert (sim.stats.submits, sim.stats.submits_accepted) == (4, 3)


async def test_a_failed_join_is_made_again_by_retry_without_paying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    joins = _join_failing_once(monkeypatch)
    async with served(tmp_path) as (client, sim, _):
        started = await client.call_tool("generate_storyboard", storyboard())
        sid = content(started)["task_id"]
        failed = await ended(client, sid)
        submits_before_retry = sim.stats.submits
        retried = await client.call_tool(
            "generate_storyboard", {"storyboard_id": sid, "retry_shot": 0, "wait_seconds": 0}
        )
        done = await ended(client, sid)
    assert failed["status"] == "failed", failed
    assert "the shots could not be joined: boom" in failed["message"]
    assert [s["status"] for s in failed["shots"]] == ["succeeded"] * 3
    # (the join it starts may be under way, or even done, by the time the call answers)
    assert (retried.is_error, content(retried).get("status") in ("running", "joining", "succeeded")) == (
        False,
        True,
    ), text_of(retried)
    assert (done["status"], done["video"]["uri"]) == ("succeeded", f"wan-video://storyboards/{sid}.mp4"), done
    assert [s["task_id"] for s in done["shots"]] == [s["task_id"] for s in failed["shots"]]
    assert (submits_before_retry, sim.stats.submits, sim.stats.submits_accepted, joins) == (3, 3, 3, [3, 3])


@pytest.mark.parametrize("cause", ["unsaved video", "failed join"])
async def test_a_storyboard_stopped_by_a_shot_retry_takes_says_retry_shot_in_its_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cause: str
) -> None:
    if cause == "failed join":
        _join_failing_once(monkeypatch)
    async with served(tmp_path) as (client, sim, _):
        if cause == "unsaved video":
            sim.faults.add("download", "expired", count=100)
        started = await client.call_tool("generate_storyboard", storyboard())
        sid = content(started)["task_id"]
        failed = await ended(client, sid)
    assert failed["status"] == "failed", failed
    assert f"generate_storyboard(storyboard_id='{sid}', retry_shot=" in failed["next_step"], failed["next_step"]


async def test_fetch_video_gives_a_storyboards_joined_video_and_cancel_task_says_what_to_cancel(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, sim, _):
        started = await client.call_tool("generate_storyboard", {"shots": SHOTS[:2], **SHARED, "wait_seconds": 0})
        board_id = content(started)["task_id"]
        await ended(client, board_id)
        fetched = await client.call_tool("fetch_video", {"task_id": board_id})
        canceled = await client.call_tool("cancel_task", {"task_id": board_id})
    assert not fetched.is_error, text_of(fetched)
    assert content(fetched)["video"]["uri"] == f"wan-video://storyboards/{board_id}.mp4"
    assert (canceled.is_error, content(canceled).get("field")) == (True, "task_id")
    assert "its shots" in text_of(canceled)
