"""Real input media for tests, made with PyAV and the standard library: PNG frames, H.264 clips, WAV audio.

Served on loopback (``tests.hostile_http.HostileServer``) or inlined as ``data:`` URLs, so nothing in a test
reaches the network.
"""

from __future__ import annotations

import base64
import io
import wave
from fractions import Fraction

import av

RED, BLUE, GREEN = (230, 20, 20), (30, 40, 210), (20, 200, 40)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG."""
    frame = av.VideoFrame(width, height, "rgb24")
    frame.planes[0].update(bytes(rgb) * (width * height))
    out = io.BytesIO()
    with av.open(out, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for packet in (*stream.encode(frame), *stream.encode(None)):
            container.mux(packet)
    return out.getvalue()


def mp4(
    seconds: float = 3.0, size: tuple[int, int] = (320, 240), switch_at: float = 1.5, container_format: str = "mp4"
) -> bytes:
    """A silent H.264 clip at 8 fps: BLUE until ``switch_at``, then GREEN (in a QuickTime file with "mov")."""
    width, height = size
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=8, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * 8)):
            rgb = av.VideoFrame(width, height, "rgb24")
            rgb.planes[0].update(bytes(BLUE if i / 8 < switch_at else GREEN) * (width * height))
            frame = rgb.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 8)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def wav(seconds: float = 2.5, rate: int = 8000, samples: bytes | None = None) -> bytes:
    """Mono 16-bit WAV: silence, or the given little-endian samples."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples if samples is not None else b"\0\0" * int(rate * seconds))
    return out.getvalue()


def data_url(mime: str, body: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(body).decode()}"


def encoded_audio(codec: str, container_format: str, rate: int, sample_format: str, seconds: float = 2.0) -> bytes:
    """Silent mono audio in any codec and container PyAV has (an Ogg Opus: "libopus", "ogg", 48000, "s16")."""
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        total = int(seconds * rate)
        for start in range(0, total, 1024):
            frame = av.AudioFrame(format=sample_format, layout="mono", samples=min(1024, total - start))
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
