"""The media protocol's models (wan2.7, wan3.0): their schema and validator agree, and both follow the reference.

The method of test_catalog.py (each case checked twice: the generated ``input_schema`` under jsonschema's Draft
2020-12 validator, and ``validate()``; both must reach the expected verdict), with the expected verdicts generated
from the rules of /work/shared/reference/media-protocol.md written out below (``REF``), independently of the
catalog's own tables: a case where the catalog and the reference disagree fails, and is a catalog bug.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_catalog import CATALOGS, LEGACY_MODELS, MEDIA_MODELS, PROMPT, Case, _verdicts, wrong_verdicts
from tests.test_catalog import _base as _legacy_base
from wan_video_mcp.server.catalog import (
    DEFAULT_MODEL,
    MODELS,
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    SIZE_TIER,
    WAIT_SECONDS_DEFAULT,
    GenerationRequest,
    MediaItem,
    ModelSpec,
    ValidatedCall,
    estimate_cost,
    get_model,
    input_schema,
    validate,
)
from wan_video_mcp.server.errors import InvalidRequest

# --------------------------------------------------------------------------- the reference, as data

IMAGE, VIDEO, AUDIO, FILE, LINK = "image", "video", "audio", "file", "link"
WAN27_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")  # 5.1, 5.3, 5.4
WAN30_RATIOS = ("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")  # 5.5
WAN27_REGIONS = ("intl", "cn")  # section 2: Beijing and Singapore only (conflict 8)
WAN30_REGIONS = ("intl", "us", "cn", "eu", "jp", "hk")  # section 2: six regions

# i2v (5.2): "Only these combinations are valid; anything else is an error".
I2V_COMBINATIONS = frozenset(
    frozenset(c)
    for c in (
        ("first_frame",),
        ("first_frame", "driving_audio"),
        ("first_frame", "last_frame"),
        ("first_frame", "last_frame", "driving_audio"),
        ("first_clip",),
        ("first_clip", "last_frame"),
    )
)
WAN30_FRAMES = frozenset({"first_frame", "last_frame"})
WAN30_OTHERS = frozenset({"reference_image", "reference_video", "reference_audio", "file", "link"})


def _wan30_valid(types: frozenset[str]) -> bool:
    """5.5: frames do not mix with reference_*, file or link; file and link exclude each other; the rest is free."""
    return not (types & WAN30_FRAMES and types & WAN30_OTHERS) and not {"file", "link"} <= types


@dataclass(frozen=True)
class Ref:
    """One model's rules as media-protocol.md states them."""

    tiers: tuple[str, ...]
    ratios: tuple[str, ...]  # none: the model takes no ratio
    default_ratio: str | None  # None: the output follows the input
    durations: tuple[int, ...]  # every accepted value, the special ones included
    default_duration: int
    prompt_max: int
    prompt: str  # "required", "optional" or "prompt or media"
    media: dict[str, tuple[str, int]]  # type -> (kind, most items)
    valid: Callable[[frozenset[str]], bool]  # whether a set of types is a valid combination (empty: no media)
    group_max: tuple[tuple[frozenset[str], int], ...] = ()
    voice: frozenset[str] = frozenset()  # types that take reference_voice
    negative_prompt: bool = True
    audio: bool = False
    audio_url: bool = False
    audio_setting: bool = False
    ratio_refused_with: frozenset[str] = frozenset()  # r2v: ratio is ignored with a first frame (refused here)
    duration_max_with: tuple[frozenset[str], int] | None = None  # r2v: 2-10 with any reference video
    extend_required_with: frozenset[str] = frozenset()  # wan3.0: prompt_extend must be true with file/link
    seed_min: int = 0  # wan3.0 also takes -1 (random)
    regions: tuple[str, ...] = WAN27_REGIONS
    default_tier: str = "1080P"


_T2V = Ref(
    tiers=("720P", "1080P"),
    ratios=WAN27_RATIOS,
    default_ratio="16:9",
    durations=tuple(range(2, 16)),
    default_duration=5,
    prompt_max=5000,
    prompt="required",
    media={},  # no media: prompt (+ audio_url) only
    valid=lambda types: not types,
    audio_url=True,
)
_I2V = Ref(
    tiers=("720P", "1080P"),
    ratios=(),  # "There is no ratio parameter"
    default_ratio=None,
    durations=tuple(range(2, 16)),
    default_duration=5,
    prompt_max=5000,
    prompt="optional",
    media={"first_frame": (IMAGE, 1), "last_frame": (IMAGE, 1), "driving_audio": (AUDIO, 1), "first_clip": (VIDEO, 1)},
    valid=lambda types: types in I2V_COMBINATIONS,
)
_R2V = Ref(
    tiers=("720P", "1080P"),
    ratios=WAN27_RATIOS,
    default_ratio="16:9",
    durations=tuple(range(2, 16)),
    default_duration=5,
    prompt_max=5000,
    prompt="required",
    media={"reference_image": (IMAGE, 5), "reference_video": (VIDEO, 5), "first_frame": (IMAGE, 1)},
    valid=lambda types: bool(types & {"reference_image", "reference_video"}),
    group_max=((frozenset({"reference_image", "reference_video"}), 5),),
    voice=frozenset({"reference_image", "reference_video"}),
    ratio_refused_with=frozenset({"first_frame"}),
    duration_max_with=(frozenset({"reference_video"}), 10),
)
_EDIT = Ref(
    tiers=("720P", "1080P"),
    ratios=WAN27_RATIOS,
    default_ratio=None,  # "if omitted, the output approximates the input video's aspect"
    durations=(0, *range(2, 11)),  # 0 = keep the input's length
    default_duration=0,
    prompt_max=5000,
    prompt="optional",
    media={"video": (VIDEO, 1), "reference_image": (IMAGE, 4)},
    valid=lambda types: "video" in types,
    audio_setting=True,
)
_WAN30 = Ref(
    tiers=("480P", "720P", "1080P"),
    ratios=WAN30_RATIOS,
    default_ratio="adaptive",
    durations=(-1, *range(2, 31)),  # -1 = smart duration
    default_duration=5,
    prompt_max=20000,
    prompt="prompt or media",
    media={
        "first_frame": (IMAGE, 1),
        "last_frame": (IMAGE, 1),
        "reference_image": (IMAGE, 10),
        "reference_video": (VIDEO, 5),
        "reference_audio": (AUDIO, 5),
        "file": (FILE, 1),
        "link": (LINK, 1),
    },
    valid=_wan30_valid,
    negative_prompt=False,  # not listed (conflict 11)
    audio=True,
    extend_required_with=frozenset({"file", "link"}),
    seed_min=-1,  # "seed: -1 or [0, 2147483647]"
    regions=WAN30_REGIONS,
)
REF: dict[str, Ref] = {
    "wan2.7-t2v": _T2V,
    "wan2.7-i2v": _I2V,
    "wan2.7-r2v": _R2V,
    "wan2.7-videoedit": _EDIT,
    "wan3.0-video": _WAN30,
    "wan3.0-video-prime": _WAN30,  # "the faster variant with the same capabilities"
    "wan2.7-t2v-2026-04-25": _T2V,
    "wan2.7-i2v-2026-04-25": _I2V,
}
NEW_IDS = tuple(REF)
ALL_TYPES = tuple(dict.fromkeys(t for ref in REF.values() for t in ref.media))
KIND_URL = {
    IMAGE: "https://example.com/character.png",
    VIDEO: "https://example.com/clip.mp4",
    AUDIO: "https://example.com/voice.mp3",
    FILE: "https://example.com/deck.pdf",
    LINK: "https://example.com/page",
}
TYPE_KIND = {t: kind for ref in REF.values() for t, (kind, _) in ref.media.items()}
VOICE = "https://example.com/voice.mp3"

