"""Finding the provider task behind a submit whose outcome is unclear, without guessing.

A submit that may have reached the provider (a timeout after sending, a bare 502)
leaves a task in state ``unknown``. It is matched against the provider's task list
by what identifies it: the model, the request's own parameters where the provider
repeats them (prompt, duration, size), and the time it was sent, read on the
*provider's* clock (``clock.ClockSkew``). Until a match is found or
the provider's task lifetime has passed, the task stays ``unknown``: whether it was
created or charged is not known, and no message may say otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.jobs import transitions
from wan_video_mcp.server.jobs.clock import TIGHT_SECONDS, ClockSkew, Window, submit_window
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.retry import backoff
from wan_video_mcp.server.jobs.schedule import RateLimiter, Schedule
from wan_video_mcp.server.jobs.status import StatusRecorder
from wan_video_mcp.server.jobs.submit import SUBMIT_RETRY_BUDGET_SECONDS
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.store import TaskRecord

logger = logging.getLogger(__name__)

DURATION_TOLERANCE_SECONDS = 0.5  # billed lengths are fractional on the media protocol (5.02 s)
RECONCILE_CANDIDATES = 5  # listed tasks looked at closely per pass
NO_LIST_RECHECK_SECONDS = 3600.0  # a provider without a task list: only the lifetime rule is left to apply


def candidates(
    listed: Iterable[RemoteStatus], *, models: set[str], window: Window, taken: set[str]
) -> list[RemoteStatus]:
    """Listed tasks that can be ours by model and time, not already another task's; nearest first."""
    found: list[tuple[float, RemoteStatus]] = []
    for status in listed:
        when = _ts(status)  # a task without a model or a time cannot be told apart from anyone's: skipped
        if when is not None and status.model in models and status.remote_id not in taken and window.contains(when):
            found.append((abs(when - window.expected), status))
    return [status for _, status in sorted(found, key=lambda item: item[0])]


def same_request(request: dict[str, Any], status: RemoteStatus) -> bool:
    """False when the provider's own account of a task contradicts our request; True otherwise.

    Only what the provider repeats can be compared: the original prompt and the billed duration, size, ratio and
    tier (DashScope's ``orig_prompt`` and ``usage``). A task still queued repeats nothing and is not ruled out.
    """
    prompt = request.get("prompt")
    if status.prompt is not None and prompt is not None and status.prompt.strip() != str(prompt).strip():
        return False
    usage = status.usage or {}
    duration = request.get("duration")
    billed = usage.get("output_video_duration", usage.get("video_duration"))
    # A length the model picks (wan3.0's -1) or the input sets (videoedit's 0) cannot be compared, and the media
    # protocol bills fractions (5.02 s): only a clearly different length rules a task out.
    clip = any(isinstance(item, dict) and item.get("type") == "first_clip" for item in request.get("media") or [])
    if (
        isinstance(duration, int)
        and duration > 0
        and not clip  # (i2v's duration holds the clip; whether its billed output does is not documented)
        and isinstance(billed, int | float)
        and abs(float(billed) - duration) > DURATION_TOLERANCE_SECONDS
    ):
        return False
    size = request.get("size")
    billed_size = usage.get("size") or usage.get("video_ratio")
    if size is not None and isinstance(billed_size, str) and "*" in billed_size and billed_size != size:
        return False
    # The media protocol bills a tier (SR) and a ratio instead of a size.
    ratio, billed_ratio = request.get("ratio"), usage.get("ratio")
    # "adaptive" (wan3.0) becomes whatever ratio the input had: it is not compared.
    if ratio not in (None, "adaptive") and isinstance(billed_ratio, str) and billed_ratio and billed_ratio != ratio:
        return False
    tier, billed_tier = request.get("resolution"), usage.get("SR")
    if isinstance(tier, str) and isinstance(billed_tier, int) and f"{billed_tier}P" != tier:
        return False
    return True


def repeats_prompt(request: dict[str, Any], status: RemoteStatus) -> bool:
    """Whether the provider's account of a task quotes our request's prompt (proof, where ``same_request``
    is only the absence of a contradiction)."""
    prompt = request.get("prompt")
    return prompt is not None and status.prompt is not None and status.prompt.strip() == str(prompt).strip()


