"""How tools are declared to the SDK: plain tools from their signatures, the catalog tool from its schema.

Both go through the SDK's public ``Tool.from_function`` (what ``@server.tool()``
does): the function's ``Annotated`` parameters are the input schema, and its
return type ``Annotated[CallToolResult, <Outcome model>]`` the output schema
(success or ``ErrorResult``). Tools return ``CallToolResult``s of their own (text,
resource links, a poster frame) and raise ``WanError``s, which the server's
``call_tool`` reports as ``isError`` results (tools/outcomes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import mcp_types as types
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from pydantic import Field

from wan_video_mcp.tools.call import Call
from wan_video_mcp.tools.schemas import compact_schema, optional_not_null

Handler = Callable[[dict[str, Any], Call], Awaitable[types.CallToolResult]]


# tools/list has a byte budget (tests/test_schema_lint.py), so nothing in it is said twice: a tool's display
# name is its annotations' title (MCP reads it when a tool has no top-level title), and the annotations name only
# the hints that differ from MCP's defaults (readOnlyHint false, destructiveHint true, idempotentHint false,
# openWorldHint true; the middle two matter only when not read-only).


def plain_tool(fn: Callable[..., Any], *, description: str, annotations: types.ToolAnnotations) -> Tool:
    """A tool whose schema is its signature: compacted (tools/list is read on every connection), and closed to
    fields it does not name (which the server's ``call_tool`` refuses, as the SDK's argument model ignores them)."""
    tool = Tool.from_function(fn, description=description, annotations=annotations)
    tool.parameters = {"type": "object", "additionalProperties": False} | optional_not_null(
        compact_schema(tool.parameters)
    )
    return tool


class CatalogTool(Tool):
    """The one tool whose input schema is generated from the catalog (per-model ``if``/``then``, which no
    signature can say): its handler sees the raw arguments and validates them with the catalog's validator,
    the same rules the schema publishes, reporting every problem at once."""

    handler: Handler = Field(exclude=True)

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        result = await self.handler(arguments, Call.begin(context))
        return self.fn_metadata.convert_result(result) if convert_result else result


def catalog_tool(
    handler: Handler,
    *,
    name: str,
    description: str,
    input_schema: dict[str, Any],
    output_model: type[Any],
    annotations: types.ToolAnnotations,
) -> CatalogTool:
    """The catalog tool: ``input_schema`` as published, ``output_model`` declaring both outcomes."""

    async def declared() -> Any: ...  # stands for the handler in the SDK's bookkeeping; never called

    declared.__annotations__["return"] = Annotated[types.CallToolResult, output_model]
    base = Tool.from_function(declared, name=name, description=description, annotations=annotations)
    return CatalogTool(**(dict(base) | {"parameters": input_schema}), handler=handler)
