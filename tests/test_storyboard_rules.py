"""The storyboard and extend_video rules fixed after the review of issue 12, through the real server in memory (the
SDK's client) against the simulator on 127.0.0.1, and the store's single-shot write on its own:

- clip continuity refuses a shot's duration that is not whole seconds, and running totals past what wan2.7-i2v takes;
  a legacy first shot's ``size`` becomes the later shots' tier;
- last_frame continuity on a legacy model given a ``size`` makes its later shots in the tier of that size;
- identical shots are separate tasks, each submitted and paid once;
- extend_video's continuation length allows 0.25 s of slack, auto falls back to last_frame for a clip just outside
  first_clip's 2-10 s, and a last_frame duration the model lacks is refused;
- list_tasks shows storyboards and marks their shots;
- ``TaskStore.set_shots_sync`` writes one shot without losing another process's write, and only in the state expected;
- check_task's billed text for a continuation (its output holds the clip it continues).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import jsonschema
import pytest
from mcp import Client

from tests.simulated import served
from tests.stdio_server import text_of
from tests.test_storyboards import LONG_RUN, SHARED, content, ended, every_shot_submitted
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.store import StoryboardRecord, TaskStore, new_storyboard_id

pytestmark = pytest.mark.anyio


def shots_of(*durations: Any, prompt: str = "shot") -> list[dict[str, Any]]:
    return [{"prompt": f"{prompt} {i}", "duration": d} for i, d in enumerate(durations)]


async def task(client: Client, task_id: str) -> dict[str, Any]:
    result = await client.call_tool("check_task", {"task_id": task_id})
    assert not result.is_error, text_of(result)
    return content(result)


# ---------------------------------------------------------------------------------------------- a source of a length


@functools.cache
def clip_bytes(frames: int, fps: int) -> bytes:
    """A silent 1280x720 H.264 MP4 of ``frames`` frames at ``fps`` (5.04 s: 126 at 25)."""
    width, height = 1280, 720
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        rgb = av.VideoFrame(width, height, "rgb24")
        rgb.planes[0].update(bytes((30, 40, 210)) * (width * height))
        frame = rgb.reformat(format="yuv420p")
        for i in range(frames):
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def seconds_of(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


async def wan27_source(client: Client, settings: Settings, frames: int, fps: int) -> str:
    """A finished wan2.7-t2v 720P task whose saved video is ``frames`` frames at ``fps`` (as a provider's video
    measured a little long, its audio padded, would be): the file is swapped and its record told the new size."""
    made = await client.call_tool(
        "generate_video",
        {"prompt": "a kite over the dunes", **SHARED, "duration": 5, "wait_seconds": 30},
    )
    shown = content(made)
    assert shown.get("download_status") == "downloaded", text_of(made)
    data = clip_bytes(frames, fps)
    Path(shown["video"]["path"]).write_bytes(data)
    store = TaskStore(settings.db_path)  # the same database file, as another process would open it
    try:
        store.update_sync(shown["task_id"], time.time(), file_size=len(data), sha256=hashlib.sha256(data).hexdigest())
    finally:
        store.close()
    return str(shown["task_id"])


# ---------------------------------------------------------------------------------------------- 1. clip durations


@pytest.mark.parametrize("index", [0, 2])
@pytest.mark.parametrize("duration", [2.5, -1, 0], ids=["non-whole", "minus-one", "zero"])
async def test_a_clip_shot_whose_duration_is_not_whole_seconds_is_refused_naming_it(
    tmp_path: Path, index: int, duration: Any
) -> None:
    """With clip continuity every shot adds whole seconds (1 or more): 2.5, -1 (auto) and 0 are refused as
    ``shots[i].duration`` before anything is submitted."""
    shots = shots_of(2, 2, 2)
    shots[index]["duration"] = duration
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard", {"shots": shots, "continuity": "clip", **SHARED, "wait_seconds": 0}
        )
    refused = content(result)
    assert result.is_error, text_of(result)
    assert (refused.get("field"), [p["field"] for p in refused.get("problems", [])]) == (
        f"shots[{index}].duration",
        [f"shots[{index}].duration"],
    )
    assert "whole seconds" in refused["message"] and f"not {duration!r}" in refused["message"]
    assert (sim.stats.submits, len(sim.uploads)) == (0, 0)


async def test_clip_shots_of_whole_seconds_from_one_up_are_valid_and_each_is_its_running_total(
    tmp_path: Path,
) -> None:
    """A shot may add a single second; each later shot is made as wan2.7-i2v of the running total."""
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard",
            {"shots": shots_of(2, 1, 3), "continuity": "clip", **SHARED, "dry_run": True},
        )
    message = content(result).get("message", "")
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert "shot 1: wan2.7-i2v 720P 3s" in message and "shot 2: wan2.7-i2v 720P 6s" in message, message
    assert sim.stats.submits == 0


@pytest.mark.parametrize(
    ("durations", "field", "said"),
    [
        # 5 + 5 + 6: the last shot would be a 16 s wan2.7-i2v video (it makes at most 15).
        ((5, 5, 6), "shots[2].duration", "duration 16"),
        # 6 + 5 = 11 s would be the last shot's first_clip, which takes 2-10 s; the total (13 s) is fine.
        ((6, 5, 2), "shots", "add up to 11 s"),
    ],
    ids=["total-over-15", "clip-over-10"],
)
async def test_clip_running_totals_past_what_wan27_i2v_takes_are_refused_naming_the_field(
    tmp_path: Path, durations: tuple[int, ...], field: str, said: str
) -> None:
    """A running total above 15 s is refused on the shot it lands on; an earlier clip above 10 s on ``shots``."""
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard",
            {"shots": shots_of(*durations), "continuity": "clip", **SHARED, "wait_seconds": 0},
        )
    refused = content(result)
    assert (result.is_error, refused.get("field"), [p["field"] for p in refused.get("problems", [])]) == (
        True,
        field,
        [field],
    ), text_of(result)
    assert said in refused["message"], refused["message"]
    assert (sim.stats.submits, len(sim.uploads)) == (0, 0)


async def test_clip_continuity_from_a_legacy_model_given_a_size_continues_in_that_sizes_tier(tmp_path: Path) -> None:
    """Clip continuity from a legacy first shot with a ``size`` (wan2.6-t2v 1280*720): the later wan2.7-i2v shots
    are built by the server, so the size becomes their tier (as last_frame continuity does), not a refusal."""
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard",
            {
                "shots": shots_of(5, 2),
                "continuity": "clip",
                "model": "wan2.6-t2v",
                "size": "1280*720",
                "dry_run": True,
            },
        )
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert "shot 1: wan2.7-i2v 720P 7s" in content(result)["message"]
    assert sim.stats.submits == 0


# ---------------------------------------------------------------------------------------------- 2. size to tier


@pytest.mark.parametrize(
    ("model", "size", "duration", "listed"),
    [
        ("wan2.6-t2v", "1280*720", 2, ["shot 0: wan2.6-t2v 1280*720 2s", "shot 1: wan2.6-i2v 720P 2s"]),
        ("wan2.6-t2v", "720*1280", 2, ["shot 0: wan2.6-t2v 720*1280 2s", "shot 1: wan2.6-i2v 720P 2s"]),
        (
            "wan2.5-t2v-preview",
            "832*480",
            5,
            ["shot 0: wan2.5-t2v-preview 832*480 5s", "shot 1: wan2.5-i2v-preview 480P 5s"],
        ),
    ],
)
async def test_last_frame_shots_after_a_legacy_sized_first_shot_are_planned_in_its_tier(
    tmp_path: Path, model: str, size: str, duration: int, listed: list[str]
) -> None:
    """The dry run of last_frame continuity on a legacy model given a size lists the later (i2v) shots in the tier
    of that size, not the frame model's default 1080P."""
    async with served(tmp_path) as (client, sim, _):
        result = await client.call_tool(
            "generate_storyboard",
            {
                "shots": shots_of(duration, duration),
                "continuity": "last_frame",
                "model": model,
                "size": size,
                "dry_run": True,
            },
        )
    message = content(result).get("message", "")
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert [line in message for line in listed] == [True, True], message
    assert sim.stats.submits == 0


