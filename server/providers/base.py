"""The one small interface every wire format implements, and its normalized results.

A provider turns a validated ``GenerationRequest`` into one HTTP submit and a
provider response into a ``RemoteStatus``. It makes exactly one attempt per
call: retries, backoff and the submit-once rule live in the engine, which
decides from ``ProviderError.retryable`` / ``.created`` / ``.retry_after``.
Providers know nothing of MCP or the store.

``ProviderError.created`` has meaning only for a submit (did a paid task possibly
start?); a failed poll, cancel, list or download creates nothing, and the engine
ignores the flag there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from wan_video_mcp.server.errors import ProviderError

if TYPE_CHECKING:
    from wan_video_mcp.server.catalog import GenerationRequest

__all__ = ["Pace", "ProviderError", "Provider", "RemoteState", "RemoteStatus", "RemoteTask", "TERMINAL_STATES"]

Pace = Callable[[], Awaitable[None]]  # awaited before each query of a list (the shared rate limit)
RemoteState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})


@dataclass(frozen=True)
class RemoteStatus:
    """A provider's answer about one task, in our vocabulary."""

    remote_id: str
    state: RemoteState
    progress: float | None = None  # 0..100 when the provider reports it
    video_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    actual_prompt: str | None = None
    prompt: str | None = None  # the prompt as the provider received it, where it repeats it
    usage: dict[str, Any] = field(default_factory=dict)
    model: str | None = None  # set by list_recent where the provider says it
    submitted_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class RemoteTask:
    """What a successful submit returns: the provider's id and the first status."""

    remote_id: str
    status: RemoteStatus
    request_id: str | None = None


class Provider(Protocol):
    """One wire format. Every method makes one attempt and raises ``ProviderError``."""

    name: str

    @property
    def base_url(self) -> str:
        """Where the API lives (its address class bounds where downloads may go)."""
        ...

    def offers(self, model: str) -> bool:
        """Whether this provider can serve the catalog model id."""
        ...

    async def submit(self, request: GenerationRequest) -> RemoteTask: ...

    async def poll(self, remote_id: str) -> RemoteStatus: ...

    async def cancel(self, remote_id: str) -> None: ...

    async def list_recent(
        self, since: datetime, until: datetime | None = None, pace: Pace | None = None
    ) -> list[RemoteStatus] | None:
        """Tasks the account submitted between ``since`` and ``until`` (default: now), on the provider's
        clock; ``None`` if the API has no list. ``pace`` is awaited before each page is asked for (each page is a
        query of the account's budget).

        Items may lack ``video_url`` (DashScope's listing has none): the engine polls the succeeded ones.
        """
        ...

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The URL (and any headers) to stream the finished MP4 from."""
        ...
