"""The downloader against httpx.MockTransport, and media facts from a real tiny MP4.

Hostile servers (HTML answers, redirects to private addresses, loops) are in
test_downloads_hostile.py, against a real loopback server.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from wan_video_mcp.server.errors import DownloadError, VideoUnavailable
from wan_video_mcp.server.jobs import downloads
from wan_video_mcp.server.jobs.downloads import (
    AddressPolicy,
    DownloadFailed,
    DownloadResult,
    MediaInfo,
    RemoteUrlExpired,
    file_sha256,
    poster_frame_png,
    probe,
    redact_url,
    video_path,
)
from wan_video_mcp.server.simulator import RenderJob, render_mp4

OSS_URL = (
    "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1d/ab/task-1.mp4"
    "?Expires=1735689600&OSSAccessKeyId=LTAIexample&Signature=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
)
CDN_URL = "https://cdn.example.com/videos/task-1.mp4?token=secret-token"
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>AccessDenied</Code>\n'
    b"  <Message>Request has expired.</Message>\n  <RequestId>65A1B2C3</RequestId>\n</Error>\n"
)


def _real_mp4() -> bytes:
    """The simulator's fixed 160x90 H.264 clip (no PyAV needed to make it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        render_mp4(path, RenderJob(160, 90, 2, 8, False, "t", "p", "clip"), use_pyav=False)
        return path.read_bytes()


def _padded_mp4(size: int) -> bytes:
    """A real MP4 of exactly ``size`` bytes: the clip, then one ISO-BMFF "free" box of filler."""
    clip = _real_mp4()
    filler = size - len(clip) - 8
    return clip + (filler + 8).to_bytes(4, "big") + b"free" + (bytes(range(256)) * (filler // 256 + 1))[:filler]


# A real MP4 (the downloader refuses anything else) that crosses the 1 MiB
# write batch more than once, with a ragged tail.
BODY = _padded_mp4(256 * 12_345)

Handler = Callable[[httpx.Request], httpx.Response]


async def _public_dns(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # no test asks a real DNS server


# The hosts above are public; this policy "resolves" them without the network.
PUBLIC_ONLY = AddressPolicy(resolve=_public_dns)


async def download(client: httpx.AsyncClient, url: str, dest: Path, **kwargs: Any) -> DownloadResult:
    """``downloads.download`` with the stub-DNS public-only policy unless a test passes its own."""
    kwargs.setdefault("policy", PUBLIC_ONLY)
    return await downloads.download(client, url, dest, **kwargs)


def make_client(handler: Handler, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return video_path(tmp_path, "task-1")


# --- downloading -------------------------------------------------------------


@pytest.mark.anyio
async def test_download_stores_the_whole_body_with_its_size_and_sha256(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BODY, headers={"Content-Type": "video/mp4"})

    async with make_client(handler) as client:
        result = await download(client, OSS_URL, dest)

    assert result == DownloadResult(
        path=dest, size=len(BODY), sha256=hashlib.sha256(BODY).hexdigest(), content_type="video/mp4"
    )
    assert dest.read_bytes() == BODY
    assert file_sha256(dest) == result.sha256
    assert names_in(dest.parent) == ["task-1.mp4"]


@pytest.mark.anyio
async def test_download_of_a_chunked_body_without_content_length_succeeds(dest: Path) -> None:
    parts = [BODY[:1000], BODY[1000:700_000], BODY[700_000:]]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(*parts))

    async with make_client(handler) as client:
        result = await download(client, CDN_URL, dest)

    assert (result.size, result.sha256, result.content_type) == (len(BODY), hashlib.sha256(BODY).hexdigest(), None)
    assert dest.read_bytes() == BODY


@pytest.mark.anyio
async def test_the_clients_authorization_header_never_reaches_the_storage_host(dest: Path) -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, content=BODY)

    async with make_client(handler, headers={"Authorization": "Bearer sk-provider-key"}, auth=("u", "p")) as client:
        await download(client, OSS_URL, dest)
        await download(client, OSS_URL, dest, headers={"Authorization": "Bearer for-this-host"})

    assert "authorization" not in seen[0]
    assert seen[0]["accept-encoding"] == "identity"
    assert seen[1]["authorization"] == "Bearer for-this-host"


@pytest.mark.anyio
async def test_an_existing_file_is_replaced_atomically(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old video")

    async with make_client(lambda request: httpx.Response(200, content=BODY)) as client:
        await download(client, OSS_URL, dest)

    assert dest.read_bytes() == BODY
    assert names_in(dest.parent) == ["task-1.mp4"]


@pytest.mark.anyio
async def test_a_failed_download_keeps_the_existing_file(dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old video")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(b"x" * 10), headers={"Content-Length": "100"})

    async with make_client(handler) as client:
        with pytest.raises(DownloadError):
            await download(client, OSS_URL, dest)

    assert dest.read_bytes() == b"old video"
    assert names_in(dest.parent) == ["task-1.mp4"]


@pytest.mark.anyio
async def test_a_body_shorter_than_content_length_is_a_retryable_error_leaving_no_file(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(BODY[:500]), headers={"Content-Length": str(len(BODY))})

    async with make_client(handler) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert caught.value.retryable is True
    assert caught.value.code == "download_failed"
    assert f"500 of {len(BODY)} bytes" in caught.value.message
    assert not dest.exists()
    assert names_in(dest.parent) == []


@pytest.mark.anyio
async def test_a_body_longer_than_content_length_is_an_error_leaving_no_file(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(BODY[:10], BODY[10:20]), headers={"Content-Length": "10"})

    async with make_client(handler) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert caught.value.retryable is True
    assert names_in(dest.parent) == []


@pytest.mark.anyio
async def test_a_content_length_over_the_limit_is_refused_before_any_file_is_made(tmp_path: Path) -> None:
    dest = tmp_path / "videos" / "task-1.mp4"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(b"x"), headers={"Content-Length": "1000"})

    async with make_client(handler) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest, max_bytes=999)

    assert (caught.value.retryable, caught.value.http_status) == (False, 200)
    assert not dest.parent.exists()


@pytest.mark.anyio
async def test_a_streamed_body_over_the_limit_is_abandoned(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks(BODY[:600], BODY[600:1200]))

    async with make_client(handler) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest, max_bytes=1000)

    assert caught.value.retryable is False
    assert names_in(dest.parent) == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", [403, 404, 410])
async def test_an_oss_url_refused_with_403_404_or_410_has_expired(dest: Path, status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=b"<Error><Code>NoSuchKey</Code></Error>")

    async with make_client(handler) as client:
        with pytest.raises(VideoUnavailable) as caught:
            await download(client, OSS_URL, dest)

    error = caught.value
    assert isinstance(error, RemoteUrlExpired)
    assert error.to_dict() == {
        "error_code": "video_unavailable",
        "message": f"the remote video URL has expired (HTTP {status} from {redact_url(OSS_URL)})",
        "retryable": False,
        "hint": RemoteUrlExpired.hint,
        "http_status": status,
    }
    assert not dest.parent.exists() or names_in(dest.parent) == []


@pytest.mark.anyio
async def test_an_expired_request_xml_body_means_expired_on_any_host(dest: Path) -> None:
    async with make_client(lambda request: httpx.Response(403, content=EXPIRED_XML)) as client:
        with pytest.raises(RemoteUrlExpired) as caught:
            await download(client, CDN_URL, dest)

    assert caught.value.retryable is False


@pytest.mark.anyio
async def test_another_4xx_is_a_download_error_that_is_not_retryable(dest: Path) -> None:
    async with make_client(lambda request: httpx.Response(404, text="not here")) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, CDN_URL, dest)

    assert (caught.value.retryable, caught.value.http_status) == (False, 404)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "retry_after", "expected"), [(500, None, None), (503, "7", 7.0), (429, "2", 2.0)])