async def test_last_frame_shots_after_a_legacy_sized_first_shot_are_submitted_in_its_tier(tmp_path: Path) -> None:
    """Made for real: every shot of a wan2.6-t2v 1280*720 last_frame storyboard reaches the provider at 720P (the
    later ones on wan2.6-i2v with resolution 720P), as the store records them and the simulator received them."""
    # The real renderer: the fallback clip is too small (160x90) to start an image-to-video shot from.
    async with served(tmp_path, renderer="auto") as (client, sim, _):
        started = await client.call_tool(
            "generate_storyboard",
            {
                "shots": shots_of(2, 2, prompt="a kite"),
                "continuity": "last_frame",
                "model": "wan2.6-t2v",
                "size": "1280*720",
                "wait_seconds": 0,
            },
        )
        assert not started.is_error, text_of(started)
        done = await ended(client, content(started)["task_id"])
        shots = [await task(client, s["task_id"]) for s in done["shots"]]
    received = [sim.task(s["remote_task_id"]) for s in shots]
    assert done["status"] == "succeeded", done["message"]
    assert [(s["model"], s["request"].get("resolution"), s["request"].get("size")) for s in shots] == [
        ("wan2.6-t2v", None, "1280*720"),
        ("wan2.6-i2v", "720P", None),
    ]
    assert [(r.plan.model_name, r.plan.tier) if r else None for r in received] == [
        ("wan2.6-t2v", "720P"),
        ("wan2.6-i2v", "720P"),
    ]
    assert (sim.stats.submits, sim.stats.submits_accepted) == (2, 2)


