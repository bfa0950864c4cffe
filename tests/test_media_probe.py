"""``probe`` measures remote media by reading as little of it as it can, and never raises for a bad URL.

Real media made here with PyAV and the standard library's ``wave``, served over loopback HTTP by
tests/hostile_http.py, with and without byte-range support; no request leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import math
import os
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
import av
import httpx
import pytest
import respx

from tests.hostile_http import HostileServer
from tests.media_files import wav
from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy
from wan_video_mcp.server.media import DEFAULT_MAX_BYTES, MediaFacts, probe, probe_all, shorten_url
from wan_video_mcp.server.media.ranges import RangedFile, Unmeasurable

LOOPBACK = AddressPolicy.for_base_url("http://127.0.0.1:1")
PUBLIC_ONLY = AddressPolicy.for_base_url("https://example.com")
TOLERANCE = 0.1


# --- media made here ------------------------------------------------------------------------------------------


def make_mp4(path: Path, width: int, height: int, fps: int, seconds: float, *, faststart: bool) -> bytes:
    """H.264 of random noise (so the file is large: lossless noise does not compress); FFmpeg writes the
    moov at the end unless asked for faststart."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for index in range(round(fps * seconds)):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


def make_wav(seconds: float, rate: int = 8000) -> bytes:
    tone = b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(int(seconds * rate)))
    return wav(seconds, rate, samples=tone)


def make_mp3(path: Path, seconds: float, rate: int = 22050) -> bytes:
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        sample_format = stream.codec_context.format.name  # s32p, s16p or fltp, by FFmpeg build
        pack = {"s16p": "<h", "s16": "<h", "s32p": "<i", "s32": "<i"}.get(sample_format, "<f")
        scale = {"<h": 8000, "<i": 2**27}.get(pack, 0.25)
        total, pts = int(seconds * rate), 0
        while pts < total:
            count = min(1152, total - pts)
            frame = av.AudioFrame(format=sample_format, layout="mono", samples=count)
            frame.sample_rate = rate
            samples = b"".join(
                struct.pack(pack, type(scale)(scale * math.sin(i / 10))) for i in range(pts, pts + count)
            )
            frame.planes[0].update(samples.ljust(frame.planes[0].buffer_size, b"\0"))
            frame.pts = pts
            pts += count
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


