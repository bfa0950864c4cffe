"""Pure helpers every wire format uses to read provider JSON: secret scrubbing, strings, progress, times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from wan_video_mcp.server.providers.base import RemoteState

__all__ = ["MAX_QUOTED_TEXT", "as_dict", "no_reason", "nonempty", "parse_epoch", "parse_progress", "scrub", "stripped"]

MAX_QUOTED_TEXT = 300  # provider text quoted in a message is cut to this length
# Anything shaped like a credential is scrubbed from provider text before it reaches a message.
_SECRET_RES = (
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{3,}"),
)
_REDACTED = "[redacted]"


def scrub(text: Any, secret: str | None, *, limit: int | None = MAX_QUOTED_TEXT) -> str:
    """Provider text made safe for a message: the API key and anything credential-shaped removed,
    blanks collapsed, the length bounded by ``limit`` (None: our own full message, not cut)."""
    value = "" if text is None else str(text)
    if secret:
        value = value.replace(secret, _REDACTED)
    for pattern in _SECRET_RES:
        value = pattern.sub(_REDACTED, value)
    value = " ".join(value.split())
    return value if limit is None or len(value) <= limit else value[: limit - 3] + "..."


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def nonempty(value: Any) -> str | None:
    """A non-empty string as it is, or None (DashScope sends "" for absent values)."""
    return value if isinstance(value, str) and value != "" else None


def stripped(value: Any) -> str | None:
    """A string without surrounding blanks, or None when it is not a string or only blanks."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_progress(value: Any) -> float | None:
    """Progress as 0..100 from ``30``, ``30.5``, ``"30%"`` or ``"30"``; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if number != number:  # NaN
        return None
    return min(100.0, max(0.0, number))


def parse_epoch(value: Any) -> datetime | None:
    """A UTC datetime from epoch seconds; None for 0, absent or unreadable values."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def no_reason(state: RemoteState) -> str:
    """The message for a failed or canceled task whose answer gives no reason."""
    return "the task was canceled" if state == "canceled" else "the task failed without a reason"