# ---------------------------------------------------------------------------------------------- 3. identical shots


async def test_identical_shots_are_separate_tasks_each_submitted_once(tmp_path: Path) -> None:
    """Three identical shots (continuity none), after a plain task with the very same arguments: none attaches to
    another or to the earlier task; 3 more submits, 3 distinct tasks at the provider."""
    shot = {"prompt": "a red kite rises over the dunes", "duration": 2}
    async with served(tmp_path) as (client, sim, _):
        earlier = await client.call_tool("generate_video", {**shot, **SHARED, "wait_seconds": 30})
        assert content(earlier).get("status") == "succeeded", text_of(earlier)
        started = await client.call_tool(
            "generate_storyboard", {"shots": [shot, shot, shot], **SHARED, "wait_seconds": 0}
        )
        done = await ended(client, content(started)["task_id"])
        shots = [await task(client, s["task_id"]) for s in done["shots"]]
    ids = [s["task_id"] for s in shots]
    remotes = [s["remote_task_id"] for s in shots]
    assert done["status"] == "succeeded", done["message"]
    assert {
        "distinct tasks": len(set(ids)),
        "distinct remote tasks": len(set(remotes)),
        "the earlier task among them": content(earlier)["task_id"] in ids,
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
    } == {
        "distinct tasks": 3,
        "distinct remote tasks": 3,
        "the earlier task among them": False,
        "submits": (4, 4),
    }


# ---------------------------------------------------------------------------------------------- 4. extend_video


@pytest.mark.parametrize(
    ("frames", "fps", "added", "total"),
    [
        (125, 25, 5, 10),  # 5.00 s
        (126, 25, 5, 10),  # 5.04 s: within the slack, not a second more
        (41, 8, 10, 15),  # 5.125 s + 10: still fits wan2.7-i2v's 15 s, so still a continuation
        (132, 25, 5, 11),  # 5.28 s: past the slack, the output needs the eleventh second
    ],
    ids=["5.00s", "5.04s", "5.125s+10", "5.28s"],
)
async def test_extending_by_clip_asks_for_the_whole_seconds_the_clip_and_extension_need_with_a_quarter_second_slack(
    tmp_path: Path, frames: int, fps: int, added: int, total: int
) -> None:
    """A continuation's duration is ceil(source seconds + added - 0.25): a clip measured a little long costs no
    extra second, one longer by more than the slack does."""
    assert seconds_of(clip_bytes(frames, fps)) == pytest.approx(frames / fps, abs=0.001)  # the source as meant
    async with served(tmp_path) as (client, sim, settings):
        source = await wan27_source(client, settings, frames, fps)
        result = await client.call_tool(
            "extend_video", {"task_id": source, "prompt": "the kite flies on", "duration": added, "dry_run": True}
        )
    shown = content(result)
    assert (result.is_error, shown.get("status"), shown.get("method")) == (False, "dry_run", "clip"), text_of(result)
    assert (shown["request"]["model"], shown["request"]["duration"]) == ("wan2.7-i2v", total)
    assert f"billed as one {total} s video" in shown["message"], shown["message"]
    assert (sim.stats.submits, len(sim.uploads)) == (1, 0)


async def test_auto_extending_a_clip_just_past_ten_seconds_is_not_refused(tmp_path: Path) -> None:
    """A wan2.7 video measured 10.125 s (within extend_video's 0.25 s slack over first_clip's 10 s) extended with
    the default method: a valid continuation, by clip or from its last frame, not a refusal."""
    async with served(tmp_path) as (client, sim, settings):
        source = await wan27_source(client, settings, frames=81, fps=8)
        result = await client.call_tool(
            "extend_video", {"task_id": source, "prompt": "the kite flies on", "duration": 3, "dry_run": True}
        )
    assert (result.is_error, content(result).get("status")) == (False, "dry_run"), text_of(result)
    assert sim.stats.submits == 1


