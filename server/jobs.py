"""JobEngine: persist, submit once, poll in the background, download, recover.

The rules this module exists to keep:
- the task row is written *before* the paid call, and the provider's id is
  written the moment it arrives (the submit and that write are shielded from
  cancellation);
- a submit is retried only when the provider provably did not create the task
  (``ProviderError.created is False``); an ambiguous outcome becomes state
  ``unknown`` and is reconciled against the provider's task list, never resent;
- one poller serves every open task under one rate limiter, on an adaptive
  schedule, honouring ``Retry-After``;
- a finished video is downloaded straight away, so an agent that never comes
  back still has its file; on start, every open task and pending download resumes.
"""

from __future__ import annotations

import json
import logging
import math
import random
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

from server import background, downloads
from server.background import Heartbeat
from server.catalog import ModelSpec, ValidatedCall, estimate_cost
from server.config import DOWNLOAD_TIMEOUT, Settings
from server.errors import (
    BudgetExceeded,
    DownloadError,
    InvalidRequest,
    NotConfigured,
    ProviderError,
    TaskNotFound,
    VideoUnavailable,
    WanError,
)
from server.providers.base import Provider, RemoteStatus
from server.store import TaskRecord, TaskStore, new_task_id

logger = logging.getLogger(__name__)

URL_LIFETIME_SECONDS = 24 * 3600
TASK_LIFETIME_SECONDS = 24 * 3600
SUBMIT_MAX_ATTEMPTS = 4
SUBMIT_RETRY_BUDGET_SECONDS = 60.0
DOWNLOAD_MAX_ATTEMPTS = 5
DOWNLOAD_CONCURRENCY = 2
RECONCILE_INTERVAL_SECONDS = 10.0
RECONCILE_LOOKBACK_SECONDS = 120.0
HISTORY_SAMPLES = 20

ProgressFn = Callable[[float, str], Awaitable[None]]  # percent, message


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    delay = random.uniform(base, min(cap, base * 2 ** max(0, attempt - 1)) + base)
    return max(delay, retry_after or 0.0)


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


