"""The simulator on the media protocol (wan2.7, wan3.0): validation, reading the input URLs, pixel sizes, usage, and
what the inputs put in the video. Inputs are served on loopback only (``HostileServer``); nothing reaches the network.

Tasks queue and run 100 s each and move with ``sim.advance``; a test waits for ``sim.inputs_read`` before it moves
the clock past the end, so a task's state does not depend on how fast loopback answers.
"""

from __future__ import annotations

import base64
import dataclasses
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import anyio
import av
import httpx
import pytest

from tests.hostile_http import HostileServer
from tests.media_files import BLUE, RED, mp4, png, wav
from tests.test_simulator_uploads import uploaded
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig, rendering

KEY = {"Authorization": "Bearer sk-test"}
ASYNC = {**KEY, "X-DashScope-Async": "enable"}
OSS_HEADER = {"X-DashScope-OssResourceResolve": "enable"}
PATH = "/services/aigc/video-generation/video-synthesis"
MSG_DOWNLOAD = "InternalError.Algo.InvalidParameter: Failed to download multimodal content"
MSG_OSS = (
    "InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
    "Ensure it is correctly formatted."
)
MSG_MODES = (
    "The two modes are mutually exclusive. Do not pass reference_xx and first_frame/last_frame at the same time."
)
FPS = 4  # renders stay cheap: a few frames a second
MANUAL = SimulatorConfig(queue_seconds=100, run_seconds=100, jitter=0, fps=FPS)


@pytest.fixture(scope="module")
def media() -> Iterator[HostileServer]:
    """Loopback URLs: /red.png (320*240, 4:3), /tall.png (240*420), /blue.png, /clip.mp4 (3 s), /voice.wav (2.5 s)."""
    with HostileServer() as server:
        server.route("/red.png", body=png(320, 240, RED), content_type="image/png")
        server.route("/tall.png", body=png(240, 420, RED), content_type="image/png")
        server.route("/blue.png", body=png(320, 240, BLUE), content_type="image/png")
        server.route("/clip.mp4", body=mp4(), content_type="video/mp4")
        server.route("/voice.wav", body=wav(), content_type="audio/wav")
        server.route("/deck.pdf", body=b"%PDF-1.4 simulated", content_type="application/pdf")
        server.route("/page.html", body=b"<html>a portal</html>", content_type="text/html")
        server.route("/gone.png", status=404, body=b"not here", content_type="text/plain")
        server.redirect("/moved.png", "/red.png")
        server.big("/big.mp4", 200_000, prefix=b"\0\0\0\x18ftypmp42")
        yield server


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(MANUAL) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c:
        yield c


async def submit(
    client: httpx.AsyncClient,
    model: str,
    inputs: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"model": model, "input": inputs, "parameters": parameters or {}}
    return await client.post(PATH, json=body, headers={**ASYNC, **(headers or {})})