def make_image(codec: str, width: int, height: int, pix_fmt: str, **options: str) -> bytes:
    context: Any = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = Fraction(1, 25)
    context.options = options
    frame = av.VideoFrame(width, height, "rgb24").reformat(format=pix_fmt)
    packets = [*context.encode(frame), *context.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("media")
    made = {
        # 3.0 s at 320x240: ~5 MB, the moov after all of it.
        "moov_at_end.mp4": make_mp4(tmp / "late.mp4", 320, 240, 10, 3.0, faststart=False),
        "faststart.mp4": make_mp4(tmp / "early.mp4", 64, 48, 5, 3.0, faststart=True),
        "clip.wav": make_wav(2.0),
        "still.png": make_image("png", 40, 30, "rgb24"),
        "still.jpg": make_image("mjpeg", 48, 32, "yuvj420p"),
        "still.bmp": make_image("bmp", 24, 18, "bgr24"),
        "lossy.webp": make_image("libwebp", 50, 20, "yuv420p"),
        "lossless.webp": make_image("libwebp", 52, 22, "bgra", lossless="1"),
    }
    try:
        av.codec.Codec("libmp3lame", "w")
    except Exception:
        pass  # no MP3 encoder in this FFmpeg build: the MP3 test skips
    else:
        made["clip.mp3"] = make_mp3(tmp / "clip.mp3", 2.0)
    return made


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # A client-wide key, as the server's shared client may carry: no media host may ever see it.
    async with httpx.AsyncClient(timeout=10, trust_env=False, headers={"Authorization": "Bearer sk-secret"}) as c:
        yield c


async def measured(
    http: httpx.AsyncClient,
    url: str,
    *,
    policy: AddressPolicy = LOOPBACK,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 20.0,
) -> MediaFacts:
    with anyio.fail_after(30):
        return await probe(http, url, policy=policy, max_bytes=max_bytes, timeout=timeout)


def assert_seconds(facts: MediaFacts, expected: float) -> None:
    assert facts.problem is None, facts.problem
    assert facts.seconds is not None and abs(facts.seconds - expected) <= TOLERANCE, facts.seconds
    assert not facts.unreachable


# --- durations over HTTP ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_moov_at_the_end_is_read_with_a_few_small_ranges(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    body = media["moov_at_end.mp4"]
    assert body.rfind(b"moov") > len(body) - 64 * 1024 and len(body) > 2_000_000  # the premise
    server.route("/late.mp4", body=body, content_type="video/mp4", ranges=True)

    facts = await measured(http, server.url("/late.mp4") + "?Signature=abc")

    assert_seconds(facts, 3.0)
    assert (facts.width, facts.height, facts.size_bytes) == (320, 240, len(body))
    assert facts.url.endswith("?Signature=abc")  # as given
    assert server.hits("/late.mp4") == 2  # the first 256 KiB, then the moov
    assert server.bytes_sent("/late.mp4") < 300 * 1024
    seen = server.headers("/late.mp4")
    assert all(h.get("range", "").startswith("bytes=") for h in seen)
    assert all("authorization" not in h for h in seen)


@pytest.mark.anyio
async def test_credentials_in_the_url_are_not_sent(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    server.route("/a.wav", body=media["clip.wav"], content_type="audio/wav", ranges=True)

    facts = await measured(http, server.url("/a.wav").replace("http://", "http://user:pw@"))

    assert_seconds(facts, 2.0)
    assert "pw" not in (facts.problem or "")
    assert [h.get("authorization") for h in server.headers("/a.wav")] == [None]


@pytest.mark.anyio
async def test_a_server_that_ignores_range_is_read_whole(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    body = media["moov_at_end.mp4"]
    server.route("/late.mp4", body=body, content_type="video/mp4")  # no ranges: 200 and everything

    facts = await measured(http, server.url("/late.mp4"))

    assert_seconds(facts, 3.0)
    assert (facts.width, facts.height, facts.size_bytes) == (320, 240, len(body))
    assert server.hits("/late.mp4") == 1
    assert server.headers("/late.mp4")[0]["range"].startswith("bytes=0-")


@pytest.mark.anyio
async def test_a_whole_body_over_the_limit_is_not_read(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    body = media["moov_at_end.mp4"]
    server.route("/late.mp4", body=body, content_type="video/mp4")

    facts = await measured(http, server.url("/late.mp4"), max_bytes=1024 * 1024)

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None and "larger than 1 MB" in facts.problem
    assert server.url("/late.mp4") in facts.problem


@pytest.mark.anyio
async def test_ranged_reads_stop_at_the_byte_limit(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    body = media["moov_at_end.mp4"]
    server.route("/late.mp4", body=body, content_type="video/mp4", ranges=True)

    facts = await measured(http, server.url("/late.mp4"), max_bytes=100_000)

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None and "needed more than 100000 bytes" in facts.problem
    assert server.bytes_sent("/late.mp4") <= 100_000


@pytest.mark.anyio
@pytest.mark.parametrize("ranges", [True, False])
async def test_a_faststart_mp4_is_measured_from_its_first_bytes(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes], ranges: bool
) -> None:
    body = media["faststart.mp4"]
    assert body.find(b"moov") < body.find(b"mdat")  # the premise
    server.route("/early.mp4", body=body, content_type="video/mp4", ranges=ranges)

    facts = await measured(http, server.url("/early.mp4"))

    assert_seconds(facts, 3.0)
    assert (facts.width, facts.height, facts.size_bytes) == (64, 48, len(body))
    assert server.hits("/early.mp4") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("ranges", [True, False])
async def test_a_wav_is_measured(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes], ranges: bool
) -> None:
    server.route("/a.wav", body=media["clip.wav"], content_type="audio/wav", ranges=ranges)

    facts = await measured(http, server.url("/a.wav"))

    assert_seconds(facts, 2.0)
    assert (facts.width, facts.height) == (None, None)


@pytest.mark.anyio
async def test_an_mp3_is_measured(server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]) -> None:
    if "clip.mp3" not in media:
        pytest.skip("this FFmpeg build has no MP3 encoder (libmp3lame)")
    server.route("/a.mp3", body=media["clip.mp3"], content_type="audio/mpeg", ranges=True)

    assert_seconds(await measured(http, server.url("/a.mp3")), 2.0)


@pytest.mark.anyio
async def test_a_redirect_is_followed_to_the_media(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    server.redirect("/go", "/late.mp4")
    server.route("/late.mp4", body=media["moov_at_end.mp4"], content_type="video/mp4", ranges=True)

    assert_seconds(await measured(http, server.url("/go")), 3.0)
    assert server.hits("/go") == 1  # later ranges go straight to where the redirect led


# --- images -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("still.png", (40, 30)),
        ("still.jpg", (48, 32)),
        ("still.bmp", (24, 18)),
        ("lossy.webp", (50, 20)),
        ("lossless.webp", (52, 22)),
    ],
)
async def test_an_image_has_a_size_and_no_length(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes], name: str, size: tuple[int, int]
) -> None:
    server.route(f"/{name}", body=media[name], content_type="image/any", ranges=True)

    facts = await measured(http, server.url(f"/{name}"))

    assert (facts.width, facts.height) == size
    assert facts.seconds is None and facts.problem is None and not facts.unreachable
    assert facts.size_bytes == len(media[name])


