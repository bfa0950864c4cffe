"""The renderer: a real H.264 (+ AAC) MP4 made with PyAV from pure-Python planes (no numpy), or a placeholder.

Every frame says SIMULATED, with the model, size, task id and prompt drawn in a 5x7 bitmap font
(``data/font-5x7.json``: seven rows of five pixels per glyph; "\\x7f" is the box drawn for other
scripts). What the task's inputs show (a first frame, a tinted input video, a reference thumbnail) comes
from ``render_inputs``. Without PyAV a fixed MP4 is served (``data/placeholder.mp4``: made with PyAV and
``_Painter`` on a flat background at 160*90, 4 fps, 2 s, silent: a real H.264 MP4).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import textwrap
import threading
import unicodedata
from array import array
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from wan_video_mcp.server.simulator.render_inputs import Backdrop

logger = logging.getLogger(__name__)

FALLBACK_MP4_SHAPE = "160*90, 2 s"
_FG, _BG = 235, 16  # luma of text and of its box


def _data(name: str) -> bytes:
    """A file of the package's ``data/`` folder."""
    return resources.files("wan_video_mcp.server.simulator").joinpath("data", name).read_bytes()


@lru_cache(maxsize=1)
def _font() -> dict[str, tuple[int, ...]]:
    """Each drawable character's seven rows, five bits each (the high bit is the leftmost pixel)."""
    glyphs: dict[str, str] = json.loads(_data("font-5x7.json"))
    return {ch: tuple(int(row, 2) for row in rows.split()) for ch, rows in glyphs.items()}


