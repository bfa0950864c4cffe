"""Single frames out of a local video as PNG bytes: the first one, and the last one (to extend a video from).

PyAV is optional and imported where it is used. The file is read through a Python file object, and FFmpeg's
requests to open any other file or URL named inside it (a playlist, a reference movie) are refused, as in
``media.inspect``. All functions are synchronous: run them in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = ["NestedOpenRefused", "decoded_frames", "first_frame_png", "last_frame_png", "open_local", "video_stream"]

logger = logging.getLogger(__name__)

# The last frame is looked for from a keyframe at or before this long before the end.
_TAIL_SECONDS = Fraction(1)


class NestedOpenRefused(Exception):
    """FFmpeg asked to open another file or URL named inside the one being read."""


@contextmanager
def open_local(path: Path) -> Iterator[InputContainer]:
    """``path`` opened with PyAV for reading, without following anything it names."""
    import av

    with open(path, "rb") as file, av.open(file, "r", io_open=_refuse_nested_open) as container:
        yield container


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> Any:
    raise NestedOpenRefused(url)


def video_stream(container: InputContainer) -> VideoStream | None:
    """The first video stream that is a video (not a cover picture), or None."""
    import av.stream

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def first_frame_png(video: Path) -> bytes:
    """The first decodable frame of ``video`` as PNG bytes; ValueError when it has none."""
    with _reading(video) as container:
        stream = _require_video(container, video)
        for frame in decoded_frames(container, stream):
            return _png(frame)
    raise ValueError(f"{video.name} has a video stream but no frame of it could be decoded")


def last_frame_png(video: Path) -> bytes:
    """The last decodable frame of ``video`` as PNG bytes; ValueError when it has none.

    Seeks to a keyframe at or before one second before the end and decodes forward from there; when that
    finds nothing (no index, a damaged tail), decodes the whole file from the start.
    """
    with _reading(video) as container:
        stream = _require_video(container, video)
        target = _tail_target(container, stream)
        last = _last(container, stream) if target is None else _last_after_seek(container, stream, target)
    if last is None and target is not None:
        with _reading(video) as container:  # a fresh demuxer and decoder: a failed seek may leave either unusable
            last = _last(container, _require_video(container, video))
    if last is None:
        raise ValueError(f"{video.name} has a video stream but no frame of it could be decoded")
    return _png(last)


def _last(container: InputContainer, stream: VideoStream) -> VideoFrame | None:
    last = None
    for frame in decoded_frames(container, stream):
        last = frame
    return last


@contextmanager
def _reading(video: Path) -> Iterator[InputContainer]:
    import av

    try:
        with open_local(video) as container:
            yield container
    except (av.FFmpegError, NestedOpenRefused, UnicodeError) as exc:
        raise ValueError(f"could not read {video.name} as a video ({_short(exc)})") from exc
    except OSError as exc:
        raise ValueError(f"could not read {video.name} ({exc.strerror or type(exc).__name__})") from exc


def _require_video(container: InputContainer, video: Path) -> VideoStream:
    stream = video_stream(container)
    if stream is None:
        raise ValueError(f"{video.name} has no video stream, so it has no frames to take")
    return stream


def _tail_target(container: InputContainer, stream: VideoStream) -> int | None:
    """Where to seek, in the stream's time base: a second before the end; None when the length is unknown."""
    if not stream.time_base:
        return None
    if stream.duration and stream.duration > 0:
        end = (stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base
    elif container.duration and container.duration > 0:
        end = Fraction(container.duration, 1_000_000)  # av.time_base
    else:
        return None
    if end <= _TAIL_SECONDS:
        return None  # as quick to decode it all
    return int((end - _TAIL_SECONDS) / stream.time_base)


def _last_after_seek(container: InputContainer, stream: VideoStream, target: int) -> VideoFrame | None:
    import av

    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        return _last(container, stream)
    except av.FFmpegError:
        logger.debug("seeking near the end of a video failed; decoding it from the start", exc_info=True)
        return None


@overload
def decoded_frames(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]: ...
@overload
def decoded_frames(container: InputContainer, stream: AudioStream) -> Iterator[AudioFrame]: ...
def decoded_frames(container: InputContainer, stream: VideoStream | AudioStream) -> Iterator[VideoFrame | AudioFrame]:
    """The stream's frames in order, skipping packets that fail to decode; ends early at a damaged tail."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            logger.debug("a stream's packets end early", exc_info=True)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue
        yield from (frame for frame in frames if isinstance(frame, (av.VideoFrame, av.AudioFrame)))


def _png(frame: VideoFrame) -> bytes:
    import av

    rgb = frame.reformat(format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    return b"".join(bytes(packet) for packet in (*encoder.encode(rgb), *encoder.encode(None)))


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())[:120]
