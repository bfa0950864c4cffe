"""Submit once: attach to an identical task or persist a new one, admit it against the budget, and make
the paid call exactly once, recording every outcome.

- the task row is written *before* the paid call, and the provider's id is written the moment it
  arrives (the submit and that write are shielded from cancellation);
- the duplicate/idempotency check, the budget and the insert are one store transaction, so every
  process on one store pays once; the loser of a race gets the winner's task;
- a submit is retried only when the provider provably did not create the task
  (``ProviderError.created is False``); an ambiguous outcome becomes state ``unknown`` and is reconciled
  against the provider's task list (``reconcile``), never resent, and never called uncharged on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from wan_video_mcp.server.catalog import GenerationRequest, ValidatedCall, estimate_cost
from wan_video_mcp.server.errors import BudgetExceeded, InvalidRequest, ProviderError, clip
from wan_video_mcp.server.jobs import transitions
from wan_video_mcp.server.jobs.background import Heartbeat
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.retry import RetryPolicy, retry
from wan_video_mcp.server.jobs.schedule import Schedule
from wan_video_mcp.server.store import LOCAL_PRINCIPAL, TaskRecord, new_task_id

logger = logging.getLogger(__name__)

SUBMIT_MAX_ATTEMPTS = 4
SUBMIT_RETRY_BUDGET_SECONDS = 60.0
RECORD_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # writing a paid call's answer while the store fails


class InputsNotSent(Exception):
    """A new task would be created with local inputs not yet uploaded (a call that attaches sends nothing)."""


@dataclass(frozen=True)
class SubmitOutcome:
    record: TaskRecord
    attached: str  # "new", "idempotency_key" or "duplicate"


class Submitter:
    """Creates tasks and makes their paid calls."""

    def __init__(self, ctx: EngineContext, schedule: Schedule, reschedule: Callable[[str, float], None]) -> None:
        self._ctx = ctx
        self._schedule = schedule
        self._reschedule = reschedule  # the poller's: when this process polls the task next
        self._lock = anyio.Lock()

    @property
    def _lease(self) -> float:
        """How long a submit may hold its task: every attempt's timeout, and the waits between them."""
        return SUBMIT_MAX_ATTEMPTS * self._ctx.settings.http_timeout_seconds + SUBMIT_RETRY_BUDGET_SECONDS

    async def submit(
        self, call: ValidatedCall, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> SubmitOutcome:
        """Attach to an identical task or persist a new one and submit it exactly once.

        Attaching and inserting is one store transaction, so any number of processes sharing the store pay
        once; the loser of a race gets the winner's task. The paid call runs as a background job: after
        ``timeout`` seconds the caller gets the task as it stands (``submitting``) while the submit carries on
        and records its outcome.
        """
        ctx = self._ctx
        request = call.request
        fingerprint = request.fingerprint()
        cost = estimate_cost(request)
        now = ctx.clock()
        record = TaskRecord(
            id=new_task_id(),
            created_at=now,
            updated_at=now,
            provider=ctx.provider.name,
            endpoint=ctx.endpoint,
            model=request.model,
            request_json=request.model_dump_json(exclude_none=True),
            fingerprint=fingerprint,
            state="submitting",
            idempotency_key=call.idempotency_key,
            # A figure still open (an unmeasured input, a length the model picks) counts at its most.
            cost_usd=cost.amount_max_usd or cost.amount_usd,
            cost_json=cost.model_dump_json(),
            simulated=ctx.simulated,
            principal=call.principal or LOCAL_PRINCIPAL,
            lease_owner=ctx.instance_id,  # the submit is this process's until it records the outcome
            lease_until=now + self._lease,
        )
        dedupe_since = self._dedupe_since(call, now)
        unsent = any(source.sent is None for source in request.sources or ())
        ctx.submitting.add(record.id)  # (from before its row exists: the poller never takes it for a lost submit)
        try:
            async with self._lock:
                # Persist before the paid call: from here on this task cannot be lost.
                found, how = await ctx.store.run(
                    ctx.store.create_sync,
                    record,
                    dedupe_since=dedupe_since,
                    admit=lambda spent: self._admit(cost.amount_max_usd or cost.amount_usd, spent, unsent=unsent),
                )
        except BaseException:
            ctx.submitting.discard(record.id)
            raise
        if how != "new":
            ctx.submitting.discard(record.id)
        if how == "idempotency_key" and found.fingerprint != fingerprint and not _same_as_given(found, call.request):
            raise InvalidRequest(
                f"idempotency_key '{clip(call.idempotency_key or '')}' was already used for a different request "
                f"(task {found.id}); use a new key for new parameters",
                field="idempotency_key",
            )
        if how != "new":
            return SubmitOutcome(found, how)
        job = await ctx.start_job(f"submit {record.id}", lambda: self._submit_once(record, call.request))
        if await job.wait(timeout, heartbeat):
            return SubmitOutcome(job.outcome(), "new")
        return SubmitOutcome(await ctx.get(record.id), "new")

    def _dedupe_since(self, call: ValidatedCall, now: float) -> float | None:
        """Since when an identical request is attached to instead of paid again (None: never, force_new)."""
        window = self._ctx.settings.dedupe_window_seconds
        return None if call.force_new or window <= 0 else now - window

    async def repeated(self, call: ValidatedCall) -> TaskRecord | None:
        """The task this call would attach to rather than pay for (its idempotency key, or a recent twin)."""
        ctx, fingerprint = self._ctx, call.request.fingerprint()
        since = self._dedupe_since(call, ctx.clock())
        principal = call.principal or LOCAL_PRINCIPAL
        found = await ctx.store.run(
            ctx.store.repeated_sync, call.idempotency_key, fingerprint, ctx.endpoint, since, principal
        )
        return found[0] if found else None

    async def admissible(self, call: ValidatedCall) -> None:
        """Raise as ``submit`` would for the key and the budgets, before any work a refusal would waste (an upload).
        Advisory: the store's transaction decides again when the task is created."""
        cost = estimate_cost(call.request)
        await self.admissible_amount(cost.amount_max_usd or cost.amount_usd, principal=call.principal)

    async def admissible_amount(
        self, amount: float, *, each: float | None = None, principal: str | None = None
    ) -> None:
        """``admissible`` for an amount; for several tasks at once (a storyboard's shots) ``amount`` is their total,
        held to the daily cap, and ``each`` the largest of them, held to the per-task cap."""
        ctx = self._ctx
        now = ctx.clock()
        spent = await ctx.store.run(ctx.store.spent_since_sync, now - now % 86400, principal or LOCAL_PRINCIPAL)
        if each is not None:
            self._admit(each, 0.0)  # the per-task cap (and the key); today's spend is counted once, below
        self._admit(amount, spent, per_task=each is None)

    def _admit(self, amount: float, spent_today: float, *, unsent: bool = False, per_task: bool = True) -> None:
        """Whether a new paid task may be created (run inside the store's transaction): key and budgets, and
        local inputs sent (else ``InputsNotSent`` rolls the insert back: the engine sends them and comes again)."""
        if unsent:
            raise InputsNotSent
        self._ctx.require_key("submitted")
        cap = self._ctx.settings.max_cost_per_task_usd
        if per_task and cap is not None and amount > cap:
            raise BudgetExceeded(
                f"this request is estimated at ${amount:.2f}, over the per-task cap of ${cap:.2f} "
                "(WAN_MAX_COST_PER_TASK); nothing was submitted"
            )
        day_cap = self._ctx.settings.max_cost_per_day_usd
        if day_cap is not None and spent_today + amount > day_cap:
            raise BudgetExceeded(
                f"today's estimated spend is ${spent_today:.2f}; this request (${amount:.2f}) would pass the daily "
                f"cap of ${day_cap:.2f} (WAN_MAX_COST_PER_DAY); nothing was submitted"
            )

    async def resume(self, record: TaskRecord) -> TaskRecord | None:
        """Send a submit whose process stopped before its first attempt was counted (so it was never sent), under
        the lease this process took over: ``_submit_once``. None when the provider refused it (recorded)."""
        try:
            return await self._submit_once(record, GenerationRequest.model_validate_json(record.request_json))
        except ProviderError:
            return None

    async def _submit_once(self, record: TaskRecord, request: GenerationRequest) -> TaskRecord:
        """The paid call, retried only while the provider says no task was created; every outcome recorded."""
        ctx = self._ctx
        ctx.submitting.add(record.id)

        async def attempt(number: int) -> TaskRecord:
            # Shielded: a server shutting down mid-submit must not cut us off between the paid
            # call and recording its id (callers no longer wait here: this runs as a background job).
            with anyio.CancelScope(shield=True):
                # Counted before it is sent, only while this process still holds the submit: one that was taken
                # for gone (a long pause) and taken over sends nothing.
                store, now = ctx.store, ctx.clock()
                counted = await store.run(
                    store.count_attempt_sync, record.id, ctx.instance_id, number, now, now + self._lease
                )
                if counted is None:
                    logger.warning("task %s: another process took this submit over; not sending it here", record.id)
                    return await ctx.get(record.id)
                try:
                    remote = await ctx.provider.submit(request)
                except ProviderError:
                    raise
                except Exception as exc:  # a bug or a surprise after sending: the task may exist
                    logger.exception("submit of %s failed unexpectedly", record.id)
                    raise ProviderError(f"the submit failed unexpectedly ({type(exc).__name__})", created=None) from exc
                now = ctx.clock()
                first = now + self._schedule.interval(record, now)
                submitted = await self._record(record.id, transitions.submitted(remote, now=now, next_poll_at=first))
                logger.info("task %s submitted as %s", record.id, remote.remote_id)
                self._reschedule(record.id, first)
            return submitted

        def refused_for_now(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and exc.created is False and exc.retryable

        def log_retry(exc: Exception, delay: float) -> None:
            code = exc.provider_code if isinstance(exc, ProviderError) else None
            logger.info("submit of %s refused (%s); retrying in %.1fs", record.id, code, delay)

        async def stopped() -> None:
            await ctx.update(record.id, **transitions.stopped_before_retry())

        try:
            return await self._attempts(record, attempt, refused_for_now, log_retry, stopped)
        finally:
            ctx.submitting.discard(record.id)

    async def _record(self, task_id: str, changes: dict[str, Any]) -> TaskRecord:
        """Write what a paid call answered, trying again while the store fails (a restarting database): the
        answer exists only in this process until it is written. If it never is, the row stays 'submitting' and
        is reconciled once this submit ends (``EngineContext.submitting``)."""
        for delay in RECORD_RETRY_DELAYS:
            try:
                return await self._ctx.update(task_id, **changes)
            except Exception:
                logger.exception("could not record the submit of %s; trying again in %.0f s", task_id, delay)
                await anyio.sleep(delay)
        return await self._ctx.update(task_id, **changes)

    async def _attempts(
        self,
        record: TaskRecord,
        attempt: Callable[[int], Awaitable[TaskRecord]],
        refused_for_now: Callable[[Exception], bool],
        log_retry: Callable[[Exception, float], None],
        stopped: Callable[[], Awaitable[None]],
    ) -> TaskRecord:
        ctx = self._ctx
        try:
            return await retry(
                attempt,
                RetryPolicy(
                    SUBMIT_MAX_ATTEMPTS, base=ctx.settings.retry_base_seconds, budget=SUBMIT_RETRY_BUDGET_SECONDS
                ),
                retryable=refused_for_now,
                clock=ctx.clock,
                on_retry=log_retry,
                on_cancel=stopped,
            )
        except ProviderError as error:
            if error.created is False:
                # Refused: the provider says no task exists. Record it, then tell the agent.
                await ctx.update(record.id, **transitions.refused(error))
                raise
            # The request may have reached the service: never resend; reconcile instead.
            later = ctx.clock() + ctx.settings.reconcile_interval_seconds
            unknown = await ctx.update(
                record.id,
                **transitions.unconfirmed(error.message, error.provider_code or "submit_outcome_unknown"),
                **transitions.RELEASED,
                next_poll_at=later,
            )
            self._reschedule(record.id, later)
            return unknown


def _same_as_given(found: TaskRecord, request: GenerationRequest) -> bool:
    """Whether a task found by its idempotency key was asked with the same values, its local inputs compared as
    given: a repeated call is not read again (its file may have moved since), so its paths stand for the bytes the
    task read from them."""
    try:
        stored = GenerationRequest.model_validate_json(found.request_json)
        return bool(stored.sources) and request.model_copy(update={"sources": stored.sources}).fingerprint() == (
            found.fingerprint
        )
    except (ValueError, KeyError):  # an adopted task's partial request; a model since left the catalog
        return False
