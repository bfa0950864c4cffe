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
``parse_error``) hold all the wire knowledge; the provider class adds the header
and one HTTP exchange per call. The HTTP-status rules (``http_error``) and the
parsing helpers yuto and vtrix share live in ``wan_video_mcp.server.providers.base`` and are
re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from wan_video_mcp.server.catalog import MODELS, Family, GenerationRequest
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import (
    GatewayDefaults,
    RemoteState,
    RemoteStatus,
    RemoteTask,
    ambiguous_submit,
    as_dict,
    gateway_root,
    http_error,
    json_or_none,
    parse_epoch,
    parse_progress,
    scrub,
    send,
    stripped,
    unknown_task,
    wire_fields,
)

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
    "poll_error",
    "report_failure",
    "scrub",
    "state_of",
    "submit_error",
    "submit_refusal",
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


# --------------------------------------------------------------------------- pure helpers


def state_of(status: Any) -> RemoteState:
    """Our state for any status spelling new-api has used; unknown spellings are "queued", as new-api does."""
    if not isinstance(status, str):
        return "queued"
    return _STATES.get(status.strip().upper(), "queued")


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
    inputs, parameters = wire_fields(request)
    inputs.pop("prompt", None)  # the prompt travels at the top level, where every build reads it
    body: dict[str, Any] = {"model": model_name or request.model}
    if request.prompt is not None:
        body["prompt"] = request.prompt
    # Top-level duration is what every build reads; metadata.parameters.duration repeats it
    # for builds that read only the metadata. Top-level size is deliberately absent.
    body["duration"] = request.duration
    metadata: dict[str, Any] = {}
    if inputs:
        metadata["input"] = inputs
    metadata["parameters"] = parameters
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
        return (str(code) if code not in (None, "") else None), stripped(error.get("message"))
    if isinstance(error, str) and error.strip():
        return None, error.strip()
    code = body.get("code")
    message = stripped(body.get("message")) or stripped(body.get("msg"))
    return (str(code) if code not in (None, "") else None), message


def submit_error(response: httpx.Response, body: Any, *, service: str, secret: str | None) -> ProviderError:
    """A non-2xx submit answer as ``ProviderError``: the HTTP-status rules, with the gateway's code and message."""
    code, message = parse_error(body)
    return http_error(response, service=service, code=code, message=message, paid=True, secret=secret)


def poll_error(
    response: httpx.Response, body: Any, *, service: str, remote_id: str, secret: str | None, hint: str | None = None
) -> ProviderError:
    """A non-2xx poll answer as ``ProviderError``: a 404 or ``task_not_exist`` is an id this key does not own."""
    code, message = parse_error(body)
    if code == "task_not_exist" or response.status_code == 404:
        return unknown_task(service, remote_id, code=code, http_status=response.status_code, hint=hint)
    return http_error(response, service=service, code=code, message=message, paid=False, secret=secret)


def submit_refusal(body: Any, who: str, *, secret: str | None) -> ProviderError | None:
    """The refusal an id-less 2xx submit answer carries (new-api writes some errors into a 2xx), if any."""
    code, message = parse_error(body)
    if (code and code != "success") or message:
        return ProviderError(
            f"{who} refused the submit ({scrub(code, secret) or 'error'}: {scrub(message, secret) or 'no message'})",
            provider_code=code,
            retryable=False,
            created=False,
        )
    return None


def report_failure(body: Any, who: str, remote_id: str, *, secret: str | None) -> ProviderError:
    """A ``{code, message}`` envelope whose code is not "success": the gateway could not report the task."""
    code, message = parse_error(body)
    return ProviderError(
        f"{who} could not report task {remote_id} ({scrub(code, secret)}: {scrub(message, secret) or 'no message'})",
        provider_code=code,
        retryable=False,
    )


