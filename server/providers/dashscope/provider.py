"""The DashScope provider: headers and one HTTP exchange per call around the pure request and response modules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from wan_video_mcp.server.catalog import MODEL_INDEX, GenerationRequest, models_for
from wan_video_mcp.server.errors import NotConfigured, ProviderError
from wan_video_mcp.server.providers.base import Pace, RemoteStatus, RemoteTask
from wan_video_mcp.server.providers.dashscope.errors import parse_error, with_suffix
from wan_video_mcp.server.providers.dashscope.regions import base_url_for, check_region
from wan_video_mcp.server.providers.dashscope.request import LIST_PAGE_SIZE, build_submit, service_time, task_path
from wan_video_mcp.server.providers.dashscope.response import malformed, map_state, parse_list_item, parse_status
from wan_video_mcp.server.providers.dashscope.upload import TemporaryUploads
from wan_video_mcp.server.providers.fields import needs_oss_resolve, unsent_local_error, unsent_local_input
from wan_video_mcp.server.providers.http import json_or_none, send
from wan_video_mcp.server.providers.parsing import nonempty

__all__ = ["DashScopeProvider"]

# A bound on list pagination, so a service that misreports ``total`` cannot keep us looping.
_MAX_LIST_PAGES = 50


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
        check_region(region)
        if not api_key:
            raise NotConfigured("no DashScope API key configured")
        self._client = client
        self._api_key = api_key
        self.region = region
        self.workspace_id = workspace_id.strip() if workspace_id else None
        self.base_url = base_url_for(region, self.workspace_id, base_url)
        self._offered = frozenset(spec.id for spec in models_for(region))
        self.uploads = TemporaryUploads(
            client,
            base_url=self.base_url,
            api_key=api_key,
            headers=self._headers,
            region=region,
            default_host=base_url is None and self.workspace_id is None,
            wire_name=lambda model: MODEL_INDEX[model].wire_name(region) if model in MODEL_INDEX else model,
        )

    def __repr__(self) -> str:
        # Never show the key, even in a debugger or a log line.
        return f"DashScopeProvider(region={self.region!r}, base_url={self.base_url!r})"

    def offers(self, model: str) -> bool:
        """Whether the configured region serves this catalog model."""
        return model in self._offered

    def _headers(
        self, *, json_body: bool = False, asynchronous: bool = False, oss_resolve: bool = False
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        if oss_resolve:
            # Without it an oss:// temporary upload URL is refused as "does not appear to be valid".
            headers["X-DashScope-OssResourceResolve"] = "enable"
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
        if (local := unsent_local_input(request)) is not None:
            raise unsent_local_error(local)
        path, body = build_submit(request, self.region)
        response = await send(
            self._client,
            "POST",
            self.base_url + path,
            headers=self._headers(json_body=True, asynchronous=True, oss_resolve=needs_oss_resolve(request)),
            json_body=body,
            paid=True,
        )
        if not response.is_success:
            error = self._error(response)
            if response.status_code >= 500:
                # A 5xx, even one with DashScope's own code (InternalError, SystemError), does not say whether the
                # task was created before the failure: a bare one may come from a proxy that had already forwarded
                # the body, and the service's own may follow the task's creation. Reconcile against the task list,
                # never resend blindly.
                error = with_suffix(error, ambiguous=True)
            raise error
        # Any 2xx means the service took the body: from here on a task may exist, so nothing is resendable.
        payload = json_or_none(response)
        output = payload.get("output") if isinstance(payload, Mapping) else None
        if not isinstance(payload, Mapping) or not isinstance(output, Mapping) or not nonempty(output.get("task_id")):
            raise ProviderError(
                f"DashScope accepted the submit (HTTP {response.status_code}) but returned no task_id; "
                "the task may exist: reconcile before resubmitting",
                provider_code="MissingTaskId",
                http_status=response.status_code,
                retryable=False,
                created=None,
            )
        task_id = output["task_id"]
        task_status = nonempty(output.get("task_status")) or "PENDING"
        return RemoteTask(
            remote_id=task_id,
            status=RemoteStatus(remote_id=task_id, state=map_state(task_status)),
            request_id=nonempty(payload.get("request_id")),
        )

    async def poll(self, remote_id: str) -> RemoteStatus:
        """Read one task's status.

        A non-200 (404 included) raises the mapped ``ProviderError``: DashScope reports an expired
        task as 200 + UNKNOWN, so a 404 means a wrong URL or workspace, not a vanished task.
        """
        url = f"{self.base_url}/tasks/{task_path(remote_id)}"
        response = await send(self._client, "GET", url, headers=self._headers())
        if not response.is_success:
            raise self._error(response)
        return parse_status(json_or_none(response))

    async def cancel(self, remote_id: str) -> None:
        """Cancel a task; DashScope can cancel only tasks that are still PENDING."""
        response = await send(
            self._client, "POST", f"{self.base_url}/tasks/{task_path(remote_id)}/cancel", headers=self._headers()
        )
        payload = json_or_none(response)
        refused_in_2xx = (
            response.is_success and isinstance(payload, Mapping) and nonempty(payload.get("code")) is not None
        )
        if response.is_success and not refused_in_2xx:
            return
        # A 200 that still carries an error code is a refusal like any other.
        error = self._error(response)
        if not error.retryable and error.http_status not in (401, 403):
            error = with_suffix(
                error,
                suffix=" DashScope cancels only PENDING tasks: a task that is already RUNNING cannot be stopped, "
                "and it is billed only if it succeeds.",
            )
        raise error

    async def list_recent(
        self, since: datetime, until: datetime | None = None, pace: Pace | None = None
    ) -> list[RemoteStatus] | None:
        """Tasks submitted in [since, until] (without video URLs: poll each to get one); None if not offered."""
        start = service_time(since)
        end = service_time(until or datetime.now(UTC))
        results: list[RemoteStatus] = []
        page_no = 1
        for _ in range(_MAX_LIST_PAGES):
            params = {"page_no": page_no, "page_size": LIST_PAGE_SIZE, "start_time": start, "end_time": end}
            if pace is not None:
                await pace()
            response = await send(self._client, "GET", f"{self.base_url}/tasks", headers=self._headers(), params=params)
            if response.status_code in (404, 405, 501) and page_no == 1:
                # A gateway passthrough may forward /tasks/{id} but not the list: report "no list API".
                return None
            if not response.is_success:
                raise self._error(response)
            payload = json_or_none(response)
            if not isinstance(payload, Mapping) or not isinstance(payload.get("data", []), list):
                raise malformed("task list")
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