@pytest.mark.anyio
async def test_a_data_url_is_decoded_here(http: httpx.AsyncClient, media: dict[str, bytes]) -> None:
    image = "data:image/png;base64," + base64.b64encode(media["still.png"]).decode()
    audio = "data:audio/wav;base64," + base64.b64encode(media["clip.wav"]).decode()

    image_facts = await measured(http, image, policy=PUBLIC_ONLY)  # no network: no address to refuse
    audio_facts = await measured(http, audio, policy=PUBLIC_ONLY)

    assert (image_facts.width, image_facts.height, image_facts.seconds) == (40, 30, None)
    assert image_facts.problem is None and image_facts.size_bytes == len(media["still.png"])
    assert_seconds(audio_facts, 2.0)
    for facts, url in ((image_facts, image), (audio_facts, audio)):
        assert facts.url == shorten_url(url) and len(facts.url) < 100
        assert facts.url.startswith("data:") and f"({len(url)} characters)" in facts.url


@pytest.mark.anyio
async def test_a_damaged_data_url_is_a_problem(http: httpx.AsyncClient) -> None:
    facts = await measured(http, "data:video/mp4;base64,%%%not base64" + "A" * 5000)

    assert facts.seconds is None and facts.problem is not None and not facts.unreachable
    assert "A" * 100 not in facts.problem and "A" * 100 not in facts.url


# --- what cannot be measured ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_oss_url_is_left_to_the_provider(http: httpx.AsyncClient) -> None:
    facts = await measured(http, "oss://dashscope-instant/abc/clip.mp4?x-oss-signature=s")

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None
    assert "oss:// temporary URLs can only be read by the provider" in facts.problem
    assert "signature" not in facts.problem


