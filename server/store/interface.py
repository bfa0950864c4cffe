"""What the engine needs from a task store: the operations every backend (SQLite, PostgreSQL) provides.

Several server processes may share one store (a desktop host and an IDE host each start their own).
Every decision that must be made once is one write transaction: attach-or-insert of a submit, adopting
a provider id, and the *leases*. A lease (``lease_owner``, ``lease_until``) marks the one process
polling, submitting or downloading a task right now; it lapses at ``lease_until`` or as soon as its
owner's row in ``instances`` stops being refreshed (the process is gone). The shared poll schedule is
``next_poll_at``: whoever holds the lease when it comes due polls, so processes on one store never
multiply polls.

Methods ending in ``_sync`` block the calling thread; the engine calls them through ``run``, which hops
off the event loop.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio

from wan_video_mcp.server.store.records import LOCAL_PRINCIPAL, TaskRecord
from wan_video_mcp.server.store.storyboards import StoryboardRecord

T = TypeVar("T")


@dataclass(frozen=True)
class Upload:
    """A file the provider holds for a while (DashScope's oss:// temporary uploads): bound to a model and account."""

    account: str  # whose uploads these are (a hash of the key and the host, never the key)
    model: str
    sha256: str
    url: str
    size_bytes: int
    uploaded_at: float
    expires_at: float


# An instance whose heartbeat is older than this is gone, and its leases with it.
INSTANCE_STALE_SECONDS = 15.0


def host_identity() -> str:
    """Where a process's pid means something: the host name and, on Linux, the pid namespace (containers sharing a
    host name, each with its server as pid 1, are different places)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (unknown counts as alive): an instance on this host whose
    process is gone is forgotten at once, without waiting for its heartbeat to go stale."""
    if os.name == "nt":  # os.kill would terminate it there; rely on the heartbeat going stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def cell_rate(due: float | None, interval: float, burst: int, now: float) -> tuple[float, float | None]:
    """The generic cell rate algorithm: ``(0, the key's next due time)`` when a call fits, else ``(seconds to wait,
    None)``. ``due`` is the key's theoretical arrival time (None: never called)."""
    arrival = max(due if due is not None else now, now)
    early = arrival - now - (burst - 1) * interval
    if early > 0:
        return early, None
    return 0.0, arrival + interval


class OffLoop(ABC):
    """The async methods of a store, on its blocking ones: each runs on a worker thread, off the event loop."""

    @abstractmethod
    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord: ...

    @abstractmethod
    def get_sync(self, task_id: str) -> TaskRecord | None: ...

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def update(self, task_id: str, now: float, **changes: Any) -> TaskRecord:
        return await self.run(self.update_sync, task_id, now, **changes)

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self.run(self.get_sync, task_id)


class Store(Protocol):
    """Durable task rows, leases and the processes sharing them."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` off the event loop."""
        ...

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def update(self, task_id: str, now: float, **changes: Any) -> TaskRecord: ...

    def close(self) -> None: ...

    # -- one-transaction decisions

    def create_sync(
        self, record: TaskRecord, *, dedupe_since: float | None, admit: Callable[[float], None]
    ) -> tuple[TaskRecord, str]:
        """Attach to the task this request repeats, or insert ``record``: ``(task, "idempotency_key" |
        "duplicate" | "new")``; ``admit(spent_today)`` may raise to refuse a new task."""
        ...

    def repeated_sync(
        self,
        idempotency_key: str | None,
        fingerprint: str,
        endpoint: str,
        dedupe_since: float | None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[TaskRecord, str] | None:
        """The principal's task a request would attach to (as ``create_sync`` decides it), or None: a new one."""
        ...

    def adopt_sync(self, record: TaskRecord) -> TaskRecord:
        """Insert an adopted task unless its provider id is already some task's (then that task)."""
        ...

    def assign_remote_sync(self, task_id: str, remote_id: str, now: float, **changes: Any) -> TaskRecord | None:
        """Give an unconfirmed task the provider id reconciliation found (None: taken, or answered meanwhile)."""
        ...

    def update_sync(self, task_id: str, now: float, **changes: Any) -> TaskRecord: ...

    # -- leases and instances

    def claim_sync(
        self,
        task_id: str,
        owner: str,
        now: float,
        until: float,
        *,
        due: bool = False,
        download: bool = False,
        **changes: Any,
    ) -> TaskRecord | None:
        """Take the task's lease for ``owner`` unless a live instance holds it (None: someone else has it)."""
        ...

    def count_attempt_sync(self, task_id: str, owner: str, attempt: int, now: float, until: float) -> TaskRecord | None:
        """Count submit attempt ``attempt`` of a task ``owner`` still holds, before it is sent: None (send nothing)
        when another process has taken the submit over or counted that attempt. A submit with no attempt counted
        was never sent, so a process that takes it over from a dead one may send it."""
        ...

    def release_sync(self, task_id: str, owner: str, until: float, now: float, **changes: Any) -> TaskRecord | None:
        """Give back the lease ``owner`` took until ``until`` (None: that lease is no longer held)."""
        ...

    def hurry_sync(self, task_id: str, when: float) -> None:
        """Bring the shared next poll forward to ``when``."""
        ...

    def reserve_poll_sync(self, account: str, interval: float, now: float) -> float:
        """The time this process may make its next provider query on ``account`` (a shared budget: every process on
        the store spaces its queries ``interval`` apart from everyone's)."""
        ...

    def admit_call_sync(self, key: str, interval: float, burst: int, now: float) -> float:
        """0 when one more call on ``key`` fits (and it is counted), else the seconds until one will: at most ``burst``
        at once, then one per ``interval`` (the generic cell rate algorithm on the row's ``next_at``), shared by every
        process and replica on the store."""
        ...

    def claim_sweep_sync(self, account: str, now: float, every: float) -> tuple[bool, float | None]:
        """Whether this process makes the account's next sweep of the task list (its turn held for ``every`` seconds
        at most, or until ``end_sweep_sync``), and when a sweep last worked."""
        ...

    def end_sweep_sync(self, account: str, next_due: float, worked_at: float | None, forget: bool) -> None:
        """End a sweep: the next is due at ``next_due``; it worked at ``worked_at`` (None: it did not), or
        (``forget``) sweeps stopped working: no process counts on them any more."""
        ...

    def register_instance_sync(self, instance_id: str, now: float) -> None: ...

    def heartbeat_sync(self, instance_id: str, now: float) -> None: ...

    def unregister_instance_sync(self, instance_id: str) -> None: ...

    def live_instances_sync(self, now: float) -> set[str]: ...

    def spent_since_sync(self, since: float, principal: str = LOCAL_PRINCIPAL) -> float:
        """Estimated spend of the principal's tasks created since ``since`` that were, or may yet be, billed."""
        ...

    # -- uploads

    def find_upload_sync(self, account: str, model: str, sha256: str, usable_until: float) -> Upload | None:
        """The upload of these bytes for this model and account that lives past ``usable_until``, if any."""
        ...

    def record_upload_sync(self, upload: Upload) -> None:
        """Keep an upload (replacing an older one of the same bytes, model and account)."""
        ...

    # -- storyboards

    def create_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str]:
        """Insert the storyboard, or return the one its key or (since ``dedupe_since``) its request made, and how
        it was found: ``new``, ``idempotency_key`` or ``duplicate``."""
        ...

    def repeated_storyboard_sync(
        self, record: StoryboardRecord, dedupe_since: float | None
    ) -> tuple[StoryboardRecord, str] | None:
        """The storyboard ``create_storyboard_sync`` would return instead of inserting, if any."""
        ...

    def get_storyboard_sync(self, storyboard_id: str) -> StoryboardRecord | None: ...

    def update_storyboard_sync(self, storyboard_id: str, now: float, **changes: Any) -> StoryboardRecord: ...

    def set_shots_sync(
        self,
        storyboard_id: str,
        now: float,
        shots: dict[int, dict[str, Any]],
        *,
        expect_state: str | None = None,
        **changes: Any,
    ) -> StoryboardRecord | None:
        """Change some shots' entries (and other columns) in one transaction; None if the state is not
        ``expect_state``."""
        ...

    def list_storyboards_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[StoryboardRecord]:
        """Storyboards, newest first, optionally only those in ``states``."""
        ...

    def open_storyboards_sync(self, endpoint: str) -> list[StoryboardRecord]:
        """The storyboards of this endpoint still to finish, oldest first."""
        ...

    def claim_storyboard_sync(self, storyboard_id: str, endpoint: str, owner: str, now: float, until: float) -> bool:
        """Take or keep the running of an open storyboard unless a live process holds it."""
        ...

    def release_storyboard_sync(self, storyboard_id: str, owner: str) -> None: ...

    # -- queries

    def get_sync(self, task_id: str) -> TaskRecord | None: ...

    def find_remote_sync(self, remote_id: str, provider: str | None = None) -> TaskRecord | None: ...

    def submitting_like_sync(self, fingerprint: str, endpoint: str, exclude: str) -> bool:
        """Whether another task with these parameters is being submitted right now."""
        ...

    def list_sync(
        self, states: Sequence[str] | None = None, limit: int = 20, principal: str = LOCAL_PRINCIPAL
    ) -> list[TaskRecord]: ...

    def open_tasks_sync(self, endpoint: str) -> list[TaskRecord]: ...

    def pending_downloads_sync(self, endpoint: str) -> list[TaskRecord]: ...
