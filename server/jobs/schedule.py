"""When to poll a task, and how long tasks take: an adaptive schedule learned from finished renders, the
waits reported to agents, and the one rate limit every poll on the account shares."""

from __future__ import annotations

import hashlib
import logging
import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.store import Store, TaskRecord

logger = logging.getLogger(__name__)

HISTORY_SAMPLES = 20
SWEPT_POLL_FACTOR = 4  # while sweeps of the task list see the ends, a task is polled this many times more sparsely


class RateLimiter:
    """Spaces provider queries at most ``qps`` a second on one account: the budget is the store's
    (``reserve_poll_sync``), so every process and replica on the store shares it instead of multiplying it.
    Should the store fail to answer, this process spaces its own queries meanwhile."""

    def __init__(self, qps: float, clock: Callable[[], float], store: Store | None = None, account: str = "") -> None:
        self._interval = 1.0 / qps if qps > 0 else 0.0
        self._clock = clock
        self._store = store
        self._account = account
        self._next = 0.0
        self._lock = anyio.Lock()

    @property
    def account(self) -> str:
        return self._account

    async def acquire(self) -> None:
        if not self._interval:
            return
        slot = None
        if self._store is not None:
            try:
                slot = await self._store.run(
                    self._store.reserve_poll_sync, self._account, self._interval, self._clock()
                )
            except Exception:
                logger.exception("the shared poll budget could not be read; spacing this process's queries alone")
        if slot is None:
            async with self._lock:
                now = self._clock()
                slot = max(now, self._next)
                self._next = slot + self._interval
        wait = slot - self._clock()
        if wait > 0:
            await anyio.sleep(wait)


def poll_account(settings: Settings, endpoint: str) -> str:
    """Whose poll budget this is: the key at this endpoint, as a hash (never the key)."""
    key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    return hashlib.sha256(f"wan-video-mcp polls\0{key}\0{endpoint}".encode()).hexdigest()[:32]


def poll_interval(*, expected: float, elapsed: float, low: float, high: float) -> float:
    """Prompt at first, sparse through the bulk of the render, dense near its expected end, backing off after.

    The first poll comes at a tenth of the expected render time and the gaps then grow with the time
    elapsed (at most a quarter of the expected time), so a task that finishes early is seen early.
    """
    if elapsed < 0.8 * expected:
        return min(high, max(low, min(max(0.1 * expected, 0.5 * elapsed), 0.25 * expected)))
    if elapsed < 1.5 * expected:
        return low
    overdue = (elapsed - 1.5 * expected) / max(expected, 1.0)
    return min(high, low * (1 + overdue * 2))


def _kind(record: TaskRecord) -> tuple[Any, ...]:
    """What render times are learned by: model, size (or resolution), duration."""
    request = record.request
    return record.model, request.get("size") or request.get("resolution"), request.get("duration")


class Schedule:
    """Render times learned here, and which tasks someone is waiting on (those are polled often)."""

    def __init__(self, settings: Settings, clock: Callable[[], float], simulated: bool) -> None:
        self._settings = settings
        self._clock = clock
        self._simulated = simulated
        self._history: dict[tuple[Any, ...], list[float]] = {}  # (model, size, duration) -> seconds taken
        self._hot: dict[str, int] = {}  # task id -> number of callers waiting on it
        self.sweeping = False  # a sweep of the task list worked lately (jobs/sweep.py): it will see the ends

    def expected_seconds(self, record: TaskRecord) -> float:
        """How long tasks like this one take, learned from finished ones."""
        samples = self._history.get(_kind(record))
        if samples:
            return statistics.median(samples)
        if self._simulated:
            return self._settings.sim_queue_seconds + self._settings.sim_run_seconds
        duration = record.request.get("duration") or 5
        return 60.0 + 12.0 * float(duration)

    def learn(self, record: TaskRecord) -> None:
        if record.submitted_at is None or record.finished_at is None:
            return
        samples = self._history.setdefault(_kind(record), [])
        samples.append(record.finished_at - record.submitted_at)
        del samples[:-HISTORY_SAMPLES]

    @contextmanager
    def waiting(self, task_id: str) -> Iterator[None]:
        """Someone waits on the task meanwhile: poll it at the shortest interval."""
        self._hot[task_id] = self._hot.get(task_id, 0) + 1
        try:
            yield
        finally:
            self._hot[task_id] -= 1
            if not self._hot[task_id]:
                del self._hot[task_id]

    def interval(self, record: TaskRecord, now: float) -> float:
        """Seconds until the task's next poll (the shortest while someone waits on it)."""
        low, high = self._settings.poll_min_seconds, self._settings.poll_max_seconds
        if self._hot.get(record.id):
            return low
        if self.sweeping:
            return SWEPT_POLL_FACTOR * high  # a sweep will see the end; this poll only keeps the state fresh
        elapsed = now - (record.submitted_at or record.created_at)
        return poll_interval(expected=self.expected_seconds(record), elapsed=elapsed, low=low, high=high)

    def progress(self, record: TaskRecord) -> tuple[float, str]:
        """A percentage and a one-line message: the provider's progress, else an estimate from history."""
        now = self._clock()
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

    def poll_after(self, record: TaskRecord) -> int:
        """When an agent should come back: around the expected finish, within sane bounds."""
        expected = self.expected_seconds(record)
        remaining = expected - (self._clock() - record.created_at)
        return int(min(120, max(10, math.ceil(remaining if remaining > 0 else 15))))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
