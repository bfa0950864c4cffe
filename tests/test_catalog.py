"""The model catalog: its JSON Schema and its validator enforce the same rules, and those rules match the reference.

Cases are generated from the catalog itself (every model's sizes, tiers, durations, limits and switches), and
each one is checked twice: the generated ``input_schema`` under jsonschema's Draft 2020-12 validator, and
``validate()``. Both must reach the expected verdict.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wan_video_mcp.server.catalog import (
    CNY_PER_USD,
    DEFAULT_MODEL,
    IDEMPOTENCY_KEY_MAX,
    MODELS,
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    SIZE_TIER,
    TIERS,
    WAIT_SECONDS_DEFAULT,
    WAIT_SECONDS_MAX,
    Family,
    GenerationRequest,
    ModelSpec,
    Protocol,
    ValidatedCall,
    catalog_document,
    estimate_cost,
    get_model,
    input_schema,
    models_for,
    validate,
)
from wan_video_mcp.server.errors import InvalidRequest

REGIONS = ("intl", "us", "cn", "eu", "jp", "hk")
CATALOGS: dict[str, tuple[ModelSpec, ...]] = {
    "all": MODELS,
    **{region: models_for(region) for region in REGIONS},
    **{f"only {spec.id}": (spec,) for spec in MODELS},
}
# The legacy-shaped models (wan2.1-wan2.6, one field per input): this module's generated cases are written for
# them; the media protocol's models (wan2.7, wan3.0) have their own generator in test_catalog_media.py.
LEGACY_MODELS = tuple(spec for spec in MODELS if spec.protocol is Protocol.LEGACY)
MEDIA_MODELS = tuple(spec for spec in MODELS if spec.protocol is Protocol.MEDIA)
CATALOGS["legacy only"] = models_for(offered=[spec.id for spec in LEGACY_MODELS])  # e.g. a gateway's offer

PROMPT = "a red fox runs through fresh snow"
GOOD_MEDIA: dict[str, Any] = {
    "img_url": "https://example.com/fox.png",
    "first_frame_url": "https://example.com/first.png",
    "last_frame_url": "https://example.com/last.png",
    "reference_video_urls": ["https://example.com/character1.mp4"],
    "reference_urls": ["https://example.com/character1.png"],
}
# What each family must send and may send (reference section 1).
REQUIRED_MEDIA = {
    Family.T2V: (),
    Family.I2V: ("img_url",),
    Family.KF2V: ("first_frame_url",),
    Family.R2V: ("reference_video_urls",),
    Family.R2V_MIXED: ("reference_urls",),
}
ACCEPTED_MEDIA = {
    Family.T2V: (),
    Family.I2V: ("img_url",),
    Family.KF2V: ("first_frame_url", "last_frame_url"),
    Family.R2V: ("reference_video_urls",),
    Family.R2V_MIXED: ("reference_urls",),
}
# The media protocol (media-protocol.md section 5): the smallest `media` each family's models need.
MINIMAL_MEDIA: dict[Family, list[dict[str, str]]] = {
    Family.T2V: [],
    Family.I2V: [{"type": "first_frame", "url": "https://example.com/first.png"}],
    Family.R2V: [{"type": "reference_image", "url": "https://example.com/character1.png"}],
    Family.EDIT: [{"type": "video", "url": "https://example.com/input.mp4"}],
    Family.OMNI: [],
}
IMAGE_FIELDS = ("img_url", "first_frame_url", "last_frame_url")
URLS = {
    "http": "http://example.com/a.png",
    "https": "https://example.com/a.png",
    "ftp": "ftp://example.com/a.png",
    "file": "file:///tmp/a.png",
    "oss": "oss://bucket/a.png",
    "data image": "data:image/png;base64,iVBORw0KGgo=",
    "data text": "data:text/plain;base64,aGVsbG8=",
    "bare string": "example.com/a.png",
    "empty": "",
    "no host": "https://",
    "space inside": "https://example.com/a b.png",
    "local path": "/home/me/My Pictures/a.png",
    "earlier video": "wan-video://videos/wan_0123456789abcdef0123.mp4",
    "task id": "wan_0123456789abcdef0123",
    "short task id": "wan_0123",
    "not an earlier video": "wan-video://videos/nope.mp4",
}
# Every input field takes http(s), oss:// and the local forms (read and uploaded by the server); images also data:.
HTTP_KINDS = {"http", "https", "oss", "file", "local path", "earlier video", "task id"}
IMAGE_KINDS = HTTP_KINDS | {"data image"}
UNION_PROMPT_MAX = max(spec.prompt_max for spec in MODELS)


def _base(spec: ModelSpec) -> dict[str, Any]:
    """The smallest valid call for a model: its id, a prompt and its required media."""
    args: dict[str, Any] = {"model": spec.id, "prompt": PROMPT}
    if spec.protocol is Protocol.MEDIA:
        if MINIMAL_MEDIA[spec.family]:
            args["media"] = [dict(item) for item in MINIMAL_MEDIA[spec.family]]
        return args
    for name in REQUIRED_MEDIA[spec.family]:
        args[name] = GOOD_MEDIA[name]
    return args


def _takes(spec: ModelSpec, name: str) -> bool:
    """Whether a model accepts a field at all."""
    if spec.protocol is Protocol.MEDIA:
        # Only to aim the random calls at fields the model takes; test_catalog_media.py checks these rules.
        if name in GOOD_MEDIA or name in ("size", "shot_type"):
            return False
        if name in ("audio", "audio_url", "audio_setting", "negative_prompt"):
            return bool(getattr(spec, name))
        if name == "media":
            return spec.media is not None
        if name == "ratio":
            return bool(spec.ratios)
        return True
    if name in GOOD_MEDIA:
        return name in ACCEPTED_MEDIA[spec.family]
    if name == "size":
        return spec.family in (Family.T2V, Family.R2V, Family.R2V_MIXED)
    if name == "resolution":
        return spec.family in (Family.I2V, Family.KF2V)
    if name in ("audio", "audio_url", "shot_type"):
        return getattr(spec, name)
    if name in ("ratio", "media", "audio_setting"):
        return False
    return True


def _with(spec: ModelSpec, **changes: Any) -> dict[str, Any]:
    return _base(spec) | changes


def _without(spec: ModelSpec, *names: str) -> dict[str, Any]:
    return {k: v for k, v in _base(spec).items() if k not in names}


@functools.cache
def _schema_validator(catalog: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(input_schema(CATALOGS[catalog]))


def _verdicts(catalog: str, arguments: Any) -> tuple[bool, bool, str]:
    """(schema accepts, validate() accepts, a description of both for failure messages)."""
    schema = _schema_validator(catalog)
    try:
        validate(arguments, CATALOGS[catalog])
        problem = ""
    except InvalidRequest as exc:
        problem = exc.message
    if schema.is_valid(arguments) == (not problem):
        return not problem, not problem, ""
    schema_errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(arguments)]
    return not schema_errors, not problem, f"schema errors: {schema_errors[:5]}; validate(): {problem or 'accepted'}"


# --------------------------------------------------------------------------- case generation


Case = tuple[str, Any, bool]  # (label, arguments, accepted?)


def _model_cases(spec: ModelSpec) -> Iterator[Case]:
    """The cases whose verdict depends on the model, generated from its catalog entry."""
    yield "minimal call", _base(spec), True

    # Output shape: every allowed value, every other tier's sizes, names in the wrong field.
    uses_size = _takes(spec, "size")
    for size in SIZE_TIER:
        yield f"size={size}", _with(spec, size=size), uses_size and size in spec.sizes
        yield f"resolution={size} (a size)", _with(spec, resolution=size), False
    for tier in TIERS:
        yield f"resolution={tier}", _with(spec, resolution=tier), not uses_size and tier in spec.tiers
        yield f"size={tier} (a tier)", _with(spec, size=tier), False

    # Durations: the allowed set, every integer around it, and JSON's other number spellings.
    for duration in [-1, *range(17)]:
        yield f"duration={duration}", _with(spec, duration=duration), duration in spec.durations
    yield "duration=5.0 (integral float)", _with(spec, duration=5.0), 5 in spec.durations
    top = float(spec.durations[-1])
    yield f"duration={top} (integral float)", _with(spec, duration=top), True
    for label, odd in (("5.5", 5.5), ("'5' (string)", "5"), ("true", True), ("null", None)):
        yield f"duration={label}", _with(spec, duration=odd), False

    # Prompt: this model's limit and the catalog-wide one.
    yield f"prompt of {spec.prompt_max} chars (the limit)", _with(spec, prompt="p" * spec.prompt_max), True
    yield f"prompt of {spec.prompt_max + 1} chars", _with(spec, prompt="p" * (spec.prompt_max + 1)), False
    yield f"prompt of {UNION_PROMPT_MAX + 1} chars", _with(spec, prompt="p" * (UNION_PROMPT_MAX + 1)), False
    yield "prompt of CJK at the limit", _with(spec, prompt="狐" * spec.prompt_max), True
    yield "prompt absent", _without(spec, "prompt"), spec.family in (Family.I2V, Family.KF2V)
    yield "prompt empty", _with(spec, prompt=""), False

    # shot_type with prompt_extend true, false and absent.
    for shot in ("single", "multi"):
        for extend in (True, False, None):
            args = _with(spec, shot_type=shot)
            if extend is not None:
                args["prompt_extend"] = extend
            ok = spec.shot_type and not (shot == "multi" and extend is False)
            yield f"shot_type={shot} prompt_extend={'absent' if extend is None else extend}", args, ok

    # Audio.
    audio_url = "https://example.com/voice.mp3"
    yield "audio=true", _with(spec, audio=True), spec.audio
    yield "audio=false", _with(spec, audio=False), spec.audio
    yield "audio_url", _with(spec, audio_url=audio_url), spec.audio_url
    yield "audio=true with audio_url", _with(spec, audio=True, audio_url=audio_url), spec.audio_url
    yield "audio=false with audio_url", _with(spec, audio=False, audio_url=audio_url), False

    # Media URL fields, on every model, including the ones that do not take them.
    for name in (*IMAGE_FIELDS, "audio_url"):
        kinds = IMAGE_KINDS if name in IMAGE_FIELDS else HTTP_KINDS
        for kind, url in URLS.items():
            yield f"{name} {kind}", _with(spec, **{name: url}), _takes(spec, name) and kind in kinds
    for kind, url in URLS.items():
        yield (
            f"reference_video_urls [{kind}]",
            _with(spec, reference_video_urls=[url]),
            (_takes(spec, "reference_video_urls") and kind in HTTP_KINDS),
        )
    for count in (0, 1, 3, 4):
        urls = [f"https://example.com/character{i}.mp4" for i in range(1, count + 1)]
        yield (
            f"reference_video_urls with {count} items",
            _with(spec, reference_video_urls=urls),
            (_takes(spec, "reference_video_urls") and 1 <= count <= 3),
        )
    yield "reference_video_urls as a bare string", _with(spec, reference_video_urls=GOOD_MEDIA["img_url"]), False
    # reference_urls (wan2.6-r2v-flash): 1-5 http(s) URLs of images or videos (media-protocol.md section 5.6).
    for kind, url in URLS.items():
        yield (
            f"reference_urls [{kind}]",
            _with(spec, reference_urls=[url]),
            (_takes(spec, "reference_urls") and kind in HTTP_KINDS),
        )
    for count in (0, 1, 5, 6):
        urls = [f"https://example.com/character{i}.{'mp4' if i % 2 else 'png'}" for i in range(1, count + 1)]
        yield (
            f"reference_urls with {count} items",
            _with(spec, reference_urls=urls),
            (_takes(spec, "reference_urls") and 1 <= count <= 5),
        )
    yield "reference_urls as a bare string", _with(spec, reference_urls=GOOD_MEDIA["img_url"]), False
    # The media protocol's fields are refused on every legacy model.
    yield "ratio=16:9", _with(spec, ratio="16:9"), False
    yield "audio_setting=origin", _with(spec, audio_setting="origin"), False
    yield "media [first_frame]", _with(spec, media=MINIMAL_MEDIA[Family.I2V]), False
    for name in REQUIRED_MEDIA[spec.family]:
        yield f"{name} missing", _without(spec, name), False
    if spec.family is Family.KF2V:
        yield (
            "last_frame_url without first_frame_url",
            _without(spec, "first_frame_url") | {"last_frame_url": GOOD_MEDIA["last_frame_url"]},
            False,
        )


def _common_cases(spec: ModelSpec) -> Iterator[Case]:
    """The cases whose verdict is the same for every model (run on one model of each family)."""
    for label, odd in (("lowercase tier", "720p"), ("x-separated size", "1280x720"), ("empty", "")):
        yield f"size {label}", _with(spec, size=odd), False
        yield f"resolution {label}", _with(spec, resolution=odd), False
    yield "duration=[5]", _with(spec, duration=[5]), False

    # Prompt text: blank and control characters are refused; tab, newline and any script are fine.
    for label, prompt, ok in (
        ("spaces only", "   ", False),
        ("tab and newline only", "\t\n", False),
        ("with NUL", "fox\x00snow", False),
        ("with BEL", "fox\x07snow", False),
        ("with ESC", "fox\x1b[31msnow", False),
        ("with DEL", "fox\x7fsnow", False),
        ("with vertical tab", "fox\x0bsnow", False),
        ("with tab and newlines", "fox\trunning\nthrough\r\nsnow", True),
        ("of Chinese and emoji", "一只狐狸在雪中奔跑 🦊", True),
    ):
        yield f"prompt {label}", _with(spec, prompt=prompt), ok

    # Negative prompt.
    for length in (NEGATIVE_PROMPT_MAX, NEGATIVE_PROMPT_MAX + 1):
        yield (
            f"negative_prompt of {length} chars",
            _with(spec, negative_prompt="n" * length),
            (length <= NEGATIVE_PROMPT_MAX),
        )
    for label, text, ok in (
        ("empty", "", True),
        ("spaces only", "  ", True),
        ("with tab and newline", "blur\tnoise\n", True),
        ("with NUL", "blur\x00", False),
        ("with ESC", "blur\x1b", False),
    ):
        yield f"negative_prompt {label}", _with(spec, negative_prompt=text), ok

    # Seed.
    # -1 means random on every model (wan3.0 documents it; elsewhere it is left unsent, as an absent seed is).
    for seed, ok in ((-2, False), (-1, True), (0, True), (SEED_MAX, True), (SEED_MAX + 1, False), (7.0, True)):
        yield f"seed={seed}", _with(spec, seed=seed), ok

    yield "shot_type=Multi (wrong case)", _with(spec, shot_type="Multi"), False
    yield "prompt_extend=false without shot_type", _with(spec, prompt_extend=False), True

    # Nulls and wrong types for every field the catalog's schema declares.
    schema = input_schema()
    for name, prop in schema["properties"].items():
        yield f"{name}=null", _with(spec, **{name: None}), False
        if "$ref" in prop:  # the shared input patterns: "#/$defs/<name>"
            prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
        for label, wrong in _wrong_types(prop["type"]):
            yield f"{name}={label}", _with(spec, **{name: wrong}), False

    # Unknown fields.
    for name in ("foo", "input", "parameters", "Prompt", "size "):
        yield f"unknown field {name!r}", _with(spec, **{name: "x"}), False

    # The server's own options.
    for wait, ok in ((-1, False), (0, True), (WAIT_SECONDS_MAX, True), (WAIT_SECONDS_MAX + 1, False), (45.0, True)):
        yield f"wait_seconds={wait}", _with(spec, wait_seconds=wait), ok
    for label, key, ok in (
        ("letters, digits and . _ : -", "order-42_v1.0:a", True),
        (f"{IDEMPOTENCY_KEY_MAX} chars", "k" * IDEMPOTENCY_KEY_MAX, True),
        (f"{IDEMPOTENCY_KEY_MAX + 1} chars", "k" * (IDEMPOTENCY_KEY_MAX + 1), False),
        ("empty", "", False),
        ("with a space", "order 42", False),
        ("with a slash", "order/42", False),
        ("Cyrillic", "ключ", False),
        ("with a trailing NUL", "order42\x00", False),
    ):
        yield f"idempotency_key {label}", _with(spec, idempotency_key=key), ok
    for name in ("force_new", "dry_run", "watermark", "prompt_extend"):
        yield f"{name}=true", _with(spec, **{name: True}), True
        yield f"{name}=false", _with(spec, **{name: False}), True


def _wrong_types(json_type: str) -> list[tuple[str, Any]]:
    return {
        "string": [("5 (number)", 5), ("true", True), ("['x'] (list)", ["x"]), ("{} (object)", {})],
        "integer": [("'5' (string)", "5"), ("true", True), ("5.5", 5.5), ("[5]", [5])],
        "boolean": [("'true' (string)", "true"), ("1", 1), ("0", 0)],
        "array": [("{} (object)", {}), ("[5]", [5]), ("[null]", [None])],
    }[json_type]


def _without_model(cases: Iterator[Case], spec: ModelSpec) -> Iterator[Case]:
    """The same cases with no model named (so the catalog's default applies), where the model was ``spec``."""
    for label, args, ok in cases:
        if args.get("model") == spec.id:
            yield label, {k: v for k, v in args.items() if k != "model"}, ok


def _case_groups() -> Iterator[Any]:
    """Groups of (label, arguments, accepted?) cases, one test each, for a catalog and a model or theme."""

    def group(catalog: str, name: str, cases: Iterator[Case] | list[Case]) -> Any:
        return pytest.param(catalog, list(cases), id=f"{catalog}: {name}")

    first_of_family = [
        spec for spec in LEGACY_MODELS if spec is next(s for s in LEGACY_MODELS if s.family is spec.family)
    ]
    for spec in LEGACY_MODELS:
        yield group("all", spec.id, _model_cases(spec))
    for spec in first_of_family:
        yield group("all", f"{spec.id}, rules shared by every model", _common_cases(spec))
    # With no model named, the catalog's default model's rules apply. The defaults of "all" (wan2.7-t2v) and
    # of "us" (wan3.0-video, the first it offers) are media-protocol models, run by test_catalog_media.py; an
    # offer of only the legacy models defaults to wan2.6-t2v, the default before wan2.7 (below).
    assert CATALOGS["legacy only"][0].id == "wan2.6-t2v"
    # Narrowed catalogs drop fields and regroup the schema's per-model blocks.
    for catalog in (
        "us",
        "legacy only",
        "only wan2.1-t2v-turbo",
        "only wan2.2-kf2v-flash",
        "only wan2.6-r2v",
        "only wan2.6-r2v-flash",
        "only wan2.6-i2v-flash",
    ):
        for spec in CATALOGS[catalog]:
            if spec.protocol is Protocol.LEGACY:
                yield group(catalog, spec.id, _model_cases(spec))
        only = CATALOGS[catalog][0]
        if only.protocol is Protocol.LEGACY:
            yield group(catalog, f"no model named, so {only.id}", _without_model(_model_cases(only), only))
    # Every model, offered or not, in every region and in one-model catalogs.
    for catalog in (*REGIONS, *(f"only {s.id}" for s in MODELS)):
        yield group(
            catalog,
            "which models are offered",
            [(f"{spec.id} minimal call", _base(spec), spec in CATALOGS[catalog]) for spec in MODELS],
        )
    yield group(
        "all",
        "unknown models and non-object arguments",
        [
            ("unknown model", {"model": "wan9-t2v", "prompt": PROMPT}, False),
            ("upper-case id", {"model": "WAN2.6-T2V", "prompt": PROMPT}, False),
            ("empty model id", {"model": "", "prompt": PROMPT}, False),
            ("us wire name", {"model": "wan2.6-t2v-us", "prompt": PROMPT}, False),
            ("Beijing wire name", {"model": "wanx2.1-t2v-turbo", "prompt": PROMPT}, False),
            ("arguments as a list", [PROMPT], False),
            ("arguments as a string", PROMPT, False),
            ("arguments as null", None, False),
            ("empty arguments (the default model needs a prompt)", {}, False),
        ],
    )


CASE_GROUPS = list(_case_groups())


# --------------------------------------------------------------------------- 1. the schema is a valid schema


@pytest.mark.parametrize("catalog", list(CATALOGS))
def test_the_input_schema_is_valid_draft_2020_12(catalog: str) -> None:
    schema = input_schema(CATALOGS[catalog])
    jsonschema.Draft202012Validator.check_schema(schema)
    # MCP reads a tool schema without "$schema" as 2020-12; if one is declared, it must be 2020-12.
    assert schema.get("$schema", "https://json-schema.org/draft/2020-12/schema") == (
        "https://json-schema.org/draft/2020-12/schema"
    )


def test_an_empty_catalog_has_no_schema() -> None:
    with pytest.raises(ValueError, match="no models offered"):
        input_schema(())


# --------------------------------------------------------------------------- 2. schema and validator agree


def wrong_verdicts(catalog: str, cases: list[Case]) -> list[str]:
    """Each case where the schema or validate() does not reach the expected verdict, described."""
    wrong = []
    for label, arguments, accepted in cases:
        by_schema, by_validator, detail = _verdicts(catalog, arguments)
        if (by_schema, by_validator) != (accepted, accepted):
            expected = "accepted" if accepted else "rejected"
            wrong.append(f"{label}: expected {expected}, schema {by_schema}, validate() {by_validator}; {detail}")
    return wrong


@pytest.mark.parametrize(("catalog", "cases"), CASE_GROUPS)
def test_schema_and_validator_reach_the_expected_verdict(catalog: str, cases: list[Case]) -> None:
    assert wrong_verdicts(catalog, cases) == []


def test_the_generated_cases_cover_every_model_and_both_verdicts() -> None:
    cases = [case for param in CASE_GROUPS for case in param.values[1]]
    print(f"{len(cases)} schema/validator cases in {len(CASE_GROUPS)} groups")
    assert len(cases) > 3000
    assert {accepted for _, _, accepted in cases} == {True, False}
    # Every legacy model here; the media-protocol models in test_catalog_media.py.
    assert {param.id for param in CASE_GROUPS} >= {f"all: {spec.id}" for spec in LEGACY_MODELS}


_OFFERED_IDS = [spec.id for spec in MODELS]
_FIELDS = list(input_schema()["properties"])


def _values_for(name: str) -> st.SearchStrategy[Any]:
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, SEED_MAX + 3),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.lists(st.text(max_size=8), max_size=4),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )
    url = st.one_of(
        st.sampled_from(list(URLS.values())),
        st.text(max_size=20).map("https://example.com/".__add__),
        st.text(max_size=30),
    )
    near = {
        "model": st.sampled_from([*_OFFERED_IDS, "wan9-t2v", "wan2.6-t2v-us", "wanx2.1-t2v-turbo"]),
        # Lengths around every model's limit (800, 1500, 5000, 20000).
        "prompt": st.one_of(
            st.text(max_size=40),
            st.one_of(*(st.integers(limit - 10, limit + 5) for limit in sorted({s.prompt_max for s in MODELS}))).map(
                "狐".__mul__
            ),
        ),
        "negative_prompt": st.one_of(
            st.text(max_size=40), st.integers(NEGATIVE_PROMPT_MAX - 2, NEGATIVE_PROMPT_MAX + 2).map("n".__mul__)
        ),
        "size": st.sampled_from([*SIZE_TIER, *TIERS]),
        "resolution": st.sampled_from([*TIERS, *SIZE_TIER]),
        "duration": st.one_of(st.integers(-2, 31), st.sampled_from([5.0, 10.0, 15.0, 5.5])),
        "ratio": st.sampled_from(["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive", "2:3", "16*9"]),
        "audio_setting": st.sampled_from(["auto", "origin", "Origin", "keep"]),
        "shot_type": st.sampled_from(["single", "multi", "Multi"]),
        "seed": st.integers(-2, SEED_MAX + 2),
        "wait_seconds": st.integers(-2, WAIT_SECONDS_MAX + 2),
        "idempotency_key": st.one_of(st.from_regex(r"\A[A-Za-z0-9._:-]{0,130}\Z"), st.text(max_size=10)),
        "reference_video_urls": st.lists(url, max_size=5),
        "reference_urls": st.lists(url, max_size=7),
    }
    if name in ("img_url", "first_frame_url", "last_frame_url", "audio_url"):
        return st.one_of(url, junk)
    if name in ("audio", "prompt_extend", "watermark", "force_new", "dry_run"):
        return st.one_of(st.booleans(), junk)
    return st.one_of(near.get(name, junk), junk)


