"""A storyboard's retry, repeats and the rules fixed after review 4 of issue 12, through the real server in memory
(the SDK's client) against the simulator on 127.0.0.1 (the store and the clip cutter on their own where that is
plainer):

- a retry pays only for what failed: the failed shots (all of them, in one retry) and a finished shot whose URL
  expired before its video was saved, never a finished shot whose video can still be saved;
- a retry's dry run pays nothing and leaves the storyboard as it was;
- the same generate_storyboard call (or idempotency_key) twice is one storyboard, paid once;
- a storyboard is run only by a server of the endpoint it was made on;
- malformed shot fields are refused naming them (or, null, taken as absent), not an internal error;
- a joined video deleted from disk is joined again by a retry, paying nothing;
- a first shot longer than first_clip's 10 s is cut to 10 s before the next clip shot continues it;
- completion offers the storyboards' ids for the storyboard resource templates.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.simulated import served
from tests.stdio_server import text_of
from tests.test_storyboard_rules import clip_bytes, seconds_of
from tests.test_storyboards import (
    LONG_RUN,
    SHARED,
    SHOTS,
    _failed_shot,
    board,
    content,
    ended,
    every_shot_submitted,
    remote_id,
    sim_tasks,
    storyboard,
)
from wan_video_mcp.server.app import endpoint_of
from wan_video_mcp.server.jobs.shot_media import clip_of
from wan_video_mcp.server.store import TaskStore

pytestmark = pytest.mark.anyio

TAG = "p_000000000000"  # the process named in a cut's temporary file


def retry_shot_of(next_step: str) -> int:
    """The shot a failed storyboard's next_step says to retry."""
    found = re.search(r"retry_shot=(\d+)", next_step)
    assert found is not None, next_step
    return int(found.group(1))


async def retry(client: Any, storyboard_id: str, shot: int, **extra: Any) -> Any:
    arguments = {"storyboard_id": storyboard_id, "retry_shot": shot, "wait_seconds": 0} | extra
    return await client.call_tool("generate_storyboard", arguments)


# ---------------------------------------------------------------------------------------------- 1-3. what a retry pays


