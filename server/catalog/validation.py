"""``validate``: generate_video arguments checked against the catalog, every problem named, defaults filled.

It enforces exactly what ``input_schema`` says (tests hold the two together), reading the same per-model
rules, and adds what JSON Schema cannot say: messages an agent can act on, and the normalized request.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from wan_video_mcp.server.catalog.media import IMAGE, LINK, media_problems
from wan_video_mcp.server.catalog.models import MODEL_INDEX, MODELS, ModelSpec
from wan_video_mcp.server.catalog.request import GenerationRequest, MediaItem, ValidatedCall
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
    STORED_URL_PATTERN,
    TEXT_PATTERN,
    WAIT_SECONDS_DEFAULT,
    model_rules,
)
from wan_video_mcp.server.catalog.schema import input_schema
from wan_video_mcp.server.errors import InvalidRequest, clip

_PROMPT_RE = re.compile(PROMPT_PATTERN)
_TEXT_RE = re.compile(TEXT_PATTERN)
_HTTP_URL_RE = re.compile(HTTP_URL_PATTERN)
_IMAGE_URL_RE = re.compile(IMAGE_URL_PATTERN)
_MEDIA_URL_RE = re.compile(MEDIA_URL_PATTERN)
_STORED_URL_RE = re.compile(STORED_URL_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _is_int(value: Any) -> TypeGuard[int | float]:
    # JSON Schema's integer: any number with zero fraction, never a boolean.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _show(value: Any) -> str:
    return clip(repr(value) if not isinstance(value, str) else f"'{value}'")


class Problems:
    """Every problem of one call, the first SHOWN listed (the first names the error's field)."""

    SHOWN = 10  # more problems than this are counted, not listed

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.more = 0

    def add(self, name: str, message: str) -> None:
        if len(self.items) >= self.SHOWN:
            self.more += 1
            return
        self.items.append((clip(name), message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0][0]
        if len(self.items) == 1:
            message = self.items[0][1]
        else:
            total = len(self.items) + self.more
            message = f"{total} problems: " + "; ".join(text for _, text in self.items)
            if self.more:
                message += f"; and {self.more} more"
        error = InvalidRequest(message, field=first)
        error.problems = [{"field": name, "message": text} for name, text in self.items]  # type: ignore[attr-defined]
        raise error


def _check_string(
    problems: Problems,
    name: str,
    value: Any,
    *,
    pattern: re.Pattern[str],
    max_len: int,
    what: str,
    min_len: int = 0,
) -> bool:
    if not isinstance(value, str):
        problems.add(name, f"{name} must be a string, got {_show(value)}")
        return False
    if len(value) > max_len:
        problems.add(name, f"{name} is {len(value)} characters; at most {max_len} allowed")
        return False
    if len(value) < min_len or not pattern.search(value):
        problems.add(name, f"{name} {_show(value)} is not {what}")
        return False
    return True


_PROPERTIES_CACHE: dict[tuple[str, ...], dict[str, Any]] = {}
# Every field of generate_video, offered or not: a known field the offer lacks gets its own message.
_ALL_FIELDS = frozenset(input_schema(MODELS)["properties"])
# Each media type's kind (image, video, audio, file, link): the same in every model that takes it.
_MEDIA_KINDS = {slot.type: slot.kind for spec in MODELS if spec.media for slot in spec.media.slots}


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
        if name in _ALL_FIELDS:
            problems.add(name, f"{name} is not accepted by any model this server offers")
        else:
            problems.add(name, f"unknown field '{clip(name)}'; allowed fields: {', '.join(schema_props)}")

    model_id = arguments.get("model", schema_props["model"]["default"])
    spec: ModelSpec | None = None
    if not isinstance(model_id, str):
        problems.add("model", f"model must be a string, got {_show(model_id)}")
    elif model_id not in offered:
        hint = " (known, but not offered by this provider or region)" if model_id in MODEL_INDEX else ""
        problems.add("model", f"model {_show(model_id)} is not available{hint}; allowed: {', '.join(offered)}")
    else:
        spec = offered[model_id]

    def present(name: str) -> bool:
        return name in arguments and name in schema_props

    # Type and range checks that hold for every model.
    if present("prompt"):
        # With the model known, its own limit is checked with the per-model rules, whose message names it.
        _check_string(
            problems,
            "prompt",
            arguments["prompt"],
            pattern=_PROMPT_RE,
            max_len=schema_props["prompt"]["maxLength"] if spec is None else sys.maxsize,
            what="a usable prompt (it is blank or contains control characters)",
            min_len=1,
        )
    if present("negative_prompt"):
        _check_string(
            problems,
            "negative_prompt",
            arguments["negative_prompt"],
            pattern=_TEXT_RE,
            max_len=NEGATIVE_PROMPT_MAX,
            what="usable text (it contains control characters)",
        )
    for name in ("size", "resolution", "ratio", "audio_setting", "shot_type"):
        if present(name):
            value, allowed = arguments[name], schema_props[name]["enum"]
            if not isinstance(value, str) or value not in allowed:
                problems.add(name, f"{name} {_show(value)} is not valid; allowed: {', '.join(allowed)}")
    for name in ("duration", "seed", "wait_seconds"):
        if present(name):
            value, low, high = arguments[name], schema_props[name]["minimum"], schema_props[name]["maximum"]
            if not _is_int(value):
                problems.add(name, f"{name} must be an integer, got {_show(value)}")
            elif not low <= value <= high:
                problems.add(name, f"{name} {_show(value)} is out of range; allowed: {low}..{high}")
    for name in ("audio", "prompt_extend", "watermark", "force_new", "dry_run"):
        if present(name) and not isinstance(arguments[name], bool):
            problems.add(name, f"{name} must be true or false, got {_show(arguments[name])}")
    if present("audio_url"):
        _check_string(
            problems,
            "audio_url",
            arguments["audio_url"],
            pattern=_HTTP_URL_RE,
            max_len=MAX_URL_CHARS,
            what="an http(s) URL",
        )
    for name in ("img_url", "first_frame_url", "last_frame_url"):
        if present(name):
            _check_string(
                problems,
                name,
                arguments[name],
                pattern=_IMAGE_URL_RE,
                max_len=MAX_DATA_URL_CHARS,
                what="an http(s) URL or a data:image/(png|jpeg|jpg|bmp|webp);base64 URL",
            )
    for name, most in (("reference_video_urls", MAX_REFERENCE_VIDEOS), ("reference_urls", MAX_REFERENCE_URLS)):
        if present(name):
            _check_url_list(problems, name, arguments[name], most)
    media_ok = present("media") and _check_media_items(problems, arguments["media"], schema_props["media"])
    if present("idempotency_key"):
        _check_string(
            problems,
            "idempotency_key",
            arguments["idempotency_key"],
            pattern=_IDEMPOTENCY_KEY_RE,
            max_len=IDEMPOTENCY_KEY_MAX,
            min_len=1,
            what="made of letters, digits and . _ : -",
        )

    # Per-model rules (the schema's if/then blocks).
    if spec is not None:
        _check_model_rules(problems, spec, arguments, schema_props)
        if media_ok and spec.media is not None and "media" not in {name for name, _ in problems.items}:
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
    already = {name for name, _ in problems.items}  # fields that failed the general checks
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
            problems.add(name, f"{name} {_show(value)} is not available for {spec.id}; allowed: {allowed}")
        elif name == "duration" and "anyOf" in rule:
            if value not in rule["anyOf"][0]["enum"] and not _duration_fits(rule["anyOf"][1], value):
                problems.add(
                    name, f"{name} {_show(value)} is not available for {spec.id}; allowed: {spec.duration_text}"
                )
        elif name == "media":
            continue  # media_problems says what is wrong, item by item
        elif "minimum" in rule and not rule["minimum"] <= value <= rule["maximum"]:
            problems.add(
                name,
                f"{name} {_show(value)} is not available for {spec.id}; allowed: {rule['minimum']}..{rule['maximum']}",
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


def _check_url_list(problems: Problems, name: str, urls: Any, most: int) -> None:
    if not isinstance(urls, list):
        problems.add(name, f"{name} must be a list of URLs, got {_show(urls)}")
        return
    if not 1 <= len(urls) <= most:
        problems.add(name, f"{name} has {len(urls)} items; allowed: 1..{most}")
    for i, url in enumerate(urls):
        _check_string(problems, f"{name}[{i}]", url, pattern=_HTTP_URL_RE, max_len=MAX_URL_CHARS, what="an http(s) URL")


def _check_media_items(problems: Problems, items: Any, prop: Mapping[str, Any]) -> bool:
    """The shape of every media item (type, url by kind, reference_voice); True when all are well formed."""
    before = len(problems.items) + problems.more
    if not isinstance(items, list):
        problems.add("media", f"media must be a list of {{type, url}} objects, got {_show(items)}")
        return False
    if not items:
        problems.add("media", "media is empty; leave it out or give at least one {type, url}")
        return False
    known = prop["items"]["properties"]["type"]["enum"]
    kinds = _MEDIA_KINDS
    for i, item in enumerate(items):
        where = f"media[{i}]"
        if not isinstance(item, Mapping):
            problems.add(where, f"{where} must be an object {{type, url}}, got {_show(item)}")
            continue
        for key in sorted(set(item) - set(MEDIA_ITEM_KEYS)):
            problems.add(
                f"{where}.{clip(key)}", f"{where} has an unknown key '{clip(key)}'; allowed: type, url, reference_voice"
            )
        kind = item.get("type")
        if "type" not in item:
            problems.add(f"{where}.type", f"{where}.type is required; one of: {', '.join(known)}")
        elif not isinstance(kind, str) or kind not in known:
            problems.add(f"{where}.type", f"{where}.type {_show(kind)} is not a media type; one of: {', '.join(known)}")
            kind = None
        if "url" not in item:
            problems.add(f"{where}.url", f"{where}.url is required")
        else:
            _check_media_url(problems, f"{where}.url", item["url"], kinds.get(kind or "", IMAGE))
        if "reference_voice" in item:
            _check_string(
                problems,
                f"{where}.reference_voice",
                item["reference_voice"],
                pattern=_STORED_URL_RE,
                max_len=MAX_URL_CHARS,
                what="an http(s) or oss:// URL of a wav/mp3",
            )
    return len(problems.items) + problems.more == before


def _check_media_url(problems: Problems, name: str, url: Any, kind: str) -> None:
    """A media item's url for its kind: only an image may be a data: URL (and only then be longer than a URL)."""
    data = isinstance(url, str) and url.startswith("data:")
    limit = MAX_MEDIA_DATA_URL_CHARS if data else MAX_URL_CHARS
    if kind == IMAGE:
        pattern, what = _MEDIA_URL_RE, "an http(s), oss:// or data:image/...;base64 URL"
    elif kind == LINK:
        pattern, what = _HTTP_URL_RE, "an http(s) URL (a link is a public web page)"
    else:
        pattern, what = _STORED_URL_RE, f"an http(s) or oss:// URL (a {kind} has no data: form)"
    _check_string(problems, name, url, pattern=pattern, max_len=limit, what=what)


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
    videos = {slot.type for slot in spec.media.slots if slot.kind == "video"} if spec.media else set()
    duration = arguments.get("duration")
    longest = spec.video_duration_max
    if longest is not None and types & videos and _is_int(duration) and duration > longest:
        problems.add(
            "duration",
            f"duration {_show(duration)} is too long for {spec.id} with a reference video; "
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