_VALUES = {name: _values_for(name) for name in [*_FIELDS, "foo", "input"]}


@st.composite
def _random_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    catalog = draw(
        st.sampled_from(
            ["all", "intl", "us", "cn", "eu", "only wan2.1-t2v-turbo", "only wan2.6-r2v", "only wan2.6-r2v-flash"]
        )
    )
    # Mostly a model the catalog offers, starting from a valid call; sometimes anything, from nothing.
    spec = draw(st.sampled_from(CATALOGS[catalog] if draw(st.integers(0, 3)) else MODELS))
    args = _base(spec) if draw(st.integers(0, 3)) else {}
    if args and not draw(st.integers(0, 3)):
        del args[draw(st.sampled_from(sorted(args)))]
    # Half the values come from the drawn model's own allowed values, so acceptances are common too.
    own = {
        "size": st.sampled_from(spec.sizes or list(SIZE_TIER)),
        "resolution": st.sampled_from(spec.tiers),
        "ratio": st.sampled_from(spec.ratios or ["16:9"]),
        "duration": st.sampled_from(spec.durations),
        "seed": st.integers(0, SEED_MAX),
        "wait_seconds": st.integers(0, WAIT_SECONDS_MAX),
        "prompt": st.text(min_size=1, max_size=spec.prompt_max),
        "shot_type": st.sampled_from(["single", "multi"]),
        **{name: st.booleans() for name in ("audio", "prompt_extend", "watermark", "force_new", "dry_run")},
    }
    names = [name for name in _VALUES if _takes(spec, name)] if draw(st.booleans()) else list(_VALUES)
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        args[name] = draw(own[name] if name in own and draw(st.booleans()) else _VALUES[name])
    return catalog, args


