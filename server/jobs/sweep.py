"""Sweeps: many open tasks' ends found with one query of the provider's task list, instead of a poll each.

Polling each task costs one query of the account's budget (DashScope: 20 a second, shared by every replica), so with
hundreds of tasks open each could be polled only every few tens of seconds, and its end seen that late. One page of
the task list names the states of up to 100 tasks. So when at least ``sweep_min_tasks`` tasks are open, one process
on the store (whichever claims the sweep: ``claim_sweep_sync``) reads the list of the tasks submitted since the oldest
open one every ``SWEEP_SECONDS``; each task it shows ended is polled at once (the list has no video URL, no usage), and
while sweeps work every process polls the others only now and then (``Schedule.sweeping``). When sweeps stop (few
tasks left, a list that keeps failing or leaves open tasks out), the open tasks are polled at once and then on their
own schedules.

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
SWEEP_LEASE_SECONDS = 60.0  # a sweep's hold on the turn (it ends with the sweep; a dead sweeper's lapses)
LIST_LAG_SECONDS = 30.0  # a task submitted this recently may not be in the list yet


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

    async def run(self) -> None:
        while not self._listless:
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweeping the provider's task list failed; polling each task meanwhile")
            await anyio.sleep(SWEEP_SECONDS)

    async def sweep(self) -> int:
        """One turn: sweep if this process's turn has come and enough tasks are open. Returns how many tasks the
        list showed ended.

        The turn is held (``SWEEP_LEASE_SECONDS``) until it ends, so sweeps never overlap across replicas. Sweeps that
        stop working (few tasks left, a list that fails for ``HEALTHY_SECONDS``, one that does not show every open
        task) are ended once for all replicas: the open tasks are polled at once, then on their own schedules."""
        ctx, store, account = self._ctx, self._ctx.store, self._limiter.account
        now = ctx.clock()
        won, swept_at = await store.run(store.claim_sweep_sync, account, now, SWEEP_LEASE_SECONDS)
        self._schedule.sweeping = swept_at is not None and now - swept_at < HEALTHY_SECONDS
        if not won:
            return 0
        open_tasks: list[TaskRecord] = []
        outcome, found = "failed", 0
        try:
            open_tasks = [
                record
                for record in await store.run(store.open_tasks_sync, ctx.endpoint)
                if record.remote_id and record.state in ("queued", "running")
            ]
            outcome, found = await self._read(open_tasks, now)
            return found
        finally:
            end = ctx.clock()
            stale = swept_at is not None and (
                outcome == "stopped" or (outcome == "failed" and end - swept_at >= HEALTHY_SECONDS)
            )
            with anyio.CancelScope(shield=True):
                worked = end if outcome == "ok" else None
                await store.run(store.end_sweep_sync, account, end + SWEEP_SECONDS, worked, stale)
            self._schedule.sweeping = outcome == "ok" or (self._schedule.sweeping and not stale)
            if stale:  # the tasks were polled sparsely while sweeps worked: poll them now
                for record in open_tasks:
                    await self._poll_now(record.id)

    async def _read(self, open_tasks: list[TaskRecord], now: float) -> tuple[str, int]:
        """Read the list for ``open_tasks``: ``("ok", ended)``, ``("failed", 0)`` (try again) or ``("stopped", 0)``
        (per-task polling from now on)."""
        ctx = self._ctx
        if not ctx.settings.sweep_min_tasks or len(open_tasks) < ctx.settings.sweep_min_tasks:
            return "stopped", 0
        oldest = min(record.submitted_at or record.created_at for record in open_tasks)
        since = self._skew.to_provider(oldest) - MARGIN_SECONDS
        until = min(self._skew.to_provider(now) + MARGIN_SECONDS, since + 86400 - 60)  # the list's longest window
        try:
            # Each page of the list costs a query of the budget, as a poll does.
            listed = await ctx.provider.list_recent(_utc(since), _utc(until), pace=self._limiter.acquire)
        except ProviderError as exc:
            logger.warning("the task list could not be read (%s); polling each task meanwhile", exc.message)
            return "failed", 0
        if listed is None:
            logger.info("this provider has no task list: each task is polled")
            self._listless = True
            return "stopped", 0
        shown = {status.remote_id: status for status in listed}
        settled = now - LIST_LAG_SECONDS
        missing = [r for r in open_tasks if r.remote_id not in shown and (r.submitted_at or r.created_at) < settled]
        if missing:  # a window too long for the list's pages, or a list that leaves tasks out: poll each task
            logger.warning("the task list left out %d open task(s); polling each task", len(missing))
            return "stopped", 0
        finished = [r for r in open_tasks if r.remote_id in shown and shown[r.remote_id].terminal]
        for record in finished:
            await self._poll_now(record.id)
        return "ok", len(finished)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
