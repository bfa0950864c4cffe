"""Joining clips into one MP4 (copied when they match, re-encoded when not) and taking frames out of a video."""

from __future__ import annotations

import array
import io
import math
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.media_files import BLUE, GREEN, mp4, wav
from wan_video_mcp.server.media.frames import first_frame_png, last_frame_png
from wan_video_mcp.server.media.join import JoinError, join_clips

FPS = 8


def clip_with_sound(
    path: Path, seconds: float, audio_seconds: float | None = None, size: tuple[int, int] = (320, 240)
) -> Path:
    """An H.264 clip at 8 fps (with B-frames, as providers send) and AAC 44.1 kHz stereo: a 440 Hz tone."""
    audio_seconds = seconds if audio_seconds is None else audio_seconds
    width, height = size
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=44_100, layout="stereo")
        for i in range(round(seconds * FPS)):
            rgb = av.VideoFrame(width, height, "rgb24")
            rgb.planes[0].update(bytes(BLUE if i % 2 else GREEN) * (width * height))
            frame = rgb.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        total = round(audio_seconds * 44_100)
        for start in range(0, total, 1024):
            count = min(1024, total - start)
            tone = b"".join(
                round(8000 * math.sin(2 * math.pi * 440 * (start + n) / 44_100)).to_bytes(2, "little", signed=True) * 2
                for n in range(count)
            )
            sound = av.AudioFrame(format="s16", layout="stereo", samples=count)
            sound.planes[0].update(tone)
            sound.rate, sound.pts, sound.time_base = 44_100, start, Fraction(1, 44_100)
            container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return path


def silent_clip(path: Path, seconds: float, size: tuple[int, int] = (320, 240)) -> Path:
    path.write_bytes(mp4(seconds, size))
    return path


