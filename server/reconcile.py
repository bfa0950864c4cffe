"""Finding the provider task behind a submit whose outcome is unclear, without guessing.

A submit that may have reached the provider (a timeout after sending, a bare 502)
leaves a task in state ``unknown``. It is matched against the provider's task list
by what identifies it: the model, the request's own parameters where the provider
repeats them (prompt, duration, size), and the time it was sent, read on the
*provider's* clock. ``ClockSkew`` learns how far that clock is from ours, from the
provider's own timestamps: the ``submit_time`` of tasks we submitted (we know when
we sent them) and the ``Date`` header of its answers. Until a match is found or
the provider's task lifetime has passed, the task stays ``unknown``: whether it was
created or charged is not known, and no message may say otherwise.
"""

from __future__ import annotations

import email.utils
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wan_video_mcp.server.providers.base import RemoteStatus

# Assumed bound on the clock difference while nothing has been learned: wide enough for a
# wrong time zone setting, narrow enough to stay inside the list API's 24-hour window.
MAX_SKEW_SECONDS = 2 * 3600.0
# A Date header has one-second resolution; the request's flight time adds to that.
DATE_UNCERTAINTY_SECONDS = 2.0
# A clock offset known this well makes a lone candidate in the window trustworthy.
TIGHT_SECONDS = 60.0
SKEW_SAMPLES = 32


class ClockSkew:
    """The provider's clock minus ours, with how sure we are of it."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=SKEW_SAMPLES)  # (offset, uncertainty)

    def observe(self, provider_time: float, local_earliest: float, local_latest: float) -> None:
        """The provider stamped ``provider_time`` on something that happened between our two instants."""
        if local_latest < local_earliest:
            local_earliest, local_latest = local_latest, local_earliest
        middle = (local_earliest + local_latest) / 2
        self._samples.append((provider_time - middle, (local_latest - local_earliest) / 2 + 0.5))

    def observe_date(self, header: str | None, local_now: float) -> None:
        """A ``Date`` response header received at ``local_now``."""
        if not header:
            return
        try:
            stamped = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, OverflowError):
            return
        self._samples.append((stamped + 0.5 - local_now, DATE_UNCERTAINTY_SECONDS))

    @property
    def known(self) -> bool:
        return bool(self._samples)

    def estimate(self) -> tuple[float, float]:
        """(offset, uncertainty) in seconds; with nothing learned, (0, MAX_SKEW_SECONDS)."""
        if not self._samples:
            return 0.0, MAX_SKEW_SECONDS
        offsets = [offset for offset, _ in self._samples]
        middle = statistics.median(offsets)
        spread = max(abs(offset - middle) for offset in offsets)
        best = min(uncertainty for _, uncertainty in self._samples)
        return middle, min(MAX_SKEW_SECONDS, best + spread)

    def to_provider(self, local_time: float) -> float:
        return local_time + self.estimate()[0]


@dataclass(frozen=True)
class Window:
    """When, on the provider's clock, a task sent between two local instants can have been created."""

    earliest: float
    latest: float
    expected: float

    def contains(self, provider_time: float) -> bool:
        return self.earliest <= provider_time <= self.latest


def submit_window(skew: ClockSkew, sent_from: float, sent_until: float) -> Window:
    offset, uncertainty = skew.estimate()
    return Window(
        earliest=sent_from + offset - uncertainty - 1.0,
        latest=sent_until + offset + uncertainty + 1.0,
        expected=sent_from + offset,
    )


def candidates(
    listed: Iterable[RemoteStatus], *, models: set[str], window: Window, taken: set[str]
) -> list[RemoteStatus]:
    """Listed tasks that can be ours by model and time, not already another task's; nearest first."""
    found: list[tuple[float, RemoteStatus]] = []
    for status in listed:
        when = _ts(status)  # a task without a model or a time cannot be told apart from anyone's: skipped
        if when is not None and status.model in models and status.remote_id not in taken and window.contains(when):
            found.append((abs(when - window.expected), status))
    return [status for _, status in sorted(found, key=lambda item: item[0])]


def same_request(request: dict[str, Any], status: RemoteStatus) -> bool:
    """False when the provider's own account of a task contradicts our request; True otherwise.

    Only what the provider repeats can be compared: the original prompt and the billed duration and size
    (DashScope's ``orig_prompt`` and ``usage``). A task still queued repeats nothing and is not ruled out.
    """
    prompt = request.get("prompt")
    if status.prompt is not None and prompt is not None and status.prompt.strip() != str(prompt).strip():
        return False
    usage = status.usage or {}
    duration = request.get("duration")
    billed = usage.get("output_video_duration", usage.get("video_duration"))
    if duration is not None and isinstance(billed, int | float) and float(billed) != float(duration):
        return False
    size = request.get("size")
    billed_size = usage.get("size") or usage.get("video_ratio")
    if size is not None and isinstance(billed_size, str) and "*" in billed_size and billed_size != size:
        return False
    return True


def repeats_prompt(request: dict[str, Any], status: RemoteStatus) -> bool:
    """Whether the provider's account of a task quotes our request's prompt (proof, where ``same_request``
    is only the absence of a contradiction)."""
    prompt = request.get("prompt")
    return prompt is not None and status.prompt is not None and status.prompt.strip() == str(prompt).strip()


def _ts(status: RemoteStatus) -> float | None:
    return status.submitted_at.timestamp() if status.submitted_at else None


__all__ = [
    "MAX_SKEW_SECONDS",
    "TIGHT_SECONDS",
    "ClockSkew",
    "Window",
    "candidates",
    "repeats_prompt",
    "same_request",
    "submit_window",
]
