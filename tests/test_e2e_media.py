"""The current models end to end: the real server over stdio (MCP Python SDK client) and the official DashScope SDK,
against the simulator on loopback, with input media served on loopback too. Nothing here leaves 127.0.0.1.

Each new model makes one video from real inputs: exactly one submit, and the delivered MP4 at the pixel size of the
reference's table (media-protocol.md section 4) and the asked length. Expected sizes are written out here from the
reference, not computed with the catalog's code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import av
import dashscope
import pytest
from dashscope import VideoSynthesis
from mcp import Client

from tests.hostile_http import HostileServer
from tests.media_files import RED, mp4, png, wav
from tests.simulated import sim_env, simulator
from tests.stdio_server import server_run, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def inputs() -> Iterator[HostileServer]:
    """Loopback inputs: a 320*240 (4:3) red PNG, a 3 s 320*240 clip, a 2.5 s voice; byte ranges answered."""
    with HostileServer() as server:
        server.route("/red.png", body=png(320, 240, RED), content_type="image/png", ranges=True)
        server.route("/clip.mp4", body=mp4(3.0), content_type="video/mp4", ranges=True)
        server.route("/voice.wav", body=wav(2.5), content_type="audio/wav", ranges=True)
        yield server


def item(server: HostileServer, kind: str, path: str) -> dict[str, str]:
    return {"type": kind, "url": server.url(path)}


# (model, arguments from the inputs server, expected (width, height), expected seconds)
def cases(s: HostileServer) -> dict[str, tuple[dict[str, Any], tuple[int, int], float]]:
    return {
        "wan2.7-t2v": (
            {"prompt": "a kite over dunes", "resolution": "720P", "ratio": "9:16", "duration": 2},
            (720, 1280),
            2,
        ),
        # No ratio on i2v: the output keeps the first frame's 4:3, 1104*832 at 720P.
        "wan2.7-i2v": (
            {
                "media": [item(s, "first_frame", "/red.png"), item(s, "driving_audio", "/voice.wav")],
                "resolution": "720P",
                "duration": 2,
            },
            (1104, 832),
            2,
        ),
        "wan2.7-r2v": (
            {
                "prompt": "Image 1 waves at Video 1",
                "media": [item(s, "reference_image", "/red.png"), item(s, "reference_video", "/clip.mp4")],
                "resolution": "720P",
                "ratio": "1:1",
                "duration": 2,
            },
            (960, 960),
            2,
        ),
        # duration 0 keeps the input's 3 s; no ratio keeps its 4:3.
        "wan2.7-videoedit": (
            {"prompt": "make it clay", "media": [item(s, "video", "/clip.mp4")], "resolution": "720P"},
            (1104, 832),
            3,
        ),
        "wan3.0-video": (
            {
                "prompt": "the red card flies",
                "media": [item(s, "first_frame", "/red.png")],
                "resolution": "480P",
                "ratio": "16:9",
                "duration": 2,
            },
            (832, 480),
            2,
        ),
        "wan3.0-video-prime": (
            {
                "prompt": "Image 1 sings Audio 1",
                "media": [item(s, "reference_image", "/red.png"), item(s, "reference_audio", "/voice.wav")],
                "resolution": "480P",
                "ratio": "9:16",
                "duration": 2,
            },
            (480, 832),
            2,
        ),
    }


MODELS = ["wan2.7-t2v", "wan2.7-i2v", "wan2.7-r2v", "wan2.7-videoedit", "wan3.0-video", "wan3.0-video-prime"]


@pytest.mark.parametrize("model", MODELS)
async def test_each_current_model_makes_one_video_over_stdio(tmp_path: Path, inputs: HostileServer, model: str) -> None:
    arguments, (width, height), seconds = cases(inputs)[model]
    async with simulator(run_seconds=1.5, fetch_media="all") as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            result = await client.call_tool("generate_video", {"model": model, "wait_seconds": 60} | arguments)
            assert not result.is_error, text_of(result)
            task = result.structured_content
            assert task is not None
            if task["status"] != "succeeded" or "video" not in task:
                with anyio.fail_after(30):
                    while task.get("download_status") != "downloaded":
                        checked = await client.call_tool("fetch_video", {"task_id": task["task_id"]})
                        task = checked.structured_content or {}
                        await anyio.sleep(0.2)
    path = Path(task["video"]["path"])
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        shape = (video.codec_context.width, video.codec_context.height)
        length = float(container.duration or 0) / av.time_base
    assert {
        "submits": sim.stats.submits,
        "tasks": sim.stats.submits_accepted,
        "status": task["status"],
        "frame size": shape,
        "seconds": round(length),
    } == {"submits": 1, "tasks": 1, "status": "succeeded", "frame size": (width, height), "seconds": seconds}
    billed = task.get("billed") or {}
    assert billed.get("output_video_seconds") == pytest.approx(seconds, abs=0.5)


async def test_an_input_its_server_refuses_is_refused_before_anything_is_paid(
    tmp_path: Path, inputs: HostileServer
) -> None:
    async with simulator(fetch_media="all") as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            result = await client.call_tool(
                "generate_video",
                {"model": "wan2.7-i2v", "media": [item(inputs, "first_frame", "/missing.png")], "wait_seconds": 5},
            )
    assert result.is_error
    assert result.structured_content and result.structured_content["field"] == "media[0].url"
    assert "HTTP 404" in text_of(result)
    assert sim.stats.submits == 0


async def test_a_dry_run_prices_the_measured_input_seconds(tmp_path: Path, inputs: HostileServer) -> None:
    async with simulator() as sim:
        run = server_run(tmp_path, sim_env(sim))
        async with Client(run.params) as client:
            result = await client.call_tool(
                "generate_video",
                {
                    "model": "wan2.7-r2v",
                    "prompt": "Video 1 dances",
                    "media": [item(inputs, "reference_video", "/clip.mp4")],
                    "resolution": "720P",
                    "duration": 5,
                    "dry_run": True,
                },
            )
    assert not result.is_error, text_of(result)
    cost = (result.structured_content or {})["cost_estimate"]
    # 5 s out + the 3 s reference video, at wan2.7's 720P figure ($0.084/s): $0.672.
    assert (cost["billed_seconds"], cost["input_seconds"], cost["amount_usd"]) == (8.0, 3.0, 0.672)
    assert "3 s of input video (measured)" in cost["breakdown"]
    assert sim.stats.submits == 0


# --------------------------------------------------------------------------- the official DashScope SDK


@pytest.mark.parametrize("model", ["wan2.7-t2v", "wan2.7-i2v"])
async def test_the_official_dashscope_sdk_makes_a_wan27_video(
    inputs: HostileServer, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tuple(int(part) for part in dashscope.__version__.split(".")[:3]) >= (1, 25, 16)  # sends media
    extra: dict[str, Any] = {"prompt": "a kite", "resolution": "720P", "ratio": "16:9", "duration": 2}
    if model == "wan2.7-i2v":
        extra = {"media": [item(inputs, "first_frame", "/red.png")], "resolution": "720P", "duration": 2}
    async with simulator(run_seconds=1.0, fetch_media="all") as sim:
        monkeypatch.setattr(dashscope, "base_http_api_url", sim.base_url)

        def call() -> Any:
            return VideoSynthesis.call(model=model, api_key="sk-test", **extra)

        done = await anyio.to_thread.run_sync(call)
    assert done.status_code == 200, done
    assert done.output.task_status == "SUCCEEDED", done
    assert done.output.video_url.startswith(sim.root_url)
    assert sim.stats.submits == 1