@settings(max_examples=300, deadline=None)
@given(_random_calls())
def test_schema_and_validator_agree_on_random_calls(call: tuple[str, dict[str, Any]]) -> None:
    catalog, arguments = call
    by_schema, by_validator, detail = _verdicts(catalog, arguments)
    assert by_schema == by_validator, detail


# --------------------------------------------------------------------------- 3. error messages


def _error(arguments: Any, catalog: str = "all") -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        validate(arguments, CATALOGS[catalog])
    return info.value


_T2V_IDS = ", ".join(spec.id for spec in MODELS)
ERROR_CASES = [
    pytest.param(
        {"model": "wan2.1-t2v-turbo", "prompt": PROMPT, "size": "1920*1080"},
        "all",
        "size",
        "size '1920*1080' is not available for wan2.1-t2v-turbo; "
        "allowed: 832*480, 480*832, 624*624, 1280*720, 720*1280, 960*960, 1088*832, 832*1088",
        id="a size of another tier names the model's sizes",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "size": "832*480"},
        "all",
        "size",
        "size '832*480' is not available for wan2.6-t2v; allowed: 1280*720, 720*1280, 960*960, 1088*832, "
        "832*1088, 1920*1080, 1080*1920, 1440*1440, 1632*1248, 1248*1632",
        id="wan2.6 has no 480P sizes",
    ),
    pytest.param(
        {"model": "wan2.6-i2v", "img_url": GOOD_MEDIA["img_url"], "resolution": "480P"},
        "all",
        "resolution",
        "resolution '480P' is not available for wan2.6-i2v; allowed: 720P, 1080P",
        id="a tier the model lacks names its tiers",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "size": "1280x720"},
        "all",
        "size",
        "size '1280x720' is not valid; allowed: " + ", ".join(SIZE_TIER),
        id="a malformed size lists every size",
    ),
    pytest.param(
        {"model": "wan2.6-i2v", "img_url": GOOD_MEDIA["img_url"], "size": "1280*720"},
        "all",
        "size",
        "wan2.6-i2v takes resolution, not size",
        id="size on an image model points to resolution",
    ),
    pytest.param(
        {"model": "wan2.5-t2v-preview", "prompt": PROMPT, "duration": 7},
        "all",
        "duration",
        "duration 7 is not available for wan2.5-t2v-preview; allowed: 5, 10",
        id="a duration outside the model's set names the set",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "duration": 31},
        "all",
        "duration",
        "duration 31 is out of range; allowed: -1..30",
        id="a duration beyond every model names the catalog range",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "duration": 16},
        "all",
        "duration",
        "duration 16 is not available for wan2.6-t2v; allowed: 2..15",
        id="a duration beyond the model names its range",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "duration": 16},
        "only wan2.6-t2v",
        "duration",
        "duration 16 is out of range; allowed: 2..15",
        id="a duration beyond every offered model names the offer's range",
    ),
    pytest.param(
        {"model": "wan2.1-i2v-turbo", "img_url": GOOD_MEDIA["img_url"], "duration": 2},
        "all",
        "duration",
        "duration 2 is not available for wan2.1-i2v-turbo; allowed: 3, 4, 5",
        id="wan2.1-i2v-turbo takes 3 to 5 seconds",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "duration": True},
        "all",
        "duration",
        "duration must be an integer, got True",
        id="a boolean is not a duration",
    ),
    pytest.param(
        {"model": "wan2.2-t2v-plus", "prompt": "p" * 801},
        "all",
        "prompt",
        "prompt is 801 characters; wan2.2-t2v-plus allows at most 800 (prompts are not truncated: shorten it)",
        id="an over-long prompt is rejected with the model's limit",
    ),
    pytest.param(
        {"model": "wan2.2-t2v-plus", "prompt": "p" * (UNION_PROMPT_MAX + 1)},
        "all",
        "prompt",
        f"prompt is {UNION_PROMPT_MAX + 1} characters; wan2.2-t2v-plus allows at most 800 "
        "(prompts are not truncated: shorten it)",
        id="a prompt over every limit is rejected with the model's limit",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": "p" * 1501},
        "all",
        "prompt",
        "prompt is 1501 characters; wan2.6-t2v allows at most 1500 (prompts are not truncated: shorten it)",
        id="an over-long wan2.6 prompt is rejected with its limit",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": "fox\x1bsnow"},
        "all",
        "prompt",
        "prompt 'fox\x1bsnow' is not a usable prompt (it is blank or contains control characters)",
        id="a control character in the prompt",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": "   "},
        "all",
        "prompt",
        "prompt '   ' is not a usable prompt (it is blank or contains control characters)",
        id="a blank prompt",
    ),
    pytest.param(
        {"model": "wan2.6-t2v"},
        "all",
        "prompt",
        "prompt is required for wan2.6-t2v",
        id="a text model needs a prompt",
    ),
    pytest.param(
        {"model": "wan2.6-i2v", "prompt": PROMPT},
        "all",
        "img_url",
        "img_url is required for wan2.6-i2v",
        id="an image model needs an image",
    ),
    pytest.param(
        {"model": "wan2.1-kf2v-plus", "last_frame_url": GOOD_MEDIA["last_frame_url"]},
        "all",
        "first_frame_url",
        "first_frame_url is required for wan2.1-kf2v-plus",
        id="a first/last-frame model needs the first frame",
    ),
    pytest.param(
        {"model": "wan2.6-i2v", "img_url": "ftp://bucket/fox.png"},
        "all",
        "img_url",
        "img_url 'ftp://bucket/fox.png' is not an http(s) or oss:// URL, a local file (an absolute path or file:// "
        "URI) or an earlier video (wan-video://videos/{task_id}.mp4 or its task id), or a "
        "data:image/(png|jpeg|bmp|webp);base64 URL",
        id="an ftp URL is not an accepted image",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "img_url": GOOD_MEDIA["img_url"]},
        "all",
        "img_url",
        "img_url is not used by wan2.6-t2v (t2v model)",
        id="an image on a text model",
    ),
    pytest.param(
        {"model": "wan2.2-t2v-plus", "prompt": PROMPT, "audio": True},
        "all",
        "audio",
        "audio is not supported by wan2.2-t2v-plus, which makes silent videos",
        id="audio on a silent model",
    ),
    pytest.param(
        {
            "model": "wan2.6-r2v",
            "prompt": PROMPT,
            "reference_video_urls": GOOD_MEDIA["reference_video_urls"],
            "audio_url": "https://example.com/voice.mp3",
        },
        "all",
        "audio_url",
        "audio_url is not supported by wan2.6-r2v",
        id="a driving audio file on the reference-video model",
    ),
    pytest.param(
        {"model": "wan2.5-t2v-preview", "prompt": PROMPT, "shot_type": "multi"},
        "all",
        "shot_type",
        "shot_type is not supported by wan2.5-t2v-preview; only wan2.6 models take it",
        id="shot_type before wan2.6",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "shot_type": "multi", "prompt_extend": False},
        "all",
        "shot_type",
        "shot_type 'multi' takes effect only with prompt_extend=true; set prompt_extend to true or drop shot_type",
        id="multi-shot without prompt rewriting",
    ),
    pytest.param(
        {
            "model": "wan2.6-i2v-flash",
            "img_url": GOOD_MEDIA["img_url"],
            "audio": False,
            "audio_url": "https://example.com/voice.mp3",
        },
        "all",
        "audio",
        "audio=false conflicts with audio_url; drop one of them",
        id="audio=false with a driving audio file",
    ),
    pytest.param(
        {
            "model": "wan2.6-r2v",
            "prompt": PROMPT,
            "reference_video_urls": [f"https://example.com/c{i}.mp4" for i in range(4)],
        },
        "all",
        "reference_video_urls",
        "reference_video_urls has 4 items; allowed: 1..3",
        id="four reference videos",
    ),
    pytest.param(
        {
            "model": "wan2.6-r2v-flash",
            "prompt": PROMPT,
            "reference_urls": [f"https://example.com/c{i}.png" for i in range(6)],
        },
        "all",
        "reference_urls",
        "reference_urls has 6 items; allowed: 1..5",
        id="six references for r2v-flash",
    ),
    pytest.param(
        {"model": "wan2.6-r2v-flash", "prompt": PROMPT},
        "all",
        "reference_urls",
        "reference_urls is required for wan2.6-r2v-flash",
        id="r2v-flash needs references",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "seed": SEED_MAX + 1},
        "all",
        "seed",
        "seed 2147483648 is out of range; allowed: -1..2147483647",
        id="a seed beyond 2^31-1",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "negative_prompt": "n" * 501},
        "all",
        "negative_prompt",
        "negative_prompt is 501 characters; at most 500 allowed",
        id="an over-long negative prompt",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "wait_seconds": 901},
        "all",
        "wait_seconds",
        "wait_seconds 901 is out of range; allowed: 0..900",
        id="waiting longer than the cap",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "idempotency_key": "order 42"},
        "all",
        "idempotency_key",
        "idempotency_key 'order 42' is not made of letters, digits and . _ : -",
        id="an idempotency key with a space",
    ),
    pytest.param(
        {"model": "wan9-t2v", "prompt": PROMPT},
        "all",
        "model",
        f"model 'wan9-t2v' is not available; allowed: {_T2V_IDS}",
        id="an unknown model lists the offered ones",
    ),
    pytest.param(
        {"model": "wan2.5-t2v-preview", "prompt": PROMPT},
        "us",
        "model",
        "model 'wan2.5-t2v-preview' is not available (known, but not offered by this provider or region); "
        "allowed: wan3.0-video, wan3.0-video-prime, wan2.6-t2v, wan2.6-i2v",
        id="a model the region does not offer",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "reference_video_urls": ["https://example.com/c.mp4"]},
        "us",
        "reference_video_urls",
        "reference_video_urls is not accepted by any model this server offers",
        id="a field no offered model takes",
    ),
    pytest.param(
        {"model": "wan2.6-t2v", "prompt": PROMPT, "parameters": {"size": "1280*720"}},
        "all",
        "parameters",
        "unknown field 'parameters'; allowed fields: " + ", ".join(input_schema()["properties"]),
        id="an unknown field lists the allowed ones",
    ),
]


