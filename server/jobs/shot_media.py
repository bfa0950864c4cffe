"""What a storyboard's runner does with its shots' videos: what the next shot starts from (the earlier video as a
first_clip, cut to first_clip's limit when a render ran long, or its last frame as a PNG) and the joined MP4.
The files sit next to the shots' videos, each written once (a temporary name, then moved into place)."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from wan_video_mcp.server.catalog.measured import SECONDS_TOLERANCE
from wan_video_mcp.server.jobs.downloads import file_sha256
from wan_video_mcp.server.jobs.shots import CLIP_SECONDS_MAX

__all__ = ["Joined", "clip_of", "joined", "last_frame_of"]


async def last_frame_of(task_id: str, video: Path) -> str:
    """The path of the video's last frame as a PNG, written once beside it as ``{id}.last.png``."""
    from wan_video_mcp.server.media.frames import last_frame_png

    frame = video.with_name(f"{task_id}.last.png")
    if not frame.exists():
        data = await anyio.to_thread.run_sync(last_frame_png, video)
        temp = frame.with_name(frame.name + ".tmp")
        await anyio.to_thread.run_sync(temp.write_bytes, data)
        temp.replace(frame)
    return str(frame)


async def clip_of(task_id: str, video: Path, tag: str) -> str:
    """The earlier video as the next shot's first_clip: itself, or (a render a little longer than asked, past the
    first_clip limit) its first ``CLIP_SECONDS_MAX`` seconds, cut once into ``videos/{id}.first10s.mp4``.
    Measured as the submit's own check measures it (the container, sound included); without PyAV nothing can be
    cut, and the clip goes as it is. ``tag``: the process writing the cut (named in its temporary file)."""
    from wan_video_mcp.server.media.inspect import inspect_file

    facts = await anyio.to_thread.run_sync(inspect_file, video, f"the video of {task_id}", video.stat().st_size)
    fits = facts.seconds is None or facts.seconds <= CLIP_SECONDS_MAX + SECONDS_TOLERANCE
    if fits or importlib.util.find_spec("av") is None:
        return f"wan-video://videos/{task_id}.mp4"
    from wan_video_mcp.server.media.join import trim_clip

    cut = video.with_name(f"{task_id}.first{CLIP_SECONDS_MAX}s.mp4")
    if not cut.exists():
        await anyio.to_thread.run_sync(trim_clip, video, CLIP_SECONDS_MAX, cut, tag)
    return str(cut)


@dataclass(frozen=True)
class Joined:
    """The storyboard's MP4 as recorded on its row."""

    local_path: str
    file_size: int
    sha256: str
    seconds: float | None
    join_method: str  # copy | encode | last (clip continuity: the last shot holds them all)


async def joined(continuity: str, videos: list[Path], out: Path, tag: str) -> Joined:
    """The shots' videos made into ``out``: joined, or with clip continuity the last one (it holds the others).
    Raises ``WanError``, ``OSError`` or ``ValueError`` when they cannot be."""
    from wan_video_mcp.server.media.join import join_clips

    if continuity == "clip":
        temp = out.with_name(out.name + ".tmp")
        await anyio.to_thread.run_sync(shutil.copyfile, videos[-1], temp)
        temp.replace(out)
        method, seconds = "last", None
    else:
        made = await anyio.to_thread.run_sync(join_clips, videos, out, tag)
        method, seconds = made.method, made.seconds
    digest = await anyio.to_thread.run_sync(file_sha256, out)
    return Joined(str(out), out.stat().st_size, digest, seconds, method)
