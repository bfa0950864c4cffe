"""The Wan model catalog: one table of per-model rules, and everything derived from it.

From ``MODELS`` come the ``generate_video`` input JSON Schema (``input_schema``),
the validator that enforces exactly the same rules (``validate``), the cost
estimate (``estimate_cost``) and the ``wan-video://models`` listing. Nothing
here does I/O.

Where the documents disagree (reference/wire-formats.md section 7) the
official Model Studio document (seed 002, January 2026) wins:
- wan2.6 durations are any integer 2..15 (the Dec-2025 CN pages said 5/10/15);
- over-long prompts are *rejected* here, although the API truncates them
  silently: an agent should know its prompt was cut, not find out from the video;
- ``audio`` is a boolean (seed 000 types it as a string);
- ``audio=false`` together with ``audio_url`` is refused: seed 002 says
  audio_url wins, but wan2.6-i2v-flash lets audio=false win, so the pair is
  ambiguous and we make the caller choose.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from wan_video_mcp.server.errors import InvalidRequest, clip

SEED_MAX = 2_147_483_647
NEGATIVE_PROMPT_MAX = 500
WAIT_SECONDS_DEFAULT = 45
WAIT_SECONDS_MAX = 900
IDEMPOTENCY_KEY_MAX = 128
DEFAULT_MODEL = "wan2.6-t2v"
# An estimate for converting the CNY list prices quoted for Beijing.
CNY_PER_USD = 7.1
MAX_REFERENCE_VIDEOS = 3
# 10 MB of image, base64-encoded, plus the data: prefix.
MAX_DATA_URL_CHARS = 14_000_000

TIERS: dict[str, tuple[str, ...]] = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
SIZE_TIER = {size: tier for tier, sizes in TIERS.items() for size in sizes}

# Control characters other than tab, newline and carriage return.
_CTRL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
# Patterns must mean the same in Python's `re` (our validator, jsonschema) and ECMA-262 (JS clients):
# no \s or \S (their classes differ), and `$(?!\n)` because Python's `$` also matches before a final newline.
_WS = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff\\x1c-\\x1f\\x85"
_END = "$(?!\\n)"
PROMPT_PATTERN = f"^[^{_CTRL}]*[^{_CTRL}{_WS}][^{_CTRL}]*{_END}"  # no control chars, not blank
TEXT_PATTERN = f"^[^{_CTRL}]*{_END}"  # no control chars
_URL_CHARS = "[^\\x00-\\x20\\x7f]+"  # no spaces or control characters
HTTP_URL_PATTERN = f"^https?://{_URL_CHARS}{_END}"
IMAGE_URL_PATTERN = f"^(https?://{_URL_CHARS}|data:image/(png|jpe?g|bmp|webp);base64,[A-Za-z0-9+/]+={{0,2}}){_END}"
IDEMPOTENCY_KEY_PATTERN = f"^[A-Za-z0-9._:-]+{_END}"
# A schema that nothing satisfies: a forbidden field. (MCP Inspector's strict lint rejects a bare `false`.)
FORBIDDEN: dict[str, Any] = {"not": {}}

_PROMPT_RE = re.compile(PROMPT_PATTERN)
_TEXT_RE = re.compile(TEXT_PATTERN)
_HTTP_URL_RE = re.compile(HTTP_URL_PATTERN)
_IMAGE_URL_RE = re.compile(IMAGE_URL_PATTERN)
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


class Family(StrEnum):
    T2V = "t2v"  # text to video: size
    I2V = "i2v"  # image to video: img_url + resolution
    KF2V = "kf2v"  # first/last frame to video: first_frame_url (+ last_frame_url) + resolution
    R2V = "r2v"  # reference videos to video: reference_video_urls + size


@dataclass(frozen=True)
class Price:
    """A per-second list price per resolution tier: an estimate, with where it came from."""

    per_second: Mapping[str, float]
    currency: str
    source: str
    as_of: str
    silent_per_second: Mapping[str, float] | None = None  # when a silent video costs less
    note: str = ""

    def usd(self, tier: str, *, silent: bool) -> float:
        table = self.silent_per_second if silent and self.silent_per_second else self.per_second
        value = table[tier]
        return value / CNY_PER_USD if self.currency == "CNY" else value


@dataclass(frozen=True)
class ModelSpec:
    """Everything the server knows about one model's rules."""

    id: str
    family: Family
    summary: str
    tiers: tuple[str, ...]
    default_tier: str
    durations: tuple[int, ...]
    default_duration: int
    prompt_max: int
    price: Price
    default_size: str | None = None  # t2v / r2v only
    audio: bool = False  # accepts the `audio` switch (auto-generated sound)
    audio_url: bool = False  # accepts a driving audio file
    shot_type: bool = False  # single/multi shot (takes effect only with prompt_extend=true)
    regions: tuple[str, ...] = ("intl", "cn")
    region_names: Mapping[str, str] = field(default_factory=dict)  # wire name per region when it differs
    media_limits: str = ""

    @property
    def uses_size(self) -> bool:
        return self.family in (Family.T2V, Family.R2V)

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(size for tier in self.tiers for size in TIERS[tier]) if self.uses_size else ()

    @property
    def prompt_required(self) -> bool:
        return self.family in (Family.T2V, Family.R2V)

    @property
    def duration_text(self) -> str:
        d = self.durations
        if len(d) == 1:
            return f"fixed {d[0]}"
        if len(d) > 3 and list(d) == list(range(d[0], d[-1] + 1)):
            return f"{d[0]}-{d[-1]}"
        return "/".join(map(str, d))

    def wire_name(self, region: str) -> str:
        return self.region_names.get(region, self.id)

    def tier_of(self, size_or_resolution: str) -> str:
        return SIZE_TIER.get(size_or_resolution, size_or_resolution)


