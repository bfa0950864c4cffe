"""DashScope's error codes (the Model Studio error table) and what an agent should do about each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.http import json_or_none, parse_retry_after
from wan_video_mcp.server.providers.parsing import nonempty, scrub

__all__ = ["advice_for", "parse_error", "with_suffix"]


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
    # The media protocol's input checks (reference/media-protocol.md section 6).
    "InvalidParameter.DataInspection": _Rule(
        False,
        "The service could not read or inspect an input file: check that each media URL is public, in a format "
        "the model takes and within its size limit (an oss:// URL needs the upload's own model and account).",
    ),
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
        False,
        "The model does not exist in this region or on this host; check the model name and the configured region "
        "(wan3.0 is documented on workspace hosts only: set DASHSCOPE_WORKSPACE_ID).",
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
    elif rule is None and code.startswith("InvalidParameter."):
        rule = _ERROR_RULES["InvalidParameter"]  # a detailed refusal of the request
    return rule


def _fallback_rule(status: int) -> _Rule:
    """For codes we do not know: decide by the HTTP status class."""
    if status in (408, 429) or status >= 500:
        return _Rule(True, "The service is busy or failing; " + _RETRY)
    if status in (401, 403):
        return _ERROR_RULES["InvalidApiKey" if status == 401 else "AccessDenied"]
    return _Rule(False, "The service refused the request; check the message, fix the request and try again.")


UNCLEAR_SUBMIT = "The task may or may not have been created: it is looked for in the task list, and not sent again."


def with_suffix(error: ProviderError, *, suffix: str = "", ambiguous: bool = False) -> ProviderError:
    """A copy of ``error`` with text appended; ``ambiguous`` marks a submit whose task may exist.

    An ambiguous submit keeps the service's own words but not the code's advice ("retry later" is exactly
    what must not be done with a task that may exist): the advice becomes ``UNCLEAR_SUBMIT``.
    """
    message, hint = error.message + suffix, error.hint
    if ambiguous:
        if error.hint:
            message = message.replace(f" {error.hint}", "")
        message, hint = f"{message} {UNCLEAR_SUBMIT}", UNCLEAR_SUBMIT
    return ProviderError(
        message,
        provider_code=error.provider_code,
        http_status=error.http_status,
        retryable=False if ambiguous else error.retryable,
        created=None if ambiguous else error.created,
        retry_after=error.retry_after,
        hint=hint,
    )


def parse_error(response: httpx.Response, *, api_key: str | None = None) -> ProviderError:
    """A non-200 DashScope response as a ``ProviderError`` (created=False: the service refused it)."""
    status = response.status_code
    body = json_or_none(response)
    code: str | None = None
    provider_message: str | None = None
    request_id: str | None = None
    if isinstance(body, Mapping):
        code = nonempty(body.get("code"))
        provider_message = nonempty(body.get("message")) or nonempty(body.get("msg"))
        request_id = nonempty(body.get("request_id"))
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
        scrub(message, api_key, limit=None),
        provider_code=code,
        http_status=status,
        retryable=rule.retryable,
        created=False,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        hint=rule.advice,
    )