async def finish(sim: Simulator, client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """The poll body once the task's inputs were read and its time ran out."""
    with anyio.fail_after(20):
        await sim.inputs_read(task_id)
    sim.advance(250)
    response = await client.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run(
    sim: Simulator, client: httpx.AsyncClient, model: str, inputs: dict[str, Any], parameters: dict[str, Any]
) -> dict[str, Any]:
    response = await submit(client, model, inputs, parameters)
    assert response.status_code == 200, response.text
    return await finish(sim, client, response.json()["output"]["task_id"])


async def video_of(client: httpx.AsyncClient, done: dict[str, Any], tmp_path: Path) -> Path:
    assert done["output"]["task_status"] == "SUCCEEDED", done
    with anyio.fail_after(60):
        data = (await client.get(done["output"]["video_url"])).content
    path = tmp_path / "out.mp4"
    path.write_bytes(data)
    return path


def shape(path: Path) -> tuple[int, int, int]:
    """Width, height and frame count of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return stream.codec_context.width, stream.codec_context.height, frames


def pixel(path: Path, index: int, where: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int, int]:
    """The RGB of one pixel (at fractions of width and height) of frame ``index`` of a video or an image."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                rgb = frame.to_rgb()
                x, y = int(rgb.width * where[0]), int(rgb.height * where[1])
                line = rgb.planes[0].line_size
                r, g, b = bytes(rgb.planes[0])[y * line + 3 * x : y * line + 3 * x + 3]
                return r, g, b
    raise AssertionError(f"no frame {index}")


# --------------------------------------------------------------------------- every new model, end to end


def cases(m: HostileServer) -> list[tuple[str, dict[str, Any], dict[str, Any], tuple[int, int, int], dict[str, Any]]]:
    """(model, input, parameters, (W, H, seconds), usage) for a valid submit of each new model."""
    img, tall, clip, voice = m.url("/red.png"), m.url("/tall.png"), m.url("/clip.mp4"), m.url("/voice.wav")
    sr720 = {"video_count": 1, "SR": 720}
    return [
        (
            "wan2.7-t2v",
            {"prompt": "a cat under the moon", "audio_url": voice},
            {"resolution": "720P", "ratio": "9:16", "duration": 3},
            (720, 1280, 3),
            {"duration": 3, "input_video_duration": 0, "output_video_duration": 3, **sr720, "ratio": "9:16"},
        ),
        (
            "wan2.7-t2v-2026-04-25",
            {"prompt": "a cat under the moon"},
            {"resolution": "720P", "duration": 2},
            (1280, 720, 2),
            {"duration": 2, "input_video_duration": 0, "output_video_duration": 2, **sr720, "ratio": "16:9"},
        ),
        (
            "wan2.7-i2v",
            {"media": [{"type": "driving_audio", "url": voice}, {"type": "first_frame", "url": tall}]},
            {"resolution": "720P", "duration": 2},
            (720, 1280, 2),  # the frame is 240*420: the closest ratio is 9:16
            {"duration": 2, "input_video_duration": 0, "output_video_duration": 2, **sr720},
        ),
        (
            "wan2.7-i2v-2026-04-25",
            {
                "prompt": "it goes on",
                "media": [{"type": "first_clip", "url": clip}, {"type": "last_frame", "url": img}],
            },
            {"resolution": "720P", "duration": 5},
            (1104, 832, 5),  # a 4:3 clip; duration is the whole output
            {"duration": 5, "input_video_duration": 3, "output_video_duration": 5, **sr720},
        ),
        (
            "wan2.7-r2v",
            {
                "prompt": "Image 1 and Video 1 talk",
                "media": [
                    {"type": "reference_image", "url": img, "reference_voice": voice},
                    {"type": "reference_video", "url": clip},
                ],
            },
            {"resolution": "720P", "duration": 2},
            (1280, 720, 2),
            {"duration": 5, "input_video_duration": 3, "output_video_duration": 2, **sr720, "ratio": "16:9"},
        ),
        (
            "wan2.7-videoedit",
            {
                "prompt": "clay style",
                "media": [{"type": "video", "url": clip}, {"type": "reference_image", "url": img}],
            },
            {"resolution": "720P"},  # duration 0: keep the input's 3 s; no ratio: follow its 4:3
            (1104, 832, 3),
            {"duration": 6.0, "input_video_duration": 3.0, "output_video_duration": 3.0, **sr720},
        ),
        (
            "wan3.0-video",
            {
                "prompt": "Video 1 meets Image 1, Audio 1 plays",
                "media": [
                    {"type": "reference_image", "url": img},
                    {"type": "reference_video", "url": clip},
                    {"type": "reference_audio", "url": voice},
                    {"type": "file", "url": m.url("/deck.pdf")},
                ],
            },
            {"resolution": "480P", "duration": 2, "seed": -1, "audio": False},
            (736, 544, 2),  # adaptive: the first image is 4:3
            {
                "duration": 5.0,
                "input_video_duration": 3.0,
                "output_video_duration": 2.0,
                "video_count": 1,
                "SR": 480,
                "ratio": "4:3",
                "fps": 30,
            },
        ),
        (
            "wan3.0-video-prime",
            {"prompt": "a kitten on a moonlit roof"},
            {"resolution": "480P", "duration": -1},
            (832, 480, 5),  # -1: the simulator picks 5 s; adaptive without an input: 16:9
            {
                "duration": 5.0,
                "input_video_duration": 0.0,
                "output_video_duration": 5.0,
                "video_count": 1,
                "SR": 480,
                "ratio": "16:9",
                "fps": 30,
            },
        ),
        (
            "wan2.6-r2v-flash",
            {"prompt": "character1 and character2", "reference_urls": [img, clip]},
            {"size": "1280*720", "duration": 2},
            (1280, 720, 2),
            {
                "duration": 5.0,
                "size": "1280*720",
                "input_video_duration": 3,
                "output_video_duration": 2,
                "video_count": 1,
                "SR": 720,
            },
        ),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "index",
    range(9),
    ids=lambda i: ["t2v", "t2v-snap", "i2v", "i2v-clip", "r2v", "edit", "wan3", "wan3-prime", "r2v-flash"][i],
)
async def test_each_new_model_reads_its_inputs_succeeds_and_reports_usage(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer, tmp_path: Path, index: int
) -> None:
    model, inputs, parameters, (width, height, seconds), usage = cases(media)[index]
    before = {path: media.hits(path) for path in ("/red.png", "/tall.png", "/clip.mp4", "/voice.wav", "/deck.pdf")}
    done = await run(sim, client, model, inputs, parameters)
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED", out
    assert done["usage"] == pytest.approx(usage, abs=0.06)
    assert {k: type(v) for k, v in done["usage"].items()} == {k: type(v) for k, v in usage.items()}  # int or float
    assert out["orig_prompt"] == inputs.get("prompt", "")
    assert ("actual_prompt" in out) is False  # not listed for wan2.7/wan3.0 (and wan2.6 returns none)
    for url in _urls(inputs):
        path = "/" + url.rsplit("/", 1)[1]
        assert media.hits(path) > before[path], f"{url} was not read"
    w, h, frames = shape(await video_of(client, done, tmp_path))
    assert (w, h) == (width, height)
    assert abs(frames - seconds * FPS) <= 1


def _urls(inputs: dict[str, Any]) -> list[str]:
    urls = [inputs["audio_url"]] if "audio_url" in inputs else []
    urls += inputs.get("reference_urls", [])
    for item in inputs.get("media", []):
        urls += [item["url"]] + ([item["reference_voice"]] if "reference_voice" in item else [])
    return urls


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("resolution", "ratio", "size"), [("720P", "9:16", (720, 1280)), ("1080P", "4:3", (1648, 1248))]
)
async def test_wan27_t2v_renders_at_the_reference_pixel_sizes(
    sim: Simulator, client: httpx.AsyncClient, tmp_path: Path, resolution: str, ratio: str, size: tuple[int, int]
) -> None:
    parameters = {"resolution": resolution, "ratio": ratio, "duration": 2}
    done = await run(sim, client, "wan2.7-t2v", {"prompt": "a lighthouse"}, parameters)
    assert done["usage"]["SR"] == int(resolution[:-1]) and done["usage"]["ratio"] == ratio
    assert shape(await video_of(client, done, tmp_path))[:2] == size


