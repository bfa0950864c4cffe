"""Sweeps: many open tasks' ends found with one query of the provider's task list, instead of a poll each.

Polling each task costs one query of the account's budget (DashScope: 20 a second, shared by every replica), so with
hundreds of tasks open each could be polled only every few tens of seconds, and its end seen that late. One page of
the task list names the states of up to 100 tasks. So when at least ``sweep_min_tasks`` tasks are open, one process
on the store (whichever claims the sweep: ``claim_sweep_sync``) reads the list of the tasks submitted since the oldest
open one every ``SWEEP_SECONDS``; each task it shows ended is polled at once (the list has no video URL, no usage), and
while sweeps work every process polls the others only now and then (``Schedule.sweeping``). When sweeps stop (few
tasks left, a list that keeps failing), the open tasks are polled at once and then on their own schedules.

A provider without a list (``list_recent`` is None) or a failing one leaves per-task polling as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.jobs.clock import ClockSkew
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.schedule import RateLimiter, Schedule
from wan_video_mcp.server.store import TaskRecord

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0  # how often the list is read while enough tasks are open (by one process of the store)
MARGIN_SECONDS = 120.0  # the list's window starts this long before the oldest open task (clocks differ)
HEALTHY_SECONDS = 3 * SWEEP_SECONDS  # a sweep this recent means the others may poll sparsely
FAILURES_TO_STOP = 3  # failed sweeps in a row after which the tasks are polled on their own again


class Sweeper:
    """Reads the task list for the ends of the open tasks, and has the poller fetch each one that ended."""

    def __init__(
        self,
        ctx: EngineContext,
        skew: ClockSkew,
        limiter: RateLimiter,
        schedule: Schedule,
        poll_now: Callable[[str], Awaitable[None]],
    ) -> None:
        self._ctx = ctx
        self._skew = skew
        self._limiter = limiter
        self._schedule = schedule
        self._poll_now = poll_now
        self._listless = False  # the provider has no task list: never sweep
        self._swept = False  # this process made the last sweep
        self._failures = 0  # sweeps that failed in a row

    async def run(self) -> None:
        while not self._listless:
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweeping the provider's task list failed; polling each task meanwhile")
            await anyio.sleep(SWEEP_SECONDS)

    async def sweep(self) -> int:
        """One turn: sweep if this process's turn has come and enough tasks are open. Returns how many tasks the
        list showed ended."""
        ctx, store = self._ctx, self._ctx.store
        now = ctx.clock()
        won, swept_at = await store.run(store.claim_sweep_sync, self._limiter.account, now, SWEEP_SECONDS)
        self._schedule.sweeping = swept_at is not None and now - swept_at < HEALTHY_SECONDS
        if not won:
            return 0
        open_tasks = [
            record
            for record in await store.run(store.open_tasks_sync, ctx.endpoint)
            if record.remote_id and record.state in ("queued", "running")
        ]
        if not ctx.settings.sweep_min_tasks or len(open_tasks) < ctx.settings.sweep_min_tasks:
            await self._stop(open_tasks, now)
            return 0
        oldest = min(record.submitted_at or record.created_at for record in open_tasks)
        since = self._skew.to_provider(oldest) - MARGIN_SECONDS
        until = self._skew.to_provider(now) + MARGIN_SECONDS
        try:
            # Each page of the list costs a query of the budget, as a poll does.
            window = (_utc(since), _utc(min(until, since + 86400 - 60)))
            listed = await ctx.provider.list_recent(*window, pace=self._limiter.acquire)
        except ProviderError as exc:
            self._failures += 1
            logger.warning("the task list could not be read (%s); polling each task meanwhile", exc.message)
            if self._failures >= FAILURES_TO_STOP:
                await self._stop(open_tasks, now)
            return 0
        self._failures = 0
        if listed is None:
            logger.info("this provider has no task list: each task is polled")
            self._listless = True
            await self._stop(open_tasks, now)
            return 0
        ended = {status.remote_id for status in listed if status.terminal}
        finished = [record for record in open_tasks if record.remote_id in ended]
        for record in finished:
            await self._due_now(record.id, now)
        await store.run(store.swept_sync, self._limiter.account, ctx.clock())
        self._schedule.sweeping = self._swept = True
        return len(finished)

    async def _stop(self, open_tasks: list[TaskRecord], now: float) -> None:
        """Sweeps stop (few tasks left, or the list fails): the tasks were polled sparsely meanwhile; poll them now
        (as the limit allows), then on their own schedules again."""
        if not self._swept:
            return
        self._swept = self._schedule.sweeping = False
        for record in open_tasks:
            await self._due_now(record.id, now)

    async def _due_now(self, task_id: str, now: float) -> None:
        """Poll the task now: its shared poll time brought to now (for whichever process claims it), and here."""
        store = self._ctx.store
        await store.run(store.hurry_sync, task_id, now)
        await self._poll_now(task_id)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