@pytest.mark.parametrize(("arguments", "catalog", "field", "message"), ERROR_CASES)
def test_a_rejection_names_the_field_the_bad_value_and_what_is_allowed(
    arguments: dict[str, Any], catalog: str, field: str, message: str
) -> None:
    error = _error(arguments, catalog)
    assert (error.field, error.message) == (field, message)
    assert error.problems == [{"field": field, "message": message}]  # type: ignore[attr-defined]
    assert error.to_dict()["field"] == field


def test_several_problems_are_reported_together_and_the_first_is_the_field() -> None:
    error = _error({"model": "wan2.1-t2v-turbo", "prompt": "", "duration": 10, "audio": True})
    assert error.problems == [  # type: ignore[attr-defined]
        {"field": "prompt", "message": "prompt '' is not a usable prompt (it is blank or contains control characters)"},
        {"field": "duration", "message": "duration 10 is not available for wan2.1-t2v-turbo; allowed: 5"},
        {"field": "audio", "message": "audio is not supported by wan2.1-t2v-turbo, which makes silent videos"},
    ]
    assert error.field == "prompt"
    assert error.message.startswith("3 problems: prompt '' is not a usable prompt")


def test_over_long_prompts_are_rejected_for_every_model_never_truncated() -> None:
    for spec in MODELS:
        error = _error(_with(spec, prompt="p" * (spec.prompt_max + 1)))
        assert error.field == "prompt"
        assert f"{spec.id} allows at most {spec.prompt_max}" in error.message
        assert validate(_with(spec, prompt="p" * spec.prompt_max)).request.prompt == "p" * spec.prompt_max


