"""What the provider says it billed: DashScope's ``usage`` object (gateways pass it through) read into one shape.

The fields differ by generation (reference/media-protocol.md section 3, wire-formats.md section 1): wan2.7
and wan3.0 report ``duration`` (the billed seconds: output, or input + output where input video is billed),
``input_video_duration``, ``output_video_duration``, ``SR`` (the tier's short side), ``ratio`` and, for wan3.0,
``fps``; wan2.6 adds ``size``; wan2.5 and earlier give ``video_duration`` and ``video_ratio`` instead.
Anything missing or malformed is left out rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["BilledUsage", "billed_usage"]


class BilledUsage(BaseModel):
    """The provider's own account of a finished task (only successful tasks are billed)."""

    billed_seconds: float | None = None
    input_video_seconds: float | None = None
    output_video_seconds: float | None = None
    resolution: str | None = None  # "720P", from SR
    ratio: str | None = None
    size: str | None = None  # W*H, where the provider says it
    fps: float | None = None
    video_count: int | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def billed_usage(usage: Mapping[str, Any] | None) -> BilledUsage | None:
    """The billed usage in one shape, or None when the provider gave nothing usable."""
    if not isinstance(usage, Mapping) or not usage:
        return None
    output = _number(usage.get("output_video_duration"))
    legacy = _number(usage.get("video_duration"))
    billed = _number(usage.get("duration"))
    sr = _number(usage.get("SR"))
    ratio = _text(usage.get("ratio"))
    legacy_ratio = _text(usage.get("video_ratio"))
    size = _text(usage.get("size"))
    if legacy_ratio and "*" in legacy_ratio:  # wan2.2 writes the size into video_ratio
        size, legacy_ratio = size or legacy_ratio, None
    count = usage.get("video_count")
    result = BilledUsage(
        # wan2.5 and earlier bill the one duration they report (SDK responses also carry video_duration: 0).
        billed_seconds=billed if billed is not None else (legacy or None),
        input_video_seconds=_number(usage.get("input_video_duration")),
        output_video_seconds=output if output is not None else (legacy or None),
        resolution=f"{int(sr)}P" if sr else None,
        ratio=ratio or (legacy_ratio if legacy_ratio not in (None, "standard") else None),
        size=size,
        fps=_number(usage.get("fps")) or None,
        video_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
    )
    return result if result.model_dump(exclude_none=True) else None
