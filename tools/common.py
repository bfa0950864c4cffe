"""What every tool shares: result models, the task view, and the adapter to MCP results.

Tools are registered as ``AdapterTool``s: the handler receives the raw argument
object, validates it with our own validator (which mirrors the published input
schema exactly), and raises ``WanError``s, which become ``isError`` results
carrying ``error_code``, ``message``, ``retryable`` and ``hint``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.catalog import CostEstimate, ModelSpec
from server.config import Settings
from server.errors import InvalidRequest, WanError
from server.store import TaskRecord

if TYPE_CHECKING:
    from server.jobs import JobEngine

VIDEO_URI = "wan-video://videos/{task_id}.mp4"
TASK_URI = "wan-video://tasks/{task_id}"

# What to do about a provider's task failure code.
REMEDIES = {
    "InvalidParameter": "A parameter was refused by the provider; fix it and generate again.",
    "DataInspectionFailed": "Content moderation refused the prompt or media; rephrase and generate again.",
    "IPInfringementSuspect": "The request looks like protected IP; change the content and generate again.",
    "InternalError": "A provider-side failure, not your request; generate again (nothing was billed).",
    "InternalError.Algo": "A provider-side failure, not your request; generate again (nothing was billed).",
    "InternalError.Timeout": "The provider timed out; generate again (nothing was billed).",
    "SystemError": "A provider-side failure; generate again (nothing was billed).",
    "InvalidURL": "An input URL could not be fetched by the provider; use a public http(s) URL.",
    "BadRequest.InputDownloadFailed": "The provider could not download an input file; check the URL is public.",
    "not_submitted": "Nothing was created or billed; call generate_video again.",
    "expired": "The provider forgot this task (task ids live 24 hours); generate again if you still need it.",
}


GENERIC_REMEDY = "Read the provider's message above; adjust the request if it names a parameter, else generate again."


@dataclass
class AppState:
    """What the lifespan yields; tools reach it through the request context."""

    settings: Settings
    engine: JobEngine
    models: tuple[ModelSpec, ...]
    provider_name: str
    simulated: bool


def state_of(ctx: Context) -> AppState:
    return ctx.request_context.lifespan_context  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- result models


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


class TaskResult(BaseModel):
    """A task as every tool reports it (generate_video, check_task, fetch_video, cancel_task)."""

    model_config = ConfigDict(extra="forbid")

    task_id: str | None
    status: str
    model: str
    message: str
    next_step: str
    summary: str | None = None
    attached: str | None = None  # generate_video: new | idempotency_key | duplicate
    progress_percent: float | None = None
    poll_after_seconds: int | None = None
    elapsed_seconds: float | None = None
    remote_task_id: str | None = None
    provider: str
    simulated: bool = False
    cost_estimate: CostEstimate | None = None
    request: dict[str, Any] | None = None
    download_status: str | None = None
    video: VideoFile | None = None
    remote_url: str | None = None
    remote_url_expires_at: str | None = None
    error: TaskError | None = None
    created_at: str | None = None
    finished_at: str | None = None


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def task_result(state: AppState, record: TaskRecord, *, attached: str | None = None,
                video: VideoFile | None = None) -> TaskResult:
    """The agent's view of a task: state, timings, what to do next."""
    engine = state.engine
    percent, progress_text = engine.progress(record)
    request = record.request
    error = None
    if record.error_code and record.state in ("failed", "unknown", "expired"):
        error = TaskError(code=record.error_code, message=record.error_message or "",
                          remedy=REMEDIES.get(record.error_code, GENERIC_REMEDY))
    poll_after = None
    tid = record.id
    if record.state in ("queued", "running", "submitting"):
        poll_after = engine.poll_after(record)
        next_step = (f"Call check_task(task_id='{tid}', wait_seconds=60) in about {poll_after}s; "
                     "the server keeps polling and downloads the video itself.")
        message = f"Task {tid} is {progress_text}."
        poll_error = engine.last_poll_error(tid)
        if poll_error:
            message += f" Last status check failed: {poll_error}."
    elif record.state == "unknown":
        poll_after = 30
        next_step = (f"Do not generate again: the server is reconciling. Call check_task(task_id='{tid}') "
                     "in 30s.")
        message = f"Task {tid}: {record.error_message or 'submit outcome unknown'}"
    elif record.state == "succeeded":
        if video is not None:
            next_step = f"Open or read the resource {video.uri}; the file is at {video.path}."
            message = f"Video ready: {record.model}, {video.size_bytes} bytes, saved to {video.path}."
        else:
            next_step = f"Call fetch_video(task_id='{tid}') to get the file and its resource link."
            message = f"Task {tid} finished; video download: {record.download_state}."
    elif record.state == "failed":
        next_step = error.remedy if error and error.remedy else "Adjust the request and call generate_video again."
        message = f"Task {tid} failed: {record.error_code}: {record.error_message}"
    elif record.state == "canceled":
        next_step = "Nothing more to do; canceled tasks are not billed."
        message = f"Task {tid} was canceled."
    else:  # expired
        next_step = REMEDIES["expired"]
        message = f"Task {tid} expired at the provider."
    cost = CostEstimate.model_validate_json(record.cost_json) if record.cost_json else None
    shape = request.get("size") or request.get("resolution")
    summary = f"{record.model} {shape} {request.get('duration')}s" if shape else record.model
    if record.simulated:
        message = "[SIMULATED] " + message
    return TaskResult(
        task_id=tid,
        status=record.state,
        model=record.model,
        message=message,
        next_step=next_step,
        summary=summary,
        attached=attached,
        progress_percent=round(percent, 1),
        poll_after_seconds=poll_after,
        elapsed_seconds=round(((record.finished_at or engine.clock()) - record.created_at), 1),
        remote_task_id=record.remote_id,
        provider=record.provider,
        simulated=record.simulated,
        cost_estimate=cost,
        request=request,
        download_status=record.download_state,
        video=video,
        remote_url=record.video_url,
        remote_url_expires_at=iso(record.video_url_expires_at),
        error=error,
        created_at=iso(record.created_at),
        finished_at=iso(record.finished_at),
    )