# --------------------------------------------------------------------------- reading the inputs


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["closed port", "404", "not an image", "too large"])
@pytest.mark.parametrize("model", ["wan2.7-i2v", "wan2.6-i2v"])
async def test_an_input_that_cannot_be_read_fails_the_task(
    client: httpx.AsyncClient, media: HostileServer, where: str, model: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/cat.png"  # nothing listens once the socket closes
    url = {
        "closed port": closed,
        "404": media.url("/gone.png"),
        "not an image": media.url("/page.html"),
        "too large": media.url("/big.mp4"),
    }[where]
    config = dataclasses.replace(MANUAL, fetch_max_bytes=100_000)
    async with (
        Simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c,
    ):
        if model == "wan2.7-i2v":
            inputs: dict[str, Any] = {"media": [{"type": "first_frame", "url": url}]}
            parameters: dict[str, Any] = {"resolution": "720P"}
        else:
            inputs, parameters = {"prompt": "it moves", "img_url": url}, {"resolution": "720P", "duration": 2}
        if where == "too large":  # wan2.7: as the first clip; wan2.6: as the image
            inputs = {"media": [{"type": "first_clip", "url": url}]} if model == "wan2.7-i2v" else inputs
        response = await submit(c, model, inputs, parameters)
        assert response.status_code == 200, response.text  # the submit answers at once
        task_id = response.json()["output"]["task_id"]
        running = (await c.get(f"/tasks/{task_id}")).json()["output"]
        assert running["task_status"] == "PENDING"
        out = (await finish(sim, c, task_id))["output"]
    assert out["task_status"] == "FAILED", out
    expected = {
        "closed port": ("InvalidParameter", MSG_DOWNLOAD + " (", "cannot connect"),
        "404": ("InvalidParameter", MSG_DOWNLOAD + " (", "HTTP 404"),
        "not an image": (
            "InvalidParameter.DataInspection",
            "The media format is not supported or incorrect for the data inspection.",
            "",
        ),
        "too large": ("InvalidParameter", MSG_DOWNLOAD + " (", "larger than"),
    }[where]
    assert out["code"] == expected[0]
    assert out["message"].startswith(expected[1]) and expected[2] in out["message"], out["message"]
    assert "video_url" not in out and "usage" not in out


class _HeldServer:
    """A loopback server that accepts and answers nothing until ``release()`` (then a PNG)."""

    def __init__(self, body: bytes) -> None:
        self._body, self._go = body, threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/held.png"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            if not self._go.wait(30):
                return
            head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(self._body)}\r\n"
            try:
                conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + self._body)
            except OSError:  # the simulator gave up waiting
                pass

    def release(self) -> None:
        self._go.set()

    def close(self) -> None:
        self._go.set()
        self._sock.close()


