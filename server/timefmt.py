"""The one way times are written for agents and logs: ISO 8601 in UTC, to the second."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: float | None) -> str | None: ...
def iso(ts: float | None) -> str | None:
    """A Unix timestamp as ``2026-01-02T03:04:05+00:00`` (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
