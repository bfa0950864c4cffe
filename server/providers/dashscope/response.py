"""What DashScope answers: task statuses and task-list entries, read into ``RemoteStatus``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wan_video_mcp.server.catalog import models_for
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteState, RemoteStatus
from wan_video_mcp.server.providers.dashscope.errors import advice_for
from wan_video_mcp.server.providers.dashscope.regions import SERVICE_TZ
from wan_video_mcp.server.providers.parsing import nonempty, scrub

__all__ = ["malformed", "map_state", "parse_list_item", "parse_status", "parse_time"]

_STATE_MAP: dict[str, RemoteState] = {
    "PENDING": "queued",
    "RUNNING": "running",
    # The SDK does not treat SUSPENDED as terminal: the task may resume, so keep polling.
    "SUSPENDED": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "canceled",
    # What a task id older than 24 h (or never known) returns.
    "UNKNOWN": "expired",
}


def parse_time(value: Any) -> datetime | None:
    """A service timestamp (UTC+8 text, or epoch seconds/milliseconds) as an aware UTC datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        # The list API returns epoch milliseconds; anything this large cannot be seconds.
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(stripped, fmt).replace(tzinfo=SERVICE_TZ).astimezone(UTC)
        except ValueError:
            continue
    return None


def map_state(task_status: str) -> RemoteState:
    """Our state for a DashScope task_status."""
    # An unrecognised state is kept non-terminal: declaring a possibly paid task dead is worse than polling on.
    return _STATE_MAP.get(task_status.upper(), "running")


def malformed(what: str) -> ProviderError:
    """A retryable error for a 200 whose body is not what the protocol promises."""
    return ProviderError(
        f"DashScope returned a malformed {what}; this is usually transient, try again",
        provider_code="MalformedResponse",
        http_status=200,
        retryable=True,
    )


def parse_status(body: Any) -> RemoteStatus:
    """A task query body (``GET /tasks/{id}``) as a ``RemoteStatus``; raises ProviderError if malformed."""
    if not isinstance(body, Mapping) or not isinstance(body.get("output"), Mapping):
        raise malformed("task status (no output object)")
    output = body["output"]
    task_id = nonempty(output.get("task_id"))
    task_status = nonempty(output.get("task_status"))
    if task_id is None or task_status is None:
        raise malformed("task status (no task_id or task_status)")
    state = map_state(task_status)
    usage = body.get("usage")
    common: dict[str, Any] = {
        "remote_id": task_id,
        "actual_prompt": nonempty(output.get("actual_prompt")),
        "prompt": nonempty(output.get("orig_prompt")),
        "usage": dict(usage) if isinstance(usage, Mapping) else {},
        "submitted_at": parse_time(output.get("submit_time")),
        "finished_at": parse_time(output.get("end_time")),
    }
    if state == "succeeded":
        video_url = nonempty(output.get("video_url"))
        if video_url is None:
            return RemoteStatus(
                state="failed",
                error_code="MissingVideoUrl",
                error_message="DashScope reported the task SUCCEEDED but returned no video_url",
                **common,
            )
        return RemoteStatus(state="succeeded", video_url=video_url, **common)
    if state == "failed":
        # A FAILED task is reported with HTTP 200: the failure is in output.code / output.message.
        code = nonempty(output.get("code")) or "Unknown"
        message = nonempty(output.get("message")) or nonempty(output.get("msg")) or "the task failed without a reason"
        advice = advice_for(code)
        return RemoteStatus(
            state="failed",
            error_code=code,
            error_message=scrub(f"{message.rstrip('. ')}. {advice}" if advice else message, None, limit=None),
            **common,
        )
    if state == "expired":
        return RemoteStatus(
            state="expired",
            error_code="UNKNOWN",
            error_message="DashScope no longer knows this task: task ids and video URLs expire after 24 hours",
            **common,
        )
    return RemoteStatus(state=state, **common)


def _catalog_id(wire_name: str | None, region: str | None) -> str | None:
    """The catalog id for a wire model name in a region (``wanx2.1-t2v-turbo`` -> ``wan2.1-t2v-turbo``)."""
    if wire_name is None or region is None:
        return wire_name
    for spec in models_for(region):
        if spec.wire_name(region) == wire_name:
            return spec.id
    return wire_name


def parse_list_item(item: Any, region: str | None = None) -> RemoteStatus | None:
    """One entry of ``GET /tasks`` ``data`` as a ``RemoteStatus`` (no video URL there); None if unusable.

    With ``region``, the service's model name is translated back to our catalog id so it can be
    matched against stored tasks; an unknown name is kept as the service wrote it.
    """
    if not isinstance(item, Mapping):
        return None
    task_id = nonempty(item.get("task_id"))
    task_status = nonempty(item.get("status")) or nonempty(item.get("task_status"))
    if task_id is None or task_status is None:
        return None
    return RemoteStatus(
        remote_id=task_id,
        state=map_state(task_status),
        model=_catalog_id(nonempty(item.get("model_name")) or nonempty(item.get("model")), region),
        submitted_at=parse_time(item.get("gmt_create") or item.get("submit_time") or item.get("start_time")),
        finished_at=parse_time(item.get("end_time")),
    )
