"""Every tool schema passes the MCP Inspector's strict lint, for every provider configuration.

`npx @modelcontextprotocol/inspector --cli ... --method tools/list --strict` (2.12) needs Node >= 22.19, which
this project's machines don't have, so its four rules are applied here as the Inspector states them:
boolean-schema (error: a bare true/false where a schema is expected, except as the value of
additionalProperties / unevaluatedProperties / additionalItems / unevaluatedItems), type-union (warning:
`type` as an array), remote-ref (warning: a `$ref` not starting with '#'), untyped-schema (warning: a schema
with no validating keyword; an empty schema directly under `not` is allowed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.config import Settings

TOOLS_LIST_BUDGET = 20_000  # bytes of compact JSON
SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_ONE = (
    "not",
    "if",
    "then",
    "else",
    "items",
    "contains",
    "propertyNames",
    "additionalProperties",
    "unevaluatedProperties",
    "additionalItems",
    "unevaluatedItems",
)
BOOLEAN_OK = {"additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems"}
NON_VALIDATING = {
    "description",
    "default",
    "title",
    "examples",
    "$schema",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
}


def lint(schema: Any, path: str = "", parent_key: str = "") -> list[str]:
    findings: list[str] = []
    if isinstance(schema, bool):
        if parent_key not in BOOLEAN_OK:
            findings.append(f"error boolean-schema at {path}")
        return findings
    assert isinstance(schema, dict), path
    if isinstance(schema.get("type"), list):
        findings.append(f"warning type-union at {path}")
    ref = schema.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        findings.append(f"warning remote-ref at {path}")
    keys = set(schema) - NON_VALIDATING
    if "if" in keys and not ({"then", "else"} & keys):
        keys.discard("if")
    if not keys and not (parent_key == "not" and schema == {}):
        findings.append(f"warning untyped-schema at {path}")
    for key in SCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            findings += lint(sub, f"{path}/{key}/{name}", key)
    for key in SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            findings += lint(sub, f"{path}/{key}/{i}", key)
    for key in SCHEMA_ONE:
        if key in schema:
            findings += lint(schema[key], f"{path}/{key}", key)
    return findings


CONFIGS = {
    "dashscope-intl": {},
    "dashscope-us": {"region": "us"},
    "dashscope-cn": {"region": "cn"},
    "newapi": {"provider": "newapi", "base_url": "http://127.0.0.1:9"},
    "yuto": {"provider": "yuto", "base_url": "http://127.0.0.1:9"},
    "vtrix": {"provider": "vtrix", "base_url": "http://127.0.0.1:9"},
}


def tools_for(tmp_path: Path, **overrides: Any) -> list[dict[str, Any]]:
    server = build_server(Settings(data_dir=tmp_path, **overrides))
    tools = anyio.run(server.list_tools)
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
def test_every_tool_schema_passes_the_inspector_strict_lint(tmp_path, config):
    for tool in tools_for(tmp_path, **CONFIGS[config]):
        for kind in ("inputSchema", "outputSchema"):
            assert lint(tool[kind]) == [], (tool["name"], kind)


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
def test_the_tool_listing_stays_within_20_kb_for_every_provider(tmp_path, config):
    # The budget of the current-models issue: every model's rules plus both outcomes of every tool.
    size = len(json.dumps({"tools": tools_for(tmp_path, **CONFIGS[config])}, separators=(",", ":")))
    assert size <= TOOLS_LIST_BUDGET, size


def test_the_lint_catches_what_it_should():
    assert lint({"type": "object", "properties": {"a": False}}) == ["error boolean-schema at /properties/a"]
    assert lint({"type": ["string", "null"]}) == ["warning type-union at "]
    assert lint({"type": "object", "properties": {"a": {"description": "x"}}}) == [
        "warning untyped-schema at /properties/a"
    ]
    assert lint({"type": "object", "additionalProperties": False, "properties": {"a": {"not": {}}}}) == []