def video_file(record: TaskRecord, path: Path, media: MediaFacts | None) -> VideoFile:
    return VideoFile(
        uri=VIDEO_URI.format(task_id=record.id),
        size_bytes=record.file_size or 0,
        sha256=record.sha256 or "",
        path=str(path),
        file_uri=path.resolve().as_uri(),
        media=media,
    )


# --------------------------------------------------------------------------- MCP adapters


def ok_result(result: BaseModel, *, text: str | None = None,
              extra: list[types.ContentBlock] | None = None) -> types.CallToolResult:
    """A success: one line of text (plus links/images), and the structured result."""
    line = text if text is not None else getattr(result, "message", "")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=line), *(extra or [])],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


def error_result(error: WanError) -> types.CallToolResult:
    details = error.to_dict()
    problems = getattr(error, "problems", None)
    if problems:
        details["problems"] = problems
    text = error.message + (f" — {error.hint}" if error.hint else "")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=details,
        is_error=True,
    )


def parse_args(model: type[BaseModel], arguments: dict[str, Any]) -> Any:
    """Validate simple tool arguments, reporting problems in our words."""
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "arguments"
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(model.model_fields)
                parts.append((name, f"unknown field '{name}'; allowed fields: {allowed}"))
            else:
                parts.append((name, f"{name} {json.dumps(err.get('input'), default=str)[:80]}: {err['msg']}"))
        error = InvalidRequest("; ".join(text for _, text in parts), field=parts[0][0])
        error.problems = [{"field": f, "message": m} for f, m in parts]  # type: ignore[attr-defined]
        raise error from exc


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Handler = Callable[[dict[str, Any], Context], Awaitable[types.CallToolResult]]


class AdapterTool(Tool):
    """A tool whose handler sees the raw arguments and whose errors become isError results."""

    handler: Handler = Field(exclude=True)

    @property
    def output_schema(self) -> dict[str, Any] | None:  # type: ignore[override]
        schema = self.fn_metadata.output_schema
        return shallow_schema(compact_schema(schema)) if schema is not None else None

    async def run(self, arguments: dict[str, Any], context: Context, convert_result: bool = False) -> Any:
        try:
            return await self.handler(arguments, context)
        except WanError as exc:
            return error_result(exc)


def make_tool(
    *,
    name: str,
    title: str,
    description: str,
    handler: Handler,
    input_schema: dict[str, Any],
    output_model: type[BaseModel],
    annotations: types.ToolAnnotations,
) -> AdapterTool:
    async def stub() -> Any: ...

    stub.__annotations__ = {"return": output_model}
    metadata = func_metadata(stub, structured_output=True)
    return AdapterTool(
        fn=stub,
        name=name,
        title=title,
        description=description,
        parameters=input_schema,
        fn_metadata=metadata,
        is_async=True,
        annotations=annotations,
        handler=handler,
    )


def args_schema(model: type[BaseModel]) -> dict[str, Any]:
    return compact_schema(model.model_json_schema())


def shallow_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema that types nested objects only as objects: the full shapes are documented in the
    README and in the results themselves, and repeating them in every tool would bloat tools/list."""

    def flatten(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return {"type": "object"}
            if "anyOf" in node:
                kinds = [flatten(option) for option in node["anyOf"]]
                types_ = [k.get("type") for k in kinds]
                if all(isinstance(t, str) for t in types_):
                    return {k: v for k, v in node.items() if k != "anyOf"} | {"type": types_}
            if node.get("type") == "array" and isinstance(node.get("items"), dict):
                return node | {"items": flatten(node["items"])}
        return node

    def non_null(node: dict[str, Any]) -> dict[str, Any]:
        # Results leave out null fields, so an optional field is typed by its value alone.
        kinds = node.get("type")
        if isinstance(kinds, list) and "null" in kinds:
            kinds = [k for k in kinds if k != "null"]
            node = node | {"type": kinds[0] if len(kinds) == 1 else kinds}
        return {k: v for k, v in node.items() if k != "default"}

    out = {k: v for k, v in schema.items() if k not in ("$defs", "description", "additionalProperties")}
    props = {name: flatten(prop) for name, prop in schema.get("properties", {}).items()}
    nullable = {name for name, prop in props.items() if "null" in (prop.get("type") or [])}
    out["properties"] = {name: non_null(prop) for name, prop in props.items()}
    if "required" in out:
        out["required"] = [name for name in out["required"] if name not in nullable]
    return out


def compact_schema(schema: Any) -> Any:
    """The same JSON Schema, smaller: no generated titles, ``X | None`` as a type list.

    tools/list is read by every client on every connection; pydantic's verbose
    rendering of optional fields would more than double it.
    """
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: compact_schema(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if "properties" in schema:  # a property may be *named* title
        out["properties"] = {k: compact_schema(v) for k, v in schema["properties"].items()}
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if set(other) == {"type"} and isinstance(other["type"], str):
            del out["anyOf"]
            out["type"] = [other["type"], "null"]
    if out.get("default", 0) is None:
        del out["default"]
    return out
