"""Every model's rules as few and short ``if model ... then ...`` blocks: what keeps tools/list within its budget.

Models that share a constraint share a block; a block's models are named by the shortest of their ids, "none of
the others", or a trie-factored prefix pattern (``^wan2\\.(6-i|7)``); an enum narrowing may be said as "none of the
field's other values". The semantics are exactly those of one block per model (tests hold schema and validator
together), only the bytes differ.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.catalog.models import ModelSpec
from wan_video_mcp.server.catalog.rules import FORBIDDEN, model_rules

__all__ = ["grouped_rules", "one_of"]


def _size(schema: Any) -> int:
    return len(json.dumps(schema, separators=(",", ":")))


def _implied(rule: Any, union: dict[str, Any]) -> bool:
    """Whether a model's narrowing adds nothing to the field's own schema (e.g. every size is allowed)."""

    def same(key: str, value: Any) -> bool:
        if key == "enum" and isinstance(union.get(key), list):
            return set(union[key]) == set(value)
        return bool(union.get(key) == value)

    return rule != FORBIDDEN and all(same(key, value) for key, value in rule.items())


def _shortest(rule: Any, union: dict[str, Any]) -> Any:
    """A narrowing as "none of the field's other values" when that is shorter (an enum, or integers in a range)."""
    if not isinstance(rule, dict) or rule == FORBIDDEN:
        return rule
    if isinstance(union.get("enum"), list) and list(rule) == ["enum"]:
        values = union["enum"]
    elif union.get("type") == "integer" and "minimum" in union and "maximum" in union:
        values = list(range(union["minimum"], union["maximum"] + 1))
    else:
        return rule
    allowed = [value for value in values if _allows(rule, value)]
    others = [value for value in values if value not in allowed]
    candidates = [rule, one_of(allowed) if allowed else rule, {"not": one_of(others)} if others else {}]
    return min(candidates, key=_size)


def _allows(rule: dict[str, Any], value: Any) -> bool:
    """Whether a narrowing made of enum / minimum / maximum / anyOf admits the value."""
    if "anyOf" in rule:
        return any(_allows(option, value) for option in rule["anyOf"])
    if "enum" in rule and value not in rule["enum"]:
        return False
    return bool(rule.get("minimum", value) <= value <= rule.get("maximum", value))


def one_of(values: list[Any]) -> dict[str, Any]:
    return {"const": values[0]} if len(values) == 1 else {"enum": values}


def _model_condition(group: list[str], complement: list[str], default_model: str) -> dict[str, Any]:
    """An `if` that holds for the group's models, an absent model counting as the default one."""
    condition: dict[str, Any] = {"properties": {"model": _model_match(group, complement)}}
    if default_model in group:
        return condition
    # An absent model would pass `properties` and match every block; absent means the default. Either
    # require the model, or say "not one of the others" (which an absent model fails): the shorter.
    condition["required"] = ["model"]
    if not complement:
        return condition
    negated = {"not": {"properties": {"model": _model_match(complement, group, negation=False)}}}
    return min((condition, negated), key=_size)


def _model_match(group: list[str], complement: list[str], *, negation: bool = True) -> dict[str, Any]:
    """The shortest schema that holds for the group's model ids and for none of the other offered ones.

    The candidates: the ids themselves, "none of the others", or prefixes ("^(wan2\\.7-|wan3)"): a
    model value that is not offered at all fails the top-level enum anyway, so only offered ids matter.
    """
    candidates: list[dict[str, Any]] = [one_of(group)]
    if complement:
        if negation:  # (not inside another "not": a double negation is too hard to read)
            candidates.append({"not": one_of(complement)})
        candidates.append({"pattern": _prefix_pattern(group, complement)})
    return min(candidates, key=_size)


@functools.cache
def _shared(one: str, other: str) -> int:
    """How many leading characters two model ids share (asked for every pair, many times: remembered)."""
    return len(os.path.commonprefix([one, other]))


