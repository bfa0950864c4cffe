"""``validate``: generate_video arguments checked against the catalog, every problem named, defaults filled.

It enforces exactly what ``input_schema`` says (tests hold the two together), reading the same per-model
rules, and adds what JSON Schema cannot say: messages an agent can act on, and the normalized request.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from wan_video_mcp.server.catalog.checks import (
    IDEMPOTENCY_KEY_RE,
    IMAGE_FORMS,
    IMAGE_URL_RE,
    INPUT_FORMS,
    PROMPT_RE,
    STORED_URL_RE,
    TEXT_RE,
    Problems,
    check_media_items,
    check_string,
    check_url_list,
    is_int,
    show,
)
from wan_video_mcp.server.catalog.media import media_problems
from wan_video_mcp.server.catalog.models import MODEL_INDEX, MODELS, ModelSpec
from wan_video_mcp.server.catalog.request import GenerationRequest, MediaItem, ValidatedCall
from wan_video_mcp.server.catalog.rules import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_MAX,
    MAX_DATA_URL_CHARS,
    MAX_REFERENCE_URLS,
    MAX_REFERENCE_VIDEOS,
    MAX_URL_CHARS,
    NEGATIVE_PROMPT_MAX,
    WAIT_SECONDS_DEFAULT,
    model_rules,
)
from wan_video_mcp.server.catalog.schema import input_schema
from wan_video_mcp.server.errors import InvalidRequest, clip

_PROPERTIES_CACHE: dict[tuple[str, ...], dict[str, Any]] = {}


def _properties_for(models: Sequence[ModelSpec]) -> dict[str, Any]:
    """The schema's properties for an offer, built once (validate runs on every call)."""
    key = tuple(spec.id for spec in models)
    if key not in _PROPERTIES_CACHE:
        _PROPERTIES_CACHE[key] = input_schema(models)["properties"]
    return _PROPERTIES_CACHE[key]


def validate(arguments: Mapping[str, Any], models: Sequence[ModelSpec] = MODELS) -> ValidatedCall:
    """Check generate_video arguments against the catalog; raise ``InvalidRequest`` naming every problem.

    Enforces exactly what ``input_schema(models)`` says (tests hold the two together).
    """
    if not isinstance(arguments, Mapping):
        raise InvalidRequest("arguments must be a JSON object", field=None)
    schema_props = _properties_for(models)
    problems = Problems()
    offered = {spec.id: spec for spec in models}

    unknown = sorted(set(arguments) - set(schema_props))
    for name in unknown:
        if name in _properties_for(MODELS):  # a field of generate_video that this offer lacks
            problems.add(name, f"{name} is not accepted by any model this server offers")
        else:
            problems.add(name, f"unknown field '{clip(name)}'; allowed fields: {', '.join(schema_props)}")

    model_id = arguments.get("model", schema_props["model"]["default"])
    spec: ModelSpec | None = None
    if not isinstance(model_id, str):
        problems.add("model", f"model must be a string, got {show(model_id)}")
    elif model_id not in offered:
        hint = " (known, but not offered by this provider or region)" if model_id in MODEL_INDEX else ""
        problems.add("model", f"model {show(model_id)} is not available{hint}; allowed: {', '.join(offered)}")
    else:
        spec = offered[model_id]

    def present(name: str) -> bool:
        return name in arguments and name in schema_props

    # Type and range checks that hold for every model.
    if present("prompt"):
        # With the model known, its own limit is checked with the per-model rules, whose message names it.
        check_string(
            problems,
            "prompt",
            arguments["prompt"],
            pattern=PROMPT_RE,
            max_len=schema_props["prompt"]["maxLength"] if spec is None else sys.maxsize,
            what="a usable prompt (it is blank or contains control characters)",
            min_len=1,
        )
    if present("negative_prompt"):
        check_string(
            problems,
            "negative_prompt",
            arguments["negative_prompt"],
            pattern=TEXT_RE,
            max_len=NEGATIVE_PROMPT_MAX,
            what="usable text (it contains control characters)",
        )
    for name in ("size", "resolution", "ratio", "audio_setting", "shot_type"):
        if present(name):
            value, allowed = arguments[name], schema_props[name]["enum"]
            if not isinstance(value, str) or value not in allowed:
                problems.add(name, f"{name} {show(value)} is not valid; allowed: {', '.join(allowed)}")
    for name in ("duration", "seed", "wait_seconds"):
        if present(name):
            value, low, high = arguments[name], schema_props[name]["minimum"], schema_props[name]["maximum"]
            if not is_int(value):
                problems.add(name, f"{name} must be an integer, got {show(value)}")
            elif not low <= value <= high:
                problems.add(name, f"{name} {show(value)} is out of range; allowed: {low}..{high}")
    for name in ("audio", "prompt_extend", "watermark", "force_new", "dry_run"):
        if present(name) and not isinstance(arguments[name], bool):
            problems.add(name, f"{name} must be true or false, got {show(arguments[name])}")
    if present("audio_url"):
        check_string(
            problems,
            "audio_url",
            arguments["audio_url"],
            pattern=STORED_URL_RE,
            max_len=MAX_URL_CHARS,
            what=INPUT_FORMS,
        )
    for name in ("img_url", "first_frame_url", "last_frame_url"):
        if present(name):
            check_string(
                problems,
                name,
                arguments[name],
                pattern=IMAGE_URL_RE,
                max_len=MAX_DATA_URL_CHARS,
                what=IMAGE_FORMS,
            )
    for name, most in (("reference_video_urls", MAX_REFERENCE_VIDEOS), ("reference_urls", MAX_REFERENCE_URLS)):
        if present(name):
            check_url_list(problems, name, arguments[name], most)
    media_ok = present("media") and check_media_items(problems, arguments["media"], schema_props["media"])
    if present("idempotency_key"):
        check_string(
            problems,
            "idempotency_key",
            arguments["idempotency_key"],
            pattern=IDEMPOTENCY_KEY_RE,
            max_len=IDEMPOTENCY_KEY_MAX,
            min_len=1,
            what="made of letters, digits and . _ : -",
        )

    # Per-model rules (the schema's if/then blocks).
    if spec is not None:
        _check_model_rules(problems, spec, arguments, schema_props)
        if media_ok and spec.media is not None and "media" not in problems.fields:
            for name, message in media_problems(spec.media, arguments["media"], spec.id):
                problems.add(name, message)
        _check_conditionals(problems, spec, arguments, media_ok)
    # Cross-field rules.
    extend = arguments.get("prompt_extend", True)
    if arguments.get("shot_type") == "multi" and extend is not True:
        problems.add(
            "shot_type",
            "shot_type 'multi' takes effect only with prompt_extend=true; set prompt_extend to true or drop shot_type",
        )
    if "audio_url" in arguments and "audio" in arguments and arguments["audio"] is False:
        problems.add("audio", "audio=false conflicts with audio_url; drop one of them")
    problems.raise_if_any()
    assert spec is not None
    return _normalize(spec, arguments)


