"""What a media file's own bytes say: a duration (mutagen), a video's pixel size (MP4 ``tkhd``), an image's size.

Synchronous and seek-based, so that a ``RangedFile`` (``ranges``) fetches only the parts that are read;
``measure`` is meant to run in a worker thread. Four image formats are read by hand from their headers:
PNG, JPEG, WEBP and BMP.
"""

from __future__ import annotations

import functools
import logging
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from wan_video_mcp.server.media.ranges import RangedFile, Unmeasurable

__all__ = ["Measured", "image_format", "image_size", "measure", "mp4_video_size"]

logger = logging.getLogger(__name__)


@functools.cache
def _mutagen() -> tuple[Callable[..., Any], tuple[Any, ...], Any]:
    """mutagen's guesser, the formats tried and its MP4 class, imported at first use (not at server start-up).

    The formats are tried by their first bytes. Not all of mutagen's: APEv2File's test reads the file's last
    160 bytes, one more request for every file. (mutagen is unannotated: hence the loose types.)
    """
    import mutagen
    import mutagen.mp4
    from mutagen.aac import AAC
    from mutagen.aiff import AIFF
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    return mutagen.File, (mutagen.mp4.MP4, MP3, WAVE, AIFF, FLAC, OggVorbis, OggOpus, AAC), mutagen.mp4.MP4


# Top-level boxes of old QuickTime files that have no ftyp (mutagen.File only knows an MP4 by its ftyp).
_QUICKTIME_FIRST_BOXES = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_MAX_BOXES = 10_000  # per level of the MP4 walk
_MAX_JPEG_SEGMENTS = 1_000
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


@dataclass(frozen=True)
class Measured:
    """A duration, or an image's size, or why neither could be read."""

    seconds: float | None = None
    width: int | None = None
    height: int | None = None
    problem: str | None = None
    format: str | None = None  # what the bytes are (FORMAT_NAMES), whatever the URL or file name says


def measure(file: IO[bytes], shown: str) -> Measured:
    """Read ``file`` (seekable, positioned anywhere) as an image or as timed media; ``shown`` names it in
    problems. Raises ``Unmeasurable`` only when reading a ``RangedFile`` failed (the network's reason)."""
    size = image_size(file)
    head = _read_at(file, 0, 12)
    if size is not None:
        return Measured(width=size[0], height=size[1], format=image_format(head))
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return Measured(problem=f"could not read the size of the image {shown} (its header is damaged)")
    file.seek(0)  # mutagen.File reads its 128-byte header from where the file stands
    try:
        guess, kinds, mp4 = _mutagen()
        found = guess(file, options=kinds)
        if found is None and head[4:8] in _QUICKTIME_FIRST_BOXES:
            found = mp4(file)
    except Unmeasurable:
        raise
    except Exception as exc:  # mutagen on hostile bytes raises more than MutagenError
        raw = getattr(file, "raw", file)  # a RangedFile, bare or in an io.BufferedReader
        failure = raw.failure if isinstance(raw, RangedFile) else None
        if failure is not None:
            raise failure from exc
        logger.debug("mutagen could not read %s", shown, exc_info=True)
        return Measured(problem=f"could not read the length of {shown} (the file looks damaged: {_reason(exc)})")
    if found is None or found.info is None:
        return Measured(problem=f"could not read the length of {shown} (format not recognised)")
    seconds = float(getattr(found.info, "length", 0.0) or 0.0)
    if not math.isfinite(seconds) or seconds <= 0:
        return Measured(problem=f"could not read the length of {shown} (the file gives none)")
    video = None
    if isinstance(found, _mutagen()[2]):
        try:
            video = mp4_video_size(file)
        except Unmeasurable:  # the duration is known; the size is only a nicety
            video = None
    return Measured(
        seconds=seconds,
        width=video[0] if video else None,
        height=video[1] if video else None,
        format=_MUTAGEN_FORMATS.get(type(found).__name__),
    )


