"""The generate_video input schema (JSON Schema 2020-12), generated from the model table and the shared rules.

Each model's narrowing (``rules.model_rules``) becomes an ``if model is ... then ...`` block, written compactly by
``grouping``; ``validate`` enforces exactly what this schema says (tests hold the two together).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from wan_video_mcp.server.catalog.grouping import grouped_rules, one_of
from wan_video_mcp.server.catalog.media import IMAGE, LINK
from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, MEDIA_FIELDS, MODELS, TIERS, ModelSpec
from wan_video_mcp.server.catalog.rules import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    IMAGE_URL_PATTERN,
    MAX_DATA_URL_CHARS,
    MAX_MEDIA_DATA_URL_CHARS,
    MAX_REFERENCE_URLS,
    MAX_REFERENCE_VIDEOS,
    MAX_URL_CHARS,
    MEDIA_ITEM_KEYS,
    NEGATIVE_PROMPT_MAX,
    PROMPT_PATTERN,
    SEED_MAX,
    STORED_URL_PATTERN,
    TEXT_PATTERN,
    VOICED_TYPES,
    WAIT_SECONDS_DEFAULT,
    WAIT_SECONDS_MAX,
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
    "img_url": "Legacy i2v image.",
    "first_frame_url": "kf2v first frame.",
    "last_frame_url": "kf2v last frame.",
    "reference_video_urls": "mp4/mov: character1, 2... in the prompt.",
    "reference_urls": "Images, mp4/mov: character1, 2... in the prompt.",
    "media": "Seconds, checked before submitting: {seconds}.",
    "wait_seconds": "Wait up to this long (cap {wait_max}) for the video, else return a task_id.",
    "idempotency_key": "A repeated key returns its task: no second payment.",
    "force_new": "Pay again for a request identical to a recent one.",
    "dry_run": "Validate and price only; nothing is submitted.",
}


def _by_value(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> dict[str, list[ModelSpec]]:
    """The models grouped by a rendered value (None: left out), in first-seen order."""
    groups: dict[str, list[ModelSpec]] = {}
    for spec in models:
        value = key(spec)
        if value is not None:
            groups.setdefault(value, []).append(spec)
    return groups


def _grouped(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> str:
    """'a, b: X; c: Y' - models grouped by a rendered value, to keep descriptions short."""
    groups = _by_value(models, key)
    return "; ".join(f"{_names(chosen, models)}: {value}" for value, chosen in groups.items()) or "none"


def _usual(models: Sequence[ModelSpec], key: Callable[[ModelSpec], str | None]) -> str:
    """'X (Y: a, b)' - the most common value, then the others with their models."""
    groups = _by_value(models, key)
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


def _default_duration(spec: ModelSpec) -> str:
    specials = ", ".join(f"{value} = {meaning}" for value, meaning in spec.duration_specials.items())
    if spec.default_duration in spec.duration_specials:
        return specials
    return f"{spec.default_duration}" + (f", {specials}" if specials else "")


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
            "url": {"$ref": IMAGE_REF, "maxLength": MAX_MEDIA_DATA_URL_CHARS},
            "reference_voice": {"$ref": INPUT_REF},
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
            "then": {"properties": {"type": one_of(voiced) if voiced else FORBIDDEN}},
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
        "audio_url": {"$ref": INPUT_REF},
        "audio_setting": {"type": "string", "enum": ["auto", "origin"]},
        "prompt_extend": {"type": "boolean", "default": True},
        "shot_type": {"type": "string", "enum": ["single", "multi"]},
        "watermark": {"type": "boolean", "default": False},
        "seed": {"type": "integer", "minimum": -1, "maximum": SEED_MAX},
        "img_url": {"$ref": IMAGE_REF, "maxLength": MAX_DATA_URL_CHARS},
        "first_frame_url": {"$ref": IMAGE_REF, "maxLength": MAX_DATA_URL_CHARS},
        "last_frame_url": {"$ref": IMAGE_REF, "maxLength": MAX_DATA_URL_CHARS},
        "reference_video_urls": {
            "type": "array",
            "items": {"$ref": INPUT_REF},
            "minItems": 1,
            "maxItems": MAX_REFERENCE_VIDEOS,
        },
        "reference_urls": {
            "type": "array",
            "items": {"$ref": INPUT_REF},
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

    rules = grouped_rules(models, default_model, properties)
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
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "allOf": rules,
    }
    # The two input patterns are long and repeated: written once, referred to where used.
    used = json.dumps(properties)
    defs = {name: rule for ref, (name, rule) in _INPUT_DEFS.items() if ref in used}
    if defs:
        schema["$defs"] = defs
    return schema


IMAGE_REF, INPUT_REF = "#/$defs/image", "#/$defs/input"
_INPUT_DEFS: dict[str, tuple[str, dict[str, Any]]] = {
    IMAGE_REF: ("image", {"type": "string", "pattern": IMAGE_URL_PATTERN}),
    INPUT_REF: ("input", {"type": "string", "pattern": STORED_URL_PATTERN, "maxLength": MAX_URL_CHARS}),
}
