"""An offline DashScope video-synthesis service on 127.0.0.1, for demos and end-to-end tests.

It speaks the native DashScope protocol (reference/wire-formats.md, section 1) closely
enough that the official ``dashscope`` SDK, our own provider and plain httpx cannot
tell it from the real service, except that everything it produces says SIMULATED:
a ``"simulated": true`` field in JSON bodies (all but the bare cancel acknowledgement,
where the SDK would take it for the output), an ``X-Wan-Simulator: 1`` header on every
response, and the label drawn on every video frame. It never contacts any
address: it only listens on 127.0.0.1.

On the same port it also speaks the three gateway formats of reference/wire-formats.md
(sections 4 and 5), on top of the same tasks, timing, renders, faults and counters:

- new-api (seed 001): ``POST /v1/video/generations`` (``metadata.input``/``parameters``
  pass through to DashScope), ``GET /v1/video/generations/{id}`` (the ``{code, message,
  data: TaskDto}`` envelope, raw DashScope poll body in ``data.data``, the result URL
  also in ``fail_reason``), ``GET /v1/videos/{id}`` and ``GET /v1/videos/{id}/content``;
- YutoAI (seed 000): the flat ``POST /v2/videos/generations`` and
  ``GET /v2/videos/generations/{task_id}`` (a flat TaskDto, result in ``data.output(s)``);
- vtrix (seed 004): ``POST /model/v1/generation`` under vtrix model ids (``wan26_t2v``)
  and ``GET /model/v1/generation/task/{id}`` (``in_queue/processing/done/failed``).

A gateway submit is validated exactly as DashScope validates the body the gateway makes
of it (``plan_submit``), counts in ``stats.submits`` and arms the same fault targets
(submit, poll, download); every dialect needs ``Authorization: Bearer``. Result URLs are
the simulator's own signed, expiring URLs. The DashScope API also answers under the
``/qwen/api/v1`` prefix (seed 003).

Layout:

- the pure core: ``plan_submit`` (validation against the catalog, as the real service
  does it), ``SimTask.state`` (time-driven PENDING -> RUNNING -> SUCCEEDED), the body
  builders ``poll_body``/``usage_body``/``list_item``, URL signing;
- ``Faults`` and ``Stats``: fault injection and counters, driven from Python or over
  HTTP under ``/_sim/...`` when the simulator runs in another process;
- the renderer: a real H.264 (+ AAC) MP4 made with PyAV from pure-Python planes (no
  numpy), or a fixed embedded MP4 when PyAV is missing;
- a small HTTP/1.1 server on anyio streams (keep-alive, concurrent connections),
  hand-written so that faults are real: a TCP reset, a hang, a body shorter than its
  Content-Length, a throttled download;
- ``Simulator`` (``async with``), ``simulator_in_thread`` (for synchronous callers),
  ``run_forever`` and ``main`` (the ``wan-video-mcp simulate`` command).

Choices where the real service is undocumented (kept in one place, here):
- an unknown model answers 404 ``ModelNotFound`` "Model can not be found." (the
  error-code table); a kf2v model on the video-generation path, or any other model on
  the image2video path, answers 400 ``InvalidParameter`` "url error, please check url！";
- cancelling a task that is not PENDING, or an unknown task, answers 400
  ``UnsupportedOperation`` "Failed to cancel the task, please confirm if the task is in
  PENDING status." (the message observed from the real service);
- over-long prompts and negative prompts are truncated silently, like the real API;
- ``start_time``/``end_time`` of the task list are read as UTC+8 (Beijing) times;
- wan2.6-r2v bills its reference videos: each counts as ``REFERENCE_VIDEO_SECONDS``;
- gateways: an unknown model has no channel (503 ``model_not_found``, as new-api's
  distributor answers); a task id is known only to the dialect that handed it out and
  only to the key that submitted it (new-api and YutoAI: 400 ``task_not_exist``, vtrix:
  404); gateways answer from their own database, so a finished task keeps its final
  state after DashScope would have forgotten it, while its result URL still expires;
  new-api's ``/content`` then answers 502, as it does when the upstream fetch fails;
- new-api and YutoAI report SUBMITTED for the first half of the queue time (before the
  gateway's first upstream poll), then QUEUED; a FAILED task's ``fail_reason`` is
  ``"task failed, code: X , message: Y"``;
- vtrix reports every DashScope failure code as 001026095 "Internal generation error"
  with the upstream code in the message (a 9-digit code injected with
  ``fail_next_task`` passes through unchanged), and enforces seed 004's own
  reference-video rules (001026001..001026003); ``usage.cost`` is the catalog's list price.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import email.utils
import hashlib
import hmac
import json
import logging
import math
import random
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import textwrap
import threading
import time
import unicodedata
import uuid
from array import array
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import anyio
import anyio.to_thread
from anyio.abc import SocketAttribute, SocketStream
from anyio.from_thread import start_blocking_portal
from anyio.streams.buffered import BufferedByteReceiveStream

from wan_video_mcp.server.catalog import MODELS, NEGATIVE_PROMPT_MAX, SEED_MAX, TIERS, Family, ModelSpec
from wan_video_mcp.server.ports import SIMULATOR_PORT

__all__ = [
    "ApiError",
    "Fault",
    "Faults",
    "SimTask",
    "Simulator",
    "SimulatorConfig",
    "Stats",
    "SubmitPlan",
    "main",
    "plan_submit",
    "render_mp4",
    "run_forever",
    "simulator_in_thread",
]


logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = SIMULATOR_PORT  # serve --http uses another (SERVE_HTTP_PORT)
API_PREFIXES = ("/api/v1", "/qwen/api/v1")
SERVICES = {
    "/services/aigc/video-generation/video-synthesis": "video-generation",
    "/services/aigc/image2video/video-synthesis": "image2video",
}
DAY = 24 * 3600.0
BEIJING = timezone(timedelta(hours=8))
REFERENCE_VIDEO_SECONDS = 5
SIMULATOR_HEADER = ("X-Wan-Simulator", "1")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024  # a 10 MB image as a data URL, with room to spare
KEEPALIVE_IDLE_SECONDS = 75.0
CHUNK = 64 * 1024

# Task states, as the wire spells them.
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELED",
    "UNKNOWN",
)

# Error texts of the real service (Model Studio error-code table).
MSG_NO_KEY = "No API-key provided."
MSG_BAD_KEY = "Invalid API-key provided."
MSG_SYNC = "current user api does not support synchronous calls"
MSG_URL = "url error, please check url！"
MSG_CANCEL = "Failed to cancel the task, please confirm if the task is in PENDING status."
FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "429": (429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    "500": (500, "InternalError", "An internal error has occured, please try again later or contact service support."),
    "503": (503, "ModelUnavailable", "Model is unavailable, please try again later."),
}
FAILURE_MESSAGES: dict[str, str] = {
    "InternalError": FAULT_ERRORS["500"][2],
    "InternalError.Algo": "An internal error has occured during execution, please try again later or contact "
    "service support.",
    "InternalError.Timeout": "An internal timeout error has occured during execution, please try again later or "
    "contact service support.",
    "DataInspectionFailed": "Output data may contain inappropriate content.",
    "IPInfringementSuspect": "Input data is suspected of being involved in IP infringement.",
    "InvalidParameter": "The size is not match the allowed size list.",
    "InvalidURL": "Invalid URL provided in your request.",
    "BadRequest.InputDownloadFailed": "Failed to download the input file.",
}
DEFAULT_FAILURE_CODE = "InternalError.Algo"

Clock = Callable[[], float]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves; every duration is in seconds of simulator time."""

    port: int = 0  # 0: any free port
    queue_seconds: float = 2.0  # time in PENDING
    run_seconds: float = 6.0  # time in RUNNING
    jitter: float = 0.25  # each of the two times is scaled by a factor drawn from [1-jitter, 1+jitter]
    fps: int = 16
    required_key: str | None = None  # None: any non-empty key is accepted
    task_ttl_seconds: float = DAY  # after this, polls answer UNKNOWN
    url_ttl_seconds: float = DAY  # after this (from the end of the task), video URLs answer 403
    renderer: Literal["auto", "fallback"] = "auto"  # fallback: always serve the embedded MP4
    render_dir: Path | None = None  # None: a temporary directory, removed on exit
    max_concurrent_renders: int = 1
    clock: Clock = time.time  # unix seconds; ``Simulator.advance`` adds to it
    seed: int | None = None  # for the jitter


# --------------------------------------------------------------------------- pure core


class ApiError(Exception):
    """An error answer of the service: HTTP status, DashScope code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


_WIRE_NAMES: dict[str, ModelSpec] = {name: spec for spec in MODELS for name in (spec.id, *spec.region_names.values())}


@dataclass(frozen=True)
class SubmitPlan:
    """A submit the service accepted: what to simulate, with the real service's defaults filled in."""

    model_name: str  # as sent (wanx2.1-*, *-us and catalog ids are all accepted)
    spec: ModelSpec
    prompt: str  # truncated to the model's maximum; "" when none was given
    negative_prompt: str | None
    size: str  # the output W*H
    tier: str
    duration: int
    audio: bool
    prompt_extend: bool
    reference_videos: int = 0
    seed: int | None = None

    @property
    def width(self) -> int:
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("*")[1])

    @property
    def generation(self) -> str:
        return self.spec.id.split("-")[0]  # "wan2.6", "wan2.5", ...


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def _check_url(value: Any, name: str, *, required: bool) -> None:
    if value is None or value == "":
        if required:
            raise _invalid(f"Field required: {name}")
        return
    if not isinstance(value, str):
        raise _invalid(f"Input should be a valid string: {name}")
    if not value.startswith(("http://", "https://", "oss://", "data:")):
        raise ApiError(400, "InvalidURL", f"Invalid URL provided in your request: {name}")


def _wants_audio(spec: ModelSpec, audio: bool | None, audio_url: str | None) -> bool:
    if not spec.audio:
        return False
    if spec.id == "wan2.6-i2v-flash":  # here the audio switch beats audio_url
        return audio is not False
    return audio_url is not None or audio is not False


def plan_submit(service: str, body: Any) -> SubmitPlan:
    """Validate a submit body as the real service does; raise ``ApiError`` or return the plan.

    ``service`` is the path's task name: "video-generation" or "image2video".
    Keys the service does not know (the SDK's ``extend_prompt``/``function``, unknown
    parameters) are ignored, as the real service ignores them.
    """
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model_name = body.get("model")
    if model_name is None or model_name == "":
        raise ApiError(400, "BadRequest.EmptyModel", "Required parameter 'model' missing from request.")
    if not isinstance(model_name, str) or model_name not in _WIRE_NAMES:
        raise ApiError(404, "ModelNotFound", "Model can not be found.")
    spec = _WIRE_NAMES[model_name]
    if service != ("image2video" if spec.family is Family.KF2V else "video-generation"):
        raise _invalid(MSG_URL)
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        raise ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _invalid("Input should be a valid dictionary: parameters")

    prompt = inp.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise _invalid("Input should be a valid string: input.prompt")
    if spec.prompt_required and not (prompt and prompt.strip()):
        raise _invalid("Field required: input.prompt")
    negative = inp.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise _invalid("Input should be a valid string: input.negative_prompt")

    references = 0
    if spec.family is Family.I2V:
        _check_url(inp.get("img_url"), "input.img_url", required=True)
    elif spec.family is Family.KF2V:
        _check_url(inp.get("first_frame_url"), "input.first_frame_url", required=True)
        _check_url(inp.get("last_frame_url"), "input.last_frame_url", required=False)
    elif spec.family is Family.R2V:
        urls = inp.get("reference_video_urls")
        if not urls:
            raise _invalid("Field required: input.reference_video_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= 3:
            raise _invalid("input.reference_video_urls must be a list of 1 to 3 URLs.")
        for i, url in enumerate(urls):
            _check_url(url, f"input.reference_video_urls[{i}]", required=True)
        references = len(urls)
    audio_url = inp.get("audio_url") or None
    _check_url(audio_url, "input.audio_url", required=False)

    if spec.uses_size:
        size = params.get("size", spec.default_size)
        if size not in spec.sizes:
            raise _invalid(f"The size is not match the allowed size list of {model_name}: {', '.join(spec.sizes)}.")
        tier = spec.tier_of(size)
    else:
        resolution = params.get("resolution", spec.default_tier)
        tier = resolution.upper() if isinstance(resolution, str) else resolution
        if tier not in spec.tiers:
            raise _invalid(f"The resolution is not supported by {model_name}; allowed: {', '.join(spec.tiers)}.")
        size = TIERS[tier][0]  # the 16:9 (or 1:1 free) size of the tier

    duration = params.get("duration", spec.default_duration)
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or duration != int(duration)
        or int(duration) not in spec.durations
    ):
        allowed = ", ".join(map(str, spec.durations))
        raise _invalid(f"The duration is not supported by {model_name}; allowed: {allowed}.")

    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX):
        raise _invalid(f"The seed must be an integer in [0, {SEED_MAX}].")
    shot_type = params.get("shot_type")
    if shot_type is not None and shot_type not in ("single", "multi"):
        raise _invalid("The shot_type must be 'single' or 'multi'.")
    for name in ("prompt_extend", "watermark", "audio"):
        if name in params and not isinstance(params[name], bool):
            raise _invalid(f"Input should be a valid boolean: parameters.{name}")

    return SubmitPlan(
        model_name=model_name,
        spec=spec,
        prompt=(prompt or "")[: spec.prompt_max],
        negative_prompt=negative[:NEGATIVE_PROMPT_MAX] if negative else None,
        size=size,
        tier=tier,
        duration=int(duration),
        audio=_wants_audio(spec, params.get("audio"), audio_url),
        prompt_extend=params.get("prompt_extend", True),
        reference_videos=references,
        seed=seed,
    )


