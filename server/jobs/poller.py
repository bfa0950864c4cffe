"""The poller: one per process, serving every open task of the endpoint under one rate limiter.

Each task's next poll time is shared through the store (``next_poll_at``) and this process keeps its
own copy of the schedule; a task is polled (or reconciled) only by the process holding its lease, and
failed polls back off by the one rule in ``retry``, honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.jobs import transitions
from wan_video_mcp.server.jobs.background import Heartbeat
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.reconcile import Reconciler
from wan_video_mcp.server.jobs.retry import backoff
from wan_video_mcp.server.jobs.saving import VideoSaver
from wan_video_mcp.server.jobs.schedule import RateLimiter, Schedule
from wan_video_mcp.server.jobs.status import StatusRecorder
from wan_video_mcp.server.store import TaskRecord

logger = logging.getLogger(__name__)

SCAN_SECONDS = 5.0  # how often to look for tasks other processes left
# How long a poll lease may run before others may take it even from a live holder.
POLL_LEASE_SECONDS = 300.0


class Poller:
    """Polls open tasks when they come due, and on demand."""

    def __init__(
        self,
        ctx: EngineContext,
        schedule: Schedule,
        limiter: RateLimiter,
        recorder: StatusRecorder,
        reconciler: Reconciler,
        saver: VideoSaver,
    ) -> None:
        self._ctx = ctx
        self._schedule = schedule
        self._limiter = limiter
        self._recorder = recorder
        self._reconciler = reconciler
        self._saver = saver
        self._due: dict[str, float] = {}  # open task id -> next poll time
        self._inflight: set[str] = set()
        self._wake = anyio.Event()
        # The submitter's resume (set by the engine): a submit a stopped process never sent is sent once.
        self.resume_submit: Callable[[TaskRecord], Awaitable[TaskRecord | None]] | None = None

    def reschedule(self, task_id: str, when: float) -> None:
        self._due[task_id] = when
        self._wake.set()

    async def scan(self) -> int:
        """Schedule open tasks and start pending downloads this process does not track yet (ours after a
        restart, or another process's that stopped). Returns how many tasks were added."""
        ctx, store = self._ctx, self._ctx.store
        added = 0
        now = ctx.clock()
        for record in await store.run(store.open_tasks_sync, ctx.endpoint):
            if record.id not in self._due and record.id not in self._inflight:
                self._due[record.id] = min(now + ctx.settings.poll_max_seconds, max(now, record.next_poll_at or now))
                added += 1
        if ctx.settings.auto_download and ctx.tg is not None:
            for record in await store.run(store.pending_downloads_sync, ctx.endpoint):
                self._saver.start_auto(record.id)
        self._wake.set()
        return added

    async def run(self) -> None:
        """Poll every task when it comes due; look for new ones every ``SCAN_SECONDS``."""
        next_scan = self._ctx.clock() + SCAN_SECONDS
        while True:
            now = self._ctx.clock()
            if now >= next_scan:
                try:
                    await self.scan()
                except Exception:
                    logger.exception("looking for open tasks in the store failed")
                next_scan = now + SCAN_SECONDS
            due = [tid for tid, when in self._due.items() if when <= now and tid not in self._inflight]
            for task_id in due:
                self._inflight.add(task_id)
                assert self._ctx.tg is not None
                self._ctx.tg.start_soon(self._poll_task, task_id)
            pending = [when for tid, when in self._due.items() if tid not in self._inflight]
            delay = max(0.0, min([*pending, next_scan]) - now)
            self._wake = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wake.wait()

    async def poll_now(self, task_id: str) -> None:
        """Poll the task as soon as the limit allows: its shared poll time brought to now (for whichever process
        claims it), and here (a sweep saw it end, or sweeps stopped)."""
        now = self._ctx.clock()
        await self._ctx.store.run(self._ctx.store.hurry_sync, task_id, now)
        self.reschedule(task_id, now)

    async def hurry(self, record: TaskRecord, now: float) -> None:
        """Someone waits: bring the task's next poll (shared by every process) within the shortest interval."""
        soon = now + self._ctx.settings.poll_min_seconds
        if record.next_poll_at is None or record.next_poll_at > soon:
            await self._ctx.store.run(self._ctx.store.hurry_sync, record.id, soon)
        if record.id in self._due and self._due[record.id] > soon:
            self.reschedule(record.id, soon)

    async def refresh(self, record: TaskRecord, timeout: float | None, heartbeat: Heartbeat | None) -> bool:
        """Poll an open task now, outside the schedule, waiting up to ``timeout`` seconds for the answer.
        Returns whether a poll was started (none while one is in flight)."""
        if not (record.open and record.remote_id and record.id not in self._inflight):
            return False
        self._inflight.add(record.id)  # the poll loop skips it meanwhile; _poll_task releases it
        job = await self._ctx.start_job(f"poll {record.id}", lambda: self._poll_task(record.id, force=True))
        await job.wait(timeout, heartbeat)
        return True

    async def _poll_task(self, task_id: str, *, force: bool = False) -> None:
        """Poll (or reconcile) one open task if this process gets its lease; ``force``: even before it is due."""
        ctx, store = self._ctx, self._ctx.store
        next_at: float | None = None
        claimed = False
        lease: float | None = None
        try:
            now = ctx.clock()
            record = await store.run(
                store.claim_sync, task_id, ctx.instance_id, now, now + POLL_LEASE_SECONDS, due=not force
            )
            if record is None:
                next_at = await self._not_ours(task_id, now)
                return
            claimed = True
            lease = record.lease_until
            if record.open:
                next_at = await self._poll_claimed(record)
        except Exception:
            logger.exception("polling task %s failed unexpectedly", task_id)
            next_at = ctx.clock() + ctx.settings.poll_max_seconds
        finally:
            if claimed:
                with anyio.CancelScope(shield=True):
                    try:
                        await store.run(
                            store.release_sync, task_id, ctx.instance_id, lease, ctx.clock(), next_poll_at=next_at
                        )
                    except Exception:  # a full disk, say: the lease lapses on its own
                        logger.exception("could not release the poll lease of task %s", task_id)
            if next_at is None:
                self._due.pop(task_id, None)
            else:
                self._due[task_id] = next_at
            self._inflight.discard(task_id)
            self._wake.set()

    async def _not_ours(self, task_id: str, now: float) -> float | None:
        """When to look at a task another process holds (or that is not due): its shared poll time, bounded."""
        ctx = self._ctx
        record = await ctx.store.get(task_id)
        if record is None or not record.open:
            return None
        if record.lease_owner == ctx.instance_id and record.state == "submitting":
            if task_id in ctx.submitting:
                return now + ctx.settings.poll_max_seconds  # our own submit in flight
            # Our submit ended without recording its outcome (the store failed meanwhile): give its lease up, so
            # the task is reconciled at once (never resent).
            store = ctx.store
            await store.run(store.release_sync, task_id, ctx.instance_id, record.lease_until or 0.0, now)
            return now
        shared = record.next_poll_at if record.next_poll_at is not None else now
        return now + min(ctx.settings.poll_max_seconds, max(ctx.settings.poll_min_seconds, shared - now))

    async def _poll_claimed(self, record: TaskRecord) -> float | None:
        """One poll or reconciliation pass under this process's lease; returns the next poll time."""
        ctx = self._ctx
        task_id = record.id
        if record.state == "submitting":
            if not record.submit_attempts and self.resume_submit is not None:
                # Its submitter stopped before counting an attempt: it was never sent. Send it, once.
                logger.info("task %s was never sent by the process that stopped; sending it", task_id)
                resumed = await self.resume_submit(record)
                return None if resumed is None or not resumed.open else resumed.next_poll_at
            # Its submitter stopped after counting an attempt: the task may or may not exist. Reconcile, never resend.
            record = await ctx.update(
                task_id, **transitions.unconfirmed("the server stopped while this task was being submitted")
            )
        if record.state == "unknown":
            return await self._reconciler.reconcile(record)
        await self._limiter.acquire()
        now = ctx.clock()
        try:
            status = await ctx.provider.poll(record.remote_id or "")
        except ProviderError as exc:
            errors = record.poll_errors + 1
            self._recorder.last_poll_error[task_id] = exc.message
            delay = backoff(
                errors,
                base=ctx.settings.poll_min_seconds,
                cap=ctx.settings.poll_max_seconds * 4,
                retry_after=exc.retry_after,
            )
            logger.warning("poll of %s failed (%s); next try in %.1fs", task_id, exc.message, delay)
            await ctx.update(task_id, poll_errors=errors, last_polled_at=now)
            return ctx.clock() + delay
        self._recorder.last_poll_error.pop(task_id, None)
        record = await self._recorder.apply(record, status, polled_at=now)
        if record.open:
            return ctx.clock() + self._schedule.interval(record, ctx.clock())
        return None
