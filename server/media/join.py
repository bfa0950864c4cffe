"""Joining rendered clips into one MP4, one after another, picture and sound kept in step.

Each clip lasts as long as its video track. When every clip's streams can share one track (the same video
codec parameters, the same audio format or no audio anywhere, and sound that covers its picture), packets are
copied: nothing is decoded and nothing is lost. Otherwise everything is re-encoded (``encode``) to H.264 and
AAC at the first clip's picture size and frame rate. Either way the file is written next to ``out`` under a
temporary name and renamed over it at the end, so ``out`` is never half written. Synchronous: run it in a
worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from wan_video_mcp.server.media.frames import NestedOpenRefused, open_local, video_stream

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
    from av.stream import Stream

__all__ = ["JoinError", "Joined", "join_clips"]

logger = logging.getLogger(__name__)

MP4_OPTIONS = {"movflags": "+faststart"}  # the index first, so a player can start before the file is in
# Sound may start this much after its picture, or end this much before it, and still be copied: a gap in
# a copied AAC track would shift every later clip's sound, which re-encoding fills with silence instead.
_SYNC_SLACK = Fraction(1, 10)
# Codecs copied as they are; any other is re-encoded, since players would not take it from an MP4.
_PLAYABLE_CODECS = frozenset({"h264", "hevc", "av1", "aac", "mp3", "opus", "ac3", "eac3"})


class JoinError(ValueError):
    """The clips could not be joined; the message names the clip and says why (a ValueError: bad input)."""


@dataclass(frozen=True)
class Joined:
    """The joined MP4, how it was made (``copy`` or ``encode``) and each clip's duration as used."""

    path: Path
    seconds: float
    method: str
    clips: tuple[float, ...]


@dataclass(frozen=True)
class Clip:
    """What joining needs to know about one input, read by demuxing it (nothing is decoded)."""

    path: Path
    label: str  # "clip 2 (shot-2.mp4)", for messages
    video: tuple[object, ...]  # what must match for the video packets to be copied into one track
    audio: tuple[object, ...] | None  # the same for the sound; None: no audio track
    width: int
    height: int
    rate: Fraction | None  # the average frame rate, when known
    start: Fraction  # the first picture's time, in seconds
    end: Fraction  # when the last picture ends
    first_dts: int  # the first video packet's decode time, in the video time base
    sound: tuple[Fraction, Fraction] | None  # when the sound starts and ends; None: no sound packets

    @property
    def seconds(self) -> Fraction:
        return self.end - self.start


def join_clips(clips: Sequence[Path], out: Path, tag: str | None = None) -> Joined:
    """Join ``clips`` in order into the MP4 ``out``: copied when they match, else re-encoded (``tag``: the
    process writing it, named in its temporary file)."""
    if not clips:
        raise JoinError("there are no clips to join: give at least one")
    try:
        import av
    except ImportError as exc:
        raise JoinError("joining clips needs PyAV: install wan-video-mcp[video]") from exc

    read = [read_clip(path, f"clip {i} ({path.name})") for i, path in enumerate(clips, 1)]
    method = "copy" if copyable(read) else "encode"
    with _beside(out, tag) as temp:
        try:
            if method == "copy":
                try:
                    _write(read, temp, copy=True)
                except av.FFmpegError:  # a codec MP4 cannot hold, say: the encoder makes one it can
                    logger.info("copying the clips into one MP4 failed; re-encoding them", exc_info=True)
                    method = "encode"
            if method == "encode":
                _write(read, temp, copy=False)
            with open_local(temp) as written:
                seconds = (written.duration or 0) / 1_000_000  # in av.time_base
        except av.FFmpegError as exc:
            raise JoinError(f"writing the joined video failed ({exc.strerror or exc})") from exc
        os.replace(temp, out)
    logger.info("joined %d clip(s) into %s by %s: %.2f s", len(read), out.name, method, seconds)
    return Joined(out, seconds, method, tuple(float(clip.seconds) for clip in read))


def trim_clip(video: Path, seconds: float, out: Path, tag: str | None = None) -> Joined:
    """The first ``seconds`` of ``video`` as the MP4 ``out`` (re-encoded, so it ends exactly there)."""
    import av

    clip = read_clip(video, f"the clip ({video.name})")
    cut = replace(clip, end=min(clip.end, clip.start + Fraction(seconds).limit_denominator(1000)))
    with _beside(out, tag) as temp:
        try:
            _write([cut], temp, copy=False)
        except av.FFmpegError as exc:
            raise JoinError(f"cutting {video.name} to {seconds} s failed ({exc.strerror or exc})") from exc
        os.replace(temp, out)
    return Joined(out, float(cut.seconds), "encode", (float(cut.seconds),))


@contextlib.contextmanager
def _beside(out: Path, tag: str | None) -> Iterator[Path]:
    """A temporary file next to ``out`` (moved onto it when written), removed if it is left behind. Named as a
    download's part file, ``<name>.<tag>.<random>.part``: a starting process sweeps away those of processes
    that are gone (a join killed mid-way), and leaves those of the live process ``tag`` alone."""
    fd, name = tempfile.mkstemp(
        prefix=f".{out.name}.{tag}." if tag else f".{out.name}.", suffix=".part", dir=out.parent
    )
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _write(clips: Sequence[Clip], temp: Path, *, copy: bool) -> None:
    import av

    with av.open(str(temp), "w", format="mp4", options=MP4_OPTIONS) as output:
        if copy:
            _copy(clips, output)
        else:
            from wan_video_mcp.server.media.reencode import Encoder  # (it reads this module's Clip)

            Encoder(output, clips).run()


