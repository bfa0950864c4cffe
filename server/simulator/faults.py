"""Fault injection: ``Fault`` (one armed fault) and ``Faults`` (the armed ones), driven from Python or over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

# Error texts of the real service (Model Studio error-code table).
FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "429": (429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    "500": (500, "InternalError", "An internal error has occured, please try again later or contact service support."),
    "503": (503, "ModelUnavailable", "Model is unavailable, please try again later."),
}
FAILURE_MESSAGES: dict[str, str] = {
    "InternalError": FAULT_ERRORS["500"][2],
    "InternalError.Algo": "An internal error has occured during execution, please try again later or contact "
    "service support.",
    "InternalError.Timeout": "An internal timeout error has occured during execution, please try again later or "
    "contact service support.",
    "DataInspectionFailed": "Output data may contain inappropriate content.",
    "IPInfringementSuspect": "Input data is suspected of being involved in IP infringement.",
    "InvalidParameter": "The size is not match the allowed size list.",
    "InvalidURL": "Invalid URL provided in your request.",
    "BadRequest.InputDownloadFailed": "Failed to download the input file.",
}
DEFAULT_FAILURE_CODE = "InternalError.Algo"

REQUEST_FAULTS: tuple[str, ...] = ("429", "500", "503", "reset", "hang", "malformed", "oversized")
DOWNLOAD_FAULTS: tuple[str, ...] = ("expired", "truncated", "slow", "html", "text", "redirect")
UPLOAD_FAULTS: tuple[str, ...] = ("500", "503", "reset", "hang", "expired")  # OSS answers in XML: no JSON kinds
# The kinds each target takes: "policy" is getPolicy, "upload" the upload form's POST.
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "submit": REQUEST_FAULTS,
    "poll": REQUEST_FAULTS,
    "cancel": REQUEST_FAULTS,
    "list": REQUEST_FAULTS,
    "download": REQUEST_FAULTS + DOWNLOAD_FAULTS,
    "policy": REQUEST_FAULTS,
    "upload": UPLOAD_FAULTS,
}
FAULT_TARGETS: tuple[str, ...] = tuple(TARGET_KINDS)


@dataclass
class Fault:
    """One armed fault: the next ``remaining`` requests of ``target`` get ``kind``.

    kind, for every target:
      "429" (with ``Retry-After: retry_after``), "500", "503": an error answer
          (``code``/``message`` override the realistic defaults);
      "reset": the TCP connection is reset (RST) instead of answered;
      "hang": nothing is answered for ``seconds``, then the connection is closed;
      "malformed": a 200 whose JSON is cut short (for a download: bytes that are no MP4);
      "oversized": a 200 whose JSON body is ``size`` bytes long (padding in an extra field).
    With ``processed=True`` the request takes effect first (a submit creates its task),
    so the client sees a failure for something that happened.
    kind, for downloads only:
      "expired": 403 with OSS's AccessDenied "Request has expired." XML;
      "truncated": Content-Length announces the whole file, ``truncate_at`` bytes
          (default: half) are sent, then the connection closes;
      "slow": the body is sent at ``bytes_per_second``;
      "html": a 200 text/html page (a captive portal or a gateway's error page);
      "text": a 200 text/plain body;
      "redirect": a 302 to ``location``.
    For uploads (target "upload", the upload form's POST; errors in OSS's XML), "500", "503", "reset",
    "hang", and "expired": 403 AccessDenied "Invalid according to Policy: Policy expired.".
    For getPolicy (target "policy"), every request kind; "429" is its rate limit's answer.
    """

    target: str
    kind: str
    remaining: int = 1
    retry_after: float = 1.0
    seconds: float = 30.0
    processed: bool = False
    bytes_per_second: int = 64 * 1024
    truncate_at: int | None = None
    code: str | None = None
    message: str | None = None
    size: int = 50 * 1024 * 1024
    location: str | None = None

    def __post_init__(self) -> None:
        if self.target not in FAULT_TARGETS:
            raise ValueError(f"fault target {self.target!r} is not one of {', '.join(FAULT_TARGETS)}")
        kinds = TARGET_KINDS[self.target]
        self.kind = str(self.kind)
        if self.kind not in kinds:
            raise ValueError(f"fault kind {self.kind!r} is not valid for {self.target}; allowed: {', '.join(kinds)}")
        if self.remaining < 1:
            raise ValueError("fault count must be at least 1")
        if self.bytes_per_second < 1:
            raise ValueError("bytes_per_second must be at least 1")

    @property
    def breaks(self) -> bool:
        """The connection breaks (a reset or a hang) where an answer would be."""
        return self.kind in ("reset", "hang")

    @property
    def replaces(self) -> bool:
        """An answer of the fault's own replaces the handler's: an error, or malformed or oversized JSON
        (downloads corrupt the video in the handler instead)."""
        return self.kind in FAULT_ERRORS or (self.kind in ("malformed", "oversized") and self.target != "download")


class Faults:
    """The armed faults. Thread-safe: tests may arm them from the thread that runs a client."""

    def __init__(self, fail_task: Callable[[str, str, str], None]) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._next_failures: list[tuple[str, str]] = []
        self._fail_task = fail_task

    def add(self, target: str, kind: str | int, count: int = 1, **options: Any) -> Fault:
        """Arm ``kind`` for the next ``count`` requests of ``target``; see ``Fault``."""
        fault = Fault(target=target, kind=str(kind), remaining=count, **options)
        with self._lock:
            self._armed.append(fault)
        return fault

    def submit(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("submit", kind, count, **options)

    def poll(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("poll", kind, count, **options)

    def download(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("download", kind, count, **options)

    def policy(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("policy", kind, count, **options)

    def upload(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("upload", kind, count, **options)

    def fail_next_task(self, code: str = DEFAULT_FAILURE_CODE, message: str | None = None) -> None:
        """The next accepted submit creates a task that ends FAILED with this code and message."""
        with self._lock:
            self._next_failures.append((code, message or FAILURE_MESSAGES.get(code, "Simulated failure.")))

    def fail_task(self, task_id: str, code: str = DEFAULT_FAILURE_CODE, message: str | None = None) -> None:
        """This task, still PENDING or RUNNING, ends FAILED. KeyError: unknown; ValueError: already ended."""
        self._fail_task(task_id, code, message or FAILURE_MESSAGES.get(code, "Simulated failure."))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._next_failures.clear()

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._armed] + [
                {"target": "task", "kind": "fail", "code": c, "message": m} for c, m in self._next_failures
            ]

    def take(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self._armed:
                if fault.target == target:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def take_task_failure(self) -> tuple[str, str] | None:
        with self._lock:
            return self._next_failures.pop(0) if self._next_failures else None
