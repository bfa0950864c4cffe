"""Re-encoding clips into one track (``join``'s path when their streams cannot be copied as they are)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from wan_video_mcp.server.media.frames import decoded_frames, open_local, video_stream
from wan_video_mcp.server.media.join import Clip, JoinError

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.container import OutputContainer
    from av.filter import Graph
    from av.video.frame import VideoFrame


__all__ = ["Encoder"]

_SAMPLE_RATE = 48_000  # re-encoded sound: AAC, 48 kHz stereo
_BYTES_PER_SAMPLE = 4  # s16, two channels, interleaved
_DEFAULT_RATE = Fraction(24)


class Encoder:
    """The clips decoded and encoded one after another: H.264 at the first clip's size and frame rate (others
    scaled to fit inside it, centred on black), AAC 48 kHz stereo when any clip has sound. Each clip takes
    exactly its picture's length: pictures are held or dropped to the output's frame rate, and its sound
    is cut or padded with silence (silence throughout for a clip without sound)."""

    def __init__(self, output: OutputContainer, clips: Sequence[Clip]) -> None:
        first = clips[0]
        self.output, self.clips = output, clips
        self.rate = first.rate.limit_denominator(1001) if first.rate else _DEFAULT_RATE
        self.size = (max(2, first.width - first.width % 2), max(2, first.height - first.height % 2))  # yuv420p
        self.video = output.add_stream("libx264", rate=self.rate, options={"preset": "veryfast"})
        self.video.width, self.video.height = self.size
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.time_base = 1 / self.rate
        has_audio = any(clip.audio is not None for clip in clips)
        self.audio = output.add_stream("aac", rate=_SAMPLE_RATE, layout="stereo") if has_audio else None
        self.frames = self.samples = 0  # written so far
        self.fit: tuple[tuple[int, int, str], Graph] | None = None

    def run(self) -> None:
        at = Fraction(0)
        for clip in self.clips:
            until = at + clip.seconds
            self._pictures(clip, at, math.ceil(until * self.rate))
            if self.audio is not None:
                self._sound(clip, round(until * _SAMPLE_RATE))
            at = until
        self.output.mux(self.video.encode(None))
        if self.audio is not None:
            self.output.mux(self.audio.encode(None))

    def _pictures(self, clip: Clip, at: Fraction, stop: int) -> None:
        held: VideoFrame | None = None
        when = Fraction(0)
        with open_local(clip.path) as container:
            stream = video_stream(container)
            assert stream is not None  # read_clip checked
            for frame in decoded_frames(container, stream):
                if frame.pts is not None and frame.time_base is not None:
                    when = frame.pts * frame.time_base - clip.start
                if when >= clip.seconds:
                    break
                picture = self._fitted(frame)
                while self.frames < stop and self.frames / self.rate - at < when:
                    self._put(held if held is not None else picture)
                held = picture
                when += 1 / (clip.rate or self.rate)  # where the next picture goes if it has no time
        if held is None:
            raise JoinError(f"{clip.label}: none of its pictures could be decoded")
        while self.frames < stop:
            self._put(held)

    def _fitted(self, frame: VideoFrame) -> VideoFrame:
        import av

        width, height = self.size
        if (frame.width, frame.height) == self.size:
            return frame.reformat(format="yuv420p")
        key = (frame.width, frame.height, frame.format.name)
        if self.fit is None or self.fit[0] != key:
            graph = av.filter.Graph()
            graph.link_nodes(
                graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=Fraction(1)),
                graph.add("scale", f"{width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2"),
                graph.add("pad", f"{width}:{height}:(ow-iw)/2:(oh-ih)/2:black"),
                graph.add("setsar", "1"),
                graph.add("format", "yuv420p"),
                graph.add("buffersink"),
            ).configure()
            self.fit = (key, graph)
        graph = self.fit[1]
        frame.pts = None
        graph.push(frame)
        fitted = graph.pull()
        assert isinstance(fitted, av.VideoFrame)
        return fitted

    def _put(self, picture: VideoFrame) -> None:
        import av.video.frame

        picture.pts, picture.time_base = self.frames, 1 / self.rate
        picture.pict_type = av.video.frame.PictureType.NONE  # a decoded keyframe must not force one here
        self.output.mux(self.video.encode(picture))
        self.frames += 1

    def _sound(self, clip: Clip, stop: int) -> None:
        import av

        skip = 0
        if clip.audio is not None:
            with open_local(clip.path) as container:
                stream = container.streams.audio[0]
                resampler = av.AudioResampler(format="s16", layout="stereo", rate=_SAMPLE_RATE)
                placed = False
                for frame in decoded_frames(container, stream):
                    if not placed and frame.pts is not None and frame.time_base is not None:
                        # Sound that starts after the picture waits in silence; before it, is dropped.
                        late = round((frame.pts * frame.time_base - clip.start) * _SAMPLE_RATE)
                        self._write(bytes(max(0, min(late, stop - self.samples)) * _BYTES_PER_SAMPLE))
                        skip = max(0, -late)
                    placed = True
                    for chunk in resampler.resample(frame):
                        skip = self._pcm(chunk, skip, stop)
                    if self.samples >= stop:
                        break  # the rest of the sound runs past the picture
                for chunk in resampler.resample(None):
                    skip = self._pcm(chunk, skip, stop)
        self._write(bytes(max(0, stop - self.samples) * _BYTES_PER_SAMPLE))  # silence to the picture's end

    def _pcm(self, chunk: AudioFrame, skip: int, stop: int) -> int:
        """Write ``chunk`` less its first ``skip`` samples, cut at ``stop``; the samples still to skip."""
        data = bytes(chunk.planes[0])[: chunk.samples * _BYTES_PER_SAMPLE]
        dropped = min(skip, chunk.samples)
        keep = max(0, min(chunk.samples - dropped, stop - self.samples))
        start = dropped * _BYTES_PER_SAMPLE
        self._write(data[start : start + keep * _BYTES_PER_SAMPLE])
        return skip - dropped

    def _write(self, data: bytes) -> None:
        import av

        samples = len(data) // _BYTES_PER_SAMPLE
        if samples == 0 or self.audio is None:
            return
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        frame.planes[0].update(data)
        frame.rate, frame.pts, frame.time_base = _SAMPLE_RATE, self.samples, Fraction(1, _SAMPLE_RATE)
        self.output.mux(self.audio.encode(frame))
        self.samples += samples