def read_clip(path: Path, label: str) -> Clip:
    """The facts about the clip at ``path``; JoinError naming ``label`` when it cannot be joined."""
    import av

    try:
        with open_local(path) as container:
            return _facts(container, path, label)
    except (av.FFmpegError, NestedOpenRefused, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise JoinError(f"{label} could not be read as a video ({' '.join(reason.split())[:120]})") from exc
    except OSError as exc:
        raise JoinError(f"{label} could not be read ({exc.strerror or type(exc).__name__})") from exc


def _facts(container: InputContainer, path: Path, label: str) -> Clip:
    video = video_stream(container)
    if video is None:
        raise JoinError(f"{label} has no video stream; only videos can be joined")
    audio = container.streams.audio[0] if container.streams.audio else None
    context = video.codec_context
    if not context.width or not context.height or not video.time_base:
        raise JoinError(f"{label} has a video stream whose picture size is unreadable")
    rate = video.average_rate or video.guessed_rate
    spans: dict[int, tuple[Fraction, Fraction]] = {}
    first_dts: int | None = None
    for packet in container.demux([video] if audio is None else [video, audio]):
        if packet.pts is None:
            continue  # the flush packet at the end
        if packet.stream is video and first_dts is None:
            first_dts = packet.dts if packet.dts is not None else packet.pts
        begin = packet.pts * packet.time_base
        length = packet.duration * packet.time_base if packet.duration else Fraction(0)
        if not length and packet.stream is video:
            length = 1 / rate if rate else Fraction(1, 24)
        low, high = spans.get(packet.stream.index, (begin, begin + length))
        spans[packet.stream.index] = (min(low, begin), max(high, begin + length))
    if video.index not in spans or first_dts is None:
        raise JoinError(f"{label} has a video stream without any pictures")
    key = (context.name, context.width, context.height, context.pix_fmt, video.time_base, context.extradata)
    sound_key: tuple[object, ...] | None = None
    if audio is not None:
        sound = audio.codec_context
        sound_key = (sound.name, sound.sample_rate, sound.layout.name, sound.format.name, sound.extradata)
        sound_key += (audio.time_base,)
    start, end = spans[video.index]
    sound_span = spans.get(audio.index) if audio is not None else None
    size = (context.width, context.height)
    return Clip(path, label, key, sound_key, *size, Fraction(rate) if rate else None, start, end, first_dts, sound_span)


def copyable(clips: Sequence[Clip]) -> bool:
    """Whether the clips' packets can be copied into one video track (and one audio track) in step."""
    first = clips[0]
    if any(clip.video != first.video or clip.audio != first.audio for clip in clips):
        return False
    if first.video[0] not in _PLAYABLE_CODECS or (first.audio and first.audio[0] not in _PLAYABLE_CODECS):
        return False
    # A clip with an audio track must have sound covering its picture (an empty track is re-encoded to silence).
    return all(
        clip.audio is None
        or (clip.sound and clip.sound[0] <= clip.start + _SYNC_SLACK and clip.sound[1] >= clip.end - _SYNC_SLACK)
        for clip in clips
    )


def _copy(clips: Sequence[Clip], output: OutputContainer) -> None:
    """Each clip's packets, moved to start where the previous clip's picture ended."""
    tracks: dict[str, Stream] = {}
    last_dts: int | None = None  # the joined video's, in its time base
    sound_end: int | None = None  # where the joined sound ends, in its time base
    at = Fraction(0)  # where the next clip starts in the joined file, in seconds
    for number, clip in enumerate(clips):
        with open_local(clip.path) as container:
            video = video_stream(container)
            audio = container.streams.audio[0] if clip.audio is not None else None
            assert video is not None and video.time_base is not None  # read_clip checked both
            if not tracks:
                tracks["video"] = output.add_stream_from_template(video)
                if audio is not None:
                    tracks["audio"] = output.add_stream_from_template(audio)
            # The shift that puts this clip's first picture at ``at``, in video ticks; later if its decode times
            # would otherwise run into the previous clip's (a longer B-frame delay).
            shift = round((at - clip.start) / video.time_base)
            if last_dts is not None:
                shift = max(shift, last_dts + 1 - clip.first_dts)
            begins = clip.start + shift * video.time_base
            for packet in container.demux([video] if audio is None else [video, audio]):
                if packet.pts is None or packet.dts is None:
                    continue  # the flush packet at the end
                if packet.stream is video:
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    last_dts = packet.dts
                else:
                    place = _place_sound(packet, clip, begins, sound_end, first=number == 0)
                    if place is None:
                        continue
                    packet.pts, packet.dts = place, packet.dts + place - packet.pts
                    sound_end = place + (packet.duration or 0)
                packet.stream = tracks[packet.stream.type]
                output.mux(packet)
            at = begins + clip.seconds


def _place_sound(packet: Packet[Stream], clip: Clip, begins: Fraction, end: int | None, *, first: bool) -> int | None:
    """Where a sound packet goes in the joined track (in its time base), or None to leave it out.

    A packet more than half outside its clip's picture is left out (the encoder's priming before a later clip,
    sound after the picture), and one within half a packet of the previous one's ``end`` follows it exactly:
    the sound then runs on without gaps or overlaps, and the offset at each join stays under half a packet
    instead of adding up from clip to clip.
    """
    assert packet.pts is not None
    base = packet.time_base
    half = Fraction(packet.duration or 0) * base / 2
    when = packet.pts * base
    if when + half > clip.end or (not first and when + half < clip.start):
        return None
    place = round((when + begins - clip.start) / base)
    if end is not None and abs(place - end) * base <= half:
        return end
    return None if end is not None and place < end else place