def _check_model_rules(
    problems: Problems, spec: ModelSpec, arguments: Mapping[str, Any], schema_props: Mapping[str, Any]
) -> None:
    rules = model_rules(spec)
    already = problems.fields  # fields that failed the general checks (typed wrong: not range-checked here)
    for name in rules.get("required", []):
        if name not in arguments:
            problems.add(name, f"{name} is required for {spec.id}")
    for name, rule in rules["properties"].items():
        if name not in arguments or name not in schema_props or name in already:
            continue
        value = arguments[name]
        if rule == FORBIDDEN:
            problems.add(name, _forbidden_message(spec, name))
        elif "enum" in rule and value not in rule["enum"]:
            allowed = ", ".join(map(str, rule["enum"]))
            problems.add(name, f"{name} {show(value)} is not available for {spec.id}; allowed: {allowed}")
        elif name == "duration" and "anyOf" in rule:
            if value not in rule["anyOf"][0]["enum"] and not _duration_fits(rule["anyOf"][1], value):
                problems.add(
                    name, f"{name} {show(value)} is not available for {spec.id}; allowed: {spec.duration_text}"
                )
        elif name == "media":
            continue  # media_problems says what is wrong, item by item
        elif "minimum" in rule and not rule["minimum"] <= value <= rule["maximum"]:
            problems.add(
                name,
                f"{name} {show(value)} is not available for {spec.id}; allowed: {rule['minimum']}..{rule['maximum']}",
            )
        elif "maxLength" in rule and len(value) > rule["maxLength"]:
            problems.add(
                name,
                f"{name} is {len(value)} characters; {spec.id} allows at most {rule['maxLength']} "
                "(prompts are not truncated: shorten it)",
            )


def _duration_fits(rule: Mapping[str, Any], value: Any) -> bool:
    if "enum" in rule:
        return value in rule["enum"]
    return bool(rule["minimum"] <= value <= rule["maximum"])


def _media_types(arguments: Mapping[str, Any]) -> set[str]:
    items = arguments.get("media")
    return {item["type"] for item in items} if isinstance(items, list) else set()


