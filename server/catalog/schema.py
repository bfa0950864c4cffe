"""The generate_video input schema (JSON Schema 2020-12), generated from the model table and the shared rules.

Each model's narrowing (``rules.model_rules``) becomes an ``if model is ... then ...`` block; ``validate``
enforces exactly what this schema says (tests hold the two together).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from wan_video_mcp.server.catalog.media import IMAGE, LINK
from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, MEDIA_FIELDS, MODELS, TIERS, ModelSpec
from wan_video_mcp.server.catalog.rules import (
    FORBIDDEN,
    HTTP_URL_PATTERN,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    IMAGE_URL_PATTERN,
    MAX_DATA_URL_CHARS,
    MAX_MEDIA_DATA_URL_CHARS,
    MAX_REFERENCE_URLS,
    MAX_REFERENCE_VIDEOS,
    MAX_URL_CHARS,
    MEDIA_ITEM_KEYS,
    MEDIA_URL_PATTERN,
    NEGATIVE_PROMPT_MAX,
    PROMPT_PATTERN,
    SEED_MAX,
    STORED_URL_PATTERN,
    TEXT_PATTERN,
    VOICED_TYPES,
    WAIT_SECONDS_DEFAULT,
    WAIT_SECONDS_MAX,
    model_rules,
)

_DESCRIPTIONS = {
    "prompt": "What the video shows. Over the model's limit is rejected, never truncated.",
    "negative_prompt": "What must not appear.",
    "size": "width*height. Default: {sizes}.",
    "resolution": "Default: {res}.",
    "ratio": "Aspect. Default: {ratio}; none: keep the input's aspect.",
    "duration": "Seconds, each billed. Default: {durations}.",
    "audio": "Generate sound (default true).",
    "audio_url": "wav/mp3 to sync to, <=15 MB, 2-30 s (legacy 3-30). Not with audio=false.",
    "audio_setting": "auto (default: may remake the sound) or origin (keep the input's).",
    "prompt_extend": "Let the service enrich the prompt.",
    "shot_type": "multi needs prompt_extend=true.",
    "watermark": "Add an 'AI generated' mark.",
    "seed": "-1: random, as when absent.",
    "img_url": "Legacy i2v image: http(s) or data:image/...;base64.",
    "first_frame_url": "kf2v first frame.",
    "last_frame_url": "kf2v last frame.",
    "reference_video_urls": "mp4/mov: character1, 2... in the prompt.",
    "reference_urls": "Images, mp4/mov: character1, 2... in the prompt.",
    "media": "url: http(s), oss:// or (images) data:image/...;base64. Seconds, checked before submitting: {seconds}.",
    "wait_seconds": "Wait up to this long (cap {wait_max}) for the video, else return a task_id.",
    "idempotency_key": "A repeated key returns its task: no second payment.",
    "force_new": "Pay again for a request identical to a recent one.",
    "dry_run": "Validate and price only; nothing is submitted.",
}


def _grouped(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> str:
    """'a, b: X; c: Y' - models grouped by a rendered value, to keep descriptions short."""
    groups: dict[str, list[ModelSpec]] = {}
    for spec in models:
        value = key(spec)
        if value is not None:
            groups.setdefault(value, []).append(spec)
    return "; ".join(f"{_names(chosen, models)}: {value}" for value, chosen in groups.items()) or "none"


def _usual(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> str:
    """'X (Y: a, b)' - the most common value, then the others with their models."""
    groups: dict[str, list[ModelSpec]] = {}
    for spec in models:
        value = key(spec)
        if value is not None:
            groups.setdefault(value, []).append(spec)
    if not groups:
        return "none"
    common = max(groups, key=lambda value: len(groups[value]))
    others = "; ".join(f"{value}: {_names(chosen, models)}" for value, chosen in groups.items() if value != common)
    return f"{common} ({others})" if others else common


def _names(chosen: Sequence[ModelSpec], models: Sequence[ModelSpec]) -> str:
    """The chosen models, short: a generation all of whose offered models are chosen is named once ("2.7*").

    A dated snapshot always follows its model, so it is never named on its own.
    """
    picked = {spec.id for spec in chosen}
    names: list[str] = []
    for spec in chosen:
        generation = spec.id.split("-")[0]
        siblings = [other.id for other in models if other.id.split("-")[0] == generation]
        if len(siblings) > 1 and all(sibling in picked for sibling in siblings):
            name = generation.removeprefix("wan") + "*"
        elif spec.snapshot_of is not None and spec.snapshot_of in picked:
            continue
        else:
            name = spec.id.removeprefix("wan")
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _ids(models: Sequence[ModelSpec], predicate: Callable[[ModelSpec], bool]) -> str:
    chosen = [spec for spec in models if predicate(spec)]
    return _names(chosen, models) if chosen else "no offered model"


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
    candidates = [rule, _one_of(allowed) if allowed else rule, {"not": _one_of(others)} if others else {}]
    return min(candidates, key=lambda c: len(json.dumps(c, separators=(",", ":"))))


def _allows(rule: dict[str, Any], value: Any) -> bool:
    """Whether a narrowing made of enum / minimum / maximum / anyOf admits the value."""
    if "anyOf" in rule:
        return any(_allows(option, value) for option in rule["anyOf"])
    if "enum" in rule and value not in rule["enum"]:
        return False
    return bool(rule.get("minimum", value) <= value <= rule.get("maximum", value))


def _one_of(values: list[Any]) -> dict[str, Any]:
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
    return min((condition, negated), key=lambda c: len(json.dumps(c, separators=(",", ":"))))


def _model_match(group: list[str], complement: list[str], *, negation: bool = True) -> dict[str, Any]:
    """The shortest schema that holds for the group's model ids and for none of the other offered ones.

    The candidates: the ids themselves, "none of the others", or prefixes ("^(wan2\\.7-|wan3)"): a
    model value that is not offered at all fails the top-level enum anyway, so only offered ids matter.
    """
    candidates: list[dict[str, Any]] = [_one_of(group)]
    if complement:
        if negation:  # (not inside another "not": a double negation is too hard to read)
            candidates.append({"not": _one_of(complement)})
        candidates.append({"pattern": _prefix_pattern(group, complement)})
    return min(candidates, key=lambda c: len(json.dumps(c, separators=(",", ":"))))


def _prefix_pattern(group: list[str], complement: list[str]) -> str:
    """An anchored regex of the shortest prefixes that start every id of ``group`` and no id of ``complement``."""
    prefixes: list[str] = []
    for model_id in group:
        assert re.fullmatch(r"[a-z0-9.-]+", model_id), model_id  # nothing else needs escaping in JS and Python
        for end in range(1, len(model_id) + 1):
            prefix = model_id[:end]
            if not any(other.startswith(prefix) for other in complement):
                break
        else:
            prefix = model_id + "$"  # another offered id extends this one (a dated snapshot): match it whole
        prefixes.append(prefix)
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


def _grouped_rules(models: Sequence[ModelSpec], default_model: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
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


def _default_duration(spec: ModelSpec) -> str:
    specials = ", ".join(f"{value} = {meaning}" for value, meaning in spec.duration_specials.items())
    if spec.default_duration in spec.duration_specials:
        return specials
    return f"{spec.default_duration}" + (f", {specials}" if specials else "")


def _media_text(spec: ModelSpec) -> str | None:
    if spec.media is None:
        return None
    counts = ", ".join(f"{slot.type}<={slot.max}" for slot in spec.media.slots)
    return f"{counts}; {spec.media.note}"


def _seconds_text(spec: ModelSpec) -> str | None:
    """A model's length rules in seconds (validator-only: JSON Schema cannot measure a file)."""
    if spec.media is None:
        return None
    totals = {t: most for types, most in spec.media.seconds_total for t in types}
    each = []
    for slot in spec.media.slots:
        if slot.seconds:
            total = f", <={totals[slot.type]:g} all" if slot.type in totals else ""
            each.append(f"{slot.type} {slot.seconds[0]:g}-{slot.seconds[1]:g}{total}")
    if spec.total_seconds_max:
        each.append(f"input video + duration <={spec.total_seconds_max}")
    return ", ".join(each) or None


