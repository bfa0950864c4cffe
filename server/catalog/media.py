"""The media protocol's inputs (wan2.7 / wan3.0, reference/media-protocol.md): what each model takes in ``media``.

A model's ``MediaRules`` is data: its slots (one per media ``type``, with a count, a kind and a length
range), and the cross-item rules between them. The schema (``media_schema``) and the validator
(``media_problems``) are both generated from it, so they cannot drift apart; ``combinations`` is the
documented list of valid type sets, which the tests hold the rules to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations as subsets
from typing import Any

# What a URL of each kind may be (reference section 1): images also as base64 data URLs; a link only http(s).
IMAGE, VIDEO, AUDIO, FILE, LINK = "image", "video", "audio", "file", "link"
# What the media protocol accepts of every image and video (reference section 5): pixels per side, aspect, and the
# largest file of each kind in MB. The validator's measured checks and the simulator both read these.
SIDES = {IMAGE: (240, 8000), VIDEO: (240, 4096)}
ASPECT_MAX = 8.0
MEGABYTES_MAX = {IMAGE: 20, VIDEO: 100, AUDIO: 15, FILE: 100}
# The formats each kind may be, as ``server.media`` names what it reads (reference section 5; wire-formats section 2).
IMAGE_FORMATS = ("jpeg", "png", "bmp", "webp")
VIDEO_FORMATS = ("mp4", "mov")
AUDIO_FORMATS = ("wav", "mp3")
FORMATS = {IMAGE: IMAGE_FORMATS, VIDEO: VIDEO_FORMATS, AUDIO: AUDIO_FORMATS}
# How each format is named when it is sent (a data: URL's type, an upload's name and content type).
IMAGE_MIME = {"jpeg": "image/jpeg", "png": "image/png", "bmp": "image/bmp", "webp": "image/webp"}
FORMAT_MIME = {**IMAGE_MIME, "mp4": "video/mp4", "mov": "video/quicktime", "wav": "audio/wav", "mp3": "audio/mpeg"}
# What a file name's suffix says it is, for a URL that could not be read (wrong ones are refused without reading).
SUFFIX_FORMATS = {
    **{suffix: "jpeg" for suffix in (".jpg", ".jpeg", ".jfif")},
    **{f".{name}": name for name in ("png", "bmp", "webp", "gif", "tiff", "heic", "avif", "svg")},
    **{f".{name}": name for name in ("mp4", "mov", "webm", "mkv", "avi", "flv", "wmv", "m4v")},
    **{f".{name}": name for name in ("wav", "mp3", "ogg", "oga", "opus", "flac", "aac", "m4a", "wma", "aiff")},
}


@dataclass(frozen=True)
class FileLimits:
    """What one kind of input file may be for one model: its formats, its size, its pixels per side and aspect."""

    kind: str
    formats: tuple[str, ...] = ()  # empty: any (a wan3.0 file is checked by the provider)
    megabytes: int | None = None
    sides: tuple[int, int] | None = None
    aspect_max: float | None = None

    def describe(self) -> str:
        parts = ["/".join(self.formats)] if self.formats else []
        if self.sides:
            parts.append(f"{self.sides[0]}-{self.sides[1]} px per side")
        if self.aspect_max:
            parts.append(f"aspect up to 1:{self.aspect_max:g}")
        if self.megabytes:
            parts.append(f"<= {self.megabytes} MB")
        return ", ".join(parts)


# Every media-protocol model (reference section 5).
MEDIA_FILE_LIMITS = {
    kind: FileLimits(
        kind, FORMATS.get(kind, ()), MEGABYTES_MAX[kind], SIDES.get(kind), ASPECT_MAX if kind in SIDES else None
    )
    for kind in (IMAGE, VIDEO, AUDIO, FILE)
}
# The legacy fields (wire-formats.md section 2): i2v images 360-2000 px and <= 10 MB, kf2v frames 240-8000 px in the
# current docs, audio wav/mp3 <= 15 MB, reference videos mp4/mov <= 100 MB.
LEGACY_FILE_LIMITS = {
    IMAGE: FileLimits(IMAGE, IMAGE_FORMATS, 10, (360, 2000)),
    VIDEO: FileLimits(VIDEO, VIDEO_FORMATS, 100),
    AUDIO: FileLimits(AUDIO, AUDIO_FORMATS, 15),
}
KF2V_FRAME_LIMITS = FileLimits(IMAGE, IMAGE_FORMATS, 10, (240, 8000))
# The durations that are not lengths (sections 5.4, 5.5), the keys of a model's duration_specials.
KEEP_INPUT_LENGTH = 0  # videoedit: the output is as long as the input video
MODEL_PICKS = -1  # wan3.0: the model chooses the length


@dataclass(frozen=True)
class MediaSlot:
    """One ``media`` type of one model: how many, of what kind, how long each, whether it takes a voice."""

    type: str
    kind: str
    max: int
    seconds: tuple[float, float] | None = None  # each item's documented length, when it has one
    voice: bool = False  # takes a per-item reference_voice (an audio URL, timbre only)
    in_output: bool = False  # its seconds are part of the output's duration (i2v's first_clip), not billed on top
    fps_min: float | None = None  # the lowest frame rate a video may have (wan3.0's references: 16)
    limits: str = ""  # the documented format limits, in words


@dataclass(frozen=True)
class MediaRules:
    """The cross-item rules of one model's ``media`` list, as data."""

    slots: tuple[MediaSlot, ...]
    required: bool = False  # media must be given
    exactly_one_of: tuple[str, ...] = ()  # exactly one of these types is present (i2v: first_frame | first_clip)
    at_least_one_of: tuple[str, ...] = ()  # at least one item of these types (r2v's references, videoedit's video)
    apart: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # no type of the left with one of the right
    group_max: tuple[tuple[tuple[str, ...], int], ...] = ()  # at most N items of these types together
    seconds_total: tuple[tuple[tuple[str, ...], float], ...] = ()  # these types' lengths add up to at most N s
    combinations: tuple[tuple[str, ...], ...] = ()  # the documented valid type sets, where the docs list them
    voice_seconds: tuple[float, float] = (1, 10)
    note: str = ""  # what the model does with them, in words

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(slot.type for slot in self.slots)

    def slot(self, media_type: str) -> MediaSlot | None:
        return next((slot for slot in self.slots if slot.type == media_type), None)

    @property
    def video_types(self) -> tuple[str, ...]:
        return tuple(slot.type for slot in self.slots if slot.kind == VIDEO)

    @property
    def max_items(self) -> int:
        return sum(slot.max for slot in self.slots)

    def type_sets(self) -> Iterator[frozenset[str]]:
        """Every set of this model's types (for tests and documentation)."""
        for size in range(len(self.slots) + 1):
            for chosen in subsets(self.types, size):
                yield frozenset(chosen)

    def set_problem(self, present: frozenset[str]) -> str | None:
        """Why a set of types (each present at least once) is not a valid combination, or None."""
        if self.exactly_one_of:
            found = [t for t in self.exactly_one_of if t in present]
            if len(found) != 1:
                either = " or ".join(self.exactly_one_of)
                return f"exactly one of {either} is needed" + (f" (got {' and '.join(found)})" if found else "")
        if self.at_least_one_of and not present & set(self.at_least_one_of):
            return f"at least one {' or '.join(self.at_least_one_of)} is needed"
        for left, right in self.apart:
            lhs, rhs = sorted(present & set(left)), sorted(present & set(right))
            if lhs and rhs:
                return f"{', '.join(lhs)} cannot be combined with {', '.join(rhs)}"
        return None


