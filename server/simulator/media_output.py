"""What a task's output is once its inputs were read: its W*H and length (``output_of``), its ``usage`` (media
protocol, reference/media-protocol.md section 3), and which inputs its render draws (``render_sources``).

- W*H is the catalog's ``output_size(tier, ratio)``. Without a ratio (i2v; r2v with a first frame;
  videoedit without one; wan3.0 ``adaptive``) the output takes the ratio of the model's list closest to
  the aspect of the first frame, first clip or input video (wan3.0: else its first image or video),
  or 16:9 when there is none or it was not read.
- Lengths: videoedit ``duration`` 0 keeps the input video's length (rounded, at least 2 s); wan3.0's
  ``-1`` gives ``AUTO_SECONDS`` within the 30 s total; i2v's ``duration`` with a first clip is the whole output.
- Input videos are measured with PyAV when they were read; otherwise each counts
  ``ASSUMED_VIDEO_SECONDS`` (also the legacy wan2.6-r2v's billed reference length).
- Usage per model, as the reference's table lists it: t2v bills the output; i2v the whole output
  (its ``input_video_duration`` is the first clip's seconds: the reference shows none, conflict 7);
  r2v and videoedit input + output (r2v in whole seconds, videoedit as floats); wan3.0 floats plus
  ``fps`` 30; ``ratio`` only where listed (t2v, r2v, wan3.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wan_video_mcp.server.catalog import Family, Protocol
from wan_video_mcp.server.simulator.media_validation import AUTO_SECONDS
from wan_video_mcp.server.simulator.plans import IMAGE, VIDEO, VISUAL, SubmitPlan, TaskMedia
from wan_video_mcp.server.simulator.tasks import SimTask
from wan_video_mcp.server.simulator.validation import looks_like_video

ASSUMED_VIDEO_SECONDS = 5
WAN30_FPS = 30
_WAN27_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
_PRIMARY = ("first_frame", "first_clip", "video")  # what the output's aspect follows, before any other input
# Which input each part of the render draws from: the first input (in body order) of these roles.
SOURCE_ROLES: dict[str, tuple[str, ...]] = {
    "first": ("first_frame", "img_url", "first_frame_url"),
    "last": ("last_frame", "last_frame_url"),
    "clip": ("video", "first_clip"),
    "thumb": ("reference_image", "reference_video", "reference_urls", "reference_video_urls"),
}


@dataclass(frozen=True)
class Output:
    width: int
    height: int
    seconds: int
    ratio: str | None  # media protocol: the ratio rendered


def video_seconds(plan: SubmitPlan, media: TaskMedia | None) -> tuple[float, bool]:
    """The input videos' total seconds, and whether every one was measured (else each unmeasured counts 5 s)."""
    total, measured = 0.0, True
    for index, ref in enumerate(plan.inputs):
        probe = media.probes.get(index) if media else None
        if probe is not None and probe.kind:
            is_video = probe.kind == VIDEO
        else:
            is_video = ref.kind == VIDEO or (ref.kind == VISUAL and looks_like_video(ref.url))
        if not is_video:
            continue
        if probe is not None and probe.seconds is not None:
            total += probe.seconds
        else:
            total += ASSUMED_VIDEO_SECONDS
            measured = False
    return total, measured


def _aspect(plan: SubmitPlan, media: TaskMedia | None) -> float | None:
    """The aspect (w/h) the output follows: the first frame, clip or video, else (wan3.0) any image or video."""
    if media is None:
        return None
    order = [i for i, ref in enumerate(plan.inputs) if ref.role in _PRIMARY]
    if plan.spec.family is Family.OMNI:
        order += [i for i, ref in enumerate(plan.inputs) if ref.role.startswith("reference_") and i not in order]
    for index in order:
        probe = media.probes.get(index)
        if probe is not None and probe.kind in (IMAGE, VIDEO) and probe.width and probe.height:
            return probe.width / probe.height
    return None


def _closest_ratio(aspect: float, ratios: tuple[str, ...]) -> str:
    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(aspect) - math.log(int(w) / int(h)))

    return min(ratios, key=distance)


def output_of(task: SimTask) -> Output:
    """The output the task renders (and bills)."""
    plan = task.plan
    if plan.spec.protocol is not Protocol.MEDIA:
        return Output(plan.width, plan.height, plan.duration, None)
    ratio = plan.ratio
    if ratio is None:
        choices = tuple(r for r in plan.spec.ratios if r != "adaptive") or _WAN27_RATIOS
        aspect = _aspect(plan, task.media)
        ratio = _closest_ratio(aspect, choices) if aspect else "16:9"
    size = plan.spec.output_size(plan.tier, ratio) or plan.size
    width, height = (int(side) for side in size.split("*"))
    seconds = plan.duration
    inputs, _ = video_seconds(plan, task.media)
    if plan.keep_input_length:
        seconds = max(2, round(inputs))
    elif plan.auto_duration:
        limit = plan.spec.total_seconds_max or 30
        seconds = max(2, min(AUTO_SECONDS, int(limit - inputs)))
    return Output(width, height, seconds, ratio)


def media_usage(task: SimTask) -> dict[str, Any]:
    """The ``usage`` of a SUCCEEDED media-protocol task."""
    plan, out = task.plan, output_of(task)
    sr = int(plan.tier.rstrip("P"))
    family = plan.spec.family
    seconds_in, _ = video_seconds(plan, task.media)
    if family in (Family.EDIT, Family.OMNI):
        used_in = round(seconds_in, 2)
        usage: dict[str, Any] = {
            "duration": round(used_in + out.seconds, 2),
            "input_video_duration": used_in,
            "output_video_duration": float(out.seconds),
        }
    else:
        whole_in = round(seconds_in)
        billed = out.seconds + (whole_in if family is Family.R2V else 0)
        usage = {"duration": billed, "input_video_duration": whole_in, "output_video_duration": out.seconds}
    if family is Family.T2V:
        usage["input_video_duration"] = 0
    usage |= {"video_count": 1, "SR": sr}
    if family in (Family.T2V, Family.R2V, Family.OMNI):
        usage["ratio"] = out.ratio
    if family is Family.OMNI:
        usage["fps"] = WAN30_FPS
    return usage


def render_sources(task: SimTask) -> dict[str, Path]:
    """The kept input files the render draws: "first", "last" (images), "clip" (a video), "thumb"."""
    media = task.media
    if media is None:
        return {}
    sources: dict[str, Path] = {}
    for part, roles in SOURCE_ROLES.items():
        for index, ref in enumerate(task.plan.inputs):
            if ref.role in roles and index in media.files:
                sources[part] = media.files[index]
                break
    return sources


def kept_inputs(plan: SubmitPlan) -> set[int]:
    """The inputs whose files the render may draw (the first of each part's roles)."""
    kept: set[int] = set()
    for roles in SOURCE_ROLES.values():
        index = next((i for i, ref in enumerate(plan.inputs) if ref.role in roles), None)
        if index is not None:
            kept.add(index)
    return kept
