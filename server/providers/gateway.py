"""The template the gateways (newapi, yuto, vtrix) share, and the HTTP-status rules they answer with.

A gateway takes a bearer key, submits with one POST and polls one task URL, has no
cancel and no task list for API keys, and hands back a public result URL. A
gateway class says only what differs: its paths, how it builds a body, how it
reads a submit answer, a task and an error body.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from wan_video_mcp.server.catalog import GenerationRequest
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import Pace, RemoteStatus, RemoteTask
from wan_video_mcp.server.providers.fields import needs_oss_resolve, unsent_local_error, unsent_local_input
from wan_video_mcp.server.providers.http import json_or_none, parse_retry_after, send
from wan_video_mcp.server.providers.parsing import scrub

__all__ = ["Gateway", "ambiguous_submit", "gateway_root", "http_error", "unknown_task"]


def gateway_root(base_url: str, suffixes: tuple[str, ...] = ("/v1", "/v2")) -> str:
    """The gateway root: trailing slashes and one trailing API-version segment removed."""
    root = base_url.strip().rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)].rstrip("/")
    return root


def http_error(
    response: httpx.Response,
    *,
    service: str,
    code: str | None,
    message: str | None,
    paid: bool,
    secret: str | None,
) -> ProviderError:
    """Translate a gateway's non-2xx answer into ``ProviderError``: 408/429/5xx retryable, other 4xx not.

    For a paid submit, only a refusal *before* the work (401/403, 429, other 4xx) proves
    that nothing was started. A gateway's 408/5xx, even with a tidy error body, can come
    after it created the upstream task (new-api creates upstream, then records the task:
    a failure in between answers 500), and the simulator reproduced a double charge
    that way; so it leaves ``created=None`` and is never retried.
    """
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


@dataclass(frozen=True)
class Wire:
    """How a gateway's answers read: its dialect's parsers (each module of a gateway defines them)."""

    parse_submit: Callable[..., RemoteTask]  # (body, *, secret): the task of a 2xx submit answer
    parse_task: Callable[..., RemoteStatus]  # (remote_id, body, *, secret): the status of a 2xx task answer
    parse_error: Callable[[Any], tuple[str | None, str | None]]  # (code, message) of an error body


class Gateway(ABC):
    """A bearer key, one submit route, one task route, no cancel, no task list and a public result URL."""

    wire: ClassVar[Wire]
    name: str
    service: str  # the API as messages name it ("vtrix API")
    submit_path: str  # appended to the root
    task_path: str  # appended to the root; {id} is the URL-quoted task id
    root_suffixes: tuple[str, ...] = ("/v1", "/v2")  # API-version tails a configured base URL may end in
    # Error codes a failed poll answers for an id this key does not own (a 404 always means that).
    unknown_task_codes: frozenset[str] = frozenset()
    unknown_task_hint: str | None = None
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

    @abstractmethod
    def offers(self, model: str) -> bool:
        """Whether this gateway can serve the catalog model id."""

    @abstractmethod
    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The submit body for a validated request."""

    def read_submit(self, body: Any) -> RemoteTask:
        """The task from a 2xx submit answer; ``ProviderError`` when it names none."""
        return self.wire.parse_submit(body, secret=self._api_key)

    def read_task(self, remote_id: str, body: Any) -> RemoteStatus:
        """The status from a 2xx task answer."""
        return self.wire.parse_task(remote_id, body, secret=self._api_key)

    def read_error(self, body: Any) -> tuple[str | None, str | None]:
        """``(code, message)`` from an error body, ``(None, None)`` if it has neither."""
        return self.wire.parse_error(body)

    def refusal(self, response: httpx.Response, body: Any, *, paid: bool) -> ProviderError:
        """A non-2xx answer as ``ProviderError``: the HTTP-status rules, with the gateway's code and message."""
        code, message = self.read_error(body)
        return http_error(response, service=self.service, code=code, message=message, paid=paid, secret=self._api_key)

    async def submit(self, request: GenerationRequest) -> RemoteTask:
        """Submit one paid task; one attempt."""
        if (local := unsent_local_input(request)) is not None:
            raise unsent_local_error(local)
        if needs_oss_resolve(request):
            # Nothing is sent: DashScope reads an oss:// upload only with a header no gateway is known to pass on.
            raise ProviderError(
                f"{self.service}: an oss:// upload URL can only be read through DashScope's own API (it needs the "
                "X-DashScope-OssResourceResolve header, which gateways do not pass on); give an http(s) URL, or "
                "an image as data:. Nothing was sent.",
                provider_code="OssUrlNotSupported",
                retryable=False,
                created=False,
            )
        response = await send(
            self._client,
            "POST",
            self._root + self.submit_path,
            headers=self._headers,
            json_body=self.build_body(request),
            paid=True,
        )
        body = json_or_none(response)
        if not response.is_success:
            raise self.refusal(response, body, paid=True)
        return self.read_submit(body)

    async def poll(self, remote_id: str) -> RemoteStatus:
        """The task's current status, as the gateway last recorded it."""
        url = self._root + self.task_path.format(id=quote(remote_id, safe=""))
        response = await send(self._client, "GET", url, headers=self._headers)
        body = json_or_none(response)
        if not response.is_success:
            code = self.read_error(body)[0]
            if response.status_code == 404 or code in self.unknown_task_codes:
                raise unknown_task(
                    self.service, remote_id, code=code, http_status=response.status_code, hint=self.unknown_task_hint
                )
            raise self.refusal(response, body, paid=False)
        return self.read_task(remote_id, body)

    async def cancel(self, remote_id: str) -> None:
        """The gateway has no cancel route: always raises."""
        raise ProviderError(
            self.cancel_refusal.format(service=self.service, remote_id=remote_id),
            provider_code="unsupported",
            retryable=False,
            hint="Let the task finish and fetch or ignore its video.",
        )

    async def list_recent(
        self, since: datetime, until: datetime | None = None, pace: Pace | None = None
    ) -> list[RemoteStatus] | None:
        """The gateway exposes no task list to API keys."""
        return None

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """The result URL itself, fetched without the API key (it is a public CDN/OSS URL)."""
        if status.video_url:
            return status.video_url, {}
        raise ProviderError(
            f"task {remote_id} has no video URL to download from", retryable=False, hint=self.missing_url_hint
        )
