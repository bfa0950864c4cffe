"""Tool outcomes as MCP results: a success, or an ``isError`` result the agent can act on.

Tools raise ``WanError``s (server/errors.py); ``call_reporting_errors`` (the
server's ``call_tool``) turns them, arguments the SDK refused and any bug of
ours into ``isError`` results whose structured content (``ErrorResult``) every
tool's output schema declares, so clients that validate error results accept
them and the agent reads what to do next.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError

from wan_video_mcp.server.errors import InvalidRequest, WanError, clip
from wan_video_mcp.tools.outputs import ErrorResult
from wan_video_mcp.tools.registration import CatalogTool

logger = logging.getLogger(__name__)

ToolCall = Callable[[str, dict[str, Any]], Awaitable[types.CallToolResult | types.InputRequiredResult]]


def ok_result(
    result: BaseModel, *, text: str | None = None, extra: list[types.ContentBlock] | None = None
) -> types.CallToolResult:
    """A success: one line of text (plus links/images), and the structured result."""
    line = text if text is not None else getattr(result, "message", "")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=line), *(extra or [])],
        structured_content=result.model_dump(mode="json", exclude_none=True),
    )


def error_result(error: WanError) -> types.CallToolResult:
    """An ``isError`` result whose structured content is a valid ``ErrorResult``."""
    details = {k: v for k, v in error.to_dict().items() if v is not None}
    problems = getattr(error, "problems", None)
    if problems:
        details["problems"] = problems
    structured = ErrorResult.model_validate(details).model_dump(mode="json", exclude_none=True)
    text = error.message + (f" — {error.hint}" if error.hint else "")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )


def refused_arguments(
    errors: Iterable[tuple[str, str, Any, str]], allowed: Iterable[str], cause: Exception | None = None
) -> InvalidRequest:
    """Arguments that break a tool's input schema, reported in our words: every (field, type, value, why)."""
    parts = []
    for name, kind, value, why in errors:
        if kind == "extra_forbidden":
            parts.append((clip(name), f"unknown field '{clip(name)}'; allowed fields: {', '.join(allowed)}"))
        else:
            parts.append((clip(name), f"{clip(name)} {clip(json.dumps(value, default=str))}: {why}"))
    error = InvalidRequest("; ".join(text for _, text in parts), field=parts[0][0])
    error.problems = [{"field": f, "message": m} for f, m in parts]  # type: ignore[attr-defined]
    if cause is not None:
        error.__cause__ = cause
    return error


def validation_problems(exc: ValidationError) -> list[tuple[str, str, Any, str]]:
    """A pydantic validation error as (field, type, value, why) problems."""
    return [
        (".".join(str(p) for p in err["loc"]) or "arguments", err["type"], err.get("input"), err["msg"])
        for err in exc.errors()
    ]


async def call_reporting_errors(
    call: ToolCall, tool: Tool | None, name: str, arguments: dict[str, Any]
) -> types.CallToolResult | types.InputRequiredResult:
    """Call the tool ``name`` through the SDK; every failure of ours becomes an ``isError`` result.

    Unknown fields are refused here when the tool declares ``additionalProperties: false`` (the SDK's own
    argument model ignores them), together with every other problem of the arguments, in one result. An
    unknown tool and protocol errors (``MCPError``) are left to the SDK.
    """
    if tool is None:
        return await call(name, arguments)
    allowed = list(tool.parameters.get("properties", {}))
    unknown = [field for field in arguments if field not in allowed]
    # The catalog tool's handler sees the raw arguments and reports unknown fields itself, with every other
    # problem (the catalog's validator); for the others the SDK's argument model would silently drop them.
    checks_its_own = isinstance(tool, CatalogTool)
    if unknown and not checks_its_own and tool.parameters.get("additionalProperties") is False:
        known = {field: value for field, value in arguments.items() if field in allowed}
        problems = _argument_problems(tool, known) + [(n, "extra_forbidden", None, "") for n in unknown]
        return error_result(refused_arguments(problems, allowed))
    try:
        return await call(name, arguments)
    except MCPError:
        raise
    except Exception as exc:
        return failure_result(name, exc, allowed)


def _argument_problems(tool: Tool, arguments: dict[str, Any]) -> list[tuple[str, str, Any, str]]:
    """What the SDK's own check would say of ``arguments`` (without calling the tool)."""
    metadata = tool.fn_metadata
    try:
        metadata.arg_model.model_validate(metadata.pre_parse_json(arguments))
    except ValidationError as exc:
        return validation_problems(exc)
    return []


def failure_result(name: str, exc: Exception, allowed: list[str]) -> types.CallToolResult:
    """A tool's exception as the ``isError`` result an agent reads (a bug of ours: the details stay in the log)."""
    cause = exc.__cause__ if isinstance(exc, ToolError) else exc  # the SDK wraps what the tool raised
    if isinstance(cause, WanError):
        return error_result(cause)
    if isinstance(cause, ValidationError) and isinstance(exc, ToolError) and not isinstance(exc, UnexpectedToolError):
        # Only the SDK's own check of the arguments is a refusal ("nothing was submitted"). A ValidationError
        # from inside a tool (the catalog tool's handler runs unwrapped) may come after a paid submit: a bug of
        # ours, reported as such, never as bad arguments.
        return error_result(refused_arguments(validation_problems(cause), allowed, cause))
    logger.error("tool %s failed unexpectedly", name, exc_info=cause or exc)
    return error_result(
        WanError(
            f"{name} failed unexpectedly inside the server (the details are in the server's log)",
            code="internal_error",
            hint="Call list_tasks to see whether a task was recorded before calling generate_video again.",
        )
    )
