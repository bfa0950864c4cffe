"""What an accepted submit is (``SubmitPlan``), the inputs it points at (``InputRef``), what they turned out to
be (``Probe``, ``TaskMedia``) and the service's refusal (``ApiError``).

Shared by the legacy validator (``validation``) and the media protocol's (``media_validation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wan_video_mcp.server.catalog import ModelSpec

# The media protocol's answer to an oss:// URL sent without ``X-DashScope-OssResourceResolve: enable``
# (reference/media-protocol.md section 6).
MSG_OSS = (
    "InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
    "Ensure it is correctly formatted."
)


class ApiError(Exception):
    """An error answer of the service: HTTP status, DashScope code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    """A 400 ``InvalidParameter``."""
    return ApiError(400, "InvalidParameter", message)


def checked_duration(model_name: str, spec: ModelSpec, params: dict[str, Any], allowed: str) -> int:
    """``parameters.duration`` (the model's default when absent) as an int, or the service's refusal."""
    duration = params.get("duration", spec.default_duration)
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not math.isfinite(duration)
        or duration != int(duration)
        or int(duration) not in spec.durations
    ):
        raise invalid(f"The duration is not supported by {model_name}; allowed: {allowed}.")
    return int(duration)


def check_url(
    value: object,
    name: str,
    *,
    required: bool,
    oss_resolve: bool,
    schemes: tuple[str, ...] = ("http://", "https://", "oss://", "data:"),
) -> str | None:
    """The URL at ``name`` (None when absent and not required), or the service's refusal.

    An ``oss://`` URL needs the request header ``X-DashScope-OssResourceResolve: enable``.
    """
    if value is None or value == "":
        if required:
            raise invalid(f"Field required: {name}")
        return None
    if not isinstance(value, str):
        raise invalid(f"Input should be a valid string: {name}")
    if not value.startswith(schemes):
        raise ApiError(400, "InvalidURL", f"Invalid URL provided in your request: {name}")
    if value.startswith("oss://") and not oss_resolve:
        raise invalid(MSG_OSS)
    return value


# What an input URL holds: an image, a video, an audio file, a document, a web page, or an image or a video
# (wan2.6-r2v-flash's reference_urls).
IMAGE, VIDEO, AUDIO, FILE, LINK, VISUAL = "image", "video", "audio", "file", "link", "visual"


@dataclass(frozen=True)
class InputRef:
    """One URL of a submit that the service reads: where it was, what it should hold, the URL."""

    field: str  # e.g. "input.media[0].url", "input.img_url", "input.reference_urls[2]"
    role: str  # the media type ("first_frame", "video", ...), "reference_voice", or the legacy field's name
    kind: str  # IMAGE, VIDEO, AUDIO, FILE, LINK or VISUAL
    url: str
    seconds: tuple[float, float] | None = None  # the documented length of the item, when it has one


@dataclass(frozen=True)
class SubmitPlan:
    """A submit the service accepted: what to simulate, with the real service's defaults filled in."""

    model_name: str  # as sent (wanx2.1-*, *-us, snapshot and catalog ids are all accepted)
    spec: ModelSpec
    prompt: str  # truncated to the model's maximum; "" when none was given
    negative_prompt: str | None
    size: str  # the output W*H (media protocol, output following an input: the tier's 16:9 until it is seen)
    tier: str
    duration: int  # output seconds (videoedit 0 and wan3.0 -1: 5 until the input is seen)
    audio: bool
    prompt_extend: bool
    reference_videos: int = 0
    seed: int | None = None
    inputs: tuple[InputRef, ...] = ()  # every URL the service reads, in body order
    # The media protocol:
    ratio: str | None = None  # the output's ratio; None: it follows an input (i2v, adaptive, videoedit default)
    keep_input_length: bool = False  # videoedit duration 0: the output is as long as the input video
    auto_duration: bool = False  # wan3.0 duration -1: the model picks (the simulator: 5 s, within the 30 s total)
    failure: tuple[str, str] | None = None  # accepted, but the task will fail with (code, message)

    @property
    def width(self) -> int:
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("*")[1])

    @property
    def generation(self) -> str:
        return self.spec.id.split("-")[0]  # "wan2.6", "wan2.5", "wan2.7", "wan3.0", ...


@dataclass(frozen=True)
class Probe:
    """What a fetched input turned out to be (PyAV's reading of it)."""

    kind: str  # IMAGE, VIDEO, AUDIO, or "" when PyAV could not read it as media
    width: int = 0
    height: int = 0
    seconds: float | None = None  # videos and audio


@dataclass
class TaskMedia:
    """What the simulator learned from a task's inputs: a ``Probe`` per fetched input, files kept for the render."""

    probes: dict[int, Probe] = field(default_factory=dict)  # index into ``SubmitPlan.inputs``
    files: dict[int, Path] = field(default_factory=dict)  # the inputs the render draws from, by the same index

    def release(self) -> None:
        """Delete the kept files (after the render, or when the task failed)."""
        for path in self.files.values():
            path.unlink(missing_ok=True)
        self.files.clear()