@pytest.mark.parametrize(
    ("settings", "slow_downloads"),
    [({"auto_download": False}, False), ({}, True)],
    ids=["auto-download-off", "slow-auto-download"],
)
async def test_a_retry_makes_again_only_the_failed_shot_and_keeps_the_finished_ones(
    tmp_path: Path, settings: dict[str, Any], slow_downloads: bool
) -> None:
    """One shot failing while the others finish but are not saved yet: the retry next_step names makes only the
    failed shot again (4 submits in all), keeps the others' tasks, and a succeeded shot named is refused."""
    async with served(tmp_path, settings, run_seconds=LONG_RUN) as (client, sim, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
        first_ids = await every_shot_submitted(client, sid)
        if slow_downloads:  # each video (5.8 kB) takes about two seconds: the failure is seen before they are saved
            sim.faults.add("download", "slow", count=2, bytes_per_second=3000)
        sim.faults.fail_task(await remote_id(client, first_ids[2]))
        sim.advance(2 * LONG_RUN)  # shots 0 and 1 succeed, shot 2 fails
        failed = await ended(client, sid)
        named = retry_shot_of(failed["next_step"])

        not_failed = await retry(client, sid, 0)
        submits_before_retry = sim.stats.submits
        retried = await retry(client, sid, named)
        await sim_tasks(sim, 4)
        sim.advance(2 * LONG_RUN)
        done = await ended(client, sid)
    assert (failed["status"], [s["status"] for s in failed["shots"]]) == (
        "failed",
        ["succeeded", "succeeded", "failed"],
    ), failed
    assert (named, "shot(s) 2 again" in failed["next_step"]) == (2, True), failed["next_step"]
    assert (not_failed.is_error, content(not_failed).get("field")) == (True, "retry_shot"), text_of(not_failed)
    assert "shot 0 is succeeded: nothing to make again there; the retry makes shot(s) 2 again" in text_of(not_failed)
    assert (retried.is_error, content(retried).get("status")) == (False, "running"), text_of(retried)
    done_ids = [s["task_id"] for s in done["shots"]]
    assert {
        "status": done["status"],
        "shots": [s["status"] for s in done["shots"]],
        "kept": done_ids[:2] == first_ids[:2],
        "shot 2 is new": done_ids[2] != first_ids[2],
        "submits": (submits_before_retry, sim.stats.submits, sim.stats.submits_accepted),
    } == {
        "status": "succeeded",
        "shots": ["succeeded"] * 3,
        "kept": True,
        "shot 2 is new": True,
        "submits": (3, 4, 4),
    }, done


async def test_one_retry_makes_again_every_failed_shot(tmp_path: Path) -> None:
    """Two shots failing (continuity none) are both made again by one retry (3 + 2 submits) and the storyboard
    succeeds with the shot that finished kept."""
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
        first_ids = await every_shot_submitted(client, sid)
        sim.faults.fail_task(await remote_id(client, first_ids[0]))
        sim.faults.fail_task(await remote_id(client, first_ids[2]))
        sim.advance(2 * LONG_RUN)
        failed = await ended(client, sid)
        retried = await retry(client, sid, retry_shot_of(failed["next_step"]))
        await sim_tasks(sim, 5)
        sim.advance(2 * LONG_RUN)
        done = await ended(client, sid)
    assert [s["status"] for s in failed["shots"]] == ["failed", "succeeded", "failed"], failed
    assert "shot(s) 0, 2 again" in failed["next_step"], failed["next_step"]
    assert (retried.is_error, content(retried).get("status")) == (False, "running"), text_of(retried)
    done_ids = [s["task_id"] for s in done["shots"]]
    assert {
        "status": done["status"],
        "shots": [s["status"] for s in done["shots"]],
        "new": [done_ids[i] != first_ids[i] for i in range(3)],
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
    } == {
        "status": "succeeded",
        "shots": ["succeeded"] * 3,
        "new": [True, False, True],
        "submits": (5, 5),
    }, done


async def unsaved_with_an_expired_url(client: Any, sim: Any, settings: Any, expired: int) -> tuple[str, list[str]]:
    """A storyboard failed because no shot's video could be saved, then shot ``expired``'s remote URL expired (as
    another process would record it, on the same database file) while the others' can be downloaded again: its id
    and its shots' task ids."""
    sim.faults.add("download", "expired", count=100)  # every download answers 403 "Request has expired."
    sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
    failed = await ended(client, sid)
    assert (failed["status"], [s["status"] for s in failed["shots"]]) == ("failed", ["succeeded"] * 3), failed
    _failed_shot(failed["message"], "could not be saved")
    first_ids = [str(s["task_id"]) for s in failed["shots"]]
    store = TaskStore(settings.db_path)
    try:
        store.update_sync(first_ids[expired], time.time(), video_url_expires_at=time.time() - 60)
    finally:
        store.close()
    sim.faults.clear()
    return sid, first_ids


async def test_a_finished_shot_whose_url_expired_before_it_was_saved_is_made_again_by_the_retry(
    tmp_path: Path,
) -> None:
    """A finished shot whose video could not be saved and whose remote URL has since expired is made again by the
    retry (a new task, one more submit); the shots whose videos can still be downloaded are saved, not paid again."""
    async with served(tmp_path) as (client, sim, settings):
        sid, first_ids = await unsaved_with_an_expired_url(client, sim, settings, expired=1)
        not_lost = await retry(client, sid, 0)
        retried = await retry(client, sid, 1)
        await sim_tasks(sim, 4)
        done = await ended(client, sid)
    assert (not_lost.is_error, content(not_lost).get("field")) == (True, "retry_shot"), text_of(not_lost)
    assert "the retry makes shot(s) 1 again" in text_of(not_lost)
    assert (retried.is_error, content(retried).get("status")) == (False, "running"), text_of(retried)
    done_ids = [s["task_id"] for s in done["shots"]]
    assert {
        "status": done["status"],
        "new": [done_ids[i] != first_ids[i] for i in range(3)],
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
    } == {"status": "succeeded", "new": [False, True, False], "submits": (4, 4)}, done


async def test_before_a_retry_a_shot_whose_url_expired_is_shown_as_one_to_make_again_and_priced(
    tmp_path: Path,
) -> None:
    """Once a finished, unsaved shot's remote URL has expired, the failed storyboard's next_step and a retry's dry
    run name that shot as one to make again, with its price, rather than "nothing is paid again"."""
    async with served(tmp_path) as (client, sim, settings):
        sid, _ = await unsaved_with_an_expired_url(client, sim, settings, expired=1)
        shown = await board(client, sid)
        dry = await retry(client, sid, 1, dry_run=True)
    assert "retry_shot=1" in shown["next_step"] and "shot(s) 1 again" in shown["next_step"], shown["next_step"]
    assert (dry.is_error, content(dry).get("status")) == (False, "dry_run"), text_of(dry)
    assert "makes shot(s) 1 again, estimated at most $" in content(dry)["message"], content(dry)["message"]
    assert sim.stats.submits == 3


# ---------------------------------------------------------------------------------------------- 4. a retry's dry run


async def test_a_retry_dry_run_names_the_shots_and_price_and_submits_nothing(tmp_path: Path) -> None:
    """generate_storyboard(storyboard_id, retry_shot, dry_run=true) says which shots it would make again and at what
    price, submits nothing and leaves the storyboard failed (the real retry afterwards pays for one shot)."""
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
        first_ids = await every_shot_submitted(client, sid)
        sim.faults.fail_task(await remote_id(client, first_ids[1]))
        sim.advance(2 * LONG_RUN)
        await ended(client, sid)
        submits_before = sim.stats.submits
        dry = await retry(client, sid, 1, dry_run=True)
        after_dry = await board(client, sid)
        submits_after_dry = sim.stats.submits
        retried = await retry(client, sid, 1)
        await sim_tasks(sim, 4)
        sim.advance(2 * LONG_RUN)
        done = await ended(client, sid)
    shown = content(dry)
    price = re.search(r"makes shot\(s\) 1 again, estimated at most \$(\d+\.\d\d)", shown.get("message", ""))
    assert (dry.is_error, shown.get("status"), shown.get("task_id")) == (False, "dry_run", sid), text_of(dry)
    assert price is not None and float(price.group(1)) > 0, shown["message"]
    assert "Nothing was submitted" in shown["message"]
    assert f"generate_storyboard(storyboard_id='{sid}', retry_shot=1)" in shown["next_step"]
    assert (after_dry["status"], [s["task_id"] for s in after_dry["shots"]]) == ("failed", first_ids)
    assert (submits_before, submits_after_dry) == (3, 3)
    assert (retried.is_error, done["status"], sim.stats.submits) == (False, "succeeded", 4), done


# ---------------------------------------------------------------------------------------------- 5. repeats


async def test_the_same_storyboard_asked_twice_within_the_dedupe_window_is_made_once(tmp_path: Path) -> None:
    """The same generate_storyboard call twice (a client retrying after a lost answer) gives one storyboard, paid
    once (3 submits), the second answer marked attached."""
    async with served(tmp_path) as (client, sim, _):
        first = await client.call_tool("generate_storyboard", storyboard())
        second = await client.call_tool("generate_storyboard", storyboard())
        done = await ended(client, content(first)["task_id"])
    assert (first.is_error, content(first).get("attached")) == (False, None), text_of(first)
    assert (second.is_error, content(second).get("task_id")) == (False, content(first)["task_id"]), text_of(second)
    assert content(second).get("attached") == "duplicate", content(second)
    assert "nothing more was paid" in content(second)["message"]
    assert (done["status"], sim.stats.submits) == ("succeeded", 3)


async def test_an_idempotency_key_names_one_storyboard_and_refuses_other_shots(tmp_path: Path) -> None:
    """Without a dedupe window, the same idempotency_key gives the same storyboard, the key with other shots is
    refused naming idempotency_key (nothing submitted), and two calls without a key make two storyboards."""
    async with served(tmp_path, {"dedupe_window_seconds": 0}) as (client, sim, _):
        keyed = content(await client.call_tool("generate_storyboard", storyboard(idempotency_key="kite-1")))
        await ended(client, keyed["task_id"])
        other = await client.call_tool("generate_storyboard", storyboard(shots=SHOTS[:2], idempotency_key="kite-1"))
        submits_keyed = sim.stats.submits
        one = content(await client.call_tool("generate_storyboard", storyboard()))
        two = content(await client.call_tool("generate_storyboard", storyboard()))
        ends = [(await ended(client, s["task_id"]))["status"] for s in (one, two)]
        submits_unkeyed = sim.stats.submits
        again = await client.call_tool("generate_storyboard", storyboard(idempotency_key="kite-1"))
    assert (other.is_error, content(other).get("field")) == (True, "idempotency_key"), text_of(other)
    assert keyed["task_id"] in text_of(other)
    assert len({keyed["task_id"], one["task_id"], two["task_id"]}) == 3
    assert (submits_keyed, ends, submits_unkeyed) == (3, ["succeeded", "succeeded"], 9)
    assert (again.is_error, content(again).get("task_id")) == (False, keyed["task_id"]), text_of(again)
    assert content(again).get("attached") == "idempotency_key", content(again)
    assert sim.stats.submits == 9


# ---------------------------------------------------------------------------------------------- 6. endpoints


async def test_a_storyboard_is_claimed_only_by_a_server_of_its_own_endpoint(tmp_path: Path) -> None:
    """A storyboard made on one endpoint is not listed as open nor claimed for another endpoint sharing the data
    dir, once its process is gone; a server of its own endpoint does take it over."""
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, settings):
        sid = content(await client.call_tool("generate_storyboard", storyboard(continuity="last_frame")))["task_id"]
        await sim_tasks(sim, 1)
    # That process has gone (its runner gave the storyboard back); the store as two other processes see it.
    ours, other = endpoint_of(settings), "dashscope:http://127.0.0.1:9/api/v1"
    store = TaskStore(settings.db_path)
    try:
        record = store.get_storyboard_sync(sid)
        now = time.time()
        seen = {
            "recorded endpoint": record.endpoint if record else None,
            "open for the other": [r.id for r in store.open_storyboards_sync(other)],
            "claimed by the other": store.claim_storyboard_sync(sid, other, "other-process", now, now + 60),
            "open for its own": [r.id for r in store.open_storyboards_sync(ours)],
            "claimed by its own": store.claim_storyboard_sync(sid, ours, "own-process", now, now + 60),
        }
    finally:
        store.close()
    assert ours != other
    assert seen == {
        "recorded endpoint": ours,
        "open for the other": [],
        "claimed by the other": False,
        "open for its own": [sid],
        "claimed by its own": True,
    }