@pytest.mark.anyio
async def test_a_task_cannot_succeed_before_its_inputs_were_read(sim: Simulator, client: httpx.AsyncClient) -> None:
    held = _HeldServer(png(320, 240, RED))
    try:
        response = await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": held.url}]})
        task_id = response.json()["output"]["task_id"]
        sim.advance(500)  # long past its end time
        out = (await client.get(f"/tasks/{task_id}")).json()["output"]
        assert out["task_status"] == "RUNNING" and "end_time" not in out
        held.release()
        done = await finish(sim, client, task_id)
    finally:
        held.close()
    assert done["output"]["task_status"] == "SUCCEEDED"
    assert sim.task(task_id).ends_at >= sim.task(task_id).submitted_at + 500  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_an_input_that_does_not_answer_in_time_fails_the_task() -> None:
    held = _HeldServer(b"")
    try:
        async with (
            Simulator(dataclasses.replace(MANUAL, fetch_timeout_seconds=0.3)) as sim,
            httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c,
        ):
            response = await submit(
                c, "wan2.7-r2v", {"prompt": "Image 1", "media": [{"type": "reference_image", "url": held.url}]}
            )
            out = (await finish(sim, c, response.json()["output"]["task_id"]))["output"]
    finally:
        held.close()
    assert (out["task_status"], out["code"], out["message"]) == (
        "FAILED",
        "InvalidParameter.DataInspection",
        "Download the media resource timed out during the data inspection process.",
    )