def format_time(ts: float) -> str:
    """A DashScope timestamp: UTC+8, ``YYYY-MM-DD HH:MM:SS.fff``."""
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class SimTask:
    """One simulated task. Its state is a function of the clock, so nothing needs to tick."""

    task_id: str
    request_id: str
    plan: SubmitPlan
    api_key: str
    submitted_at: float
    scheduled_at: float
    ends_at: float
    failure: tuple[str, str] | None = None  # (code, message): ends FAILED instead of SUCCEEDED
    canceled_at: float | None = None
    via: str = "/api/v1"  # where it was submitted: a DashScope API root, or a gateway dialect ("newapi", ...)
    gateway_id: str | None = None  # the id a gateway dialect handed out for it

    def state(self, now: float) -> str:
        if self.canceled_at is not None:
            return CANCELED
        if now < self.scheduled_at:
            return PENDING
        if now < self.ends_at:
            return RUNNING
        return FAILED if self.failure else SUCCEEDED

    def expired(self, now: float, ttl: float) -> bool:
        return now >= self.submitted_at + ttl


def usage_body(plan: SubmitPlan) -> dict[str, Any]:
    """The ``usage`` object of a SUCCEEDED poll: wan2.6 has its own shape."""
    sr = int(plan.tier.rstrip("P"))
    if plan.generation == "wan2.6":
        seconds_in = REFERENCE_VIDEO_SECONDS * plan.reference_videos
        return {
            "duration": float(plan.duration + seconds_in),
            "size": plan.size,
            "input_video_duration": seconds_in,
            "output_video_duration": plan.duration,
            "video_count": 1,
            "SR": sr,
        }
    usage: dict[str, Any] = {"video_duration": plan.duration, "video_count": 1}
    if plan.generation == "wan2.1":
        usage["video_ratio"] = "standard"
    elif plan.spec.uses_size:
        usage["video_ratio"] = plan.size
    else:
        usage["SR"] = sr
    return usage


def actual_prompt(plan: SubmitPlan) -> str:
    if not plan.prompt_extend:
        return plan.prompt
    return (plan.prompt + " " if plan.prompt else "") + "(Simulated prompt extension: soft light, steady camera.)"


def poll_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """The answer to ``GET /tasks/{id}`` for a known, unexpired task."""
    state = task.state(now)
    output: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": state,
        "submit_time": format_time(task.submitted_at),
    }
    if state in (RUNNING, SUCCEEDED, FAILED):
        output["scheduled_time"] = format_time(task.scheduled_at)
    if state in (SUCCEEDED, FAILED):
        output["end_time"] = format_time(task.ends_at)
    elif state == CANCELED and task.canceled_at is not None:
        output["end_time"] = format_time(task.canceled_at)
    body: dict[str, Any] = {"request_id": new_id(), "output": output}
    if state == SUCCEEDED:
        output["orig_prompt"] = task.plan.prompt
        if task.plan.generation != "wan2.6":
            output["actual_prompt"] = actual_prompt(task.plan)
        output["video_url"] = video_url
        body["usage"] = usage_body(task.plan)
    elif state == FAILED and task.failure:
        output["code"], output["message"] = task.failure
    return body


def unknown_body(task_id: str) -> dict[str, Any]:
    return {"request_id": new_id(), "output": {"task_id": task_id, "task_status": UNKNOWN}}


def list_item(task: SimTask, now: float) -> dict[str, Any]:
    """One row of ``GET /tasks``: times in epoch milliseconds, as the real list has them."""
    state = task.state(now)
    service = "image2video" if task.plan.spec.family is Family.KF2V else "video-generation"
    item: dict[str, Any] = {
        "api_key_id": "sim-" + hashlib.sha256(task.api_key.encode()).hexdigest()[:8],
        "caller_parent_id": "simulated",
        "caller_uid": "simulated",
        "gmt_create": int(task.submitted_at * 1000),
        "model_name": task.plan.model_name,
        "region": "simulated",
        "request_id": task.request_id,
        "status": state,
        "task_id": task.task_id,
        "user_api_unique_key": f"apikey:v1:aigc:{service}:video-synthesis:{task.plan.model_name}",
    }
    if state in (RUNNING, SUCCEEDED, FAILED):
        item["start_time"] = int(task.scheduled_at * 1000)
    if state in (SUCCEEDED, FAILED):
        item["end_time"] = int(task.ends_at * 1000)
    elif state == CANCELED and task.canceled_at is not None:
        item["end_time"] = int(task.canceled_at * 1000)
    return item


def _parse_list_time(value: str, name: str) -> float:
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise _invalid(f"The {name} must be formatted as YYYYMMDDhhmmss.") from None


def _positive_int(value: str | None, name: str, default: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(f"The {name} must be an integer.") from None
    if not 1 <= number <= high:
        raise _invalid(f"The {name} must be between 1 and {high}.")
    return number


def sign(secret: bytes, task_id: str, expires: int) -> str:
    return base64.b64encode(hmac.new(secret, f"{task_id}\n{expires}".encode(), hashlib.sha1).digest()).decode()


# --------------------------------------------------------------------------- gateway dialects (pure)

# The routes of each dialect begin with one of these; everything else is DashScope, the admin API or a result URL.
DIALECT_PREFIXES: tuple[tuple[str, str], ...] = (("/v1/video", "newapi"), ("/v2/", "yuto"), ("/model/", "vtrix"))
DIALECTS: tuple[str, ...] = ("newapi", "yuto", "vtrix")

# new-api's TaskDto: DashScope task_status -> status, and the fixed progress string of each status.
TASKDTO_STATUS = {
    PENDING: "QUEUED",
    RUNNING: "IN_PROGRESS",
    SUCCEEDED: "SUCCESS",
    FAILED: "FAILURE",
    CANCELED: "FAILURE",
    UNKNOWN: "FAILURE",
}
TASKDTO_PROGRESS = {
    "NOT_START": "0%",
    "SUBMITTED": "10%",
    "QUEUED": "20%",
    "IN_PROGRESS": "30%",
    "SUCCESS": "100%",
    "FAILURE": "100%",
}
TASKDTO_ACTION = {
    Family.T2V: "textGenerate",
    Family.I2V: "generate",
    Family.KF2V: "firstTailGenerate",
    Family.R2V: "referenceGenerate",
}
VTRIX_STATUS = {
    PENDING: "in_queue",
    RUNNING: "processing",
    SUCCEEDED: "done",
    FAILED: "failed",
    CANCELED: "failed",
    UNKNOWN: "failed",
}
VTRIX_INTERNAL_ERROR = "001026095"  # "Internal generation error" (seed 004's table)
_VTRIX_CODE_RE = re.compile(r"^\d{9}$")


def dialect_of(path: str) -> str:
    """The wire format a request path belongs to: "newapi", "yuto", "vtrix" or "dashscope"."""
    for prefix, dialect in DIALECT_PREFIXES:
        if path.startswith(prefix):
            return dialect
    return "dashscope"


@lru_cache(maxsize=1)
def _vtrix_models() -> dict[str, str]:
    """vtrix model id -> catalog id (the provider's table, read lazily: the simulator needs no httpx to start)."""
    from wan_video_mcp.server.providers.vtrix import VTRIX_MODEL_IDS

    return {vtrix_id: model for model, vtrix_id in VTRIX_MODEL_IDS.items()}


def _gateway_model(model: Any) -> str:
    """The model name of a gateway submit; an unknown one has no channel (new-api's distributor answers 503)."""
    if model is None or model == "":
        raise ApiError(400, "invalid_request", "model is required")
    if not isinstance(model, str) or model not in _WIRE_NAMES:
        raise ApiError(503, "model_not_found", f"No available channel for model {model} under group default")
    return model


def _service_of(model: str) -> str:
    return "image2video" if _WIRE_NAMES[model].family is Family.KF2V else "video-generation"


def newapi_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) new-api's Ali adaptor makes of a ``POST /v1/video/generations`` body.

    ``prompt`` -> input.prompt, ``input_reference`` -> input.img_url, ``duration`` (or the
    string ``seconds``) -> parameters.duration (default 5), ``prompt_extend`` defaults to true
    and ``watermark`` to false, a top-level ``size`` with ``*`` is a size and anything else a
    resolution (newer builds). Then ``metadata`` is laid over the whole struct, so
    ``metadata.input`` / ``metadata.parameters`` pass straight through (as newer builds keep
    every key). The adaptor always posts to video-generation, never to image2video.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    model = _gateway_model(body.get("model"))
    inputs: dict[str, Any] = {}
    if body.get("prompt") is not None:
        inputs["prompt"] = body["prompt"]
    if body.get("input_reference"):
        inputs["img_url"] = body["input_reference"]
    duration = body.get("duration")
    if duration is None and isinstance(body.get("seconds"), str) and body["seconds"].strip().isdigit():
        duration = int(body["seconds"])
    parameters: dict[str, Any] = {
        "duration": 5 if duration is None else duration,
        "prompt_extend": True,
        "watermark": False,
    }
    size = body.get("size")
    if isinstance(size, str) and size:
        if "*" in size:
            parameters["size"] = size
        else:
            parameters["resolution"] = size.upper() if size.upper().endswith("P") else size.upper() + "P"
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ApiError(400, "invalid_request", "metadata must be a JSON object")
        if metadata.get("model") not in (None, model):
            raise ApiError(400, "invalid_request", "the model in metadata must match the request model")
        for key, target in (("input", inputs), ("parameters", parameters)):
            part = metadata.get(key)
            if part is None:
                continue
            if not isinstance(part, dict):
                raise ApiError(400, "invalid_request", f"metadata.{key} must be a JSON object")
            target.update(part)
    return "video-generation", {"model": model, "input": inputs, "parameters": parameters}


def _flag(value: Any) -> Any:
    """Seed 000 types ``audio`` as a string: "true"/"false" are read as booleans, anything else is left as is."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def yuto_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) of a flat YutoAI ``POST /v2/videos/generations`` body.

    ``images[0]`` is the image of an i2v model (first and last frame of a kf2v model, sent to
    image2video), ``videos[]`` the reference videos of r2v; ``aspect_ratio`` is ignored.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    model = _gateway_model(body.get("model"))
    family = _WIRE_NAMES[model].family
    inputs = {k: body[k] for k in ("prompt", "negative_prompt", "audio_url", "template") if body.get(k) is not None}
    images = body.get("images")
    if images is not None and not isinstance(images, list):
        raise ApiError(400, "InvalidParameter", "images must be a list of URLs")
    if images:
        if family is Family.KF2V:
            inputs["first_frame_url"] = images[0]
            if len(images) > 1:
                inputs["last_frame_url"] = images[1]
        else:
            inputs["img_url"] = images[0]
    videos = body.get("videos")
    if videos:
        inputs["reference_video_urls"] = videos
    parameters = {
        k: _flag(body[k])
        for k in ("size", "resolution", "duration", "prompt_extend", "watermark", "seed", "audio", "shot_type")
        if body.get(k) is not None
    }
    return _service_of(model), {"model": model, "input": inputs, "parameters": parameters}


def vtrix_upstream(body: Any) -> tuple[str, dict[str, Any]]:
    """The DashScope (service, body) of a vtrix ``POST /model/v1/generation`` body, with seed 004's own rules.

    vtrix ids map back to catalog ids (``wan26_t2v`` -> ``wan2.6-t2v``). Seed 004 refuses
    more than 2 reference videos (001026001), audio with reference videos (001026002) and
    reference-video durations other than 5 or 10 (001026003), stricter than Alibaba.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter", "The request body must be a JSON object.")
    vtrix_id = body.get("model")
    if not isinstance(vtrix_id, str) or vtrix_id not in _vtrix_models():
        raise ApiError(400, "ModelNotFound", f"Model {vtrix_id!r} is not supported.")
    model = _vtrix_models()[vtrix_id]
    inputs = body.get("input")
    parameters = body.get("parameters")
    if isinstance(inputs, dict) and "reference_video_urls" in inputs:
        urls = inputs["reference_video_urls"]
        if not isinstance(urls, list) or not 1 <= len(urls) <= 2:
            raise ApiError(400, "001026001", "reference_video_urls must be 1-2 video URL array")
        if isinstance(parameters, dict) and parameters.get("audio") is True:
            raise ApiError(400, "001026002", "reference_video_urls cannot be used with audio parameter")
        if isinstance(parameters, dict) and parameters.get("duration", 5) not in (5, 10):
            raise ApiError(400, "001026003", "When using reference_video_urls, duration must be 5 or 10")
    return _service_of(model), {"model": model, "input": inputs, "parameters": parameters}