@pytest.mark.anyio
async def test_a_loopback_url_is_refused_under_a_public_only_policy(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    server.route("/a.wav", body=media["clip.wav"], ranges=True)

    facts = await measured(http, server.url("/a.wav"), policy=PUBLIC_ONLY)

    assert facts.unreachable and facts.seconds is None
    assert facts.problem is not None and "not allowed" in facts.problem
    assert server.hits("/a.wav") == 0


@pytest.mark.anyio
async def test_a_redirect_to_a_private_address_is_refused(server: HostileServer, http: httpx.AsyncClient) -> None:
    server.redirect("/go", "http://10.0.0.1/a.mp4")

    facts = await measured(http, server.url("/go"))

    assert facts.unreachable
    assert facts.problem is not None and "not allowed" in facts.problem and "10.0.0.1" in facts.problem


@pytest.mark.anyio
async def test_a_404_is_unreachable(server: HostileServer, http: httpx.AsyncClient) -> None:
    facts = await measured(http, server.url("/missing.mp4"))

    assert facts.unreachable and facts.seconds is None
    assert facts.problem is not None and "404" in facts.problem and server.url("/missing.mp4") in facts.problem


@pytest.mark.anyio
async def test_a_redirect_loop_is_unreachable(server: HostileServer, http: httpx.AsyncClient) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")

    facts = await measured(http, server.url("/a"))

    assert facts.unreachable
    assert facts.problem is not None and "redirected more than 5 times" in facts.problem
    assert server.hits("/a") + server.hits("/b") == 6  # the first request and 5 redirects followed


@pytest.mark.anyio
async def test_an_html_page_is_not_a_media_file(server: HostileServer, http: httpx.AsyncClient) -> None:
    server.route("/v.mp4", body=b"<html><body>Sign in</body></html>" * 100, content_type="text/html; charset=utf-8")

    facts = await measured(http, server.url("/v.mp4"))

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None and "not a media file" in facts.problem


@pytest.mark.anyio
@pytest.mark.parametrize("ranges", [True, False])
async def test_unknown_bytes_are_not_recognised(server: HostileServer, http: httpx.AsyncClient, ranges: bool) -> None:
    server.route("/v.mp4", body=bytes(range(256)) * 40, ranges=ranges)

    facts = await measured(http, server.url("/v.mp4"))

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None and "format not recognised" in facts.problem
    assert facts.size_bytes == 256 * 40


@pytest.mark.anyio
@pytest.mark.parametrize("ranges", [True, False])
async def test_an_empty_body_is_a_problem(server: HostileServer, http: httpx.AsyncClient, ranges: bool) -> None:
    server.route("/v.mp4", body=b"", content_type="video/mp4", ranges=ranges)

    facts = await measured(http, server.url("/v.mp4"))

    assert facts.seconds is None and not facts.unreachable and facts.size_bytes == 0
    assert facts.problem is not None and "is empty" in facts.problem


@pytest.mark.anyio
async def test_a_truncated_mp4_is_a_problem_not_an_exception(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    server.route("/cut.mp4", body=media["moov_at_end.mp4"][:300_000], content_type="video/mp4", ranges=True)

    facts = await measured(http, server.url("/cut.mp4"))

    assert facts.seconds is None and not facts.unreachable and facts.problem is not None


@pytest.mark.anyio
async def test_a_refused_connection_is_unreachable(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused

        facts = await measured(http, f"http://127.0.0.1:{port}/a.mp4")

    assert facts.unreachable and facts.problem is not None and "connection" in facts.problem


@pytest.mark.anyio
async def test_a_server_that_never_answers_is_unreachable_after_the_timeout(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # the kernel accepts the connection; nobody ever answers
        port = sock.getsockname()[1]

        with anyio.fail_after(5):
            facts = await measured(http, f"http://127.0.0.1:{port}/a.mp4", timeout=0.5)

    assert facts.unreachable and facts.problem is not None and "within 0.5 s" in facts.problem


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.mp4", "file:///etc/passwd", "not a url", "http:///nohost"])
async def test_a_url_that_cannot_be_fetched_is_unreachable(http: httpx.AsyncClient, url: str) -> None:
    facts = await measured(http, url)

    assert facts.unreachable and facts.seconds is None and facts.problem is not None


@pytest.mark.anyio
async def test_a_server_that_dribbles_bytes_costs_at_most_16_requests(
    router: respx.MockRouter, media: dict[str, bytes]
) -> None:
    body = media["clip.wav"]
    asked: list[str] = []

    def one_byte(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["Range"])
        first = int(request.headers["Range"].removeprefix("bytes=").split("-")[0])
        return httpx.Response(
            206, content=body[first : first + 1], headers={"Content-Range": f"bytes {first}-{first}/{len(body)}"}
        )

    router.get("http://127.0.0.1:9/a.wav").mock(side_effect=one_byte)
    async with httpx.AsyncClient() as client:
        facts = await measured(client, "http://127.0.0.1:9/a.wav")

    assert facts.seconds is None and not facts.unreachable
    assert facts.problem is not None and "more than 16 requests" in facts.problem
    assert len(asked) == 16


def test_a_ranged_file_reads_across_windows_and_keeps_its_failure() -> None:
    data = bytes(range(256)) * 4
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, length: int) -> bytes:
        fetched.append((start, length))
        if start >= 900:
            raise Unmeasurable("gone")
        return data[start : start + min(length, 100)]  # a server may send less than asked

    file = RangedFile(len(data), [(0, data[:10]), (500, data[500:600])], fetch)
    assert file.read(20) == data[:20]
    file.seek(490)
    assert file.read(120) == data[490:610]
    # Up to the next window it holds, not beyond; then from 490, and from 600 where the window at 500 ends.
    assert fetched == [(10, 490), (490, 534), (600, 424)]
    file.seek(950)
    for _ in range(2):
        with pytest.raises(Unmeasurable):
            file.read(1)
    assert file.failure is not None and sum(1 for start, _ in fetched if start >= 900) == 1


# --- many at once -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_probe_all_measures_each_distinct_url_once(
    server: HostileServer, http: httpx.AsyncClient, media: dict[str, bytes]
) -> None:
    server.route("/late.mp4", body=media["moov_at_end.mp4"], content_type="video/mp4", ranges=True)
    server.route("/a.wav", body=media["clip.wav"], ranges=True)
    urls = [server.url("/late.mp4"), server.url("/a.wav"), server.url("/late.mp4"), server.url("/gone.mp4")]

    with anyio.fail_after(30):
        found = await probe_all(http, urls, policy=LOOPBACK, concurrency=2)

    assert list(found) == [server.url("/late.mp4"), server.url("/a.wav"), server.url("/gone.mp4")]
    assert_seconds(found[server.url("/late.mp4")], 3.0)
    assert_seconds(found[server.url("/a.wav")], 2.0)
    assert found[server.url("/gone.mp4")].unreachable
    assert server.hits("/a.wav") == 1 and server.hits("/late.mp4") == 2
