"""Waiting before trying again, by one rule: exponential backoff with full jitter, never shorter than
the server's ``Retry-After``; and the loop that applies it to work retried in place (refused submits,
downloads). Work retried on a schedule (polls, reconciliation) takes its next time from ``backoff``.

What may be retried is the caller's to say: transport errors, 429 and 5xx; never a paid submit that may
have been created.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

T = TypeVar("T")


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    delay = random.uniform(base, min(cap, base * 2 ** max(0, attempt - 1)) + base)
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try: ``attempts`` in all, waits from ``backoff(base, cap)``, and no new
    attempt once ``budget`` seconds have passed since the first (None: no such bound)."""

    attempts: int
    base: float
    cap: float = 60.0
    budget: float | None = None


async def retry(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retryable: Callable[[Exception], bool],
    clock: Callable[[], float],
    on_retry: Callable[[Exception, float], None] | None = None,
    on_cancel: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """``attempt(1)``, ``attempt(2)``, ... until one returns; its error is raised unless ``retryable(error)``
    and the policy allows another attempt. A wait honours the error's ``retry_after``; ``on_retry(error,
    delay)`` hears of each. ``on_cancel`` records (shielded) what a cancellation during a wait leaves behind.
    """
    started = clock()
    number = 0
    while True:
        number += 1
        try:
            return await attempt(number)
        except Exception as exc:
            elapsed = clock() - started
            if not (retryable(exc) and number < policy.attempts and (policy.budget is None or elapsed < policy.budget)):
                raise
            delay = backoff(number, base=policy.base, cap=policy.cap, retry_after=getattr(exc, "retry_after", None))
            if on_retry is not None:
                on_retry(exc, delay)
        try:
            await anyio.sleep(delay)
        except anyio.get_cancelled_exc_class():
            if on_cancel is not None:
                with anyio.CancelScope(shield=True):
                    await on_cancel()
            raise
