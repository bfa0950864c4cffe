"""DashScope / Model Studio native protocol (wire-formats.md section 1; seed 003 is the same behind a prefix).

Submit is ``POST /services/aigc/{video-generation|image2video}/video-synthesis``
with ``X-DashScope-Async: enable``; the task is then read with ``GET /tasks/{id}``.
Everything that turns requests into bodies and bodies into statuses or errors is
a pure function here, so it can be tested without a network; the provider class
only adds headers and one HTTP exchange per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from wan_video_mcp.server.catalog import Family, GenerationRequest, models_for
from wan_video_mcp.server.errors import InvalidRequest, NotConfigured, ProviderError
from wan_video_mcp.server.providers.base import (
    RemoteState,
    RemoteStatus,
    RemoteTask,
    json_or_none,
    parse_retry_after,
    send,
    wire_fields,
)

__all__ = [
    "REGION_BASE_URLS",
    "REGION_WORKSPACE_HOSTS",
    "VIDEO_SYNTHESIS_PATH",
    "KF2V_SYNTHESIS_PATH",
    "LIST_PAGE_SIZE",
    "DashScopeProvider",
    "advice_for",
    "base_url_for",
    "build_submit",
    "parse_error",
    "parse_status",
    "parse_list_item",
]

REGION_BASE_URLS: dict[str, str] = {
    "intl": "https://dashscope-intl.aliyuncs.com/api/v1",
    "us": "https://dashscope-us.aliyuncs.com/api/v1",
    "cn": "https://dashscope.aliyuncs.com/api/v1",
}
# The region part of the newer per-workspace host, {ws}.{region}.maas.aliyuncs.com.
REGION_WORKSPACE_HOSTS: dict[str, str] = {
    "intl": "ap-southeast-1",
    "us": "us-east-1",
    "cn": "cn-beijing",
}
VIDEO_SYNTHESIS_PATH = "/services/aigc/video-generation/video-synthesis"
# First/last-frame models live under a different service path (the SDK switches on "kf2v" in the name).
KF2V_SYNTHESIS_PATH = "/services/aigc/image2video/video-synthesis"
LIST_PAGE_SIZE = 100
# A bound on list pagination, so a service that misreports ``total`` cannot keep us looping.
_MAX_LIST_PAGES = 50

# DashScope writes times as "YYYY-MM-DD HH:MM:SS.fff" without a zone; they are Beijing/Singapore
# time (UTC+8). (inference: the US region is assumed to use the same clock; nothing documents otherwise.)
_SERVICE_TZ = timezone(timedelta(hours=8))

_WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
# Anything shaped like a credential is scrubbed from provider text before it reaches a message.
_SECRET_RES = (
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{3,}"),
)

_STATE_MAP: dict[str, RemoteState] = {
    "PENDING": "queued",
    "RUNNING": "running",
    # The SDK does not treat SUSPENDED as terminal: the task may resume, so keep polling.
    "SUSPENDED": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "canceled",
    # What a task id older than 24 h (or never known) returns.
    "UNKNOWN": "expired",
}


# --------------------------------------------------------------------------- URLs


def base_url_for(region: str, workspace_id: str | None = None, base_url: str | None = None) -> str:
    """The API root (ending in ``/api/v1``) for a region, workspace or explicit override."""
    if base_url:
        # An explicit root already carries /api/v1 (or a gateway prefix such as /qwen/api/v1).
        return base_url.strip().rstrip("/")
    if region not in REGION_BASE_URLS:
        raise NotConfigured(
            f"unknown DashScope region {region!r}; use one of: {', '.join(REGION_BASE_URLS)}",
        )
    if workspace_id:
        workspace_id = workspace_id.strip()
        # The id becomes part of a host name: refuse anything that could redirect the request.
        if not _WORKSPACE_RE.match(workspace_id):
            raise NotConfigured(f"workspace id {workspace_id!r} is not a valid DashScope workspace id")
        return f"https://{workspace_id}.{REGION_WORKSPACE_HOSTS[region]}.maas.aliyuncs.com/api/v1"
    return REGION_BASE_URLS[region]


# --------------------------------------------------------------------------- request bodies


def build_submit(request: GenerationRequest, region: str) -> tuple[str, dict[str, Any]]:
    """The submit path (relative to the API root) and JSON body for a validated request."""
    spec = request.spec
    if region not in spec.regions:
        # Cheaper to say so here than to learn it from a ModelNotFound after a round trip.
        raise InvalidRequest(
            f"{spec.id} is not offered in DashScope region '{region}' (available in: {', '.join(spec.regions)})",
            field="model",
        )
    inputs, parameters = wire_fields(request)
    path = KF2V_SYNTHESIS_PATH if request.family is Family.KF2V else VIDEO_SYNTHESIS_PATH
    return path, {"model": spec.wire_name(region), "input": inputs, "parameters": parameters}


# --------------------------------------------------------------------------- statuses


def _parse_time(value: Any) -> datetime | None:
    """A service timestamp (UTC+8 text, or epoch seconds/milliseconds) as an aware UTC datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        # The list API returns epoch milliseconds; anything this large cannot be seconds.
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=_SERVICE_TZ).astimezone(UTC)
        except ValueError:
            continue
    return None


