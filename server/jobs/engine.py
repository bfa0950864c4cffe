"""JobEngine: persist, submit once, poll in the background, download, recover.

The facade the tools and the app call; it composes the parts, each keeping one of the rules:
- ``submit``: the task row is written *before* the paid call and the duplicate/idempotency check, the
  budget and the insert are one store transaction; a submit is retried only when the provider provably
  did not create the task, an ambiguous outcome becomes ``unknown``;
- ``reconcile``: an ``unknown`` task is looked for in the provider's task list, never resent, and never
  called uncharged on a guess;
- ``poller`` and ``schedule``: one poller per process serves every open task under the account's rate
  limit (shared through the store by every process and replica), on an adaptive schedule shared through
  the store (``next_poll_at``), honouring ``Retry-After``; a task is polled, submitted or downloaded by one
  process at a time (the store's leases); ``sweep``: with many tasks open, one read of the provider's task
  list finds their ends instead of a poll each;
- ``saving``: a finished video is downloaded straight away and verified, so an agent that never comes
  back still has its file; on start, every open task and pending download resumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
from anyio.abc import TaskGroup

from wan_video_mcp.server.catalog import GenerationRequest, ModelSpec, ValidatedCall
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import WanError
from wan_video_mcp.server.jobs import downloads, transitions
from wan_video_mcp.server.jobs.adopt import Adopter
from wan_video_mcp.server.jobs.background import HEARTBEAT_SECONDS, Heartbeat
from wan_video_mcp.server.jobs.clock import ClockSkew
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.inputs import InputFiles
from wan_video_mcp.server.jobs.poller import Poller
from wan_video_mcp.server.jobs.reconcile import Reconciler
from wan_video_mcp.server.jobs.saving import WAIT_RECHECK_SECONDS, VideoSaver
from wan_video_mcp.server.jobs.schedule import RateLimiter, Schedule, poll_account
from wan_video_mcp.server.jobs.status import StatusRecorder
from wan_video_mcp.server.jobs.storyboards import Storyboards
from wan_video_mcp.server.jobs.submit import InputsNotSent, SubmitOutcome, Submitter
from wan_video_mcp.server.jobs.sweep import Sweeper
from wan_video_mcp.server.providers.base import Provider
from wan_video_mcp.server.store import LOCAL_PRINCIPAL, Store, TaskRecord

if TYPE_CHECKING:
    from wan_video_mcp.server.media import MediaFacts

logger = logging.getLogger(__name__)


# Processes on one store: how often this one says it is alive.
INSTANCE_HEARTBEAT_SECONDS = 3.0
# How often copies of input files that no upload can reuse any more are removed (and at every start).
INPUT_CLEANUP_SECONDS = 3600.0
STORYBOARD_ADOPT_SECONDS = 10.0  # how often open storyboards whose process is gone are looked for

ProgressFn = Callable[[float, str], Awaitable[None]]  # percent, message


class JobEngine:
    """Owns every task's lifecycle for one provider endpoint."""

    def __init__(
        self,
        *,
        store: Store,
        provider: Provider,
        client: httpx.AsyncClient,
        settings: Settings,
        endpoint: str,
        models: Sequence[ModelSpec],
        simulated: bool = False,
        key_configured: bool = True,
        clock: Callable[[], float] = time.time,
        address_policy: downloads.AddressPolicy | None = None,
    ) -> None:
        ctx = EngineContext(
            store=store,
            provider=provider,
            client=client,
            settings=settings,
            endpoint=endpoint,
            models=models,
            simulated=simulated,
            key_configured=key_configured,
            clock=clock,
        )
        self._ctx = ctx
        self.store = store
        self.settings = settings
        self.clock = clock
        self.skew = ClockSkew()
        self.schedule = Schedule(settings, clock, simulated)
        limiter = RateLimiter(settings.poll_qps, clock, store, poll_account(settings, endpoint))
        self.saver = VideoSaver(ctx, address_policy)
        self.recorder = StatusRecorder(ctx, self.skew, self.schedule, self.saver)
        reconciler = Reconciler(ctx, self.skew, limiter, self.schedule, self.recorder)
        self.poller = Poller(ctx, self.schedule, limiter, self.recorder, reconciler, self.saver)
        self.sweeper = Sweeper(ctx, self.skew, limiter, self.schedule, self.poller.poll_now)
        self.submitter = Submitter(ctx, self.schedule, self.poller.reschedule)
        self.poller.resume_submit = self.submitter.resume
        self.adopter = Adopter(ctx, self.schedule, self.recorder, self.poller.reschedule)
        self.inputs = InputFiles(ctx, self.saver)
        self.storyboards = Storyboards(ctx, self)
        client.event_hooks.setdefault("response", []).append(self._observe_date)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, tg: TaskGroup) -> None:
        """Join the processes on this store, resume every open task and pending download, start the poller."""
        ctx, store = self._ctx, self.store
        ctx.tg = tg
        now = self.clock()
        await store.run(store.register_instance_sync, ctx.instance_id, now)
        live = await store.run(store.live_instances_sync, now)
        removed = await anyio.to_thread.run_sync(
            lambda: downloads.remove_orphaned_parts(
                self.settings.data_dir / downloads.VIDEO_DIR, keep=lambda part: downloads.part_owner(part) in live
            )
        )
        if removed:
            logger.info("removed %d partial download(s) left by stopped processes", removed)
        stale = await self.inputs.forget_stale()
        if stale:
            logger.info("removed %d copied input file(s) no upload can reuse any more", stale)
        resumed = await self.poller.scan()
        if resumed:
            logger.info("resuming %d open task(s)", resumed)
        boards = await self.storyboards.resume()
        if boards:
            logger.info("resuming %d storyboard(s)", boards)
        tg.start_soon(self._heartbeat_loop)
        tg.start_soon(self._cleanup_loop)
        tg.start_soon(self._storyboards_loop)
        tg.start_soon(self.poller.run)
        if self.settings.sweep_min_tasks:
            tg.start_soon(self.sweeper.run)

    async def stop(self) -> None:
        """Leave the store: other processes may take over this one's leases at once."""
        with anyio.CancelScope(shield=True):
            await self.store.run(self.store.unregister_instance_sync, self._ctx.instance_id)

    async def _storyboards_loop(self) -> None:
        """Now and then, take over the storyboards whose process is gone (one runner per store)."""
        while True:
            await anyio.sleep(STORYBOARD_ADOPT_SECONDS)
            try:
                await self.storyboards.resume()
            except Exception:
                logger.exception("could not look for storyboards to run")

    async def _cleanup_loop(self) -> None:
        """Hourly, apart from the heartbeat (a slow disk must not make this process look gone)."""
        while True:
            await anyio.sleep(INPUT_CLEANUP_SECONDS)
            try:
                await self.inputs.forget_stale()
            except OSError:
                logger.exception("could not remove old copies of input files")

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(INSTANCE_HEARTBEAT_SECONDS)
            try:
                await self.store.run(self.store.heartbeat_sync, self._ctx.instance_id, self.clock())
            except Exception:
                logger.exception("could not refresh this process's heartbeat in the task store")

    async def _observe_date(self, response: httpx.Response) -> None:
        """Learn the provider's clock from the Date of its answers (requests that carry our key)."""
        if "authorization" in response.request.headers:
            self.skew.observe_date(response.headers.get("Date"), self.clock())

    # ------------------------------------------------------------------ submit and wait

    async def submit(
        self, call: ValidatedCall, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> SubmitOutcome:
        """Attach to an identical task or persist a new one and submit it exactly once (``Submitter.submit``).

        Local inputs not yet sent are uploaded (or inlined) once it is known that a new task is created (a call that
        attaches sends nothing) and that the key and the budgets admit it: a refused call uploads nothing. The
        upload counts against ``timeout``; one that outlasts it goes on, and ``InputsPending`` says to call again.
        """
        try:
            return await self.submitter.submit(call, timeout, heartbeat)
        except InputsNotSent:
            pass
        # A new task: refused for the key or the budget before anything is uploaded (then decided again, atomically).
        await self.submitter.admissible(call)
        started = anyio.current_time()
        sent = await self.inputs.send(call.request, timeout, heartbeat, call.principal or LOCAL_PRINCIPAL)
        call = call.model_copy(update={"request": sent})
        left = None if timeout is None else max(0.0, timeout - (anyio.current_time() - started))
        return await self.submitter.submit(call, left, heartbeat)

    async def repeated(self, call: ValidatedCall) -> TaskRecord | None:
        """The task ``submit`` would attach this call to instead of paying (``Submitter.repeated``)."""
        return await self.submitter.repeated(call)

    async def wait(self, task_id: str, timeout: float, report: ProgressFn | None = None) -> TaskRecord:
        """Wait up to ``timeout`` seconds for a task to settle, reporting progress; the task is never harmed.

        The store is reread every second: another process may be the one polling or downloading the task.
        """
        record = await self.get(task_id)
        task_id = record.id
        deadline = self.clock() + timeout
        reported = float("-inf")
        with self.schedule.waiting(task_id):
            while True:
                record = await self.get(task_id)
                if transitions.settled(record, self.settings.auto_download):
                    return record
                now = self.clock()
                remaining = deadline - now
                if remaining <= 0:
                    return record
                if record.open:
                    await self.poller.hurry(record, now)
                if report is not None and now - reported >= HEARTBEAT_SECONDS:
                    reported = now
                    percent, message = self.progress(record)
                    await report(percent, message)
                event = self._ctx.event(task_id)
                with anyio.move_on_after(min(remaining, WAIT_RECHECK_SECONDS)):
                    await event.wait()

    def progress(self, record: TaskRecord) -> tuple[float, str]:
        """A percentage and a one-line message: the provider's progress, else an estimate from history."""
        return self.schedule.progress(record)

    def poll_after(self, record: TaskRecord) -> int:
        """When an agent should come back: around the expected finish, within sane bounds."""
        return self.schedule.poll_after(record)

    def last_poll_error(self, task_id: str) -> str | None:
        return self.recorder.last_poll_error.get(task_id)

    # ------------------------------------------------------------------ queries and actions

    async def get(self, task_id: str) -> TaskRecord:
        return await self._ctx.get(task_id)

    async def list(
        self, states: Sequence[str] | None, limit: int, principal: str = LOCAL_PRINCIPAL
    ) -> list[TaskRecord]:
        """The principal's tasks, newest first."""
        return await self.store.run(self.store.list_sync, states, limit, principal)

    async def get_or_adopt(
        self,
        task_id: str,
        timeout: float | None = None,
        heartbeat: Heartbeat | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> TaskRecord:
        """The principal's task by our id or the provider's; a provider id never seen here is adopted (by the
        local principal only: ``Adopter.get_or_adopt``)."""
        return await self.adopter.get_or_adopt(task_id, timeout, heartbeat, principal)

    async def owned(self, task_id: str, principal: str) -> TaskRecord:
        """The principal's task by our id or the provider's; ``TaskNotFound`` for another's, as for an unknown."""
        return await self._ctx.get(task_id, principal)

    async def refresh(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """Poll an open task now (outside the schedule) so a check shows fresh state.

        A provider slower than ``timeout`` seconds leaves the stored state; the poll still lands.
        """
        record = await self.get(task_id)
        if await self.poller.refresh(record, timeout, heartbeat):
            record = await self.get(record.id)
        return record

    async def cancel(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """Ask the provider to cancel an open task; after ``timeout`` seconds, the task as it stands."""
        record = await self.get(task_id)
        if not record.open:
            raise WanError(f"task {record.id} is already {record.state}; nothing to cancel", code="not_cancelable")
        if not record.remote_id:
            raise WanError(
                f"task {record.id} has no provider id yet (state {record.state}), so it cannot be canceled; "
                "check it again shortly",
                code="not_cancelable",
                retryable=True,
            )
        job = await self._ctx.start_job(f"cancel {record.id}", lambda: self._cancel(record))
        if await job.wait(timeout, heartbeat):
            return job.outcome()
        return await self.get(record.id)

    async def _cancel(self, record: TaskRecord) -> TaskRecord:
        assert record.remote_id
        await self._ctx.provider.cancel(record.remote_id)
        status = await self._ctx.provider.poll(record.remote_id)
        return await self.recorder.apply(record, status, polled_at=self.clock())

    # ------------------------------------------------------------------ videos

    async def download(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """The task's video saved, waiting at most ``timeout`` seconds (``VideoSaver.download``)."""
        return await self.saver.download(task_id, timeout, heartbeat)

    async def ensure_downloaded(self, task_id: str) -> TaskRecord:
        """The task with its verified MP4 on disk, downloaded once (``VideoSaver.ensure_downloaded``)."""
        return await self.saver.ensure_downloaded(task_id)

    def local_file(self, record: TaskRecord) -> Path | None:
        """The task's MP4 when it is on disk and intact (size as recorded, an MP4 container)."""
        return self.saver.local_file(record)

    # ------------------------------------------------------------------ inputs

    async def measure(self, urls: Sequence[str], *, timeout: float, at_once: int) -> dict[str, MediaFacts]:
        """Measure a request's input media before it is paid for (lengths, sizes, whether they can be fetched),
        ``at_once`` at a time, each in at most ``timeout`` seconds: no key is sent, and every hop is held to the
        same address policy as the video downloads."""
        # Imported here: server.media reads jobs.downloads' address policy, and this package imports engine.
        from wan_video_mcp.server.media import probe_all

        policy = await self.saver.address_policy()
        return await probe_all(self._ctx.client, urls, policy=policy, timeout=timeout, concurrency=at_once)

    async def read_inputs(
        self, request: GenerationRequest, skip: Collection[str] = (), principal: str | None = None
    ) -> tuple[GenerationRequest, dict[str, MediaFacts]]:
        """The request's local files and earlier videos (the principal's own) read, checked and measured
        (``InputFiles.read``)."""
        return await self.inputs.read(request, skip, principal or LOCAL_PRINCIPAL)