# --------------------------------------------------------------------------- JSON Schema


def _has(types: Sequence[str]) -> dict[str, Any]:
    """Matches a media item of one of these types."""
    one: dict[str, Any] = {"const": types[0]} if len(types) == 1 else {"enum": list(types)}
    return {"properties": {"type": one}}


def media_schema(rules: MediaRules, all_types: Sequence[str], voiced_anywhere: frozenset[str]) -> dict[str, Any]:
    """The ``media`` property's narrowing for one model: item types, voice, counts and combinations.

    ``all_types``: every media type of the catalog (the shared item schema allows no other), so the model's
    types can be said as "none of the others" when that is shorter. ``voiced_anywhere``: the types that take a
    reference_voice in some model; the shared item schema already refuses it on every other type, so only
    those of them this model does not voice are refused here.
    """
    voiced = {slot.type for slot in rules.slots if slot.voice}
    mute = [t for t in rules.types if t in voiced_anywhere and t not in voiced]
    others = [t for t in all_types if t not in rules.types]
    kinds: dict[str, Any] = {"enum": list(rules.types)}
    if len(others) < len(rules.types):
        kinds = {"not": {"const": others[0]} if len(others) == 1 else {"enum": others}}
    item: dict[str, Any] = {"properties": {"type": kinds}}
    if mute and not voiced:
        item["properties"]["reference_voice"] = {"not": {}}
    elif mute:
        item |= {"if": _has(mute), "then": {"properties": {"reference_voice": {"not": {}}}}}
    checks: list[dict[str, Any]] = []
    singles = _exclusive_singles(rules)
    for slot in rules.slots:
        if not _implied_count(rules, slot) and slot.type not in {t for pair in singles for t in pair}:
            checks.append(_at_most(slot.max, [slot.type]))
    for pair in singles:  # "at most one of a and b": both their counts and their exclusion in one check
        checks.append(_at_most(1, pair))
    # "at least one of these" and "at most N of these" over the same types are one check.
    most_of = dict(rules.group_max)
    if len(rules.at_least_one_of) == 1 and (only := rules.slot(rules.at_least_one_of[0])) is not None:
        most_of.setdefault(rules.at_least_one_of, only.max)
    for types, most in rules.group_max:
        if types != rules.at_least_one_of:
            checks.append(_at_most(most, types))
    if rules.exactly_one_of:
        checks.append({"contains": _has(rules.exactly_one_of), "maxContains": 1})
    if rules.at_least_one_of:
        needed: dict[str, Any] = {"contains": _has(rules.at_least_one_of)}
        if rules.at_least_one_of in most_of:
            needed["maxContains"] = most_of[rules.at_least_one_of]
        checks.append(needed)
    for left, right in rules.apart:
        if not (len(left) == len(right) == 1 and (left[0], right[0]) in singles):
            checks.append({"not": {"allOf": [{"contains": _has(left)}, {"contains": _has(right)}]}})
    return {"items": item, "allOf": checks}


