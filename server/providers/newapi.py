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
``code: "success"`` (the dialect itself is ``taskdto``, which yuto shares).

Quirks a client cannot fix, worth knowing when a result looks wrong: keys the
gateway's Go struct lacks are dropped silently (build c37eb33 has no
``shot_type`` or ``reference_video_urls``), and ``prompt_extend``, ``watermark``
and ``seed`` are ``omitempty`` non-pointers there, so ``prompt_extend=false``
and ``seed=0`` never reach DashScope on such builds.

The pure functions (``build_submit``, ``parse_submit``, ``parse_task``) hold the
wire knowledge; the provider class is the ``Gateway`` template with new-api's paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from wan_video_mcp.server.catalog import MODELS, Family, GenerationRequest
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteStatus, RemoteTask
from wan_video_mcp.server.providers.fields import wire_fields
from wan_video_mcp.server.providers.gateway import Gateway, Wire, ambiguous_submit
from wan_video_mcp.server.providers.parsing import as_dict, no_reason, parse_epoch, parse_progress, scrub, stripped
from wan_video_mcp.server.providers.taskdto import (
    UPSTREAM_EXPIRED,
    legacy_url,
    parse_error,
    parse_fail_reason,
    report_failure,
    state_of,
    submit_refusal,
)

__all__ = ["NEWAPI_FAMILIES", "NewApiProvider", "build_submit", "parse_submit", "parse_task"]

# The Ali adaptor posts every task to .../video-generation/video-synthesis and never
# switches to the image2video path that first/last-frame (kf2v) models need, so kf2v
# models are not offered through this gateway. The media protocol's models (wan2.7,
# wan3.0) all use that one path: ``metadata.input.media`` and the new parameters pass
# through the JS plugin verbatim (Object.assign) and through later Go builds; an old
# Go build (@075be92) drops ``media`` silently, and most builds drop a media item's
# ``reference_voice`` (reference/media-protocol.md section 9). new-api's plugin also
# fills ``parameters.size: "1280*720"`` for any *t2v* model sent without one; we
# cannot unset it from here.
NEWAPI_FAMILIES = frozenset({Family.T2V, Family.I2V, Family.R2V, Family.R2V_MIXED, Family.EDIT, Family.OMNI})


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
        state = "expired"
        error_code = "expired"
        error_message = UPSTREAM_EXPIRED
    elif upstream_status and upstream_status.upper() in ("CANCELED", "CANCELLED") and state == "failed":
        state = "canceled"
    if state in ("failed", "canceled"):
        error_code = stripped(output.get("code"))
        error_message = stripped(output.get("message"))
        if error_code is None or error_message is None:
            reason_code, reason_message = parse_fail_reason(fail_reason)
            error_code = error_code or reason_code
            error_message = error_message or reason_message
        error_message = scrub(error_message or no_reason(state), secret)

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


class NewApiProvider(Gateway):
    """A new-api (OpenAI-style) gateway in front of DashScope."""

    wire = Wire(parse_submit, parse_task, parse_error)

    name = "newapi"
    service = "new-api gateway"
    submit_path = "/v1/video/generations"
    task_path = "/v1/video/generations/{id}"
    root_suffixes = ("/v1",)
    unknown_task_codes = frozenset({"task_not_exist"})
    unknown_task_hint = "The id may belong to another key or gateway."
    cancel_refusal = (
        "cancelling is not supported by this gateway (new-api has no cancel endpoint); task {remote_id} "
        "keeps running and may still be billed"
    )
    missing_url_hint = "Poll the task again; if it succeeded, enable the gateway's /content endpoint."

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

    def offers(self, model: str) -> bool:
        """Text-, image- and reference-to-video models; never kf2v (see NEWAPI_FAMILIES)."""
        return model in self._offered

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        return build_submit(request, self._model_names.get(request.model))

    def download_target(self, remote_id: str, status: RemoteStatus) -> tuple[str, dict[str, str]]:
        """``/v1/videos/{id}/content`` with the key (the gateway proxies the upstream URL), else the URL itself."""
        if self._use_content:
            return f"{self._root}/v1/videos/{quote(remote_id, safe='')}/content", self._headers
        return super().download_target(remote_id, status)
