"""The provider's clock, learned: how far it is from ours and how sure we are, and the window in which
a task we sent must have been created on it.

``ClockSkew`` learns from the provider's own timestamps: the ``submit_time`` of tasks we submitted (we
know when we sent them) and the ``Date`` header of its answers.
"""

from __future__ import annotations

import email.utils
import statistics
from collections import deque
from dataclasses import dataclass

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
