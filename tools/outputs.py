"""What the tools return: the result models and the output schemas that declare them.

Every tool has two outcomes, a success and an ``isError`` result, and its
``outputSchema`` declares both: the properties of each, and an ``anyOf`` that
requires one outcome's fields or the other's. Clients that validate structured
content against the output schema, error results included (the TypeScript SDK
1.x and the MCP Inspector do), then accept our errors, and an agent reads the
message that names the field instead of a client-side exception.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from wan_video_mcp.server.catalog import CostEstimate


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
    wait_capped_to: int | None = None  # the wait asked for was longer than this server's cap
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


def output_schema(success: type[BaseModel]) -> dict[str, Any]:
    """A tool's output schema: both outcomes' properties, and ``anyOf`` one outcome's required fields."""
    ok, error = (
        shallow_schema(compact_schema(success.model_json_schema())),
        shallow_schema(compact_schema(ErrorResult.model_json_schema())),
    )
    properties = dict(ok["properties"])
    for name, prop in error["properties"].items():
        if name in properties and properties[name] != prop:
            raise ValueError(f"{success.__name__}.{name} and ErrorResult.{name} disagree: {properties[name]} {prop}")
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "anyOf": [{"required": ok.get("required", [])}, {"required": error["required"]}],
    }


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
