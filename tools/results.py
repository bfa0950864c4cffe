"""Turning a task into a tool result: the finished video with its link, or a handle to come back with."""

from __future__ import annotations

import base64

import anyio
import mcp_types as types

from server import downloads
from server.errors import WanError
from server.store import TaskRecord
from tools.common import AppState, MediaFacts, ok_result, task_result, video_file


async def video_result(state: AppState, record: TaskRecord, *, attached: str | None = None) -> types.CallToolResult:
    """The finished video: ensures the MP4 is on disk, then a resource link, media facts and a poster frame."""
    record = await state.engine.ensure_downloaded(record.id)
    path = state.engine.local_file(record)
    if path is None:
        raise WanError(f"the video of task {record.id} is not on disk", code="download_failed", retryable=True,
                       hint="Call fetch_video again.")
    info = await anyio.to_thread.run_sync(downloads.probe, path)
    media = MediaFacts(**vars(info)) if info is not None else None
    video = video_file(record, path, media)
    result = task_result(state, record, attached=attached, video=video)
    link = types.ResourceLink(
        type="resource_link",
        uri=video.uri,
        name=f"{record.id}.mp4",
        title=f"{'[SIMULATED] ' if record.simulated else ''}{result.summary}",
        description=(record.request.get("prompt") or "")[:200] or None,
        mime_type="video/mp4",
        size=video.size_bytes,
    )
    extra: list[types.ContentBlock] = [link]
    poster = await anyio.to_thread.run_sync(downloads.poster_frame_png, path)
    if poster:
        extra.append(types.ImageContent(type="image", data=base64.b64encode(poster).decode(), mime_type="image/png"))
    return ok_result(result, extra=extra)


async def task_or_video(state: AppState, record: TaskRecord, *, attached: str | None = None) -> types.CallToolResult:
    """A finished task's video when it can be had now; otherwise the task's state and next step."""
    if record.state == "succeeded":
        try:
            return await video_result(state, record, attached=attached)
        except WanError as exc:
            if exc.code == "video_unavailable":
                exc.task_id = exc.task_id or record.id
                raise
            # Still retrying the download in the background: report the task, not an error.
            record = await state.engine.get(record.id)
    return ok_result(task_result(state, record, attached=attached))