GATEWAY_UPSTREAM: dict[str, Callable[[Any], tuple[str, dict[str, Any]]]] = {
    "newapi": newapi_upstream,
    "yuto": yuto_upstream,
    "vtrix": vtrix_upstream,
}


def taskdto_status(task: SimTask, now: float) -> str:
    """new-api's TaskDto status: SUBMITTED for the first half of the queue time (before the gateway's
    first upstream poll), then QUEUED, IN_PROGRESS, SUCCESS or FAILURE."""
    state = task.state(now)
    if state == PENDING and now < (task.submitted_at + task.scheduled_at) / 2:
        return "SUBMITTED"
    return TASKDTO_STATUS[state]


def _fail_reason(task: SimTask, state: str) -> str:
    if state == FAILED and task.failure:
        return f"task failed, code: {task.failure[0]} , message: {task.failure[1]}"
    if state == CANCELED:
        return "task canceled upstream"
    return ""


def _times(task: SimTask, state: str) -> dict[str, int]:
    started = state in (RUNNING, SUCCEEDED, FAILED)
    finished = task.canceled_at if state == CANCELED else task.ends_at if state in (SUCCEEDED, FAILED) else None
    return {
        "submit_time": int(task.submitted_at),
        "start_time": int(task.scheduled_at) if started else 0,
        "finish_time": int(finished) if finished is not None else 0,
    }


def newapi_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v1/video/generations/{id}``: the ``{code, message, data: TaskDto}`` envelope, with the raw
    DashScope poll body in ``data.data`` and (legacy) the result URL in ``fail_reason`` on success."""
    state, status = task.state(now), taskdto_status(task, now)
    dto: dict[str, Any] = {
        "task_id": task.gateway_id,
        "action": TASKDTO_ACTION[task.plan.spec.family],
        "status": status,
        "fail_reason": _fail_reason(task, state),
    }
    if state == SUCCEEDED and video_url:
        dto["fail_reason"] = dto["result_url"] = video_url
    dto |= _times(task, state)
    dto["progress"] = TASKDTO_PROGRESS[status]
    dto["data"] = poll_body(task, now, video_url)
    return {"code": "success", "message": "", "data": dto}


def newapi_video_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v1/videos/{id}`` (new-api's OpenAI-style view of the same task)."""
    state = task.state(now)
    status = {PENDING: "queued", RUNNING: "in_progress", SUCCEEDED: "completed"}.get(state, "failed")
    body: dict[str, Any] = {
        "id": task.gateway_id,
        "object": "video",
        "model": task.plan.model_name,
        "status": status,
        "progress": int(TASKDTO_PROGRESS[taskdto_status(task, now)][:-1]),
        "created_at": int(task.submitted_at),
    }
    if state in (SUCCEEDED, FAILED):
        body["completed_at"] = int(task.ends_at)
    if state == SUCCEEDED:
        body["metadata"] = {"url": video_url}
    elif state in (FAILED, CANCELED):
        code, message = task.failure or ("Canceled", "task canceled upstream")
        body["error"] = {"code": code, "message": message}
    return body


def yuto_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /v2/videos/generations/{task_id}``: a flat TaskDto with the result in ``data.output(s)``."""
    state, status = task.state(now), taskdto_status(task, now)
    body: dict[str, Any] = {"task_id": task.gateway_id, "status": status, "fail_reason": _fail_reason(task, state)}
    body |= _times(task, state)
    body["progress"] = TASKDTO_PROGRESS[status]
    body["data"] = {"output": video_url, "outputs": [video_url]} if state == SUCCEEDED and video_url else None
    return body


def vtrix_failure(failure: tuple[str, str]) -> tuple[str, str]:
    """A task failure as vtrix reports it: a 9-digit code passes through; DashScope's codes become
    001026095 "Internal generation error", with the upstream code and message kept in the message."""
    code, message = failure
    if _VTRIX_CODE_RE.match(code):
        return code, message
    return VTRIX_INTERNAL_ERROR, f"Internal generation error: {code}: {message}"


def vtrix_cost(plan: SubmitPlan) -> str:
    """``usage.cost`` in USD: the catalog's list price of the output seconds."""
    try:
        per_second = plan.spec.price.usd(plan.tier, silent=not plan.audio)
    except (KeyError, AttributeError):
        per_second = 0.0
    return f"{per_second * plan.duration:.2f}"


def vtrix_task_body(task: SimTask, now: float, video_url: str | None) -> dict[str, Any]:
    """``GET /model/v1/generation/task/{id}``: ``output``/``usage`` only when done, ``error`` only when failed."""
    state = task.state(now)
    status = VTRIX_STATUS[state]
    body: dict[str, Any] = {"id": task.gateway_id, "status": status}
    if state == SUCCEEDED and video_url:
        body["output"] = [{"status": status, "content": [{"type": "video", "url": video_url, "jobId": task.task_id}]}]
        body["usage"] = {"cost": vtrix_cost(task.plan), "discount": 0}
    elif state in (FAILED, CANCELED):
        code, message = vtrix_failure(task.failure or (VTRIX_INTERNAL_ERROR, "Task canceled upstream"))
        body["error"] = {"code": code, "message": message}
    return body


# --------------------------------------------------------------------------- faults and counters

FAULT_TARGETS: tuple[str, ...] = ("submit", "poll", "cancel", "list", "download")
REQUEST_FAULTS: tuple[str, ...] = ("429", "500", "503", "reset", "hang", "malformed", "oversized")
DOWNLOAD_FAULTS: tuple[str, ...] = ("expired", "truncated", "slow", "html", "text", "redirect")


@dataclass
class Fault:
    """One armed fault: the next ``remaining`` requests of ``target`` get ``kind``.

    kind, for every target:
      "429" (with ``Retry-After: retry_after``), "500", "503": an error answer
          (``code``/``message`` override the realistic defaults);
      "reset": the TCP connection is reset (RST) instead of answered;
      "hang": nothing is answered for ``seconds``, then the connection is closed;
      "malformed": a 200 whose JSON is cut short (for a download: bytes that are no MP4);
      "oversized": a 200 whose JSON body is ``size`` bytes long (padding in an extra field).
    With ``processed=True`` the request takes effect first (a submit creates its task),
    so the client sees a failure for something that happened.
    kind, for downloads only:
      "expired": 403 with OSS's AccessDenied "Request has expired." XML;
      "truncated": Content-Length announces the whole file, ``truncate_at`` bytes
          (default: half) are sent, then the connection closes;
      "slow": the body is sent at ``bytes_per_second``;
      "html": a 200 text/html page (a captive portal or a gateway's error page);
      "text": a 200 text/plain body;
      "redirect": a 302 to ``location``.
    """

    target: str
    kind: str
    remaining: int = 1
    retry_after: float = 1.0
    seconds: float = 30.0
    processed: bool = False
    bytes_per_second: int = 64 * 1024
    truncate_at: int | None = None
    code: str | None = None
    message: str | None = None
    size: int = 50 * 1024 * 1024
    location: str | None = None

    def __post_init__(self) -> None:
        if self.target not in FAULT_TARGETS:
            raise ValueError(f"fault target {self.target!r} is not one of {', '.join(FAULT_TARGETS)}")
        kinds = REQUEST_FAULTS + (DOWNLOAD_FAULTS if self.target == "download" else ())
        self.kind = str(self.kind)
        if self.kind not in kinds:
            raise ValueError(f"fault kind {self.kind!r} is not valid for {self.target}; allowed: {', '.join(kinds)}")
        if self.remaining < 1:
            raise ValueError("fault count must be at least 1")
        if self.bytes_per_second < 1:
            raise ValueError("bytes_per_second must be at least 1")


class Faults:
    """The armed faults. Thread-safe: tests may arm them from the thread that runs a client."""

    def __init__(self, fail_task: Callable[[str, str, str], None]) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._next_failures: list[tuple[str, str]] = []
        self._fail_task = fail_task

    def add(self, target: str, kind: str | int, count: int = 1, **options: Any) -> Fault:
        """Arm ``kind`` for the next ``count`` requests of ``target``; see ``Fault``."""
        fault = Fault(target=target, kind=str(kind), remaining=count, **options)
        with self._lock:
            self._armed.append(fault)
        return fault

    def submit(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("submit", kind, count, **options)

    def poll(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("poll", kind, count, **options)

    def download(self, kind: str | int, count: int = 1, **options: Any) -> Fault:
        return self.add("download", kind, count, **options)

    def fail_next_task(self, code: str = DEFAULT_FAILURE_CODE, message: str | None = None) -> None:
        """The next accepted submit creates a task that ends FAILED with this code and message."""
        with self._lock:
            self._next_failures.append((code, message or FAILURE_MESSAGES.get(code, "Simulated failure.")))

    def fail_task(self, task_id: str, code: str = DEFAULT_FAILURE_CODE, message: str | None = None) -> None:
        """This task, still PENDING or RUNNING, ends FAILED. KeyError: unknown; ValueError: already ended."""
        self._fail_task(task_id, code, message or FAILURE_MESSAGES.get(code, "Simulated failure."))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._next_failures.clear()

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._armed] + [
                {"target": "task", "kind": "fail", "code": c, "message": m} for c, m in self._next_failures
            ]

    def take(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self._armed:
                if fault.target == target:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def take_task_failure(self) -> tuple[str, str] | None:
        with self._lock:
            return self._next_failures.pop(0) if self._next_failures else None


@dataclass
class Stats:
    """What the simulator received. ``submits`` counts every submit request, refused or not, in every dialect."""

    connections: int = 0
    requests: int = 0
    submits: int = 0
    submits_accepted: int = 0  # tasks created
    polls: int = 0
    cancels: int = 0
    lists: int = 0
    downloads: int = 0  # GET requests for a video URL
    downloads_completed: int = 0  # whole bodies sent
    renders: int = 0
    faults_applied: int = 0

    @property
    def submits_refused(self) -> int:
        return self.submits - self.submits_accepted

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self), "submits_refused": self.submits_refused}

    def reset(self) -> None:
        for name in asdict(self):
            setattr(self, name, 0)


# --------------------------------------------------------------------------- rendering

# A 5x7 bitmap font: seven rows of five pixels per glyph; "\x7f" is the box drawn for other scripts.
_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    ";": "00000 01100 01100 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "!": "00100 00100 00100 00100 00100 00000 00100",
    "?": "01110 10001 00001 00010 00100 00000 00100",
    "'": "00100 00100 01000 00000 00000 00000 00000",
    '"': "01010 01010 00000 00000 00000 00000 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000",
    "*": "00000 00100 10101 01110 10101 00100 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "#": "01010 01010 11111 01010 11111 01010 01010",
    "&": "01100 10010 10100 01000 10101 10010 01101",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "@": "01110 10001 00001 01101 10101 10101 01110",
    "\x7f": "11111 10001 10001 10001 10001 10001 11111",
}
_FONT = {ch: tuple(int(row, 2) for row in rows.split()) for ch, rows in _GLYPHS.items()}
_FG, _BG = 235, 16  # luma of text and of its box


