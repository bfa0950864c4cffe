"""The server's own exceptions: every failure an agent can see is one of these.

Foreign errors (httpx exceptions, HTTP statuses, provider error codes, SQLite
errors) are translated once, at the boundary that meets them, into this tree:

    WanError                      code, message, retryable, hint
    ├── InvalidRequest            the arguments break a model's rules (names the field)
    ├── NotConfigured             no API key / unusable configuration
    ├── BudgetExceeded            a spending cap refuses the request before submission
    ├── TaskNotFound              no such task here or at the provider
    ├── VideoUnavailable          no local copy and the remote URL has expired
    ├── DownloadError             the MP4 could not be fetched or failed its checks
    ├── StoreUnavailable          the task store cannot be opened (named, never touched)
    └── ProviderError             an HTTP call to the provider failed
                                  (retryable, created: did a paid task possibly start?)

The tool layer (tools/outcomes.py) turns any of them into an ``isError`` result
carrying ``error_code``, ``message``, ``retryable`` and ``hint``. A task the
provider reports as failed is not an exception: it is a task result whose
error carries the provider's code and a remedy (tools/remedies.py).
"""

from __future__ import annotations

from pathlib import Path

from wan_video_mcp.server.timefmt import iso


def clip(text: str, limit: int = 80) -> str:
    """An input echoed in a message, cut so that a huge value cannot flood it."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class WanError(Exception):
    """Base of every error the server reports to an agent."""

    code = "internal_error"
    retryable = False
    hint = ""
    task_id: str | None = None  # the task concerned, when there is one

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        if hint is not None:
            self.hint = hint

    def to_dict(self) -> dict[str, object]:
        details: dict[str, object] = {
            "error_code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "hint": self.hint,
        }
        if self.task_id:
            details["task_id"] = self.task_id
        return details


class InvalidRequest(WanError):
    """The request breaks a rule of the chosen model; nothing was submitted."""

    code = "invalid_request"
    hint = "Fix the named field and call again; nothing was submitted or charged."

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class NotConfigured(WanError):
    code = "not_configured"
    hint = "Set DASHSCOPE_API_KEY (or WAN_API_KEY for a gateway) in the server's environment and restart it."


class BudgetExceeded(WanError):
    code = "budget_exceeded"
    hint = "Choose a shorter duration or a smaller size, or raise WAN_MAX_COST_PER_TASK / WAN_MAX_COST_PER_DAY."


class TaskNotFound(WanError):
    code = "task_not_found"
    hint = "Call list_tasks to see the tasks this server knows."


class VideoUnavailable(WanError):
    code = "video_unavailable"


class DownloadError(WanError):
    code = "download_failed"
    retryable = True
    hint = "Call fetch_video again; the remote URL stays valid for 24 hours after the task finished."


class StoreUnavailable(WanError):
    """The task store cannot be opened (not a database, unreadable, newer schema): named, never touched."""

    code = "store_unavailable"

    def __init__(self, path: Path | str, reason: str, hint: str | None = None) -> None:
        super().__init__(
            f"the task store {path} cannot be used: {reason}. The server did not modify it.",
            hint=hint
            or f"Move {path} aside (or set WAN_MCP_DATA_DIR to another folder) and restart the server; "
            "dry runs work meanwhile.",
        )
        self.path = path


class StoreUnreachable(WanError):
    """The task store's database server did not answer (a network or server outage): try again once it is back."""

    code = "store_unreachable"
    retryable = True

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(
            f"the task store {where} could not be reached: {reason}",
            hint="Try again in a moment. Before calling generate_video again, call list_tasks to see whether a task "
            "was recorded.",
        )


class InputsPending(WanError):
    """Local inputs still being uploaded when the call's time ran out: nothing is paid yet, and the upload goes on."""

    code = "inputs_uploading"
    retryable = True


class ProviderError(WanError):
    """An HTTP exchange with the provider failed.

    ``created`` says whether a paid task may exist after the failure:
    ``False`` provably not (the request never reached the service, or it was
    refused with an error body), ``True`` it was, ``None`` unknown (a timeout
    after the body was sent). Only ``created is False`` permits a re-submit.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider_code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        created: bool | None = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, hint=hint)
        self.provider_code = provider_code
        self.http_status = http_status
        self.created = created
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "provider_code": self.provider_code, "http_status": self.http_status}


def unsaved_video_error(task_id: str, why: str | None, expires_at: float | None, now: float) -> WanError:
    """A finished task whose video could not be saved: for good once the provider's URL has expired, else retry."""
    reason = f": {why}" if why else ""
    if expires_at is not None and now >= expires_at:
        return VideoUnavailable(
            f"the video of task {task_id} could not be saved{reason}, and the provider's URL expired at "
            f"{iso(expires_at)}",
            hint="It cannot be recovered; call generate_video with force_new=true if you still need it.",
        )
    until = f" (until {iso(expires_at)})" if expires_at is not None else ""
    return DownloadError(
        f"the video of task {task_id} could not be saved{reason}",
        hint=f"Call fetch_video again to retry while the provider's URL lives{until}.",
    )