# URL forms (section 1): http(s) and oss:// everywhere; data:image/...;base64 for images only; a link only http(s).
URL_FORMS = {
    "http": "http://example.com/a",
    "https": "https://example.com/a",
    "oss": "oss://dashscope-instant/xxx/2026-04-25/xxx/a.bin",
    "data png": "data:image/png;base64,iVBORw0KGgo=",
    "data jpeg": "data:image/jpeg;base64,/9j/4AAQ",
    "data webp": "data:image/webp;base64,UklGRg==",
    "data bmp": "data:image/bmp;base64,Qk0=",
    "data gif": "data:image/gif;base64,R0lGOD==",
    "data png, not base64": "data:image/png;base64,abc$def",
    "data video": "data:video/mp4;base64,AAAAGGZ0eXA=",
    "data audio": "data:audio/mpeg;base64,SUQz",
    "data text": "data:text/plain;base64,aGVsbG8=",
    "ftp": "ftp://example.com/a",
    "file": "file:///tmp/a.png",
    "local path": "/tmp/a.png",
    "bare host": "example.com/a.png",
    "empty": "",
    "no host": "https://",
    "oss without a key": "oss://",
    "space inside": "https://example.com/a b.png",
    "trailing newline": "https://example.com/a.png\n",
    "earlier video": "wan-video://videos/wan_0123456789abcdef0123.mp4",
    "task id": "wan_0123456789abcdef0123",
    "path with a newline": "/tmp/a\nb.png",
    "not an earlier video": "wan-video://videos/nope.mp4",
    "another resource": "wan-video://models",
}
# Local files and earlier videos are read, checked and uploaded by the server (tools: local inputs).
_STORED_OK = {"http", "https", "oss", "file", "local path", "earlier video", "task id"}
URL_FORMS_OK = {
    IMAGE: _STORED_OK | {"data png", "data jpeg", "data webp", "data bmp"},
    VIDEO: _STORED_OK,
    AUDIO: _STORED_OK,
    FILE: _STORED_OK,
    LINK: {"http", "https"},
}
VOICE_FORMS_OK = _STORED_OK  # an audio URL (SDK: reference_voice is uploaded like media urls)

# The catalogs of the brief: every model in the whole catalog, its regions and a one-model catalog.
MEDIA_CATALOGS = ("all", "intl", "cn", "us", "eu")


def _catalogs_offering(model_id: str) -> list[str]:
    return [c for c in (*MEDIA_CATALOGS, f"only {model_id}") if any(s.id == model_id for s in CATALOGS[c])]


# --------------------------------------------------------------------------- building calls