_IMAGE_LIMITS = "JPEG/PNG (no alpha)/BMP/WEBP, 360-2000 px per side, <= 10 MB; http(s) URL or data:image/...;base64"
_FRAME_LIMITS = "JPEG/PNG/BMP/WEBP, 240-8000 px per side, <= 10 MB; http(s) URL or data:image/...;base64"
_AUDIO_LIMITS = "audio_url: wav/mp3, 3-30 s, <= 15 MB"

_S8 = "third-party quotes of Alibaba's price page (crazyrouter, lumenfall, runpod docs)"
_S7 = "Alibaba Cloud Model Studio pricing, Singapore"
_CN = "Alibaba Cloud Bailian pricing, Beijing, as quoted by third parties; converted at 7.1 CNY/USD"

_WAN26 = Price({"720P": 0.10, "1080P": 0.15}, "USD", _S8, "2026-01")
_WAN25 = Price({"480P": 0.30, "720P": 0.60, "1080P": 1.00}, "CNY", _CN, "2025-10")
_WAN22_PLUS = Price({"480P": 0.14, "1080P": 0.70}, "CNY", _CN, "2025-10")
_WAN22_FLASH = Price({"480P": 0.10, "720P": 0.20, "1080P": 0.48}, "CNY", _CN, "2025-10")
_WAN21_TURBO = Price({"480P": 0.036, "720P": 0.036}, "USD", _S7, "2025-06")
_WAN21_PLUS = Price({"720P": 0.10}, "USD", _S7, "2025-06")