def _text(value: Any) -> str | None:
    """A non-empty string or None (the service sends "" for absent values)."""
    return value if isinstance(value, str) and value != "" else None


def _map_state(task_status: str) -> RemoteState:
    """Our state for a DashScope task_status."""
    # An unrecognised state is kept non-terminal: declaring a possibly paid task dead is worse than polling on.
    return _STATE_MAP.get(task_status.upper(), "running")


def _malformed(what: str) -> ProviderError:
    """A retryable error for a 200 whose body is not what the protocol promises."""
    return ProviderError(
        f"DashScope returned a malformed {what}; this is usually transient, try again",
        provider_code="MalformedResponse",
        http_status=200,
        retryable=True,
    )


def parse_status(body: Any) -> RemoteStatus:
    """A task query body (``GET /tasks/{id}``) as a ``RemoteStatus``; raises ProviderError if malformed."""
    if not isinstance(body, Mapping) or not isinstance(body.get("output"), Mapping):
        raise _malformed("task status (no output object)")
    output = body["output"]
    task_id = _text(output.get("task_id"))
    task_status = _text(output.get("task_status"))
    if task_id is None or task_status is None:
        raise _malformed("task status (no task_id or task_status)")
    state = _map_state(task_status)
    usage = body.get("usage")
    common: dict[str, Any] = {
        "remote_id": task_id,
        "actual_prompt": _text(output.get("actual_prompt")),
        "prompt": _text(output.get("orig_prompt")),
        "usage": dict(usage) if isinstance(usage, Mapping) else {},
        "submitted_at": _parse_time(output.get("submit_time")),
        "finished_at": _parse_time(output.get("end_time")),
    }
    if state == "succeeded":
        video_url = _text(output.get("video_url"))
        if video_url is None:
            return RemoteStatus(
                state="failed",
                error_code="MissingVideoUrl",
                error_message="DashScope reported the task SUCCEEDED but returned no video_url",
                **common,
            )
        return RemoteStatus(state="succeeded", video_url=video_url, **common)
    if state == "failed":
        # A FAILED task is reported with HTTP 200: the failure is in output.code / output.message.
        code = _text(output.get("code")) or "Unknown"
        message = _text(output.get("message")) or _text(output.get("msg")) or "the task failed without a reason"
        advice = advice_for(code)
        return RemoteStatus(
            state="failed",
            error_code=code,
            error_message=_redact(f"{message.rstrip('. ')}. {advice}" if advice else message),
            **common,
        )
    if state == "expired":
        return RemoteStatus(
            state="expired",
            error_code="UNKNOWN",
            error_message="DashScope no longer knows this task: task ids and video URLs expire after 24 hours",
            **common,
        )
    return RemoteStatus(state=state, **common)


