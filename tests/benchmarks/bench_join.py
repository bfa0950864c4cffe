"""What joining clips and taking a video's last frame cost on this machine.

The clips are real MP4s made here with PyAV, as a provider sends them: H.264 (libx264 ``veryfast``, with
B-frames) with moving content (FFmpeg's ``mandelbrot`` source, zooming, so every picture changes and the
encoder does real work, at a bit rate near a real render's) and AAC 44.1 kHz stereo sound (a tone), all with
the same parameters. Each measurement has a baseline timed in the same process, alternating with it:

1. Copy: ``join_clips`` of ``--clips`` clips of ``--seconds`` s at 1280x720 and ``--fps`` (they share their
   codec parameters, so their packets are copied), against a plain concatenation of the clips' bytes into one
   file (``shutil.copyfileobj``: what copying the bytes costs) and a demux of every packet of every clip
   (nothing decoded: what reading the packets costs; ``join_clips`` demuxes each clip twice).
2. Re-encode: the same with clip 2 at 960x960 (so everything is decoded and encoded again, at the first clip's
   1280x720), against the same concatenation and a decode of every clip's picture and sound without encoding
   (what reading costs).
   Both print the median of ``--runs`` runs, the method ``join_clips`` used, the joined file's duration against
   the sum of the clips' and its size against theirs.
3. Last frame: ``last_frame_png`` (seeks to a keyframe a second before the end, decodes from there) of a 10 s
   clip, the median of 5 calls, against decoding the clip from the start to its last picture and encoding that
   as a PNG the same way (checked to give the same bytes). Twice: with libx264's default keyframe interval
   (250 pictures, so a 10 s clip has a single keyframe) and with a keyframe every second.

Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_join [--clips 3] [--seconds 5] [--fps 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import av

from wan_video_mcp.server.media.frames import last_frame_png
from wan_video_mcp.server.media.join import Joined, join_clips

MB = 1024**2
WIDE, SQUARE = (1280, 720), (960, 960)
SAMPLE_RATE = 44_100
LAST_SECONDS = 10.0
LAST_CALLS = 5


# ---- making the clips


def make_clip(
    outputs: Sequence[tuple[Path, int | None]], size: tuple[int, int], fps: int, seconds: float, i: int
) -> None:
    """Render one clip and encode it into each ``(path, keyframe interval)`` (None: libx264's default)."""
    width, height = size
    containers = [av.open(str(path), "w", format="mp4") for path, _ in outputs]
    try:
        videos, audios = [], []
        for container, (_, keyint) in zip(containers, outputs, strict=True):
            video = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            if keyint is not None:
                video.codec_context.gop_size = keyint
            videos.append(video)
            audios.append(container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo"))

        # Each clip zooms from its own scale, so that no two clips are the same pictures.
        source = f"s={width}x{height}:r={fps}:start_scale={3.0 * 0.8**i:.3f}"
        for n, frame in enumerate(
            pulled(("mandelbrot", source), ("trim", f"duration={seconds}"), ("format", "yuv420p"))
        ):
            frame.pts, frame.time_base = n, Fraction(1, fps)
            for container, video in zip(containers, videos, strict=True):
                container.mux(video.encode(frame))
        tone = f"frequency={330 + 110 * i}:sample_rate={SAMPLE_RATE}:duration={seconds}"
        for sound in pulled(("sine", tone), ("aformat", "sample_fmts=fltp:channel_layouts=stereo"), sink="abuffersink"):
            for container, audio in zip(containers, audios, strict=True):
                container.mux(audio.encode(sound))
        for container, video, audio in zip(containers, videos, audios, strict=True):
            container.mux(video.encode(None))
            container.mux(audio.encode(None))
    finally:
        for container in containers:
            container.close()


def pulled(*nodes: tuple[str, str], sink: str = "buffersink") -> Any:
    """The frames a filter chain that starts with a source filter makes, until it ends."""
    graph = av.filter.Graph()
    graph.link_nodes(*(graph.add(name, args) for name, args in nodes), graph.add(sink)).configure()
    while True:
        try:
            yield graph.pull()
        except av.error.EOFError:
            return


def facts(path: Path) -> str:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        keyframes = sum(1 for packet in container.demux(video) if packet.is_keyframe)
        seconds = (container.duration or 0) / 1_000_000
        rate = float(video.average_rate or 0)
    size = path.stat().st_size
    bitrate = size * 8 / seconds / 1e6 if seconds else 0
    return (
        f"{video.codec_context.width}x{video.codec_context.height} {rate:g} fps {seconds:.2f} s, "
        f"{size / MB:.2f} MB ({bitrate:.1f} Mbit/s), {keyframes} keyframe(s)"
    )


# ---- the baselines


def concatenate(clips: Sequence[Path], out: Path) -> None:
    with out.open("wb") as dest:
        for clip in clips:
            with clip.open("rb") as source:
                shutil.copyfileobj(source, dest)


def demux_all(clips: Sequence[Path]) -> int:
    packets = 0
    for clip in clips:
        with av.open(str(clip)) as container:
            packets += sum(1 for packet in container.demux() if packet.pts is not None)
    return packets


def decode_all(clips: Sequence[Path]) -> int:
    frames = 0
    for clip in clips:
        with av.open(str(clip)) as container:
            for packet in container.demux():
                frames += len(packet.decode())
    return frames


def last_frame_from_start(video: Path) -> bytes:
    """Every picture decoded from the start; the last one as PNG bytes (as ``frames._png`` encodes it)."""
    last = None
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            last = frame
    assert last is not None
    return png(last)


def png(frame: av.VideoFrame) -> bytes:
    rgb = frame.reformat(format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    return b"".join(bytes(packet) for packet in (*encoder.encode(rgb), *encoder.encode(None)))


# ---- timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def row(name: str, times: list[float], note: str = "") -> None:
    runs = [round(t * 1000) for t in times]
    print(f"   {name:34s} {statistics.median(times) * 1000:8.1f} ms  runs ms {runs}{note}")


def bench_join(number: int, title: str, clips: Sequence[Path], folder: Path, runs: int, expected: str) -> None:
    out, concatenated = folder / f"joined-{number}.mp4", folder / f"concatenated-{number}.bin"
    baseline = demux_all if expected == "copy" else decode_all
    joins: list[float] = []
    copies: list[float] = []
    reads: list[float] = []
    joined: Joined | None = None
    read = 0
    for _ in range(runs):  # alternating, so that cache and writeback effects fall on all three
        seconds, joined = timed(lambda: join_clips(clips, out))
        joins.append(seconds)
        seconds, _ = timed(lambda: concatenate(clips, concatenated))
        copies.append(seconds)
        seconds, read = timed(lambda: baseline(clips))
        reads.append(seconds)
    assert joined is not None
    inputs = sum(clip.stat().st_size for clip in clips)
    assert concatenated.stat().st_size == inputs

    print(f"{number}. {title}, {runs} runs each, alternating")
    method = f"  method {joined.method}" + ("" if joined.method == expected else f" (EXPECTED {expected})")
    row("join_clips", joins, method)
    row("baseline copyfileobj of the bytes", copies)
    if expected == "copy":
        row("baseline demux every packet", reads, f"  ({read} packets)")
    else:
        row("baseline decode, no encoding", reads, f"  ({read} pictures and sound frames)")
    join_median = statistics.median(joins)
    print(
        f"   ratio (median time) join_clips / copyfileobj {join_median / statistics.median(copies):.1f}x, "
        f"join_clips / {'demux' if expected == 'copy' else 'decode'} {join_median / statistics.median(reads):.1f}x"
    )
    total = sum(joined.clips)
    print(
        f"   joined: {joined.seconds:.3f} s (clips' sum {total:.3f} s, {joined.seconds - total:+.3f} s), "
        f"{out.stat().st_size / MB:.2f} MB (clips' sum {inputs / MB:.2f} MB, "
        f"{out.stat().st_size / inputs:.2f}x); {facts(out)}"
    )


def bench_last_frame(clips: Sequence[tuple[str, Path]]) -> None:
    print(f"3. last_frame_png of a {LAST_SECONDS:g} s clip, {LAST_CALLS} calls each, alternating")
    for label, video in clips:
        print(f"   {label}: {facts(video)}")
        seeks: list[float] = []
        decodes: list[float] = []
        for _ in range(LAST_CALLS):
            seconds, seeked = timed(partial(last_frame_png, video))
            seeks.append(seconds)
            seconds, decoded = timed(partial(last_frame_from_start, video))
            decodes.append(seconds)
            assert seeked == decoded, "last_frame_png and the baseline took different pictures"
        row("last_frame_png", seeks)
        row("baseline decode all from the start", decodes)
        ratio = statistics.median(decodes) / statistics.median(seeks)
        print(f"   speed-up (median time, baseline / last_frame_png): {ratio:.1f}x")
    with av.open(str(clips[0][1])) as container:
        last = None
        for frame in container.decode(video=0):
            last = frame
    assert last is not None
    encodes = [timed(lambda: png(last))[0] for _ in range(LAST_CALLS)]
    row("of which the PNG encoding alone", encodes, f"  ({len(png(last)) / 1024:.0f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=3, help="clips to join (default 3, at least 2)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each clip (default 5)")
    parser.add_argument("--fps", type=int, default=16, help="frame rate of every clip (default 16; Wan 2.5+: 24)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each join measurement (default 3)")
    args = parser.parse_args()
    if args.clips < 2:
        parser.error("--clips must be at least 2 (clip 2 is the 960x960 one in the re-encoded set)")
    if args.seconds <= 0 or args.fps < 1 or args.runs < 1:
        parser.error("--seconds, --fps and --runs must be positive")

    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    print(f"joining clips on {system}, PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})")
    with tempfile.TemporaryDirectory(prefix="bench-join-") as tmp:
        folder = Path(os.path.realpath(tmp))
        started = time.perf_counter()
        wide = [folder / f"clip-{i}.mp4" for i in range(1, args.clips + 1)]
        for i, path in enumerate(wide):
            make_clip([(path, None)], WIDE, args.fps, args.seconds, i)
        square = folder / "clip-2-square.mp4"
        make_clip([(square, None)], SQUARE, args.fps, args.seconds, 1)
        one_keyframe, every_second = folder / "long-default-gop.mp4", folder / "long-gop-1s.mp4"
        make_clip([(one_keyframe, None), (every_second, args.fps)], WIDE, args.fps, LAST_SECONDS, 0)
        print(f"clips made in {time.perf_counter() - started:.1f} s; each {facts(wide[0])}; 960x960: {facts(square)}")

        mixed = [*wide[:1], square, *wide[2:]]
        count = f"{args.clips} clips of {args.seconds:g} s"
        bench_join(1, f"copy: join_clips of {count} at 1280x720", wide, folder, args.runs, "copy")
        bench_join(2, f"re-encode: join_clips of {count}, clip 2 at 960x960", mixed, folder, args.runs, "encode")
        bench_last_frame(
            [("keyframe interval: libx264's default", one_keyframe), ("keyframe every second", every_second)]
        )


if __name__ == "__main__":
    main()
