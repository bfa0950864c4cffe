"""QuantumNous/new-api gateway, Ali video channel (wire-formats.md section 4; seed 001).

Submit is ``POST /v1/video/generations`` with ``{model, prompt, duration, metadata}``;
the gateway unmarshals ``metadata`` over its own ``{model, input, parameters}``
DashScope struct, so everything beyond prompt and duration travels in
``metadata.input`` / ``metadata.parameters`` under the official DashScope names.
The top-level ``size`` is never sent: older builds upper-case it and append "P",
which turns ``1280*720`` into a broken ``resolution``.

Polls read ``GET /v1/video/generations/{id}``, a ``{code, message, data: TaskDto}``
envelope the gateway answers from its own database (a background poller keeps it
current, so expect some lag). Known quirks handled here: status spellings from
three generations of the API, progress as ``0`` or ``"30%"``, the video URL
written into ``fail_reason`` by older builds, and a failed task reported inside
``code: "success"``.

Quirks a client cannot fix, worth knowing when a result looks wrong: keys the
gateway's Go struct lacks are dropped silently (build c37eb33 has no
``shot_type`` or ``reference_video_urls``), and ``prompt_extend``, ``watermark``
and ``seed`` are ``omitempty`` non-pointers there, so ``prompt_extend=false``
and ``seed=0`` never reach DashScope on such builds.

The pure functions (``build_submit``, ``parse_submit``, ``parse_task``,
``parse_error``, ``http_error``) hold all the wire knowledge; the provider class
adds the header and one HTTP exchange per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from server.catalog import MODELS, Family, GenerationRequest
from server.errors import ProviderError
from server.providers.base import RemoteState, RemoteStatus, RemoteTask, json_or_none, parse_retry_after, send

__all__ = [
    "NEWAPI_FAMILIES",
    "NewApiProvider",
    "build_submit",
    "gateway_root",
    "http_error",
    "legacy_url",
    "parse_epoch",
    "parse_error",
    "parse_fail_reason",
    "parse_progress",
    "parse_submit",
    "parse_task",
    "scrub",
    "state_of",
]

# The Ali adaptor posts every task to .../video-generation/video-synthesis and never
# switches to the image2video path that first/last-frame (kf2v) models need, so kf2v
# models are not offered through this gateway.
NEWAPI_FAMILIES = frozenset({Family.T2V, Family.I2V, Family.R2V})

# TaskDto.status (upper case), the OpenAI-style /v1/videos status (lower case), the
# simplified realtime status, and DashScope's own task_status, all in one table.
# new-api turns anything it does not know into QUEUED, and so do we (see state_of).
_STATES: dict[str, RemoteState] = {
    "NOT_START": "queued",
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "PENDING": "queued",
    "UNKNOWN": "queued",
    "IN_PROGRESS": "running",
    "PROCESSING": "running",
    "RUNNING": "running",
    "SUCCESS": "succeeded",
    "SUCCEEDED": "succeeded",
    "COMPLETED": "succeeded",
    "FAILURE": "failed",
    "FAILED": "failed",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",
}

# "task failed, code: InvalidParameter , message: image_url must provided"
_FAIL_REASON_RE = re.compile(r"code:\s*(?P<code>[^,\s]+)\s*,\s*message:\s*(?P<message>.*)", re.DOTALL)
_HTTP_URL_RE = re.compile(r"^https?://\S+$")
_MAX_TEXT = 300  # provider text quoted in a message is cut to this length


# --------------------------------------------------------------------------- pure helpers


def gateway_root(base_url: str, suffixes: tuple[str, ...] = ("/v1", "/v2")) -> str:
    """The gateway root: trailing slashes and one trailing API-version segment removed."""
    root = base_url.strip().rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)].rstrip("/")
    return root


def scrub(text: Any, secret: str | None) -> str:
    """Provider text made safe for a message: the API key removed, the length bounded."""
    value = "" if text is None else str(text)
    if secret:
        value = value.replace(secret, "***")
    value = " ".join(value.split())
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 3] + "..."


def parse_progress(value: Any) -> float | None:
    """Progress as 0..100 from ``30``, ``30.5``, ``"30%"`` or ``"30"``; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if number != number:  # NaN
        return None
    return min(100.0, max(0.0, number))