@pytest.mark.anyio
async def test_without_fetching_other_hosts_are_not_contacted_and_off_reads_nothing(media: HostileServer) -> None:
    # "local" (the default): a public URL is taken as readable, unread; "off": not even loopback is read.
    hits = media.hits("/gone.png")
    cases: list[tuple[Literal["local", "off"], str]] = [
        ("local", "https://example.invalid/cat.png"),
        ("off", media.url("/gone.png")),
    ]
    for mode, url in cases:
        async with (
            Simulator(dataclasses.replace(MANUAL, fetch_media=mode)) as sim,
            httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c,
        ):
            response = await submit(c, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]})
            out = (await finish(sim, c, response.json()["output"]["task_id"]))["output"]
        assert out["task_status"] == "SUCCEEDED", (mode, out)
    assert media.hits("/gone.png") == hits


@pytest.mark.anyio
async def test_redirects_are_followed_and_oss_urls_are_read_from_the_uploads(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer
) -> None:
    girl = await uploaded(client, "wan2.7-r2v", key="sk-test")
    inputs = {
        "prompt": "Image 1 waves",
        "media": [
            {"type": "reference_image", "url": media.url("/moved.png")},
            {"type": "reference_image", "url": girl},
        ],
    }
    response = await submit(client, "wan2.7-r2v", inputs, {"resolution": "720P", "duration": 2}, OSS_HEADER)
    assert response.status_code == 200, response.text
    done = await finish(sim, client, response.json()["output"]["task_id"])
    assert done["output"]["task_status"] == "SUCCEEDED"


# --------------------------------------------------------------------------- refusals and the mode conflict


@pytest.mark.anyio
async def test_oss_urls_need_the_resolve_header(client: httpx.AsyncClient) -> None:
    oss = "oss://dashscope-instant/abc/2026-05-01/cat.png"
    refused = await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": oss}]})
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["message"]) == ("InvalidParameter", MSG_OSS)
    assert refused.json()["request_id"]
    voice = {
        "prompt": "Image 1",
        "media": [{"type": "reference_image", "url": "https://example.invalid/a.png", "reference_voice": oss}],
    }
    assert (await submit(client, "wan2.7-r2v", voice)).json()["message"] == MSG_OSS
    legacy = await submit(client, "wan2.6-i2v", {"prompt": "p", "img_url": oss}, {"resolution": "720P"})
    assert (legacy.status_code, legacy.json()["message"]) == (400, MSG_OSS)
    # With the header, the URL must name an upload of this key for this model.
    unknown = await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": oss}]}, None, OSS_HEADER)
    assert (unknown.status_code, "names no uploaded file" in unknown.json()["message"]) == (400, True)
    cat = await uploaded(client, "wan2.7-i2v", key="sk-test")
    accepted = await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": cat}]}, None, OSS_HEADER)
    assert accepted.status_code == 200, accepted.text


IMG = "https://example.invalid/a.png"
CLIP = "https://example.invalid/a.mp4"
AUDIO = "https://example.invalid/a.mp3"


def item(kind: str, url: str = IMG) -> dict[str, str]:
    return {"type": kind, "url": url}