def _item(media_type: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": media_type, "url": url or KIND_URL[TYPE_KIND[media_type]], **extra}


def _items(types: Any) -> list[dict[str, Any]]:
    """Items for these types, in the reference's order of each model's types (one each, or {type: count})."""
    counts = types if isinstance(types, dict) else dict.fromkeys(types, 1)
    return [_item(t) for t in ALL_TYPES if t in counts for _ in range(counts[t])]


def _smallest_valid(ref: Ref, containing: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The smallest valid set of the model's types that contains these, or None."""
    types = list(ref.media)
    for size in range(len(types) + 1):
        for chosen in combinations(types, size):
            found = frozenset(chosen)
            if containing <= found and ref.valid(found):
                return found
    return None


def _call(model_id: str, types: Any = None, **changes: Any) -> dict[str, Any]:
    """A valid call for a model (a prompt, its smallest valid media), with these types in media and changes."""
    ref = REF[model_id]
    args: dict[str, Any] = {"model": model_id, "prompt": PROMPT}
    if types is None:
        types = _smallest_valid(ref)
    if types:
        args["media"] = _items(types)
    for name, value in changes.items():
        if value is _ABSENT:
            args.pop(name, None)
        else:
            args[name] = value
    return args


_ABSENT = object()


def _context(ref: Ref, media_type: str) -> frozenset[str]:
    found = _smallest_valid(ref, frozenset({media_type}))
    assert found is not None, media_type
    return found


def _replace(items: list[dict[str, Any]], media_type: str, **changes: Any) -> list[dict[str, Any]]:
    """The items with the first of this type changed (a key set to _ABSENT is removed)."""
    out, done = [], False
    for item in items:
        if item["type"] == media_type and not done:
            item = {k: v for k, v in (item | changes).items() if v is not _ABSENT}
            done = True
        out.append(item)
    assert done
    return out


# --------------------------------------------------------------------------- case generation


def _media_cases(model_id: str) -> Iterator[Case]:
    """Every case of one media-protocol model, with the verdict the reference gives."""
    ref = REF[model_id]
    yield "minimal call", _call(model_id), True

    # Every subset of the model's types, each once: accepted iff a documented valid combination.
    types = list(ref.media)
    for size in range(len(types) + 1):
        for chosen in combinations(types, size):
            found = frozenset(chosen)
            label = f"media types {{{', '.join(chosen)}}}" if chosen else "no media"
            yield label, _call(model_id, found), ref.valid(found)
    # Types of the other models, added to a valid call.
    base = _smallest_valid(ref) or frozenset()
    for other in ALL_TYPES:
        if other not in ref.media:
            yield f"a {other} item (another model's type)", _call(model_id, base | {other}), False

    # Counts: each type at its most and one more; r2v's references count together.
    for media_type, (_, most) in ref.media.items():
        context = _context(ref, media_type)
        for count in (most, most + 1):
            counts = dict.fromkeys(context, 1) | {media_type: count}
            ok = count <= most and all(sum(counts.get(t, 0) for t in group) <= top for group, top in ref.group_max)
            yield f"{count} {media_type} items", _call(model_id, counts), ok
    for group, top in ref.group_max:
        members = sorted(group)
        for total in (top, top + 1):
            for first in range(total + 1):
                counts = {members[0]: first, members[1]: total - first}
                counts = {t: n for t, n in counts.items() if n}
                if all(n <= ref.media[t][1] for t, n in counts.items()):
                    yield f"{counts} ({total} together)", _call(model_id, counts), total <= top

    # Ratios.
    for ratio in (*WAN30_RATIOS, "2:3", "16:10", "ADAPTIVE", "16*9", " 16:9", ""):
        yield f"ratio={ratio!r}", _call(model_id, ratio=ratio), ratio in ref.ratios
    for media_type in ref.ratio_refused_with:
        with_it = _context(ref, media_type)
        yield f"a {media_type} without ratio", _call(model_id, with_it), True
        for ratio in ref.ratios:
            yield f"a {media_type} with ratio={ratio}", _call(model_id, with_it, ratio=ratio), False

    # Tiers; sizes are the legacy shape.
    for tier in ("480P", "720P", "1080P", "1080p", "2K", "4K", "1280*720"):
        yield f"resolution={tier}", _call(model_id, resolution=tier), tier in ref.tiers
    for size in SIZE_TIER:
        yield f"size={size}", _call(model_id, size=size), False

    # Durations: every integer around the allowed values, special values included.
    for duration in range(-2, 32):
        yield f"duration={duration}", _call(model_id, duration=duration), duration in ref.durations
    for label, odd, ok in (
        ("5.0", 5.0, 5 in ref.durations),
        ("-1.0", -1.0, -1 in ref.durations),
        ("0.0", 0.0, 0 in ref.durations),
        ("5.5", 5.5, False),
        ("'5'", "5", False),
        ("true", True, False),
        ("false", False, False),
        ("null", None, False),
    ):
        yield f"duration={label}", _call(model_id, duration=odd), ok
    if ref.duration_max_with:
        videos, top = ref.duration_max_with
        for video in sorted(videos):
            with_video = _context(ref, video)
            for duration in ref.durations:
                yield (
                    f"duration={duration} with a {video}",
                    _call(model_id, with_video, duration=duration),
                    (duration <= top),
                )
            yield f"duration={top + 1}.0 with a {video}", _call(model_id, with_video, duration=top + 1.0), False
        without = _smallest_valid(ref) or frozenset()
        assert not without & videos
        for duration in range(top + 1, max(ref.durations) + 1):
            yield f"duration={duration} without a video", _call(model_id, without, duration=duration), True

    # Prompts: the limit, one more, presence.
    yield f"prompt of {ref.prompt_max} chars", _call(model_id, prompt="p" * ref.prompt_max), True
    yield f"prompt of {ref.prompt_max + 1} chars", _call(model_id, prompt="p" * (ref.prompt_max + 1)), False
    yield f"prompt of {ref.prompt_max} CJK chars", _call(model_id, prompt="狐" * ref.prompt_max), True
    yield "prompt empty", _call(model_id, prompt=""), False
    yield "prompt blank", _call(model_id, prompt=" \n"), False
    no_prompt_ok = ref.prompt == "optional" or (ref.prompt == "prompt or media" and bool(base))
    yield "no prompt", _call(model_id, prompt=_ABSENT), no_prompt_ok
    if ref.prompt == "prompt or media":
        some = next(frozenset({t}) for t in ref.media if ref.valid(frozenset({t})))
        yield "no prompt, no media", _call(model_id, frozenset(), prompt=_ABSENT), False
        yield f"no prompt, media {set(some)}", _call(model_id, some, prompt=_ABSENT), True
        yield "a prompt, no media", _call(model_id, frozenset()), True

    # Switches and fields that only some models take.
    yield "negative_prompt", _call(model_id, negative_prompt="blur"), ref.negative_prompt
    yield "negative_prompt empty", _call(model_id, negative_prompt=""), ref.negative_prompt
    for length in (NEGATIVE_PROMPT_MAX, NEGATIVE_PROMPT_MAX + 1):  # "<= 500 chars" (section 5, wan2.7 common rules)
        negative = "n" * length
        yield (
            f"negative_prompt of {length} chars",
            _call(model_id, negative_prompt=negative),
            (ref.negative_prompt and length <= NEGATIVE_PROMPT_MAX),
        )
    yield "audio=true", _call(model_id, audio=True), ref.audio
    yield "audio=false", _call(model_id, audio=False), ref.audio
    for form, url in URL_FORMS.items():
        yield f"audio_url {form}", _call(model_id, audio_url=url), ref.audio_url and form in _STORED_OK
    yield "audio_url with audio=false", _call(model_id, audio_url=VOICE, audio=False), False
    for setting, ok in (("auto", True), ("origin", True), ("Origin", False), ("keep", False), ("", False)):
        yield f"audio_setting={setting!r}", _call(model_id, audio_setting=setting), ref.audio_setting and ok
    for shot in ("single", "multi"):
        yield f"shot_type={shot}", _call(model_id, shot_type=shot), False
    for name, value in (
        ("img_url", "https://example.com/a.png"),
        ("first_frame_url", "https://example.com/a.png"),
        ("last_frame_url", "https://example.com/a.png"),
        ("reference_video_urls", ["https://example.com/a.mp4"]),
        ("reference_urls", ["https://example.com/a.png"]),
    ):
        yield f"legacy field {name}", _call(model_id, **{name: value}), False
    # seed=-1 is wan3.0's "random"; the catalog takes it on every model and sends no seed for it (an absent seed
    # is random too), so -1 never reaches a model that would refuse it (test_seed_minus_one_is_never_sent).
    for seed, ok in ((-2, False), (-1, True), (0, True), (SEED_MAX, True), (SEED_MAX + 1, False), (7.0, True)):
        yield f"seed={seed!r}", _call(model_id, seed=seed), ok
    yield "seed='7'", _call(model_id, seed="7"), False
    for name in ("prompt_extend", "watermark"):
        for value in (True, False):
            yield f"{name}={value}", _call(model_id, **{name: value}), True

    # prompt_extend must be true with these types (wan3.0's file and link).
    for media_type in sorted(ref.extend_required_with):
        with_it = _context(ref, media_type)
        for extend, ok in ((True, True), (False, False), (_ABSENT, True)):
            label = "absent" if extend is _ABSENT else extend
            yield f"a {media_type} with prompt_extend={label}", _call(model_id, with_it, prompt_extend=extend), ok
    for media_type in sorted(set(ref.media) - ref.extend_required_with):
        yield (
            f"a {media_type} with prompt_extend=false",
            _call(model_id, _context(ref, media_type), prompt_extend=False),
            True,
        )

    # Item shapes.
    if ref.media:
        valid_items = _items(base) if base else _items(_context(ref, next(iter(ref.media))))
        first = valid_items[0]["type"]
        yield "media empty", _call(model_id, media=[]), False
        yield "media as an object", _call(model_id, media=valid_items[0]), False
        yield "media as a string", _call(model_id, media=valid_items[0]["url"]), False
        for label, junk in (("a string", valid_items[0]["url"]), ("null", None), ("a list", [first, "x"]), ("5", 5)):
            yield f"an item that is {label}", _call(model_id, media=[*valid_items, junk]), False
        for key in ("name", "reference_description", "Type", "urls"):
            yield (
                f"an item with a {key!r} key",
                _call(model_id, media=_replace(valid_items, first, **{key: "x"})),
                False,
            )
        yield "an item without url", _call(model_id, media=_replace(valid_items, first, url=_ABSENT)), False
        yield "an item without type", _call(model_id, media=_replace(valid_items, first, type=_ABSENT)), False
        for odd in ("image", "FIRST_FRAME", "first frame", "", 5, None):
            yield f"an item of type {odd!r}", _call(model_id, media=_replace(valid_items, first, type=odd)), False
        for odd in (5, None, ["https://example.com/a.png"]):
            yield f"an item with url {odd!r}", _call(model_id, media=_replace(valid_items, first, url=odd)), False
        # The URL forms each type takes.
        for media_type, (kind, _) in ref.media.items():
            items = _items(_context(ref, media_type))
            for form, url in URL_FORMS.items():
                yield (
                    f"{media_type} url {form}",
                    _call(model_id, media=_replace(items, media_type, url=url)),
                    form in URL_FORMS_OK[kind],
                )
            # reference_voice: wan2.7-r2v's reference_image and reference_video items only.
            voiced = media_type in ref.voice
            yield (
                f"{media_type} with reference_voice",
                _call(model_id, media=_replace(items, media_type, reference_voice=VOICE)),
                voiced,
            )
            if voiced:
                for form, url in URL_FORMS.items():
                    yield (
                        f"{media_type} with reference_voice {form}",
                        _call(model_id, media=_replace(items, media_type, reference_voice=url)),
                        form in VOICE_FORMS_OK,
                    )
                yield (
                    f"{media_type} with reference_voice null",
                    _call(model_id, media=_replace(items, media_type, reference_voice=None)),
                    False,
                )
    else:
        yield "media with a first_frame", _call(model_id, media=[_item("first_frame")]), False
        yield "media empty", _call(model_id, media=[]), False


def _without_model(cases: Iterator[Case], model_id: str) -> Iterator[Case]:
    for label, args, ok in cases:
        if isinstance(args, dict) and args.get("model") == model_id:
            yield label, {k: v for k, v in args.items() if k != "model"}, ok


def _legacy_cases(spec: ModelSpec) -> Iterator[Case]:
    """The media protocol's fields on a legacy model: all refused."""
    yield "minimal call", _legacy_base(spec), True
    for types in ({"first_frame"}, {"reference_image"}, {"video"}, {"reference_audio"}):
        yield f"media {types}", _legacy_base(spec) | {"media": _items(types)}, False
    yield "media empty", _legacy_base(spec) | {"media": []}, False
    for ratio in ("16:9", "adaptive"):
        yield f"ratio={ratio}", _legacy_base(spec) | {"ratio": ratio}, False
    yield "audio_setting=origin", _legacy_base(spec) | {"audio_setting": "origin"}, False
    for duration in (-1, 0):
        yield f"duration={duration}", _legacy_base(spec) | {"duration": duration}, False


# The default model: wan2.7-t2v where it is offered; elsewhere the first offered model, wan3.0-video.
EXPECTED_DEFAULTS = {
    "all": "wan2.7-t2v",
    "intl": "wan2.7-t2v",
    "cn": "wan2.7-t2v",
    "us": "wan3.0-video",
    "eu": "wan3.0-video",
    "jp": "wan3.0-video",
    "hk": "wan3.0-video",
}


def _case_groups() -> Iterator[Any]:
    def group(catalog: str, name: str, cases: Iterator[Case] | list[Case]) -> Any:
        return pytest.param(catalog, list(cases), id=f"{catalog}: {name}")

    for model_id in NEW_IDS:
        for catalog in _catalogs_offering(model_id):
            yield group(catalog, model_id, _media_cases(model_id))
    # With no model named, the catalog's default applies: wan2.7-t2v, or the first model a region offers.
    for catalog, default in EXPECTED_DEFAULTS.items():
        yield group(catalog, f"no model named, so {default}", _without_model(_media_cases(default), default))
    # Which of the new models each catalog offers (section 2: wan2.7 in intl and cn only).
    for catalog in (*MEDIA_CATALOGS, "jp", "hk"):
        region = None if catalog == "all" else catalog
        yield group(
            catalog,
            "which media models are offered",
            [
                (f"{model_id} minimal call", _call(model_id), region is None or region in REF[model_id].regions)
                for model_id in NEW_IDS
            ],
        )
    for spec in LEGACY_MODELS:
        yield group("all", f"{spec.id}, media-protocol fields", _legacy_cases(spec))


CASE_GROUPS = list(_case_groups())


@pytest.mark.parametrize(("catalog", "cases"), CASE_GROUPS)
def test_schema_and_validator_reach_the_referenced_verdict(catalog: str, cases: list[Case]) -> None:
    assert wrong_verdicts(catalog, cases) == []


def test_the_generated_cases_cover_every_new_model_and_both_verdicts() -> None:
    cases = [case for param in CASE_GROUPS for case in param.values[1]]
    print(f"{len(cases)} media-protocol schema/validator cases in {len(CASE_GROUPS)} groups")
    assert len(cases) > 10000
    assert {accepted for _, _, accepted in cases} == {True, False}
    ids = {param.id for param in CASE_GROUPS}
    for model_id in NEW_IDS:
        assert f"all: {model_id}" in ids
        assert f"only {model_id}: {model_id}" in ids
    assert {"us: wan3.0-video", "eu: wan3.0-video-prime", "cn: wan2.7-videoedit", "intl: wan2.7-r2v"} <= ids


# --------------------------------------------------------------------------- the catalog's table vs the reference


def test_the_new_models_are_the_referenced_ones_first_in_the_catalog() -> None:
    assert [spec.id for spec in MODELS[: len(REF)]] == [
        "wan2.7-t2v",
        "wan2.7-i2v",
        "wan2.7-r2v",
        "wan2.7-videoedit",
        "wan3.0-video",
        "wan3.0-video-prime",
        "wan2.7-t2v-2026-04-25",
        "wan2.7-i2v-2026-04-25",
    ]
    assert {spec.id for spec in MEDIA_MODELS} == set(REF)


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_each_new_models_rules_match_the_reference(model_id: str) -> None:
    spec, ref = get_model(model_id), REF[model_id]
    assert (spec.tiers, spec.default_tier, spec.ratios, spec.default_ratio) == (
        ref.tiers,
        ref.default_tier,
        ref.ratios,
        ref.default_ratio,
    )
    assert (spec.durations, spec.default_duration, spec.prompt_max) == (
        ref.durations,
        ref.default_duration,
        ref.prompt_max,
    )
    assert (spec.prompt_need, spec.negative_prompt, spec.audio, spec.audio_url, spec.audio_setting) == (
        ref.prompt,
        ref.negative_prompt,
        ref.audio,
        ref.audio_url,
        ref.audio_setting,
    )
    assert (spec.shot_type, spec.sizes, spec.regions) == (False, (), ref.regions)
    slots = {slot.type: (slot.kind, slot.max) for slot in spec.media.slots} if spec.media else {}
    assert slots == ref.media
    voiced = {slot.type for slot in spec.media.slots if slot.voice} if spec.media else set()
    assert voiced == set(ref.voice)


@pytest.mark.parametrize("model_id", [i for i in NEW_IDS if REF[i].media])
def test_set_problem_accepts_exactly_the_referenced_combinations(model_id: str) -> None:
    rules = get_model(model_id).media
    assert rules is not None
    every = list(rules.type_sets())
    assert len(every) == 2 ** len(REF[model_id].media)
    accepted = {types for types in every if rules.set_problem(types) is None}
    assert accepted == {types for types in every if REF[model_id].valid(types)}
    if rules.combinations:  # where the docs list the valid sets, the rules accept exactly those
        assert accepted == {frozenset(c) for c in rules.combinations}
        assert len(rules.combinations) == len(set(map(frozenset, rules.combinations)))


def test_the_listed_combinations_are_i2vs_six() -> None:
    listed = {spec.id: {frozenset(c) for c in spec.media.combinations} for spec in MEDIA_MODELS if spec.media}
    assert {i for i, c in listed.items() if c} == {"wan2.7-i2v", "wan2.7-i2v-2026-04-25"}
    assert listed["wan2.7-i2v"] == set(I2V_COMBINATIONS)


# --------------------------------------------------------------------------- error messages


def _error(arguments: Any, catalog: str = "all") -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        validate(arguments, CATALOGS[catalog])
    return info.value


MEDIA_ERRORS = [
    # (arguments, field, what the message must contain)
    pytest.param(
        _call("wan2.7-i2v", {"first_clip", "driving_audio"}),
        "media",
        [
            "media types driving_audio, first_clip are not valid for wan2.7-i2v",
            "driving_audio cannot be combined with first_clip",
            "valid combinations: first_frame | first_frame+driving_audio | first_frame+last_frame | "
            "first_frame+last_frame+driving_audio | first_clip | first_clip+last_frame",
        ],
        id="i2v: a clip with a driving audio lists the six valid combinations",
    ),
    pytest.param(
        _call("wan2.7-i2v", {"last_frame"}),
        "media",
        ["media types last_frame are not valid for wan2.7-i2v", "exactly one of first_frame or first_clip is needed"],
        id="i2v: a last frame alone",
    ),
    pytest.param(
        _call("wan2.7-i2v", {"first_frame", "first_clip"}),
        "media",
        ["first_frame or first_clip", "(got first_frame and first_clip)", "valid combinations: first_frame |"],
        id="i2v: a frame and a clip",
    ),
    pytest.param(
        _call("wan2.7-i2v", {"first_frame": 2}),
        "media",
        ["media has 2 first_frame items; wan2.7-i2v takes at most 1"],
        id="i2v: two first frames",
    ),
    pytest.param(
        _call("wan2.7-r2v", {"first_frame"}),
        "media",
        ["media types first_frame are not valid for wan2.7-r2v", "at least one reference_image or reference_video"],
        id="r2v: a first frame without references",
    ),
    pytest.param(
        _call("wan2.7-r2v", {"reference_image": 3, "reference_video": 3}),
        "media",
        ["media has 6 reference_image + reference_video items; wan2.7-r2v takes at most 5 together"],
        id="r2v: six references",
    ),
    pytest.param(
        _call("wan2.7-videoedit", {"reference_image"}),
        "media",
        ["media types reference_image are not valid for wan2.7-videoedit", "at least one video is needed"],
        id="videoedit: no video",
    ),
    pytest.param(
        _call("wan2.7-videoedit", {"video": 1, "reference_image": 5}),
        "media",
        ["media has 5 reference_image items; wan2.7-videoedit takes at most 4"],
        id="videoedit: five reference images",
    ),
    pytest.param(
        _call("wan3.0-video", {"first_frame", "reference_image"}),
        "media",
        [
            "media types first_frame, reference_image are not valid for wan3.0-video",
            "first_frame cannot be combined with reference_image",
        ],
        id="wan3.0: frames with references",
    ),
    pytest.param(
        _call("wan3.0-video", {"file", "link"}),
        "media",
        ["media types file, link are not valid for wan3.0-video", "file cannot be combined with link"],
        id="wan3.0: a file and a link",
    ),
    pytest.param(
        _call("wan3.0-video", {"reference_image": 11}),
        "media",
        ["media has 11 reference_image items; wan3.0-video takes at most 10"],
        id="wan3.0: eleven reference images",
    ),
    pytest.param(
        _call("wan2.7-i2v", media=[_item("first_frame"), _item("reference_image")]),
        "media[1].type",
        ["media[1].type 'reference_image' is not taken by wan2.7-i2v", "allowed: first_frame, last_frame, "],
        id="i2v: another model's type names the item and the model's types",
    ),
    pytest.param(
        _call("wan2.7-r2v", media=[_item("reference_image"), _item("first_frame", reference_voice=VOICE)]),
        "media[1].reference_voice",
        ["media[1] (first_frame): wan2.7-r2v takes reference_voice only on reference_image, reference_video items"],
        id="r2v: a voice on the first frame",
    ),
    pytest.param(
        _call("wan2.7-videoedit", media=[_item("video", url="data:video/mp4;base64,AAAA")]),
        "media[0].url",
        [
            "media[0].url 'data:video/mp4;base64,AAAA' is not an http(s) or oss:// URL, a local file (an absolute "
            "path or file:// URI) or an earlier video (wan-video://videos/{task_id}.mp4 or its task id) (a video has "
            "no data: form)"
        ],
        id="videoedit: a base64 video",
    ),
    pytest.param(
        _call("wan3.0-video", media=[_item("link", url="oss://dashscope-instant/a/page")]),
        "media[0].url",
        ["media[0].url 'oss://dashscope-instant/a/page' is not an http(s) URL (a link is a public web page)"],
        id="wan3.0: an oss link",
    ),
    pytest.param(
        _call("wan2.7-r2v", media=[{"type": "reference_image", "url": KIND_URL[IMAGE], "name": "Alice"}]),
        "media[0].name",
        ["media[0] has an unknown key 'name'; allowed: type, url, reference_voice"],
        id="an unknown key in an item",
    ),
    pytest.param(
        _call("wan2.7-r2v", media=[{"type": "reference_image"}]),
        "media[0].url",
        ["media[0].url is required"],
        id="an item without url",
    ),
    pytest.param(
        _call("wan2.7-r2v", media=[{"url": KIND_URL[IMAGE]}]),
        "media[0].type",
        ["media[0].type is required; one of: "],
        id="an item without type",
    ),
    pytest.param(
        _call("wan2.7-r2v", media=[]),
        "media",
        ["media is empty"],
        id="an empty list",
    ),
    pytest.param(
        _call("wan2.7-r2v", {"reference_image"}, ratio="21:9"),
        "ratio",
        ["ratio '21:9' is not available for wan2.7-r2v; allowed: 16:9, 9:16, 1:1, 4:3, 3:4"],
        id="r2v: 21:9 is wan3.0's",
    ),
    pytest.param(
        _call("wan2.7-r2v", {"reference_image", "first_frame"}, ratio="16:9"),
        "ratio",
        ["wan2.7-r2v ignores ratio when media has a first_frame", "drop ratio"],
        id="r2v: a ratio with a first frame",
    ),
    pytest.param(
        _call("wan2.7-r2v", {"reference_video"}, duration=12),
        "duration",
        ["duration 12 is too long for wan2.7-r2v with a reference video; allowed: 2..10"],
        id="r2v: 12 s with a reference video",
    ),
    pytest.param(
        _call("wan3.0-video", {"file"}, prompt_extend=False),
        "prompt_extend",
        ["wan3.0-video needs prompt_extend=true with a file in media"],
        id="wan3.0: a file without prompt rewriting",
    ),
    pytest.param(
        {"model": "wan3.0-video"},
        "prompt",
        ["wan3.0-video needs a prompt, media, or both"],
        id="wan3.0: nothing to go on",
    ),
    pytest.param(
        _call("wan2.7-t2v", media=[_item("first_frame")]),
        "media",
        ["wan2.7-t2v takes no media"],
        id="t2v takes no media",
    ),
    pytest.param(
        _legacy_base(get_model("wan2.6-i2v")) | {"media": [_item("first_frame")]},
        "media",
        ["media is the wan2.7/wan3.0 input list; wan2.6-i2v takes img_url"],
        id="a legacy model points to its own field",
    ),
    pytest.param(
        _call("wan2.7-i2v", ratio="16:9"),
        "ratio",
        ["wan2.7-i2v takes no ratio"],
        id="i2v takes no ratio",
    ),
    pytest.param(
        _call("wan3.0-video", negative_prompt="blur"),
        "negative_prompt",
        ["negative_prompt is not supported by wan3.0-video"],
        id="wan3.0 takes no negative prompt",
    ),
    pytest.param(
        _call("wan2.7-t2v", shot_type="multi"),
        "shot_type",
        ["wan2.7-t2v has no shot_type: write the shots into the prompt"],
        id="wan2.7 has no shot_type",
    ),
    pytest.param(
        _call("wan2.7-t2v", size="1280*720"),
        "size",
        ["wan2.7-t2v takes resolution and ratio, not size"],
        id="wan2.7 takes resolution and ratio",
    ),
    pytest.param(
        _call("wan2.7-videoedit", duration=1),
        "duration",
        ["duration 1 is not available for wan2.7-videoedit; allowed: 2-10 (0 = keep the input's length)"],
        id="videoedit names its special duration",
    ),
    pytest.param(
        _call("wan3.0-video", duration=0),
        "duration",
        ["duration 0 is not available for wan3.0-video; allowed: 2-30 (-1 = the model picks)"],
        id="wan3.0 names its special duration",
    ),
]


@pytest.mark.parametrize(("arguments", "field", "parts"), MEDIA_ERRORS)
def test_a_refused_media_call_names_the_field_the_value_and_what_is_allowed(
    arguments: dict[str, Any], field: str, parts: list[str]
) -> None:
    error = _error(arguments)
    assert error.field == field, error.message
    assert [p for p in parts if p not in error.message] == [], error.message
    assert error.problems[0]["field"] == field  # type: ignore[attr-defined]


@pytest.mark.parametrize("model_id", [i for i in NEW_IDS if REF[i].seed_min < 0])
def test_wan30_takes_seed_minus_one(model_id: str) -> None:
    # media-protocol.md 5.5: wan3.0's seed is "-1 or [0, 2147483647]; -1 or omitted means random".
    for catalog in ("all", f"only {model_id}"):
        by_schema, by_validator, detail = _verdicts(catalog, _call(model_id, seed=-1))
        assert (by_schema, by_validator) == (True, True), f"{catalog}: {detail or 'both refuse it'}"


@pytest.mark.parametrize("model_id", ["wan2.6-t2v", *NEW_IDS])
def test_seed_minus_one_is_never_sent(model_id: str) -> None:
    random_seed = validate(
        _call(model_id, seed=-1) if model_id in NEW_IDS else {"model": model_id, "prompt": "x", "seed": -1}
    )
    absent = validate(_call(model_id) if model_id in NEW_IDS else {"model": model_id, "prompt": "x"})
    assert random_seed.request.seed is None
    assert random_seed.request.fingerprint() == absent.request.fingerprint()


def test_an_unknown_type_is_reported_once_without_a_second_misleading_problem() -> None:
    # A media list of one type the model does not take (i2v given [{"type": "file", ...}]) is reported as that,
    # not also as a combination "none" (the unknown item is left out of the set judged).
    error = _error(_call("wan2.7-i2v", media=[_item("file")]))
    assert error.field == "media[0].type"
    assert "media types none" not in error.message, error.message


# --------------------------------------------------------------------------- defaults and fingerprints


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_validation_fills_each_new_models_defaults(model_id: str) -> None:
    ref, spec = REF[model_id], get_model(model_id)
    base = _smallest_valid(ref)
    expected = GenerationRequest(
        model=model_id,
        family=spec.family,
        prompt=PROMPT,
        resolution=ref.default_tier,
        ratio=ref.default_ratio,
        duration=ref.default_duration,
        prompt_extend=True,
        watermark=False,
        media=tuple(MediaItem(**item) for item in _items(base)) if base else None,
    )
    assert validate(_call(model_id)) == ValidatedCall(
        request=expected, wait_seconds=WAIT_SECONDS_DEFAULT, idempotency_key=None, force_new=False, dry_run=False
    )


def test_media_items_keep_their_order_and_voice() -> None:
    media = [
        _item("reference_video", reference_voice=VOICE),
        _item("reference_image", url="data:image/png;base64,iVBORw0KGgo="),
        _item("first_frame", url="oss://dashscope-instant/a/b.png"),
    ]
    request = validate(_call("wan2.7-r2v", media=media)).request
    assert request.media == tuple(MediaItem(**item) for item in media)
    assert request.media[0].reference_voice == VOICE  # type: ignore[index]


def test_r2v_with_a_first_frame_has_no_ratio_in_the_request() -> None:
    # r2v's ratio "is ignored when first_frame is present (output follows the frame)" (media-protocol.md 5.3) and
    # validate() refuses an explicit one then: the default 16:9 must not be filled in either (nor sent).
    request = validate(_call("wan2.7-r2v", {"reference_image", "first_frame"})).request
    assert request.ratio is None, request.summary()
    # Without a first frame the default applies.
    assert validate(_call("wan2.7-r2v", {"reference_image"})).request.ratio == "16:9"


def _explicit_defaults(model_id: str) -> dict[str, Any]:
    ref = REF[model_id]
    args = _call(model_id) | {
        "resolution": ref.default_tier,
        "duration": float(ref.default_duration),
        "prompt_extend": True,
        "watermark": False,
        "wait_seconds": 0,
        "idempotency_key": "same-video",
        "force_new": True,
        "dry_run": True,
    }
    if ref.default_ratio:
        args["ratio"] = ref.default_ratio
    if ref.negative_prompt:
        args["negative_prompt"] = ""
    if ref.audio:
        args["audio"] = True  # "audio: boolean, default true"
    return args


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_spelling_out_a_new_models_defaults_does_not_change_the_fingerprint(model_id: str) -> None:
    implicit = validate(_call(model_id)).request
    explicit = validate(_explicit_defaults(model_id)).request
    assert explicit.fingerprint() == implicit.fingerprint()
    # The measured input seconds are not part of the request's identity.
    assert implicit.model_copy(update={"input_video_seconds": 4.5}).fingerprint() == implicit.fingerprint()


def test_spelling_out_videoedits_default_audio_setting_does_not_change_the_fingerprint() -> None:
    # audio_setting "auto" is videoedit's documented default (media-protocol.md 5.4): an explicit "auto" asks for
    # the same video as none, so both must share a fingerprint (or a duplicate would be paid).
    implicit = validate(_call("wan2.7-videoedit")).request
    explicit = validate(_call("wan2.7-videoedit", audio_setting="auto")).request
    assert explicit.fingerprint() == implicit.fingerprint()


def _variations(model_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Calls that each differ from ``_call(model_id)`` in exactly one generation parameter."""
    ref = REF[model_id]
    for tier in ref.tiers:
        if tier != ref.default_tier:
            yield f"resolution={tier}", _call(model_id, resolution=tier)
    for ratio in ref.ratios:
        if ratio != ref.default_ratio:
            yield f"ratio={ratio}", _call(model_id, ratio=ratio)
    for duration in ref.durations:
        if duration != ref.default_duration:
            yield f"duration={duration}", _call(model_id, duration=duration)
    yield "another prompt", _call(model_id, prompt=PROMPT + ", at dusk")
    yield "seed=1", _call(model_id, seed=1)
    yield "prompt_extend=false", _call(model_id, prompt_extend=False)
    yield "watermark=true", _call(model_id, watermark=True)
    if ref.negative_prompt:
        yield "a negative prompt", _call(model_id, negative_prompt="blur")
    if ref.audio:
        yield "audio=false", _call(model_id, audio=False)
    if ref.audio_url:
        yield "audio_url", _call(model_id, audio_url=VOICE)
    if ref.audio_setting:
        yield "audio_setting=origin", _call(model_id, audio_setting="origin")
    base = _smallest_valid(ref) or frozenset()
    if base:
        items = _items(base)
        yield "another url", _call(model_id, media=_replace(items, items[0]["type"], url=KIND_URL[IMAGE] + "?v=2"))
    for media_type in ref.media:
        bigger = _context(ref, media_type)
        if bigger != base:
            yield f"media {sorted(bigger)}", _call(model_id, bigger)
    for media_type in ref.voice:
        yield (
            f"a voice on {media_type}",
            _call(model_id, media=_replace(_items(_context(ref, media_type)), media_type, reference_voice=VOICE)),
        )
    if len(base) == 1 and ref.media[next(iter(base))][1] > 1:
        yield "the same type twice", _call(model_id, {next(iter(base)): 2})


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_any_differing_parameter_changes_a_new_models_fingerprint(model_id: str) -> None:
    fingerprints = {"base": validate(_call(model_id)).request.fingerprint()}
    for label, args in _variations(model_id):
        fingerprints[label] = validate(args).request.fingerprint()
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints


def test_media_order_is_part_of_the_fingerprint() -> None:
    # "Image 1", "Video 1" are counted in media order (5.3): another order is another video.
    one = _call("wan2.7-r2v", media=[_item("reference_image"), _item("reference_image", url=KIND_URL[IMAGE] + "?2")])
    two = _call("wan2.7-r2v", media=list(reversed(one["media"])))
    assert validate(one).request.fingerprint() != validate(two).request.fingerprint()


def test_a_snapshot_has_its_own_fingerprint() -> None:
    pinned = validate(_call("wan2.7-t2v-2026-04-25")).request
    assert pinned.fingerprint() != validate(_call("wan2.7-t2v")).request.fingerprint()


# --------------------------------------------------------------------------- cost estimates

# media-protocol.md section 7: resellers' figures, USD per second.
PRICE = {"wan2.7": {"720P": 0.084, "1080P": 0.14}, "wan3.0-video": {"480P": 0.03, "720P": 0.06, "1080P": 0.12}}
NO_OFFICIAL_NOTE = "no official list price was found: this is a reseller's figure"


def _estimate(arguments: dict[str, Any], input_seconds: float | None = None) -> Any:
    request = validate(arguments).request
    if input_seconds is not None:
        request = request.model_copy(update={"input_video_seconds": input_seconds})
    return estimate_cost(request)


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_every_new_model_is_priced_as_an_unofficial_estimate(model_id: str) -> None:
    estimate = _estimate(_call(model_id))
    assert estimate.official_price is False
    assert NO_OFFICIAL_NOTE in estimate.note
    assert "CNY" not in estimate.note
    assert isinstance(estimate.billed_seconds, float)


@pytest.mark.parametrize(
    # amount None: the known part of an estimate whose output length is not known yet is not asserted.
    ("arguments", "input_seconds", "billed", "amount", "most"),
    [
        pytest.param(_call("wan2.7-t2v", duration=10), None, 10.0, 1.4, None, id="t2v 1080P 10s"),
        pytest.param(
            _call("wan2.7-i2v", {"first_clip"}, duration=15, resolution="720P"),
            3.0,
            15.0,
            round(15 * 0.084, 4),
            None,
            id="i2v with a clip: duration is the whole output, the clip is not billed on top",
        ),
        pytest.param(
            _call("wan2.7-videoedit"),
            5.02,
            10.04,
            round(10.04 * 0.14, 4),
            None,
            id="videoedit keeping 5.02 s: 5.02 + 5.02 = 10.04 s (5.4)",
        ),
        pytest.param(
            _call("wan2.7-videoedit"),
            None,
            None,
            None,
            round(20 * 0.14, 4),
            id="videoedit keeping an unmeasured input: up to 10 s in + 10 s out",
        ),
        pytest.param(
            _call("wan2.7-videoedit", duration=5),
            7.0,
            12.0,
            round(12 * 0.14, 4),
            None,
            id="videoedit cutting to 5 s: 7 s in + 5 s out",
        ),
        pytest.param(
            _call("wan2.7-r2v", {"reference_video"}, duration=10, resolution="720P"),
            8.0,
            18.0,
            round(18 * 0.084, 4),
            None,
            id="r2v: the reference video's seconds on top",
        ),
        pytest.param(
            _call("wan2.7-r2v", {"reference_video": 2}, duration=10, resolution="720P"),
            None,
            10.0,
            round(10 * 0.084, 4),
            round(70 * 0.084, 4),
            id="r2v: two unmeasured reference videos, up to 30 s each",
        ),
        pytest.param(
            _call("wan2.7-r2v", {"reference_image"}, duration=15),
            None,
            15.0,
            round(15 * 0.14, 4),
            None,
            id="r2v with images only: nothing on top",
        ),
        pytest.param(
            _call("wan3.0-video", resolution="480P", duration=30),
            None,
            30.0,
            0.9,
            None,
            id="wan3.0 480P 30s",
        ),
        pytest.param(
            _call("wan3.0-video", resolution="720P", duration=-1),
            None,
            None,
            None,
            round(30 * 0.06, 4),
            id="wan3.0 smart duration: up to 30 s",
        ),
        pytest.param(
            _call("wan3.0-video", {"reference_video": 3}, resolution="720P", duration=10),
            None,
            10.0,
            0.6,
            round(25 * 0.06, 4),
            id="wan3.0: reference videos total at most 15 s",
        ),
    ],
)
def test_new_model_estimates_count_the_billed_input_seconds(
    arguments: dict[str, Any],
    input_seconds: float | None,
    billed: float | None,
    amount: float | None,
    most: float | None,
) -> None:
    estimate = _estimate(arguments, input_seconds)
    assert estimate.amount_max_usd == most
    if amount is not None:
        assert (estimate.billed_seconds, estimate.amount_usd) == (billed, amount)
    else:
        assert most is not None and estimate.amount_usd < most
    tier = arguments.get("resolution", "1080P")
    family = "wan3.0-video" if arguments["model"].startswith("wan3.0") else "wan2.7"
    assert estimate.per_second_usd == PRICE[family][tier]
    assert f"({tier})" in estimate.breakdown


# --------------------------------------------------------------------------- size


def test_the_full_schema_is_printed_with_its_size() -> None:
    compact = json.dumps(input_schema(MODELS), separators=(",", ":"))
    print(f"generate_video inputSchema, all models, compact JSON: {len(compact)} bytes")
    print(compact)
    assert json.loads(compact)["properties"]["model"]["default"] == DEFAULT_MODEL


# --------------------------------------------------------------------------- random agreement


RANDOM_CATALOGS = [*MEDIA_CATALOGS, *(f"only {i}" for i in NEW_IDS)]


def _odd_item(draw: st.DrawFn, model_id: str) -> Any:
    """Any item: another model's type, a malformed one, any URL form, extra keys, or not an object at all."""
    own = list(REF[model_id].media if model_id in REF else ()) or list(ALL_TYPES)
    media_type = draw(
        st.one_of(
            st.sampled_from(own),
            st.sampled_from(ALL_TYPES),
            st.sampled_from(["image", "FIRST_FRAME", "", "video "]),
            st.none(),
        )
    )
    url = draw(
        st.one_of(
            st.just(KIND_URL.get(TYPE_KIND.get(media_type or ""), KIND_URL[IMAGE])),
            st.sampled_from(list(URL_FORMS.values())),
            st.text(max_size=12).map("https://example.com/".__add__),
            st.text(max_size=12),
            st.integers(),
        )
    )
    item: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        item["type"] = media_type
    if draw(st.integers(0, 5)):
        item["url"] = url
    if not draw(st.integers(0, 3)):
        item["reference_voice"] = draw(st.one_of(st.just(VOICE), st.sampled_from(list(URL_FORMS.values()))))
    if not draw(st.integers(0, 9)):
        item[draw(st.sampled_from(["name", "reference_description", "Url"]))] = "x"
    if not draw(st.integers(0, 9)):
        return draw(st.one_of(st.none(), st.text(max_size=5), st.integers()))
    return item


@st.composite
def _media_lists(draw: st.DrawFn, model_id: str) -> Any:
    """Mostly well-formed lists of the model's own types (counts around their limits), sometimes with one
    item made odd, an extra item of another kind, or any list at all."""
    ref = REF.get(model_id)
    mode = draw(st.integers(0, 9))
    if ref is None or not ref.media or mode >= 8:
        return draw(
            st.one_of(
                st.lists(st.composite(_odd_item)(model_id), max_size=6),
                st.none(),
                st.text(max_size=5),
                st.just([]),
            )
        )
    # Usually a valid set of types, sometimes any set; one item each, sometimes a count up to the limit + 1.
    valid_sets = [frozenset(c) for n in range(1, 4) for c in combinations(ref.media, n) if ref.valid(frozenset(c))]
    chosen = draw(st.sampled_from(valid_sets)) if draw(st.integers(0, 3)) else None
    if chosen is None:
        chosen = frozenset(draw(st.lists(st.sampled_from(list(ref.media)), min_size=1, max_size=4)))
    items = []
    for media_type in chosen:
        most = ref.media[media_type][1]
        count = draw(st.integers(1, most + 1)) if not draw(st.integers(0, 3)) else 1
        for _ in range(count):
            url = KIND_URL[TYPE_KIND[media_type]]
            if not draw(st.integers(0, 3)):
                url = URL_FORMS[draw(st.sampled_from(sorted(URL_FORMS_OK[TYPE_KIND[media_type]])))]
            item = {"type": media_type, "url": url}
            if not draw(st.integers(0, 3)) and (media_type in ref.voice or not draw(st.integers(0, 3))):
                item["reference_voice"] = VOICE
            items.append(item)
    items = draw(st.permutations(items))
    if mode >= 6:  # one odd item in place of a good one
        items[draw(st.integers(0, len(items) - 1))] = draw(st.composite(_odd_item)(model_id))
    elif mode == 5:
        items.append(draw(st.composite(_odd_item)(model_id)))
    return items


@st.composite
def _random_media_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    catalog = draw(st.sampled_from(RANDOM_CATALOGS))
    offered = [s.id for s in CATALOGS[catalog]]
    new_offered = [i for i in NEW_IDS if i in offered]
    model_id = draw(st.sampled_from(new_offered if draw(st.integers(0, 7)) else [*NEW_IDS, "wan2.6-i2v"]))
    ref = REF.get(model_id)
    args: dict[str, Any] = {"model": model_id}
    if not draw(st.integers(0, 9)):
        del args["model"]
    if draw(st.integers(0, 5)):
        args["prompt"] = draw(st.one_of(st.just(PROMPT), st.just(PROMPT), st.text(max_size=8)))
    if ref is None or ref.media and draw(st.integers(0, 7)) or not draw(st.integers(0, 5)):
        args["media"] = draw(_media_lists(model_id))
    # Other fields: mostly the model's own values, sometimes anything near them.
    options = {
        "ratio": st.sampled_from([*WAN30_RATIOS, "2:3", ""]),
        "resolution": st.sampled_from(["480P", "720P", "1080P", "2K"]),
        "duration": st.one_of(st.integers(-2, 31), st.sampled_from([0.0, -1.0, 10.0, 5.5])),
        "prompt_extend": st.booleans(),
        "audio": st.booleans(),
        "audio_url": st.sampled_from([VOICE, "oss://dashscope-instant/a.mp3"]),
        "audio_setting": st.sampled_from(["auto", "origin", "keep"]),
        "negative_prompt": st.sampled_from(["", "blur"]),
        "seed": st.integers(-2, 3),
        "size": st.sampled_from(["1280*720", "1920*1080"]),
        "shot_type": st.just("multi"),
        "img_url": st.just(KIND_URL[IMAGE]),
    }
    names = sorted(options)
    if ref is not None:
        options["ratio"] = st.one_of(options["ratio"], st.sampled_from(ref.ratios or ["16:9"]))
        options["resolution"] = st.one_of(options["resolution"], st.sampled_from(ref.tiers))
        options["duration"] = st.one_of(options["duration"], st.sampled_from(ref.durations))
        if draw(st.integers(0, 2)):  # only fields the model takes
            taken = {"ratio": bool(ref.ratios), "audio": ref.audio, "audio_url": ref.audio_url}
            taken |= {"audio_setting": ref.audio_setting, "negative_prompt": ref.negative_prompt}
            taken |= {"size": False, "shot_type": False, "img_url": False}
            names = [name for name in names if taken.get(name, True)]
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        args[name] = draw(options[name])
    return catalog, args


@settings(max_examples=600, deadline=None)
@given(_random_media_calls())
def test_schema_and_validator_agree_on_random_media_calls(call: tuple[str, dict[str, Any]]) -> None:
    catalog, arguments = call
    by_schema, by_validator, detail = _verdicts(catalog, arguments)
    assert by_schema == by_validator, detail


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([i for i in NEW_IDS if REF[i].media]), st.data())
def test_random_type_multisets_follow_the_reference(model_id: str, data: st.DataObject) -> None:
    """Well-formed media lists of the model's own types: the verdict is the reference's, in both."""
    ref = REF[model_id]
    counts = {t: data.draw(st.integers(0, most + 1), label=t) for t, (_, most) in ref.media.items()}
    items = [_item(t) for t, n in counts.items() for _ in range(n)]
    items = data.draw(st.permutations(items), label="order")
    present = frozenset(t for t, n in counts.items() if n)
    ok = (
        bool(items)
        and ref.valid(present)
        and all(n <= ref.media[t][1] for t, n in counts.items())
        and all(sum(counts[t] for t in group) <= top for group, top in ref.group_max)
    )
    args = {"model": model_id, "prompt": PROMPT, "media": items}
    for catalog in ("all", f"only {model_id}"):
        by_schema, by_validator, detail = _verdicts(catalog, args)
        assert (by_schema, by_validator) == (ok, ok), f"{counts}: expected {ok}; {detail}"