def _at_most(most: int, types: Sequence[str]) -> dict[str, Any]:
    """At most ``most`` items of these types ("not N + 1 of them": shorter than minContains 0 + maxContains)."""
    return {"not": {"contains": _has(types), "minContains": most + 1}}


def _exclusive_singles(rules: MediaRules) -> list[tuple[str, str]]:
    """``apart`` pairs of two single types that each take at most one item: "at most one of the two"."""
    pairs = []
    for left, right in rules.apart:
        if len(left) == len(right) == 1:
            slots = (rules.slot(left[0]), rules.slot(right[0]))
            if all(slot is not None and slot.max == 1 for slot in slots):
                pairs.append((left[0], right[0]))
    return pairs


def _implied_count(rules: MediaRules, slot: MediaSlot) -> bool:
    """Whether another rule already bounds this type's count as tightly (a group maximum, exactly-one)."""
    if slot.max == 1 and slot.type in rules.exactly_one_of:
        return True
    if rules.at_least_one_of == (slot.type,):
        return True  # the presence rule carries its maximum
    return any(slot.type in types and most <= slot.max for types, most in rules.group_max)


# --------------------------------------------------------------------------- validation


def media_problems(rules: MediaRules, items: Sequence[Mapping[str, Any]], model: str) -> Iterator[tuple[str, str]]:
    """(field, message) for every rule the (well-formed) items break; items are already type-checked."""
    counts: dict[str, int] = {}
    unknown = False
    for i, item in enumerate(items):
        kind = item.get("type")
        slot = rules.slot(kind) if isinstance(kind, str) else None
        if slot is None:
            yield (
                f"media[{i}].type",
                f"media[{i}].type {kind!r} is not taken by {model}; allowed: {', '.join(rules.types)}",
            )
            unknown = True
            continue
        counts[slot.type] = counts.get(slot.type, 0) + 1
        if "reference_voice" in item and not slot.voice:
            voiced = [s.type for s in rules.slots if s.voice]
            where = f"only on {', '.join(voiced)} items" if voiced else "not at all"
            yield f"media[{i}].reference_voice", f"media[{i}] ({slot.type}): {model} takes reference_voice {where}"
    for slot in rules.slots:
        if counts.get(slot.type, 0) > slot.max:
            yield "media", f"media has {counts[slot.type]} {slot.type} items; {model} takes at most {slot.max}"
    for types, most in rules.group_max:
        total = sum(counts.get(t, 0) for t in types)
        if total > most:
            yield "media", f"media has {total} {' + '.join(types)} items; {model} takes at most {most} together"
    problem = None if unknown else rules.set_problem(frozenset(counts))  # (a set with an unknown type says nothing)
    if problem:
        shown = ", ".join(sorted(counts)) or "none"
        valid = ""
        if rules.combinations:
            valid = "; valid combinations: " + " | ".join("+".join(c) for c in rules.combinations)
        yield "media", f"media types {shown} are not valid for {model}: {problem}{valid}"