REFUSED: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("i2v: no media", "wan2.7-i2v", {"prompt": "p"}, {}, "Field required: input.media"),
    (
        "i2v: clip + audio",
        "wan2.7-i2v",
        {"media": [item("first_clip", CLIP), item("driving_audio", AUDIO)]},
        {},
        "not valid",
    ),
    ("i2v: frame + clip", "wan2.7-i2v", {"media": [item("first_frame"), item("first_clip", CLIP)]}, {}, "not valid"),
    ("i2v: last frame only", "wan2.7-i2v", {"media": [item("last_frame")]}, {}, "not valid"),
    ("i2v: two first frames", "wan2.7-i2v", {"media": [item("first_frame"), item("first_frame")]}, {}, "at most 1"),
    ("i2v: unknown type", "wan2.7-i2v", {"media": [item("first_frame"), item("mask")]}, {}, "'mask'"),
    ("i2v: item is not an object", "wan2.7-i2v", {"media": ["https://example.invalid/a.png"]}, {}, "media[0]"),
    ("i2v: no url", "wan2.7-i2v", {"media": [{"type": "first_frame"}]}, {}, "input.media[0].url"),
    ("i2v: 480P", "wan2.7-i2v", {"media": [item("first_frame")]}, {"resolution": "480P"}, "resolution"),
    ("r2v: no prompt", "wan2.7-r2v", {"media": [item("reference_image")]}, {}, "input.prompt"),
    ("r2v: no references", "wan2.7-r2v", {"prompt": "p", "media": [item("first_frame")]}, {}, "not valid"),
    ("r2v: six references", "wan2.7-r2v", {"prompt": "p", "media": [item("reference_image")] * 6}, {}, "at most 5"),
    (
        "r2v: 12 s with a video",
        "wan2.7-r2v",
        {"prompt": "p", "media": [item("reference_video", CLIP)]},
        {"duration": 12},
        "at most 10",
    ),
    (
        "r2v: voice on a frame",
        "wan2.7-r2v",
        {"prompt": "p", "media": [item("reference_image"), {**item("first_frame"), "reference_voice": AUDIO}]},
        {},
        "reference_voice",
    ),
    ("edit: no video", "wan2.7-videoedit", {"media": [item("reference_image")]}, {}, "not valid"),
    ("edit: two videos", "wan2.7-videoedit", {"media": [item("video", CLIP), item("video", CLIP)]}, {}, "at most 1"),
    ("edit: video as data:", "wan2.7-videoedit", {"media": [item("video", "data:video/mp4;base64,AAAA")]}, {}, "URL"),
    ("edit: duration 1", "wan2.7-videoedit", {"media": [item("video", CLIP)]}, {"duration": 1}, "duration"),
    (
        "edit: audio_setting",
        "wan2.7-videoedit",
        {"media": [item("video", CLIP)]},
        {"audio_setting": "mute"},
        "audio_setting",
    ),
    ("t2v: no prompt", "wan2.7-t2v", {"negative_prompt": "blur"}, {}, "input.prompt"),
    ("t2v: ratio 2:1", "wan2.7-t2v", {"prompt": "p"}, {"ratio": "2:1"}, "ratio"),
    ("t2v: 16 s", "wan2.7-t2v", {"prompt": "p"}, {"duration": 16}, "duration"),
    ("t2v: 2.5 s", "wan2.7-t2v", {"prompt": "p"}, {"duration": 2.5}, "duration"),
    ("t2v: seed -1", "wan2.7-t2v", {"prompt": "p"}, {"seed": -1}, "seed"),
    ("wan3: nothing", "wan3.0-video", {"negative_prompt": "x"}, {}, "input.prompt and input.media"),
    ("wan3: duration 0", "wan3.0-video", {"prompt": "p"}, {"duration": 0}, "duration"),
    ("wan3: duration 31", "wan3.0-video", {"prompt": "p"}, {"duration": 31}, "duration"),
    ("wan3: ratio 5:4", "wan3.0-video", {"prompt": "p"}, {"ratio": "5:4"}, "ratio"),
    ("wan3: file + link", "wan3.0-video", {"media": [item("file"), item("link")]}, {}, "not valid"),
    (
        "wan3: file without prompt_extend",
        "wan3.0-video",
        {"media": [item("file")]},
        {"prompt_extend": False},
        "prompt_extend",
    ),
    ("wan3: eleven images", "wan3.0-video", {"media": [item("reference_image")] * 11}, {}, "at most 10"),
    ("r2v-flash: six references", "wan2.6-r2v-flash", {"prompt": "p", "reference_urls": [IMG] * 6}, {}, "1 to 5"),
    ("wan3: link as oss", "wan3.0-video", {"media": [item("link", "oss://x/y")]}, {}, "URL"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "model", "inputs", "parameters", "says"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_invalid_media_submits_are_refused_with_400(
    sim: Simulator,
    client: httpx.AsyncClient,
    case: str,
    model: str,
    inputs: dict[str, Any],
    parameters: dict[str, Any],
    says: str,
) -> None:
    response = await submit(client, model, inputs, parameters, OSS_HEADER)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] in ("InvalidParameter", "InvalidURL") and body["request_id"]
    assert says in body["message"], body["message"]
    assert sim.tasks == []


