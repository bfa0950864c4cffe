"""The MCP client: sessions over streamable HTTP with a bearer token, one per (principal, replica), opened again
after a replica failed; a call whose replica fails is made again on the next one (with the same arguments, so the
same idempotency key)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.abc
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

CALL_TIMEOUT = 60.0  # a call with no answer by then is made again elsewhere
T = TypeVar("T")


class Down(Exception):
    """The session failed: a refused connection, a broken transport, an answer that never came."""


class Session:
    """One MCP session over streamable HTTP, held open by its own task until closed or broken."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client: Client | None = None
        self.dead = anyio.Event()
        self._close = anyio.Event()
        self._calls: set[anyio.CancelScope] = set()

    async def open(self, tg: anyio.abc.TaskGroup) -> None:
        error: BaseException | None = await tg.start(self._hold)
        if error is not None:
            raise Down(f"cannot open a session: {describe(error)}") from error

    async def _hold(self, *, task_status: anyio.abc.TaskStatus[BaseException | None]) -> None:
        started = False
        try:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {self.token}"}, timeout=httpx2.Timeout(CALL_TIMEOUT, connect=5)
            )
            async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
                self.client, started = client, True
                task_status.started(None)
                await self._close.wait()
        except Exception as exc:
            if not started:
                task_status.started(exc)
        finally:
            self.client = None
            self.dead.set()
            for scope in list(self._calls):
                scope.cancel()

    def close(self) -> None:
        self._close.set()

    async def call(self, action: Callable[[Client], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        """The action's result; ``Down`` when the session breaks or no answer comes in time. MCP errors (a
        JSON-RPC error answer) pass through."""
        client = self.client
        if client is None:
            raise Down("session closed")
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                with anyio.fail_after(timeout):
                    return await action(client)
            except TimeoutError:
                raise Down(f"no answer within {timeout:.0f} s") from None
            finally:
                self._calls.discard(scope)
        raise Down("the session broke during the call")


def describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:200]


def said(result: Any) -> str:
    """The text blocks of a tool's result."""
    return " ".join(getattr(block, "text", "") for block in (getattr(result, "content", None) or []))


class Pool:
    """A session per (principal, replica), opened on first use and again after it broke."""

    def __init__(self, tg: anyio.abc.TaskGroup, urls: list[str], tokens: dict[str, str]) -> None:
        self._tg, self.urls, self._tokens = tg, urls, tokens
        self._sessions: dict[tuple[str, int], Session] = {}
        self._locks: dict[tuple[str, int], anyio.Lock] = {}
        self.opened = 0
        self.failures: list[str] = []  # one line per failed attempt
        self.active: dict[int, dict[int, tuple[float, str]]] = {}  # replica -> calls on it: (since, label)
        self._count = itertools.count()

    async def session(self, principal: str, replica: int) -> Session:
        key = (principal, replica)
        async with self._locks.setdefault(key, anyio.Lock()):
            current = self._sessions.get(key)
            if current is not None and current.client is not None:
                return current
            session = Session(self.urls[replica], self._tokens[principal])
            await session.open(self._tg)
            self.opened += 1
            self._sessions[key] = session
            return session

    def discard(self, principal: str, replica: int) -> None:
        session = self._sessions.pop((principal, replica), None)
        if session is not None:
            session.close()

    async def call(
        self,
        principal: str,
        replica: int,
        action: Callable[[Client], Awaitable[T]],
        attempts: int = 1,
        label: str = "",
    ) -> tuple[T, int, int]:
        """The action's result, the replica that answered and the attempts made: on ``Down`` (or an MCP error
        other than an answer) the next replica is tried, up to ``attempts`` attempts in all."""
        n = len(self.urls)
        for attempt in range(attempts):
            index = (replica + attempt) % n
            try:
                session = await self.session(principal, index)
                token, active = next(self._count), self.active.setdefault(index, {})
                active[token] = (time.monotonic(), label)
                try:
                    return await session.call(action), index, attempt + 1
                finally:
                    del active[token]
            except (Down, MCPError) as exc:
                self.failures.append(f"{principal}@replica{index}: {describe(exc)}")
                self.discard(principal, index)
                if attempt + 1 == attempts:
                    raise Down(f"failed on every attempt: {describe(exc)}") from exc
                await anyio.sleep(0.2 if (attempt + 1) % n else 1.0)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            session.close()
        with anyio.move_on_after(15):
            for session in sessions:
                await session.dead.wait()
