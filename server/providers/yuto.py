"""YutoAI's unified "/v2" video format (wire-formats.md section 5; seed 000).

Submit is a flat ``POST /v2/videos/generations`` body (``model``, ``prompt``,
``duration``, ``size`` or ``images[]`` + ``resolution``, ``negative_prompt``,
``audio_url``, ``audio``, ``prompt_extend``, ``watermark``, ``seed``) answered by
``{"task_id"}``. Polls read ``GET /v2/videos/generations/{task_id}``, which answers
new-api's TaskDto shape (``status`` NOT_START/SUBMITTED/QUEUED/IN_PROGRESS/
SUCCESS/FAILURE, ``progress`` as ``"30%"``, ``fail_reason``) with the result in
``data.output`` (a URL) or ``data.outputs`` (a list of URLs). It looks like a
new-api-derived engine (inference), so the envelope and error parsing are new-api's
(``taskdto``); the provider class is the ``Gateway`` template with YutoAI's paths.

``audio`` is sent as a JSON boolean although seed 000 types it as a string: the
official document (seed 002) wins, as everywhere in the catalog. If YutoAI's
engine ever insists on a string, the submit fails with a 4xx before anything is
created.
"""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog import Family, GenerationRequest
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteState, RemoteStatus, RemoteTask
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

__all__ = ["YUTO_MODELS", "YutoProvider", "build_submit", "parse_submit", "parse_task"]

# Conservative on purpose. Seed 000 documents only wan2.5-t2v-preview on this route, and
# YutoAI's model list adds wan2.6-t2v; the flat format's images[] + resolution carry the
# image-to-video models of the same generations, which share the 2.5/2.6 field set
# (audio, audio_url). Silent 2.1/2.2 models, wan2.6-i2v-flash (whose audio switch works
# differently), first/last-frame (no field for a last frame in the flat format) and
# reference-video models are not documented here, and a guess would be a paid mistake.
YUTO_MODELS = frozenset({"wan2.6-t2v", "wan2.5-t2v-preview", "wan2.6-i2v", "wan2.5-i2v-preview"})


def build_submit(request: GenerationRequest) -> dict[str, Any]:
    """The flat ``POST /v2/videos/generations`` body for a validated request (None values omitted)."""
    fields: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "duration": request.duration,
        "negative_prompt": request.negative_prompt,
        "audio_url": request.audio_url,
        "audio": request.audio,
        "prompt_extend": request.prompt_extend,
        "watermark": request.watermark,
        "seed": request.seed,
        "shot_type": request.shot_type,
    }
    if request.family is Family.I2V:
        fields["images"] = [request.img_url] if request.img_url else None
        fields["resolution"] = request.resolution
    else:
        fields["size"] = request.size
    return {key: value for key, value in fields.items() if value is not None}


def parse_submit(body: Any, *, secret: str | None = None) -> RemoteTask:
    """The task id from ``{"task_id"}``; ``ProviderError`` when a 2xx carries no id."""
    if not isinstance(body, dict):
        raise ambiguous_submit("YutoAI accepted the submit but its answer was not JSON")
    remote_id = body.get("task_id") or body.get("id") or as_dict(body.get("data")).get("task_id")
    if not isinstance(remote_id, str) or not remote_id.strip():
        raise (
            submit_refusal(body, "YutoAI", secret=secret)
            or ambiguous_submit("YutoAI accepted the submit but returned no task_id")
        )
    remote_id = remote_id.strip()
    state: RemoteState = state_of(body.get("status")) if body.get("status") else "queued"
    return RemoteTask(remote_id=remote_id, status=RemoteStatus(remote_id=remote_id, state=state))


def _result_url(data: dict[str, Any]) -> str | None:
    output = data.get("output")
    if isinstance(output, str) and output.strip():
        return output.strip()
    outputs = data.get("outputs")
    if isinstance(outputs, list):
        for item in outputs:
            if isinstance(item, str) and item.strip():
                return item.strip()
    if isinstance(output, dict):  # a raw DashScope body, as new-api keeps it
        url = output.get("video_url")
        if isinstance(url, str) and url.strip():
            return url.strip()
    return None


def parse_task(remote_id: str, body: Any, *, secret: str | None = None) -> RemoteStatus:
    """A ``RemoteStatus`` from a ``GET /v2/videos/generations/{task_id}`` body."""
    if not isinstance(body, dict):
        raise ProviderError("YutoAI's task answer was not a JSON object", retryable=True)
    task: dict[str, Any] = body
    # Tolerate new-api's {code, message, data: TaskDto} envelope around the same fields.
    if "status" not in body and "code" in body:
        if body.get("code") != "success":
            raise report_failure(body, "YutoAI", remote_id, secret=secret)
        task = as_dict(body.get("data"))
    if not task:
        raise ProviderError(f"YutoAI returned no data for task {remote_id}", retryable=True)

    data = as_dict(task.get("data"))
    state = state_of(task.get("status"))
    fail_reason = stripped(task.get("fail_reason"))
    upstream = as_dict(data.get("output"))
    if str(upstream.get("task_status", "")).upper() == "UNKNOWN":
        return RemoteStatus(
            remote_id=remote_id,
            state="expired",
            error_code="expired",
            error_message=UPSTREAM_EXPIRED,
        )

    video_url = error_code = error_message = None
    if state == "succeeded":
        video_url = stripped(task.get("result_url")) or _result_url(data) or legacy_url(fail_reason)
    elif state in ("failed", "canceled"):
        error_code, error_message = parse_fail_reason(fail_reason)
        error_code = stripped(upstream.get("code")) or error_code
        error_message = stripped(upstream.get("message")) or error_message
        error_message = scrub(error_message or no_reason(state), secret)
    return RemoteStatus(
        remote_id=remote_id,
        state=state,
        progress=100.0 if state == "succeeded" else parse_progress(task.get("progress")),
        video_url=video_url,
        error_code=error_code,
        error_message=error_message,
        submitted_at=parse_epoch(task.get("submit_time")),
        finished_at=parse_epoch(task.get("finish_time")),
    )


class YutoProvider(Gateway):
    """YutoAI's flat /v2 video API; it documents no cancel and no task list (see Gateway)."""

    wire = Wire(parse_submit, parse_task, parse_error)

    name = "yuto"
    service = "YutoAI API"
    submit_path = "/v2/videos/generations"
    task_path = "/v2/videos/generations/{id}"
    root_suffixes = ("/v2", "/v1")
    unknown_task_codes = frozenset({"task_not_exist"})

    def offers(self, model: str) -> bool:
        """Only the models YUTO_MODELS lists (see the comment there)."""
        return model in YUTO_MODELS

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        return build_submit(request)