@pytest.mark.anyio
@pytest.mark.parametrize("conflict", ["reference_image", "file", "link"])
async def test_wan30_mode_conflict_is_accepted_then_fails_the_task(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer, conflict: str
) -> None:
    inputs = {
        "prompt": "p",
        "media": [item("first_frame", media.url("/red.png")), item(conflict, media.url("/red.png"))],
    }
    response = await submit(client, "wan3.0-video", inputs, {"resolution": "480P"})
    assert response.status_code == 200, response.text
    out = (await finish(sim, client, response.json()["output"]["task_id"]))["output"]
    assert (out["task_status"], out["code"], out["message"]) == ("FAILED", "InvalidParameter", MSG_MODES)


@pytest.mark.anyio
async def test_prompts_are_truncated_and_the_sdks_extra_keys_tolerated(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    inputs = {"prompt": "x" * 6000, "extend_prompt": True, "function": "video-synthesis", "media": []}
    parameters = {"resolution": "720P", "duration": 2, "audio": True, "size": "1280*720", "shot_type": "multi"}
    done = await run(sim, client, "wan2.7-t2v", inputs, parameters)
    assert done["output"]["orig_prompt"] == "x" * 5000
    long = {"prompt": "y" * 25000}
    assert (await run(sim, client, "wan3.0-video", long, {"resolution": "480P", "duration": 2}))["output"][
        "orig_prompt"
    ] == "y" * 20000


# --------------------------------------------------------------------------- what the inputs put in the video


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["http", "data:"])
async def test_the_i2v_first_frame_is_drawn_from_the_image(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer, tmp_path: Path, how: str
) -> None:
    image = png(320, 240, RED)
    url = media.url("/red.png") if how == "http" else "data:image/png;base64," + base64.b64encode(image).decode()
    done = await run(
        sim, client, "wan2.7-i2v", {"media": [item("first_frame", url)]}, {"resolution": "720P", "duration": 2}
    )
    video = await video_of(client, done, tmp_path)
    r, g, b = pixel(video, 0)
    assert r > 150 and g < 90 and b < 90, (r, g, b)
    plain = await run(sim, client, "wan2.7-t2v", {"prompt": "p"}, {"resolution": "720P", "duration": 2})
    r, g, b = pixel(await video_of(client, plain, tmp_path), 0)
    assert not (r > 150 and g < 90 and b < 90), "without an image the frame is not red"


