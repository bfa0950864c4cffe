"""What a task's row becomes: pure functions from a task and an event (a provider's answer, a submit's
outcome, time passing) to the changes to write. No I/O; the engine writes what these return.

States: ``submitting`` (row written, paid call in flight) -> ``queued`` -> ``running`` -> ``succeeded`` |
``failed`` | ``canceled`` | ``expired``; ``unknown`` when a submit's outcome is ambiguous, until it is
found in the provider's task list or the task lifetime passes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteStatus, RemoteTask
from wan_video_mcp.server.store import TaskRecord

Changes = dict[str, Any]

URL_LIFETIME_SECONDS = 24 * 3600
TASK_LIFETIME_SECONDS = 24 * 3600
UNCONFIRMED = (
    "not confirmed: the submit may or may not have created a task at the provider, so the server will "
    "not send it again; it is looking for it in the provider's task list. Do not generate again yet"
)
# A task whose lease is given back with the change.
RELEASED: Changes = {"lease_owner": None, "lease_until": None}


def url_expiry(url: str, fallback: float) -> float:
    """When a signed result URL stops working: its OSS ``Expires`` parameter, else ``fallback``."""
    try:
        values = parse_qs(urlsplit(url).query).get("Expires")
        if values:
            return float(values[0])
    except ValueError:
        pass
    return fallback


def polled(record: TaskRecord, status: RemoteStatus, *, now: float, polled_at: float) -> Changes:
    """What the provider's answer about a task changes in its row."""
    changes: Changes = {
        "remote_state": status.state,
        "last_polled_at": polled_at,
        "poll_count": record.poll_count + 1,
        "poll_errors": 0,
    }
    if status.progress is not None:
        changes["progress"] = status.progress
    if status.state in ("queued", "running"):
        changes["state"] = status.state
    elif status.state == "succeeded":
        # The provider's own end time, when it gives one, so learned durations exclude our detection lag
        # (clamped into [submitted, now] against clock skew).
        started = record.submitted_at or record.created_at
        finished = status.finished_at.timestamp() if status.finished_at else now
        finished = min(now, max(started, finished))
        changes |= {
            "state": "succeeded",
            "progress": 100.0,
            "finished_at": finished if record.finished_at is None else record.finished_at,
            "video_url": status.video_url,
            "video_url_expires_at": url_expiry(status.video_url or "", finished + URL_LIFETIME_SECONDS),
            "actual_prompt": status.actual_prompt,
            "usage_json": json.dumps(status.usage) if status.usage else None,
            "error_code": None,
            "error_message": None,
        }
    elif status.state == "failed":
        changes |= {
            "state": "failed",
            "finished_at": now,
            "error_code": status.error_code or "failed",
            "error_message": status.error_message or "the provider reported the task as failed",
            "error_retryable": False,
        }
    elif status.state == "canceled":
        changes |= {"state": "canceled", "finished_at": now}
    elif status.state == "expired":
        changes |= {
            "state": "expired",
            "finished_at": now,
            "error_code": "expired",
            "error_message": "the provider no longer knows this task (task ids expire after 24 hours)",
        }
    return changes


def teaches_clock(record: TaskRecord, status: RemoteStatus) -> bool:
    """Whether the provider's submit time of this task tells its clock: we sent it once, ourselves, between
    ``created_at`` and ``submitted_at``."""
    return bool(status.submitted_at and record.submitted_at and not record.adopted and record.submit_attempts == 1)


def submitted(remote: RemoteTask, *, now: float, next_poll_at: float) -> Changes:
    """The paid call answered with the provider's task id: the task is the provider's now."""
    state = remote.status.state if remote.status.state in ("queued", "running") else "queued"
    return {
        "state": state,
        "remote_id": remote.remote_id,
        "remote_state": remote.status.state,
        "submitted_at": now,
        "error_code": None,
        "error_message": None,
        **RELEASED,
        "next_poll_at": next_poll_at,
    }


def refused(error: ProviderError) -> Changes:
    """The provider refused the submit: it says no task exists."""
    return {
        "state": "failed",
        "error_code": error.provider_code or error.code,
        "error_message": error.message,
        "error_retryable": error.retryable,
        **RELEASED,
    }


def stopped_before_retry() -> Changes:
    """The server stopped while waiting to retry a submit the provider had refused: no task exists."""
    return {
        "state": "failed",
        "error_code": "not_submitted",
        **RELEASED,
        "error_message": "the server stopped while retrying a submit the provider had refused, so no task was created",
        "error_retryable": True,
    }


def unconfirmed(reason: str, code: str = "submit_outcome_unknown") -> Changes:
    """The submit may or may not have created a task: never resend, look for it in the provider's list."""
    return {"state": "unknown", "error_code": code, "error_message": f"{reason}; {UNCONFIRMED}"}


def lifetime_passed(record: TaskRecord, now: float, clock_uncertainty: float) -> bool:
    """Whether the provider's task lifetime has passed since the task was created, on any clock we may have."""
    return now - record.created_at > TASK_LIFETIME_SECONDS + clock_uncertainty


def never_confirmed(now: float) -> Changes:
    """An unconfirmed task the provider never showed during its lifetime."""
    return {
        "state": "failed",
        "finished_at": now,
        "error_code": "not_confirmed",
        "error_retryable": False,
        "error_message": "never confirmed: the provider did not show this task during its 24-hour task "
        "lifetime. Whether it was created or charged is not known: check the provider's billing console "
        "before generating again.",
    }


def no_task_list(record: TaskRecord) -> Changes:
    """An unconfirmed task at a provider without a task list: what the agent must do (empty: already said)."""
    if record.error_code == "no_task_list":
        return {}
    return {
        "error_code": "no_task_list",
        "error_message": "not confirmed: the submit may or may not have created a task, and this provider "
        "has no task list to check, so the server will not send it again. Look for the task in the "
        "provider's console, then call check_task with its id to adopt it; do not generate again "
        "before that.",
    }


def settled(record: TaskRecord, auto_download: bool) -> bool:
    """Whether a waiter may stop: the task ended and, for a video saved automatically, its download too."""
    if not record.terminal:
        return False
    if record.state != "succeeded" or not auto_download:
        return True
    return record.download_state in ("downloaded", "download_failed")
