"""Turning a task into a tool result: the finished video with its link, or a handle to come back with."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp_types as types

from wan_video_mcp.server.errors import VideoUnavailable, WanError, unsaved_video_error
from wan_video_mcp.server.jobs import downloads
from wan_video_mcp.server.store import TaskRecord
from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.outcomes import ok_result
from wan_video_mcp.tools.outputs import MediaFacts
from wan_video_mcp.tools.view import task_result, video_file

T = TypeVar("T")


async def _bounded(call: Call, fn: Callable[[Path], T], path: Path) -> T | None:
    """A PyAV step on a worker thread, given up (the thread left to finish) when the call runs out of time."""
    with anyio.move_on_after(max(0.0, call.deadline - anyio.current_time() - 0.5)):
        return await anyio.to_thread.run_sync(fn, path, abandon_on_cancel=True)
    return None


async def video_result(call: Call, record: TaskRecord, **view: Any) -> types.CallToolResult:
    """The finished video: the MP4 on disk, a resource link, media facts and a poster frame.

    A download that outlasts the call carries on in the background; the result then says when to come back.
    """
    state = call.state
    record = await state.engine.download(record.id, call.remaining(), call.beat("saving the video"))
    path = state.engine.local_file(record)
    if path is None:
        if record.video_pending:
            return ok_result(task_result(state, record, **view))
        raise unsaved_video_error(record.id, record.download_error, record.video_url_expires_at, state.engine.clock())
    info = await _bounded(call, downloads.probe, path)
    media = MediaFacts(**vars(info)) if info is not None else None
    video = video_file(record, path, media)
    result = task_result(state, record, video=video, **view)
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
    poster = await _bounded(call, downloads.poster_frame_png, path)
    if poster:
        extra.append(types.ImageContent(type="image", data=base64.b64encode(poster).decode(), mime_type="image/png"))
    return ok_result(result, extra=extra)


async def task_or_video(call: Call, record: TaskRecord, **view: Any) -> types.CallToolResult:
    """A finished task's video when it can be had now; otherwise the task's state and next step."""
    if record.state == "succeeded":
        try:
            return await video_result(call, record, **view)
        except WanError as exc:
            if isinstance(exc, VideoUnavailable) or exc.code == VideoUnavailable.code:
                exc.task_id = exc.task_id or record.id
                raise
            # Still retrying the download in the background: report the task, not an error.
            record = await call.state.engine.get(record.id)
    return ok_result(task_result(call.state, record, **view))