_RANGE_2_15 = tuple(range(2, 16))

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "wan2.6-t2v",
        Family.T2V,
        "text to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        _WAN26,
        default_size="1920*1080",
        audio=True,
        audio_url=True,
        shot_type=True,
        regions=("intl", "us", "cn"),
        region_names={"us": "wan2.6-t2v-us"},
        media_limits=_AUDIO_LIMITS,
    ),
    ModelSpec(
        "wan2.5-t2v-preview",
        Family.T2V,
        "text to video with sound",
        ("480P", "720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        _WAN25,
        default_size="1920*1080",
        audio=True,
        audio_url=True,
        media_limits=_AUDIO_LIMITS,
    ),
    ModelSpec(
        "wan2.2-t2v-plus",
        Family.T2V,
        "text to video, silent",
        ("480P", "1080P"),
        "1080P",
        (5,),
        5,
        800,
        _WAN22_PLUS,
        default_size="1920*1080",
    ),
    ModelSpec(
        "wan2.1-t2v-turbo",
        Family.T2V,
        "fast text to video, silent",
        ("480P", "720P"),
        "720P",
        (5,),
        5,
        800,
        _WAN21_TURBO,
        default_size="1280*720",
        region_names={"cn": "wanx2.1-t2v-turbo"},
    ),
    ModelSpec(
        "wan2.1-t2v-plus",
        Family.T2V,
        "text to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        _WAN21_PLUS,
        default_size="1280*720",
        region_names={"cn": "wanx2.1-t2v-plus"},
    ),
    ModelSpec(
        "wan2.6-i2v",
        Family.I2V,
        "image to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        _WAN26,
        audio=True,
        audio_url=True,
        shot_type=True,
        regions=("intl", "us", "cn"),
        region_names={"us": "wan2.6-i2v-us"},
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.6-i2v-flash",
        Family.I2V,
        "fast image to video, optional sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        Price(
            {"720P": 0.05, "1080P": 0.075},
            "USD",
            _S8,
            "2026-01",
            silent_per_second={"720P": 0.025, "1080P": 0.0375},
            note="silent (audio=false) costs half",
        ),
        audio=True,
        audio_url=True,
        shot_type=True,
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.5-i2v-preview",
        Family.I2V,
        "image to video with sound",
        ("480P", "720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        _WAN25,
        audio=True,
        audio_url=True,
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-i2v-plus",
        Family.I2V,
        "image to video, silent",
        ("480P", "1080P"),
        "1080P",
        (5,),
        5,
        800,
        _WAN22_PLUS,
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-i2v-flash",
        Family.I2V,
        "fast image to video, silent (Beijing only)",
        ("480P", "720P", "1080P"),
        "720P",
        (5,),
        5,
        800,
        _WAN22_FLASH,
        regions=("cn",),
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-i2v-turbo",
        Family.I2V,
        "fast image to video, silent",
        ("480P", "720P"),
        "720P",
        (3, 4, 5),
        5,
        800,
        _WAN21_TURBO,
        region_names={"cn": "wanx2.1-i2v-turbo"},
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-i2v-plus",
        Family.I2V,
        "image to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        _WAN21_PLUS,
        region_names={"cn": "wanx2.1-i2v-plus"},
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-kf2v-flash",
        Family.KF2V,
        "first/last frame to video, silent (Beijing only)",
        ("480P", "720P", "1080P"),
        "720P",
        (5,),
        5,
        800,
        _WAN22_FLASH,
        regions=("cn",),
        media_limits=f"first_frame_url, last_frame_url: {_FRAME_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-kf2v-plus",
        Family.KF2V,
        "first/last frame to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        _WAN21_PLUS,
        region_names={"cn": "wanx2.1-kf2v-plus"},
        media_limits=f"first_frame_url, last_frame_url: {_FRAME_LIMITS}",
    ),
    ModelSpec(
        "wan2.6-r2v",
        Family.R2V,
        "characters from reference videos to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        Price(
            {"720P": 0.6, "1080P": 1.0},
            "CNY",
            _CN,
            "2025-12",
            note="billed on output seconds plus the reference videos' seconds",
        ),
        default_size="1920*1080",
        audio=True,
        shot_type=True,
        media_limits="reference_video_urls: 1-3 mp4/mov, 2-30 s, <= 100 MB each; "
        "name them character1, character2, ... in the prompt",
    ),
)

MODEL_INDEX: dict[str, ModelSpec] = {spec.id: spec for spec in MODELS}

# The names of generate_video's arguments, by role.
MEDIA_FIELDS = ("img_url", "first_frame_url", "last_frame_url", "reference_video_urls")
SERVER_FIELDS = ("wait_seconds", "idempotency_key", "force_new", "dry_run")


def get_model(model_id: str) -> ModelSpec:
    return MODEL_INDEX[model_id]


def models_for(region: str | None = None, offered: Iterable[str] | None = None) -> tuple[ModelSpec, ...]:
    """The catalog narrowed to one DashScope region and/or a provider's offer."""
    keep = set(offered) if offered is not None else None
    return tuple(
        spec for spec in MODELS if (region is None or region in spec.regions) and (keep is None or spec.id in keep)
    )


# --------------------------------------------------------------------------- requests