def _ts(status: RemoteStatus) -> float | None:
    return status.submitted_at.timestamp() if status.submitted_at else None


class Reconciler:
    """Looks for unconfirmed tasks in the provider's task list."""

    def __init__(
        self,
        ctx: EngineContext,
        skew: ClockSkew,
        limiter: RateLimiter,
        schedule: Schedule,
        recorder: StatusRecorder,
    ) -> None:
        self._ctx = ctx
        self._skew = skew
        self._limiter = limiter
        self._schedule = schedule
        self._recorder = recorder

    async def reconcile(self, record: TaskRecord) -> float | None:
        """Look for a task whose submit outcome is unknown in the provider's list; never resubmit, never guess.

        A listed task is taken for this one only when nothing the provider says contradicts it (model, time
        on the provider's clock, duration, size) and the provider quotes our prompt; so a task still rendering
        is adopted once it has finished. Returns when to look again (None: settled).
        """
        ctx, skew, store, provider = self._ctx, self._skew, self._ctx.store, self._ctx.provider
        interval = ctx.settings.reconcile_interval_seconds
        now = ctx.clock()
        if transitions.lifetime_passed(record, now, skew.estimate()[1]):
            await ctx.update(record.id, **transitions.never_confirmed(now))
            return None
        if await store.run(store.submitting_like_sync, record.fingerprint, record.endpoint, record.id):
            # An identical request's answer is pending: its task must not be taken for this one.
            return now + interval
        sent_until = record.created_at + max(1, record.submit_attempts) * ctx.settings.http_timeout_seconds
        window = submit_window(skew, record.created_at, sent_until + SUBMIT_RETRY_BUDGET_SECONDS)
        since = window.earliest
        until = min(max(window.latest, skew.to_provider(now)), since + transitions.TASK_LIFETIME_SECONDS - 60)
        try:
            listed = await provider.list_recent(_from_ts(since), _from_ts(until), pace=self._limiter.acquire)
        except ProviderError as exc:
            self._recorder.last_poll_error[record.id] = exc.message
            return now + backoff(1, base=interval, retry_after=exc.retry_after)
        if listed is None:
            changes = transitions.no_task_list(record)
            if changes:
                await ctx.update(record.id, **changes)
            return now + NO_LIST_RECHECK_SECONDS
        # This answer's Date may just have taught the provider's clock: narrow the window with it.
        window = submit_window(skew, record.created_at, sent_until + SUBMIT_RETRY_BUDGET_SECONDS)
        spec = ctx.models.get(record.model)
        models = {record.model, *(spec.region_names.values() if spec else ())}
        taken = {status.remote_id for status in listed if await store.run(store.find_remote_sync, status.remote_id)}
        found = candidates(listed, models=models, window=window, taken=taken)
        # Proof is the provider quoting our prompt (DashScope does once a task succeeds). A request without a
        # prompt has none to give: a lone candidate in a window narrowed by a measured clock has to do.
        only = record.request.get("prompt") is None and len(found) == 1 and skew.estimate()[1] <= TIGHT_SECONDS
        for status in found[:RECONCILE_CANDIDATES]:
            await self._limiter.acquire()
            try:
                detail = await provider.poll(status.remote_id)
            except ProviderError as exc:
                self._recorder.last_poll_error[record.id] = exc.message
                return now + backoff(1, base=interval, retry_after=exc.retry_after)
            if not same_request(record.request, detail):
                continue
            if not (only or repeats_prompt(record.request, detail)):
                continue  # plausible, not proven: look again once it says more (or the clock is known)
            provider_time = detail.submitted_at or status.submitted_at
            submitted = provider_time.timestamp() - skew.estimate()[0] if provider_time else record.created_at
            assigned = await store.run(
                store.assign_remote_sync,
                record.id,
                status.remote_id,
                ctx.clock(),
                state="queued",
                submitted_at=max(record.created_at, submitted),
                error_code=None,
                error_message=None,
                adopted=True,
            )
            if assigned is None:
                return ctx.clock()  # the id was taken, or the task answered itself meanwhile: look again now
            logger.info("reconciled task %s with remote task %s", record.id, status.remote_id)
            record = await self._recorder.apply(assigned, detail, polled_at=ctx.clock())
            return ctx.clock() + self._schedule.interval(record, ctx.clock()) if record.open else None
        return now + interval


def _from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
