"""What a task's inputs put in its video (``Backdrop``): the pictures behind the simulator's overlays, with PyAV.

- a first frame (i2v, kf2v, r2v/wan3.0 ``first_frame``): the background, scaled to the output size,
  until half-way; then the last frame, when one was given;
- a video (videoedit's ``video``, i2v's ``first_clip``): its frames at the same times, scaled; videoedit's
  get a colour cast (``tint``: chroma shifted towards red, ``TINT_U``/``TINT_V``), a first clip is
  followed by its last frame (or the last frame given);
- a reference (the first reference image or video): a quarter-width thumbnail in the top-right corner.

An input that PyAV cannot read is left out (logged); the stripes of the plain render show instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wan_video_mcp.server.simulator.rendering import RenderJob

logger = logging.getLogger(__name__)

TINT_U, TINT_V = -20, 40  # the videoedit colour cast, on the U and V planes
_U_TABLE = bytes(max(16, min(240, v + TINT_U)) for v in range(256))
_V_TABLE = bytes(max(16, min(240, v + TINT_V)) for v in range(256))

Planes = tuple[bytearray, bytearray, bytearray]
Rows = tuple[list[bytes], list[bytes], list[bytes]]


def _restride(data: bytes, line: int, stride: int, width: int, rows: int) -> bytearray:
    if line == stride:
        return bytearray(data[: stride * rows])
    out = bytearray(stride * rows)
    for r in range(rows):
        out[r * stride : r * stride + width] = data[r * line : r * line + width]
    return out


class Backdrop:
    """The input pictures of one render, as planes with the render's strides (built and used in its thread)."""

    def __init__(self, av: Any, job: RenderJob, y_stride: int, c_stride: int, *, margin: int = 8) -> None:
        self.av, self.job = av, job
        self.w, self.h, self.ys, self.cs = job.width, job.height, y_stride, c_stride
        self.first = self._still(job.first_image)
        self.last = self._still(job.last_image)
        self.thumb: tuple[int, int, Rows] | None = self._thumbnail(job.thumbnail, margin)
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._current: Planes | None = None
        self._next: Any = None
        self._start = 0.0
        self.clip_seconds = 0.0
        if job.clip is not None:
            self._open_clip(job.clip)

    def _planes(self, frame: Any) -> Planes:
        w, h, ch = self.w, self.h, (self.h + 1) // 2
        f = frame.reformat(width=w, height=h, format="yuv420p")
        y, u, v = (bytes(p) for p in f.planes)
        lines = [p.line_size for p in f.planes]
        return (
            _restride(y, lines[0], self.ys, w, h),
            _restride(u, lines[1], self.cs, (w + 1) // 2, ch),
            _restride(v, lines[2], self.cs, (w + 1) // 2, ch),
        )

    def _first_picture(self, path: Path) -> Any:
        with self.av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame
        return None

    def _still(self, path: Path | None) -> Planes | None:
        if path is None:
            return None
        try:
            frame = self._first_picture(path)
            return self._planes(frame) if frame is not None else None
        except Exception:
            logger.warning("cannot draw the input %s; left out", path.name, exc_info=True)
            return None

    def _thumbnail(self, path: Path | None, margin: int) -> tuple[int, int, Rows] | None:
        if path is None:
            return None
        try:
            frame = self._first_picture(path)
            if frame is None or not frame.width or not frame.height:
                return None
            fit = min(self.w / 4 / frame.width, self.h / 3 / frame.height)  # within a quarter width, a third height
            tw, th = (max(2, int(side * fit) // 2 * 2) for side in (frame.width, frame.height))
            small = frame.reformat(width=tw, height=th, format="yuv420p")
            rows: list[list[bytes]] = []
            for k, plane in enumerate(small.planes):
                width, count = (tw, th) if k == 0 else (tw // 2, th // 2)
                data = bytes(plane)
                rows.append([data[r * plane.line_size : r * plane.line_size + width] for r in range(count)])
            x = max(0, (self.w - margin - tw) // 2 * 2)
            return x, margin // 2 * 2, (rows[0], rows[1], rows[2])
        except Exception:
            logger.warning("cannot draw the reference %s; left out", path.name, exc_info=True)
            return None

    def _open_clip(self, path: Path) -> None:
        try:
            self._container = self.av.open(str(path))
            stream = self._container.streams.video[0]
            if self._container.duration:
                self.clip_seconds = self._container.duration / 1_000_000
            self._frames = iter(self._container.decode(stream))
            self._next = next(self._frames, None)
            if self._next is not None and self._next.time is not None:
                self._start = self._next.time
        except Exception:
            logger.warning("cannot draw the input video %s; left out", path.name, exc_info=True)
            self.close()

    def _clip_at(self, t: float) -> Planes | None:
        """The clip's frame at ``t`` (its last one after it ends), tinted for videoedit."""
        try:
            while self._next is not None and (
                self._current is None or (self._next.time or 0.0) - self._start <= t + 1e-6
            ):
                y, u, v = self._planes(self._next)
                if self.job.tint:
                    u, v = bytearray(u.translate(_U_TABLE)), bytearray(v.translate(_V_TABLE))
                self._current = (y, u, v)
                assert self._frames is not None
                self._next = next(self._frames, None)
        except Exception:
            logger.warning("the input video stopped decoding; its last frame is held", exc_info=True)
            self._next = None
        return self._current

    def base(self, t: float) -> Planes | None:
        """The picture behind frame time ``t`` (a copy the painter may draw on), or None for the plain stripes."""
        half = self.job.duration / 2
        picture: Planes | None = None
        if self._container is not None and (self.job.tint or t < self.clip_seconds):
            picture = self._clip_at(t)
        elif self.last is not None and t >= half:
            picture = self.last
        elif self.first is not None:
            picture = self.first
        elif self._container is not None:
            picture = self._clip_at(t)
        if picture is None:
            return None
        return bytearray(picture[0]), bytearray(picture[1]), bytearray(picture[2])

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