def _catalog_id(wire_name: str | None, region: str | None) -> str | None:
    """The catalog id for a wire model name in a region (``wanx2.1-t2v-turbo`` -> ``wan2.1-t2v-turbo``)."""
    if wire_name is None or region is None:
        return wire_name
    for spec in models_for(region):
        if spec.wire_name(region) == wire_name:
            return spec.id
    return wire_name


def parse_list_item(item: Any, region: str | None = None) -> RemoteStatus | None:
    """One entry of ``GET /tasks`` ``data`` as a ``RemoteStatus`` (no video URL there); None if unusable.

    With ``region``, the service's model name is translated back to our catalog id so it can be
    matched against stored tasks; an unknown name is kept as the service wrote it.
    """
    if not isinstance(item, Mapping):
        return None
    task_id = _text(item.get("task_id"))
    task_status = _text(item.get("status")) or _text(item.get("task_status"))
    if task_id is None or task_status is None:
        return None
    return RemoteStatus(
        remote_id=task_id,
        state=_map_state(task_status),
        model=_catalog_id(_text(item.get("model_name")) or _text(item.get("model")), region),
        submitted_at=_parse_time(item.get("gmt_create") or item.get("submit_time") or item.get("start_time")),
        finished_at=_parse_time(item.get("end_time")),
    )


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class _Rule:
    retryable: bool
    advice: str


_FIX_REQUEST = "Fix the request and submit again; nothing was charged."
_CHANGE_CONTENT = (
    "The prompt, an input file or the generated video was blocked by content moderation; "
    "change the content and submit again."
)
_BILLING = "Check the account's billing in the Model Studio console; retrying will not help until it is fixed."
_RETRY = "This is temporary; retry later with backoff."