# ---------------------------------------------------------------------------------------------- 7. malformed shots


@pytest.mark.parametrize(
    ("continuity", "second", "field"),
    [
        ("last_frame", {"media": "x"}, "shots[1].media"),
        ("last_frame", {"media": 5}, "shots[1].media"),
        ("clip", {"media": "x"}, "shots[1].media"),
        ("none", {"media": {"type": "first_frame"}}, "shots[1].media"),
    ],
    ids=["last_frame-str", "last_frame-int", "clip-str", "none-dict"],
)
async def test_a_shots_media_that_is_not_a_list_is_refused_naming_it(
    tmp_path: Path, continuity: str, second: dict[str, Any], field: str
) -> None:
    """A shot's media that is not a list is refused as shots[i].media, in a dry run and for real, nothing
    submitted (not an internal error)."""
    shots = [{"prompt": "a kite", "duration": 2}, {"prompt": "it loops", "duration": 2, **second}]
    results = []
    async with served(tmp_path) as (client, sim, _):
        for dry_run in (True, False):
            arguments = {"shots": shots, "continuity": continuity, **SHARED, "dry_run": dry_run, "wait_seconds": 0}
            results.append(await client.call_tool("generate_storyboard", arguments))
    assert [(r.is_error, content(r).get("error_code"), content(r).get("field")) for r in results] == [
        (True, "invalid_request", field)
    ] * 2, text_of(results[0])
    assert "list" in text_of(results[0]), text_of(results[0])
    assert sim.stats.submits == 0