def _ascii_text(text: str) -> str:
    """Upper-case ASCII the font can draw: accents dropped, other scripts as boxes."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        up = ch.upper()
        if up in _FONT:
            out.append(up)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append("\x7f" if ch.isalnum() else "?")
    return "".join(out)


@lru_cache(maxsize=4096)
def _glyph_row(bits: int, scale: int) -> bytes:
    pixels = bytes(_FG if bits & (1 << (4 - col)) else _BG for col in range(5)) + bytes([_BG])
    return bytes(b for b in pixels for _ in range(scale))


def _text_block(text: str, scale: int) -> list[bytes]:
    """Rasterise one line (drawable characters only) into rows of luma, with a one-pixel box margin."""
    pad = bytes([_BG]) * scale
    rows = []
    for r in range(7):
        row = pad + b"".join(_glyph_row(_FONT[ch][r], scale) for ch in text)
        rows.extend([row] * scale)
    blank = bytes([_BG]) * len(rows[0])
    return [blank] * scale + rows + [blank] * scale


@dataclass(frozen=True)
class RenderJob:
    """What one video shows; built from the task, rendered in a worker thread."""

    width: int
    height: int
    duration: int
    fps: int
    audio: bool
    title: str  # e.g. "wan2.6-t2v 1280*720 5s"
    prompt: str
    task_id: str


class _Aborted(Exception):
    pass


def _tri(x: float) -> float:
    """A triangle wave in [0, 1] with period 1."""
    x = x % 1.0
    return 2 * x if x < 0.5 else 2 - 2 * x


class _Painter:
    """Builds the planes of each frame from precomputed rows: a few slice copies per frame, no per-pixel loops."""

    def __init__(self, job: RenderJob, y_stride: int, c_stride: int) -> None:
        self.job = job
        w, h = job.width, job.height
        self.ys, self.cs = y_stride, c_stride
        self.frames = job.duration * job.fps
        digest = hashlib.sha256((job.prompt + job.task_id).encode()).digest()
        self.hue = digest[0] / 255 * 2 * math.pi
        # Diagonal stripes that drift: row r of frame i is variant (r + shift_i) % period of one long row.
        self.period = 64
        long_row = bytes(int(40 + 70 * _tri(x / self.period)) for x in range(w + self.period))
        pad = bytes(y_stride - w)
        tall_rows = [long_row[k % self.period : k % self.period + w] + pad for k in range(h + self.period)]
        self.tall = b"".join(tall_rows)
        self.scale = max(1, min(w, h) // 180)
        self.margin = 4 * self.scale
        self.overlays: list[tuple[int, int, list[bytes]]] = []
        self._layout()
        bar_h = max(2, self.scale * 2) // 2 * 2
        self.bar = (self.margin, h - self.margin - bar_h, w - 2 * self.margin, bar_h)
        self.box = max(8, h // 10) // 2 * 2

    def _layout(self) -> None:
        job, s, m = self.job, self.scale, self.margin
        cols = max(4, (job.width - 2 * m) // (6 * s) - 1)
        y = m
        lines: list[tuple[str, int]] = [("SIMULATED", 2 * s)]
        for info in ("Wan video simulator - not a real generation", job.title, f"task {job.task_id}"):
            lines += [(line, s) for line in textwrap.wrap(_ascii_text(info), cols)]
        prompt = _ascii_text(job.prompt) or "(no prompt)"
        bottom = job.height - m - 14 * s
        room = max(0, (bottom - y - sum(9 * sc + s for _, sc in lines)) // (9 * s + s))
        lines += [(line, s) for line in textwrap.wrap(prompt, cols, max_lines=max(1, room), placeholder=" ...")]
        for text, scale in lines:
            block = _text_block(text, scale)
            if y + len(block) > bottom:
                break
            self.overlays.append((m, y, block))
            y += len(block) + s

    def _put(self, plane: bytearray, stride: int, x: int, y: int, rows: list[bytes], width: int, height: int) -> None:
        for i, row in enumerate(rows):
            if y + i >= height:
                break
            row = row[: max(0, width - x)]
            start = (y + i) * stride + x
            plane[start : start + len(row)] = row

    def planes(self, i: int) -> tuple[bytearray, bytearray, bytearray]:
        job, w, h = self.job, self.job.width, self.job.height
        shift = (i * 2) % self.period
        y_plane = bytearray(self.tall[shift * self.ys : (shift + h) * self.ys])
        angle = self.hue + 2 * math.pi * i / max(1, self.frames)
        u_val, v_val = int(128 + 40 * math.cos(angle)), int(128 + 40 * math.sin(angle))
        cw, ch = (w + 1) // 2, (h + 1) // 2
        u_plane = bytearray([u_val]) * (self.cs * ch)
        v_plane = bytearray([v_val]) * (self.cs * ch)
        # A square bouncing across the lower third, in the complementary colour.
        span = max(1, w - self.box)
        bx = int(_tri(i / max(1, 2 * job.fps)) * span) // 2 * 2
        by = (h * 2 // 3) // 2 * 2
        box_rows = [bytes([235]) * self.box] * self.box
        self._put(y_plane, self.ys, bx, by, box_rows, w, h)
        half = self.box // 2
        self._put(u_plane, self.cs, bx // 2, by // 2, [bytes([256 - u_val]) * half] * half, cw, ch)
        self._put(v_plane, self.cs, bx // 2, by // 2, [bytes([256 - v_val]) * half] * half, cw, ch)
        # Static text, on neutral grey chroma so it reads white on black.
        overlays = list(self.overlays)
        clock = _ascii_text(f"t {i / job.fps:05.2f}s / {job.duration}s  frame {i + 1}/{self.frames}")
        overlays.append((self.margin, self.bar[1] - 10 * self.scale, _text_block(clock, self.scale)))
        for x, y, rows in overlays:
            self._put(y_plane, self.ys, x, y, rows, w, h)
            grey = [bytes([128]) * ((len(rows[0]) + 1) // 2)] * ((len(rows) + 1) // 2)
            self._put(u_plane, self.cs, x // 2, y // 2, grey, cw, ch)
            self._put(v_plane, self.cs, x // 2, y // 2, grey, cw, ch)
        # Progress bar.
        bx0, by0, bw, bh = self.bar
        filled = max(1, bw * (i + 1) // max(1, self.frames))
        self._put(y_plane, self.ys, bx0, by0, [bytes([200]) * filled] * bh, w, h)
        return y_plane, u_plane, v_plane


def _pyav() -> Any | None:
    try:
        import av
    except ImportError:
        return None
    return av


_warned_fallback = False


def _write_fallback(path: Path, *, forced: bool = False) -> str:
    global _warned_fallback
    if not _warned_fallback and not forced:
        _warned_fallback = True
        logger.warning(
            "PyAV is not available: the simulator serves a fixed %s placeholder MP4 instead of a "
            "video of the requested size and length; the real renderer needs `pip install av`",
            FALLBACK_MP4_SHAPE,
        )
    tmp = path.with_suffix(".part")
    tmp.write_bytes(base64.b64decode(_FALLBACK_MP4_B64))
    tmp.replace(path)
    return "fallback"


def render_mp4(path: Path, job: RenderJob, *, stop: threading.Event | None = None, use_pyav: bool = True) -> str:
    """Write the MP4 for ``job`` at ``path`` (atomically); return "pyav" or "fallback".

    Blocking and CPU-bound: call it from a worker thread. ``stop`` aborts between frames.
    """
    av = _pyav() if use_pyav else None
    if av is None:
        return _write_fallback(path, forced=not use_pyav)
    tmp = path.with_suffix(".part")
    container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream(
            "libx264", rate=job.fps, options={"preset": "ultrafast", "crf": "30", "g": str(2 * job.fps)}
        )
        video.width, video.height, video.pix_fmt = job.width, job.height, "yuv420p"
        audio = None
        if job.audio:
            audio = container.add_stream("aac", rate=44100, layout="mono")
            audio.bit_rate = 64000
        template = av.VideoFrame(job.width, job.height, "yuv420p")
        painter = _Painter(job, template.planes[0].line_size, template.planes[1].line_size)
        tone = _tone(44100) if audio else b""
        samples_total = job.duration * 44100
        samples_done = 0
        for i in range(painter.frames):
            if stop is not None and stop.is_set():
                raise _Aborted
            frame = av.VideoFrame(job.width, job.height, "yuv420p")
            for plane, data in zip(frame.planes, painter.planes(i), strict=True):
                plane.update(bytes(data))
            frame.pts, frame.time_base = i, Fraction(1, job.fps)
            container.mux(video.encode(frame))
            # Keep the audio up with the video so the muxer can interleave.
            while audio is not None and samples_done < min(samples_total, (i + 1) * 44100 // job.fps):
                n = min(1024, samples_total - samples_done)
                afr = av.AudioFrame(format="fltp", layout="mono", samples=n)
                offset = (samples_done % 44100) * 4
                chunk = (tone + tone)[offset : offset + n * 4]
                afr.planes[0].update(chunk + bytes(afr.planes[0].buffer_size - len(chunk)))
                afr.pts, afr.sample_rate, afr.time_base = samples_done, 44100, Fraction(1, 44100)
                container.mux(audio.encode(afr))
                samples_done += n
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    container.close()
    tmp.replace(path)
    return "pyav"


@lru_cache(maxsize=1)
def _tone(rate: int) -> bytes:
    """One second of a quiet 440 Hz tone with a 2 Hz pulse, as float32 samples (whole cycles: it loops)."""
    two_pi = 2 * math.pi
    samples = array(
        "f",
        (0.2 * math.sin(two_pi * 440 * t / rate) * (0.6 + 0.4 * math.cos(two_pi * 2 * t / rate)) for t in range(rate)),
    )
    return samples.tobytes()


# --------------------------------------------------------------------------- HTTP


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_range: tuple[int, int] | None = None  # inclusive byte range of ``file``
    throttle: int | None = None  # bytes per second
    truncate_at: int | None = None  # body bytes sent before the connection is closed
    close: bool = False

    @property
    def length(self) -> int:
        if self.file_range is not None:
            return self.file_range[1] - self.file_range[0] + 1
        return len(self.body)


class _CloseConnection(Exception):
    pass


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None, *, label: bool = True) -> _Response:
    data = {**body, "simulated": True} if label else body
    return _Response(status, json.dumps(data, ensure_ascii=False).encode(), headers=headers or {})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Response:
    return _json(status, {"code": code, "message": message, "request_id": new_id()}, headers)


def _gateway_error(dialect: str, status: int, code: str, message: str, *, openai: bool = False) -> _Response:
    """An error in a gateway's own shape: vtrix ``{"error": {code, message}}``; new-api (and YutoAI) answer
    task errors as ``{code, message, data}`` and their middleware's (key, channel) OpenAI-style."""
    if dialect == "vtrix":
        return _json(status, {"error": {"code": code, "message": message}})
    if openai:
        return _json(status, {"error": {"message": message, "type": "new_api_error", "code": code}})
    return _json(status, {"code": code, "message": message, "data": None})


def _oss_error(status: int, code: str, message: str, **extra: str) -> _Response:
    fields = "".join(
        f"  <{k}>{v}</{k}>\n"
        for k, v in {
            "Code": code,
            "Message": message,
            "RequestId": uuid.uuid4().hex.upper()[:24],
            "HostId": "simulated-oss.127.0.0.1",
            **extra,
        }.items()
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n{fields}</Error>\n'.encode()
    return _Response(status, body, content_type="application/xml")


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None | Literal["invalid"]:
    """One ``bytes=`` range; None when absent or not a single range (then the whole file is sent)."""
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    first, _, last = value[6:].strip().partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), (int(last) if last else size - 1)
    except ValueError:
        return None
    end = min(end, size - 1)
    if start > end or start >= size:
        return "invalid"
    return start, end