def _prefix_pattern(group: list[str], complement: list[str]) -> str:
    """An anchored regex of the shortest prefixes that start every id of ``group`` and no id of ``complement``."""
    prefixes: list[str] = []
    for model_id in group:
        assert re.fullmatch(r"[a-z0-9.-]+", model_id), model_id  # nothing else needs escaping in JS and Python
        # One character past the longest start it shares with any other offered id.
        end = 1 + max((_shared(model_id, other) for other in complement), default=0)
        # Past its own end, another offered id extends this one (a dated snapshot): match it whole.
        prefixes.append(model_id[:end] if end <= len(model_id) else model_id + "$")
    return "^" + _trie_regex(prefixes)


def _trie_regex(prefixes: list[str]) -> str:
    """One regex for "starts with one of these prefixes", factored like a trie: wan2.1-i, wan2.1-k -> wan2\\.1-[ik].

    A prefix ending in "$" must match whole; model ids hold only [a-z0-9.-], so "." is the one escape.
    """
    trie: dict[str, Any] = {}
    for prefix in prefixes:
        node = trie
        for char in prefix[:-1] if prefix.endswith("$") else prefix:
            node = node.setdefault(char, {})
        node[""] = "$" if prefix.endswith("$") else ""  # the end of a prefix: "$" (whole id) or anything after

    def emit(node: dict[str, Any]) -> str:
        if node.get("") == "":
            return ""  # a shorter prefix already matches everything below
        parts = [("$" if char == "" else char.replace(".", "\\.") + emit(sub)) for char, sub in sorted(node.items())]
        if len(parts) == 1:
            return parts[0]
        if all(len(part) == 1 and part != "$" for part in parts):
            return "[" + "".join(parts) + "]"
        return "(" + "|".join(parts) + ")"

    return emit(trie)


def grouped_rules(models: Sequence[ModelSpec], default_model: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model's `then`, factored: one `if model in [...]` block per set of models sharing constraints.

    Per-model blocks would repeat the same forbidden fields and enums fifteen times; grouping keeps
    tools/list small. The semantics are exactly those of one block per model.
    """
    # A constraint is ("properties", field, its schema) or ("required", field, True); each collects its models.
    models_by_constraint: dict[str, tuple[tuple[str, str, Any], list[str]]] = {}
    for spec in models:
        rules = model_rules(spec)
        constraints: list[tuple[str, str, Any]] = [
            ("properties", name, _shortest(rule, properties[name]))
            for name, rule in rules["properties"].items()
            if name in properties and not _implied(rule, properties[name])
        ]
        constraints += [("required", name, True) for name in rules.get("required", [])]
        constraints += [("allOf", json.dumps(rule, sort_keys=True), rule) for rule in rules.get("allOf", [])]
        for constraint in constraints:
            token = json.dumps(constraint, sort_keys=True)
            models_by_constraint.setdefault(token, (constraint, []))[1].append(spec.id)
    then_by_models: dict[tuple[str, ...], dict[str, Any]] = {}
    for (kind, name, rule), model_ids in models_by_constraint.values():
        then = then_by_models.setdefault(tuple(model_ids), {})
        if kind == "properties":
            then.setdefault("properties", {})[name] = rule
        elif kind == "allOf":
            then.setdefault("allOf", []).append(rule)
        else:
            then.setdefault("required", []).append(name)
    blocks: list[dict[str, Any]] = []
    offered = [spec.id for spec in models]
    for group, then in list(then_by_models.items()):
        if group not in then_by_models:
            continue  # already merged as another block's `else`
        del then_by_models[group]
        complement = [i for i in offered if i not in group]
        otherwise = then_by_models.pop(tuple(complement), None)
        condition = _model_condition(list(group), complement, default_model)
        block: dict[str, Any] = {"if": condition, "then": then}
        if otherwise is not None:
            block["else"] = otherwise  # the complementary models' rules: one block instead of two
        blocks.append(block)
    return blocks
