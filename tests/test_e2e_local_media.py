"""Local files and earlier videos as inputs, end to end: the real server over stdio (MCP Python SDK client), the
TypeScript clients hosts embed, and the simulator on loopback serving DashScope's temporary upload.

A local PNG becomes the rendered video's first frame through one upload and one submit that carries the oss:// URL
(the simulator accepts an oss:// URL only with the resolve header, and only for the model it was uploaded for); a
finished video continues as a first_clip; every refused input costs nothing: no upload, no submit.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import av
import pytest
from mcp import Client

from tests.media_files import BLUE, RED, encoded_audio, mp4, png
from tests.simulated import sim_env, simulator
from tests.stdio_server import server_run, text_of
from tests.ts_clients import python_server, run_plan

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def pixel(path: Path, where: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int, int]:
    """The RGB at fractions of width and height of a video's first frame."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_rgb()
    x, y = int(frame.width * where[0]), int(frame.height * where[1])
    line = frame.planes[0].line_size
    r, g, b = bytes(frame.planes[0])[y * line + 3 * x : y * line + 3 * x + 3]
    return r, g, b


def seconds_of(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


async def video_of(client: Client, result: Any) -> dict[str, Any]:
    """The finished task of a generate_video result, with its video saved."""
    assert not result.is_error, text_of(result)
    task = result.structured_content
    with anyio.fail_after(60):
        while task.get("download_status") != "downloaded":
            await anyio.sleep(0.2)
            task = (await client.call_tool("fetch_video", {"task_id": task["task_id"]})).structured_content or {}
    return dict(task)


def stored_request(data_dir: Path, task_id: str) -> dict[str, Any]:
    with sqlite3.connect(data_dir / "tasks.sqlite3") as db:
        (text,) = db.execute("SELECT request_json FROM tasks WHERE id = ?", (task_id,)).fetchone()
    request: dict[str, Any] = json.loads(text)
    return request


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    """An allowed folder holding a.png (a 320x240 red PNG)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(png(320, 240, RED))
    return folder


def env_with_roots(sim: Any, *roots: Path) -> dict[str, str]:
    return sim_env(sim) | {"WAN_MEDIA_ROOTS": os.pathsep.join(str(root) for root in roots)}


# (model, how the file is named, the image, the arguments around it, the colour expected in the first frame)
FIRST_FRAME_CASES = {
    "wan2.7-i2v, a path": ("wan2.7-i2v", "path", RED, {"resolution": "720P", "duration": 2}),
    "wan2.7-i2v, a file:// URI": ("wan2.7-i2v", "uri", RED, {"resolution": "720P", "duration": 2}),
    # Legacy i2v images are 360-2000 px per side (wire-formats.md section 2).
    "wan2.5-i2v-preview (legacy), a path": ("wan2.5-i2v-preview", "path", BLUE, {"resolution": "480P"}),
}


@pytest.mark.parametrize("case", FIRST_FRAME_CASES)
async def test_a_local_png_is_uploaded_once_and_becomes_the_first_frame(tmp_path: Path, case: str) -> None:
    model, form, colour, extra = FIRST_FRAME_CASES[case]
    pictures = tmp_path / "My Pictures"  # a space in the path, as on real desktops
    pictures.mkdir()
    image = pictures / "start frame.png"
    image.write_bytes(png(480, 360, colour))
    value = str(image) if form == "path" else image.as_uri()
    arguments: dict[str, Any] = {"model": model, "prompt": "the card flies away", "wait_seconds": 60} | extra
    if model.startswith("wan2.7"):
        arguments["media"] = [{"type": "first_frame", "url": value}]
    else:
        arguments["img_url"] = value
    async with simulator(run_seconds=1.0) as sim:
        run = server_run(tmp_path, env_with_roots(sim, pictures))
        async with Client(run.params) as client:
            task = await video_of(client, await client.call_tool("generate_video", arguments))
        [sent] = [ref.url for sim_task in sim.tasks for ref in sim_task.plan.inputs]
        uploads = [(obj.model, obj.size) for obj in sim.uploads]
    r, g, b = pixel(Path(task["video"]["path"]))
    drawn = (r > 150 and g < 90 and b < 90) if colour == RED else (b > 150 and r < 90 and g < 90)
    source = stored_request(run.data_dir, task["task_id"])["sources"][0]
    assert {
        "uploads": uploads,
        "submits": (sim.stats.submits, sim.stats.submits_accepted),
        "sent": sent.startswith("oss://dashscope-instant/"),
        "first frame drawn from the PNG": drawn,
        "recorded with the task": (source["given"], source["path"], source["sent"]),
    } == {
        "uploads": [(model, image.stat().st_size)],
        "submits": (1, 1),
        "sent": True,
        "first frame drawn from the PNG": True,
        "recorded with the task": (value, str(image), sent),
    }, (r, g, b)


async def test_the_same_file_is_uploaded_once_across_requests_and_a_restart(tmp_path: Path, roots: Path) -> None:
    image = roots / "a.png"
    async with simulator(run_seconds=0.5) as sim:
        run = server_run(tmp_path, env_with_roots(sim, roots))
        for prompts in (["one", "two"], ["three"]):  # the second session is a restarted server on the same data
            async with Client(run.params) as client:
                for prompt in prompts:
                    result = await client.call_tool(
                        "generate_video",
                        {
                            "model": "wan2.7-i2v",
                            "prompt": prompt,
                            "media": [{"type": "first_frame", "url": str(image)}],
                            "wait_seconds": 0,
                        },
                    )
                    assert not result.is_error, text_of(result)
        assert (len(sim.uploads), sim.stats.submits_accepted) == (1, 3)


async def test_two_requests_at_once_with_the_same_file_upload_it_once(tmp_path: Path, roots: Path) -> None:
    image = roots / "a.png"
    async with simulator(run_seconds=0.5) as sim:
        run = server_run(tmp_path, env_with_roots(sim, roots))
        async with Client(run.params) as client:
            results: list[Any] = []

            async def one(prompt: str) -> None:
                media = [{"type": "first_frame", "url": image.as_uri()}]
                arguments = {"model": "wan2.7-i2v", "prompt": prompt, "media": media, "wait_seconds": 0}
                results.append(await client.call_tool("generate_video", arguments))

            async with anyio.create_task_group() as group:
                for prompt in ("left", "right", "up"):
                    group.start_soon(one, prompt)
        assert [r.is_error for r in results] == [False] * 3, [text_of(r) for r in results]
        assert (len(sim.uploads), sim.stats.submits_accepted) == (1, 3)


async def test_a_finished_video_continues_as_the_first_clip_of_a_wan27_i2v_task(tmp_path: Path) -> None:
    async with simulator(run_seconds=1.0) as sim:
        run = server_run(tmp_path, sim_env(sim))  # no WAN_MEDIA_ROOTS: the server's own videos are always readable
        async with Client(run.params) as client:
            first = await video_of(
                client,
                await client.call_tool(
                    "generate_video",
                    {
                        "model": "wan2.7-t2v",
                        "prompt": "a kite",
                        "resolution": "720P",
                        "duration": 2,
                        "wait_seconds": 60,
                    },
                ),
            )
            clip = f"wan-video://videos/{first['task_id']}.mp4"
            arguments = {
                "model": "wan2.7-i2v",
                "prompt": "the kite climbs",
                "media": [{"type": "first_clip", "url": clip}],
                "resolution": "720P",
                "duration": 4,
                "wait_seconds": 60,
            }
            priced = await client.call_tool("generate_video", arguments | {"dry_run": True})
            second = await video_of(client, await client.call_tool("generate_video", arguments))
        uploads = [(obj.model, obj.size) for obj in sim.uploads]
    first_size = Path(first["video"]["path"]).stat().st_size
    assert not priced.is_error, text_of(priced)
    assert {
        "dry run read it": clip in text_of(priced),
        "uploads": uploads,
        "submits": sim.stats.submits_accepted,
        "status": second["status"],
        "seconds": round(seconds_of(Path(second["video"]["path"]))),
    } == {
        "dry run read it": True,
        "uploads": [("wan2.7-i2v", first_size)],
        "submits": 2,
        "status": "succeeded",
        "seconds": 4,
    }


async def test_every_refused_local_input_costs_nothing_and_names_its_field(tmp_path: Path) -> None:
    roots, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    roots.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(png(320, 240, RED))
    (roots / "escape.png").symlink_to(elsewhere / "secret.png")
    os.mkfifo(roots / "pipe.png")
    with (roots / "huge.png").open("wb") as sparse:
        sparse.truncate(10 * 1024**3)  # 10 GB, no blocks on disk
    (roots / "notes.png").write_text("not an image")
    (roots / "tiny.png").write_bytes(png(128, 128, RED))
    (roots / "a.png").write_bytes(png(320, 240, RED))
    (roots / "voice.ogg").write_bytes(encoded_audio("libopus", "ogg", 48000, "s16"))

    def frame(url: str) -> dict[str, Any]:
        return {"model": "wan2.7-i2v", "media": [{"type": "first_frame", "url": url}]}

    cases: list[tuple[dict[str, Any], str, str]] = [
        (frame(str(elsewhere / "secret.png")), "media[0].url", "WAN_MEDIA_ROOTS"),
        (frame(f"{roots}/../elsewhere/secret.png"), "media[0].url", "outside the folders"),
        (frame(str(roots / "escape.png")), "media[0].url", "outside the folders"),
        (frame(str(roots / "pipe.png")), "media[0].url", "named pipe"),
        (frame(str(roots / "huge.png")), "media[0].url", "10240"),
        (frame(str(roots / "notes.png")), "media[0].url", "notes.png"),
        (frame(str(roots / "missing.png")), "media[0].url", "missing.png"),
        (frame("file://otherhost/in/a.png"), "media[0].url", "otherhost"),
        (frame("wan_0123456789abcdef0123"), "media[0].url", "no task"),
        (frame("wan-video://videos/wan_0123456789abcdef0123.mp4"), "media[0].url", "no task"),
        (
            {"model": "wan2.5-i2v-preview", "prompt": "p", "img_url": str(roots / "tiny.png")},
            "img_url",
            "360-2000 px",
        ),
        (
            {
                "model": "wan2.7-i2v",
                "media": [
                    {"type": "first_frame", "url": str(roots / "a.png")},
                    {"type": "driving_audio", "url": str(roots / "voice.ogg")},
                ],
            },
            "media[1].url",
            "wav/mp3",
        ),
    ]
    async with simulator() as sim:
        run = server_run(tmp_path, env_with_roots(sim, roots))
        async with Client(run.params) as client:
            with anyio.fail_after(120):  # a FIFO that blocked the server would hang here
                results = [await client.call_tool("generate_video", args | {"wait_seconds": 5}) for args, _, _ in cases]
            alive = await client.call_tool("list_tasks", {})
    for (args, field, said), result in zip(cases, results, strict=True):
        content = result.structured_content or {}
        assert (result.is_error, content.get("field"), said in text_of(result)) == (True, field, True), (
            args,
            text_of(result),
        )
    assert not alive.is_error
    assert (len(sim.uploads), sim.stats.policies, sim.stats.submits) == (0, 0, 0)


async def test_a_local_video_through_a_gateway_asks_for_a_url_and_an_image_goes_inline(tmp_path: Path) -> None:
    roots = tmp_path / "in"
    roots.mkdir()
    (roots / "a.png").write_bytes(png(480, 360, RED))
    (roots / "clip.mp4").write_bytes(mp4(3.0))
    async with simulator(run_seconds=0.5) as sim:
        env = {"WAN_PROVIDER": "newapi", "WAN_BASE_URL": sim.root_url, "WAN_API_KEY": "sk-test"}
        run = server_run(tmp_path, env | {"WAN_MEDIA_ROOTS": str(roots)})
        async with Client(run.params) as client:
            image = await client.call_tool(
                "generate_video",
                {"model": "wan2.5-i2v-preview", "prompt": "p", "img_url": str(roots / "a.png"), "wait_seconds": 0},
            )
            video = await client.call_tool(
                "generate_video",
                {
                    "model": "wan2.6-r2v",
                    "prompt": "character1 waves",
                    "reference_video_urls": [str(roots / "clip.mp4")],
                    "wait_seconds": 0,
                },
            )
            # reference_urls take no data: (their images and videos are URLs), so a local image cannot go inline.
            mixed = await client.call_tool(
                "generate_video",
                {
                    "model": "wan2.6-r2v-flash",
                    "prompt": "character1 waves",
                    "reference_urls": [str(roots / "a.png")],
                    "wait_seconds": 0,
                },
            )
        sent = [ref.url for task in sim.tasks for ref in task.plan.inputs]
    assert not image.is_error, text_of(image)
    assert [url[:22] for url in sent] == ["data:image/png;base64,"]
    assert (video.is_error, (video.structured_content or {}).get("field")) == (True, "reference_video_urls[0]")
    assert "public http(s) URL" in text_of(video)
    assert (mixed.is_error, (mixed.structured_content or {}).get("field")) == (True, "reference_urls[0]")
    assert (len(sim.uploads), sim.stats.submits_accepted) == (0, 1)


@pytest.mark.parametrize("client", ["v1", "v2"])
async def test_typescript_clients_get_a_local_video_and_a_refusal_as_results(tmp_path: Path, client: str) -> None:
    roots = tmp_path / "in"
    roots.mkdir()
    (roots / "a.png").write_bytes(png(320, 240, RED))
    server = python_server(
        tmp_path / "data",
        WAN_PROVIDER="simulator",
        WAN_SIM_QUEUE_SECONDS="0.2",
        WAN_SIM_RUN_SECONDS="0.5",
        WAN_MEDIA_ROOTS=str(roots),
    )
    media = {"model": "wan2.7-i2v", "resolution": "720P", "duration": 2, "wait_seconds": 30}
    steps = [
        {
            "op": "call",
            "name": "generate_video",
            "arguments": media | {"media": [{"type": "first_frame", "url": str(roots / "a.png")}]},
        },
        {
            "op": "call",
            "name": "generate_video",
            "arguments": media | {"media": [{"type": "first_frame", "url": "/etc/passwd"}]},
        },
    ]
    report = await run_plan(client, server, [{"op": "list"}, *steps])
    made, refused = [step for step in report["steps"] if step["op"] == "call"]
    assert {
        "made": (made["ok"], made["isError"], made["structuredContent"].get("status")),
        "refused": (refused["ok"], refused["isError"], refused["structuredContent"].get("field")),
        "advice": "WAN_MEDIA_ROOTS" in refused["text"],
    } == {
        "made": (True, False, "succeeded"),
        "refused": (True, True, "media[0].url"),
        "advice": True,
    }, (made, refused)
