"""What a local media file is, read with PyAV: its format, a duration, a pixel size, a frame rate.

The format comes from the bytes (the container PyAV recognises and its codecs), never from the file name.
PyAV is optional: without it the header readers and mutagen of ``formats`` measure what they can. Nothing here
raises for bad content; the ``MediaFacts`` returned says what could not be read.

A container may name other files or URLs (a playlist, a reference movie). Those are never opened: the file
is read through a Python file object, and FFmpeg's requests to open anything else are refused.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_video_mcp.server.media.formats import measure
from wan_video_mcp.server.media.probe import MediaFacts

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

__all__ = ["inspect_file"]

logger = logging.getLogger(__name__)

# Image demuxers and image codecs, by the names the catalog uses for the formats.
_IMAGE_DEMUXERS = {
    "png_pipe": "png",
    "apng": "png",
    "jpeg_pipe": "jpeg",
    "webp_pipe": "webp",
    "bmp_pipe": "bmp",
    "gif": "gif",
    "gif_pipe": "gif",
    "tiff_pipe": "tiff",
}
_IMAGE_CODECS = {
    "png": "png",
    "apng": "png",
    "mjpeg": "jpeg",
    "webp": "webp",
    "bmp": "bmp",
    "gif": "gif",
    "tiff": "tiff",
}
_QUICKTIME_BRAND = "qt"
_WEBM_DOCTYPE = b"\x42\x82\x84webm"  # the EBML DocType element, 4 bytes long, saying "webm"


class _NestedOpenRefused(Exception):
    """FFmpeg asked to open another file or URL named inside the one being read."""


def inspect_file(path: Path, shown: str, size_bytes: int) -> MediaFacts:
    """What the file at ``path`` is: its format, and a duration or a pixel size; ``shown`` names it in the
    result (``url``) and in problems. Never raises for bad content."""
    try:
        import av  # noqa: F401 (optional: the fallback below measures without it)
    except ImportError:
        return _measure_without_pyav(path, shown, size_bytes)
    try:
        return _inspect(path, shown, size_bytes)
    except _NestedOpenRefused:
        problem = "it refers to other files or URLs (a playlist?), which this server does not follow"
    except Exception as exc:  # PyAV on hostile bytes raises many kinds: FFmpeg's errors, ValueError, OSError, ...
        logger.debug("PyAV could not read %s", shown, exc_info=True)
        problem = f"not a media file, or a damaged one: {_reason(exc, path, shown)}"
    return _unreadable(shown, size_bytes, problem)


def _inspect(path: Path, shown: str, size_bytes: int) -> MediaFacts:
    import av

    with open(path, "rb") as file:
        head = file.read(64)
        file.seek(0)
        with av.open(file, "r", io_open=_refuse_nested_open) as container:
            return _facts(container, head, path, shown, size_bytes)


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> Any:
    raise _NestedOpenRefused(url)


def _facts(container: InputContainer, head: bytes, path: Path, shown: str, size_bytes: int) -> MediaFacts:
    demuxer = container.format.name.split(",")[0]
    videos = [s for s in container.streams.video if not _is_attached_picture(s)]
    audios = list(container.streams.audio)
    if videos and (demuxer in _IMAGE_DEMUXERS or demuxer.endswith("_pipe") or demuxer == "image2"):
        video = videos[0]
        image = _IMAGE_DEMUXERS.get(demuxer) or _IMAGE_CODECS.get(video.codec_context.name)
        width, height = _size(video)
        if image is None or width is None or height is None:
            return _unreadable(shown, size_bytes, "its image header is damaged or it is not an image")
        return MediaFacts(shown, None, width, height, size_bytes, format=image)
    if not videos and not audios:
        return _unreadable(shown, size_bytes, f"a {demuxer} file with no picture or sound")
    name = _container_format(container, demuxer, head, path, audio_only=not videos)
    stream = videos[0] if videos else audios[0]
    seconds = _seconds(container.duration, stream.duration, stream.time_base)
    if videos:
        width, height = _size(videos[0])
        if width is None or height is None:
            return _unreadable(shown, size_bytes, f"a {name} video whose picture size is unreadable", name)
        if seconds is None:
            return _unreadable(shown, size_bytes, f"a {name} video whose length is unreadable", name)
        fps = _rate(videos[0].average_rate) or _rate(videos[0].guessed_rate)
        return MediaFacts(shown, seconds, width, height, size_bytes, format=name, fps=fps)
    if seconds is None:
        return _unreadable(shown, size_bytes, f"a {name} audio file whose length is unreadable", name)
    return MediaFacts(shown, seconds, size_bytes=size_bytes, format=name)


def _container_format(container: InputContainer, demuxer: str, head: bytes, path: Path, *, audio_only: bool) -> str:
    """The catalog's name for a container: mp4, mov, m4a, webm, mkv, or FFmpeg's first name for it."""
    if demuxer == "mov":  # FFmpeg's one demuxer for mov, mp4, m4a, 3gp, 3g2 and mj2
        if container.metadata.get("major_brand", "").strip() == _QUICKTIME_BRAND:
            return "mov"
        return "m4a" if audio_only else "mp4"
    if demuxer == "matroska":  # and webm: the header's DocType tells
        return "webm" if _WEBM_DOCTYPE in head or path.suffix.lower() == ".webm" else "mkv"
    return demuxer


def _is_attached_picture(stream: VideoStream) -> bool:
    """A cover picture in an audio file: a video stream that is not a video."""
    import av.stream

    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _size(stream: VideoStream) -> tuple[int | None, int | None]:
    width, height = stream.codec_context.width, stream.codec_context.height
    return (width, height) if width and height and width > 0 and height > 0 else (None, None)


def _seconds(container_duration: int | None, stream_duration: int | None, time_base: Fraction | None) -> float | None:
    """The container's duration (in microseconds), else the stream's (in its time base); None when neither."""
    if container_duration is not None and container_duration > 0:
        seconds = container_duration / 1_000_000  # av.time_base
    elif stream_duration is not None and stream_duration > 0 and time_base:
        seconds = float(stream_duration * time_base)
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _rate(rate: Fraction | None) -> float | None:
    return float(rate) if rate is not None and rate > 0 else None


def _unreadable(shown: str, size_bytes: int, why: str, name: str | None = None) -> MediaFacts:
    problem = f"could not read {shown} as an image, a video or an audio file ({why})"
    return MediaFacts(shown, None, size_bytes=size_bytes, problem=problem, format=name)


def _reason(exc: Exception, path: Path, shown: str) -> str:
    """The exception's message, short, naming the file as shown (FFmpeg's messages name the path it read)."""
    text = getattr(exc, "strerror", None) or str(exc)
    text = " ".join(text.replace(str(path), shown).split())[:120]
    return text or type(exc).__name__


def _measure_without_pyav(path: Path, shown: str, size_bytes: int) -> MediaFacts:
    """The header readers and mutagen of ``formats``: no frame rate, and fewer formats."""
    try:
        with open(path, "rb") as file:
            measured = measure(file, shown)
    except Exception as exc:  # measure raises only for a RangedFile; open may fail
        return MediaFacts(
            shown, None, size_bytes=size_bytes, problem=f"could not read {shown} ({_reason(exc, path, shown)})"
        )
    return MediaFacts(
        shown,
        measured.seconds,
        measured.width,
        measured.height,
        size_bytes,
        measured.problem,
        format=measured.format,
    )
