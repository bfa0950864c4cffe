"""What every part of the engine shares: the store, the provider, settings and clock, this process's id,
the task group once started; and the one way to read or change a task row (waking whoever waits on it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import httpx
from anyio.abc import TaskGroup

from wan_video_mcp.server.catalog import ModelSpec
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import NotConfigured, TaskNotFound, clip
from wan_video_mcp.server.jobs import background
from wan_video_mcp.server.providers.base import Provider
from wan_video_mcp.server.store import Store, TaskRecord, new_task_id

T = TypeVar("T")


class EngineContext:
    """The engine's shared dependencies and task rows, for one provider endpoint."""

    def __init__(
        self,
        *,
        store: Store,
        provider: Provider,
        client: httpx.AsyncClient,
        settings: Settings,
        endpoint: str,
        models: Sequence[ModelSpec],
        simulated: bool,
        key_configured: bool,
        clock: Callable[[], float],
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
        # This process among those sharing the store; leases name it.
        self.instance_id = "p_" + new_task_id()[4:16]
        self.tg: TaskGroup | None = None  # set when the engine starts
        # Tasks whose submit this process is making now: a 'submitting' row it holds and is not making has lost
        # its outcome (a store write failed after the paid call) and is reconciled, never resent.
        self.submitting: set[str] = set()
        self._events: dict[str, anyio.Event] = {}

    async def get(self, task_id: str, principal: str | None = None) -> TaskRecord:
        """A task by our id or the provider's; ``TaskNotFound`` when neither is known here or (``principal``
        given) it is another principal's: the same answer, so an id says nothing about anyone else's tasks."""
        record = await self.store.get(task_id)
        if record is None:
            record = await self.store.run(self.store.find_remote_sync, task_id)
        if record is None or (principal is not None and record.principal != principal):
            raise TaskNotFound(f"no task '{clip(task_id)}' is known to this server")
        return record

    async def update(self, task_id: str, **changes: Any) -> TaskRecord:
        record = await self.store.update(task_id, self.clock(), **changes)
        self.changed(task_id)
        return record

    def changed(self, task_id: str) -> None:
        """Wake whoever waits on this task here."""
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()

    def event(self, task_id: str) -> anyio.Event:
        """Set at the task's next change here."""
        if task_id not in self._events:
            self._events[task_id] = anyio.Event()
        return self._events[task_id]

    async def start_job(self, name: str, fn: Callable[[], Awaitable[T]]) -> background.Job[T]:
        """Run ``fn`` in the background (outliving the call that asked for it)."""
        return await background.start(self.tg, name, fn)

    def require_key(self, what: str) -> None:
        if not self.key_configured:
            settings = self.settings
            why = f" ({settings.key_env_name}: {settings.key_note})" if settings.key_note else ""
            raise NotConfigured(
                f"no API key is configured{why}, so nothing can be {what}; set {settings.key_env_name} "
                "in the server's environment (or run with WAN_PROVIDER=simulator to try it offline)"
            )