# Every code of the Model Studio error table (wire-formats.md section 3), with what to do about it.
_ERROR_RULES: dict[str, _Rule] = {
    # 400: the request itself
    "InvalidParameter": _Rule(False, _FIX_REQUEST),
    "BadRequest.EmptyInput": _Rule(False, "The request has no input; " + _FIX_REQUEST),
    "BadRequest.EmptyParameters": _Rule(False, "The request has no parameters; " + _FIX_REQUEST),
    "BadRequest.EmptyModel": _Rule(False, "The request names no model; " + _FIX_REQUEST),
    "InvalidURL": _Rule(False, "An input URL is invalid; pass a public http(s) URL. " + _FIX_REQUEST),
    # 400: content moderation
    "DataInspectionFailed": _Rule(False, _CHANGE_CONTENT),
    "IPInfringementSuspect": _Rule(
        False, "The content looks like it infringes intellectual property; change it and submit again."
    ),
    # 400: billing
    "Arrearage": _Rule(False, "The account is in arrears: top up the Alibaba Cloud account, then submit again."),
    # 401
    "InvalidApiKey": _Rule(
        False,
        "Check DASHSCOPE_API_KEY and that the key belongs to the configured region "
        "(Beijing, Singapore and Virginia keys are not interchangeable).",
    ),
    # 403
    "AccessDenied": _Rule(
        False,
        "The key may not call this API or model (the X-DashScope-Async header is also required); "
        "check the key's permissions in the Model Studio console.",
    ),
    "Model.AccessDenied": _Rule(
        False, "This key or workspace has no access to the model; enable it in the Model Studio console."
    ),
    "Workspace.AccessDenied": _Rule(
        False, "The key has no access to this workspace; check the workspace id and the key's permissions."
    ),
    "AccessDenied.Unpurchased": _Rule(False, "The model has not been activated; activate it in the console."),
    "AllocationQuota.FreeTierOnly": _Rule(
        False,
        "The free quota is used up and the account is set to free tier only; "
        "turn off 'free tier only' in the console to pay for more.",
    ),
    # 404
    "ModelNotFound": _Rule(
        False, "The model does not exist in this region; check the model name and the configured region."
    ),
    "WorkSpaceNotFound": _Rule(False, "The workspace does not exist; check the configured workspace id."),
    # 408
    "RequestTimeOut": _Rule(True, "The request timed out at the service; " + _RETRY),
    # 413 / 415
    "BadRequest.TooLarge": _Rule(False, "The request or an input file is too large; shrink it and submit again."),
    "BadRequest.InputDownloadFailed": _Rule(
        False,
        "The service could not download an input file; make sure the URL is publicly reachable "
        "(one more try is reasonable, repeated retries are not).",
    ),
    "UnsupportedFileFormat": _Rule(
        False, "An input file has an unsupported format; see the model's media limits and convert it."
    ),
    # 429: rate limits (retry) versus quota and billing (do not)
    "Throttling": _Rule(True, "Too many requests; " + _RETRY),
    "Throttling.RateQuota": _Rule(True, "The per-model rate limit was exceeded; " + _RETRY),
    "LimitRequests": _Rule(True, "Too many concurrent requests; " + _RETRY),
    "Throttling.AllocationQuota": _Rule(
        False, "The account's token/usage quota is exhausted; raise it in the console or wait for it to reset."
    ),
    "PrepaidBillOverdue": _Rule(False, "The prepaid bill is overdue: top up the account. " + _BILLING),
    "PostpaidBillOverdue": _Rule(False, "The postpaid bill is overdue: settle it. " + _BILLING),
    "CommodityNotPurchased": _Rule(False, "The service has not been purchased for this account. " + _BILLING),
    # 500 / 503
    "InternalError": _Rule(True, "An internal error at the service; " + _RETRY),
    "InternalError.Algo": _Rule(True, "The model failed internally; " + _RETRY),
    "InternalError.Timeout": _Rule(True, "The model timed out internally; " + _RETRY),
    "SystemError": _Rule(True, "A system error at the service; " + _RETRY),
    "ModelUnavailable": _Rule(True, "The model is temporarily unavailable; " + _RETRY),
}


def advice_for(code: str | None) -> str | None:
    """What to do about a DashScope error code (also used for task ``output.code``), or None if unknown."""
    if not code:
        return None
    rule = _rule_for(code)
    return rule.advice if rule else None


def _rule_for(code: str) -> _Rule | None:
    rule = _ERROR_RULES.get(code)
    if rule is None and code.startswith("InternalError"):
        # Any InternalError.* variant is the service's own failure.
        rule = _ERROR_RULES["InternalError"]
    return rule


def _fallback_rule(status: int) -> _Rule:
    """For codes we do not know: decide by the HTTP status class."""
    if status in (408, 429) or status >= 500:
        return _Rule(True, "The service is busy or failing; " + _RETRY)
    if status in (401, 403):
        return _ERROR_RULES["InvalidApiKey" if status == 401 else "AccessDenied"]
    return _Rule(False, "The service refused the request; check the message, fix the request and try again.")


