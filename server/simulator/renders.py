"""Each task's MP4: rendered once, on demand, in worker threads (a few at a time), into the render directory.

A render draws the inputs the task was given (``media_output.render_sources``); their files go once it is done.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from wan_video_mcp.server.catalog import Family
from wan_video_mcp.server.simulator.config import SimulatorConfig
from wan_video_mcp.server.simulator.media_output import output_of, render_sources
from wan_video_mcp.server.simulator.rendering import Aborted, RenderJob, render_mp4, write_fallback
from wan_video_mcp.server.simulator.stats import Stats
from wan_video_mcp.server.simulator.tasks import SimTask

logger = logging.getLogger(__name__)


@dataclass
class _RenderState:
    done: anyio.Event
    path: Path | None = None


def render_job(task: SimTask, fps: int) -> RenderJob:
    """What the task's video shows: its output's W*H and length, and the inputs it was given."""
    plan, out = task.plan, output_of(task)
    sources = render_sources(task)
    size = f"{out.width}*{out.height}"
    return RenderJob(
        width=out.width,
        height=out.height,
        duration=out.seconds,
        fps=fps,
        audio=plan.audio,
        title=f"{plan.model_name} {size} {out.seconds}s" + (" audio" if plan.audio else ""),
        prompt=plan.prompt,
        task_id=task.task_id,
        first_image=sources.get("first"),
        last_image=sources.get("last"),
        clip=sources.get("clip"),
        tint=plan.spec.family is Family.EDIT,
        thumbnail=sources.get("thumb"),
    )


class Renders:
    """The MP4s of succeeded tasks (``async with``: renders stop, and a temporary directory is removed, on exit)."""

    def __init__(self, config: SimulatorConfig, stats: Stats) -> None:
        self._config = config
        self._stats = stats
        self._renders: dict[str, _RenderState] = {}
        self._stop = threading.Event()
        self._limiter = anyio.CapacityLimiter(max(1, config.max_concurrent_renders))
        self._tmpdir: Path | None = None
        self.render_dir: Path | None = config.render_dir  # a temporary directory made at the first render
        self._dir_lock = anyio.Lock()
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> Renders:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._stop.set()  # first: a render thread stops between frames, so the task group can end
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            if self._tmpdir is not None:
                await anyio.to_thread.run_sync(shutil.rmtree, self._tmpdir, True)

    def start(self, task: SimTask) -> _RenderState:
        """Start rendering the task's MP4 unless it has begun already."""
        state = self._renders.get(task.task_id)
        if state is None:
            assert self._tg is not None, "Renders is used outside `async with`"
            state = self._renders[task.task_id] = _RenderState(anyio.Event())
            self._tg.start_soon(self._render, task, state)
        return state

    async def path(self, task: SimTask) -> Path:
        """The task's MP4 on disk, rendering it first if needed."""
        state = self.start(task)
        await state.done.wait()
        assert state.path is not None
        return state.path

    async def _render_dir(self) -> Path:
        async with self._dir_lock:
            if self.render_dir is None:
                # On the loop, not in a thread: a cancelled await must not leave a directory nobody removes.
                self._tmpdir = self.render_dir = Path(tempfile.mkdtemp(prefix="wan-simulator-"))
            else:
                await anyio.Path(self.render_dir).mkdir(parents=True, exist_ok=True)
            return self.render_dir

    async def _render(self, task: SimTask, state: _RenderState) -> None:
        job = render_job(task, self._config.fps)
        use_pyav = self._config.renderer == "auto"
        started = time.perf_counter()
        path = Path(task.task_id + ".mp4")
        try:
            path = await self._render_dir() / path
            try:
                how = await anyio.to_thread.run_sync(
                    lambda: render_mp4(path, job, stop=self._stop, use_pyav=use_pyav), limiter=self._limiter
                )
            except Aborted:
                return
            except Exception:
                logger.exception("rendering %s failed; serving the placeholder MP4", task.task_id)
                how = await anyio.to_thread.run_sync(write_fallback, path)
            self._stats.renders += 1
            logger.debug(
                "rendered %s (%s, %s*%s) in %.2f s",
                task.task_id,
                how,
                job.width,
                job.height,
                time.perf_counter() - started,
            )
        except Exception:  # e.g. a full disk: the download then answers 500 instead of waiting forever
            logger.exception("cannot write %s", path)
        finally:
            if task.media is not None:
                task.media.release()  # the input files it drew from
            state.path = path
            state.done.set()
