"""Whether a file is a video to hand out, and facts read from it.

``verify_video_file`` checks the MP4 box signature, that the top-level boxes tile the file, and with
PyAV (an optional dependency) that it opens with a video stream. ``probe`` and ``poster_frame_png``
read an MP4 with PyAV; they return ``None`` without it. All are synchronous: run them in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wan_video_mcp.server.jobs.downloads.failures import QUOTE_BYTES, quote

if TYPE_CHECKING:
    import av.container
    import av.video.frame
    import av.video.stream

T = TypeVar("T")

# The first box of an ISO-BMFF file (MP4, MOV, fragmented MP4) is one of these.
_FIRST_BOX_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"})
SIGNATURE_BYTES = 12
POSTER_AT_SECONDS = 1.0


@dataclass(frozen=True)
class MediaInfo:
    """Facts read from a media file's container and stream headers."""

    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    fps: float | None
    has_audio: bool
    audio_codec: str | None


def signature_problem(head: bytes) -> str | None:
    """Why ``head``, the first bytes of a body, cannot begin an MP4; None when it can."""
    if len(head) < SIGNATURE_BYTES:
        return f"is only {len(head)} bytes long, too short to be an MP4"
    size = int.from_bytes(head[:4], "big")
    if head[4:8] not in _FIRST_BOX_TYPES or 1 < size < 8:
        return f"does not start like an MP4 (no ISO-BMFF box; it begins {quote(head)})"
    return None


def verify_video_file(path: Path) -> str | None:
    """Why the file at ``path`` is not a video to hand out; None when it is one.

    Always checks the MP4 box signature; with PyAV also that the container
    opens and has a video stream. The reason reads after the file's name:
    "<path> is not a playable MP4 (PyAV: no video stream)". Blocking: run it
    in a worker thread.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(QUOTE_BYTES)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    reason = signature_problem(head) or _box_walk_problem(path)
    if reason is not None:
        return reason
    try:
        has_video = _read_with_pyav(path, lambda container: bool(container.streams.video))
    except _Unreadable as exc:
        return f"is not a playable MP4 (PyAV: {exc})"
    return "is not a playable MP4 (PyAV: no video stream)" if has_video is False else None


def has_mp4_signature(path: Path) -> bool:
    """Whether the file at ``path`` begins like an MP4: the cheap check of a file already accepted once.

    Reads 12 bytes; False when the file cannot be read. ``verify_video_file``
    is the full check.
    """
    try:
        with open(path, "rb") as fh:
            return signature_problem(fh.read(SIGNATURE_BYTES)) is None
    except OSError:
        return False


def _box_walk_problem(path: Path) -> str | None:
    """Why the top-level ISO-BMFF boxes do not tile the file exactly (a body cut short, junk appended);
    None when they do. Reads only the 8- or 16-byte box headers."""
    try:
        with open(path, "rb") as fh:
            total = os.fstat(fh.fileno()).st_size
            offset = 0
            while offset < total:
                fh.seek(offset)
                header = fh.read(16)
                if len(header) < 8:
                    return f"ends inside a box header at byte {offset} of {total} (cut short)"
                size = int.from_bytes(header[:4], "big")
                if size == 1:  # a 64-bit size follows the type
                    if len(header) < 16:
                        return f"ends inside a box header at byte {offset} of {total} (cut short)"
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # the last box runs to the end of the file
                    return None
                if size < 8:
                    return f"has a malformed box at byte {offset} (size {size})"
                if offset + size > total:
                    return f"is cut short: a box at byte {offset} needs {size} bytes, the file has {total - offset}"
                offset += size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def probe(path: Path) -> MediaInfo | None:
    """Duration, size, codecs and audio presence of a video; None without PyAV or when unreadable."""
    try:
        return _read_with_pyav(path, _media_info)
    except _Unreadable:
        return None


class _Unreadable(Exception):
    """PyAV could not read the file; the message is its short reason."""


def _read_with_pyav(path: Path, use: Callable[[av.container.InputContainer], T]) -> T | None:
    """``use`` applied to the opened file; None without PyAV; ``_Unreadable`` when PyAV cannot read it."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            return use(container)
    except av.FFmpegError as exc:
        raise _Unreadable(_short(exc.strerror or type(exc).__name__)) from exc
    except (OSError, ValueError, IndexError, UnicodeError) as exc:
        raise _Unreadable(type(exc).__name__) from exc


def _media_info(container: av.container.InputContainer) -> MediaInfo | None:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        return None
    duration: float | None = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    elif video is not None and video.duration and video.time_base:
        duration = float(video.duration * video.time_base)
    width = height = None
    video_codec = None
    fps: float | None = None
    if video is not None:
        width = video.codec_context.width or None
        height = video.codec_context.height or None
        video_codec = video.codec_context.name
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else None
    return MediaInfo(
        duration_seconds=duration,
        width=width,
        height=height,
        video_codec=video_codec,
        fps=fps,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def poster_frame_png(path: Path, max_width: int = 320) -> bytes | None:
    """A PNG of the frame ~1 s in (else the first), at most ``max_width`` wide; None if unavailable."""
    if max_width < 1:
        raise ValueError("max_width must be at least 1")

    def first_good_frame(container: av.container.InputContainer) -> bytes | None:
        if not container.streams.video:
            return None
        frame = _poster_frame(container, container.streams.video[0])
        return _encode_png(frame, max_width) if frame is not None else None

    try:
        return _read_with_pyav(path, first_good_frame)
    except _Unreadable:
        return None


def _poster_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.video.frame.VideoFrame | None:
    # Decode from the start rather than seek: generated clips are short and
    # often a single GOP, so a seek would land on frame 0 anyway.
    first = None
    for frame in container.decode(stream):
        if first is None:
            first = frame
        if frame.time is not None and frame.time >= POSTER_AT_SECONDS:
            return frame
    return first


def _encode_png(frame: av.video.frame.VideoFrame, max_width: int) -> bytes | None:
    import av

    width, height = frame.width, frame.height
    if width > max_width:
        height = max(1, round(height * max_width / width))
        width = max_width
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "rgb24"
    packets = [*encoder.encode(rgb), *encoder.encode(None)]
    data = b"".join(bytes(packet) for packet in packets)
    return data or None
