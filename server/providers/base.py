"""The one small interface every wire format implements, and its normalized results.

A provider turns a validated ``GenerationRequest`` into one HTTP submit and a
provider response into a ``RemoteStatus``. It makes exactly one attempt per
call: retries, backoff and the submit-once rule live in the engine, which
decides from ``ProviderError.retryable`` / ``.created`` / ``.retry_after``.
Providers know nothing of MCP or the store.

``ProviderError.created`` has meaning only for a submit (did a paid task possibly
start?); a failed poll, cancel, list or download creates nothing, and the engine
ignores the flag there.

Below the interface: the pure helpers more than one wire format uses (HTTP-status
rules, secret scrubbing, progress and time parsing, DashScope's ``input`` /
``parameters`` split) and ``GatewayDefaults``, the behaviour shared by the
gateways that have no cancel, no task list and a public result URL.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from wan_video_mcp.server.catalog import Family, GenerationRequest
from wan_video_mcp.server.errors import ProviderError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "ProviderError",
    "GatewayDefaults",
    "Provider",
    "RemoteState",
    "RemoteStatus",
    "RemoteTask",
    "TERMINAL_STATES",
    "ambiguous_submit",
    "as_dict",
    "gateway_root",
    "http_error",
    "json_or_none",
    "parse_epoch",
    "parse_progress",
    "parse_retry_after",
    "scrub",
    "send",
    "stripped",
    "unknown_task",
    "wire_fields",
]

RemoteState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})

_MAX_TEXT = 300  # provider text quoted in a message is cut to this length
# The longest pause a Retry-After header can impose.
MAX_RETRY_AFTER_SECONDS = 300.0
# No task answer, list page or error body comes near this; a bigger one is refused unread.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024

# Which media fields of a request go into DashScope's ``input``, per family.
_MEDIA_INPUTS: dict[Family, tuple[str, ...]] = {
    Family.T2V: (),
    Family.I2V: ("img_url",),
    Family.KF2V: ("first_frame_url", "last_frame_url"),
    Family.R2V: ("reference_video_urls",),
}


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

    async def list_recent(self, since: datetime, until: datetime | None = None) -> list[RemoteStatus] | None:
        """Tasks the account submitted between ``since`` and ``until`` (default: now), on the provider's
        clock; ``None`` if the API has no list.

        Items may lack ``video_url`` (DashScope's listing has none): the engine polls the succeeded ones.
        """
        ...

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The URL (and any headers) to stream the finished MP4 from."""
        ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    # A server may ask for a pause, not for a task to be abandoned: "inf" or a date in 9999 is clamped.
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    paid: bool = False,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """One HTTP exchange, with transport failures translated into ``ProviderError``.

    For a ``paid`` request (a submit), a failure after the body may have reached
    the service leaves ``created=None``: the engine must reconcile, never resend.
    The answer is read into memory up to ``max_bytes``: a provider (or something
    posing as one) cannot make the server hold an arbitrarily large body.
    """
    try:
        request = client.build_request(method, url, headers=headers, json=json_body, params=params)
        response = await client.send(request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the service: safe to try again, even for a submit.
        raise ProviderError(
            f"could not connect to the provider ({type(exc).__name__})", retryable=True, created=False
        ) from exc
    except httpx.TransportError as exc:
        raise _sent_failure(exc, paid) from exc
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(response, max_bytes, paid)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(response, max_bytes, paid)
    except httpx.HTTPError as exc:  # a reset mid-body, an undecodable (say, bad gzip) body
        raise _sent_failure(exc, paid) from exc
    finally:
        await response.aclose()
    # The same response with its (decoded) body in memory: the streamed one cannot be read again.
    kept = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=response.request)


def _sent_failure(exc: httpx.HTTPError, paid: bool) -> ProviderError:
    # Read timeout, reset or protocol error after sending: the task may exist.
    return ProviderError(
        f"the connection to the provider failed after the request was sent ({type(exc).__name__})",
        retryable=not paid,
        created=None if paid else False,
    )


def _too_large(response: httpx.Response, max_bytes: int, paid: bool) -> ProviderError:
    what = "the submit" if paid else "a query"
    return ProviderError(
        f"the provider's answer to {what} (HTTP {response.status_code}) is larger than {max_bytes // 1024} KiB, "
        "far more than any task answer; it was not read" + ("; the task may have been created" if paid else ""),
        provider_code="response_too_large",
        http_status=response.status_code,
        retryable=not paid,
        created=None if paid else False,
    )


def json_or_none(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- helpers shared by the wire formats


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


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def stripped(value: Any) -> str | None:
    """A string without surrounding blanks, or None when it is not a string or only blanks."""
    return value.strip() if isinstance(value, str) and value.strip() else None


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


def wire_fields(request: GenerationRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """DashScope's ``input`` and ``parameters`` for a validated request (None values omitted)."""
    inputs: dict[str, Any] = {}
    for name in ("prompt", "negative_prompt", *_MEDIA_INPUTS[request.family], "audio_url"):
        value = getattr(request, name)
        if value is not None:
            inputs[name] = list(value) if isinstance(value, tuple) else value
    # t2v and r2v take an exact width*height; i2v and kf2v take a tier such as "720P".
    # Optional switches are sent only when set, so the service's own defaults apply otherwise.
    shape = "size" if request.spec.uses_size else "resolution"
    parameters: dict[str, Any] = {}
    for name in (shape, "duration", "prompt_extend", "watermark", "seed", "audio", "shot_type"):
        value = getattr(request, name)
        if value is not None:
            parameters[name] = value
    return inputs, parameters


def http_error(
    response: httpx.Response,
    *,
    service: str,
    code: str | None,
    message: str | None,
    structured: bool | None = None,
    paid: bool,
    secret: str | None,
) -> ProviderError:
    """Translate a gateway's non-2xx answer into ``ProviderError``: 408/429/5xx retryable, other 4xx not.

    For a paid submit, only a refusal *before* the work (401/403, 429, other 4xx) proves
    that nothing was started. A gateway's 408/5xx, even with a tidy error body, can come
    after it created the upstream task (new-api creates upstream, then records the task:
    a failure in between answers 500), and the simulator reproduced a double charge
    that way; so it leaves ``created=None`` and is never retried. (``structured`` is
    kept for the wording.)
    """
    if structured is None:
        structured = code is not None or message is not None
    status = response.status_code
    detail = scrub(message, secret) if message else ""
    code = scrub(code, secret) if code else None
    said = f" ({code}: {detail})" if code and detail else f" ({code or detail})" if code or detail else ""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (401, 403):
        return ProviderError(
            f"the {service} refused the API key (HTTP {status}){said}",
            provider_code=code,
            http_status=status,
            retryable=False,
            created=False,
            hint="Check WAN_API_KEY and WAN_BASE_URL (a key works only on the gateway that issued it).",
        )
    if status == 429:
        return ProviderError(
            f"the {service} is rate-limiting requests (HTTP 429){said}",
            provider_code=code,
            http_status=status,
            retryable=True,
            created=False,
            retry_after=retry_after,
        )
    if status == 408 or status >= 500:
        if paid:
            return ProviderError(
                f"the {service} failed while handling the submit (HTTP {status}){said}; the task may have been created",
                provider_code=code,
                http_status=status,
                retryable=False,
                created=None,
            )
        return ProviderError(
            f"the {service} is temporarily unavailable (HTTP {status}){said}",
            provider_code=code,
            http_status=status,
            retryable=True,
            created=False,
            retry_after=retry_after,
        )
    if status == 404:
        return ProviderError(
            f"the {service} has no such resource (HTTP 404){said}",
            provider_code=code,
            http_status=status,
            retryable=False,
            created=False,
        )
    return ProviderError(
        f"the {service} rejected the request (HTTP {status}){said}",
        provider_code=code,
        http_status=status,
        retryable=False,
        created=False,
    )


def ambiguous_submit(what_happened: str) -> ProviderError:
    """A 2xx submit answer we cannot use: the paid request was accepted, so reconcile, never resend."""
    return ProviderError(f"{what_happened}; the task may have been created", retryable=False, created=None)


def unknown_task(
    service: str, remote_id: str, *, code: str | None, http_status: int, hint: str | None = None
) -> ProviderError:
    """A poll of an id the service does not know (under this key): not retryable."""
    return ProviderError(
        f"the {service} has no task {remote_id} for this API key",
        provider_code=code or "not_found",
        http_status=http_status,
        retryable=False,
        hint=hint,
    )


class GatewayDefaults:
    """A bearer key, no cancel, no task list and a public result URL: what the gateways share."""

    service: str  # the API as messages name it ("vtrix API")
    root_suffixes: tuple[str, ...] = ("/v1", "/v2")  # API-version tails a configured base URL may end in
    # Wording a gateway may override: {service} and {remote_id} are filled in.
    cancel_refusal = "cancelling is not supported by the {service}; task {remote_id} keeps running and may be billed"
    missing_url_hint = "Poll the task again once it has succeeded."

    def __init__(self, client: httpx.AsyncClient, *, api_key: str, base_url: str) -> None:
        self._client = client
        self._api_key = api_key
        self._root = gateway_root(base_url, self.root_suffixes)

    @property
    def base_url(self) -> str:
        """The gateway's root, where its API (and, for new-api, its video content) lives."""
        return self._root

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    async def cancel(self, remote_id: str) -> None:
        """The gateway has no cancel route: always raises."""
        raise ProviderError(
            self.cancel_refusal.format(service=self.service, remote_id=remote_id),
            provider_code="unsupported",
            retryable=False,
            hint="Let the task finish and fetch or ignore its video.",
        )

    async def list_recent(self, since: datetime, until: datetime | None = None) -> list[RemoteStatus] | None:
        """The gateway exposes no task list to API keys."""
        return None

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The result URL itself, fetched without the API key (it is a public CDN/OSS URL)."""
        if status.video_url:
            return status.video_url, {}
        raise ProviderError(
            f"task {remote_id} has no video URL to download from", retryable=False, hint=self.missing_url_hint
        )