# --------------------------------------------------------------------------- 4. normalization and fingerprints


# The per-model rules of reference section 2 (with section 7's resolutions: wan2.6 durations 2-15), and of
# media-protocol.md section 5 for wan2.7 / wan3.0 / wan2.6-r2v-flash (durations include the special values:
# videoedit 0 = keep the input's length, wan3.0 -1 = the model picks).
_WAN27_SECONDS = tuple(range(2, 16))  # integer 2-15, default 5 (5.1-5.3)
_WAN30_SECONDS = (-1, *range(2, 31))  # -1 or integer 2-30, default 5 (5.5)
REFERENCE = {
    # model: (tiers, default size or tier, durations, default duration, prompt max, audio, audio_url, shot_type)
    # wan2.7: 720P/1080P (1080P), prompt <= 5000 (conflict 1), no `audio` switch (conflict 5: undocumented), no
    # shot_type (section 1); audio_url on t2v only.
    "wan2.7-t2v": (("720P", "1080P"), "1080P", _WAN27_SECONDS, 5, 5000, False, True, False),
    "wan2.7-i2v": (("720P", "1080P"), "1080P", _WAN27_SECONDS, 5, 5000, False, False, False),
    "wan2.7-r2v": (("720P", "1080P"), "1080P", _WAN27_SECONDS, 5, 5000, False, False, False),
    "wan2.7-videoedit": (("720P", "1080P"), "1080P", (0, *range(2, 11)), 0, 5000, False, False, False),
    # wan3.0: 480P/720P/1080P (1080P), prompt <= 20000, `audio` boolean (default true).
    "wan3.0-video": (("480P", "720P", "1080P"), "1080P", _WAN30_SECONDS, 5, 20000, True, False, False),
    "wan3.0-video-prime": (("480P", "720P", "1080P"), "1080P", _WAN30_SECONDS, 5, 20000, True, False, False),
    # The official dated snapshots (conflict 9): the same rules as the models they pin.
    "wan2.7-t2v-2026-04-25": (("720P", "1080P"), "1080P", _WAN27_SECONDS, 5, 5000, False, True, False),
    "wan2.7-i2v-2026-04-25": (("720P", "1080P"), "1080P", _WAN27_SECONDS, 5, 5000, False, False, False),
    "wan2.6-t2v": (("720P", "1080P"), "1920*1080", tuple(range(2, 16)), 5, 1500, True, True, True),
    "wan2.5-t2v-preview": (("480P", "720P", "1080P"), "1920*1080", (5, 10), 5, 1500, True, True, False),
    "wan2.2-t2v-plus": (("480P", "1080P"), "1920*1080", (5,), 5, 800, False, False, False),
    "wan2.1-t2v-turbo": (("480P", "720P"), "1280*720", (5,), 5, 800, False, False, False),
    "wan2.1-t2v-plus": (("720P",), "1280*720", (5,), 5, 800, False, False, False),
    "wan2.6-i2v": (("720P", "1080P"), "1080P", tuple(range(2, 16)), 5, 1500, True, True, True),
    "wan2.6-i2v-flash": (("720P", "1080P"), "1080P", tuple(range(2, 16)), 5, 1500, True, True, True),
    "wan2.5-i2v-preview": (("480P", "720P", "1080P"), "1080P", (5, 10), 5, 1500, True, True, False),
    "wan2.2-i2v-plus": (("480P", "1080P"), "1080P", (5,), 5, 800, False, False, False),
    "wan2.2-i2v-flash": (("480P", "720P", "1080P"), "720P", (5,), 5, 800, False, False, False),
    "wan2.1-i2v-turbo": (("480P", "720P"), "720P", (3, 4, 5), 5, 800, False, False, False),
    "wan2.1-i2v-plus": (("720P",), "720P", (5,), 5, 800, False, False, False),
    "wan2.2-kf2v-flash": (("480P", "720P", "1080P"), "720P", (5,), 5, 800, False, False, False),
    "wan2.1-kf2v-plus": (("720P",), "720P", (5,), 5, 800, False, False, False),
    "wan2.6-r2v": (("720P", "1080P"), "1920*1080", (5, 10), 5, 1500, True, False, True),
    # Section 5.6: 720P/1080P output by size, integer 2-10 s, shot_type, an `audio` switch for silent output
    # (unverified), no audio_url. Not stated there, taken from wan2.6 (inference): the 1500-char prompt limit
    # (conflict 1), the default 1920*1080 and 5 s of wan2.6-r2v.
    "wan2.6-r2v-flash": (("720P", "1080P"), "1920*1080", tuple(range(2, 11)), 5, 1500, True, False, True),
}