def parse_epoch(value: Any) -> datetime | None:
    """A UTC datetime from epoch seconds; None for 0, absent or unreadable values."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def state_of(status: Any) -> RemoteState:
    """Our state for any status spelling new-api has used; unknown spellings are "queued", as new-api does."""
    if not isinstance(status, str):
        return "queued"
    return _STATES.get(status.strip().upper(), "queued")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_fail_reason(text: str | None) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``"task failed, code: X , message: Y"``, or ``(None, text)``; URLs are no reason."""
    if not text or _HTTP_URL_RE.match(text):
        return None, None
    match = _FAIL_REASON_RE.search(text)
    if match:
        return match.group("code").strip(), match.group("message").strip() or None
    return None, text


def legacy_url(text: str | None) -> str | None:
    """The result URL older builds write into ``fail_reason`` on success, if that is what it holds."""
    return text if text and _HTTP_URL_RE.match(text) else None


def build_submit(request: GenerationRequest, model_name: str | None = None) -> dict[str, Any]:
    """The ``POST /v1/video/generations`` body for a validated request (None values omitted)."""
    inputs = {
        "negative_prompt": request.negative_prompt,
        "audio_url": request.audio_url,
        "img_url": request.img_url,
        "first_frame_url": request.first_frame_url,
        "last_frame_url": request.last_frame_url,
        "reference_video_urls": list(request.reference_video_urls) if request.reference_video_urls else None,
    }
    parameters = {
        "size": request.size,
        "resolution": request.resolution,
        "duration": request.duration,
        "prompt_extend": request.prompt_extend,
        "watermark": request.watermark,
        "seed": request.seed,
        "audio": request.audio,
        "shot_type": request.shot_type,
    }
    body: dict[str, Any] = {"model": model_name or request.model}
    if request.prompt is not None:
        body["prompt"] = request.prompt
    # Top-level duration is what every build reads; metadata.parameters.duration repeats it
    # for builds that read only the metadata. Top-level size is deliberately absent.
    body["duration"] = request.duration
    metadata: dict[str, Any] = {}
    kept_inputs = {k: v for k, v in inputs.items() if v is not None}
    if kept_inputs:
        metadata["input"] = kept_inputs
    metadata["parameters"] = {k: v for k, v in parameters.items() if v is not None}
    body["metadata"] = metadata
    return body


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from a gateway error body, whichever of its two shapes it has.

    Task routes answer ``{"code", "message", "data"}``; auth and relay middleware answer
    OpenAI-style ``{"error": {"message", "type", "code"}}``.
    """
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return (str(code) if code not in (None, "") else None), _text(error.get("message"))
    if isinstance(error, str) and error.strip():
        return None, error.strip()
    code = body.get("code")
    message = _text(body.get("message")) or _text(body.get("msg"))
    return (str(code) if code not in (None, "") else None), message


def http_error(
    response: httpx.Response,
    *,
    service: str,
    code: str | None,
    message: str | None,
    structured: bool,
    paid: bool,
    secret: str | None,
) -> ProviderError:
    """Translate a non-2xx answer into ``ProviderError``: 408/429/5xx retryable, other 4xx not.

    ``structured`` says the body was an error the service itself wrote. For a paid
    submit that is what proves nothing was started: a 502/504 or an HTML page from a
    proxy in front of the service may hide a task that was created, so it leaves
    ``created=None`` and is not retried.
    """
    status = response.status_code
    detail = scrub(message, secret) if message else ""
    code = scrub(code, secret) if code else None
    said = f" ({code}: {detail})" if code and detail else f" ({code or detail})" if code or detail else ""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (401, 403):
        return ProviderError(
            f"the {service} refused the API key (HTTP {status}){said}",
            provider_code=code, http_status=status, retryable=False, created=False,
            hint="Check WAN_API_KEY and WAN_BASE_URL (a key works only on the gateway that issued it).",
        )
    if status == 429:
        return ProviderError(
            f"the {service} is rate-limiting requests (HTTP 429){said}",
            provider_code=code, http_status=status, retryable=True, created=False, retry_after=retry_after,
        )
    if status == 408 or status >= 500:
        if paid and (status in (502, 504) or not structured):
            return ProviderError(
                f"the {service} failed while handling the submit (HTTP {status}){said}; "
                "the task may have been created",
                provider_code=code, http_status=status, retryable=False, created=None,
            )
        return ProviderError(
            f"the {service} is temporarily unavailable (HTTP {status}){said}",
            provider_code=code, http_status=status, retryable=True, created=False, retry_after=retry_after,
        )
    if status == 404:
        return ProviderError(
            f"the {service} has no such resource (HTTP 404){said}",
            provider_code=code, http_status=status, retryable=False, created=False,
        )
    return ProviderError(
        f"the {service} rejected the request (HTTP {status}){said}",
        provider_code=code, http_status=status, retryable=False, created=False,
    )


def parse_submit(body: Any, *, secret: str | None = None) -> RemoteTask:
    """The task id and first status from a 2xx submit answer; ``ProviderError`` if there is no id.

    A 2xx without an id leaves ``created=None``: the gateway accepted a paid request
    and did not say what became of it.
    """
    if not isinstance(body, dict):
        raise ProviderError(
            "the gateway accepted the submit but its answer was not JSON; the task may have been created",
            retryable=False, created=None,
        )
    remote_id = body.get("id") or body.get("task_id")
    if not isinstance(remote_id, str | int) or isinstance(remote_id, bool) or not str(remote_id).strip():
        code, message = parse_error(body)
        if (code and code != "success") or message:
            # An error body behind a 2xx: the gateway refused the request.
            raise ProviderError(
                f"the gateway refused the submit ({scrub(code, secret) or 'error'}: "
                f"{scrub(message, secret) or 'no message'})",
                provider_code=code, retryable=False, created=False,
            )
        raise ProviderError(
            "the gateway accepted the submit but returned no task id; the task may have been created",
            retryable=False, created=None,
        )
    remote_id = str(remote_id).strip()
    status = RemoteStatus(
        remote_id=remote_id,
        state=state_of(body.get("status")),
        progress=parse_progress(body.get("progress")),
        submitted_at=parse_epoch(body.get("created_at")),
    )
    return RemoteTask(remote_id=remote_id, status=status)


def parse_task(remote_id: str, body: Any, *, secret: str | None = None) -> RemoteStatus:
    """A ``RemoteStatus`` from a ``GET /v1/video/generations/{id}`` body (the envelope or a bare TaskDto)."""
    if not isinstance(body, dict):
        raise ProviderError("the gateway's task answer was not a JSON object", retryable=True)
    if "code" in body and ("data" in body or "message" in body):
        code = body.get("code")
        if code != "success":
            err_code, message = parse_error(body)
            raise ProviderError(
                f"the gateway could not report task {remote_id} ({scrub(err_code, secret)}: "
                f"{scrub(message, secret) or 'no message'})",
                provider_code=err_code, retryable=False,
            )
        task = _dict(body.get("data"))
    else:
        task = body
    if not task:
        raise ProviderError(f"the gateway returned no data for task {remote_id}", retryable=True)

    upstream = _dict(task.get("data"))
    output = _dict(upstream.get("output"))
    upstream_status = _text(output.get("task_status"))
    raw_status = _text(task.get("status"))
    state = state_of(raw_status if raw_status else upstream_status)
    fail_reason = _text(task.get("fail_reason"))

    video_url = _text(task.get("result_url")) or _text(output.get("video_url"))
    if video_url is None and state == "succeeded":
        video_url = legacy_url(fail_reason)  # older builds write the result URL into fail_reason

    error_code = error_message = None
    if upstream_status and upstream_status.upper() == "UNKNOWN":
        # DashScope forgets task ids after 24 h; the gateway reports this as a FAILURE.
        state = "expired"
        error_code = "expired"
        error_message = "the task is no longer known upstream (task ids expire 24 h after submission)"
    elif upstream_status and upstream_status.upper() in ("CANCELED", "CANCELLED") and state == "failed":
        state = "canceled"
    if state in ("failed", "canceled"):
        error_code = _text(output.get("code"))
        error_message = _text(output.get("message"))
        if error_code is None or error_message is None:
            reason_code, reason_message = parse_fail_reason(fail_reason)
            error_code = error_code or reason_code
            error_message = error_message or reason_message
        if error_message is None:
            error_message = "the task was canceled" if state == "canceled" else "the task failed without a reason"
        error_message = scrub(error_message, secret)

    usage = upstream.get("usage")
    return RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=100.0 if state == "succeeded" else parse_progress(task.get("progress")),
        video_url=video_url if state == "succeeded" else None,
        error_code=error_code,
        error_message=error_message,
        actual_prompt=_text(output.get("actual_prompt")),
        usage=dict(usage) if isinstance(usage, dict) else {},
        submitted_at=parse_epoch(task.get("submit_time")),
        finished_at=parse_epoch(task.get("finish_time")),
    )


# --------------------------------------------------------------------------- provider


class NewApiProvider:
    """A new-api (OpenAI-style) gateway in front of DashScope."""

    name = "newapi"
    service = "new-api gateway"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        use_content_endpoint: bool = True,
        model_names: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._root = gateway_root(base_url, ("/v1",))
        self._use_content = use_content_endpoint
        # Gateway operators name models themselves (new-api's default list uses the
        # Beijing spellings wanx2.1-*); map catalog ids to their names here if they differ.
        self._model_names = dict(model_names or {})
        self._offered = frozenset(spec.id for spec in MODELS if spec.family in NEWAPI_FAMILIES)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def _task_url(self, remote_id: str) -> str:
        return f"{self._root}/v1/video/generations/{quote(remote_id, safe='')}"

    def offers(self, model: str) -> bool:
        """Text-, image- and reference-to-video models; never kf2v (see NEWAPI_FAMILIES)."""
        return model in self._offered

    async def submit(self, request: GenerationRequest) -> RemoteTask:
        """Submit one paid task; one attempt."""
        body = build_submit(request, self._model_names.get(request.model))
        response = await send(
            self._client, "POST", f"{self._root}/v1/video/generations",
            headers=self._headers, json_body=body, paid=True,
        )
        data = json_or_none(response)
        if not response.is_success:
            code, message = parse_error(data)
            raise http_error(response, service=self.service, code=code, message=message,
                             structured=code is not None or message is not None, paid=True, secret=self._api_key)
        return parse_submit(data, secret=self._api_key)

    async def poll(self, remote_id: str) -> RemoteStatus:
        """The task's current status as the gateway last recorded it."""
        response = await send(self._client, "GET", self._task_url(remote_id), headers=self._headers)
        data = json_or_none(response)
        if not response.is_success:
            code, message = parse_error(data)
            if code == "task_not_exist" or response.status_code == 404:
                raise ProviderError(
                    f"the {self.service} has no task {remote_id} for this API key",
                    provider_code=code or "not_found", http_status=response.status_code, retryable=False,
                    hint="The id may belong to another key or gateway.",
                )
            raise http_error(response, service=self.service, code=code, message=message,
                             structured=code is not None or message is not None, paid=False, secret=self._api_key)
        return parse_task(remote_id, data, secret=self._api_key)

    async def cancel(self, remote_id: str) -> None:
        """new-api has no cancel route: always raises."""
        raise ProviderError(
            f"cancelling is not supported by this gateway (new-api has no cancel endpoint); task {remote_id} "
            "keeps running and may still be billed",
            provider_code="unsupported", retryable=False,
            hint="Let the task finish and fetch or ignore its video.",
        )

    async def list_recent(self, since: datetime) -> list[RemoteStatus] | None:
        """The gateway exposes no task list to API keys."""
        return None

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """``/v1/videos/{id}/content`` with the key (the gateway proxies the upstream URL), else the URL itself."""
        if self._use_content:
            return f"{self._root}/v1/videos/{quote(remote_id, safe='')}/content", self._headers
        if status.video_url:
            return status.video_url, {}
        raise ProviderError(
            f"task {remote_id} has no video URL to download from",
            retryable=False,
            hint="Poll the task again; if it succeeded, enable the gateway's /content endpoint.",
        )
