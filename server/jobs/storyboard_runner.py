"""The storyboard runner: one per storyboard and store (its lease), it submits each shot when it can, saves the shots'
videos, fails or joins the storyboard (``Storyboards`` creates and retries them; the rules are there).

Each shot is submitted through the engine with the idempotency key ``{storyboard}:{shot}:{attempt}`` and the
storyboard's principal, so a runner started again after a crash (here or in another process) attaches to the shots
already submitted instead of paying again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import anyio

from wan_video_mcp.server.catalog import validate
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.server.errors import WanError
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.shot_media import clip_of, joined, last_frame_of
from wan_video_mcp.server.jobs.shots import FAILED, shot_arguments
from wan_video_mcp.server.store import StoryboardRecord, TaskRecord, shot_key

if TYPE_CHECKING:
    from wan_video_mcp.server.jobs.engine import JobEngine
    from wan_video_mcp.server.jobs.storyboards import Storyboards

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 5  # a shot's video is given up on after this many failed downloads (or one that cannot work)
CHECK_SECONDS = 2.0  # how often a runner rereads its shots (it also wakes on their changes)
LEASE_SECONDS = 60.0  # a runner's hold on its storyboard, renewed every round (a dead process's lapses sooner)
MEASURE_TIMEOUT = 10.0


class StoryboardRunner:
    """Runs open storyboards to their joined video, one runner per storyboard among the processes on the store."""

    def __init__(self, ctx: EngineContext, engine: JobEngine, boards: Storyboards) -> None:
        self._ctx = ctx
        self._engine = engine
        self._boards = boards
        self._running: set[str] = set()

    def start(self, storyboard_id: str) -> None:
        if storyboard_id in self._running or self._ctx.tg is None:
            return
        self._running.add(storyboard_id)
        self._ctx.tg.start_soon(self._run, storyboard_id, name=f"storyboard {storyboard_id}")

    async def resume(self) -> int:
        """Start a runner for every storyboard not ended (at engine start, then now and then: one whose process
        is gone is taken over; one a live process runs is left to it)."""
        store = self._ctx.store
        open_ones = await store.run(store.open_storyboards_sync, self._ctx.endpoint)
        for record in open_ones:
            self.start(record.id)
        return len(open_ones)

    async def _update(self, storyboard_id: str, **changes: Any) -> StoryboardRecord:
        store = self._ctx.store
        return await store.run(store.update_storyboard_sync, storyboard_id, self._ctx.clock(), **changes)

    async def _set_shot(self, storyboard_id: str, index: int, shot: dict[str, Any], **changes: Any) -> None:
        """One shot's entry written alone, so a runner and a retry in another process never undo each other."""
        store = self._ctx.store
        await store.run(store.set_shots_sync, storyboard_id, self._ctx.clock(), {index: shot}, **changes)

    async def _claim(self, storyboard_id: str) -> bool:
        store, now = self._ctx.store, self._ctx.clock()
        owner = self._ctx.instance_id
        endpoint = self._ctx.endpoint
        return await store.run(store.claim_storyboard_sync, storyboard_id, endpoint, owner, now, now + LEASE_SECONDS)

    async def _run(self, storyboard_id: str) -> None:
        try:
            while True:
                # One runner per store: another live process holding it runs it (and this one stops here).
                if not await self._claim(storyboard_id):
                    return
                record = await self._boards.get(storyboard_id)
                if record is None or not record.open:
                    return
                done = await self._step(record)
                if done:
                    return
                with anyio.move_on_after(CHECK_SECONDS):
                    tasks = [shot["task_id"] for shot in record.shots if shot]
                    if tasks:
                        await self._ctx.event(tasks[-1]).wait()
        except Exception as exc:  # a runner never takes the server down; the storyboard says what happened
            logger.exception("storyboard %s stopped", storyboard_id)
            with contextlib.suppress(Exception):  # (the store itself may be what failed: then it stays open)
                await self._update(storyboard_id, state="failed", error=f"the storyboard stopped: {exc}")
        finally:
            self._running.discard(storyboard_id)
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                store = self._ctx.store
                await store.run(store.release_storyboard_sync, storyboard_id, self._ctx.instance_id)

    async def _step(self, record: StoryboardRecord) -> bool:
        """Submit what can be submitted, fail or join when the shots say so; True when the storyboard ended."""
        request, shots = record.request, record.shots
        tasks = await self._boards.shot_tasks(record)
        # First every finished shot's video is saved (auto-download off, a lost file): a paid video is kept before
        # anything else is decided, so a failure elsewhere never leaves one to be paid again.
        stopped, waiting = [], False
        for index, task in enumerate(tasks):
            if task is not None and task.state == "succeeded" and self._engine.local_file(task) is None:
                try:
                    tasks[index] = await self._engine.ensure_downloaded(task.id)
                except WanError as exc:
                    if exc.retryable and task.download_attempts < DOWNLOAD_ATTEMPTS:
                        logger.warning("storyboard %s: shot %d not saved yet (%s)", record.id, index, exc.message)
                        waiting = True  # tried again on the next round
                        continue
                    stopped.append(
                        f"shot {index} ({task.id}) finished, but its video could not be saved: {exc.message}"
                    )
        for index, task in enumerate(tasks):
            if task is not None and task.state in FAILED:
                stopped.append(f"shot {index} ({task.id}) {task.state}: {task.error_message or task.state}")
        if stopped:
            await self._update(record.id, state="failed", error="; ".join(stopped))
            return True
        if waiting:
            return False
        ready = [t is not None and t.state == "succeeded" and self._engine.local_file(t) is not None for t in tasks]
        if all(ready):
            await self._join(record, [t for t in tasks if t is not None])
            return True
        for index, task in enumerate(tasks):
            if task is not None:
                continue
            previous = None
            if index and request["continuity"] != "none":  # (a shot it follows is saved: ready, or stopped above)
                before = tasks[index - 1]
                if not ready[index - 1] or before is None:
                    break  # the shot it follows is not there yet
                previous = await self._follow(request["continuity"], before)
            attempt = (shots[index] or {}).get("attempt", 0)
            key = shot_key(record.id, index, attempt)
            try:
                submitted = await self._submit(key, shot_arguments(request, index, previous), record.principal)
            except WanError as exc:
                if exc.retryable:  # a rate limit, a provider hiccup: tried again on the next round
                    logger.warning("storyboard %s: shot %d not submitted yet (%s)", record.id, index, exc.message)
                    refused = await self._ctx.store.get(await self._task_of(key, record.principal) or "")
                    if refused is None or (refused.state == "failed" and refused.remote_id is None):
                        # Nothing was created: the next round is a new attempt (a new key), not this refusal again.
                        await self._set_shot(record.id, index, {"task_id": None, "attempt": attempt + 1})
                    return False
                shot = {"task_id": await self._task_of(key, record.principal), "attempt": attempt}
                error = f"shot {index} could not be submitted: {exc.message}"
                await self._set_shot(record.id, index, shot, state="failed", error=error)
                return True
            await self._set_shot(record.id, index, {"task_id": submitted.id, "attempt": attempt})
            tasks[index] = submitted
            if request["continuity"] != "none":
                break
        return False

    async def _follow(self, continuity: str, before: TaskRecord) -> str:
        """What the next shot starts from: the earlier video (clip), or its last frame as a PNG."""
        video = self._engine.local_file(before)
        assert video is not None
        if continuity == "clip":
            return await clip_of(before.id, video, self._ctx.instance_id)
        return await last_frame_of(before.id, video)

    async def _task_of(self, key: str, principal: str) -> str | None:
        """The task a shot's key created, if its submit got that far (to show it, and to retry after it): keys are
        per principal, so it is looked for among the storyboard's principal's tasks."""
        store = self._ctx.store
        found = await store.run(store.repeated_sync, key, "", self._ctx.endpoint, None, principal)
        return found[0].id if found else None

    async def _submit(self, key: str, arguments: dict[str, Any], principal: str) -> TaskRecord:
        """One shot as generate_video does it (local inputs read and sent once, measured, paid once), under the
        idempotency key that makes a second submit of it (after a restart) attach instead of paying."""
        # Every shot is a task of its own, even one identical to another shot or a recent task: never attached to a
        # twin (force_new); its key alone makes a second submit after a restart attach instead of paying.
        options = {"wait_seconds": 0, "idempotency_key": key, "force_new": True}
        validated = validate({**arguments, **options}, tuple(self._ctx.models.values()))
        validated = validated.model_copy(update={"principal": principal})  # the storyboard's, as its shots are
        engine = self._engine
        if await engine.repeated(validated) is None:
            request, local = await engine.read_inputs(validated.request, principal=principal)
            urls = urls_to_measure(request)
            facts = await engine.measure(urls, timeout=MEASURE_TIMEOUT, at_once=4) if urls else {}
            validated = validated.model_copy(update={"request": apply_measurements(request, {**facts, **local})})
        outcome = await engine.submit(validated, timeout=None)
        return outcome.record

    async def _join(self, record: StoryboardRecord, tasks: list[TaskRecord]) -> None:
        await self._update(record.id, state="joining")
        videos = [video for video in map(self._engine.local_file, tasks) if video is not None]
        out = self._ctx.settings.video_dir / f"{record.id}.mp4"
        try:
            made = await joined(record.request["continuity"], videos, out, self._ctx.instance_id)
        except (WanError, OSError, ValueError) as exc:
            await self._update(record.id, state="failed", error=f"the shots could not be joined: {exc}")
            return
        await self._update(record.id, state="succeeded", **asdict(made))