def test_the_catalog_holds_exactly_the_reference_models() -> None:
    assert [spec.id for spec in MODELS] == list(REFERENCE)


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.id)
def test_each_models_rules_match_the_reference_table(spec: ModelSpec) -> None:
    actual = (
        spec.tiers,
        spec.default_size or spec.default_tier,
        spec.durations,
        spec.default_duration,
        spec.prompt_max,
        spec.audio,
        spec.audio_url,
        spec.shot_type,
    )
    assert actual == REFERENCE[spec.id]
    assert spec.default_tier in spec.tiers
    assert spec.default_duration in spec.durations
    if spec.default_size is not None:
        assert spec.default_size in spec.sizes
        assert SIZE_TIER[spec.default_size] == spec.default_tier


# The media protocol's models: their defaults and fingerprints are tested in test_catalog_media.py.
@pytest.mark.parametrize("spec", LEGACY_MODELS, ids=lambda spec: spec.id)
def test_validation_fills_each_models_defaults(spec: ModelSpec) -> None:
    uses_size = spec.family in (Family.T2V, Family.R2V, Family.R2V_MIXED)
    media = {name: GOOD_MEDIA[name] for name in REQUIRED_MEDIA[spec.family]}
    for name in ("reference_video_urls", "reference_urls"):
        if name in media:
            media[name] = tuple(media[name])
    expected = GenerationRequest(
        model=spec.id,
        family=spec.family,
        prompt=PROMPT,
        size=spec.default_size if uses_size else None,
        resolution=None if uses_size else spec.default_tier,
        duration=spec.default_duration,
        prompt_extend=True,
        watermark=False,
        **media,
    )
    assert validate(_base(spec)) == ValidatedCall(
        request=expected, wait_seconds=WAIT_SECONDS_DEFAULT, idempotency_key=None, force_new=False, dry_run=False
    )


def test_an_absent_model_means_the_default_model() -> None:
    assert DEFAULT_MODEL == "wan2.7-t2v"
    assert (get_model(DEFAULT_MODEL).family, get_model(DEFAULT_MODEL).protocol) == (Family.T2V, Protocol.MEDIA)
    assert validate({"prompt": PROMPT}) == validate({"model": DEFAULT_MODEL, "prompt": PROMPT})
    # wan2.7-t2v's defaults (media-protocol.md 5.1): 1080P, 16:9, 5 s; a tier and a ratio, not a size.
    request = validate({"prompt": PROMPT}).request
    assert (request.model, request.size, request.resolution, request.ratio, request.duration) == (
        "wan2.7-t2v",
        None,
        "1080P",
        "16:9",
        5,
    )
    assert input_schema()["properties"]["model"]["default"] == "wan2.7-t2v"
    # A catalog without wan2.7-t2v defaults to the first model it offers: Virginia's is wan3.0-video.
    assert validate({"prompt": PROMPT}, models_for("us")).request.model == "wan3.0-video"
    assert input_schema(models_for("us"))["properties"]["model"]["default"] == "wan3.0-video"
    turbo_only = CATALOGS["only wan2.1-t2v-turbo"]
    assert validate({"prompt": PROMPT}, turbo_only).request.model == "wan2.1-t2v-turbo"
    assert input_schema(turbo_only)["properties"]["model"]["default"] == "wan2.1-t2v-turbo"


def _explicit_defaults(spec: ModelSpec) -> dict[str, Any]:
    """The same call as ``_base``, with every default spelled out and the server's own options set."""
    args = _base(spec) | {
        "duration": float(spec.default_duration),
        "prompt_extend": True,
        "watermark": False,
        "negative_prompt": "",
        "wait_seconds": 0,
        "idempotency_key": "same-video",
        "force_new": True,
        "dry_run": True,
    }
    args["size" if spec.default_size else "resolution"] = spec.default_size or spec.default_tier
    if spec.audio:
        args["audio"] = True
    if spec.shot_type:
        args["shot_type"] = "single"
    return args


@pytest.mark.parametrize("spec", LEGACY_MODELS, ids=lambda spec: spec.id)
def test_spelling_out_defaults_does_not_change_the_fingerprint(spec: ModelSpec) -> None:
    implicit = validate(_base(spec)).request
    explicit = validate(_explicit_defaults(spec)).request
    assert explicit.fingerprint() == implicit.fingerprint()
    assert (explicit.size, explicit.resolution, explicit.duration) == (
        implicit.size,
        implicit.resolution,
        implicit.duration,
    )


