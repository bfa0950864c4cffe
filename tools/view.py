"""The agent's view of a task: state, timings, what went wrong and what to do next."""

from __future__ import annotations

import json
from pathlib import Path

from wan_video_mcp.server.catalog import CostEstimate
from wan_video_mcp.server.catalog.request import summary_of
from wan_video_mcp.server.providers.usage import billed_usage
from wan_video_mcp.server.store import TaskRecord
from wan_video_mcp.server.timefmt import iso
from wan_video_mcp.tools.outputs import MediaFacts, TaskError, TaskResult, VideoFile
from wan_video_mcp.tools.remedies import STATES_WITH_ERRORS, remedy_for
from wan_video_mcp.tools.state import AppState

VIDEO_URI = "wan-video://videos/{task_id}.mp4"
TASK_URI = "wan-video://tasks/{task_id}"


def task_result(
    state: AppState,
    record: TaskRecord,
    *,
    attached: str | None = None,
    video: VideoFile | None = None,
    wait_capped_to: int | None = None,
) -> TaskResult:
    """The agent's view of a task: state, timings, what to do next."""
    engine = state.engine
    percent, progress_text = engine.progress(record)
    request = record.request
    error = None
    if record.error_code and record.state in STATES_WITH_ERRORS:
        remedy = remedy_for(record.state, record.error_code)
        error = TaskError(code=record.error_code, message=record.error_message or "", remedy=remedy)
    poll_after = None
    tid = record.id
    if record.state in ("queued", "running", "submitting"):
        poll_after = engine.poll_after(record)
        next_step = (
            f"Call check_task(task_id='{tid}', wait_seconds={state.max_wait}) in about {poll_after}s; "
            "the server keeps polling and downloads the video itself."
        )
        message = f"Task {tid} is {progress_text}."
        if record.state == "submitting":
            message = (
                f"Task {tid} is recorded and its request is on its way to the provider (sent once, never "
                "again); the server records the answer when it comes."
            )
        poll_error = engine.last_poll_error(tid)
        if poll_error:
            message += f" Last status check failed: {poll_error}."
    elif record.state == "unknown":
        poll_after = 30
        next_step = (
            f"Not confirmed; do not generate again yet (see the message). Call check_task(task_id='{tid}') "
            "in 30s to see whether the server has found the task."
        )
        message = f"Task {tid}: {record.error_message or 'not confirmed; do not generate again yet'}"
    elif record.state == "succeeded":
        if video is not None:
            next_step = f"Open or read the resource {video.uri}; the file is at {video.path}."
            message = f"Video ready: {record.model}, {video.size_bytes} bytes, saved to {video.path}."
        elif record.video_pending and (record.download_state == "downloading" or state.settings.auto_download):
            poll_after = 5
            next_step = f"Call fetch_video(task_id='{tid}') in about 5s: the server is saving the video now."
            message = f"Task {tid} finished; the video is being downloaded ({record.download_state})."
        else:
            next_step = f"Call fetch_video(task_id='{tid}') to get the file and its resource link."
            why = f" ({record.download_error})" if record.download_error else ""
            message = f"Task {tid} finished; video download: {record.download_state}{why}."
    elif record.state == "failed":
        next_step = error.remedy if error and error.remedy else "Adjust the request and call generate_video again."
        message = f"Task {tid} failed: {record.error_code}: {record.error_message}"
    elif record.state == "canceled":
        next_step = "Nothing more to do; canceled tasks are not billed."
        message = f"Task {tid} was canceled."
    else:  # expired
        next_step = remedy_for("expired", "expired")
        message = f"Task {tid} expired at the provider."
    cost = CostEstimate.model_validate_json(record.cost_json) if record.cost_json else None
    billed = billed_usage(json.loads(record.usage_json)) if record.usage_json else None
    if billed is not None and billed.billed_seconds is not None:
        detail, given, made = "", billed.input_video_seconds, billed.output_video_seconds or 0
        if given and abs(billed.billed_seconds - (given + made)) < 0.1:  # r2v, videoedit: what was read + made
            detail = f" ({given:g} s of input video + {made:g} s generated)"
        elif given and abs(billed.billed_seconds - made) < 0.1:  # a continuation: the output holds the clip
            detail = f" (the whole {made:g} s output, which holds the {given:g} s clip it continues)"
        message += f" The provider billed {billed.billed_seconds:g} s{detail}."
    summary = summary_of(request | {"model": record.model}) if request else record.model
    if wait_capped_to is not None:
        message += (
            f" (The wait asked for was shortened to {wait_capped_to}s, this server's cap, so the call "
            "ends before the client's own timeout.)"
        )
    if record.simulated:
        message = "[SIMULATED] " + message
    return TaskResult(
        task_id=tid,
        status=record.state,
        model=record.model,
        message=message,
        next_step=next_step,
        summary=summary,
        attached=attached,
        progress_percent=round(percent, 1),
        poll_after_seconds=poll_after,
        elapsed_seconds=round(((record.finished_at or engine.clock()) - record.created_at), 1),
        wait_capped_to=wait_capped_to,
        remote_task_id=record.remote_id,
        provider=record.provider,
        simulated=record.simulated,
        cost_estimate=cost,
        billed=billed,
        request=request,
        download_status=record.download_state,
        video=video,
        remote_url=record.video_url,
        remote_url_expires_at=iso(record.video_url_expires_at),
        error=error,
        created_at=iso(record.created_at),
        finished_at=iso(record.finished_at),
    )


def video_file(record: TaskRecord, path: Path, media: MediaFacts | None) -> VideoFile:
    """The saved MP4 of ``record`` as the results describe it."""
    return VideoFile(
        uri=VIDEO_URI.format(task_id=record.id),
        size_bytes=record.file_size or 0,
        sha256=record.sha256 or "",
        path=str(path),
        file_uri=path.resolve().as_uri(),
        media=media,
    )