def _check_conditionals(problems: Problems, spec: ModelSpec, arguments: Mapping[str, Any], media_ok: bool) -> None:
    """The rules that tie a field to what ``media`` holds (the schema's conditional blocks)."""
    types = _media_types(arguments) if media_ok else set()
    ignored = sorted(types & set(spec.ratio_ignored_with))
    if ignored and "ratio" in arguments:
        problems.add(
            "ratio",
            f"{spec.id} ignores ratio when media has a {ignored[0]} (the output follows the frame); drop ratio",
        )
    videos = set(spec.media.video_types) if spec.media else set()
    duration = arguments.get("duration")
    longest = spec.video_duration_max
    if longest is not None and types & videos and is_int(duration) and duration > longest:
        problems.add(
            "duration",
            f"duration {show(duration)} is too long for {spec.id} with a reference video; "
            f"allowed: {spec.plain_durations[0]}..{longest}",
        )
    needs_extend = sorted(types & set(spec.extend_required_with))
    if needs_extend and arguments.get("prompt_extend", True) is not True:
        problems.add("prompt_extend", f"{spec.id} needs prompt_extend=true with a {needs_extend[0]} in media")
    if spec.prompt_need == "prompt or media" and "prompt" not in arguments and "media" not in arguments:
        problems.add("prompt", f"{spec.id} needs a prompt, media, or both")


def _forbidden_message(spec: ModelSpec, name: str) -> str:
    legacy = spec.protocol == "legacy"
    if name in ("audio", "audio_url"):
        if not spec.audio and legacy:
            return f"{name} is not supported by {spec.id}, which makes silent videos"
        return f"{name} is not supported by {spec.id}"
    if name == "shot_type":
        if not legacy:
            return f'{spec.id} has no shot_type: write the shots into the prompt ("Shot 1 [0-3 s]: ...")'
        return f"shot_type is not supported by {spec.id}; only wan2.6 models take it"
    if name in ("size", "resolution"):
        other = "resolution" if name == "size" else "size"
        if not legacy:
            return f"{spec.id} takes resolution{' and ratio' if spec.ratios else ''}, not size"
        return f"{spec.id} takes {other}, not {name}"
    if name == "ratio":
        if legacy:
            return f"{spec.id} takes {'size' if spec.uses_size else 'resolution'}, not ratio"
        return f"{spec.id} takes no ratio: the output keeps the aspect of its first frame or clip"
    if name == "media":
        if legacy:
            fields = ", ".join(spec.inputs.media) or "no media"
            return f"media is the wan2.7/wan3.0 input list; {spec.id} takes {fields}"
        return f"{spec.id} takes no media (text only{', audio_url for sound' if spec.audio_url else ''})"
    if name == "negative_prompt":
        return f"negative_prompt is not supported by {spec.id}: say what to avoid in the prompt"
    if name == "audio_setting":
        return f"audio_setting is only for video editing; {spec.id} does not take it"
    if not legacy:
        return f"{name} is a legacy field; {spec.id} takes its inputs in media, e.g. [{{type, url}}]"
    return f"{name} is not used by {spec.id} ({spec.family.value} model)"


def _normalize(spec: ModelSpec, arguments: Mapping[str, Any]) -> ValidatedCall:
    def get(name: str, default: Any = None) -> Any:
        return arguments.get(name, default)

    def listed(name: str) -> tuple[str, ...] | None:
        return tuple(get(name)) if get(name) else None

    media = get("media")
    ignored_ratio = bool({item["type"] for item in media or ()} & set(spec.ratio_ignored_with))
    request = GenerationRequest(
        model=spec.id,
        family=spec.family,
        prompt=get("prompt"),
        negative_prompt=get("negative_prompt") or None,
        size=get("size", spec.default_size) if spec.uses_size else None,
        resolution=None if spec.uses_size else get("resolution", spec.default_tier),
        # No ratio where the model has none, or ignores it (r2v with a first frame: the output follows it).
        ratio=None if not spec.ratios or ignored_ratio else get("ratio", spec.default_ratio),
        duration=int(get("duration", spec.default_duration)),
        audio=get("audio"),
        audio_url=get("audio_url"),
        audio_setting=get("audio_setting"),
        prompt_extend=get("prompt_extend", True),
        shot_type=get("shot_type"),
        watermark=get("watermark", False),
        seed=None if get("seed") in (None, -1) else int(get("seed")),  # -1 and none both mean random
        img_url=get("img_url"),
        first_frame_url=get("first_frame_url"),
        last_frame_url=get("last_frame_url"),
        reference_video_urls=listed("reference_video_urls"),
        reference_urls=listed("reference_urls"),
        media=tuple(MediaItem(**item) for item in media) if media else None,
    )
    return ValidatedCall(
        request=request,
        wait_seconds=int(get("wait_seconds", WAIT_SECONDS_DEFAULT)),
        idempotency_key=get("idempotency_key"),
        force_new=get("force_new", False),
        dry_run=get("dry_run", False),
    )