def _variations(spec: ModelSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """Calls that each differ from ``_base(spec)`` in exactly one generation parameter."""
    default_shape = spec.default_size or spec.default_tier
    for shape in spec.sizes or spec.tiers:
        if shape != default_shape:
            yield (
                f"{'size' if spec.sizes else 'resolution'}={shape}",
                _with(spec, **{"size" if spec.sizes else "resolution": shape}),
            )
    for duration in spec.durations:
        if duration != spec.default_duration:
            yield f"duration={duration}", _with(spec, duration=duration)
    yield "another prompt", _with(spec, prompt=PROMPT + ", at dusk")
    yield "a negative prompt", _with(spec, negative_prompt="blur")
    yield "seed=1", _with(spec, seed=1)
    yield "seed=2", _with(spec, seed=2)
    yield "prompt_extend=false", _with(spec, prompt_extend=False)
    yield "watermark=true", _with(spec, watermark=True)
    if spec.audio:
        yield "audio=false", _with(spec, audio=False)
    if spec.audio_url:
        yield "audio_url", _with(spec, audio_url="https://example.com/voice.mp3")
    if spec.shot_type:
        yield "shot_type=multi", _with(spec, shot_type="multi")
    for name in REQUIRED_MEDIA[spec.family]:
        other: Any = "https://example.com/o.png"
        if name in ("reference_video_urls", "reference_urls"):
            other = ["https://example.com/other.mp4"]
        yield f"another {name}", _with(spec, **{name: other})
    if spec.family is Family.KF2V:
        yield "a last frame", _with(spec, last_frame_url=GOOD_MEDIA["last_frame_url"])
    if spec.family is Family.R2V:
        yield (
            "two reference videos",
            _with(
                spec, reference_video_urls=[*GOOD_MEDIA["reference_video_urls"], "https://example.com/character2.mp4"]
            ),
        )
    if spec.family is Family.R2V_MIXED:
        yield (
            "two references",
            _with(spec, reference_urls=[*GOOD_MEDIA["reference_urls"], "https://example.com/character2.mp4"]),
        )


@pytest.mark.parametrize("spec", LEGACY_MODELS, ids=lambda spec: spec.id)
def test_any_differing_parameter_changes_the_fingerprint(spec: ModelSpec) -> None:
    fingerprints = {"base": validate(_base(spec)).request.fingerprint()}
    for label, args in _variations(spec):
        fingerprints[label] = validate(args).request.fingerprint()
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints


def test_the_same_parameters_on_another_model_have_another_fingerprint() -> None:
    plus = validate({"model": "wan2.1-t2v-plus", "prompt": PROMPT}).request
    turbo = validate({"model": "wan2.1-t2v-turbo", "prompt": PROMPT, "size": "1280*720"}).request
    assert (plus.size, plus.duration) == (turbo.size, turbo.duration)
    assert plus.fingerprint() != turbo.fingerprint()


# --------------------------------------------------------------------------- 5. cost estimates


def _usd_per_second(spec: ModelSpec, tier: str, *, silent: bool = False) -> float:
    table = spec.price.silent_per_second if silent and spec.price.silent_per_second else spec.price.per_second
    return table[tier] / (CNY_PER_USD if spec.price.currency == "CNY" else 1)


def _shape_for(spec: ModelSpec, tier: str) -> dict[str, str]:
    if spec.sizes:
        return {"size": TIERS[tier][0]}
    return {"resolution": tier}


# No official list price was found for these (media-protocol.md section 7 and 5.6): resellers' figures stand in.
NO_OFFICIAL_PRICE = {*(spec.id for spec in MEDIA_MODELS), "wan2.6-r2v-flash"}
NO_OFFICIAL_NOTE = "no official list price was found: this is a reseller's figure"


def _priced_calls() -> Iterator[Any]:
    for spec in MODELS:
        # Lengths in seconds only: the special values (videoedit 0, wan3.0 -1) are priced in test_catalog_media.py.
        plain = [d for d in spec.durations if d > 0]
        for tier in spec.tiers:
            for duration in sorted({plain[0], spec.default_duration, plain[-1]} - {0, -1}):
                yield pytest.param(spec, tier, duration, id=f"{spec.id} {tier} {duration}s")


@pytest.mark.parametrize(("spec", "tier", "duration"), list(_priced_calls()))
def test_the_estimate_is_the_tier_price_times_the_duration(spec: ModelSpec, tier: str, duration: int) -> None:
    request = validate(_with(spec, duration=duration, **_shape_for(spec, tier))).request
    estimate = estimate_cost(request)
    assert (estimate.tier, estimate.billed_seconds) == (tier, duration)
    assert isinstance(estimate.billed_seconds, float)
    assert estimate.amount_usd == round(_usd_per_second(spec, tier) * duration, 4)
    assert estimate.amount_usd > 0
    assert (estimate.source, estimate.as_of) == (spec.price.source, spec.price.as_of)
    assert ("converted from CNY at 7.1/USD" in estimate.note) == (spec.price.currency == "CNY")
    assert (NO_OFFICIAL_NOTE in estimate.note) == (spec.id in NO_OFFICIAL_PRICE)
    assert estimate.official_price == (spec.id not in NO_OFFICIAL_PRICE)


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.id)
def test_every_tier_of_every_model_has_a_price(spec: ModelSpec) -> None:
    assert set(spec.tiers) <= set(spec.price.per_second)
    if spec.price.silent_per_second is not None:
        assert set(spec.tiers) <= set(spec.price.silent_per_second)
    listed = next(m for m in catalog_document()["models"] if m["id"] == spec.id)["price_per_second_usd"]
    assert set(listed) == set(spec.tiers)
    assert all(price > 0 for price in listed.values())


@pytest.mark.parametrize(
    ("arguments", "amount", "note"),
    [
        pytest.param({"model": "wan2.6-t2v", "prompt": PROMPT, "duration": 10}, 1.5, "", id="wan2.6 1080P 10s"),
        pytest.param(
            {"model": "wan2.6-t2v", "prompt": PROMPT, "size": "1280*720", "duration": 2}, 0.2, "", id="wan2.6 720P 2s"
        ),
        pytest.param({"model": "wan2.1-t2v-turbo", "prompt": PROMPT}, 0.18, "", id="wan2.1 turbo 5s"),
        pytest.param(
            {"model": "wan2.6-i2v-flash", "img_url": GOOD_MEDIA["img_url"], "resolution": "720P"},
            0.25,
            "silent (audio=false) costs half",
            id="flash with sound",
        ),
        pytest.param(
            {"model": "wan2.6-i2v-flash", "img_url": GOOD_MEDIA["img_url"], "resolution": "720P", "audio": False},
            0.125,
            "silent (audio=false) costs half",
            id="flash silent",
        ),
        pytest.param(
            {"model": "wan2.6-i2v-flash", "img_url": GOOD_MEDIA["img_url"], "duration": 10, "audio": False},
            0.375,
            "silent (audio=false) costs half",
            id="flash silent 1080P 10s",
        ),
        pytest.param(
            {
                "model": "wan2.6-i2v-flash",
                "img_url": GOOD_MEDIA["img_url"],
                "audio_url": "https://example.com/voice.mp3",
            },
            0.375,
            "silent (audio=false) costs half",
            id="flash with a driving audio file",
        ),
        pytest.param(
            {"model": "wan2.5-t2v-preview", "prompt": PROMPT, "size": "832*480"},
            round(1.5 / 7.1, 4),
            "converted from CNY at 7.1/USD",
            id="wan2.5 480P in CNY",
        ),
        pytest.param(
            {
                "model": "wan2.6-r2v",
                "prompt": PROMPT,
                "reference_video_urls": GOOD_MEDIA["reference_video_urls"],
                "duration": 10,
            },
            round(10 / 7.1, 4),
            "billed on output seconds plus the reference videos' seconds; converted from CNY at 7.1/USD",
            id="r2v notes the reference seconds",
        ),
        # media-protocol.md section 7: resellers' figures (wan2.7 $0.084 / $0.14; wan3.0 ~ $0.06 at 720P).
        pytest.param({"prompt": PROMPT}, 0.7, NO_OFFICIAL_NOTE, id="the default model, wan2.7-t2v 1080P 5s"),
        pytest.param(
            {"model": "wan2.7-t2v", "prompt": PROMPT, "resolution": "720P", "duration": 10},
            0.84,
            NO_OFFICIAL_NOTE,
            id="wan2.7-t2v 720P 10s",
        ),
        pytest.param(
            {"model": "wan3.0-video", "prompt": PROMPT, "resolution": "720P", "duration": 10, "audio": False},
            0.6,
            f"the same with or without sound; input video seconds are billed too; {NO_OFFICIAL_NOTE}",
            id="wan3.0 720P 10s silent costs the same",
        ),
        pytest.param(
            {"model": "wan2.6-r2v-flash", "prompt": PROMPT, "reference_urls": GOOD_MEDIA["reference_urls"]},
            0.375,
            "billed on output seconds plus the reference videos' seconds; silent (audio=false) costs half; "
            f"{NO_OFFICIAL_NOTE}",
            id="r2v-flash notes the reference seconds and the reseller's figure",
        ),
    ],
)
def test_known_prices(arguments: dict[str, Any], amount: float, note: str) -> None:
    estimate = estimate_cost(validate(arguments).request)
    assert (estimate.amount_usd, estimate.note) == (amount, note)