class JobEngine:
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
        self._download_locks: dict[str, anyio.Lock] = {}
        self._download_slots = anyio.Semaphore(DOWNLOAD_CONCURRENCY)
        self._last_poll_error: dict[str, str] = {}
        self._history: dict[tuple[Any, ...], list[float]] = {}  # (model, size, duration) -> seconds taken
        self._tg: TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, tg: TaskGroup) -> None:
        """Resume every open task and pending download, then start the poller."""
        self._tg = tg
        now = self.clock()
        for record in await self.store.run(self.store.open_tasks_sync, self.endpoint):
            if record.state == "submitting":
                # We stopped mid-submit: the task may or may not exist. Reconcile, never resend.
                record = await self.store.update(
                    record.id, now, state="unknown",
                    error_message="the server stopped while this task was being submitted; reconciling "
                    "with the provider's task list",
                )
            self._schedule[record.id] = now
        for record in await self.store.run(self.store.pending_downloads_sync, self.endpoint):
            if self.settings.auto_download:
                tg.start_soon(self._auto_download, record.id)
        if self._schedule:
            logger.info("resuming %d open task(s)", len(self._schedule))
        tg.start_soon(self._poll_loop)

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

    async def submit(self, call: ValidatedCall, timeout: float | None = None,
                     heartbeat: Heartbeat | None = None) -> SubmitOutcome:
        """Attach to an identical task or persist a new one and submit it exactly once.

        The paid call runs as a background job: after ``timeout`` seconds the caller gets the task as it
        stands (``submitting``) while the submit carries on and records its outcome.
        """
        request = call.request
        fingerprint = request.fingerprint()
        cost = estimate_cost(request)
        async with self._submit_lock:
            now = self.clock()
            if call.idempotency_key:
                existing = await self.store.run(self.store.find_idempotency_key_sync, call.idempotency_key)
                if existing is not None:
                    if existing.fingerprint != fingerprint:
                        raise InvalidRequest(
                            f"idempotency_key '{call.idempotency_key}' was already used for a different request "
                            f"(task {existing.id}); use a new key for new parameters",
                            field="idempotency_key",
                        )
                    return SubmitOutcome(existing, "idempotency_key")
            if not call.force_new and self.settings.dedupe_window_seconds > 0:
                existing = await self.store.run(
                    self.store.find_duplicate_sync, fingerprint, now - self.settings.dedupe_window_seconds,
                    self.endpoint,
                )
                if existing is not None:
                    return SubmitOutcome(existing, "duplicate")
            self._require_key("submitted")
            await self._check_budget(cost.amount_usd, now)
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
            )
            # Persist before the paid call: from here on this task cannot be lost.
            await self.store.insert(record)
        job = await background.start(self._tg, f"submit {record.id}", lambda: self._submit_once(record, call))
        if await job.wait(timeout, heartbeat):
            return SubmitOutcome(job.outcome(), "new")
        return SubmitOutcome(await self.get(record.id), "new")

    @property
    def _reconcile_interval(self) -> float:
        return min(RECONCILE_INTERVAL_SECONDS, self.settings.reconcile_grace_seconds / 3)

    def _require_key(self, what: str) -> None:
        if not self.key_configured:
            why = f" ({self.settings.key_env_name}: {self.settings.key_note})" if self.settings.key_note else ""
            raise NotConfigured(
                f"no API key is configured{why}, so nothing can be {what}; set {self.settings.key_env_name} "
                "in the server's environment (or run with WAN_PROVIDER=simulator to try it offline)"
            )

    async def _check_budget(self, amount: float, now: float) -> None:
        cap = self.settings.max_cost_per_task_usd
        if cap is not None and amount > cap:
            raise BudgetExceeded(
                f"this request is estimated at ${amount:.2f}, over the per-task cap of ${cap:.2f} "
                "(WAN_MAX_COST_PER_TASK); nothing was submitted"
            )
        day_cap = self.settings.max_cost_per_day_usd
        if day_cap is not None:
            day_start = now - now % 86400  # UTC day
            spent = await self.store.run(self.store.spent_since_sync, day_start)
            if spent + amount > day_cap:
                raise BudgetExceeded(
                    f"today's estimated spend is ${spent:.2f}; this request (${amount:.2f}) would pass the daily "
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
                await self.store.update(record.id, self.clock(), submit_attempts=attempt)
                try:
                    remote = await self.provider.submit(call.request)
                except ProviderError as exc:
                    error: ProviderError | None = exc
                else:
                    error = None
                    now = self.clock()
                    state = remote.status.state if remote.status.state in ("queued", "running") else "queued"
                    record = await self._update(
                        record.id, state=state, remote_id=remote.remote_id, remote_state=remote.status.state,
                        submitted_at=now, error_code=None, error_message=None,
                    )
                    logger.info("task %s submitted as %s", record.id, remote.remote_id)
                    self._reschedule(record.id, now + self._poll_interval(record, now))
                    return record
            assert error is not None
            elapsed = self.clock() - started
            if error.created is False and error.retryable and attempt < SUBMIT_MAX_ATTEMPTS and (
                elapsed < SUBMIT_RETRY_BUDGET_SECONDS
            ):
                delay = backoff(attempt, base=self.settings.retry_base_seconds, retry_after=error.retry_after)
                logger.info("submit of %s refused (%s); retrying in %.1fs", record.id, error.provider_code, delay)
                try:
                    await anyio.sleep(delay)
                except anyio.get_cancelled_exc_class():
                    with anyio.CancelScope(shield=True):
                        await self._update(
                            record.id, state="failed", error_code="not_submitted",
                            error_message="the call was cancelled before the provider accepted the task; "
                            "nothing was charged", error_retryable=True,
                        )
                    raise
                continue
            if error.created is False:
                # Refused: no task exists and nothing is billed. Record it, then tell the agent.
                await self._update(
                    record.id, state="failed", error_code=error.provider_code or error.code,
                    error_message=error.message, error_retryable=error.retryable,
                )
                raise error
            # The request may have reached the service: never resend; reconcile instead.
            record = await self._update(
                record.id, state="unknown", error_code=error.provider_code or "submit_outcome_unknown",
                error_message=f"{error.message}; the task may exist at the provider, so it will not be "
                "re-submitted; the server is reconciling it with the provider's task list",
            )
            self._reschedule(record.id, self.clock() + self._reconcile_interval)
            return record

    # ------------------------------------------------------------------ polling

    def expected_seconds(self, record: TaskRecord) -> float:
        """How long tasks like this one take, learned from finished ones."""
        key = (record.model, record.request.get("size") or record.request.get("resolution"),
               record.request.get("duration"))
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
        key = (record.model, record.request.get("size") or record.request.get("resolution"),
               record.request.get("duration"))
        samples = self._history.setdefault(key, [])
        samples.append(record.finished_at - record.submitted_at)
        del samples[:-HISTORY_SAMPLES]

    def _poll_interval(self, record: TaskRecord, now: float) -> float:
        """Sparse early, dense near the expected finish (or while someone waits), backing off after."""
        low, high = self.settings.poll_min_seconds, self.settings.poll_max_seconds
        if self._hot.get(record.id):
            return low
        expected = self.expected_seconds(record)
        elapsed = now - (record.submitted_at or record.created_at)
        if elapsed < 0.8 * expected:
            return min(high, max(low, (0.8 * expected - elapsed) / 2))
        if elapsed < 1.5 * expected:
            return low
        overdue = (elapsed - 1.5 * expected) / max(expected, 1.0)
        return min(high, low * (1 + overdue * 2))

    async def _poll_loop(self) -> None:
        while True:
            now = self.clock()
            due = [tid for tid, when in self._schedule.items() if when <= now and tid not in self._inflight]
            for task_id in due:
                self._inflight.add(task_id)
                assert self._tg is not None
                self._tg.start_soon(self._poll_task, task_id)
            pending = [when for tid, when in self._schedule.items() if tid not in self._inflight]
            delay = max(0.0, min(pending) - now) if pending else 3600.0
            self._wake = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wake.wait()

    async def _poll_task(self, task_id: str) -> None:
        try:
            record = await self.store.get(task_id)
            if record is None or not record.open:
                self._schedule.pop(task_id, None)
                return
            if record.state in ("unknown", "submitting"):
                await self._reconcile(record)
                return
            await self._limiter.acquire()
            now = self.clock()
            try:
                status = await self.provider.poll(record.remote_id or "")
            except ProviderError as exc:
                errors = record.poll_errors + 1
                self._last_poll_error[task_id] = exc.message
                delay = backoff(errors, base=self.settings.poll_min_seconds, cap=self.settings.poll_max_seconds * 4,
                                retry_after=exc.retry_after)
                logger.warning("poll of %s failed (%s); next try in %.1fs", task_id, exc.message, delay)
                await self._update(task_id, poll_errors=errors, last_polled_at=now)
                self._schedule[task_id] = self.clock() + delay
                return
            self._last_poll_error.pop(task_id, None)
            record = await self._apply_status(record, status, polled_at=now)
            if record.open:
                self._schedule[task_id] = self.clock() + self._poll_interval(record, self.clock())
            else:
                self._schedule.pop(task_id, None)
        except Exception:
            logger.exception("polling task %s failed unexpectedly", task_id)
            self._schedule[task_id] = self.clock() + self.settings.poll_max_seconds
        finally:
            self._inflight.discard(task_id)
            self._wake.set()

    async def _apply_status(self, record: TaskRecord, status: RemoteStatus, *, polled_at: float) -> TaskRecord:
        now = self.clock()
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
                self._tg.start_soon(self._auto_download, record.id)
        return record

    async def _reconcile(self, record: TaskRecord) -> None:
        """Find a task whose submit outcome is unknown in the provider's list; never resubmit."""
        now = self.clock()
        try:
            listed = await self.provider.list_recent(_from_ts(record.created_at - RECONCILE_LOOKBACK_SECONDS))
        except ProviderError as exc:
            self._last_poll_error[record.id] = exc.message
            self._schedule[record.id] = now + backoff(1, base=self._reconcile_interval, retry_after=exc.retry_after)
            return
        if listed is None:
            await self._update(
                record.id,
                error_message="the submit outcome is unknown and this provider has no task list to check; the "
                "server will not re-submit. Look for the task in the provider's console, then call check_task "
                "with its id to adopt it.",
            )
            self._schedule.pop(record.id, None)
            return
        spec = self.models.get(record.model)
        names = {record.model, *(spec.region_names.values() if spec else ())}
        candidates = []
        for status in listed:
            if status.model and status.model not in names:
                continue
            when = status.submitted_at.timestamp() if status.submitted_at else None
            if when is not None and not (record.created_at - 30 <= when <= record.created_at + 600):
                continue
            if await self.store.run(self.store.find_remote_sync, status.remote_id):
                continue  # already another task's
            candidates.append((abs((when or record.created_at) - record.created_at), status))
        if candidates:
            status = min(candidates, key=lambda item: item[0])[1]
            # A listing has no video URL: record the id, then let the next poll fetch the full status.
            await self._update(
                record.id, remote_id=status.remote_id, state="queued", submitted_at=record.created_at,
                error_code=None, error_message=None, adopted=True,
            )
            logger.info("reconciled task %s with remote task %s", record.id, status.remote_id)
            self._schedule[record.id] = self.clock()
            return
        if now - record.created_at > self.settings.reconcile_grace_seconds:
            await self._update(
                record.id, state="failed", finished_at=now, error_code="not_submitted", error_retryable=True,
                error_message="the provider has no record of this task: it was never created and nothing was "
                "charged. Call generate_video again.",
            )
            self._schedule.pop(record.id, None)
            return
        self._schedule[record.id] = now + self._reconcile_interval

    # ------------------------------------------------------------------ waiting

    def _settled(self, record: TaskRecord) -> bool:
        if not record.terminal:
            return False
        if record.state != "succeeded" or not self.settings.auto_download:
            return True
        return record.download_state in ("downloaded", "download_failed")

    async def wait(self, task_id: str, timeout: float, report: ProgressFn | None = None) -> TaskRecord:
        """Wait up to ``timeout`` seconds for a task to settle, reporting progress; the task is never harmed."""
        record = await self.get(task_id)
        deadline = self.clock() + timeout
        self._hot[task_id] = self._hot.get(task_id, 0) + 1
        if record.open and task_id in self._schedule:
            self._reschedule(task_id, min(self._schedule[task_id],
                                          self.clock() + self.settings.poll_min_seconds))
        try:
            while True:
                record = await self.get(task_id)
                if self._settled(record):
                    return record
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return record
                if report is not None:
                    percent, message = self.progress(record)
                    await report(percent, message)
                event = self._event(task_id)
                with anyio.move_on_after(min(remaining, background.HEARTBEAT_SECONDS)):
                    await event.wait()
        finally:
            self._hot[task_id] -= 1
            if not self._hot[task_id]:
                del self._hot[task_id]

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
            raise TaskNotFound(f"no task '{task_id}' is known to this server")
        return record

    async def get_or_adopt(self, task_id: str, timeout: float | None = None,
                           heartbeat: Heartbeat | None = None) -> TaskRecord:
        """A task by our id or the provider's; a provider id never seen here is adopted."""
        try:
            return await self.get(task_id)
        except TaskNotFound:
            if task_id.startswith("wan_"):
                raise
        self._require_key("looked up at the provider")
        job = await background.start(self._tg, f"adopt {task_id}", lambda: self._adopt(task_id))
        if not await job.wait(timeout, heartbeat):
            raise WanError(
                f"task '{task_id}' is not known here and the provider has not answered about it yet "
                f"(asked {timeout:.0f}s ago); the server keeps asking", code="provider_slow", retryable=True,
                hint="Call check_task with the same id again in a few seconds.")
        return job.outcome()

    async def _adopt(self, task_id: str) -> TaskRecord:
        try:
            status = await self.provider.poll(task_id)
        except ProviderError as exc:
            raise TaskNotFound(
                f"task '{task_id}' is not known here and the provider could not be asked about it: {exc.message}",
                retryable=exc.retryable,
            ) from exc
        if status.state == "expired":
            raise TaskNotFound(
                f"task '{task_id}' is not known here, and the provider does not know it either "
                "(or it is older than 24 hours)"
            )
        now = self.clock()
        model = status.model if status.model in self.models else (status.model or "unknown")
        record = TaskRecord(
            id=new_task_id(), created_at=now, updated_at=now, provider=self.provider.name, endpoint=self.endpoint,
            model=model, request_json=json.dumps({"model": model}), fingerprint=f"adopted:{task_id}",
            state="queued", remote_id=task_id, submitted_at=status.submitted_at.timestamp()
            if status.submitted_at else now, adopted=True, simulated=self.simulated,
        )
        async with self._submit_lock:
            existing = await self.store.run(self.store.find_remote_sync, task_id)
            if existing is not None:
                return existing
            await self.store.insert(record)
        record = await self._apply_status(record, status, polled_at=now)
        if record.open:
            self._reschedule(record.id, now + self._poll_interval(record, now))
        return record

    async def list(self, states: Sequence[str] | None, limit: int) -> list[TaskRecord]:
        return await self.store.run(self.store.list_sync, states, limit)

    async def refresh(self, task_id: str, timeout: float | None = None,
                      heartbeat: Heartbeat | None = None) -> TaskRecord:
        """Poll an open task now (outside the schedule) so a check shows fresh state.

        A provider slower than ``timeout`` seconds leaves the stored state; the poll still lands.
        """
        record = await self.get(task_id)
        if record.open and record.remote_id and record.id not in self._inflight:
            self._inflight.add(record.id)  # the poll loop skips it meanwhile; _poll_task releases it
            job = await background.start(self._tg, f"poll {record.id}", lambda: self._poll_task(record.id))
            await job.wait(timeout, heartbeat)
            record = await self.get(record.id)
        return record

    async def cancel(self, task_id: str, timeout: float | None = None,
                     heartbeat: Heartbeat | None = None) -> TaskRecord:
        """Ask the provider to cancel an open task; after ``timeout`` seconds, the task as it stands."""
        record = await self.get(task_id)
        if not record.open:
            raise WanError(f"task {record.id} is already {record.state}; nothing to cancel",
                           code="not_cancelable")
        if not record.remote_id:
            raise WanError(
                f"task {record.id} has no provider id yet (state {record.state}), so it cannot be canceled; "
                "check it again shortly", code="not_cancelable", retryable=True)
        job = await background.start(self._tg, f"cancel {record.id}", lambda: self._cancel(record))
        if await job.wait(timeout, heartbeat):
            return job.outcome()
        return await self.get(record.id)

    async def _cancel(self, record: TaskRecord) -> TaskRecord:
        assert record.remote_id
        await self.provider.cancel(record.remote_id)
        status = await self.provider.poll(record.remote_id)
        return await self._apply_status(record, status, polled_at=self.clock())

    # ------------------------------------------------------------------ downloads

    async def _auto_download(self, task_id: str) -> None:
        """Download a finished video in the background, retrying transient failures.

        Giving up always leaves ``download_failed`` (never ``downloading``), so waiters settle and
        fetch_video can try again while the URL lives.
        """
        error = "unknown error"
        for attempt in range(1, DOWNLOAD_MAX_ATTEMPTS + 1):
            try:
                await self.ensure_downloaded(task_id)
                return
            except DownloadError as exc:
                error = exc.message
                if not exc.retryable or attempt == DOWNLOAD_MAX_ATTEMPTS:
                    break
                await anyio.sleep(backoff(attempt, base=2 * self.settings.retry_base_seconds,
                                          retry_after=getattr(exc, "retry_after", None)))
            except WanError as exc:  # VideoUnavailable and friends: already recorded, or not retryable
                error = exc.message
                break
            except Exception:
                logger.exception("downloading task %s failed unexpectedly", task_id)
                error = "unexpected error (see the server log)"
                break
        record = await self.store.get(task_id)
        if record is not None and record.download_state != "downloaded":
            await self._update(task_id, download_state="download_failed", download_error=error)

    def local_file(self, record: TaskRecord) -> Path | None:
        """The task's MP4 when it is on disk and intact (size as recorded)."""
        if record.download_state != "downloaded" or not record.local_path:
            return None
        path = Path(record.local_path)
        try:
            if path.stat().st_size == record.file_size:
                return path
        except OSError:
            return None
        return None

    async def download(self, task_id: str, timeout: float | None = None,
                       heartbeat: Heartbeat | None = None) -> TaskRecord:
        """``ensure_downloaded`` for at most ``timeout`` seconds: then the task as it stands (still
        ``downloading``) while the download carries on."""
        job = await background.start(self._tg, f"download {task_id}", lambda: self.ensure_downloaded(task_id))
        if await job.wait(timeout, heartbeat):
            return job.outcome()
        return await self.get(task_id)

    async def ensure_downloaded(self, task_id: str) -> TaskRecord:
        """The task with its MP4 on disk: downloads it now if needed (once, even when asked concurrently)."""
        record = await self.get(task_id)
        lock = self._download_locks.setdefault(record.id, anyio.Lock())
        async with lock:
            record = await self.get(record.id)
            if self.local_file(record) is not None:
                return record
            if record.state != "succeeded":
                raise WanError(
                    f"task {record.id} is {record.state}, so there is no video to fetch yet",
                    code="not_ready" if record.open else "no_video", retryable=record.open,
                    hint="Call check_task with wait_seconds to wait for it." if record.open else "",
                )
            now = self.clock()
            if record.video_url_expires_at is not None and now >= record.video_url_expires_at:
                await self._update(record.id, download_state="download_failed",
                                   download_error="the remote URL has expired")
                raise VideoUnavailable(
                    f"the video of task {record.id} was never downloaded and its remote URL expired at "
                    f"{_iso(record.video_url_expires_at)}; it cannot be recovered. Generate it again.",
                    hint="Call generate_video again with force_new=true.",
                )
            # The provider decides where the bytes come from (new-api proxies them through /content,
            # so a missing result URL is not fatal there).
            try:
                url, headers = self.provider.download_target(record.remote_id or "", _status_of(record))
            except ProviderError as exc:
                url, headers = "", {}
                logger.info("no download target for %s: %s", record.id, exc.message)
            if not url:
                await self._update(record.id, download_state="download_failed",
                                   download_error="the provider gave no video URL")
                raise VideoUnavailable(f"task {record.id} succeeded but the provider gave no video URL",
                                       hint="Check the task in the provider's console.")
            dest = downloads.video_path(self.settings.data_dir, record.id)
            await self._update(record.id, download_state="downloading", download_attempts=record.download_attempts + 1)
            try:
                async with self._download_slots:
                    result = await downloads.download(self.client, url, dest, headers=headers,
                                                      timeout=DOWNLOAD_TIMEOUT)
            except VideoUnavailable as exc:
                await self._update(record.id, download_state="download_failed", download_error=exc.message)
                raise
            except DownloadError as exc:
                state = "downloading" if exc.retryable else "download_failed"
                await self._update(record.id, download_state=state, download_error=exc.message)
                raise
            return await self._update(
                record.id, download_state="downloaded", local_path=str(result.path), file_size=result.size,
                sha256=result.sha256, downloaded_at=self.clock(), download_error=None,
            )


def _status_of(record: TaskRecord) -> RemoteStatus:
    return RemoteStatus(remote_id=record.remote_id or "", state="succeeded", video_url=record.video_url)


def _from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