def _redact(text: str, api_key: str | None = None) -> str:
    """The text with the API key and anything credential-shaped removed."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    for pattern in _SECRET_RES:
        text = pattern.sub("[redacted]", text)
    return text


def _replace(error: ProviderError, *, suffix: str = "", ambiguous: bool = False) -> ProviderError:
    """A copy of ``error`` with text appended; ``ambiguous`` marks a submit whose task may exist."""
    return ProviderError(
        error.message + suffix,
        provider_code=error.provider_code,
        http_status=error.http_status,
        retryable=False if ambiguous else error.retryable,
        created=None if ambiguous else error.created,
        retry_after=error.retry_after,
        hint=error.hint,
    )


def parse_error(response: httpx.Response, *, api_key: str | None = None) -> ProviderError:
    """A non-200 DashScope response as a ``ProviderError`` (created=False: the service refused it)."""
    status = response.status_code
    body = json_or_none(response)
    code: str | None = None
    provider_message: str | None = None
    request_id: str | None = None
    if isinstance(body, Mapping):
        code = _text(body.get("code"))
        provider_message = _text(body.get("message")) or _text(body.get("msg"))
        request_id = _text(body.get("request_id"))
    if code is None:
        # The SDK's convention for a body that names no code (non-JSON, or JSON without one).
        code = "Unknown"
        if provider_message is None and not isinstance(body, Mapping):
            snippet = " ".join(response.text.split())[:160]
            provider_message = snippet or None
    rule = _rule_for(code) or _fallback_rule(status)
    detail = f"HTTP {status} {code}" + (f": {provider_message}" if provider_message else "")
    message = f"DashScope returned an error ({detail}). {rule.advice}"
    if request_id:
        message += f" (request_id {request_id})"
    return ProviderError(
        _redact(message, api_key),
        provider_code=code,
        http_status=status,
        retryable=rule.retryable,
        created=False,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        hint=rule.advice,
    )


# --------------------------------------------------------------------------- the provider


class DashScopeProvider:
    """The DashScope native protocol: one HTTP attempt per call, errors as ``ProviderError``."""

    name = "dashscope"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        region: str = "intl",
        base_url: str | None = None,
        workspace_id: str | None = None,
    ) -> None:
        if region not in REGION_BASE_URLS:
            raise NotConfigured(f"unknown DashScope region {region!r}; use one of: {', '.join(REGION_BASE_URLS)}")
        if not api_key:
            raise NotConfigured("no DashScope API key configured")
        self._client = client
        self._api_key = api_key
        self.region = region
        self.workspace_id = workspace_id.strip() if workspace_id else None
        self.base_url = base_url_for(region, self.workspace_id, base_url)
        self._offered = frozenset(spec.id for spec in models_for(region))

    def __repr__(self) -> str:
        # Never show the key, even in a debugger or a log line.
        return f"DashScopeProvider(region={self.region!r}, base_url={self.base_url!r})"

    def offers(self, model: str) -> bool:
        """Whether the configured region serves this catalog model."""
        return model in self._offered

    def _headers(self, *, json_body: bool = False, asynchronous: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        if json_body:
            headers["Content-Type"] = "application/json"
        if asynchronous:
            # Without it the service answers "current user api does not support synchronous calls".
            headers["X-DashScope-Async"] = "enable"
        if self.workspace_id:
            headers["X-DashScope-WorkSpace"] = self.workspace_id
        return headers

    def _error(self, response: httpx.Response) -> ProviderError:
        return parse_error(response, api_key=self._api_key)

    async def submit(self, request: GenerationRequest) -> RemoteTask:
        """Create one task; a failure that leaves its existence unknown has ``created=None``."""
        path, body = build_submit(request, self.region)
        response = await send(
            self._client,
            "POST",
            self.base_url + path,
            headers=self._headers(json_body=True, asynchronous=True),
            json_body=body,
            paid=True,
        )
        if not response.is_success:
            error = self._error(response)
            if response.status_code >= 500 and error.provider_code == "Unknown":
                # A bare 5xx without DashScope's error body comes from a proxy or gateway in front of it,
                # which may have forwarded the body before failing: the task may exist. Reconcile, never resend.
                error = _replace(
                    error,
                    suffix=" The task may or may not have been created: reconcile before resubmitting.",
                    ambiguous=True,
                )
            raise error
        # Any 2xx means the service took the body: from here on a task may exist, so nothing is resendable.
        payload = json_or_none(response)
        output = payload.get("output") if isinstance(payload, Mapping) else None
        if not isinstance(payload, Mapping) or not isinstance(output, Mapping) or not _text(output.get("task_id")):
            raise ProviderError(
                f"DashScope accepted the submit (HTTP {response.status_code}) but returned no task_id; "
                "the task may exist: reconcile before resubmitting",
                provider_code="MissingTaskId",
                http_status=response.status_code,
                retryable=False,
                created=None,
            )
        task_id = output["task_id"]
        task_status = _text(output.get("task_status")) or "PENDING"
        return RemoteTask(
            remote_id=task_id,
            status=RemoteStatus(remote_id=task_id, state=_map_state(task_status)),
            request_id=_text(payload.get("request_id")),
        )

    async def poll(self, remote_id: str) -> RemoteStatus:
        """Read one task's status.

        A non-200 (404 included) raises the mapped ``ProviderError``: DashScope reports an expired
        task as 200 + UNKNOWN, so a 404 means a wrong URL or workspace, not a vanished task.
        """
        url = f"{self.base_url}/tasks/{_task_path(remote_id)}"
        response = await send(self._client, "GET", url, headers=self._headers())
        if not response.is_success:
            raise self._error(response)
        return parse_status(json_or_none(response))

    async def cancel(self, remote_id: str) -> None:
        """Cancel a task; DashScope can cancel only tasks that are still PENDING."""
        response = await send(
            self._client, "POST", f"{self.base_url}/tasks/{_task_path(remote_id)}/cancel", headers=self._headers()
        )
        payload = json_or_none(response)
        refused_in_2xx = response.is_success and isinstance(payload, Mapping) and _text(payload.get("code")) is not None
        if response.is_success and not refused_in_2xx:
            return
        # A 200 that still carries an error code is a refusal like any other.
        error = self._error(response)
        if not error.retryable and error.http_status not in (401, 403):
            error = _replace(
                error,
                suffix=" DashScope cancels only PENDING tasks: a task that is already RUNNING cannot be stopped, "
                "and it is billed only if it succeeds.",
            )
        raise error

    async def list_recent(self, since: datetime, until: datetime | None = None) -> list[RemoteStatus] | None:
        """Tasks submitted in [since, until] (without video URLs: poll each to get one); None if not offered."""
        start = _service_time(since)
        end = _service_time(until or datetime.now(UTC))
        results: list[RemoteStatus] = []
        page_no = 1
        for _ in range(_MAX_LIST_PAGES):
            params = {"page_no": page_no, "page_size": LIST_PAGE_SIZE, "start_time": start, "end_time": end}
            response = await send(self._client, "GET", f"{self.base_url}/tasks", headers=self._headers(), params=params)
            if response.status_code in (404, 405, 501) and page_no == 1:
                # A gateway passthrough may forward /tasks/{id} but not the list: report "no list API".
                return None
            if not response.is_success:
                raise self._error(response)
            payload = json_or_none(response)
            if not isinstance(payload, Mapping) or not isinstance(payload.get("data", []), list):
                raise _malformed("task list")
            items = payload.get("data") or []
            for item in items:
                status = parse_list_item(item, self.region)
                if status is not None:
                    results.append(status)
            total = payload.get("total")
            size = payload.get("page_size") or LIST_PAGE_SIZE
            current = payload.get("page_no") or page_no
            # Stop on an empty page too, so a wrong ``total`` cannot make us ask forever.
            if not items or not isinstance(total, int) or not isinstance(size, int) or not isinstance(current, int):
                break
            if current * size >= total:
                break
            page_no = current + 1
        return results

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The signed OSS URL, with no headers: the API key must never be sent to OSS."""
        if not status.video_url:
            raise ProviderError(
                f"task {remote_id} has no video URL to download", provider_code="MissingVideoUrl", retryable=False
            )
        return status.video_url, {}


def _task_path(remote_id: str) -> str:
    """The task id as one URL path segment (an id with '/' or '?' must not reach another endpoint)."""
    return quote(remote_id, safe="")


def _service_time(moment: datetime) -> str:
    """``YYYYMMDDhhmmss`` in the service's UTC+8 clock, as the list API expects (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_SERVICE_TZ).strftime("%Y%m%d%H%M%S")
