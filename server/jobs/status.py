"""Recording what the provider says about a task: its status written to the row (``transitions.polled``),
the provider's clock learned from it, render times learned from finished tasks, the video saved once the
task succeeds; and the last error asking about a task, for the agent to see."""

from __future__ import annotations

from wan_video_mcp.server.jobs import transitions
from wan_video_mcp.server.jobs.clock import ClockSkew
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.saving import VideoSaver
from wan_video_mcp.server.jobs.schedule import Schedule
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.store import TaskRecord


class StatusRecorder:
    """Applies provider statuses to task rows."""

    def __init__(self, ctx: EngineContext, skew: ClockSkew, schedule: Schedule, saver: VideoSaver) -> None:
        self._ctx = ctx
        self._skew = skew
        self._schedule = schedule
        self._saver = saver
        self.last_poll_error: dict[str, str] = {}  # task id -> why asking the provider about it last failed

    async def apply(self, record: TaskRecord, status: RemoteStatus, *, polled_at: float) -> TaskRecord:
        ctx = self._ctx
        now = ctx.clock()
        if transitions.teaches_clock(record, status):
            assert status.submitted_at is not None and record.submitted_at is not None
            # We sent it between created_at and submitted_at: the provider's stamp tells its clock.
            self._skew.observe(status.submitted_at.timestamp(), record.created_at, record.submitted_at)
        record = await ctx.update(record.id, **transitions.polled(record, status, now=now, polled_at=polled_at))
        if record.state == "succeeded":
            self._schedule.learn(record)
            if ctx.settings.auto_download and ctx.tg is not None:
                self._saver.start_auto(record.id)
        return record