@pytest.mark.anyio
async def test_videoedit_output_frames_are_tinted_input_frames(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(mp4())
    done = await run(
        sim,
        client,
        "wan2.7-videoedit",
        {"prompt": "warm", "media": [item("video", media.url("/clip.mp4"))]},
        {"resolution": "720P", "duration": 3},
    )
    video = await video_of(client, done, tmp_path)
    for at in (0.5, 2.5):  # BLUE, then GREEN in the input
        src = pixel(source, int(at * 8))
        out = pixel(video, int(at * FPS))
        assert out[0] > src[0] + 30 and out[2] < src[2] - 15, (at, src, out)  # a red cast
        assert abs(out[1] - src[1]) < 60, (at, src, out)  # the same picture underneath
    first, later = pixel(video, int(0.5 * FPS)), pixel(video, int(2.5 * FPS))
    assert first[2] > later[2] + 60 and later[1] > first[1] + 60  # it follows the input from blue to green


@pytest.mark.anyio
async def test_references_show_as_a_thumbnail(
    sim: Simulator, client: httpx.AsyncClient, media: HostileServer, tmp_path: Path
) -> None:
    inputs = {"prompt": "Image 1", "media": [item("reference_image", media.url("/blue.png"))]}
    done = await run(sim, client, "wan2.7-r2v", inputs, {"resolution": "720P", "duration": 2})
    r, g, b = pixel(await video_of(client, done, tmp_path), 0, (0.85, 0.12))
    assert b > 150 and r < 90, (r, g, b)


@pytest.mark.anyio
async def test_without_pyav_inputs_are_read_and_the_placeholder_is_served(
    monkeypatch: pytest.MonkeyPatch, media: HostileServer
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails
    monkeypatch.setattr(rendering, "_warned_fallback", True)  # the warning itself is test_simulator's
    async with (
        Simulator(MANUAL) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c,
    ):
        inputs = {"media": [item("first_frame", media.url("/red.png"))]}
        done = await run(sim, c, "wan2.7-i2v", inputs, {"resolution": "720P", "duration": 2})
        data = (await c.get(done["output"]["video_url"])).content
        gone = await submit(c, "wan2.7-i2v", {"media": [item("first_frame", media.url("/gone.png"))]})
        failed = (await finish(sim, c, gone.json()["output"]["task_id"]))["output"]
    assert done["usage"]["output_video_duration"] == 2 and data[4:8] == b"ftyp"
    assert failed["task_status"] == "FAILED" and "HTTP 404" in failed["message"]


# --------------------------------------------------------------------------- gateways


@pytest.mark.anyio
async def test_new_api_passes_metadata_media_and_parameters_to_the_same_validation(
    sim: Simulator, media: HostileServer
) -> None:
    async with httpx.AsyncClient(base_url=sim.root_url, headers=KEY, timeout=30, trust_env=False) as gw:
        body = {
            "model": "wan2.7-r2v",
            "prompt": "Image 1 walks",
            "metadata": {
                "input": {"media": [item("reference_image", media.url("/red.png"))]},
                "parameters": {"resolution": "720P", "ratio": "1:1", "duration": 2},
            },
        }
        created = await gw.post("/v1/video/generations", json=body)
        assert created.status_code == 200, created.text
        i2v = {"model": "wan2.7-i2v", "prompt": "go", "input_reference": media.url("/red.png")}
        assert (await gw.post("/v1/video/generations", json=i2v)).status_code == 200
        bad = {
            "model": "wan2.7-i2v",
            "metadata": {"input": {"media": [item("first_clip", CLIP), item("driving_audio", AUDIO)]}},
        }
        refused = await gw.post("/v1/video/generations", json=bad)
        yuto = await gw.post("/v2/videos/generations", json={"model": "wan2.7-t2v", "prompt": "p", "size": "1280*720"})
        vtrix = await gw.post("/model/v1/generation", json={"model": "wan27_t2v", "input": {"prompt": "p"}})
        gid = created.json()["id"]
        task = sim.gateway_task("newapi", gid)
        assert task is not None
        with anyio.fail_after(20):
            await sim.inputs_read(task.task_id)
        sim.advance(250)
        polled = (await gw.get(f"/v1/video/generations/{gid}")).json()
    assert (task.plan.ratio, task.plan.size, [ref.role for ref in task.plan.inputs]) == (
        "1:1",
        "960*960",
        ["reference_image"],
    )
    [_, i2v_task, *_] = sim.tasks
    assert [(ref.role, ref.url) for ref in i2v_task.plan.inputs] == [("first_frame", media.url("/red.png"))]
    assert refused.status_code == 400 and refused.json()["code"] == "InvalidParameter"
    assert yuto.status_code == 200 and vtrix.status_code == 400  # no crash on models they do not carry
    assert polled["data"]["status"] == "SUCCESS" and polled["data"]["data"]["usage"]["ratio"] == "1:1"


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["http://10.0.0.1/cat.png", "http://169.254.169.254/latest/meta-data/"])
async def test_an_input_on_a_private_or_metadata_address_is_never_read(url: str) -> None:
    config = dataclasses.replace(MANUAL, fetch_media="all")
    async with (
        Simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as c,
    ):
        response = await submit(c, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]}, {})
        assert response.status_code == 200, response.text
        out = (await finish(sim, c, response.json()["output"]["task_id"]))["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InvalidParameter"), out
    assert "not reachable from the service" in out["message"]
