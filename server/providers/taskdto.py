"""new-api's task dialect, which new-api answers and YutoAI's engine copies: statuses, envelopes, error bodies.

Status spellings from three generations of the API, the ``{code, message, data}``
envelope and OpenAI-style ``{"error": {...}}`` bodies, ``fail_reason`` text (which
older builds also use for the result URL), and the refusals a 2xx can carry.
"""

from __future__ import annotations

import re
from typing import Any

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteState
from wan_video_mcp.server.providers.parsing import scrub, stripped

__all__ = [
    "UPSTREAM_EXPIRED",
    "legacy_url",
    "parse_error",
    "parse_fail_reason",
    "report_failure",
    "state_of",
    "submit_refusal",
]

# TaskDto.status (upper case), the OpenAI-style /v1/videos status (lower case), the
# simplified realtime status, and DashScope's own task_status, all in one table.
# new-api turns anything it does not know into QUEUED, and so do we (see state_of).
_STATES: dict[str, RemoteState] = {
    "NOT_START": "queued",
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "PENDING": "queued",
    "UNKNOWN": "queued",
    "IN_PROGRESS": "running",
    "PROCESSING": "running",
    "RUNNING": "running",
    "SUCCESS": "succeeded",
    "SUCCEEDED": "succeeded",
    "COMPLETED": "succeeded",
    "FAILURE": "failed",
    "FAILED": "failed",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",
}

# DashScope forgets task ids after 24 h; a gateway in front of it reports this as a FAILURE.
UPSTREAM_EXPIRED = "the task is no longer known upstream (task ids expire 24 h after submission)"

# "task failed, code: InvalidParameter , message: image_url must provided"
_FAIL_REASON_RE = re.compile(r"code:\s*(?P<code>[^,\s]+)\s*,\s*message:\s*(?P<message>.*)", re.DOTALL)
_HTTP_URL_RE = re.compile(r"^https?://\S+$")


def state_of(status: Any) -> RemoteState:
    """Our state for any status spelling new-api has used; unknown spellings are "queued", as new-api does."""
    if not isinstance(status, str):
        return "queued"
    return _STATES.get(status.strip().upper(), "queued")


def parse_fail_reason(text: str | None) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``"task failed, code: X , message: Y"``, or ``(None, text)``; URLs are no reason."""
    if not text or _HTTP_URL_RE.match(text):
        return None, None
    match = _FAIL_REASON_RE.search(text)
    if match:
        return match.group("code").strip(), match.group("message").strip() or None
    return None, text


def legacy_url(text: str | None) -> str | None:
    """The result URL older builds write into ``fail_reason`` on success, if that is what it holds."""
    return text if text and _HTTP_URL_RE.match(text) else None


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from a gateway error body, whichever of its two shapes it has.

    Task routes answer ``{"code", "message", "data"}``; auth and relay middleware answer
    OpenAI-style ``{"error": {"message", "type", "code"}}``.
    """
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return (str(code) if code not in (None, "") else None), stripped(error.get("message"))
    if isinstance(error, str) and error.strip():
        return None, error.strip()
    code = body.get("code")
    message = stripped(body.get("message")) or stripped(body.get("msg"))
    return (str(code) if code not in (None, "") else None), message


def submit_refusal(body: Any, who: str, *, secret: str | None) -> ProviderError | None:
    """The refusal an id-less 2xx submit answer carries (new-api writes some errors into a 2xx), if any."""
    code, message = parse_error(body)
    if (code and code != "success") or message:
        return ProviderError(
            f"{who} refused the submit ({scrub(code, secret) or 'error'}: {scrub(message, secret) or 'no message'})",
            provider_code=code,
            retryable=False,
            created=False,
        )
    return None


def report_failure(body: Any, who: str, remote_id: str, *, secret: str | None) -> ProviderError:
    """A ``{code, message}`` envelope whose code is not "success": the gateway could not report the task."""
    code, message = parse_error(body)
    return ProviderError(
        f"{who} could not report task {remote_id} ({scrub(code, secret)}: {scrub(message, secret) or 'no message'})",
        provider_code=code,
        retryable=False,
    )