# mutagen's classes, and the image signatures, as the format names the catalog's limits list.
_MUTAGEN_FORMATS = {
    "MP4": "mp4",
    "MP3": "mp3",
    "WAVE": "wav",
    "AIFF": "aiff",
    "FLAC": "flac",
    "OggVorbis": "ogg",
    "OggOpus": "ogg",
    "AAC": "aac",
}


def image_format(head: bytes) -> str | None:
    """png, jpeg, webp or bmp by the first bytes (``image_size`` reads the same four)."""
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM":
        return "bmp"
    return None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:120]
    return text or type(exc).__name__


def _read_at(file: IO[bytes], pos: int, length: int) -> bytes:
    file.seek(pos)
    return file.read(length)


# --- MP4 / MOV: the video track's tkhd ----------------------------------------------------------------------


def _boxes(file: IO[bytes], start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, end) of each box between ``start`` and ``end``."""
    pos = start
    for _ in range(_MAX_BOXES):
        if pos + 8 > end:
            return
        header = _read_at(file, pos, 16 if pos + 16 <= end else 8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        payload = pos + 8
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return
            (size,) = struct.unpack(">Q", header[8:16])
            payload = pos + 16
        elif size == 0:  # to the end of the enclosing box
            size = end - pos
        if size < payload - pos:
            return
        yield kind, payload, min(pos + size, end)
        pos += size


def mp4_video_size(file: IO[bytes]) -> tuple[int, int] | None:
    """(width, height) from the ``tkhd`` of the first video track (handler ``vide``), or None."""
    end = file.seek(0, 2)
    moov = next(((start, stop) for kind, start, stop in _boxes(file, 0, end) if kind == b"moov"), None)
    if moov is None:
        return None
    for kind, trak_start, trak_end in _boxes(file, *moov):
        if kind != b"trak":
            continue
        tkhd = handler = b""
        for child, start, stop in _boxes(file, trak_start, trak_end):
            if child == b"tkhd":
                tkhd = _read_at(file, start, min(stop - start, 96))
            elif child == b"mdia":
                for grandchild, hdlr_start, _ in _boxes(file, start, stop):
                    if grandchild == b"hdlr":
                        handler = _read_at(file, hdlr_start, 12)[8:12]
        offset = 88 if tkhd[:1] == b"\x01" else 76  # version 1 has 64-bit times and duration
        if handler == b"vide" and len(tkhd) >= offset + 8:
            width, height = struct.unpack(">II", tkhd[offset : offset + 8])
            if width >> 16 and height >> 16:  # 16.16 fixed point
                return width >> 16, height >> 16
    return None


# --- images ----------------------------------------------------------------------------------------------------


def image_size(file: IO[bytes]) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, WEBP or BMP image, or None when ``file`` is none of them."""
    head = _read_at(file, 0, 32)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg_size(file)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        return _webp_size(head)
    if head[:2] == b"BM" and len(head) >= 26:
        header_size = int.from_bytes(head[14:18], "little")
        if header_size == 12:
            width, height = struct.unpack("<HH", head[18:22])
            return width, height
        if header_size in _BMP_HEADER_SIZES:
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)  # a negative height is a top-down bitmap
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L":  # lossless: two 14-bit sizes minus one, after the signature byte
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit sizes minus one
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(file: IO[bytes]) -> tuple[int, int] | None:
    """The size in the first start-of-frame segment, walking the segments before it."""
    pos = 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        marker = _read_at(file, pos, 9)
        if len(marker) < 4 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code == 0xFF:  # a fill byte
            pos += 1
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
            pos += 2
            continue
        if code in (0xD9, 0xDA):  # the image ended, or its data began, before any frame header
            return None
        if code in _JPEG_FRAME_MARKERS:
            if len(marker) < 9:
                return None
            height, width = struct.unpack(">HH", marker[5:9])
            return width, height
        pos += 2 + int.from_bytes(marker[2:4], "big")
    return None