async def _read_request(reader: BufferedByteReceiveStream, stream: SocketStream) -> _Request | None:
    """Read one request; None when the peer closed the connection between requests."""
    try:
        head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD_BYTES)
    except (anyio.IncompleteRead, anyio.EndOfStream):
        return None
    except anyio.DelimiterNotFound:
        await stream.send(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        return None
    lines = head.lstrip(b"\r\n").decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        await stream.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.receive_until(b"\r\n", 1024)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while await reader.receive_until(b"\r\n", MAX_HEAD_BYTES):  # trailers
                    pass
                break
            if len(body) + size > MAX_BODY_BYTES:
                raise _CloseConnection
            body += await reader.receive_exactly(size)
            await reader.receive_exactly(2)
        data = bytes(body)
    else:
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY_BYTES:
            await stream.send(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        data = await reader.receive_exactly(length) if length else b""
    parts = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return _Request(method.upper(), parts.path or "/", query, version, headers, data)


async def _reset(stream: SocketStream) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


# --------------------------------------------------------------------------- the service


@dataclass
class _RenderState:
    done: anyio.Event
    path: Path | None = None


Handler = Callable[[_Request, Fault | None], Awaitable[_Response]]


class Simulator:
    """The simulated service: ``async with Simulator(config) as sim:`` serves on 127.0.0.1 until exit.

    ``sim.base_url`` (…/api/v1) goes where a DashScope base URL goes, ``sim.root_url`` where a
    gateway's (new-api, YutoAI, vtrix) goes; ``sim.faults`` arms faults, ``sim.stats`` counts
    what arrived, ``sim.advance(s)`` moves its clock.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.faults = Faults(self._fail_task)
        self.stats = Stats()
        self.port = 0
        self._offset = 0.0
        self._tasks: dict[str, SimTask] = {}
        self._gateway_ids: dict[tuple[str, str], str] = {}  # (dialect, gateway id) -> task id
        self._renders: dict[str, _RenderState] = {}
        self._random = random.Random(self.config.seed)
        self._secret = uuid.uuid4().bytes
        self._stop = threading.Event()
        self._limiter = anyio.CapacityLimiter(max(1, self.config.max_concurrent_renders))
        self._tmpdir: Path | None = None
        self.render_dir: Path | None = self.config.render_dir  # a temporary directory made at the first render
        self._dir_lock = anyio.Lock()
        self._listener: Any = None
        self._tg: Any = None

    # ---- lifecycle

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/v1"

    async def __aenter__(self) -> Simulator:
        self._listener = await anyio.create_tcp_listener(local_host=HOST, local_port=self.config.port)
        self.port = self._listener.extra(SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._listener.serve, self._serve_connection)
        logger.info("Wan simulator listening on %s (offline; every result is simulated)", self.base_url)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._tg.cancel_scope.cancel()
        try:
            # The body's own exception, if any, propagates unchanged (not wrapped in a group).
            await self._tg.__aexit__(None, None, None)
        finally:
            await self._listener.aclose()
            if self._tmpdir is not None:
                await anyio.to_thread.run_sync(shutil.rmtree, self._tmpdir, True)

    # ---- clock and tasks

    def now(self) -> float:
        return self.config.clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (task states, task TTL, URL expiry all follow)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    def task(self, task_id: str) -> SimTask | None:
        return self._tasks.get(task_id)

    @property
    def tasks(self) -> list[SimTask]:
        return list(self._tasks.values())

    def video_url(self, task: SimTask) -> str:
        expires = int(task.ends_at + self.config.url_ttl_seconds)
        signature = quote(sign(self._secret, task.task_id, expires), safe="")
        return (
            f"{self.root_url}/results/{task.task_id}.mp4?Expires={expires}"
            f"&OSSAccessKeyId=SIMULATED&Signature={signature}"
        )

    def _create_task(self, plan: SubmitPlan, api_key: str, via: str = "/api/v1") -> SimTask:
        cfg, now = self.config, self.now()

        def spread(seconds: float) -> float:
            return max(0.0, seconds * self._random.uniform(1 - cfg.jitter, 1 + cfg.jitter))

        queue, run = spread(cfg.queue_seconds), spread(cfg.run_seconds)
        task = SimTask(
            task_id=new_id(),
            request_id=new_id(),
            plan=plan,
            api_key=api_key,
            submitted_at=now,
            scheduled_at=now + queue,
            ends_at=now + queue + run,
            failure=self.faults.take_task_failure(),
            via=via,
        )
        if via in DIALECTS:
            # new-api hands out its own task_... ids; YutoAI and vtrix ids are opaque (uuid-like) here.
            task.gateway_id = "task_" + uuid.uuid4().hex if via == "newapi" else new_id()
            self._gateway_ids[(via, task.gateway_id)] = task.task_id
        self._tasks[task.task_id] = task
        self.stats.submits_accepted += 1
        return task

    def gateway_task(self, dialect: str, gateway_id: str) -> SimTask | None:
        """The task a gateway dialect knows by ``gateway_id``."""
        task_id = self._gateway_ids.get((dialect, gateway_id))
        return self._tasks.get(task_id) if task_id else None

    def _fail_task(self, task_id: str, code: str, message: str) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        state = task.state(self.now())
        if state not in (PENDING, RUNNING):
            raise ValueError(f"task {task_id} is already {state}")
        task.failure = (code, message)

    def _live_task(self, task_id: str) -> SimTask | None:
        task = self._tasks.get(task_id)
        if task is None or task.expired(self.now(), self.config.task_ttl_seconds):
            return None
        return task

    async def rendered(self, task_id: str) -> Path:
        """The task's MP4 on disk, rendering it first if needed."""
        task = self._tasks[task_id]
        state = self._renders.get(task_id)
        if state is None:
            state = self._renders[task_id] = _RenderState(anyio.Event())
            self._tg.start_soon(self._render, task, state)
        await state.done.wait()
        assert state.path is not None
        return state.path

    async def _render_dir(self) -> Path:
        async with self._dir_lock:
            if self.render_dir is None:
                # On the loop, not in a thread: a cancelled await must not leave a directory nobody removes.
                self._tmpdir = self.render_dir = Path(tempfile.mkdtemp(prefix="wan-simulator-"))
            else:
                await anyio.Path(self.render_dir).mkdir(parents=True, exist_ok=True)
            return self.render_dir

    async def _render(self, task: SimTask, state: _RenderState) -> None:
        plan = task.plan
        job = RenderJob(
            width=plan.width,
            height=plan.height,
            duration=plan.duration,
            fps=self.config.fps,
            audio=plan.audio,
            title=f"{plan.model_name} {plan.size} {plan.duration}s" + (" audio" if plan.audio else ""),
            prompt=plan.prompt,
            task_id=task.task_id,
        )
        use_pyav = self.config.renderer == "auto"
        started = time.perf_counter()
        path = Path(task.task_id + ".mp4")
        try:
            path = await self._render_dir() / path
            try:
                how = await anyio.to_thread.run_sync(
                    lambda: render_mp4(path, job, stop=self._stop, use_pyav=use_pyav), limiter=self._limiter
                )
            except _Aborted:
                return
            except Exception:
                logger.exception("rendering %s failed; serving the placeholder MP4", task.task_id)
                how = await anyio.to_thread.run_sync(_write_fallback, path)
            self.stats.renders += 1
            logger.debug("rendered %s (%s, %s) in %.2f s", task.task_id, how, plan.size, time.perf_counter() - started)
        except Exception:  # e.g. a full disk: the download then answers 500 instead of waiting forever
            logger.exception("cannot write %s", path)
        finally:
            state.path = path
            state.done.set()

    # ---- connections

    async def _serve_connection(self, stream: SocketStream) -> None:
        self.stats.connections += 1
        reader = BufferedByteReceiveStream(stream)
        try:
            async with stream:
                while True:
                    request = None
                    with anyio.move_on_after(KEEPALIVE_IDLE_SECONDS):
                        request = await _read_request(reader, stream)
                    if request is None or not await self._respond(request, stream):
                        break
        except (
            _CloseConnection,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.DelimiterNotFound,
            ConnectionError,
            ValueError,
            OSError,
        ):
            pass  # the peer went away or sent garbage: drop the connection
        except Exception:  # a bug must not take the listener down with it
            logger.exception("simulator connection handler failed")

    def _route(self, req: _Request) -> tuple[str, Handler]:
        path, method = req.path, req.method
        if path == "/_sim" or path.startswith("/_sim/"):
            return "admin", self._admin
        if path.startswith("/results/"):
            return "download", self._download
        dialect = dialect_of(path)
        if dialect != "dashscope":
            return self._gateway_route(req, dialect)
        for prefix in API_PREFIXES:
            if path.startswith(prefix + "/"):
                sub = path[len(prefix) :].rstrip("/")  # the aio SDK polls /tasks/{id}/
                break
        else:
            return "other", self._not_found
        if sub in SERVICES:
            service = SERVICES[sub]
            return (
                ("submit", lambda r, f: self._submit(r, service, prefix))
                if method == "POST"
                else ("other", self._method)
            )
        if match := re.fullmatch(r"/tasks/([^/]+)/cancel", sub):
            task_id = match.group(1)
            return ("cancel", lambda r, f: self._cancel(r, task_id)) if method == "POST" else ("other", self._method)
        if match := re.fullmatch(r"/tasks/([^/]+)", sub):
            task_id = match.group(1)
            return ("poll", lambda r, f: self._poll(r, task_id)) if method == "GET" else ("other", self._method)
        if sub == "/tasks":
            return ("list", self._list) if method == "GET" else ("other", self._method)
        if sub.startswith("/services/"):
            return "other", self._bad_service
        return "other", self._not_found

    async def _respond(self, req: _Request, stream: SocketStream) -> bool:
        """Answer one request; return whether the connection stays open."""
        self.stats.requests += 1
        target, handler = self._route(req)
        counter = {"submit": "submits", "poll": "polls", "cancel": "cancels", "list": "lists"}.get(target)
        if counter:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        fault = self.faults.take(target) if target in FAULT_TARGETS else None
        if fault is not None:
            self.stats.faults_applied += 1
            logger.info("fault %s on %s %s", fault.kind, req.method, req.path)
        breaks = fault is not None and fault.kind in ("reset", "hang")
        replaces = fault is not None and (
            fault.kind in FAULT_ERRORS or (fault.kind in ("malformed", "oversized") and target != "download")
        )  # downloads: the handler's job
        if fault is not None and not fault.processed and breaks:  # the request never takes effect
            await self._break(stream, fault)
            return False
        if fault is not None and not fault.processed and replaces:
            response = self._fault_response(fault, dialect_of(req.path))
        else:
            try:
                response = await handler(req, fault)
            except Exception:
                logger.exception("simulator error on %s %s", req.method, req.path)
                response = _error(500, "InternalError", "The simulator failed on this request (a bug; see its log).")
            if fault is not None and fault.processed and breaks:  # it took effect, but no answer comes back
                await self._break(stream, fault)
                return False
            if fault is not None and fault.processed and replaces:
                response = self._fault_response(fault, dialect_of(req.path))
        keep_alive = req.keep_alive and not response.close
        return await self._send(stream, req, response, keep_alive) and keep_alive

    async def _break(self, stream: SocketStream, fault: Fault) -> None:
        if fault.kind == "hang":
            await anyio.sleep(fault.seconds)
            await stream.aclose()
        else:
            await _reset(stream)

    def _fault_response(self, fault: Fault, dialect: str = "dashscope") -> _Response:
        if fault.kind == "oversized":
            head = b'{"request_id":"' + new_id().encode() + b'","padding":"'
            return _Response(200, head + b"x" * max(0, fault.size - len(head) - 2) + b'"}')
        if fault.kind == "malformed":
            if dialect != "dashscope":
                return _Response(200, b'{"code":"success","data":{"task_id":"' + new_id().encode())
            return _Response(200, b'{"request_id":"' + new_id().encode() + b'","output":{"task_id":"')
        status, code, message = FAULT_ERRORS[fault.kind]
        headers = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.kind == "429" else {}
        if dialect != "dashscope":  # the gateway relays the upstream error in its own shape
            return _json(
                status,
                {"error": {"code": fault.code or code, "message": fault.message or message, "type": "upstream_error"}},
                headers,
            )
        return _error(status, fault.code or code, fault.message or message, headers)

    async def _send(self, stream: SocketStream, req: _Request, resp: _Response, keep_alive: bool) -> bool:
        """Write the response; return False when the body was cut short on purpose."""
        try:
            phrase = HTTPStatus(resp.status).phrase
        except ValueError:
            phrase = ""
        headers = {
            "Date": email.utils.formatdate(self.now(), usegmt=True),
            "Server": "wan-video-mcp-simulator",
            "Content-Type": resp.content_type,
            "Content-Length": str(resp.length),
            "Connection": "keep-alive" if keep_alive else "close",
            SIMULATOR_HEADER[0]: SIMULATOR_HEADER[1],
            **resp.headers,
        }
        head = f"HTTP/1.1 {resp.status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        await stream.send(head.encode("latin-1") + b"\r\n")
        if req.method == "HEAD":
            return True
        limit = resp.truncate_at if resp.truncate_at is not None else resp.length
        if resp.file is None:
            if resp.body:
                await stream.send(resp.body[:limit])
        else:
            assert resp.file_range is not None
            start, end = resp.file_range
            sent, total = 0, min(limit, end - start + 1)
            step = CHUNK if resp.throttle is None else max(1, resp.throttle // 10)
            async with await anyio.open_file(resp.file, "rb") as handle:
                await handle.seek(start)
                while sent < total:
                    data = await handle.read(min(step, total - sent))
                    if not data:
                        break
                    await stream.send(data)
                    sent += len(data)
                    if resp.throttle is not None:
                        await anyio.sleep(len(data) / resp.throttle)
        if limit < resp.length:
            await stream.aclose()
            return False
        if resp.content_type == "video/mp4" and resp.status in (200, 206):
            self.stats.downloads_completed += 1
        return True

    # ---- API handlers

    def _auth(self, req: _Request) -> tuple[str | None, _Response | None]:
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None, _error(401, "InvalidApiKey", MSG_NO_KEY)
        if self.config.required_key is not None and key != self.config.required_key:
            return None, _error(401, "InvalidApiKey", MSG_BAD_KEY)
        return key, None

    async def _submit(self, req: _Request, service: str, prefix: str = "/api/v1") -> _Response:
        key, refused = self._auth(req)
        if refused is not None:
            return refused
        assert key is not None
        if req.headers.get("x-dashscope-async", "").lower() != "enable":
            return _error(403, "AccessDenied", MSG_SYNC)
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return _error(400, "InvalidParameter", "The request body is not valid JSON.")
        try:
            plan = plan_submit(service, body)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        task = self._create_task(plan, key, via=prefix)
        return _json(200, {"output": {"task_status": PENDING, "task_id": task.task_id}, "request_id": task.request_id})

    async def _poll(self, req: _Request, task_id: str) -> _Response:
        _, refused = self._auth(req)
        if refused is not None:
            return refused
        task = self._live_task(task_id)
        if task is None:
            return _json(200, unknown_body(task_id))
        now = self.now()
        return _json(200, poll_body(task, now, self._result_url(task, now)))

    def _result_url(self, task: SimTask, now: float) -> str | None:
        """The signed video URL of a SUCCEEDED task (its rendering starts now, so the first download is quick)."""
        if task.state(now) != SUCCEEDED:
            return None
        if task.task_id not in self._renders:
            self._renders[task.task_id] = state = _RenderState(anyio.Event())
            self._tg.start_soon(self._render, task, state)
        return self.video_url(task)

    async def _cancel(self, req: _Request, task_id: str) -> _Response:
        _, refused = self._auth(req)
        if refused is not None:
            return refused
        task = self._live_task(task_id)
        now = self.now()
        if task is None or task.state(now) != PENDING:
            return _error(400, "UnsupportedOperation", MSG_CANCEL)
        task.canceled_at = now
        # No "simulated" field here: the SDK would show it as the whole output (the header still says it).
        return _json(200, {"request_id": new_id()}, label=False)

    async def _list(self, req: _Request, fault: Fault | None = None) -> _Response:
        _, refused = self._auth(req)
        if refused is not None:
            return refused
        q, now = req.query, self.now()
        try:
            page_no = _positive_int(q.get("page_no"), "page_no", 1, 1_000_000)
            page_size = _positive_int(q.get("page_size"), "page_size", 10, 100)
            start = _parse_list_time(q["start_time"], "start_time") if q.get("start_time") else None
            end = _parse_list_time(q["end_time"], "end_time") if q.get("end_time") else None
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        if start is None:
            start = (end if end is not None else now) - DAY
        if end is None:
            end = start + DAY
        if end - start > DAY:
            return _error(
                400, "InvalidParameter", "The time range between start_time and end_time cannot exceed 24 hours."
            )
        rows = sorted(
            (
                t
                for t in self._tasks.values()
                if not t.expired(now, self.config.task_ttl_seconds)
                and start <= t.submitted_at <= end + 0.999
                and (not q.get("model_name") or t.plan.model_name == q["model_name"])
                and (not q.get("status") or t.state(now) == q["status"].upper())
                and (not q.get("task_id") or t.task_id == q["task_id"])
            ),
            key=lambda t: t.submitted_at,
            reverse=True,
        )
        page = rows[(page_no - 1) * page_size : page_no * page_size]
        return _json(
            200,
            {
                "total": len(rows),
                "data": [list_item(t, now) for t in page],
                "total_page": math.ceil(len(rows) / page_size),
                "page_no": page_no,
                "request_id": new_id(),
                "page_size": page_size,
            },
        )

    async def _download(self, req: _Request, fault: Fault | None) -> _Response:
        if req.method not in ("GET", "HEAD"):
            return await self._method(req, fault)
        if req.method == "GET":
            self.stats.downloads += 1
        match = re.fullmatch(r"/results/([0-9a-f-]{36})\.mp4", req.path)
        task = self._tasks.get(match.group(1)) if match else None
        if task is None or task.state(self.now()) != SUCCEEDED:
            return _oss_error(404, "NoSuchKey", "The specified key does not exist.")
        expires, signature = req.query.get("Expires", ""), req.query.get("Signature", "")
        if not expires.isdigit() or not hmac.compare_digest(signature, sign(self._secret, task.task_id, int(expires))):
            return _oss_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if (fault is not None and fault.kind == "expired") or self.now() > int(expires):
            iso = "%Y-%m-%dT%H:%M:%S.000Z"
            return _oss_error(
                403,
                "AccessDenied",
                "Request has expired.",
                Expires=time.strftime(iso, time.gmtime(int(expires))),
                ServerTime=time.strftime(iso, time.gmtime(self.now())),
            )
        return await self._video(req, task, fault)

    async def _video(self, req: _Request, task: SimTask, fault: Fault | None) -> _Response:
        """The MP4 of a SUCCEEDED task (whole or one range), with the download faults applied."""
        path = await self.rendered(task.task_id)
        size = (await anyio.Path(path).stat()).st_size
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{task.task_id}"',
            "Last-Modified": email.utils.formatdate(task.ends_at, usegmt=True),
        }
        if fault is not None and fault.kind == "malformed":
            junk = (b"SIMULATED CORRUPT BODY " * (size // 23 + 1))[:size]
            return _Response(200, junk, content_type="video/mp4", headers=headers)
        if fault is not None and fault.kind == "html":
            page = b"<!doctype html><html><body><h1>Sign in to the network</h1></body></html>"
            return _Response(200, page, content_type="text/html; charset=utf-8")
        if fault is not None and fault.kind == "text":
            return _Response(200, b"upstream error: try again later", content_type="text/plain")
        if fault is not None and fault.kind == "redirect":
            return _Response(302, b"", content_type="text/plain", headers={"Location": fault.location or "/"})
        byte_range = _parse_range(req.headers.get("range"), size)
        if byte_range == "invalid":
            return _Response(416, b"", content_type="video/mp4", headers={"Content-Range": f"bytes */{size}"})
        status = 200
        if byte_range is None:
            byte_range = (0, size - 1)
        else:
            status = 206
            headers["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{size}"
        response = _Response(status, content_type="video/mp4", headers=headers, file=path, file_range=byte_range)
        if fault is not None and fault.kind == "truncated":
            response.truncate_at = fault.truncate_at if fault.truncate_at is not None else response.length // 2
        if fault is not None and fault.kind == "slow":
            response.throttle = fault.bytes_per_second
        return response

    async def _not_found(self, req: _Request, fault: Fault | None = None) -> _Response:
        return _error(404, "NotFound", f"No such resource: {req.path}")

    async def _bad_service(self, req: _Request, fault: Fault | None = None) -> _Response:
        return _error(400, "InvalidParameter", MSG_URL)

    async def _method(self, req: _Request, fault: Fault | None = None) -> _Response:
        return _error(405, "MethodNotAllowed", f"{req.method} is not allowed on {req.path}")

    # ---- gateway dialects: the same tasks, timing, renders, faults and counters under other wire formats

    def _gateway_route(self, req: _Request, dialect: str) -> tuple[str, Handler]:
        path, method = req.path.rstrip("/") or "/", req.method

        def only(methods: tuple[str, ...], target: str, handler: Handler) -> tuple[str, Handler]:
            if method in methods:
                return target, handler
            return "other", lambda r, f: self._gw_respond(
                dialect, 405, "method_not_allowed", f"{r.method} is not allowed on {r.path}"
            )

        if dialect == "newapi":
            if path == "/v1/video/generations":
                return only(("POST",), "submit", lambda r, f: self._gw_submit(r, dialect))
            if match := re.fullmatch(r"/v1/video/generations/([^/]+)", path):
                task_id = unquote(match.group(1))
                return only(("GET",), "poll", lambda r, f: self._gw_poll(r, dialect, task_id, newapi_task_body))
            if match := re.fullmatch(r"/v1/videos/([^/]+)/content", path):
                task_id = unquote(match.group(1))
                return only(("GET", "HEAD"), "download", lambda r, f: self._newapi_content(r, task_id, f))
            if match := re.fullmatch(r"/v1/videos/([^/]+)", path):
                task_id = unquote(match.group(1))
                return only(("GET",), "poll", lambda r, f: self._gw_poll(r, dialect, task_id, newapi_video_body))
        elif dialect == "yuto":
            if path == "/v2/videos/generations":
                return only(("POST",), "submit", lambda r, f: self._gw_submit(r, dialect))
            if match := re.fullmatch(r"/v2/videos/generations/([^/]+)", path):
                task_id = unquote(match.group(1))
                return only(("GET",), "poll", lambda r, f: self._gw_poll(r, dialect, task_id, yuto_task_body))
        elif dialect == "vtrix":
            if path == "/model/v1/generation":
                return only(("POST",), "submit", lambda r, f: self._gw_submit(r, dialect))
            if match := re.fullmatch(r"/model/v1/generation/task/([^/]+)", path):
                task_id = unquote(match.group(1))
                return only(("GET",), "poll", lambda r, f: self._gw_poll(r, dialect, task_id, vtrix_task_body))
        return "other", lambda r, f: self._gw_respond(dialect, 404, "not_found", f"No such resource: {r.path}")

    async def _gw_respond(self, dialect: str, status: int, code: str, message: str) -> _Response:
        return _gateway_error(dialect, status, code, message, openai=True)

    def _gw_auth(self, req: _Request, dialect: str) -> tuple[str | None, _Response | None]:
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None, _gateway_error(
                dialect, 401, "unauthorized", "No API key provided (Authorization: Bearer).", openai=True
            )
        if self.config.required_key is not None and key != self.config.required_key:
            return None, _gateway_error(dialect, 401, "unauthorized", "Invalid API key.", openai=True)
        return key, None

    def _owned_task(self, dialect: str, gateway_id: str, key: str) -> SimTask | None:
        """A gateway answers for a task only to the key that submitted it (and, from its own database, for good)."""
        task = self.gateway_task(dialect, gateway_id)
        return task if task is not None and task.api_key == key else None

    async def _gw_submit(self, req: _Request, dialect: str) -> _Response:
        key, refused = self._gw_auth(req, dialect)
        if refused is not None:
            return refused
        assert key is not None
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return _gateway_error(dialect, 400, "invalid_request", "The request body is not valid JSON.")
        try:
            service, upstream = GATEWAY_UPSTREAM[dialect](body)
            plan = plan_submit(service, upstream)  # what DashScope behind the gateway would accept
        except ApiError as exc:
            return _gateway_error(dialect, exc.status, exc.code, exc.message, openai=exc.code == "model_not_found")
        task = self._create_task(plan, key, via=dialect)
        if dialect == "newapi":
            return _json(
                200,
                {
                    "id": task.gateway_id,
                    "object": "video",
                    "model": plan.model_name,
                    "status": "queued",
                    "progress": 0,
                    "created_at": int(task.submitted_at),
                },
            )
        if dialect == "yuto":
            return _json(200, {"task_id": task.gateway_id})
        return _json(200, {"id": task.gateway_id, "status": VTRIX_STATUS[PENDING]})

    async def _gw_poll(
        self,
        req: _Request,
        dialect: str,
        gateway_id: str,
        render: Callable[[SimTask, float, str | None], dict[str, Any]],
    ) -> _Response:
        key, refused = self._gw_auth(req, dialect)
        if refused is not None:
            return refused
        assert key is not None
        task = self._owned_task(dialect, gateway_id, key)
        if task is None:
            if dialect == "vtrix":
                return _gateway_error(dialect, 404, "task_not_found", f"Task {gateway_id} not found")
            return _gateway_error(dialect, 400, "task_not_exist", "task_not_exist")
        now = self.now()
        return _json(200, render(task, now, self._result_url(task, now)))

    async def _newapi_content(self, req: _Request, gateway_id: str, fault: Fault | None) -> _Response:
        """new-api's ``/v1/videos/{id}/content``: the gateway streams the upstream video (Range forwarded)."""
        if req.method == "GET":
            self.stats.downloads += 1
        key, refused = self._gw_auth(req, "newapi")
        if refused is not None:
            return refused
        assert key is not None
        task = self._owned_task("newapi", gateway_id, key)
        if task is None:
            return _json(404, {"error": {"message": "Task not found", "type": "invalid_request_error"}})
        now = self.now()
        status = taskdto_status(task, now)
        if status != "SUCCESS":
            return _json(
                400,
                {
                    "error": {
                        "message": f"Task is not completed yet, current status: {status}",
                        "type": "invalid_request_error",
                    }
                },
            )
        self._result_url(task, now)  # starts the render if no poll has yet
        if (fault is not None and fault.kind == "expired") or now > int(task.ends_at + self.config.url_ttl_seconds):
            return _json(
                502,
                {
                    "error": {
                        "message": "Failed to fetch the video from upstream: HTTP 403 (the upstream URL has expired)",
                        "type": "server_error",
                    }
                },
            )
        return await self._video(req, task, fault)

    # ---- admin (/_sim/...): for a simulator in another process

    async def _admin(self, req: _Request, fault: Fault | None = None) -> _Response:
        action = (req.method, req.path.removeprefix("/_sim").rstrip("/") or "/")
        try:
            body = json.loads(req.body) if req.body else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if action == ("GET", "/stats"):
                return _json(200, self.stats.snapshot())
            if action == ("GET", "/faults"):
                return _json(200, {"faults": self.faults.armed()})
            if action == ("POST", "/faults"):
                options = {k: v for k, v in body.items() if k not in ("target", "kind", "count")}
                armed = self.faults.add(body["target"], body["kind"], int(body.get("count", 1)), **options)
                return _json(200, {"armed": asdict(armed)})
            if action == ("DELETE", "/faults"):
                self.faults.clear()
                return _json(200, {"faults": []})
            if action == ("POST", "/fail"):
                code = body.get("code", DEFAULT_FAILURE_CODE)
                if body.get("task_id"):
                    self.faults.fail_task(body["task_id"], code, body.get("message"))
                else:
                    self.faults.fail_next_task(code, body.get("message"))
                return _json(200, {"ok": True})
            if action == ("POST", "/advance"):
                self.advance(float(body["seconds"]))
                return _json(200, {"now": self.now(), "now_text": format_time(self.now())})
            if action == ("POST", "/reset"):
                self.faults.clear()
                self.stats.reset()
                return _json(200, {"ok": True})
            if action == ("GET", "/tasks"):
                now = self.now()
                return _json(
                    200,
                    {
                        "tasks": [
                            {
                                **list_item(t, now),
                                "size": t.plan.size,
                                "duration": t.plan.duration,
                                "audio": t.plan.audio,
                                "failure": list(t.failure) if t.failure else None,
                                "via": t.via,
                                "gateway_id": t.gateway_id,
                            }
                            for t in self._tasks.values()
                        ]
                    },
                )
            if action == ("GET", "/"):
                return _json(
                    200,
                    {"service": "wan-video-mcp simulator", "base_url": self.base_url, "now": format_time(self.now())},
                )
        except KeyError as exc:
            return _json(404 if action[1] == "/fail" else 400, {"error": f"missing or unknown: {exc}"})
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"no admin endpoint {req.method} {req.path}"})


# --------------------------------------------------------------------------- running it


@contextmanager
def simulator_in_thread(config: SimulatorConfig | None = None) -> Iterator[Simulator]:
    """Run a simulator on its own event loop in a background thread (for synchronous code)."""
    with start_blocking_portal() as portal:
        sim = Simulator(config)
        with portal.wrap_async_context_manager(sim):
            yield sim


def run_forever(
    port: int | None = None, config: SimulatorConfig | None = None, on_ready: Callable[[Simulator], None] | None = None
) -> None:
    """Serve until interrupted (blocking)."""
    cfg = config or SimulatorConfig()
    if port is not None:
        cfg = dataclasses.replace(cfg, port=port)

    async def serve() -> None:
        async with Simulator(cfg) as sim:
            if on_ready is not None:
                on_ready(sim)
            try:  # stop cleanly on SIGTERM too, so the render directory is removed
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        logger.info("stopping on %s", signal.Signals(signum).name)
                        return
            except NotImplementedError:  # no signal support (Windows)
                await anyio.sleep_forever()

    anyio.run(serve)


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> int:
    """``wan-video-mcp simulate``: serve the simulator on 127.0.0.1 until Ctrl-C.

    ``announce`` receives the base URL once listening (the CLI prints it to stdout for scripts).
    """
    parser = argparse.ArgumentParser(
        prog="wan-video-mcp simulate",
        description="Serve an offline, simulated DashScope video-synthesis API on 127.0.0.1 "
        "(no key, no network; every video is labelled SIMULATED).",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--queue-seconds", type=float, default=SimulatorConfig.queue_seconds, help="time a task stays PENDING"
    )
    parser.add_argument(
        "--run-seconds", type=float, default=SimulatorConfig.run_seconds, help="time a task stays RUNNING"
    )
    parser.add_argument(
        "--jitter", type=float, default=SimulatorConfig.jitter, help="random spread of both times, as a fraction"
    )
    parser.add_argument("--fps", type=int, default=SimulatorConfig.fps, help="frame rate of rendered videos")
    parser.add_argument("--required-key", help="accept only this API key (default: any non-empty key)")
    parser.add_argument("--render-dir", type=Path, help="keep rendered MP4s here (default: a temporary directory)")
    parser.add_argument("--no-render", action="store_true", help="serve the small placeholder MP4 instead of rendering")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every fault and render")
    args = parser.parse_args(argv)
    if (
        not 0 <= args.port <= 65535
        or args.fps < 1
        or args.queue_seconds < 0
        or args.run_seconds < 0
        or not 0 <= args.jitter < 1
    ):
        parser.error("out-of-range option")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = SimulatorConfig(
        port=args.port,
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        jitter=args.jitter,
        fps=args.fps,
        required_key=args.required_key,
        render_dir=args.render_dir,
        renderer="fallback" if args.no_render else "auto",
    )

    def ready(sim: Simulator) -> None:
        if announce is not None:
            announce(sim.base_url)
        logger.info(
            "use it as the DashScope base URL, with any API key; new-api, YutoAI and vtrix gateways "
            "at %s; admin and counters under %s/_sim/",
            sim.root_url,
            sim.root_url,
        )

    try:
        run_forever(config=config, on_ready=ready)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        from wan_video_mcp.server.ports import can_listen, port_in_use_message

        if args.port and not can_listen(HOST, args.port):
            sys.stderr.write(port_in_use_message("wan-video-mcp simulate", HOST, args.port) + "\n")
        else:
            logger.error("cannot listen on %s:%s: %s", HOST, args.port, exc)
        return 1
    return 0


# --------------------------------------------------------------------------- the placeholder MP4

FALLBACK_MP4_SHAPE = "160*90, 2 s"
# Made with PyAV and _Painter (flat background) at 160*90, 4 fps, 2 s, silent: a real H.264 MP4,
# served when PyAV is missing.
_FALLBACK_MP4_B64 = (
    "AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDEAAAN1bW9vdgAAAGxtdmhkAAAAAAAAAAAAAAAAAAAD6AAAB9AAAQAAAQAAAAAAAAAAAAAA"
    "AAEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAp90cmFrAAAAXHRraGQAAAAD"
    "AAAAAAAAAAAAAAABAAAAAAAAB9AAAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAABAAAAAAKAAAABaAAAAAAAk"
    "ZWR0cwAAABxlbHN0AAAAAAAAAAEAAAfQAAAgAAABAAAAAAIXbWRpYQAAACBtZGhkAAAAAAAAAAAAAAAAAABAAAAAgABVxAAAAAAALWhkbHIAAAAA"
    "AAAAAHZpZGUAAAAAAAAAAAAAAABWaWRlb0hhbmRsZXIAAAABwm1pbmYAAAAUdm1oZAAAAAEAAAAAAAAAAAAAACRkaW5mAAAAHGRyZWYAAAAAAAAA"
    "AQAAAAx1cmwgAAAAAQAAAYJzdGJsAAAAsnN0c2QAAAAAAAAAAQAAAKJhdmMxAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAKAAWgBIAAAASAAAAAAA"
    "AAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGP//AAAAOGF2Y0MBZAAM/+EAGmdkAAyscgRCjfkhAAADAAEAAAMACA8UKYRgAQAH"
    "aOhDgxLIsP34+AAAAAAUYnRydAAAAAAAAEw4AAAAAAAAABhzdHRzAAAAAAAAAAEAAAAIAAAQAAAAABRzdHNzAAAAAAAAAAEAAAABAAAAOGN0dHMA"
    "AAAAAAAABQAAAAIAACAAAAAAAQAAcAAAAAABAAAwAAAAAAIAAAAAAAAAAgAAEAAAAAAcc3RzYwAAAAAAAAABAAAAAQAAAAgAAAABAAAANHN0c3oA"
    "AAAAAAAAAAAAAAgAAA1jAAAA9wAAAOwAAAFKAAAAlgAAAKoAAACNAAAAsQAAABRzdGNvAAAAAAAAAAEAAAOlAAAAYnVkdGEAAABabWV0YQAAAAAA"
    "AAAhaGRscgAAAAAAAAAAbWRpcmFwcGwAAAAAAAAAAAAAAAAtaWxzdAAAACWpdG9vAAAAHWRhdGEAAAABAAAAAExhdmY2Mi4xMi4xMDIAAAAIZnJl"
    "ZQAAExZtZGF0AAACoQYF//+d3EXpvebZSLeWLNgg2SPu73gyNjQgLSBjb3JlIDE2NSAtIEguMjY0L01QRUctNCBBVkMgY29kZWMgLSBDb3B5bGVm"
    "dCAyMDAzLTIwMjUgLSBodHRwOi8vd3d3LnZpZGVvbGFuLm9yZy94MjY0Lmh0bWwgLSBvcHRpb25zOiBjYWJhYz0xIHJlZj0xNiBkZWJsb2NrPTE6"
    "MDowIGFuYWx5c2U9MHgzOjB4MTMzIG1lPXVtaCBzdWJtZT0xMCBwc3k9MSBwc3lfcmQ9MS4wMDowLjAwIG1peGVkX3JlZj0xIG1lX3JhbmdlPTI0"
    "IGNocm9tYV9tZT0xIHRyZWxsaXM9MiA4eDhkY3Q9MSBjcW09MCBkZWFkem9uZT0yMSwxMSBmYXN0X3Bza2lwPTEgY2hyb21hX3FwX29mZnNldD0t"
    "MiB0aHJlYWRzPTEgbG9va2FoZWFkX3RocmVhZHM9MSBzbGljZWRfdGhyZWFkcz0wIG5yPTAgZGVjaW1hdGU9MSBpbnRlcmxhY2VkPTAgYmx1cmF5"
    "X2NvbXBhdD0wIGNvbnN0cmFpbmVkX2ludHJhPTAgYmZyYW1lcz04IGJfcHlyYW1pZD0yIGJfYWRhcHQ9MiBiX2JpYXM9MCBkaXJlY3Q9MyB3ZWln"
    "aHRiPTEgb3Blbl9nb3A9MCB3ZWlnaHRwPTIga2V5aW50PTI1MCBrZXlpbnRfbWluPTQgc2NlbmVjdXQ9NDAgaW50cmFfcmVmcmVzaD0wIHJjX2xv"
    "b2thaGVhZD02MCByYz1jcmYgbWJ0cmVlPTEgY3JmPTM4LjAgcWNvbXA9MC42MCBxcG1pbj0wIHFwbWF4PTY5IHFwc3RlcD00IGlwX3JhdGlvPTEu"
    "NDAgYXE9MToxLjAwAIAAAAq6ZYiBAD/OYbEvXv8M+im8xloPBmEirNe4+jGXob9Kjuwen9Q3qea/TpyQAjc+KUR8/hEPL/CZvXVqRMDyN9mAmnPZ"
    "ebRMC5kgbLSMuroSU0UDdZQgZmk0K/m9qNQJJlK2MQb+37Jpsg5NdQ+HEg4SXREs9DbMCB8A9f/omRBMVSjZAMzRq6SvyOwd9ByamgrRkPoB5xCp"
    "6+Q7lrwPaILnmYu6yOX+76SM+uzaoLBYUSnAMAuaVq0ED2uW+xIaQ9gK7kTNaEdhaKoS/2yzLenrkQVSHXcEieHAUFoHSfyB7C9+dT732ibP/JLb"
    "V0/S3d14oKOo1p8zdfdvohD51ROe4ohfr07HMKMVao1fnuB5OuH8JSCP2wNgAVtsuoEWDIXw/+roAr4h3edXdFSRZcJGrNv5r2vnNP1elaD5t3qh"
    "JvXPBpvgTGsYAVZFRfrkltYCvb3k0lOiU++RV+TpZqquj3htx1oaU2xbQpq6fgUX35BILpqTNf+jvlbWoVxdcTH/IzTKiBaYa0VURbpL1XhdUeTA"
    "7EAHc0q3ouuv0FxJhz8u3C9krd8csWAjNAoNYHV0mt2UUxuX/f4WPSz5ehL3LYLdSRZL03XhuCph07YuoPs6nCz+zrHwDMXib6TOuVmRwJ3eLIwd"
    "YVjx3vi/9c6fyBbgRG4Rif6D9CNd5Yi5uOdX5fm3sqtUsDF0JaVUIUguXh4PSDIU+8eKSOKrRav3qUynaSZuBZXU6kNaMJil7Sv8+jfO39UWcfcb"
    "DhlDY6JzHxmX9fTJvA/NFBW0cW6wK0O3a/Qq9NVp/WMRvUraecl1RUSLk1CeZoo9cQF6H2cGvMHjbxVndb0mprVnu6yRSACU1oybeEXbPMWtdjyY"
    "p5j7Arvx8JKGI6spxpk98ONhH8PNtfdp91Avy+Ez8xT/f60rzptX0u0rKzkhUl3u7neB529lQcaccVg6z7wdUV8p0GnG5G949GQc24xK36n5aD8j"
    "tg8ocNsQZrNArUp6Tm9l7YIpbJUk1a0Dwvvs4JTLmr01FwaY43HQhwSkRqjrrRy2pvQ27RxTG6hKfZ/9wWc/TX9MYi6bEzkO2Gnp37aGom6CZqdA"
    "TVKGNH9QBg1j8vXPkhr19bEXvjZapZUoqkauG6XuVQeY7VITeBrWXjRe4nR/53+3fZLpJQez8Oht47RF6DH15iuDH8onWS9iHY8S5IR3ATPhlXu/"
    "Uju7zxDyTrD8PktQJffEyPOnm/vdO8t+7uwT5Wu0j9ItO5/DpaBs1LEY0+oY7Yvz2y0Yt7g68tFsSDwAZo+cYA8BIcKsHEZK3UmBuuYsQL8yPpyW"
    "/cETsZynwyi8QkMJyMQ99dsSdkNBE4bZtzr8RQgUr52TbhZbODTAd1dqiMjLpwD5mQuKBxcnKLqKUsqPgaVUU4JPVP908aH/apOjBckE0hAoz7Gv"
    "XED+ZC6xPQfVWCtMcGkEQpTsiUKqFCyC/0cyO+gZHY6y6VIzhXd74veHSSwrOSeGyvQZhyoqLEURROcqoOzUE7DUl2By+inI0ICeq2q9DDoWaPP1"
    "4EfoCQIOGk6obSaLbtWPlUFoPivjWDkz6K3zHRWgYx998FqwQPQETnRH3GElfLckqju9ZnRXnxND16WmQrEvLDAiQ35DACxVGMEkgtrnT6ozG7gd"
    "vPv9EsCpXUFEXBMfaQU2fz/i2CiCkFYznedJr/720KEIypKkKuBLQUlgC26cRBft5holCeqn87Yq7b9H9yby/55m72Ip/d6ZELGm4k09rmsFg4Iw"
    "azOQEvgYLpRcAJwebyVWYb8Pi6GJpKyLRRPHmFSZcf96jQC/HxX9XOnTdom0f6WkkRLUBpec2Ot9jE5sFwnAHxPUiG2dSIHw6r3COBeswp149lRQ"
    "QnIhVe7N9i9jSzX1cOGKRZSn947RraEFQt3EwXrE4iYmL/i/4fVm8BN8zOqUjSjwFeA1E3Odu/cOVhQxUfP5+jberPP1zRRkiUlS9yufbGGufhPH"
    "XwnoS/5rllCIh9wMEmMRrRwaGXAO3zUVQE6GOdFoYmtNGngJPtMjAY7JLlR56lxuzy2crfWPbmzc7Xg+baYnY5DcH3RoHllCA9LOAnREWUOlJbEw"
    "u1Ra4N++YHjSl28dglkA323XrkcChcaKsuuam9ygfGe7mCbIWm9ZeWq7K+AGiwUcRK2JVkI87j891wtVo6Od5KiqKbD4O7hiDItckI0GUNYzt1oK"
    "a+I3tEWPepIuvVSlvqr7IgG2ONDiapjNpUmW/kL1pbp2rEpXy7d4eF8tKgjmytLAzdISkOdWpxPW8LhtMx9cu25HO69I4RICX96gh+4Gotw1drTC"
    "5l/vr+I6d1uYBxAQBM50ot3eYE5UL5ScGGAFyLjugxvV++X+B3X/wdu7GRTZGdfOM/SSsAZ2R6X3Knm7TotKhbYTG770nHwke8aKPadwtyTuyD9q"
    "ohOhhgPWu+5Axtha1DC1iCZuSP0ZPKKsW/Ysb4N14xy/sW/BtCVTpoCrOHXDYhJVnoUlMKeQPqZNo77no9wRlYL09ZwZucGTK8wU3D/17+iy78M9"
    "j/Lkpzcsd6GQM/U46k/EAAB6ZgccC9csP55OqHyQFlmnpj0nF8//tcitHvcjNzUH54lGMa45dFhupBnqgu15r063uKLH9RkpjQ9SBWOE85deZ12K"
    "Ag+s8HGAaQdIwLJDFiShr7RkeZQx6HX797ARFKt2buNf5IpUJ/q4EF+fEXLnsieEknZ8Yjtf6v0XkwbKsqgVVjZKk6sQB8DEBNjoaeEA/DYeSK8y"
    "3lmh6qGQkcrPqOPhoyPn0uiiA2z7c8/28oEYe+quSr2fO7JgxMO/evKeky2yu2T3Qm+bWjcidDpsL3HhSmYvLSZ+sw83AEy3t6/9zqRxTmbFfJSR"
    "2pTCulZNfZU1Aox2ZKyGG6eZUn5Z+RjkCl51cm1a16sf4dy6n8ncD4OnnlqDU7FFqQFrS5ywJSewZFCEZkBtJat7uwc+CmzRzE/tUMKKytluh632"
    "O5s7/S6MP94378KiDTnUej8WMb319w4YgnahwHNNlZoTljBodZcM3bXARJP8a1g2FcnSYIDXBOdVF4C9HdOshpR2/oQ6laupC5SAZy4SQ8skYeiN"
    "dI7vkwksOb9oQK8qclKVr0NGkh1qtJcoLT9boFhX7F61YEzzylr3SpM/UTLE/UvF2B6aYk3u6CHSqLCR6YHl2OQSPyj9D4WpdTXcHob7fNZXcXZW"
    "e+2dTRHyvrcRzVXMc7Aa6sZpj92E0iaDUwo6M42P15sBMsTn0OulJ4BzgE87XWEmgk6WnPPNZVwy3GKM0W1RozRbBDc26WRBxIgCNIbdoqTSrBFF"
    "DQQ5tGq8Al+ZK+rFABCy/Q0PF6JO8RS5Tf+6gV+92kbe4n/uFTMK6/PBObHMGwn/qNLm+1T7xJfrXgQYo0Pm9N0RWa6yOoXLsekRtkMO1mWElkD/"
    "FXyJvWF2peEXmA9UVoQxKsEsJDePSb05BIodkZuFgof2sI/BdijkA1v92KL2qzsaxAJtCZE0CWT3XS0bcGAWeH3X0s5xVFxMO4+OwmwG1UVtvqCc"
    "38gAQy1gBG1uCCLlnsDQLhzRRIW54ziWvugpn9DjXBDw6RStXC/a/rqOFVChjbAJiE8esUYYcRii0bJmtK3gPxyAZdDvT7XVWrhNqwAAAPNBmggt"
    "j//eqdpksMX1ZkUJ+JaQvVc70BjpDCHXSzUsk7pf8qtwN/bc2lBUDKErZgbg4JOAFVeS2uE7fIeg1NKFeaF1DZsUNu2j9SCP6CL5DeJ7q2P5mOP3"
    "Muw3NDTGl0by8Hb4pNOF40j5RJprTsvP/ivEpmaObU42oYFPKYUjlNEhgpU9Hpd8S2XExu5QKu58wPNWfwlDOCQ3muoabOiBSrifaIKvNK+RqwJP"
    "OGu1+IAqnKdhdfzD3OHogNEDpS03ZnwxA6S7QGFZXQn+JtktBPcuaf0fluyzwsS+TAIK9AM24BFvgKV+Ej/UHwBf9DvIDSoAAADoQZoQ6/AgZMph"
    "Ff/10w28DC2Ng6MA2wwtigZ9wXoB1UECuajXRBQAw6c1zi+X85WOAEObKuVTwFS7eaWDbCU/+IzorYH/ehwee6uHEI/x0nshB8z4NNrKnrr/NSpa"
    "M/M3ZICinNxJIek3jC0xpRdJkbThg4QIJCBnkmn90aeg70I7eBo/maQKSNGgqpwYDCWSclqFelhtKcabQ2WbhDzjUevmELVUxCl/USA9wEDqorWO"
    "paXpm4DG+hsUD+vQ80WoORLVidnwQ7dwGyv42682WgH6zOh2U6ZlG4AOAvlS6H7Il6QuqLbmpwAAAUZBnhiFRJ/6qw9uqqtSyEwgfjweUUsVTY5u"
    "daESUSKBgnhQNYpfDsUfylLZXlMQs6iZUDD6nwZjs2D4kMyANd6LauaX8ZvwfaILvbPE2D8YGCnf0KR0DfTYXV9ERVajmJr3GjOEz14yutxp6t2Q"
    "7BUdpv4OzE7qTweBws0xSaen39XLmhhZnN//zI9BlpkDxY+PKlw4fRZHhUZVkXeW/r+QpSLqpgQb7YFHC0jRhqn1Zp8AAA9WEAAyGQAA+sAAJ/GM"
    "r9SlCGOsdMCm2YezHoso4V1E3mGNQW4YbSQemGQdmgsIYHH7EetMVUkJ+lJIAp2PIC86lH7hXzNlze/mlCrqZp8ngTDM5zckV2fZuOI6VtfSomfz"
    "2lzrEgMKxo5HTz8rgY5GyoCwHs0vvOk1WD33OrrAkSVOwtJYJbxNcz4REKv1lyCkKgAAAJIBniBFIiv//ud3kYxq7+1PurN/486wzFpLqXhuONnp"
    "IlU+1gZzfMGIcnHlAvqv1RsM+CttFqqqJd1fSA0m0R5eFxdjhE3JK7vBWd4/q2O7hk1R2fJROqd060pXFTOV3unlOxLsNssfbAw5xK0wDRjuUZLh"
    "vpyvfnWllNmtT2e6XZVPFhNWFjxRk+Hq91OWasjHXwAAAKYBniBlIiv//ud3kYxq8HgpalQqdmcJtxFI6ORnl8BYfSpPs6Gyir9KDYeZfLjL0FQn"
    "q46g/Z+PJXAIEnRHWC0FsPb2f/n/RUjFLPlBQdIT1UOgphdagUg1HU2btwMwZUrxT5pKvq8P8gzcXwYF2BHDVy2G6oaGw6E8PyITDm+IV5ODkRft"
    "kZAsqV6iFGJcBRovjsjphTyasLHQbGPiJ09/7+F0aAojAAAAiQGeIK3Ir/uoUV5rSLkX+1g/T7ruZcEIyxN4hIsXncm6whoECnOu/WsXK9sBAk6I"
    "6wWgtgGXEC7893Um+lTDkzLJQ6xwX9xHBaNc3sURjS0Z8MRNy4TVyb7q+/I0g5ydtZ8wJxQFHhqNrwArNXSYhSsQFfJSsc31PaE5Yx92AbX+wQt4"
    "dBOdowOPAAAArQGeIM3Ir/7mwVff1JYr1BYXSkcJ5p3UGrQNytJ+upW6LjGYWGupmhFhtDe51r7qP2zrxM5cNtvTew2foQ6V2q4hclzonsaSNkYT"
    "rSBFd03ksNGJ4KfEsoKOnrvHnUJc0yxE49HWI3kqcyBEOZB1mK2jzjMa//32I/tLYKqYLq/w6MDSUNgI8VefYmDtwVQd0ovzMoCoXDjTP+x3RRO9"
    "89wjIH7Sll/AXdAwDtXv"
)
