"""What every tool shares: the app state, the per-call budget, and the adapter to MCP results.

Tools are registered as ``AdapterTool``s: the handler receives the raw argument
object and a ``Call``, validates the arguments with our own validator (which
mirrors the published input schema), and raises ``WanError``s, which become
``isError`` results whose structured content (``ErrorResult``) the tool's output
schema declares.

Every call answers within ``Settings.max_wait_seconds`` (the cap, below the
60-second request timeout most hosts use): slow work (a paid submit, a provider
query, a download) runs in the background and the call returns a handle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wan_video_mcp.server.catalog import ModelSpec
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import InvalidRequest, WanError, clip
from wan_video_mcp.tools.outputs import ErrorResult, compact_schema, output_schema

if TYPE_CHECKING:
    from wan_video_mcp.server.jobs import JobEngine
    from wan_video_mcp.tools.client_log import ClientLog

logger = logging.getLogger(__name__)

# Kept free at the end of every call for building the result (probing the MP4, a poster frame).
RESULT_RESERVE_SECONDS = 2.0


@dataclass
class AppState:
    """What the lifespan yields; tools reach it through the request context."""

    settings: Settings
    engine: JobEngine
    models: tuple[ModelSpec, ...]
    provider_name: str
    simulated: bool
    client_log: ClientLog

    @property
    def max_wait(self) -> int:
        return self.settings.max_wait_seconds


def state_of(ctx: Context) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


@dataclass
class Call:
    """One tool call: the app state, its context, and the time by which it must answer."""

    state: AppState
    ctx: Context
    deadline: float  # on anyio's clock
    _last_progress: float = field(default=-1.0, repr=False)

    @classmethod
    def begin(cls, ctx: Context) -> Call:
        state = state_of(ctx)
        return cls(state, ctx, anyio.current_time() + state.max_wait)

    def remaining(self) -> float:
        """Seconds left for waiting, keeping the result-building reserve."""
        return max(0.0, self.deadline - anyio.current_time() - RESULT_RESERVE_SECONDS)

    async def wait_budget(self, requested: int) -> tuple[float, int | None]:
        """How long this call may wait for ``requested`` seconds, and the cap when it had to shorten it (which
        the client is also told in a log message)."""
        cap = self.state.max_wait
        if requested <= cap:
            return min(float(requested), self.remaining()), None
        await self.log(
            "notice", f"wait_seconds={requested} shortened to {cap}s, this server's cap (WAN_MAX_WAIT_SECONDS)"
        )
        return min(float(requested), self.remaining()), cap

    async def progress(self, percent: float, message: str) -> None:
        """A progress notification (only clients that sent a token get one).

        The spec wants every value larger than the last: the render maps to 0-95 of 100, and heartbeats and
        the download step nudge the value up by 0.01, never past 99.99 (the result itself says 'done').
        """
        await self._send(max(round(0.95 * min(max(percent, 0.0), 100.0), 2), self._last_progress + 0.01), message)

    async def heartbeat(self, message: str) -> None:
        """A keep-alive while slow work runs: the same progress, nudged up."""
        await self._send(max(0.0, self._last_progress + 0.01), message)

    async def _send(self, value: float, message: str) -> None:
        self._last_progress = min(round(value, 2), 99.99)
        await self.ctx.report_progress(self._last_progress, 100.0, message)

    async def log(self, level: types.LoggingLevel, message: str) -> None:
        """An MCP log message to this call's client, when its chosen level lets it through."""
        await self.state.client_log.send(self.ctx, level, message)

    def beat(self, message: str) -> Callable[[], Awaitable[None]]:
        """A heartbeat callback for background jobs, repeating ``message``."""

        async def send() -> None:
            await self.heartbeat(message)

        return send


# --------------------------------------------------------------------------- MCP adapters


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
                parts.append((clip(name), f"unknown field '{clip(name)}'; allowed fields: {allowed}"))
            else:
                parts.append(
                    (clip(name), f"{clip(name)} {clip(json.dumps(err.get('input'), default=str))}: {err['msg']}")
                )
        error = InvalidRequest("; ".join(text for _, text in parts), field=parts[0][0])
        error.problems = [{"field": f, "message": m} for f, m in parts]  # type: ignore[attr-defined]
        raise error from exc


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Handler = Callable[[dict[str, Any], Call], Awaitable[types.CallToolResult]]


class AdapterTool(Tool):
    """A tool whose handler sees the raw arguments and whose errors become isError results."""

    handler: Handler = Field(exclude=True)
    declared_output_schema: dict[str, Any] = Field(exclude=True)

    @property
    def output_schema(self) -> dict[str, Any] | None:  # type: ignore[override]
        return self.declared_output_schema

    async def run(self, arguments: dict[str, Any], context: Context, convert_result: bool = False) -> Any:
        try:
            return await self.handler(arguments, Call.begin(context))
        except WanError as exc:
            return error_result(exc)
        except Exception:
            # A bug of ours: still an error result every client accepts, with the details in the log only.
            logger.exception("tool %s failed unexpectedly", self.name)
            return error_result(
                WanError(
                    f"{self.name} failed unexpectedly inside the server (the details are in the server's log)",
                    code="internal_error",
                    hint="Call list_tasks to see whether a task was recorded before calling generate_video again.",
                )
            )


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

    return AdapterTool(
        fn=stub,
        name=name,
        title=title,
        description=description,
        parameters=input_schema,
        fn_metadata=func_metadata(stub),
        is_async=True,
        annotations=annotations,
        context_kwarg=None,
        handler=handler,
        declared_output_schema=output_schema(output_model),
    )


def args_schema(model: type[BaseModel]) -> dict[str, Any]:
    return compact_schema(model.model_json_schema())