@pytest.mark.parametrize(
    ("source", "added", "allowed"),
    [
        ({"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}, 7, "wan2.5-i2v-preview makes 5, 10 s"),
        ({"model": "wan2.2-t2v-plus", "size": "832*480", "duration": 5}, 3, "wan2.2-i2v-plus makes 5 s"),
    ],
    ids=["wan2.5", "wan2.2"],
)
async def test_extending_from_the_last_frame_by_a_duration_the_model_lacks_is_refused_listing_the_allowed(
    tmp_path: Path, source: dict[str, Any], added: int, allowed: str
) -> None:
    """A last_frame extension on a model that does not make the asked duration is refused naming ``duration`` and
    the durations it does make; nothing is submitted or uploaded."""
    async with served(tmp_path) as (client, sim, _):
        made = await client.call_tool("generate_video", {"prompt": "a kite", "wait_seconds": 30, **source})
        assert content(made).get("download_status") == "downloaded", text_of(made)
        result = await client.call_tool(
            "extend_video",
            {"task_id": content(made)["task_id"], "prompt": "on", "method": "last_frame", "duration": added},
        )
    refused = content(result)
    assert (result.is_error, refused.get("field")) == (True, "duration"), text_of(result)
    assert f"{allowed} from a first frame, not {added}" in refused["message"], refused["message"]
    assert "nothing was submitted" in text_of(result)
    assert (sim.stats.submits, len(sim.uploads)) == (1, 0)


# ---------------------------------------------------------------------------------------------- 5. list_tasks


async def test_list_tasks_shows_storyboards_marks_their_shots_and_filters_them_by_status(tmp_path: Path) -> None:
    """list_tasks lists storyboards (id, status, continuity, shot count) beside the tasks, marks each shot with its
    storyboard, and its status filter applies to both: 'open' a running storyboard, 'succeeded' a finished one. Each
    result validates against the tool's outputSchema."""
    two = shots_of(2, 2, prompt="a kite")
    async with served(tmp_path, run_seconds=LONG_RUN) as (client, sim, _):
        schema = next(t for t in (await client.list_tools()).tools if t.name == "list_tasks").output_schema
        assert schema is not None
        finished = content(await client.call_tool("generate_storyboard", {"shots": two, **SHARED, "wait_seconds": 0}))
        finished_shots = await every_shot_submitted(client, finished["task_id"])
        plain = content(await client.call_tool("generate_video", {"prompt": "alone", "duration": 2, "wait_seconds": 0}))
        sim.advance(2 * LONG_RUN)
        assert (await ended(client, finished["task_id"]))["status"] == "succeeded"
        assert (await task(client, plain["task_id"]))["status"] == "succeeded"
        running = content(
            await client.call_tool(
                "generate_storyboard",
                {"shots": shots_of(2, 2, prompt="a boat"), "continuity": "none", **SHARED, "wait_seconds": 0},
            )
        )
        running_shots = await every_shot_submitted(client, running["task_id"])
        listed, texts = {}, {}
        for name, arguments in {"all": {}, "open": {"status": "open"}, "succeeded": {"status": "succeeded"}}.items():
            result = await client.call_tool("list_tasks", arguments)
            assert not result.is_error, text_of(result)
            jsonschema.validate(content(result), schema)
            listed[name], texts[name] = content(result), text_of(result)

    def boards(shown: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        return {
            b["storyboard_id"]: (b["status"], b["continuity"], b["shot_count"]) for b in shown.get("storyboards") or []
        }

    def marks(shown: dict[str, Any]) -> dict[str, str | None]:
        return {t["task_id"]: t.get("storyboard_id") for t in shown["tasks"]}

    sb_done, sb_open = finished["task_id"], running["task_id"]
    shots_done = dict.fromkeys(finished_shots, sb_done)
    shots_open = dict.fromkeys(running_shots, sb_open)
    assert {name: (boards(shown), marks(shown)) for name, shown in listed.items()} == {
        "all": (
            {sb_done: ("succeeded", "none", 2), sb_open: ("running", "none", 2)},
            shots_done | shots_open | {plain["task_id"]: None},
        ),
        "open": ({sb_open: ("running", "none", 2)}, shots_open),
        "succeeded": ({sb_done: ("succeeded", "none", 2)}, shots_done | {plain["task_id"]: None}),
    }
    finished_board = next(b for b in listed["all"]["storyboards"] if b["storyboard_id"] == sb_done)
    assert finished_board.get("video_uri") == f"wan-video://storyboards/{sb_done}.mp4"
    assert f"2 storyboard(s): {sb_open} running, {sb_done} succeeded" in texts["all"], texts["all"]


# ---------------------------------------------------------------------------------------------- 6. set_shots_sync


def _new_board(store: TaskStore, shots: int, state: str = "running") -> StoryboardRecord:
    now = time.time()
    record = StoryboardRecord(
        id=new_storyboard_id(),
        created_at=now,
        updated_at=now,
        request_json=json.dumps({"continuity": "none", "shared": {}, "shots": [{"prompt": "p"}] * shots}),
        state=state,
        shots_json=json.dumps([{"task_id": None, "attempt": 0} for _ in range(shots)]),
    )
    store.create_storyboard_sync(record, None)
    return record


def test_two_stores_writing_different_shots_of_one_storyboard_never_lose_each_others_write(tmp_path: Path) -> None:
    """Two TaskStore objects on one database file (two processes) each write their own shot at the same moment,
    round after round: after every round both writes are there."""
    path = tmp_path / "tasks.sqlite3"
    stores = [TaskStore(path), TaskStore(path)]
    reader = TaskStore(path)
    rounds = 60
    record = _new_board(reader, shots=2)
    start, finish = threading.Barrier(3, timeout=30), threading.Barrier(3, timeout=30)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        store = stores[index]
        for n in range(1, rounds + 1):
            start.wait()
            try:
                store.set_shots_sync(record.id, time.time(), {index: {"task_id": f"wan_{index}_{n}", "attempt": n}})
            except BaseException as exc:  # shown by the test, not lost in the thread
                errors.append(exc)
            finish.wait()

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    seen = []
    try:
        for _ in range(rounds):
            start.wait()
            finish.wait()
            got = reader.get_storyboard_sync(record.id)
            assert got is not None
            seen.append([(shot or {}).get("attempt") for shot in got.shots])
    finally:
        for thread in threads:
            thread.join(timeout=30)
        for store in (*stores, reader):
            store.close()
    assert errors == []
    assert seen == [[n, n] for n in range(1, rounds + 1)]


def test_a_shot_written_expecting_another_state_changes_nothing(tmp_path: Path) -> None:
    """``expect_state`` not the storyboard's: None, and the row (shots, state, error, updated_at) is as it was;
    expecting the state it has writes the shot and the other columns."""
    store = TaskStore(tmp_path / "tasks.sqlite3")
    try:
        record = _new_board(store, shots=2)
        before = store.get_storyboard_sync(record.id)
        refused = store.set_shots_sync(
            record.id, time.time() + 5, {1: {"task_id": "wan_x", "attempt": 1}}, expect_state="failed", error="new"
        )
        after_refusal = store.get_storyboard_sync(record.id)
        written = store.set_shots_sync(
            record.id, time.time() + 10, {1: {"task_id": "wan_y", "attempt": 1}}, expect_state="running", state="failed"
        )
    finally:
        store.close()
    assert (refused, after_refusal) == (None, before)
    assert written is not None
    assert (written.state, written.shots) == (
        "failed",
        [{"task_id": None, "attempt": 0}, {"task_id": "wan_y", "attempt": 1}],
    )


# ---------------------------------------------------------------------------------------------- 7. billed text


async def test_a_finished_continuation_says_its_whole_output_holds_the_clip_it_continues(tmp_path: Path) -> None:
    """A wan2.7-i2v first_clip continuation of a 5.04 s video by 5 s, made for real: the provider is asked for 10 s
    and bills 10 s, and check_task says those 10 s are the whole output, which holds the 5 s clip (not "5 s of input
    + 10 s generated", which does not add up to 10)."""
    async with served(tmp_path) as (client, sim, settings):
        source = await wan27_source(client, settings, frames=126, fps=25)
        extended = await client.call_tool(
            "extend_video", {"task_id": source, "prompt": "the kite flies on", "duration": 5, "wait_seconds": 30}
        )
        assert content(extended).get("status") == "succeeded", text_of(extended)
        checked = await task(client, content(extended)["task_id"])
    received = sim.task(checked["remote_task_id"])
    message = checked["message"]
    assert content(extended)["method"] == "clip"
    assert received is not None
    assert (received.plan.model_name, received.plan.duration, [i.role for i in received.plan.inputs]) == (
        "wan2.7-i2v",
        10,
        ["first_clip"],
    )
    assert checked["billed"]["billed_seconds"] == 10
    assert "The provider billed 10 s (the whole 10 s output, which holds the 5 s clip it continues)." in message
    assert "generated" not in message and "of input video" not in message, message