def parse_submit(body: Any, *, secret: str | None = None) -> RemoteTask:
    """The task id and first status from a 2xx submit answer; ``ProviderError`` if there is no id.

    A 2xx without an id leaves ``created=None``: the gateway accepted a paid request
    and did not say what became of it.
    """
    if not isinstance(body, dict):
        raise ambiguous_submit("the gateway accepted the submit but its answer was not JSON")
    remote_id = body.get("id") or body.get("task_id")
    if not isinstance(remote_id, str | int) or isinstance(remote_id, bool) or not str(remote_id).strip():
        raise (
            submit_refusal(body, "the gateway", secret=secret)
            or ambiguous_submit("the gateway accepted the submit but returned no task id")
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
        if body.get("code") != "success":
            raise report_failure(body, "the gateway", remote_id, secret=secret)
        task = as_dict(body.get("data"))
    else:
        task = body
    if not task:
        raise ProviderError(f"the gateway returned no data for task {remote_id}", retryable=True)

    upstream = as_dict(task.get("data"))
    output = as_dict(upstream.get("output"))
    upstream_status = stripped(output.get("task_status"))
    raw_status = stripped(task.get("status"))
    state = state_of(raw_status if raw_status else upstream_status)
    fail_reason = stripped(task.get("fail_reason"))

    video_url = stripped(task.get("result_url")) or stripped(output.get("video_url"))
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
        error_code = stripped(output.get("code"))
        error_message = stripped(output.get("message"))
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
        actual_prompt=stripped(output.get("actual_prompt")),
        usage=dict(usage) if isinstance(usage, dict) else {},
        submitted_at=parse_epoch(task.get("submit_time")),
        finished_at=parse_epoch(task.get("finish_time")),
    )


# --------------------------------------------------------------------------- provider


class NewApiProvider(GatewayDefaults):
    """A new-api (OpenAI-style) gateway in front of DashScope."""

    name = "newapi"
    service = "new-api gateway"
    cancel_refusal = (
        "cancelling is not supported by this gateway (new-api has no cancel endpoint); task {remote_id} "
        "keeps running and may still be billed"
    )
    missing_url_hint = "Poll the task again; if it succeeded, enable the gateway's /content endpoint."
    root_suffixes = ("/v1",)

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        use_content_endpoint: bool = True,
        model_names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(client, api_key=api_key, base_url=base_url)
        self._use_content = use_content_endpoint
        # Gateway operators name models themselves (new-api's default list uses the
        # Beijing spellings wanx2.1-*); map catalog ids to their names here if they differ.
        self._model_names = dict(model_names or {})
        self._offered = frozenset(spec.id for spec in MODELS if spec.family in NEWAPI_FAMILIES)

    def _task_url(self, remote_id: str) -> str:
        return f"{self._root}/v1/video/generations/{quote(remote_id, safe='')}"

    def offers(self, model: str) -> bool:
        """Text-, image- and reference-to-video models; never kf2v (see NEWAPI_FAMILIES)."""
        return model in self._offered

    async def submit(self, request: GenerationRequest) -> RemoteTask:
        """Submit one paid task; one attempt."""
        body = build_submit(request, self._model_names.get(request.model))
        response = await send(
            self._client,
            "POST",
            f"{self._root}/v1/video/generations",
            headers=self._headers,
            json_body=body,
            paid=True,
        )
        data = json_or_none(response)
        if not response.is_success:
            raise submit_error(response, data, service=self.service, secret=self._api_key)
        return parse_submit(data, secret=self._api_key)

    async def poll(self, remote_id: str) -> RemoteStatus:
        """The task's current status as the gateway last recorded it."""
        response = await send(self._client, "GET", self._task_url(remote_id), headers=self._headers)
        data = json_or_none(response)
        if not response.is_success:
            raise poll_error(
                response,
                data,
                service=self.service,
                remote_id=remote_id,
                secret=self._api_key,
                hint="The id may belong to another key or gateway.",
            )
        return parse_task(remote_id, data, secret=self._api_key)

    # cancel and list_recent: GatewayDefaults (new-api has neither a cancel route nor a task list for keys).

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """``/v1/videos/{id}/content`` with the key (the gateway proxies the upstream URL), else the URL itself."""
        if self._use_content:
            return f"{self._root}/v1/videos/{quote(remote_id, safe='')}/content", self._headers
        return super().download_target(remote_id, status)