def _media_property(models: Sequence[ModelSpec]) -> dict[str, Any] | None:
    """The ``media`` list every media-protocol model shares: item shape and each type's URL kind."""
    kinds: dict[str, str] = {}
    for spec in models:
        for slot in spec.media.slots if spec.media else ():
            kinds.setdefault(slot.type, slot.kind)
    if not kinds:
        return None
    images = [t for t, kind in kinds.items() if kind == IMAGE]
    links = [t for t, kind in kinds.items() if kind == LINK]
    # A data: URL only on an image type (and only then longer than a URL may be); a link only http(s).
    url_rules: list[dict[str, Any]] = [
        {
            "if": {"properties": {"url": {"pattern": "^data:"}}},
            "then": {"properties": {"type": {"enum": images}}},
            "else": {"properties": {"url": {"maxLength": MAX_URL_CHARS}}},
        }
    ]
    if links:
        url_rules.append(
            {"if": {"properties": {"type": {"enum": links}}}, "then": {"properties": {"url": {"pattern": "^https?:"}}}}
        )
    item: dict[str, Any] = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(kinds)},
            "url": {"type": "string", "pattern": MEDIA_URL_PATTERN, "maxLength": MAX_MEDIA_DATA_URL_CHARS},
            "reference_voice": {"type": "string", "pattern": STORED_URL_PATTERN, "maxLength": MAX_URL_CHARS},
        },
        "required": ["type", "url"],
        "additionalProperties": False,
    }
    assert tuple(item["properties"]) == MEDIA_ITEM_KEYS
    voiced = sorted(VOICED_TYPES & set(kinds))
    # reference_voice only on the types some model voices (each model narrows it further).
    url_rules.append(
        {
            "if": {"required": ["reference_voice"]},
            "then": {"properties": {"type": _one_of(voiced) if voiced else FORBIDDEN}},
        }
    )
    item["allOf"] = url_rules
    return {"type": "array", "minItems": 1, "items": item}


