"""Adopting a task by the provider's id: a task this store never saw (created elsewhere, or by an earlier
store) is looked up at the provider and recorded, once across processes, then polled like our own."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from wan_video_mcp.server.errors import ProviderError, TaskNotFound, WanError, clip
from wan_video_mcp.server.jobs.background import Heartbeat
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.schedule import Schedule
from wan_video_mcp.server.jobs.status import StatusRecorder
from wan_video_mcp.server.store import LOCAL_PRINCIPAL, TaskRecord, new_task_id

# What a provider's task id can look like (DashScope: a UUID); anything else is never sent to the provider.
_PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Adopter:
    """Finds tasks by the provider's id and takes them over."""

    def __init__(
        self,
        ctx: EngineContext,
        schedule: Schedule,
        recorder: StatusRecorder,
        reschedule: Callable[[str, float], None],
    ) -> None:
        self._ctx = ctx
        self._schedule = schedule
        self._recorder = recorder
        self._reschedule = reschedule  # the poller's: when this process polls the task next

    async def get_or_adopt(
        self,
        task_id: str,
        timeout: float | None = None,
        heartbeat: Heartbeat | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> TaskRecord:
        """The principal's task by our id or the provider's; a provider id never seen here is adopted, by the local
        principal only: on a shared server an id the store has not recorded yet may be another principal's task
        whose submit is still being recorded, and adopting it would hand over their video."""
        ctx = self._ctx
        try:
            return await ctx.get(task_id, principal)
        except TaskNotFound:
            if task_id.startswith("wan_") or not _PROVIDER_ID.fullmatch(task_id) or principal != LOCAL_PRINCIPAL:
                raise
            if await ctx.store.run(ctx.store.find_remote_sync, task_id) is not None:
                raise  # (a local principal's lookup above would have found its own)
        ctx.require_key("looked up at the provider")
        job = await ctx.start_job(f"adopt {task_id}", lambda: self._adopt(task_id))
        if not await job.wait(timeout, heartbeat):
            raise WanError(
                f"task '{clip(task_id)}' is not known here and the provider has not answered about it yet "
                f"(asked {timeout:.0f}s ago); the server keeps asking",
                code="provider_slow",
                retryable=True,
                hint="Call check_task with the same id again in a few seconds.",
            )
        return job.outcome()

    async def _adopt(self, task_id: str) -> TaskRecord:
        ctx = self._ctx
        try:
            status = await ctx.provider.poll(task_id)
        except ProviderError as exc:
            raise TaskNotFound(
                f"task '{clip(task_id)}' is not known here and the provider could not be asked about it: {exc.message}",
                retryable=exc.retryable,
            ) from exc
        if status.state == "expired":
            raise TaskNotFound(
                f"task '{clip(task_id)}' is not known here, and the provider does not know it either "
                "(or it is older than 24 hours)"
            )
        now = ctx.clock()
        model = status.model if status.model in ctx.models else (status.model or "unknown")
        record = TaskRecord(
            id=new_task_id(),
            created_at=now,
            updated_at=now,
            provider=ctx.provider.name,
            endpoint=ctx.endpoint,
            model=model,
            request_json=json.dumps({"model": model}),
            fingerprint=f"adopted:{task_id}",
            state="queued",
            remote_id=task_id,
            submitted_at=status.submitted_at.timestamp() if status.submitted_at else now,
            adopted=True,
            simulated=ctx.simulated,
        )
        existing = await ctx.store.run(ctx.store.adopt_sync, record)
        if existing.id != record.id:
            return existing  # adopted meanwhile (here or by another process)
        record = await self._recorder.apply(record, status, polled_at=now)
        if record.open:
            self._reschedule(record.id, now + self._schedule.interval(record, now))
        return record
