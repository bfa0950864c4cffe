"""Work that outlives the call that asked for it.

A tool call must answer before its client gives up (DESIGN §1: most hosts time a
request out after 60 s), but a paid submit, a provider query or a download may
take longer. Such work runs as a ``Job`` in the engine's task group: the caller
waits for it only as long as it may, sending a heartbeat meanwhile, and the work
carries on (and records its outcome in the store) when the caller stops waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Progress notifications go out at least this often during any wait, so a host that resets its timeout on
# progress (resetTimeoutOnProgress) keeps the call alive; the bound is 5 s.
HEARTBEAT_SECONDS = 4.0

Heartbeat = Callable[[], Awaitable[None]]


class Job(Generic[T]):
    """One piece of background work and, once it ends, its value or its error."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._done = anyio.Event()
        self._value: T | None = None
        self._error: Exception | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> None:
        try:
            self._value = await fn()
        except Exception as exc:  # kept for whoever waits; the work has already recorded its own outcome
            self._error = exc
            logger.debug("background job %s ended with %r", self.name, exc)
        finally:
            self._done.set()

    def outcome(self) -> T:
        """The value of a finished job, or its error raised."""
        assert self.done, self.name
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    async def wait(self, timeout: float | None, heartbeat: Heartbeat | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: until done), calling ``heartbeat`` every few seconds.

        Returns whether the job finished; a job still running is never harmed by the wait ending.
        """
        deadline = None if timeout is None else anyio.current_time() + timeout
        while not self.done:
            remaining = None if deadline is None else deadline - anyio.current_time()
            if remaining is not None and remaining <= 0:
                return False
            step = HEARTBEAT_SECONDS if remaining is None else min(remaining, HEARTBEAT_SECONDS)
            with anyio.move_on_after(step):
                await self._done.wait()
            if not self.done and heartbeat is not None:
                await heartbeat()
        return True


async def start(tg: TaskGroup | None, name: str, fn: Callable[[], Awaitable[T]]) -> Job[T]:
    """Run ``fn`` as a job in ``tg``; without a task group (an engine not started) it runs to the end here."""
    job: Job[T] = Job(name)
    if tg is None:
        await job._run(fn)
    else:
        tg.start_soon(job._run, fn, name=name)
    return job
