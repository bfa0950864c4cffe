"""vtrix.ai (SeaArt "SeaCloud") model API (wire-formats.md section 5; seed 004).

Submit is ``POST /model/v1/generation`` with DashScope's ``{input, parameters}``
split under vtrix's own model ids (``wan26_t2v``), answered with an ``id``. Polls
read ``GET /model/v1/generation/task/{id}`` (a path known only from vtrix's CLI
test fixture). The result is at ``output[0].content[0].url``; ``error: {code,
message}`` appears only on failure, with 9-digit codes (``001026095``).

vtrix's pages disagree on status names (in_queue/processing/done/failed,
in_progress/completed/failed, pending/processing/completed/failed), so every
spelling is accepted (``STATUS_MAP``).

Seed 004 adds rules Alibaba does not document (reference_video_urls takes 1-2
items, audio must be false with reference videos); requests are sent as the
catalog validated them and vtrix's refusal comes back as a clear, non-retryable
``ProviderError`` before anything is created. The HTTP-status rules
(``http_error``), cancel, list and download come from the ``Gateway`` template,
the ``input`` / ``parameters`` split from ``fields``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from wan_video_mcp.server.catalog import GenerationRequest
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteState, RemoteStatus, RemoteTask
from wan_video_mcp.server.providers.fields import wire_fields
from wan_video_mcp.server.providers.gateway import Gateway, Wire, ambiguous_submit, http_error
from wan_video_mcp.server.providers.parsing import no_reason, parse_progress, scrub

__all__ = [
    "STATUS_MAP",
    "VTRIX_ERRORS",
    "VTRIX_MODEL_IDS",
    "VtrixProvider",
    "build_submit",
    "describe_error",
    "normalize_code",
    "parse_error",
    "parse_submit",
    "parse_task",
]

# vtrix names a model "wan" + its version without the dot + "_" + its family, and drops
# "-preview": wan2.6-r2v -> wan26_r2v, wan2.5-t2v-preview -> wan25_t2v. Only ids that
# seed 004 or vtrix's catalogue show are listed: 2.6 t2v/i2v/r2v and 2.5 t2v/i2v. Flash
# and 2.1/2.2 variants would be guesses, and a wrong id is a failed paid call at best.
VTRIX_MODEL_IDS: dict[str, str] = {
    "wan2.6-t2v": "wan26_t2v",
    "wan2.6-i2v": "wan26_i2v",
    "wan2.6-r2v": "wan26_r2v",
    "wan2.5-t2v-preview": "wan25_t2v",
    "wan2.5-i2v-preview": "wan25_i2v",
}

STATUS_MAP: dict[str, RemoteState] = {
    "in_queue": "queued",
    "queued": "queued",
    "queue": "queued",
    "pending": "queued",
    "submitted": "queued",
    "created": "queued",
    "processing": "running",
    "in_progress": "running",
    "running": "running",
    "done": "succeeded",
    "completed": "succeeded",
    "complete": "succeeded",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "expired": "expired",
}

# Seed 004's table: code -> (what it means, whether trying again can help).
# 095..099 are vtrix's own pipeline failures: transient, so retryable. At submit
# they arrive as an error body (nothing was created), so the engine may resubmit;
# as a task failure the status message says that a new submit may succeed (whether
# vtrix bills a failed task is not documented, so the engine should not resubmit
# on its own).
VTRIX_ERRORS: dict[str, tuple[str, bool]] = {
    "001026001": ("reference_video_urls must be a list of 1-2 video URLs on vtrix", False),
    "001026002": ("reference_video_urls cannot be combined with the audio parameter on vtrix; drop audio", False),
    "001026003": ("with reference_video_urls, duration must be 5 or 10", False),
    "001026095": ("internal generation error at vtrix", True),
    "001026096": ("vtrix could not parse the generation result", True),
    "001026097": ("vtrix's upstream answered with an HTTP error", True),
    "001026098": ("vtrix failed while checking the task status", True),
    "001026099": ("vtrix could not create the task", True),
}

_NINE_DIGITS = re.compile(r"^\d{9}$")
_NOT_ERRORS = frozenset({"", "0", "200", "success", "ok"})


# --------------------------------------------------------------------------- pure helpers


def normalize_code(code: Any) -> str | None:
    """A vtrix error code as text; integers get their leading zeros back (1026095 -> "001026095")."""
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, int):
        # Only 7- and 8-digit numbers are 9-digit codes that lost their zeros; 0 or 200 mean success.
        return str(code).zfill(9) if 1_000_000 <= code < 100_000_000 else str(code)
    text = str(code).strip()
    return text or None


def describe_error(code: str | None, message: str | None, *, secret: str | None = None) -> tuple[str, bool | None]:
    """A message for an agent and whether trying again can help (None: unknown) for a vtrix error code."""
    detail = scrub(message, secret) if message else ""
    if code in VTRIX_ERRORS:
        meaning, retryable = VTRIX_ERRORS[code]
        text = f"{meaning} (vtrix error {code})"
        if detail and detail.lower() not in meaning.lower():
            text += f": {detail}"
        return text, retryable
    if code and _NINE_DIGITS.match(code):
        return f"vtrix error {code}: {detail or 'no message'}", None
    if code:
        return f"vtrix error {scrub(code, secret)}: {detail or 'no message'}", None
    return detail or "vtrix reported an error without a code", None


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"error": {code, message}}`` or ``{code, message|msg}``; ``(None, None)`` if none."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg")
        return normalize_code(error.get("code")), message if isinstance(message, str) else None
    if isinstance(error, str) and error.strip():
        return None, error.strip()
    code = normalize_code(body.get("code"))
    if code is None or code.lower() in _NOT_ERRORS:
        return None, None
    message = body.get("message") or body.get("msg")
    return code, message if isinstance(message, str) else None


def build_submit(request: GenerationRequest) -> dict[str, Any]:
    """The ``POST /model/v1/generation`` body for a validated request (None values omitted)."""
    inputs, parameters = wire_fields(request)
    return {"model": VTRIX_MODEL_IDS[request.model], "input": inputs, "parameters": parameters}


def _unwrap(body: dict[str, Any], key: str) -> dict[str, Any]:
    # Some vtrix answers may come as {"code": 0, "data": {...}}; look inside when the key is not on top.
    data = body.get("data")
    if key not in body and isinstance(data, dict):
        return data
    return body


def parse_submit(body: Any, *, secret: str | None = None) -> RemoteTask:
    """The task id and first status from a 2xx submit answer; ``ProviderError`` for an error body."""
    if not isinstance(body, dict):
        raise ambiguous_submit("vtrix accepted the submit but its answer was not JSON")
    code, message = parse_error(body)
    task = _unwrap(body, "id")
    remote_id = task.get("id") or task.get("task_id")
    if code is not None or (message and not remote_id):
        text, retryable = describe_error(code, message, secret=secret)
        raise ProviderError(
            f"vtrix refused the submit: {text}",
            provider_code=code,
            retryable=bool(retryable),
            created=False,
        )
    if not isinstance(remote_id, str | int) or isinstance(remote_id, bool) or not str(remote_id).strip():
        raise ambiguous_submit("vtrix accepted the submit but returned no task id")
    remote_id = str(remote_id).strip()
    return RemoteTask(remote_id=remote_id, status=_status_from(remote_id, task, secret=secret))


def _first_url(output: Any) -> str | None:
    if not isinstance(output, list):
        return None
    for item in output:
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else ():
            url = part.get("url") if isinstance(part, dict) else None
            if isinstance(url, str) and url.strip() and part.get("type", "video") == "video":
                return url.strip()
    return None


def _raw_status(task: dict[str, Any]) -> str | None:
    status = task.get("status")
    if not isinstance(status, str) or not status.strip():
        # Seed 004 lists status under output[]; accept it there too.
        output = task.get("output")
        first = output[0] if isinstance(output, list) and output and isinstance(output[0], dict) else {}
        status = first.get("status")
    return status.strip() if isinstance(status, str) and status.strip() else None


def _status_from(remote_id: str, task: dict[str, Any], *, secret: str | None) -> RemoteStatus:
    raw = _raw_status(task)
    state: RemoteState = STATUS_MAP.get(raw.lower(), "queued") if raw else "queued"
    code, message = parse_error(task)
    if state not in ("failed", "canceled", "expired") and code is not None and raw is None:
        state = "failed"  # an error object with no status at all is a failure
    video_url = _first_url(task.get("output")) if state == "succeeded" else None
    error_code = error_message = None
    if state in ("failed", "canceled", "expired"):
        error_code = code
        if code is not None or message:
            text, retryable = describe_error(code, message, secret=secret)
            if retryable:
                text += "; this is a transient provider failure, so a new submit may succeed"
            error_message = text
        else:
            error_message = "the task has expired at vtrix" if state == "expired" else no_reason(state)
    usage = task.get("usage")
    return RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=100.0 if state == "succeeded" else parse_progress(task.get("progress")),
        video_url=video_url,
        error_code=error_code,
        error_message=error_message,
        usage=dict(usage) if isinstance(usage, dict) else {},
    )


def parse_task(remote_id: str, body: Any, *, secret: str | None = None) -> RemoteStatus:
    """A ``RemoteStatus`` from a ``GET /model/v1/generation/task/{id}`` body."""
    if not isinstance(body, dict):
        raise ProviderError("vtrix's task answer was not a JSON object", retryable=True)
    task = _unwrap(body, "status")
    if not task:
        raise ProviderError(f"vtrix returned no data for task {remote_id}", retryable=True)
    return _status_from(remote_id, task, secret=secret)


# --------------------------------------------------------------------------- provider


class VtrixProvider(Gateway):
    """vtrix.ai's generation API; it documents no cancel and no task list (see Gateway)."""

    wire = Wire(parse_submit, parse_task, parse_error)

    name = "vtrix"
    service = "vtrix API"
    submit_path = "/model/v1/generation"
    task_path = "/model/v1/generation/task/{id}"
    root_suffixes = ("/model/v1", "/model")

    def offers(self, model: str) -> bool:
        """The catalog models with a known vtrix id (VTRIX_MODEL_IDS)."""
        return model in VTRIX_MODEL_IDS

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        return build_submit(request)

    def refusal(self, response: httpx.Response, body: Any, *, paid: bool) -> ProviderError:
        """The HTTP-status rules, worded with vtrix's error table; a documented code decides retrying."""
        code, message = parse_error(body)
        text = describe_error(code, message, secret=self._api_key)[0] if code or message else None
        error = http_error(response, service=self.service, code=None, message=text, paid=paid, secret=self._api_key)
        error.provider_code = code
        retryable = VTRIX_ERRORS.get(code or "", (None, None))[1]
        if retryable is not None and error.created is False:
            # The documented code says more than the HTTP status about trying again.
            error.retryable = retryable
        return error