def input_schema(models: Sequence[ModelSpec] = MODELS, max_wait: int = WAIT_SECONDS_MAX) -> dict[str, Any]:
    """The generate_video input schema (JSON Schema 2020-12) for the offered models."""
    if not models:
        raise ValueError("no models offered")
    ids = [spec.id for spec in models]
    default_model = DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0]
    all_durations = sorted({d for spec in models for d in spec.durations})
    sizes = [s for tier in TIERS for s in TIERS[tier] if any(s in spec.sizes for spec in models)]
    resolutions = [t for t in TIERS if any(t in spec.tiers and not spec.uses_size for spec in models)]
    ratios = list(dict.fromkeys(r for spec in models for r in spec.ratios))

    # Computed once, not per description.
    placeholders = {
        "sizes": _usual(models, lambda s: s.default_size if s.uses_size else None),
        "res": _usual(models, lambda s: None if s.uses_size else s.default_tier),
        "ratio": _usual(models, lambda s: s.default_ratio),
        "durations": _usual(models, _default_duration),
        "media": _grouped(models, _media_text),
        "seconds": _grouped(models, _seconds_text),
        "wait_default": min(WAIT_SECONDS_DEFAULT, max_wait),
        "wait_max": max_wait,
    }

    def text(name: str) -> str:
        return _DESCRIPTIONS[name].format(**placeholders)

    properties: dict[str, Any] = {
        "model": {
            "type": "string",
            "enum": ids,
            "default": default_model,
            "description": "wan2.7 and wan3.0 are current. Rules below; prices: resource wan-video://models.",
        },
        "prompt": {
            "type": "string",
            "maxLength": max(s.prompt_max for s in models),
            "pattern": PROMPT_PATTERN,  # at least one visible character: no minLength needed
        },
        "negative_prompt": {"type": "string", "maxLength": NEGATIVE_PROMPT_MAX, "pattern": TEXT_PATTERN},
    }
    if sizes:
        properties["size"] = {"type": "string", "enum": sizes}
    if resolutions:
        properties["resolution"] = {"type": "string", "enum": resolutions}
    if ratios:
        properties["ratio"] = {"type": "string", "enum": ratios}
    media = _media_property(models)
    if media is not None:
        properties["media"] = media
    properties |= {
        "duration": {"type": "integer", "minimum": all_durations[0], "maximum": all_durations[-1]},
        "audio": {"type": "boolean"},
        "audio_url": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_CHARS},
        "audio_setting": {"type": "string", "enum": ["auto", "origin"]},
        "prompt_extend": {"type": "boolean", "default": True},
        "shot_type": {"type": "string", "enum": ["single", "multi"]},
        "watermark": {"type": "boolean", "default": False},
        "seed": {"type": "integer", "minimum": -1, "maximum": SEED_MAX},
        "img_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "first_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "last_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "reference_video_urls": {
            "type": "array",
            "items": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_CHARS},
            "minItems": 1,
            "maxItems": MAX_REFERENCE_VIDEOS,
        },
        "reference_urls": {
            "type": "array",
            "items": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_CHARS},
            "minItems": 1,
            "maxItems": MAX_REFERENCE_URLS,
        },
        # The published maximum is the server's cap (WAN_MAX_WAIT_SECONDS); validate() accepts up to
        # WAIT_SECONDS_MAX and the tool shortens a longer wait to the cap, saying so.
        "wait_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": max_wait,
            "default": min(WAIT_SECONDS_DEFAULT, max_wait),
        },
        "idempotency_key": {
            "type": "string",  # (the pattern needs one character at least: no minLength)
            "maxLength": IDEMPOTENCY_KEY_MAX,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
        "force_new": {"type": "boolean", "default": False},
        "dry_run": {"type": "boolean", "default": False},
    }
    # Fields no offered model accepts are left out entirely.
    offered_media = {name for spec in models for name in spec.inputs.media}
    for name, present in (
        ("negative_prompt", any(s.negative_prompt for s in models)),
        ("audio", any(s.audio for s in models)),
        ("audio_url", any(s.audio_url for s in models)),
        ("audio_setting", any(s.audio_setting for s in models)),
        ("shot_type", any(s.shot_type for s in models)),
        *((name, name in offered_media) for name in MEDIA_FIELDS),
    ):
        if not present:
            properties.pop(name, None)
    for name, prop in properties.items():
        if name in _DESCRIPTIONS:
            prop["description"] = text(name)

    rules = _grouped_rules(models, default_model, properties)
    if "shot_type" in properties:
        rules.append(
            {
                "not": {
                    "required": ["shot_type", "prompt_extend"],
                    "properties": {"shot_type": {"const": "multi"}, "prompt_extend": {"const": False}},
                }
            }
        )
    if "audio_url" in properties:
        rules.append({"not": {"properties": {"audio": {"const": False}}, "required": ["audio", "audio_url"]}})
    # No "$schema": MCP reads a tool schema without one as JSON Schema 2020-12, which this is.
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "allOf": rules,
    }