def test_a_silent_price_applies_only_where_the_catalog_has_one() -> None:
    for spec in MODELS:
        if not spec.audio:
            continue
        loud = estimate_cost(validate(_base(spec)).request)
        quiet = estimate_cost(validate(_with(spec, audio=False)).request)
        if spec.price.silent_per_second:
            assert quiet.amount_usd == round(loud.amount_usd / 2, 4), spec.id
        else:
            assert quiet.amount_usd == loud.amount_usd, spec.id


# --------------------------------------------------------------------------- 6. regions


WAN30_IDS = ["wan3.0-video", "wan3.0-video-prime"]
WAN27_IDS = [
    "wan2.7-t2v",
    "wan2.7-i2v",
    "wan2.7-r2v",
    "wan2.7-videoedit",
    "wan2.7-t2v-2026-04-25",
    "wan2.7-i2v-2026-04-25",
]


def test_the_us_region_offers_wan30_and_wan26_text_and_image_to_video() -> None:
    # Virginia: wan2.6 t2v/i2v (wire-formats.md) and wan3.0 (media-protocol.md section 2); no wan2.7.
    assert [spec.id for spec in models_for("us")] == [*WAN30_IDS, "wan2.6-t2v", "wan2.6-i2v"]
    schema = input_schema(models_for("us"))
    assert schema["properties"]["model"]["enum"] == [*WAN30_IDS, "wan2.6-t2v", "wan2.6-i2v"]
    assert not {"first_frame_url", "last_frame_url", "reference_video_urls", "reference_urls", "audio_setting"} & set(
        schema["properties"]
    )
    assert {"media", "ratio", "img_url", "size", "resolution", "shot_type"} <= set(schema["properties"])


@pytest.mark.parametrize("region", ["eu", "jp", "hk"])
def test_frankfurt_tokyo_and_hong_kong_offer_only_wan30(region: str) -> None:
    assert [spec.id for spec in models_for(region)] == WAN30_IDS
    schema = input_schema(models_for(region))
    assert schema["properties"]["model"]["enum"] == WAN30_IDS
    assert schema["properties"]["model"]["default"] == "wan3.0-video"
    # wan3.0 takes no size, negative_prompt, audio_url, audio_setting, shot_type or legacy media fields.
    assert not {
        "size",
        "negative_prompt",
        "audio_url",
        "audio_setting",
        "shot_type",
        "img_url",
        "first_frame_url",
        "last_frame_url",
        "reference_video_urls",
        "reference_urls",
    } & set(schema["properties"])


def test_wan27_is_offered_in_singapore_and_beijing_only_and_wan30_in_all_six_regions() -> None:
    for region in REGIONS:
        ids = [spec.id for spec in models_for(region)]
        assert [i for i in ids if i in WAN27_IDS] == (WAN27_IDS if region in ("intl", "cn") else []), region
        assert [i for i in ids if i in WAN30_IDS] == WAN30_IDS, region
    assert {spec.id for spec in MEDIA_MODELS} == {*WAN27_IDS, *WAN30_IDS}
    # wan2.6-r2v-flash: a Singapore example and the China-mainland list (media-protocol.md 5.6).
    assert [region for region in REGIONS if "wan2.6-r2v-flash" in {s.id for s in models_for(region)}] == ["intl", "cn"]


def test_beijing_only_models_are_absent_outside_beijing() -> None:
    beijing_only = {"wan2.2-i2v-flash", "wan2.2-kf2v-flash"}
    for region in REGIONS:
        if region != "cn":
            assert not beijing_only & {spec.id for spec in models_for(region)}, region
    assert beijing_only <= {spec.id for spec in models_for("cn")}
    assert {spec.id for spec in models_for("cn")} == {spec.id for spec in MODELS}
    assert {spec.id for spec in models_for("intl")} == {spec.id for spec in MODELS} - beijing_only


def test_a_providers_offer_narrows_the_catalog() -> None:
    offered = models_for("intl", offered=["wan2.6-t2v", "wan2.2-kf2v-flash", "no-such-model"])
    assert [spec.id for spec in offered] == ["wan2.6-t2v"]
    assert [spec.id for spec in models_for(offered=["wan2.6-r2v"])] == ["wan2.6-r2v"]


@pytest.mark.parametrize(
    ("region", "wire_name"),
    [
        pytest.param("cn", lambda i: i.replace("wan2.1-", "wanx2.1-"), id="Beijing spells 2.1 as wanx2.1"),
        # The -us suffix is the legacy models' (wire-formats.md); wan3.0 keeps its id on the workspace host.
        pytest.param("us", lambda i: i if i.startswith("wan3.0") else f"{i}-us", id="Virginia adds -us to wan2.6"),
        pytest.param("intl", lambda i: i, id="Singapore uses the ids"),
        pytest.param("eu", lambda i: i, id="Frankfurt uses the ids"),
        pytest.param("jp", lambda i: i, id="Tokyo uses the ids"),
        pytest.param("hk", lambda i: i, id="Hong Kong uses the ids"),
    ],
)
def test_the_catalog_document_gives_each_regions_wire_names(region: str, wire_name: Any) -> None:
    document = catalog_document(models_for(region), region=region)
    names = {model["id"]: model["wire_name"] for model in document["models"]}
    assert names == {spec.id: wire_name(spec.id) for spec in models_for(region)}
    assert all(spec.wire_name(region) == names[spec.id] for spec in models_for(region))


def test_the_catalog_document_lists_every_model_with_its_rules() -> None:
    document = catalog_document()
    assert document["default_model"] == DEFAULT_MODEL
    assert document["tiers"] == {tier: list(sizes) for tier, sizes in TIERS.items()}
    assert [m["id"] for m in document["models"]] == [spec.id for spec in MODELS]
    assert all(m["wire_name"] == m["id"] for m in document["models"])
    json.dumps(document)  # it is plain JSON


# --------------------------------------------------------------------------- 7. size


def test_the_schema_size_is_reported() -> None:
    sizes = {name: len(json.dumps(input_schema(CATALOGS[name]))) for name in ("all", *REGIONS)}
    print(f"generate_video inputSchema bytes (json.dumps): {sizes}")
    assert all(size > 0 for size in sizes.values())
