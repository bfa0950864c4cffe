"""JSON Schema shaping for tools/list: smaller schemas that say the same (no generated titles, shallow outputs)."""

from __future__ import annotations

from typing import Any


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


def optional_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema whose optional parameters (``X | None = None``) are typed ``X``: leaving one out means
    "not given", so null is never needed, and a type list or an ``anyOf`` with null costs bytes and lint warnings."""
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        kinds = prop.get("type")
        if isinstance(kinds, list) and "null" in kinds:
            rest = [k for k in kinds if k != "null"]
            prop = prop | {"type": rest[0] if len(rest) == 1 else rest}
        options = prop.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
            other = next(o for o in options if o != {"type": "null"})
            prop = {k: v for k, v in prop.items() if k != "anyOf"} | other
        properties[name] = prop
    return schema | {"properties": properties}