def _ascii_text(text: str) -> str:
    """Upper-case ASCII the font can draw: accents dropped, other scripts as boxes."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        up = ch.upper()
        if up in _font():
            out.append(up)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append("\x7f" if ch.isalnum() else "?")
    return "".join(out)


@lru_cache(maxsize=4096)
def _glyph_row(bits: int, scale: int) -> bytes:
    pixels = bytes(_FG if bits & (1 << (4 - col)) else _BG for col in range(5)) + bytes([_BG])
    return bytes(b for b in pixels for _ in range(scale))


def _text_block(text: str, scale: int) -> list[bytes]:
    """Rasterise one line (drawable characters only) into rows of luma, with a one-pixel box margin."""
    pad = bytes([_BG]) * scale
    rows = []
    for r in range(7):
        row = pad + b"".join(_glyph_row(_font()[ch][r], scale) for ch in text)
        rows.extend([row] * scale)
    blank = bytes([_BG]) * len(rows[0])
    return [blank] * scale + rows + [blank] * scale


@dataclass(frozen=True)
class RenderJob:
    """What one video shows; built from the task, rendered in a worker thread."""

    width: int
    height: int
    duration: int
    fps: int
    audio: bool
    title: str  # e.g. "wan2.6-t2v 1280*720 5s"
    prompt: str
    task_id: str
    # The inputs it shows (``render_inputs``): a first and a last frame, a video (tinted for videoedit), a reference.
    first_image: Path | None = None
    last_image: Path | None = None
    clip: Path | None = None
    tint: bool = False
    thumbnail: Path | None = None

    @property
    def has_inputs(self) -> bool:
        return any(p is not None for p in (self.first_image, self.last_image, self.clip, self.thumbnail))


class Aborted(Exception):
    """A render stopped because the simulator is shutting down."""


def _tri(x: float) -> float:
    """A triangle wave in [0, 1] with period 1."""
    x = x % 1.0
    return 2 * x if x < 0.5 else 2 - 2 * x


class _Painter:
    """Builds the planes of each frame from precomputed rows: a few slice copies per frame, no per-pixel loops."""

    def __init__(self, job: RenderJob, y_stride: int, c_stride: int) -> None:
        self.job = job
        w, h = job.width, job.height
        self.ys, self.cs = y_stride, c_stride
        self.frames = job.duration * job.fps
        digest = hashlib.sha256((job.prompt + job.task_id).encode()).digest()
        self.hue = digest[0] / 255 * 2 * math.pi
        # Diagonal stripes that drift: row r of frame i is variant (r + shift_i) % period of one long row.
        self.period = 64
        long_row = bytes(int(40 + 70 * _tri(x / self.period)) for x in range(w + self.period))
        pad = bytes(y_stride - w)
        tall_rows = [long_row[k % self.period : k % self.period + w] + pad for k in range(h + self.period)]
        self.tall = b"".join(tall_rows)
        self.scale = max(1, min(w, h) // 180)
        self.margin = 4 * self.scale
        self.overlays: list[tuple[int, int, list[bytes]]] = []
        self._layout()
        bar_h = max(2, self.scale * 2) // 2 * 2
        self.bar = (self.margin, h - self.margin - bar_h, w - 2 * self.margin, bar_h)
        self.box = max(8, h // 10) // 2 * 2

    def _layout(self) -> None:
        job, s, m = self.job, self.scale, self.margin
        cols = max(4, (job.width - 2 * m) // (6 * s) - 1)
        y = m
        lines: list[tuple[str, int]] = [("SIMULATED", 2 * s)]
        for info in ("Wan video simulator - not a real generation", job.title, f"task {job.task_id}"):
            lines += [(line, s) for line in textwrap.wrap(_ascii_text(info), cols)]
        prompt = _ascii_text(job.prompt or "(no prompt)")
        bottom = job.height - m - 14 * s
        room = max(0, (bottom - y - sum(9 * sc + s for _, sc in lines)) // (9 * s + s))
        lines += [(line, s) for line in textwrap.wrap(prompt, cols, max_lines=max(1, room), placeholder=" ...")]
        for text, scale in lines:
            block = _text_block(text, scale)
            if y + len(block) > bottom:
                break
            self.overlays.append((m, y, block))
            y += len(block) + s

    def _put(self, plane: bytearray, stride: int, x: int, y: int, rows: list[bytes], width: int, height: int) -> None:
        for i, row in enumerate(rows):
            if y + i >= height:
                break
            row = row[: max(0, width - x)]
            start = (y + i) * stride + x
            plane[start : start + len(row)] = row

    def planes(self, i: int, backdrop: Backdrop | None = None) -> tuple[bytearray, bytearray, bytearray]:
        job, w, h = self.job, self.job.width, self.job.height
        angle = self.hue + 2 * math.pi * i / max(1, self.frames)
        u_val, v_val = int(128 + 40 * math.cos(angle)), int(128 + 40 * math.sin(angle))
        cw, ch = (w + 1) // 2, (h + 1) // 2
        base = backdrop.base(i / job.fps) if backdrop is not None else None
        if base is not None:  # an input's picture
            y_plane, u_plane, v_plane = base
        else:  # drifting stripes, in a slowly turning colour
            shift = (i * 2) % self.period
            y_plane = bytearray(self.tall[shift * self.ys : (shift + h) * self.ys])
            u_plane = bytearray([u_val]) * (self.cs * ch)
            v_plane = bytearray([v_val]) * (self.cs * ch)
        # A square bouncing across the lower third, in the complementary colour.
        span = max(1, w - self.box)
        bx = int(_tri(i / max(1, 2 * job.fps)) * span) // 2 * 2
        by = (h * 2 // 3) // 2 * 2
        box_rows = [bytes([235]) * self.box] * self.box
        self._put(y_plane, self.ys, bx, by, box_rows, w, h)
        half = self.box // 2
        self._put(u_plane, self.cs, bx // 2, by // 2, [bytes([256 - u_val]) * half] * half, cw, ch)
        self._put(v_plane, self.cs, bx // 2, by // 2, [bytes([256 - v_val]) * half] * half, cw, ch)
        # Static text, on neutral grey chroma so it reads white on black.
        overlays = list(self.overlays)
        clock = _ascii_text(f"t {i / job.fps:05.2f}s / {job.duration}s  frame {i + 1}/{self.frames}")
        overlays.append((self.margin, self.bar[1] - 10 * self.scale, _text_block(clock, self.scale)))
        for x, y, rows in overlays:
            self._put(y_plane, self.ys, x, y, rows, w, h)
            grey = [bytes([128]) * ((len(rows[0]) + 1) // 2)] * ((len(rows) + 1) // 2)
            self._put(u_plane, self.cs, x // 2, y // 2, grey, cw, ch)
            self._put(v_plane, self.cs, x // 2, y // 2, grey, cw, ch)
        if backdrop is not None and backdrop.thumb is not None:  # a reference, top right, over any text
            tx, ty, (ty_rows, tu_rows, tv_rows) = backdrop.thumb
            self._put(y_plane, self.ys, tx, ty, ty_rows, w, h)
            self._put(u_plane, self.cs, tx // 2, ty // 2, tu_rows, cw, ch)
            self._put(v_plane, self.cs, tx // 2, ty // 2, tv_rows, cw, ch)
        # Progress bar.
        bx0, by0, bw, bh = self.bar
        filled = max(1, bw * (i + 1) // max(1, self.frames))
        self._put(y_plane, self.ys, bx0, by0, [bytes([200]) * filled] * bh, w, h)
        return y_plane, u_plane, v_plane


def _pyav() -> Any | None:
    try:
        import av
    except ImportError:
        return None
    return av


_warned_fallback = False


def write_fallback(path: Path, *, forced: bool = False) -> str:
    """Write the placeholder MP4 at ``path`` (atomically); warn once, unless it was asked for."""
    global _warned_fallback
    if not _warned_fallback and not forced:
        _warned_fallback = True
        logger.warning(
            "PyAV is not available: the simulator serves a fixed %s placeholder MP4 instead of a "
            "video of the requested size and length; the real renderer needs `pip install av`",
            FALLBACK_MP4_SHAPE,
        )
    tmp = path.with_suffix(".part")
    tmp.write_bytes(_data("placeholder.mp4"))
    tmp.replace(path)
    return "fallback"


def render_mp4(path: Path, job: RenderJob, *, stop: threading.Event | None = None, use_pyav: bool = True) -> str:
    """Write the MP4 for ``job`` at ``path`` (atomically); return "pyav" or "fallback".

    Blocking and CPU-bound: call it from a worker thread. ``stop`` aborts between frames.
    """
    av = _pyav() if use_pyav else None
    if av is None:
        return write_fallback(path, forced=not use_pyav)
    tmp = path.with_suffix(".part")
    container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    backdrop: Backdrop | None = None
    try:
        video = container.add_stream(
            "libx264", rate=job.fps, options={"preset": "ultrafast", "crf": "30", "g": str(2 * job.fps)}
        )
        video.width, video.height, video.pix_fmt = job.width, job.height, "yuv420p"
        audio = None
        if job.audio:
            audio = container.add_stream("aac", rate=44100, layout="mono")
            audio.bit_rate = 64000
        template = av.VideoFrame(job.width, job.height, "yuv420p")
        painter = _Painter(job, template.planes[0].line_size, template.planes[1].line_size)
        if job.has_inputs:
            backdrop = Backdrop(av, job, painter.ys, painter.cs, margin=painter.margin)
        tone = _tone(44100) if audio else b""
        samples_total = job.duration * 44100
        samples_done = 0
        for i in range(painter.frames):
            if stop is not None and stop.is_set():
                raise Aborted
            frame = av.VideoFrame(job.width, job.height, "yuv420p")
            for plane, data in zip(frame.planes, painter.planes(i, backdrop), strict=True):
                plane.update(bytes(data))
            frame.pts, frame.time_base = i, Fraction(1, job.fps)
            container.mux(video.encode(frame))
            # Keep the audio up with the video so the muxer can interleave.
            while audio is not None and samples_done < min(samples_total, (i + 1) * 44100 // job.fps):
                n = min(1024, samples_total - samples_done)
                afr = av.AudioFrame(format="fltp", layout="mono", samples=n)
                offset = (samples_done % 44100) * 4
                chunk = (tone + tone)[offset : offset + n * 4]
                afr.planes[0].update(chunk + bytes(afr.planes[0].buffer_size - len(chunk)))
                afr.pts, afr.sample_rate, afr.time_base = samples_done, 44100, Fraction(1, 44100)
                container.mux(audio.encode(afr))
                samples_done += n
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if backdrop is not None:
            backdrop.close()
    container.close()
    tmp.replace(path)
    return "pyav"


@lru_cache(maxsize=1)
def _tone(rate: int) -> bytes:
    """One second of a quiet 440 Hz tone with a 2 Hz pulse, as float32 samples (whole cycles: it loops)."""
    two_pi = 2 * math.pi
    samples = array(
        "f",
        (0.2 * math.sin(two_pi * 440 * t / rate) * (0.6 + 0.4 * math.cos(two_pi * 2 * t / rate)) for t in range(rate)),
    )
    return samples.tobytes()