def decoded_seconds(path: Path, kind: str) -> float:
    """How long the ``kind`` ("video" or "audio") track lasts, from its decoded frames."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        end = 0.0
        for frame in container.decode(stream):
            assert frame.pts is not None and frame.time_base is not None
            length = frame.samples / frame.sample_rate if isinstance(frame, av.AudioFrame) else 1 / FPS
            end = max(end, float(frame.pts * frame.time_base) + length)
        return end


def loudness(path: Path, start: float, end: float) -> float:
    """The loudest sample of the first channel between ``start`` and ``end`` seconds (1.0: full scale)."""
    with av.open(str(path)) as container:
        loudest = 0.0
        for frame in container.decode(audio=0):
            assert frame.format.name == "fltp" and frame.pts is not None and frame.time_base is not None
            first = float(frame.pts * frame.time_base)
            samples = array.array("f", bytes(frame.planes[0])[: frame.samples * 4])
            for i, value in enumerate(samples):
                if start <= first + i / frame.sample_rate < end:
                    loudest = max(loudest, abs(value))
        return loudest


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def pixel(png_bytes: bytes) -> tuple[int, int, int]:
    with av.open(io.BytesIO(png_bytes)) as container:
        data = bytes(next(container.decode(video=0)).to_rgb().planes[0])
    return data[0], data[1], data[2]


def close_to(rgb: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(rgb, expected, strict=True))


def test_clips_with_the_same_parameters_are_copied_one_after_another(tmp_path: Path) -> None:
    clips = [clip_with_sound(tmp_path / f"shot-{i}.mp4", seconds) for i, seconds in enumerate((2.0, 1.5, 2.5))]

    joined = join_clips(clips, tmp_path / "joined.mp4")

    assert joined.method == "copy"
    assert joined.path == tmp_path / "joined.mp4"
    assert joined.clips == pytest.approx((2.0, 1.5, 2.5))
    assert joined.seconds == pytest.approx(6.0, abs=0.2)
    assert frame_count(joined.path) == pytest.approx(6.0 * FPS, abs=1)
    assert decoded_seconds(joined.path, "video") == pytest.approx(6.0, abs=0.2)
    assert decoded_seconds(joined.path, "audio") == pytest.approx(6.0, abs=0.2)
    with av.open(str(joined.path)) as container:
        assert container.streams.video[0].average_rate == FPS
    assert joined.path.read_bytes().find(b"moov") < joined.path.read_bytes().find(b"mdat")  # faststart
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_clips_of_different_sizes_are_reencoded_at_the_first_clips_size(tmp_path: Path) -> None:
    sizes = [(320, 240), (160, 160), (240, 320)]
    clips = [silent_clip(tmp_path / f"shot-{i}.mp4", 1.5, size) for i, size in enumerate(sizes)]

    joined = join_clips(clips, tmp_path / "joined.mp4")

    assert joined.method == "encode"
    assert joined.seconds == pytest.approx(4.5, abs=0.2)
    with av.open(str(joined.path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 320, 240)
        assert video.average_rate == FPS
        assert not container.streams.audio
    assert frame_count(joined.path) == pytest.approx(4.5 * FPS, abs=1)


def test_a_clip_without_sound_is_silent_for_its_length_between_clips_with_sound(tmp_path: Path) -> None:
    clips = [
        clip_with_sound(tmp_path / "a.mp4", 1.5),
        silent_clip(tmp_path / "b.mp4", 2.0),
        clip_with_sound(tmp_path / "c.mp4", 1.0),
    ]

    joined = join_clips(clips, tmp_path / "joined.mp4")

    assert joined.method == "encode"
    assert joined.seconds == pytest.approx(4.5, abs=0.2)
    with av.open(str(joined.path)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.sample_rate, audio.layout.name) == ("aac", 48_000, "stereo")
    assert decoded_seconds(joined.path, "audio") == pytest.approx(4.5, abs=0.2)
    assert decoded_seconds(joined.path, "video") == pytest.approx(4.5, abs=0.2)
    # The tone (0.24 of full scale) plays under the first and last clips, silence under the middle one.
    assert loudness(joined.path, 0.1, 1.4) > 0.1
    assert loudness(joined.path, 1.6, 3.4) < 0.01
    assert loudness(joined.path, 3.6, 4.4) > 0.1


@pytest.mark.parametrize(("next_size", "method"), [((320, 240), "copy"), ((160, 120), "encode")])
def test_sound_longer_than_its_picture_is_cut(tmp_path: Path, next_size: tuple[int, int], method: str) -> None:
    clips = [
        clip_with_sound(tmp_path / "long.mp4", 1.5, audio_seconds=3.0),
        clip_with_sound(tmp_path / "next.mp4", 1.0, size=next_size),
    ]

    joined = join_clips(clips, tmp_path / "joined.mp4")

    assert joined.method == method
    assert joined.seconds == pytest.approx(2.5, abs=0.2)
    assert decoded_seconds(joined.path, "audio") == pytest.approx(2.5, abs=0.2)
    assert decoded_seconds(joined.path, "video") == pytest.approx(2.5, abs=0.2)


def test_sound_shorter_than_its_picture_is_padded_with_silence(tmp_path: Path) -> None:
    clips = [clip_with_sound(tmp_path / "short.mp4", 2.0, audio_seconds=0.5), clip_with_sound(tmp_path / "b.mp4", 1.0)]

    joined = join_clips(clips, tmp_path / "joined.mp4")

    assert joined.method == "encode"  # copying would leave a gap that pulls the next clip's sound early
    assert joined.seconds == pytest.approx(3.0, abs=0.2)
    assert decoded_seconds(joined.path, "audio") == pytest.approx(3.0, abs=0.2)


def test_a_single_clip_is_copied_whole(tmp_path: Path) -> None:
    joined = join_clips([silent_clip(tmp_path / "only.mp4", 3.0)], tmp_path / "joined.mp4")

    assert (joined.method, joined.clips) == ("copy", (3.0,))
    assert joined.seconds == pytest.approx(3.0, abs=0.2)
    assert frame_count(joined.path) == 24
    assert pixel(last_frame_png(joined.path)) == pixel(last_frame_png(tmp_path / "only.mp4"))


def test_joining_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "joined.mp4"
    out.write_bytes(b"an older join")

    join_clips([silent_clip(tmp_path / "a.mp4", 1.0), silent_clip(tmp_path / "b.mp4", 1.0)], out)

    assert frame_count(out) == 16


def test_zero_clips_cannot_be_joined(tmp_path: Path) -> None:
    assert issubclass(JoinError, ValueError)  # callers that catch bad input catch it
    with pytest.raises(JoinError, match="no clips"):
        join_clips([], tmp_path / "joined.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("sound.wav", wav(1.0), "clip 2 \\(sound.wav\\) has no video stream"),
        ("notes.mp4", b"not a video at all" * 50, "clip 2 \\(notes.mp4\\) could not be read as a video"),
    ],
)
def test_a_clip_that_is_not_a_video_is_named_in_the_error(tmp_path: Path, name: str, body: bytes, problem: str) -> None:
    (tmp_path / name).write_bytes(body)
    out = tmp_path / "joined.mp4"

    with pytest.raises(JoinError, match=problem):
        join_clips([silent_clip(tmp_path / "a.mp4", 1.0), tmp_path / name], out)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.mp4", name])


def test_a_missing_clip_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(JoinError, match="clip 1 \\(gone.mp4\\) could not be read"):
        join_clips([tmp_path / "gone.mp4"], tmp_path / "joined.mp4")


def test_the_last_frame_is_the_last_colour_and_the_first_frame_the_first(tmp_path: Path) -> None:
    video = tmp_path / "blue-then-green.mp4"
    video.write_bytes(mp4(3.0, switch_at=2.5))

    assert close_to(pixel(last_frame_png(video)), GREEN)
    assert close_to(pixel(first_frame_png(video)), BLUE)


def test_the_last_frame_of_a_clip_shorter_than_a_second(tmp_path: Path) -> None:
    video = tmp_path / "short.mp4"
    video.write_bytes(mp4(0.5, switch_at=0.25))

    assert close_to(pixel(last_frame_png(video)), GREEN)


@pytest.mark.parametrize(("name", "body"), [("sound.wav", wav(1.0)), ("notes.mp4", b"not a video at all" * 50)])
def test_a_file_without_video_has_no_frames_to_take(tmp_path: Path, name: str, body: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(body)

    with pytest.raises(ValueError, match=name):
        last_frame_png(path)
    with pytest.raises(ValueError, match=name):
        first_frame_png(path)