class GenerationRequest(BaseModel):
    """A validated, normalized generation request: defaults filled, ready for a provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    family: Family
    prompt: str | None = None
    negative_prompt: str | None = None
    size: str | None = None
    resolution: str | None = None
    duration: int
    audio: bool | None = None
    audio_url: str | None = None
    prompt_extend: bool = True
    shot_type: str | None = None
    watermark: bool = False
    seed: int | None = None
    img_url: str | None = None
    first_frame_url: str | None = None
    last_frame_url: str | None = None
    reference_video_urls: tuple[str, ...] | None = None

    @property
    def spec(self) -> ModelSpec:
        return MODEL_INDEX[self.model]

    @property
    def tier(self) -> str:
        return self.spec.tier_of(self.size or self.resolution or "")

    def fingerprint(self) -> str:
        """A stable hash of the normalized parameters: identical requests share it."""
        data = self.model_dump(mode="json")
        # The service's own defaults (sound on, a single shot) are left unsent, but an explicit
        # audio=true or shot_type="single" asks for the same video and must hash the same.
        if self.spec.audio and data["audio"] is None:
            data["audio"] = True
        if self.spec.shot_type and data["shot_type"] is None:
            data["shot_type"] = "single"
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def summary(self) -> str:
        shape = self.size or self.resolution
        return f"{self.model} {shape} {self.duration}s"


class ValidatedCall(BaseModel):
    """What ``validate`` returns: the request plus the server's own options."""

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    wait_seconds: int = WAIT_SECONDS_DEFAULT
    idempotency_key: str | None = None
    force_new: bool = False
    dry_run: bool = False


# --------------------------------------------------------------------------- schema

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


def _grouped(models: Sequence[ModelSpec], key: Any) -> str:
    """'a, b: X; c: Y' - models grouped by a rendered value, to keep descriptions short."""
    groups: dict[str, list[str]] = {}
    for spec in models:
        value = key(spec)
        if value is not None:
            groups.setdefault(value, []).append(_short(spec.id))
    return "; ".join(f"{', '.join(ids)}: {value}" for value, ids in groups.items()) or "none"


def _short(model_id: str) -> str:
    return model_id.removeprefix("wan")


def _ids(models: Iterable[ModelSpec], predicate: Any) -> str:
    ids = [_short(spec.id) for spec in models if predicate(spec)]
    return ", ".join(ids) if ids else "no offered model"