async def test_5xx_and_429_are_retryable_and_carry_retry_after(
    dest: Path, status: int, retry_after: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}

    async with make_client(lambda request: httpx.Response(status, headers=headers)) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert (caught.value.retryable, caught.value.http_status, caught.value.retry_after) == (True, status, expected)
    assert not dest.parent.exists() or names_in(dest.parent) == []


@pytest.mark.anyio
async def test_a_connection_failure_is_retryable(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with make_client(handler) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert caught.value.retryable is True
    assert caught.value.http_status is None


@pytest.mark.anyio
async def test_a_connection_lost_mid_body_is_retryable_and_leaves_no_file(dest: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield BODY[:2_000_000]  # more than one write batch reaches the temp file
        raise httpx.ReadError("connection reset by peer")

    async with make_client(lambda request: httpx.Response(200, content=broken())) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert caught.value.retryable is True
    assert names_in(dest.parent) == []


@pytest.mark.anyio
async def test_a_cancelled_download_removes_its_temporary_file(dest: Path) -> None:
    second_chunk_asked = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield BODY[:1000]
        second_chunk_asked.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    async with make_client(lambda request: httpx.Response(200, content=stalls())) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(download, client, OSS_URL, dest)
                await second_chunk_asked.wait()
                assert [name.endswith(".part") for name in names_in(dest.parent)] == [True]
                tg.cancel_scope.cancel()

    assert names_in(dest.parent) == []


@pytest.mark.anyio
async def test_a_non_http_url_is_refused_without_retry(dest: Path) -> None:
    async with make_client(lambda request: httpx.Response(200)) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, "file:///etc/passwd", dest)

    assert caught.value.retryable is False


@pytest.mark.anyio
async def test_logs_and_messages_never_show_the_signed_query(dest: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wan_video_mcp.server.jobs.downloads")

    async with make_client(lambda request: httpx.Response(200, content=BODY)) as client:
        await download(client, OSS_URL, dest)
    async with make_client(lambda request: httpx.Response(500)) as client:
        with pytest.raises(DownloadFailed) as caught:
            await download(client, OSS_URL, dest)

    assert "oss-cn-beijing.aliyuncs.com/1d/ab/task-1.mp4" in caplog.text
    for secret in ("Signature", "OSSAccessKeyId", "LTAIexample", "c2VjcmV0"):
        assert secret not in caplog.text
        assert secret not in caught.value.message


def test_redact_url_keeps_scheme_host_port_and_path_only() -> None:
    assert redact_url("https://user:pw@host.example:8443/a/b.mp4?sig=1#frag") == "https://host.example:8443/a/b.mp4"


# --- file naming ---------------------------------------------------------------


def test_video_path_names_the_file_by_task_id_under_the_data_dir(tmp_path: Path) -> None:
    assert video_path(tmp_path, "0f1e2d3c-4b5a.v2_x") == tmp_path.resolve() / "videos" / "0f1e2d3c-4b5a.v2_x.mp4"


@pytest.mark.parametrize(
    "task_id",
    ["../escape", "..", ".hidden", "a/b", "a\\b", "/etc/passwd", "", "a\n", "a b", "é", "x" * 129, "-lead"],
)
def test_video_path_rejects_task_ids_that_are_not_plain_names(tmp_path: Path, task_id: str) -> None:
    with pytest.raises(ValueError):
        video_path(tmp_path, task_id)


def test_video_path_rejects_a_videos_dir_symlinked_outside_the_data_dir(tmp_path: Path) -> None:
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data_dir.mkdir()
    elsewhere.mkdir()
    (data_dir / "videos").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(ValueError, match="escapes the data directory"):
        video_path(data_dir, "task-1")


# --- media facts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 64x48, 1 s, 8 fps H.264 MP4 with a mono AAC track."""
    av = pytest.importorskip("av")
    from av.video.frame import VideoFrame

    path = tmp_path_factory.mktemp("media") / "tiny.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=8000, layout="mono")
        for index in range(8):
            frame = VideoFrame(64, 48, "rgb24")
            frame.planes[0].update(bytes([index * 30]) * frame.planes[0].buffer_size)
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        mux_silence(container, audio)
    return path


def mux_silence(container: Any, audio: Any, seconds: int = 1) -> None:
    """One second (by default) of mono 8 kHz silence into ``audio`` of an open PyAV output container."""
    from av.audio.frame import AudioFrame

    for start in range(0, 8000 * seconds, 1024):
        samples = AudioFrame(format="fltp", layout="mono", samples=1024)
        samples.planes[0].update(bytes(samples.planes[0].buffer_size))
        samples.sample_rate, samples.pts = 8000, start
        container.mux(audio.encode(samples))
    container.mux(audio.encode(None))


def test_probe_reads_size_duration_codecs_and_audio(tiny_mp4: Path) -> None:
    info = probe(tiny_mp4)

    assert info is not None
    assert info.duration_seconds == pytest.approx(1.0, abs=0.1)
    assert info == MediaInfo(
        duration_seconds=info.duration_seconds,
        width=64,
        height=48,
        video_codec="h264",
        fps=8.0,
        has_audio=True,
        audio_codec="aac",
    )


def test_probe_returns_none_for_a_file_that_is_not_media(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"<Error><Code>AccessDenied</Code></Error>")

    assert probe(junk) is None
    assert probe(tmp_path / "missing.mp4") is None


def test_poster_frame_is_a_png_scaled_to_max_width(tiny_mp4: Path) -> None:
    av = pytest.importorskip("av")

    png = poster_frame_png(tiny_mp4, max_width=32)

    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    # The PNG header's IHDR chunk holds width and height: 32x24 keeps 64x48's aspect.
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (32, 24)
    # And PyAV can read it back as one image.
    with av.open(io.BytesIO(png), format="png_pipe") as image:
        assert next(image.decode(video=0)).width == 32


def test_poster_frame_is_not_upscaled_and_none_for_junk(tiny_mp4: Path, tmp_path: Path) -> None:
    png = poster_frame_png(tiny_mp4)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")

    assert png is not None and int.from_bytes(png[16:20], "big") == 64
    assert poster_frame_png(junk) is None
