"""JobEngine: persist, submit once, poll in the background, download, recover.

The rules this module exists to keep:
- the task row is written *before* the paid call, and the provider's id is
  written the moment it arrives (the submit and that write are shielded from
  cancellation);
- the duplicate/idempotency check and the insert are one store transaction, so
  every process on one data directory pays once;
- a submit is retried only when the provider provably did not create the task
  (``ProviderError.created is False``); an ambiguous outcome becomes state
  ``unknown`` and is reconciled against the provider's task list (``reconcile``),
  never resent, and never called uncharged on a guess;
- one poller per process serves every open task under one rate limiter, on an
  adaptive schedule shared through the store (``next_poll_at``), honouring
  ``Retry-After``; a task is polled, submitted or downloaded by one process at a
  time (the store's leases);
- a finished video is downloaded straight away and verified, so an agent that never
  comes back still has its file; on start, every open task and pending download resumes.
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
from anyio.abc import TaskGroup

from wan_video_mcp.server import background, downloads, reconcile
from wan_video_mcp.server.background import Heartbeat, backoff
from wan_video_mcp.server.catalog import ModelSpec, ValidatedCall, estimate_cost
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import (
    BudgetExceeded,
    InvalidRequest,
    NotConfigured,
    ProviderError,
    TaskNotFound,
    WanError,
    clip,
)
from wan_video_mcp.server.providers.base import Provider, RemoteStatus
from wan_video_mcp.server.reconcile import ClockSkew
from wan_video_mcp.server.saving import WAIT_RECHECK_SECONDS, VideoSaving
from wan_video_mcp.server.store import TaskRecord, TaskStore, new_task_id

logger = logging.getLogger(__name__)

URL_LIFETIME_SECONDS = 24 * 3600
TASK_LIFETIME_SECONDS = 24 * 3600
SUBMIT_MAX_ATTEMPTS = 4
SUBMIT_RETRY_BUDGET_SECONDS = 60.0
HISTORY_SAMPLES = 20
# Processes on one store: how often this one says it is alive, and looks for tasks others left.
INSTANCE_HEARTBEAT_SECONDS = 3.0
SCAN_SECONDS = 5.0
# How long a poll lease may run before others may take it even from a live holder.
POLL_LEASE_SECONDS = 300.0
RECONCILE_CANDIDATES = 5  # listed tasks looked at closely per pass
NO_LIST_RECHECK_SECONDS = 3600.0  # a provider without a task list: only the lifetime rule is left to apply
UNCONFIRMED = (
    "not confirmed: the submit may or may not have created a task at the provider, so the server will "
    "not send it again; it is looking for it in the provider's task list. Do not generate again yet"
)

ProgressFn = Callable[[float, str], Awaitable[None]]  # percent, message
# What a provider's task id can look like (DashScope: a UUID); anything else is never sent to the provider.
_PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_INSTANCE_ID = re.compile(r"p_[0-9a-f]{12}")


def url_expiry(url: str, fallback: float) -> float:
    """When a signed result URL stops working: its OSS ``Expires`` parameter, else ``fallback``."""
    try:
        values = parse_qs(urlsplit(url).query).get("Expires")
        if values:
            return float(values[0])
    except ValueError:
        pass
    return fallback


@dataclass(frozen=True)
class SubmitOutcome:
    record: TaskRecord
    attached: str  # "new", "idempotency_key" or "duplicate"


class RateLimiter:
    """Spaces calls at most ``qps`` per second, shared by every poll."""

    def __init__(self, qps: float, clock: Callable[[], float]) -> None:
        self._interval = 1.0 / qps if qps > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await anyio.sleep(wait)


class JobEngine(VideoSaving):
    """Owns every task's lifecycle for one provider endpoint."""

    def __init__(
        self,
        *,
        store: TaskStore,
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
        self.store = store
        self.provider = provider
        self.client = client
        self.settings = settings
        self.endpoint = endpoint
        self.models = {spec.id: spec for spec in models}
        self.simulated = simulated
        self.key_configured = key_configured
        self.clock = clock
        self._limiter = RateLimiter(settings.poll_qps, clock)
        self._submit_lock = anyio.Lock()
        self._schedule: dict[str, float] = {}  # open task id -> next poll time
        self._inflight: set[str] = set()
        self._hot: dict[str, int] = {}  # task id -> number of callers waiting on it
        self._events: dict[str, anyio.Event] = {}
        self._wake = anyio.Event()
        self._last_poll_error: dict[str, str] = {}
        self._history: dict[tuple[Any, ...], list[float]] = {}  # (model, size, duration) -> seconds taken
        self._tg: TaskGroup | None = None
        self._init_saving()
        # This process among those sharing the store; leases name it.
        self.instance_id = "p_" + new_task_id()[4:16]
        self.skew = ClockSkew()
        self._policy = address_policy  # where downloads may go; from the provider's base URL unless given
        client.event_hooks.setdefault("response", []).append(self._observe_date)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, tg: TaskGroup) -> None:
        """Join the processes on this store, resume every open task and pending download, start the poller."""
        self._tg = tg
        now = self.clock()
        await self.store.run(self.store.register_instance_sync, self.instance_id, now)
        live = await self.store.run(self.store.live_instances_sync, now)
        removed = await anyio.to_thread.run_sync(
            lambda: downloads.remove_orphaned_parts(
                self.settings.data_dir / downloads.VIDEO_DIR, keep=lambda part: _part_owner(part) in live
            )
        )
        if removed:
            logger.info("removed %d partial download(s) left by stopped processes", removed)
        resumed = await self._scan()
        if resumed:
            logger.info("resuming %d open task(s)", resumed)
        tg.start_soon(self._heartbeat_loop)
        tg.start_soon(self._poll_loop)

    async def stop(self) -> None:
        """Leave the store: other processes may take over this one's leases at once."""
        with anyio.CancelScope(shield=True):
            await self.store.run(self.store.unregister_instance_sync, self.instance_id)

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(INSTANCE_HEARTBEAT_SECONDS)
            try:
                await self.store.run(self.store.heartbeat_sync, self.instance_id, self.clock())
            except Exception:
                logger.exception("could not refresh this process's heartbeat in the task store")

    async def _scan(self) -> int:
        """Schedule open tasks and start pending downloads this process does not track yet (ours after a
        restart, or another process's that stopped). Returns how many tasks were added."""
        added = 0
        now = self.clock()
        for record in await self.store.run(self.store.open_tasks_sync, self.endpoint):
            if record.id not in self._schedule and record.id not in self._inflight:
                self._schedule[record.id] = min(
                    now + self.settings.poll_max_seconds, max(now, record.next_poll_at or now)
                )
                added += 1
        if self.settings.auto_download and self._tg is not None:
            for record in await self.store.run(self.store.pending_downloads_sync, self.endpoint):
                if record.id not in self._auto:
                    self._start_auto_download(record.id)
        self._wake.set()
        return added

    async def _observe_date(self, response: httpx.Response) -> None:
        """Learn the provider's clock from the Date of its answers (requests that carry our key)."""
        if "authorization" in response.request.headers:
            self.skew.observe_date(response.headers.get("Date"), self.clock())

    def _changed(self, task_id: str) -> None:
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()

    def _event(self, task_id: str) -> anyio.Event:
        if task_id not in self._events:
            self._events[task_id] = anyio.Event()
        return self._events[task_id]

    def _reschedule(self, task_id: str, when: float) -> None:
        self._schedule[task_id] = when
        self._wake.set()

    async def _update(self, task_id: str, **changes: Any) -> TaskRecord:
        record = await self.store.update(task_id, self.clock(), **changes)
        self._changed(task_id)
        return record

    # ------------------------------------------------------------------ submit

    async def submit(
        self, call: ValidatedCall, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> SubmitOutcome:
        """Attach to an identical task or persist a new one and submit it exactly once.

        Attaching and inserting is one store transaction, so any number of processes sharing the store pay
        once; the loser of a race gets the winner's task. The paid call runs as a background job: after
        ``timeout`` seconds the caller gets the task as it stands (``submitting``) while the submit carries on
        and records its outcome.
        """
        request = call.request
        fingerprint = request.fingerprint()
        cost = estimate_cost(request)
        now = self.clock()
        record = TaskRecord(
            id=new_task_id(),
            created_at=now,
            updated_at=now,
            provider=self.provider.name,
            endpoint=self.endpoint,
            model=request.model,
            request_json=request.model_dump_json(exclude_none=True),
            fingerprint=fingerprint,
            state="submitting",
            idempotency_key=call.idempotency_key,
            cost_usd=cost.amount_usd,
            cost_json=cost.model_dump_json(),
            simulated=self.simulated,
            lease_owner=self.instance_id,  # the submit is this process's until it records the outcome
            lease_until=now + self._submit_lease,
        )
        dedupe_since = None
        if not call.force_new and self.settings.dedupe_window_seconds > 0:
            dedupe_since = now - self.settings.dedupe_window_seconds
        async with self._submit_lock:
            # Persist before the paid call: from here on this task cannot be lost.
            found, how = await self.store.run(
                self.store.create_sync,
                record,
                dedupe_since=dedupe_since,
                admit=lambda spent: self._admit(cost.amount_usd, spent),
            )
        if how == "idempotency_key" and found.fingerprint != fingerprint:
            raise InvalidRequest(
                f"idempotency_key '{clip(call.idempotency_key or '')}' was already used for a different request "
                f"(task {found.id}); use a new key for new parameters",
                field="idempotency_key",
            )
        if how != "new":
            return SubmitOutcome(found, how)
        job = await background.start(self._tg, f"submit {record.id}", lambda: self._submit_once(record, call))
        if await job.wait(timeout, heartbeat):
            return SubmitOutcome(job.outcome(), "new")
        return SubmitOutcome(await self.get(record.id), "new")

    @property
    def _submit_lease(self) -> float:
        return SUBMIT_MAX_ATTEMPTS * self.settings.http_timeout_seconds + SUBMIT_RETRY_BUDGET_SECONDS

    @property
    def _reconcile_interval(self) -> float:
        return self.settings.reconcile_interval_seconds

    def _require_key(self, what: str) -> None:
        if not self.key_configured:
            why = f" ({self.settings.key_env_name}: {self.settings.key_note})" if self.settings.key_note else ""
            raise NotConfigured(
                f"no API key is configured{why}, so nothing can be {what}; set {self.settings.key_env_name} "
                "in the server's environment (or run with WAN_PROVIDER=simulator to try it offline)"
            )

    def _admit(self, amount: float, spent_today: float) -> None:
        """Whether a new paid task may be created (run inside the store's transaction): key and budgets."""
        self._require_key("submitted")
        cap = self.settings.max_cost_per_task_usd
        if cap is not None and amount > cap:
            raise BudgetExceeded(
                f"this request is estimated at ${amount:.2f}, over the per-task cap of ${cap:.2f} "
                "(WAN_MAX_COST_PER_TASK); nothing was submitted"
            )
        day_cap = self.settings.max_cost_per_day_usd
        if day_cap is not None and spent_today + amount > day_cap:
            raise BudgetExceeded(
                f"today's estimated spend is ${spent_today:.2f}; this request (${amount:.2f}) would pass the daily "
                f"cap of ${day_cap:.2f} (WAN_MAX_COST_PER_DAY); nothing was submitted"
            )

    async def _submit_once(self, record: TaskRecord, call: ValidatedCall) -> TaskRecord:
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            # Shielded: a server shutting down mid-submit must not cut us off between the paid
            # call and recording its id (callers no longer wait here: this runs as a background job).
            with anyio.CancelScope(shield=True):
                await self.store.update(
                    record.id, self.clock(), submit_attempts=attempt, lease_until=self.clock() + self._submit_lease
                )
                try:
                    remote = await self.provider.submit(call.request)
                except ProviderError as exc:
                    error: ProviderError | None = exc
                except Exception as exc:  # a bug or a surprise after sending: the task may exist
                    logger.exception("submit of %s failed unexpectedly", record.id)
                    error = ProviderError(f"the submit failed unexpectedly ({type(exc).__name__})", created=None)
                else:
                    error = None
                    now = self.clock()
                    state = remote.status.state if remote.status.state in ("queued", "running") else "queued"
                    first = now + self._poll_interval(record, now)
                    record = await self._update(
                        record.id,
                        state=state,
                        remote_id=remote.remote_id,
                        remote_state=remote.status.state,
                        submitted_at=now,
                        error_code=None,
                        error_message=None,
                        lease_owner=None,
                        lease_until=None,
                        next_poll_at=first,
                    )
                    logger.info("task %s submitted as %s", record.id, remote.remote_id)
                    self._reschedule(record.id, first)
                    return record
            assert error is not None
            elapsed = self.clock() - started
            if (
                error.created is False
                and error.retryable
                and attempt < SUBMIT_MAX_ATTEMPTS
                and (elapsed < SUBMIT_RETRY_BUDGET_SECONDS)
            ):
                delay = backoff(attempt, base=self.settings.retry_base_seconds, retry_after=error.retry_after)
                logger.info("submit of %s refused (%s); retrying in %.1fs", record.id, error.provider_code, delay)
                try:
                    await anyio.sleep(delay)
                except anyio.get_cancelled_exc_class():
                    with anyio.CancelScope(shield=True):
                        await self._update(
                            record.id,
                            state="failed",
                            error_code="not_submitted",
                            lease_owner=None,
                            lease_until=None,
                            error_message="the server stopped while retrying a submit the "
                            "provider had refused, so no task was created",
                            error_retryable=True,
                        )
                    raise
                continue
            if error.created is False:
                # Refused: the provider says no task exists. Record it, then tell the agent.
                await self._update(
                    record.id,
                    state="failed",
                    error_code=error.provider_code or error.code,
                    error_message=error.message,
                    error_retryable=error.retryable,
                    lease_owner=None,
                    lease_until=None,
                )
                raise error
            # The request may have reached the service: never resend; reconcile instead.
            later = self.clock() + self._reconcile_interval
            record = await self._update(
                record.id,
                state="unknown",
                error_code=error.provider_code or "submit_outcome_unknown",
                error_message=f"{error.message}; {UNCONFIRMED}",
                lease_owner=None,
                lease_until=None,
                next_poll_at=later,
            )
            self._reschedule(record.id, later)
            return record

    # ------------------------------------------------------------------ polling

    def expected_seconds(self, record: TaskRecord) -> float:
        """How long tasks like this one take, learned from finished ones."""
        key = (
            record.model,
            record.request.get("size") or record.request.get("resolution"),
            record.request.get("duration"),
        )
        samples = self._history.get(key)
        if samples:
            return statistics.median(samples)
        if self.simulated:
            return self.settings.sim_queue_seconds + self.settings.sim_run_seconds
        duration = record.request.get("duration") or 5
        return 60.0 + 12.0 * float(duration)

    def _learn(self, record: TaskRecord) -> None:
        if record.submitted_at is None or record.finished_at is None:
            return
        key = (
            record.model,
            record.request.get("size") or record.request.get("resolution"),
            record.request.get("duration"),
        )
        samples = self._history.setdefault(key, [])
        samples.append(record.finished_at - record.submitted_at)
        del samples[:-HISTORY_SAMPLES]

    def _poll_interval(self, record: TaskRecord, now: float) -> float:
        """Prompt at first, sparse through the bulk of the render, dense near its expected end (or while
        someone waits), backing off after.

        The first poll comes at a tenth of the expected render time and the gaps then grow with the time
        elapsed (at most a quarter of the expected time), so a task that finishes early is seen early.
        """
        low, high = self.settings.poll_min_seconds, self.settings.poll_max_seconds
        if self._hot.get(record.id):
            return low
        expected = self.expected_seconds(record)
        elapsed = now - (record.submitted_at or record.created_at)
        if elapsed < 0.8 * expected:
            return min(high, max(low, min(max(0.1 * expected, 0.5 * elapsed), 0.25 * expected)))
        if elapsed < 1.5 * expected:
            return low
        overdue = (elapsed - 1.5 * expected) / max(expected, 1.0)
        return min(high, low * (1 + overdue * 2))

    async def _poll_loop(self) -> None:
        next_scan = self.clock() + SCAN_SECONDS
        while True:
            now = self.clock()
            if now >= next_scan:
                try:
                    await self._scan()
                except Exception:
                    logger.exception("looking for open tasks in the store failed")
                next_scan = now + SCAN_SECONDS
            due = [tid for tid, when in self._schedule.items() if when <= now and tid not in self._inflight]
            for task_id in due:
                self._inflight.add(task_id)
                assert self._tg is not None
                self._tg.start_soon(self._poll_task, task_id)
            pending = [when for tid, when in self._schedule.items() if tid not in self._inflight]
            delay = max(0.0, min([*pending, next_scan]) - now)
            self._wake = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wake.wait()

    async def _poll_task(self, task_id: str, *, force: bool = False) -> None:
        """Poll (or reconcile) one open task if this process gets its lease; ``force``: even before it is due."""
        next_at: float | None = None
        claimed = False
        lease: float | None = None
        try:
            now = self.clock()
            record = await self.store.run(
                self.store.claim_sync, task_id, self.instance_id, now, now + POLL_LEASE_SECONDS, due=not force
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
            next_at = self.clock() + self.settings.poll_max_seconds
        finally:
            if claimed:
                with anyio.CancelScope(shield=True):
                    try:
                        await self.store.run(
                            self.store.release_sync,
                            task_id,
                            self.instance_id,
                            lease,
                            self.clock(),
                            next_poll_at=next_at,
                        )
                    except Exception:  # a full disk, say: the lease lapses on its own
                        logger.exception("could not release the poll lease of task %s", task_id)
            if next_at is None:
                self._schedule.pop(task_id, None)
            else:
                self._schedule[task_id] = next_at
            self._inflight.discard(task_id)
            self._wake.set()

    async def _not_ours(self, task_id: str, now: float) -> float | None:
        """When to look at a task another process holds (or that is not due): its shared poll time, bounded."""
        record = await self.store.get(task_id)
        if record is None or not record.open:
            return None
        if record.lease_owner == self.instance_id and record.state == "submitting":
            return now + self.settings.poll_max_seconds  # our own submit in flight
        shared = record.next_poll_at if record.next_poll_at is not None else now
        return now + min(self.settings.poll_max_seconds, max(self.settings.poll_min_seconds, shared - now))

    async def _poll_claimed(self, record: TaskRecord) -> float | None:
        """One poll or reconciliation pass under this process's lease; returns the next poll time."""
        task_id = record.id
        if record.state == "submitting":
            # Its submitter stopped (the lease was free): the task may or may not exist. Reconcile, never resend.
            record = await self._update(
                task_id,
                state="unknown",
                error_code="submit_outcome_unknown",
                error_message=f"the server stopped while this task was being submitted; {UNCONFIRMED}",
            )
        if record.state == "unknown":
            return await self._reconcile(record)
        await self._limiter.acquire()
        now = self.clock()
        try:
            status = await self.provider.poll(record.remote_id or "")
        except ProviderError as exc:
            errors = record.poll_errors + 1
            self._last_poll_error[task_id] = exc.message
            delay = backoff(
                errors,
                base=self.settings.poll_min_seconds,
                cap=self.settings.poll_max_seconds * 4,
                retry_after=exc.retry_after,
            )
            logger.warning("poll of %s failed (%s); next try in %.1fs", task_id, exc.message, delay)
            await self._update(task_id, poll_errors=errors, last_polled_at=now)
            return self.clock() + delay
        self._last_poll_error.pop(task_id, None)
        record = await self._apply_status(record, status, polled_at=now)
        if record.open:
            return self.clock() + self._poll_interval(record, self.clock())
        return None

    async def _apply_status(self, record: TaskRecord, status: RemoteStatus, *, polled_at: float) -> TaskRecord:
        now = self.clock()
        if status.submitted_at and record.submitted_at and not record.adopted and record.submit_attempts == 1:
            # We sent it between created_at and submitted_at: the provider's stamp tells its clock.
            self.skew.observe(status.submitted_at.timestamp(), record.created_at, record.submitted_at)
        changes: dict[str, Any] = {
            "remote_state": status.state,
            "last_polled_at": polled_at,
            "poll_count": record.poll_count + 1,
            "poll_errors": 0,
        }
        if status.progress is not None:
            changes["progress"] = status.progress
        if status.state in ("queued", "running"):
            changes["state"] = status.state
        elif status.state == "succeeded":
            # The provider's own end time, when it gives one, so learned durations exclude our detection lag
            # (clamped into [submitted, now] against clock skew).
            started = record.submitted_at or record.created_at
            finished = status.finished_at.timestamp() if status.finished_at else now
            finished = min(now, max(started, finished))
            changes |= {
                "state": "succeeded",
                "progress": 100.0,
                "finished_at": finished if record.finished_at is None else record.finished_at,
                "video_url": status.video_url,
                "video_url_expires_at": url_expiry(status.video_url or "", finished + URL_LIFETIME_SECONDS),
                "actual_prompt": status.actual_prompt,
                "usage_json": json.dumps(status.usage) if status.usage else None,
                "error_code": None,
                "error_message": None,
            }
        elif status.state == "failed":
            changes |= {
                "state": "failed",
                "finished_at": now,
                "error_code": status.error_code or "failed",
                "error_message": status.error_message or "the provider reported the task as failed",
                "error_retryable": False,
            }
        elif status.state == "canceled":
            changes |= {"state": "canceled", "finished_at": now}
        elif status.state == "expired":
            changes |= {
                "state": "expired",
                "finished_at": now,
                "error_code": "expired",
                "error_message": "the provider no longer knows this task (task ids expire after 24 hours)",
            }
        record = await self._update(record.id, **changes)
        if record.state == "succeeded":
            self._learn(record)
            if self.settings.auto_download and self._tg is not None:
                self._start_auto_download(record.id)
        return record

    async def _reconcile(self, record: TaskRecord) -> float | None:
        """Look for a task whose submit outcome is unknown in the provider's list; never resubmit, never guess.

        A listed task is taken for this one only when nothing the provider says contradicts it (model, time
        on the provider's clock, duration, size) and the provider quotes our prompt; so a task still rendering
        is adopted once it has finished. Returns when to look again (None: settled).
        """
        now = self.clock()
        if now - record.created_at > TASK_LIFETIME_SECONDS + self.skew.estimate()[1]:
            await self._update(
                record.id,
                state="failed",
                finished_at=now,
                error_code="not_confirmed",
                error_retryable=False,
                error_message="never confirmed: the provider did not show this task during its 24-hour task "
                "lifetime. Whether it was created or charged is not known: check the provider's billing console "
                "before generating again.",
            )
            return None
        if await self.store.run(self.store.submitting_like_sync, record.fingerprint, record.endpoint, record.id):
            # An identical request's answer is pending: its task must not be taken for this one.
            return now + self._reconcile_interval
        sent_until = record.created_at + max(1, record.submit_attempts) * self.settings.http_timeout_seconds
        window = reconcile.submit_window(self.skew, record.created_at, sent_until + SUBMIT_RETRY_BUDGET_SECONDS)
        since = window.earliest
        until = min(max(window.latest, self.skew.to_provider(now)), since + TASK_LIFETIME_SECONDS - 60)
        await self._limiter.acquire()
        try:
            listed = await self.provider.list_recent(_from_ts(since), _from_ts(until))
        except ProviderError as exc:
            self._last_poll_error[record.id] = exc.message
            return now + backoff(1, base=self._reconcile_interval, retry_after=exc.retry_after)
        if listed is None:
            if record.error_code != "no_task_list":
                await self._update(
                    record.id,
                    error_code="no_task_list",
                    error_message="not confirmed: the submit may or may not have created a task, and this provider "
                    "has no task list to check, so the server will not send it again. Look for the task in the "
                    "provider's console, then call check_task with its id to adopt it; do not generate again "
                    "before that.",
                )
            return now + NO_LIST_RECHECK_SECONDS
        # This answer's Date may just have taught the provider's clock: narrow the window with it.
        window = reconcile.submit_window(self.skew, record.created_at, sent_until + SUBMIT_RETRY_BUDGET_SECONDS)
        spec = self.models.get(record.model)
        models = {record.model, *(spec.region_names.values() if spec else ())}
        taken = {
            status.remote_id for status in listed if await self.store.run(self.store.find_remote_sync, status.remote_id)
        }
        found = reconcile.candidates(listed, models=models, window=window, taken=taken)
        # Proof is the provider quoting our prompt (DashScope does once a task succeeds). A request without a
        # prompt has none to give: a lone candidate in a window narrowed by a measured clock has to do.
        only = (
            record.request.get("prompt") is None
            and len(found) == 1
            and self.skew.estimate()[1] <= reconcile.TIGHT_SECONDS
        )
        for status in found[:RECONCILE_CANDIDATES]:
            await self._limiter.acquire()
            try:
                detail = await self.provider.poll(status.remote_id)
            except ProviderError as exc:
                self._last_poll_error[record.id] = exc.message
                return now + backoff(1, base=self._reconcile_interval, retry_after=exc.retry_after)
            if not reconcile.same_request(record.request, detail):
                continue
            if not (only or reconcile.repeats_prompt(record.request, detail)):
                continue  # plausible, not proven: look again once it says more (or the clock is known)
            provider_time = detail.submitted_at or status.submitted_at
            submitted = provider_time.timestamp() - self.skew.estimate()[0] if provider_time else record.created_at
            assigned = await self.store.run(
                self.store.assign_remote_sync,
                record.id,
                status.remote_id,
                self.clock(),
                state="queued",
                submitted_at=max(record.created_at, submitted),
                error_code=None,
                error_message=None,
                adopted=True,
            )
            if assigned is None:
                return self.clock()  # the id was taken, or the task answered itself meanwhile: look again now
            logger.info("reconciled task %s with remote task %s", record.id, status.remote_id)
            record = await self._apply_status(assigned, detail, polled_at=self.clock())
            return self.clock() + self._poll_interval(record, self.clock()) if record.open else None
        return now + self._reconcile_interval

    # ------------------------------------------------------------------ waiting

    def _settled(self, record: TaskRecord) -> bool:
        if not record.terminal:
            return False
        if record.state != "succeeded" or not self.settings.auto_download:
            return True
        return record.download_state in ("downloaded", "download_failed")

    async def wait(self, task_id: str, timeout: float, report: ProgressFn | None = None) -> TaskRecord:
        """Wait up to ``timeout`` seconds for a task to settle, reporting progress; the task is never harmed.

        The store is reread every second: another process may be the one polling or downloading the task.
        """
        record = await self.get(task_id)
        task_id = record.id
        deadline = self.clock() + timeout
        self._hot[task_id] = self._hot.get(task_id, 0) + 1
        reported = -math.inf
        try:
            while True:
                record = await self.get(task_id)
                if self._settled(record):
                    return record
                now = self.clock()
                remaining = deadline - now
                if remaining <= 0:
                    return record
                if record.open:
                    await self._hurry(record, now)
                if report is not None and now - reported >= background.HEARTBEAT_SECONDS:
                    reported = now
                    percent, message = self.progress(record)
                    await report(percent, message)
                event = self._event(task_id)
                with anyio.move_on_after(min(remaining, WAIT_RECHECK_SECONDS)):
                    await event.wait()
        finally:
            self._hot[task_id] -= 1
            if not self._hot[task_id]:
                del self._hot[task_id]

    async def _hurry(self, record: TaskRecord, now: float) -> None:
        """Someone waits: bring the task's next poll (shared by every process) within the shortest interval."""
        soon = now + self.settings.poll_min_seconds
        if record.next_poll_at is None or record.next_poll_at > soon:
            await self.store.run(self.store.hurry_sync, record.id, soon)
        if record.id in self._schedule and self._schedule[record.id] > soon:
            self._reschedule(record.id, soon)

    def progress(self, record: TaskRecord) -> tuple[float, str]:
        """A percentage and a one-line message: the provider's progress, else an estimate from history."""
        now = self.clock()
        elapsed = now - record.created_at
        expected = self.expected_seconds(record)
        if record.state == "succeeded":
            return 100.0, f"finished; downloading the video ({record.download_state})"
        if record.progress is not None:
            percent = record.progress
        else:
            percent = min(95.0, 100.0 * elapsed / max(expected, 1.0))
        eta = max(0.0, expected - elapsed)
        eta_text = f", about {_duration(eta)} left (estimate)" if eta > 0 else ", taking longer than usual"
        return percent, f"{record.state}: {_duration(elapsed)} elapsed{eta_text}"

    def last_poll_error(self, task_id: str) -> str | None:
        return self._last_poll_error.get(task_id)

    def poll_after(self, record: TaskRecord) -> int:
        """When an agent should come back: around the expected finish, within sane bounds."""
        expected = self.expected_seconds(record)
        remaining = expected - (self.clock() - record.created_at)
        return int(min(120, max(10, math.ceil(remaining if remaining > 0 else 15))))

    # ------------------------------------------------------------------ queries

    async def get(self, task_id: str) -> TaskRecord:
        record = await self.store.get(task_id)
        if record is None:
            record = await self.store.run(self.store.find_remote_sync, task_id)
        if record is None:
            raise TaskNotFound(f"no task '{clip(task_id)}' is known to this server")
        return record

    async def get_or_adopt(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """A task by our id or the provider's; a provider id never seen here is adopted."""
        try:
            return await self.get(task_id)
        except TaskNotFound:
            if task_id.startswith("wan_") or not _PROVIDER_ID.fullmatch(task_id):
                raise
        self._require_key("looked up at the provider")
        job = await background.start(self._tg, f"adopt {task_id}", lambda: self._adopt(task_id))
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
        try:
            status = await self.provider.poll(task_id)
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
        now = self.clock()
        model = status.model if status.model in self.models else (status.model or "unknown")
        record = TaskRecord(
            id=new_task_id(),
            created_at=now,
            updated_at=now,
            provider=self.provider.name,
            endpoint=self.endpoint,
            model=model,
            request_json=json.dumps({"model": model}),
            fingerprint=f"adopted:{task_id}",
            state="queued",
            remote_id=task_id,
            submitted_at=status.submitted_at.timestamp() if status.submitted_at else now,
            adopted=True,
            simulated=self.simulated,
        )
        existing = await self.store.run(self.store.adopt_sync, record)
        if existing.id != record.id:
            return existing  # adopted meanwhile (here or by another process)
        record = await self._apply_status(record, status, polled_at=now)
        if record.open:
            self._reschedule(record.id, now + self._poll_interval(record, now))
        return record

    async def list(self, states: Sequence[str] | None, limit: int) -> list[TaskRecord]:
        return await self.store.run(self.store.list_sync, states, limit)

    async def refresh(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """Poll an open task now (outside the schedule) so a check shows fresh state.

        A provider slower than ``timeout`` seconds leaves the stored state; the poll still lands.
        """
        record = await self.get(task_id)
        if record.open and record.remote_id and record.id not in self._inflight:
            self._inflight.add(record.id)  # the poll loop skips it meanwhile; _poll_task releases it
            job = await background.start(self._tg, f"poll {record.id}", lambda: self._poll_task(record.id, force=True))
            await job.wait(timeout, heartbeat)
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
        job = await background.start(self._tg, f"cancel {record.id}", lambda: self._cancel(record))
        if await job.wait(timeout, heartbeat):
            return job.outcome()
        return await self.get(record.id)

    async def _cancel(self, record: TaskRecord) -> TaskRecord:
        assert record.remote_id
        await self.provider.cancel(record.remote_id)
        status = await self.provider.poll(record.remote_id)
        return await self._apply_status(record, status, polled_at=self.clock())


def _from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _part_owner(part: Path) -> str | None:
    """The process that writes a ``<task>.<instance>.<random>.part`` file (None: an untagged one)."""
    pieces = part.name.split(".")
    return pieces[-3] if len(pieces) >= 4 and _INSTANCE_ID.fullmatch(pieces[-3]) else None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