def _model_rules(spec: ModelSpec) -> dict[str, Any]:
    """The `then` of one model's `if`: its narrowed fields, required and forbidden ones."""
    props: dict[str, Any] = {}
    required: list[str] = []
    forbidden: list[str] = []
    if spec.uses_size:
        props["size"] = {"enum": list(spec.sizes)}
        forbidden.append("resolution")
    else:
        props["resolution"] = {"enum": list(spec.tiers)}
        forbidden.append("size")
    d = spec.durations
    if len(d) > 3 and list(d) == list(range(d[0], d[-1] + 1)):
        props["duration"] = {"minimum": d[0], "maximum": d[-1]}
    else:
        props["duration"] = {"enum": list(d)}
    props["prompt"] = {"maxLength": spec.prompt_max}
    if spec.prompt_required:
        required.append("prompt")
    media = {
        Family.T2V: (),
        Family.I2V: ("img_url",),
        Family.KF2V: ("first_frame_url", "last_frame_url"),
        Family.R2V: ("reference_video_urls",),
    }[spec.family]
    required += {
        Family.T2V: [],
        Family.I2V: ["img_url"],
        Family.KF2V: ["first_frame_url"],
        Family.R2V: ["reference_video_urls"],
    }[spec.family]
    forbidden += [name for name in MEDIA_FIELDS if name not in media]
    if not spec.audio:
        forbidden.append("audio")
    if not spec.audio_url:
        forbidden.append("audio_url")
    if not spec.shot_type:
        forbidden.append("shot_type")
    for name in forbidden:
        props[name] = FORBIDDEN
    rules: dict[str, Any] = {"properties": props}
    if required:
        rules["required"] = required
    return rules


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
    by_constraint: dict[str, tuple[tuple[str, Any], list[str]]] = {}
    for spec in models:
        rules = _model_rules(spec)
        items = [
            (("properties", name), rule)
            for name, rule in rules["properties"].items()
            if name in properties and not _implied(rule, properties[name])
        ]
        items += [(("required", name), True) for name in rules.get("required", [])]
        for key, rule in items:
            token = json.dumps([key, rule], sort_keys=True)
            by_constraint.setdefault(token, ((key, rule), []))[1].append(spec.id)
    by_models: dict[tuple[str, ...], dict[str, Any]] = {}
    for (key, rule), ids in by_constraint.values():
        then = by_models.setdefault(tuple(ids), {})
        kind, name = key
        if kind == "properties":
            then.setdefault("properties", {})[name] = rule
        else:
            then.setdefault("required", []).append(name)
    blocks = []
    offered = [spec.id for spec in models]
    for ids, then in list(by_models.items()):
        if ids not in by_models:
            continue  # already merged as another block's `else`
        del by_models[ids]
        complement = tuple(i for i in offered if i not in ids)
        otherwise = by_models.pop(complement, None)
        others = [spec.id for spec in models if spec.id not in ids]
        if len(others) < len(ids):
            # "any offered model but these" is shorter; an unoffered value fails the top-level enum anyway.
            match: dict[str, Any] = {"not": _one_of(others)}
        else:
            match = _one_of(list(ids))
        condition: dict[str, Any] = {"properties": {"model": match}}
        if default_model not in ids:
            # Without `required`, an absent model would match every block; absent means the default.
            condition["required"] = ["model"]
        block = {"if": condition, "then": then}
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

    # Computed once, not per description: validate() rebuilds this schema on every call.
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
        "audio_url": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": 2048},
        "prompt_extend": {"type": "boolean", "default": True},
        "shot_type": {"type": "string", "enum": ["single", "multi"]},
        "watermark": {"type": "boolean", "default": False},
        "seed": {"type": "integer", "minimum": 0, "maximum": SEED_MAX},
        "img_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "first_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "last_frame_url": {"type": "string", "pattern": IMAGE_URL_PATTERN, "maxLength": MAX_DATA_URL_CHARS},
        "reference_video_urls": {
            "type": "array",
            "items": {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": 2048},
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
    for name, present in (
        ("audio", any(s.audio for s in models)),
        ("audio_url", any(s.audio_url for s in models)),
        ("shot_type", any(s.shot_type for s in models)),
        ("img_url", any(s.family is Family.I2V for s in models)),
        ("first_frame_url", any(s.family is Family.KF2V for s in models)),
        ("last_frame_url", any(s.family is Family.KF2V for s in models)),
        ("reference_video_urls", any(s.family is Family.R2V for s in models)),
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


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    # JSON Schema's integer: any number with zero fraction, never a boolean.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _show(value: Any) -> str:
    return clip(repr(value) if not isinstance(value, str) else f"'{value}'")


class _Problems:
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
    problems: _Problems,
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
    problems = _Problems()
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
    for name in ("size", "resolution", "shot_type"):
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
            problems, "audio_url", arguments["audio_url"], pattern=_HTTP_URL_RE, max_len=2048, what="an http(s) URL"
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
    if present("reference_video_urls"):
        urls = arguments["reference_video_urls"]
        if not isinstance(urls, list):
            problems.add("reference_video_urls", f"reference_video_urls must be a list of URLs, got {_show(urls)}")
        else:
            if not 1 <= len(urls) <= MAX_REFERENCE_VIDEOS:
                problems.add(
                    "reference_video_urls",
                    f"reference_video_urls has {len(urls)} items; allowed: 1..{MAX_REFERENCE_VIDEOS}",
                )
            for i, url in enumerate(urls):
                _check_string(
                    problems,
                    f"reference_video_urls[{i}]",
                    url,
                    pattern=_HTTP_URL_RE,
                    max_len=2048,
                    what="an http(s) URL",
                )
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
    problems: _Problems, spec: ModelSpec, arguments: Mapping[str, Any], schema_props: Mapping[str, Any]
) -> None:
    rules = _model_rules(spec)
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


def _forbidden_message(spec: ModelSpec, name: str) -> str:
    if name in ("audio", "audio_url"):
        return (
            f"{name} is not supported by {spec.id}, which makes silent videos"
            if not spec.audio
            else f"{name} is not supported by {spec.id}"
        )
    if name == "shot_type":
        return f"shot_type is not supported by {spec.id}; only wan2.6 models take it"
    if name in ("size", "resolution"):
        other = "resolution" if name == "size" else "size"
        return f"{spec.id} takes {other}, not {name}"
    return f"{name} is not used by {spec.id} ({spec.family.value} model)"


_ALL_FIELDS = frozenset(input_schema(MODELS)["properties"])


def _normalize(spec: ModelSpec, arguments: Mapping[str, Any]) -> ValidatedCall:
    def get(name: str, default: Any = None) -> Any:
        return arguments.get(name, default)

    urls = get("reference_video_urls")
    request = GenerationRequest(
        model=spec.id,
        family=spec.family,
        prompt=get("prompt"),
        negative_prompt=get("negative_prompt") or None,
        size=get("size", spec.default_size) if spec.uses_size else None,
        resolution=None if spec.uses_size else get("resolution", spec.default_tier),
        duration=int(get("duration", spec.default_duration)),
        audio=get("audio"),
        audio_url=get("audio_url"),
        prompt_extend=get("prompt_extend", True),
        shot_type=get("shot_type"),
        watermark=get("watermark", False),
        seed=None if get("seed") is None else int(get("seed")),
        img_url=get("img_url"),
        first_frame_url=get("first_frame_url"),
        last_frame_url=get("last_frame_url"),
        reference_video_urls=tuple(urls) if urls else None,
    )
    return ValidatedCall(
        request=request,
        wait_seconds=int(get("wait_seconds", WAIT_SECONDS_DEFAULT)),
        idempotency_key=get("idempotency_key"),
        force_new=get("force_new", False),
        dry_run=get("dry_run", False),
    )


# --------------------------------------------------------------------------- cost and listing


class CostEstimate(BaseModel):
    """An estimate from list prices; the provider's bill is the truth."""

    amount_usd: float
    per_second_usd: float
    billed_seconds: int
    tier: str
    source: str
    as_of: str
    note: str = ""


def estimate_cost(request: GenerationRequest) -> CostEstimate:
    spec = request.spec
    tier = request.tier
    silent = request.audio is False and request.audio_url is None
    per_second = spec.price.usd(tier, silent=silent)
    notes = [spec.price.note] if spec.price.note else []
    if spec.price.currency == "CNY":
        notes.append(f"converted from CNY at {CNY_PER_USD}/USD")
    return CostEstimate(
        amount_usd=round(per_second * request.duration, 4),
        per_second_usd=round(per_second, 5),
        billed_seconds=request.duration,
        tier=tier,
        source=spec.price.source,
        as_of=spec.price.as_of,
        note="; ".join(notes),
    )


def catalog_document(models: Sequence[ModelSpec] = MODELS, region: str | None = None) -> dict[str, Any]:
    """The catalog as JSON for the wan-video://models resource and the README table."""
    return {
        "default_model": DEFAULT_MODEL if any(s.id == DEFAULT_MODEL for s in models) else models[0].id,
        "tiers": {tier: list(sizes) for tier, sizes in TIERS.items()},
        "common": {
            "negative_prompt_max": NEGATIVE_PROMPT_MAX,
            "seed": [0, SEED_MAX],
            "prompt_extend_default": True,
            "watermark_default": False,
            "video_url_valid_hours": 24,
            "billing": "per second of output video; only successful tasks are billed",
        },
        "models": [
            {
                "id": spec.id,
                "wire_name": spec.wire_name(region) if region else spec.id,
                "family": spec.family.value,
                "summary": spec.summary,
                "tiers": list(spec.tiers),
                "sizes": list(spec.sizes) or None,
                "default": spec.default_size or spec.default_tier,
                "durations": list(spec.durations),
                "default_duration": spec.default_duration,
                "prompt_max": spec.prompt_max,
                "prompt_required": spec.prompt_required,
                "audio": spec.audio,
                "audio_url": spec.audio_url,
                "shot_type": spec.shot_type,
                "media_limits": spec.media_limits,
                "regions": list(spec.regions),
                "region_names": dict(spec.region_names),
                "price_per_second_usd": {t: round(spec.price.usd(t, silent=False), 5) for t in spec.tiers},
                "price_source": f"{spec.price.source} ({spec.price.as_of})",
                "price_note": spec.price.note,
            }
            for spec in models
        ],
    }


def markdown_table(models: Sequence[ModelSpec] = MODELS) -> str:
    """The README's model table, generated from the catalog (a test keeps the README in step)."""
    rows = [
        "| model | input | sizes / resolutions (default) | seconds (default) | prompt | sound | shot_type | "
        "est. USD/s | regions |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in models:
        shape = f"{'/'.join(spec.tiers)} ({spec.default_size or spec.default_tier})"
        sound = "auto + audio_url" if spec.audio_url else ("auto" if spec.audio else "silent")
        prices = " / ".join(f"{spec.price.usd(t, silent=False):.3f}" for t in spec.tiers)
        rows.append(
            f"| {spec.id} | {spec.family.value} | {shape} | {spec.duration_text} ({spec.default_duration}) | "
            f"{spec.prompt_max} | {sound} | {'yes' if spec.shot_type else 'no'} | {prices} | "
            f"{', '.join(spec.regions)} |"
        )
    return "\n".join(rows)