@pytest.mark.parametrize(
    ("continuity", "second", "listed"),
    [
        ("last_frame", {"duration": 2, "media": None}, "shot 1: wan2.7-i2v 720P 2s"),
        ("clip", {"duration": 2, "media": None}, "shot 1: wan2.7-i2v 720P 4s"),
        # A null duration is an absent one: the default 5 s, so the running total is 2 + 5.
        ("clip", {"duration": None}, "shot 1: wan2.7-i2v 720P 7s"),
    ],
    ids=["last_frame-null-media", "clip-null-media", "clip-null-duration"],
)
async def test_a_null_shot_field_is_taken_as_absent(
    tmp_path: Path, continuity: str, second: dict[str, Any], listed: str
) -> None:
    """A shot field sent as null (media, or a clip shot's duration) is the field left out: the dry run is valid and
    lists the shot as without it, nothing submitted."""
    shots = [{"prompt": "a kite", "duration": 2}, {"prompt": "it loops", **second}]
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard", {"shots": shots, "continuity": continuity, **SHARED, "dry_run": True}
        )
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert listed in content(result)["message"], content(result)["message"]
    assert sim.stats.submits == 0


# ---------------------------------------------------------------------------------------------- 8. a deleted join


async def test_a_joined_video_deleted_from_disk_is_joined_again_by_a_retry_paying_nothing(tmp_path: Path) -> None:
    """Once a succeeded storyboard's MP4 is deleted, its resource says to retry (not a crash), check_task offers no
    video and says retry_shot=0, and that retry joins the saved shots again with no submit."""
    async with served(tmp_path) as (client, sim, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
        done = await ended(client, sid)
        os.remove(done["video"]["path"])
        uri = f"wan-video://storyboards/{sid}.mp4"
        with pytest.raises(MCPError) as caught:
            await client.read_resource(uri)
        gone = await board(client, sid)
        submits_before = sim.stats.submits
        retried = await retry(client, sid, retry_shot_of(gone["next_step"]))
        again = await ended(client, sid)
        read = await client.read_resource(uri)
    [video] = read.contents
    data = base64.b64decode(getattr(video, "blob", ""))
    assert "retry_shot=0" in caught.value.error.message, caught.value.error.message
    assert "missing from disk" in caught.value.error.message
    assert (gone["status"], gone.get("video")) == ("succeeded", None), gone
    assert "missing from disk" in gone["message"]
    assert f"generate_storyboard(storyboard_id='{sid}', retry_shot=0)" in gone["next_step"], gone["next_step"]
    assert (retried.is_error, again["status"]) == (False, "succeeded"), text_of(retried)
    assert [s["task_id"] for s in again["shots"]] == [s["task_id"] for s in done["shots"]]
    assert (submits_before, sim.stats.submits) == (3, 3)
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (again["video"]["sha256"], again["video"]["size_bytes"])


# ---------------------------------------------------------------------------------------------- 9. clip trimming


def test_trim_clip_cuts_a_video_to_the_seconds_asked(tmp_path: Path) -> None:
    """trim_clip of a 10.3 s MP4 to 10 s writes an MP4 of 10.0 s (within 0.05 s)."""
    from wan_video_mcp.server.media.join import trim_clip

    source = tmp_path / "long.mp4"
    source.write_bytes(clip_bytes(103, 10))
    out = tmp_path / "cut.mp4"
    trim_clip(source, 10, out)
    assert seconds_of(source.read_bytes()) == pytest.approx(10.3, abs=0.001)
    assert seconds_of(out.read_bytes()) == pytest.approx(10.0, abs=0.05)


async def test_the_first_clip_of_a_video_past_ten_seconds_is_its_first_ten_seconds(tmp_path: Path) -> None:
    """shot_media.clip_of gives a video within first_clip's 10 s (and its tolerance) as its resource, and one
    longer as a local MP4 of its first 10 s beside it."""
    short, long = tmp_path / "wan_short.mp4", tmp_path / "wan_long.mp4"
    short.write_bytes(clip_bytes(80, 8))  # 10.0 s
    long.write_bytes(clip_bytes(103, 10))  # 10.3 s
    as_is = await clip_of("wan_short", short, TAG)
    cut = await clip_of("wan_long", long, TAG)
    assert as_is == "wan-video://videos/wan_short.mp4"
    assert Path(cut).parent == tmp_path and Path(cut) != long, cut
    assert seconds_of(Path(cut).read_bytes()) == pytest.approx(10.0, abs=0.05)


async def test_a_clip_storyboard_continues_a_first_shot_past_ten_seconds_from_its_first_ten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With clip continuity, a first shot rendered a frame longer than its 10 s is sent to the next shot as a
    first_clip of 10 s (cut), and the storyboard succeeds."""
    import wan_video_mcp.server.simulator.rendering as rendering

    real = rendering._Painter.__init__

    def one_frame_more(self: Any, job: Any, *args: Any, **kwargs: Any) -> None:  # 81 frames at 8 fps: 10.125 s
        real(self, job, *args, **kwargs)
        self.frames += 1

    monkeypatch.setattr(rendering._Painter, "__init__", one_frame_more)
    shots = [{"prompt": "a red kite rises", "duration": 10}, {"prompt": "it lands", "duration": 2}]
    # The real renderer: the fallback clip is too small (160x90) to be a first_clip.
    async with served(tmp_path, renderer="auto") as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard", {"shots": shots, "continuity": "clip", **SHARED, "wait_seconds": 0}
        )
        done = await ended(client, content(result)["task_id"])
        second = sim.task(await remote_id(client, done["shots"][1]["task_id"]))
        first = await client.call_tool("check_task", {"task_id": done["shots"][0]["task_id"]})
    assert (done["status"], [s["status"] for s in done["shots"]]) == ("succeeded", ["succeeded"] * 2), done
    assert seconds_of(Path(content(first)["video"]["path"]).read_bytes()) == pytest.approx(10.125, abs=0.01)
    assert second is not None and second.media is not None
    assert [i.role for i in second.plan.inputs] == ["first_clip"]
    clip = second.media.probes[0].seconds
    assert clip is not None and clip == pytest.approx(10.0, abs=0.05), clip
    assert sim.stats.submits == 2


# ---------------------------------------------------------------------------------------------- 10. completion


async def test_completion_offers_the_storyboards_ids_for_its_resource_templates(tmp_path: Path) -> None:
    """completion/complete for both storyboard resource templates' storyboard_id offers the storyboards' ids."""
    async with served(tmp_path) as (client, _, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard(dry_run=False)))["task_id"]
        offered = {}
        for uri in ("wan-video://storyboards/{storyboard_id}", "wan-video://storyboards/{storyboard_id}.mp4"):
            ref = types.ResourceTemplateReference(type="ref/resource", uri=uri)
            offered[uri] = (await client.complete(ref, {"name": "storyboard_id", "value": "sb_"})).completion.values
        task = await client.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="wan-video://storyboards/{storyboard_id}"),
            {"name": "storyboard_id", "value": "wan_"},
        )
        await ended(client, sid)
    assert offered == dict.fromkeys(offered, [sid])
    assert task.completion.values == []  # shots' task ids are not storyboards


# ---------------------------------------------------------------------------------------------- after review 5


async def test_without_pyav_a_clip_past_ten_seconds_goes_as_it_is_rather_than_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without PyAV cannot cut a clip: clip_of sends the earlier video as it is (the submit's own check
    decides), instead of stopping the storyboard after its first shot was paid."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    long = tmp_path / "wan_long.mp4"
    long.write_bytes(clip_bytes(103, 10))  # 10.3 s
    assert await clip_of("wan_long", long, TAG) == "wan-video://videos/wan_long.mp4"
    assert [p.name for p in tmp_path.iterdir()] == ["wan_long.mp4"]


async def test_a_video_that_cannot_be_saved_here_refuses_the_retry_instead_of_paying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download failing for a local reason (a read-only disk) is not a lost video: the retry says why and makes
    nothing again; once the disk is writable, the retry saves the videos, paying nothing more."""
    import errno

    from wan_video_mcp.server.jobs import downloads
    from wan_video_mcp.server.jobs.downloads.failures import disk_failure

    readonly = {"on": True}
    real = downloads.download

    async def download(client: Any, url: str, dest: Path, **options: Any) -> Any:
        if readonly["on"]:
            raise disk_failure(OSError(errno.EROFS, "Read-only file system"), dest)
        return await real(client, url, dest, **options)

    monkeypatch.setattr(downloads, "download", download)
    async with served(tmp_path) as (client, sim, _):
        sid = content(await client.call_tool("generate_storyboard", storyboard()))["task_id"]
        failed = await ended(client, sid)
        refused = await retry(client, sid, 0)
        still = await board(client, sid)
        readonly["on"] = False
        again = await retry(client, sid, 0)
        done = await ended(client, sid)
    assert (failed["status"], "could not be saved" in failed["message"]) == ("failed", True), failed
    assert "pays nothing" in failed["next_step"] and "downloaded first" in failed["next_step"], failed["next_step"]
    assert refused.is_error and "Read-only file system" in text_of(refused), text_of(refused)
    assert "Nothing was made again" in text_of(refused)
    assert still["status"] == "failed"
    assert (again.is_error, done["status"], sim.stats.submits) == (False, "succeeded", 3), done


async def test_a_retry_prices_the_shots_never_submitted_that_it_submits(tmp_path: Path) -> None:
    """Shot 0's submit refused for good (an account quota) in a last_frame storyboard: the next step and the dry
    run name shot 0 made again and shots 1 and 2 submitted, priced together; the retry pays those three."""
    async with served(tmp_path, renderer="auto") as (client, sim, _):  # (frames big enough to start shots from)
        sim.faults.add("submit", "429", code="Throttling.AllocationQuota", message="Allocated quota exceeded.")
        sid = content(await client.call_tool("generate_storyboard", storyboard(continuity="last_frame")))["task_id"]
        failed = await ended(client, sid)
        sim.faults.clear()
        dry = content(await retry(client, sid, 0, dry_run=True))
        accepted_before = sim.stats.submits_accepted
        await retry(client, sid, 0)
        done = await ended(client, sid)
    price = re.search(r"estimated at most \$(\d+\.\d\d)", dry["message"])
    assert [s["status"] for s in failed["shots"]] == ["failed", "waiting", "waiting"], failed
    assert "makes shot(s) 0 again and submits shot(s) 1, 2" in failed["next_step"], failed["next_step"]
    assert "makes shot(s) 0 again and submits shot(s) 1, 2" in dry["message"], dry["message"]
    assert price is not None and float(price.group(1)) > 0.3, dry["message"]  # three shots' worth, not one's
    assert (done["status"], accepted_before, sim.stats.submits_accepted) == ("succeeded", 0, 3), done


async def test_force_new_makes_a_second_storyboard_of_the_same_shots(tmp_path: Path) -> None:
    """Within the dedupe window, force_new makes the same shots again as a new storyboard (a second take)."""
    async with served(tmp_path) as (client, sim, _):
        first = content(await client.call_tool("generate_storyboard", storyboard()))
        second = content(await client.call_tool("generate_storyboard", storyboard(force_new=True)))
        await ended(client, first["task_id"])
        await ended(client, second["task_id"])
    assert first["task_id"] != second["task_id"] and second.get("attached") is None, second
    assert sim.stats.submits == 6


def test_a_join_writes_a_part_file_named_for_its_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The join's temporary file is a part file tagged with the process writing it, so a starting process sweeps
    it away only when that process is gone."""
    from wan_video_mcp.server.jobs.downloads import part_owner
    from wan_video_mcp.server.media import join

    seen: list[Path] = []
    real = join._write

    def spying(clips: Any, temp: Path, *, copy: bool) -> None:
        seen.append(temp)
        real(clips, temp, copy=copy)

    one = tmp_path / "one.mp4"
    one.write_bytes(clip_bytes(16, 8))
    monkeypatch.setattr(join, "_write", spying)
    join.join_clips([one, one], tmp_path / "sb.mp4", "p_0123456789ab")
    assert len(seen) == 1 and seen[0].suffix == ".part" and part_owner(seen[0]) == "p_0123456789ab", seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "sb.mp4"]
