"""What the tools return: the result models and the output schemas that declare them.

Every tool has two outcomes, a success and an ``isError`` result, and its
``outputSchema`` declares both: the properties of each, and an ``anyOf`` that
requires one outcome's fields or the other's. Clients that validate structured
content against the output schema, error results included (the TypeScript SDK
1.x and the MCP Inspector do), then accept our errors, and an agent reads the
message that names the field instead of a client-side exception.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from wan_video_mcp.server.catalog import CostEstimate
from wan_video_mcp.server.providers.usage import BilledUsage
from wan_video_mcp.tools.schemas import compact_schema, shallow_schema


class MediaFacts(BaseModel):
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    fps: float | None = None
    has_audio: bool = False
    audio_codec: str | None = None


class VideoFile(BaseModel):
    uri: str
    mime_type: str = "video/mp4"
    size_bytes: int
    sha256: str
    path: str
    file_uri: str
    media: MediaFacts | None = None


class TaskError(BaseModel):
    code: str
    message: str
    remedy: str = ""


class ShotState(BaseModel):
    """One shot of a storyboard."""

    index: int
    task_id: str | None = None
    status: str
    progress_percent: float | None = None


class TaskResult(BaseModel):
    """A task as every tool reports it (generate_video, check_task, fetch_video, cancel_task)."""

    model_config = ConfigDict(extra="forbid")

    task_id: str | None = None  # None: a dry run
    status: str
    model: str
    message: str
    next_step: str
    summary: str | None = None
    attached: str | None = None  # generate_video: new | idempotency_key | duplicate
    progress_percent: float | None = None
    poll_after_seconds: int | None = None
    elapsed_seconds: float | None = None
    wait_capped_to: int | None = None  # the wait asked for was longer than this server's cap
    remote_task_id: str | None = None
    provider: str
    simulated: bool = False
    cost_estimate: CostEstimate | None = None
    billed: BilledUsage | None = None  # the provider's own account, once the task succeeded
    request: dict[str, Any] | None = None
    download_status: str | None = None
    video: VideoFile | None = None
    remote_url: str | None = None
    remote_url_expires_at: str | None = None
    error: TaskError | None = None
    created_at: str | None = None
    finished_at: str | None = None
    shots: list[ShotState] | None = None  # a storyboard's shots
    method: str | None = None  # extend_video: clip (the video continued) or last_frame (from its last frame)


class Problem(BaseModel):
    field: str
    message: str


class ErrorResult(BaseModel):
    """The structured content of every ``isError`` result: what failed, whether to retry, what to do."""

    error_code: str
    message: str
    retryable: bool
    hint: str
    field: str | None = None  # invalid_request: the first field named
    problems: list[Problem] | None = None  # invalid_request: every problem found
    task_id: str | None = None  # the task concerned, when there is one
    provider_code: str | None = None
    http_status: int | None = None


class TaskSummary(BaseModel):
    """One task in list_tasks (like every result, without its null fields: hence the defaults)."""

    task_id: str
    status: str
    model: str
    prompt: str | None = None
    created_at: str | None = None
    remote_task_id: str | None = None
    download_status: str
    video_uri: str | None = None
    simulated: bool
    storyboard_id: str | None = None  # a storyboard's shot


class StoryboardSummary(BaseModel):
    """One storyboard in list_tasks (its shots are in ``tasks`` too, each with this id)."""

    storyboard_id: str
    status: str
    continuity: str
    shot_count: int
    created_at: str
    video_uri: str | None = None
    error: str | None = None


class TaskList(BaseModel):
    """What list_tasks returns."""

    count: int
    tasks: list[TaskSummary]
    storyboards: list[StoryboardSummary] | None = None


SPELLED = frozenset({"task_id", "video", "shots"})


def output_schema(success: type[BaseModel]) -> dict[str, Any]:
    """A tool's output schema: the success's properties and the error's required ones, and ``anyOf`` one
    outcome's required fields."""
    ok, error = (
        shallow_schema(compact_schema(success.model_json_schema())),
        shallow_schema(compact_schema(ErrorResult.model_json_schema())),
    )
    # Spelled out: each outcome's required fields and the few a host acts on; the other fields are in every result
    # and in the README (tools/list has a byte budget, and these schemas repeat in most tools).
    spelled = set(ok.get("required", [])) | SPELLED
    properties = {name: prop for name, prop in ok["properties"].items() if name in spelled}
    for name, prop in error["properties"].items():
        if name in properties and properties[name] != prop:
            raise ValueError(f"{success.__name__}.{name} and ErrorResult.{name} disagree: {properties[name]} {prop}")
    # The error outcome is declared by its required fields alone (error_code, message, retryable, hint): every
    # error result has them, and their types are ErrorResult's (tools/list has a byte budget).
    return {
        "type": "object",
        "properties": properties,
        "anyOf": [{"required": ok.get("required", [])}, {"required": error["required"]}],
    }


@functools.cache
def _declared(success: type[BaseModel]) -> str:
    # Built once per success model and process: five tools share two of them, and pydantic's schema walk is
    # a good part of the server's start-up.
    return json.dumps(output_schema(success))


class _EitherOutcome(BaseModel):
    """A declared return type: the success model it extends, or an ``ErrorResult`` in an ``isError`` result."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The declared schema replaces the model's own, so pydantic need not walk the fields at all.
        success = next(base for base in cls.__mro__[1:] if base is not _EitherOutcome)
        schema: JsonSchemaValue = json.loads(_declared(success))
        return schema


class TaskOutcome(_EitherOutcome, TaskResult):
    """The return type tools declare: a ``TaskResult`` on success, an ``ErrorResult`` in an ``isError`` result."""


class TaskListOutcome(_EitherOutcome, TaskList):
    """list_tasks' declared return type: a ``TaskList`` on success, an ``ErrorResult`` in an ``isError`` result."""
