"""The generate_video input schema (JSON Schema 2020-12), generated from the model table and the shared rules.

Each model's narrowing (``rules.model_rules``) becomes an ``if model is ... then ...`` block; ``validate``
enforces exactly what this schema says (tests hold the two together).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, FAMILY_INPUTS, MEDIA_FIELDS, MODELS, TIERS, ModelSpec
from wan_video_mcp.server.catalog.rules import (
    FORBIDDEN,
    HTTP_URL_PATTERN,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    IMAGE_URL_PATTERN,
    MAX_DATA_URL_CHARS,
    MAX_REFERENCE_VIDEOS,
    MAX_URL_CHARS,
    NEGATIVE_PROMPT_MAX,
    PROMPT_PATTERN,
    SEED_MAX,
    TEXT_PATTERN,
    WAIT_SECONDS_DEFAULT,
    WAIT_SECONDS_MAX,
    model_rules,
)

_DESCRIPTIONS = {
    "prompt": "What the video shows; required for t2v and r2v. Max 1500 chars (2.5/2.6), 800 (older); "
    "never truncated: too long is rejected.",
    "negative_prompt": "What must not appear. Max 500 chars.",
    "size": "width*height for t2v/r2v, by tier (default): {sizes}.",
    "resolution": "Tier for i2v/kf2v (default): {res}.",
    "duration": "Seconds, billed per second (default 5): {durations}.",
    "audio": "Generate sound (default true). Only {audio}.",
    "audio_url": "http(s) wav/mp3, 3-30 s, <=15 MB, to sync to. Only {audio_url}. Not with audio=false.",
    "prompt_extend": "Let the service rewrite the prompt (default true).",
    "shot_type": "Only {shot}; multi needs prompt_extend=true.",
    "watermark": "Add an 'AI generated' mark (default false).",
    "seed": "For reproducibility.",
    "img_url": "Image for i2v (required there): http(s) or data:image/...;base64.",
    "first_frame_url": "First frame for kf2v (required there): http(s) or data URL.",
    "last_frame_url": "Optional last frame for kf2v.",
    "reference_video_urls": "r2v (required there): 1-3 mp4/mov URLs; call them character1, character2... in "
    "the prompt.",
    "wait_seconds": "Wait this long (default {wait_default}, at most {wait_max}: this server's cap) for the "
    "video, then return a task_id for check_task; the task runs on either way.",
    "idempotency_key": "Repeating a key returns its task instead of paying again.",
    "force_new": "Pay again even if an identical request was made recently.",
    "dry_run": "Validate and price only; nothing is submitted.",
}


def _grouped(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> str:
    """'a, b: X; c: Y' - models grouped by a rendered value, to keep descriptions short."""
    groups: dict[str, list[str]] = {}
    for spec in models:
        value = key(spec)
        if value is not None:
            groups.setdefault(value, []).append(_short(spec.id))
    return "; ".join(f"{', '.join(ids)}: {value}" for value, ids in groups.items()) or "none"


def _short(model_id: str) -> str:
    return model_id.removeprefix("wan")


def _ids(models: Iterable[ModelSpec], predicate: Callable[[ModelSpec], bool]) -> str:
    ids = [_short(spec.id) for spec in models if predicate(spec)]
    return ", ".join(ids) if ids else "no offered model"


def _implied(rule: Any, union: dict[str, Any]) -> bool:
    """Whether a model's narrowing adds nothing to the field's own schema (e.g. every size is allowed)."""
    return rule != FORBIDDEN and all(union.get(key) == value for key, value in rule.items())


def _one_of(values: list[str]) -> dict[str, Any]:
    return {"const": values[0]} if len(values) == 1 else {"enum": values}


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
            ("properties", name, rule)
            for name, rule in rules["properties"].items()
            if name in properties and not _implied(rule, properties[name])
        ]
        constraints += [("required", name, True) for name in rules.get("required", [])]
        for constraint in constraints:
            token = json.dumps(constraint, sort_keys=True)
            models_by_constraint.setdefault(token, (constraint, []))[1].append(spec.id)
    then_by_models: dict[tuple[str, ...], dict[str, Any]] = {}
    for (kind, name, rule), model_ids in models_by_constraint.values():
        then = then_by_models.setdefault(tuple(model_ids), {})
        if kind == "properties":
            then.setdefault("properties", {})[name] = rule
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
        if len(complement) < len(group):
            # "any offered model but these" is shorter; an unoffered value fails the top-level enum anyway.
            match: dict[str, Any] = {"not": _one_of(complement)}
        else:
            match = _one_of(list(group))
        condition: dict[str, Any] = {"properties": {"model": match}}
        if default_model not in group:
            # Without `required`, an absent model would match every block; absent means the default.
            condition["required"] = ["model"]
        block: dict[str, Any] = {"if": condition, "then": then}
        if otherwise is not None:
            block["else"] = otherwise  # the complementary models' rules: one block instead of two
        blocks.append(block)
    return blocks


def input_schema(models: Sequence[ModelSpec] = MODELS, max_wait: int = WAIT_SECONDS_MAX) -> dict[str, Any]:
    """The generate_video input schema (JSON Schema 2020-12) for the offered models."""
    if not models:
        raise ValueError("no models offered")
    ids = [spec.id for spec in models]
    default_model = DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0]
    all_durations = sorted({d for spec in models for d in spec.durations})
    sizes = [s for tier in TIERS for s in TIERS[tier] if any(s in spec.sizes for spec in models)]
    resolutions = [t for t in TIERS if any(t in spec.tiers and not spec.uses_size for spec in models)]

    # Computed once, not per description.
    placeholders = {
        "sizes": _grouped(models, lambda s: f"{'/'.join(s.tiers)} ({s.default_size})" if s.uses_size else None),
        "res": _grouped(models, lambda s: None if s.uses_size else f"{'/'.join(s.tiers)} ({s.default_tier})"),
        "durations": _grouped(models, lambda s: s.duration_text),
        "audio": _ids(models, lambda s: s.audio),
        "audio_url": _ids(models, lambda s: s.audio_url),
        "shot": _ids(models, lambda s: s.shot_type),
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
            "description": "Wan model. Input by name: t2v text, i2v image, kf2v first/last frame, r2v reference "
            "videos. Per-model rules below; rules and prices: resource wan-video://models.",
        },
        "prompt": {
            "type": "string",
            "minLength": 1,
            "maxLength": max(s.prompt_max for s in models),
            "pattern": PROMPT_PATTERN,
        },
        "negative_prompt": {"type": "string", "maxLength": NEGATIVE_PROMPT_MAX, "pattern": TEXT_PATTERN},
    }
    if sizes:
        properties["size"] = {"type": "string", "enum": sizes}
    if resolutions:
        properties["resolution"] = {"type": "string", "enum": resolutions}
    properties |= {
        "duration": {"type": "integer", "minimum": all_durations[0], "maximum": all_durations[-1]},
        "audio": {"type": "boolean"},
        "audio_url": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_CHARS},
        "prompt_extend": {"type": "boolean", "default": True},
        "shot_type": {"type": "string", "enum": ["single", "multi"]},
        "watermark": {"type": "boolean", "default": False},
        "seed": {"type": "integer", "minimum": 0, "maximum": SEED_MAX},
        "img_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "first_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "last_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "reference_video_urls": {
            "type": "array",
            "items": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": MAX_URL_CHARS},
            "minItems": 1,
            "maxItems": MAX_REFERENCE_VIDEOS,
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
            "type": "string",
            "minLength": 1,
            "maxLength": IDEMPOTENCY_KEY_MAX,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
        "force_new": {"type": "boolean", "default": False},
        "dry_run": {"type": "boolean", "default": False},
    }
    # Fields no offered model accepts are left out entirely.
    offered_media = {name for spec in models for name in FAMILY_INPUTS[spec.family].media}
    for name, present in (
        ("audio", any(s.audio for s in models)),
        ("audio_url", any(s.audio_url for s in models)),
        ("shot_type", any(s.shot_type for s in models)),
        *((name, name in offered_media) for name in MEDIA_FIELDS),
    ):
        if not present:
            del properties[name]
    for name, prop in properties.items():
        if name in _DESCRIPTIONS:
            prop["description"] = text(name)

    rules = _grouped_rules(models, default_model, properties)
    if "shot_type" in properties:
        rules.append(
            {
                "if": {"properties": {"shot_type": {"const": "multi"}}, "required": ["shot_type"]},
                "then": {"properties": {"prompt_extend": {"const": True}}},
            }
        )
    if "audio_url" in properties:
        rules.append({"not": {"properties": {"audio": {"const": False}}, "required": ["audio", "audio_url"]}})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "allOf": rules,
    }
