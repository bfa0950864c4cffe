"""The media protocol's submit (wan2.7, wan3.0; reference/media-protocol.md): ``plan_media_submit``, and what the
inputs must turn out to be once read (``content_problem``).

As the real service does it: an over-long prompt or negative prompt is truncated; unknown keys
(``size``, wan2.7's ``audio``, ``ratio`` for i2v) are ignored; a ``ratio`` is ignored when the model
ignores it (r2v with a first frame: the output follows the frame); wan2.7-t2v has no ``media``
(ignored); wan3.0 takes no ``negative_prompt`` (ignored). Counts, types and combinations follow the
catalog's ``MediaRules`` and are refused with its wording (the reference quotes none), except wan3.0's
mode conflict (first/last frame with references, a file or a link): that submit is accepted and its
task FAILS with the message the reference quotes (section 5.5). Item lengths, pixel sizes and the
30 s total of wan3.0 are known only once the inputs are read: a break fails the task with
``InvalidParameter``; an input that is not the media it should be fails it with
``InvalidParameter.DataInspection`` "The media format is not supported or incorrect for the data
inspection." (reference section 6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.catalog import (
    MEDIA_SIZES,
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    Family,
    MediaRules,
    ModelSpec,
    Protocol,
)
from wan_video_mcp.server.catalog.media import ASPECT_MAX, KEEP_INPUT_LENGTH, MODEL_PICKS, SIDES, media_problems
from wan_video_mcp.server.simulator.plans import (
    AUDIO,
    FILE,
    IMAGE,
    LINK,
    VIDEO,
    VISUAL,
    InputRef,
    Probe,
    SubmitPlan,
    check_url,
    checked_duration,
    invalid,
)

MSG_MODES = (
    "The two modes are mutually exclusive. Do not pass reference_xx and first_frame/last_frame at the same time."
)
MSG_FORMAT = "The media format is not supported or incorrect for the data inspection."
AUTO_SECONDS = 5  # what wan3.0's duration -1 picks here (capped by the 30 s total)
_HTTP = ("http://", "https://")
_STORED = (*_HTTP, "oss://")  # videos, audio, files, voices: no base64 form
_ANY = (*_STORED, "data:")  # images may also be data: URLs
_FRAMES = ("first_frame", "last_frame")


def _split_modes(spec: ModelSpec, rules: MediaRules) -> tuple[MediaRules, tuple[tuple[str, ...], ...]]:
    """wan3.0's rules without the frames-versus-references rule (a task failure there, not a refusal), and it."""
    if spec.family is not Family.OMNI:
        return rules, ()
    modes = tuple(pair for pair in rules.apart if set(pair[0]) & set(_FRAMES))
    kept = tuple(pair for pair in rules.apart if pair not in modes)
    return dataclasses.replace(rules, apart=kept), tuple(pair[1] for pair in modes)


def _text(inp: dict[str, Any], name: str) -> str | None:
    value = inp.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Input should be a valid string: input.{name}")
    return value


def _media_inputs(
    model_name: str, spec: ModelSpec, inp: dict[str, Any], oss_resolve: bool
) -> tuple[list[InputRef], frozenset[str], tuple[str, str] | None]:
    """The media list checked: its URLs (each media URL, then its voice), its type set, a task failure."""
    rules = spec.media
    if rules is None:
        return [], frozenset(), None  # wan2.7-t2v: no media list; the service ignores one
    media = inp.get("media")
    if media is None or media == []:
        if rules.required:
            raise invalid("Field required: input.media")
        return [], frozenset(), None
    if not isinstance(media, list):
        raise invalid("Input should be a valid list: input.media")
    for i, item in enumerate(media):
        if not isinstance(item, dict):
            raise invalid(f"Input should be a valid dictionary: input.media[{i}]")
        if not isinstance(item.get("type"), str) or not item["type"]:
            raise invalid(f"Field required: input.media[{i}].type")
    checked, conflicts = _split_modes(spec, rules)
    for _, message in media_problems(checked, media, model_name):
        raise invalid(message)
    refs: list[InputRef] = []
    for i, item in enumerate(media):
        slot = rules.slot(item["type"])
        assert slot is not None  # media_problems refused unknown types
        schemes = _ANY if slot.kind == IMAGE else _HTTP if slot.kind == LINK else _STORED
        where = f"input.media[{i}].url"
        url = check_url(item.get("url"), where, required=True, oss_resolve=oss_resolve, schemes=schemes)
        assert url is not None
        refs.append(InputRef(where, slot.type, slot.kind, url, slot.seconds))
        voice = check_url(
            item.get("reference_voice"),
            f"input.media[{i}].reference_voice",
            required=False,
            oss_resolve=oss_resolve,
            schemes=_STORED,
        )
        if voice is not None:
            refs.append(
                InputRef(f"input.media[{i}].reference_voice", "reference_voice", AUDIO, voice, rules.voice_seconds)
            )
    present = frozenset(item["type"] for item in media)
    failure = None
    if present & set(_FRAMES) and any(present & set(right) for right in conflicts):
        failure = ("InvalidParameter", MSG_MODES)
    return refs, present, failure


def _duration(model_name: str, spec: ModelSpec, params: dict[str, Any], present: frozenset[str]) -> int:
    duration = checked_duration(model_name, spec, params, spec.duration_text)
    videos = set(spec.media.video_types) if spec.media else set()
    if spec.video_duration_max is not None and duration > spec.video_duration_max and present & videos:
        raise invalid(
            f"The duration must be at most {spec.video_duration_max} seconds when a reference video is given."
        )
    return duration


def _ratio(model_name: str, spec: ModelSpec, params: dict[str, Any], present: frozenset[str]) -> str | None:
    """The output's ratio, or None when the output follows an input's aspect."""
    if not spec.ratios:
        return None  # i2v: no ratio parameter (ignored); the output follows the first frame or clip
    ratio = params.get("ratio", spec.default_ratio)
    if ratio is not None and ratio not in spec.ratios:
        raise invalid(f"The ratio is not supported by {model_name}; allowed: {', '.join(spec.ratios)}.")
    if present & set(spec.ratio_ignored_with) or ratio == "adaptive":
        return None
    return ratio if isinstance(ratio, str) else None


def plan_media_submit(
    model_name: str, spec: ModelSpec, inp: dict[str, Any], params: dict[str, Any], *, oss_resolve: bool
) -> SubmitPlan:
    """Validate a media-protocol submit (the model, input and parameters are already known to be there)."""
    prompt = _text(inp, "prompt")
    if spec.prompt_need == "required" and not (prompt and prompt.strip()):
        raise invalid("Field required: input.prompt")
    negative = _text(inp, "negative_prompt") if spec.negative_prompt else None
    refs, present, failure = _media_inputs(model_name, spec, inp, oss_resolve)
    if spec.prompt_need == "prompt or media" and not (prompt and prompt.strip()) and not present:
        raise invalid("At least one of input.prompt and input.media is required.")
    if spec.audio_url:
        url = check_url(
            inp.get("audio_url"), "input.audio_url", required=False, oss_resolve=oss_resolve, schemes=_STORED
        )
        if url is not None:
            refs.append(InputRef("input.audio_url", "audio_url", AUDIO, url, spec.audio_url_seconds))

    resolution = params.get("resolution", spec.default_tier)
    tier = resolution.upper() if isinstance(resolution, str) else resolution
    if tier not in spec.tiers:
        raise invalid(f"The resolution is not supported by {model_name}; allowed: {', '.join(spec.tiers)}.")
    ratio = _ratio(model_name, spec, params, present)
    duration = _duration(model_name, spec, params, present)

    seed = params.get("seed")
    lowest = -1 if spec.family is Family.OMNI else 0
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not lowest <= seed <= SEED_MAX):
        raise invalid(f"The seed must be an integer in [{lowest}, {SEED_MAX}].")
    names = ("prompt_extend", "watermark", "audio") if spec.audio else ("prompt_extend", "watermark")
    for name in names:
        if name in params and not isinstance(params[name], bool):
            raise invalid(f"Input should be a valid boolean: parameters.{name}")
    if spec.audio_setting and params.get("audio_setting", "auto") not in ("auto", "origin"):
        raise invalid("The audio_setting must be 'auto' or 'origin'.")
    prompt_extend = params.get("prompt_extend", True)
    if present & set(spec.extend_required_with) and not prompt_extend:
        needs = " or ".join(spec.extend_required_with)
        raise invalid(f"prompt_extend must be true when media contains a {needs}.")

    special = spec.duration_specials.get(duration)
    return SubmitPlan(
        model_name=model_name,
        spec=spec,
        prompt=(prompt or "")[: spec.prompt_max],
        negative_prompt=negative[:NEGATIVE_PROMPT_MAX] if negative else None,
        size=spec.output_size(tier, ratio) or MEDIA_SIZES[tier]["16:9"],
        tier=tier,
        duration=AUTO_SECONDS if special else duration,
        audio=params.get("audio", True) if spec.audio else True,  # every wan2.7 output has sound
        prompt_extend=prompt_extend,
        reference_videos=sum(1 for ref in refs if ref.kind == VIDEO),
        seed=None if seed == -1 else seed,
        inputs=tuple(refs),
        ratio=ratio,
        keep_input_length=special is not None and duration == KEEP_INPUT_LENGTH,
        auto_duration=special is not None and duration == MODEL_PICKS,
        failure=failure,
    )


# --------------------------------------------------------------------------- once the inputs are read


def _shape_problem(ref: InputRef, probe: Probe) -> str | None:
    low, high = SIDES[probe.kind]
    w, h = probe.width, probe.height
    if not (low <= w <= high and low <= h <= high) or max(w, h) > ASPECT_MAX * min(w, h):
        return (
            f"The size of {ref.field} is {w}*{h}; each side must be between {low} and {high} pixels, "
            "with an aspect ratio between 1:8 and 8:1."
        )
    return None


def content_problem(plan: SubmitPlan, probes: dict[int, Probe], video_seconds: float | None) -> tuple[str, str] | None:
    """(code, message) of the first input that is not what the model takes, or None.

    ``probes`` holds what each read input turned out to be (by index into ``plan.inputs``);
    ``video_seconds`` is the input videos' total length when every one was measured.
    """
    media_protocol = plan.spec.protocol is Protocol.MEDIA
    for index, probe in sorted(probes.items()):
        ref = plan.inputs[index]
        if ref.kind in (FILE, LINK):
            continue
        expected = (IMAGE, VIDEO) if ref.kind == VISUAL else (ref.kind,)
        if probe.kind not in expected:
            return "InvalidParameter.DataInspection", MSG_FORMAT
        if ref.seconds is not None and probe.seconds is not None:
            low, high = ref.seconds
            if not low - 0.05 <= probe.seconds <= high + 0.05:
                where = f"{ref.field} ({ref.role})"
                return "InvalidParameter", (
                    f"The duration of {where} is {probe.seconds:.2f} s; it must be between {low:g} and {high:g} s."
                )
        if media_protocol and probe.kind in SIDES and (problem := _shape_problem(ref, probe)):
            return "InvalidParameter", problem
    rules = plan.spec.media
    for types, most in rules.seconds_total if rules else ():
        total = _seconds_of(plan, probes, types)
        if total is not None and total > most + 0.05:
            return "InvalidParameter", f"The {' + '.join(types)} items last {total:.2f} s in all; at most {most:g} s."
    limit = plan.spec.total_seconds_max
    if limit is not None and video_seconds is not None and not plan.auto_duration:
        if video_seconds + plan.duration > limit + 0.05:
            return "InvalidParameter", (
                f"The input videos ({video_seconds:.2f} s) and the output ({plan.duration} s) "
                f"last more than {limit} s together."
            )
    return None


def _seconds_of(plan: SubmitPlan, probes: dict[int, Probe], types: Sequence[str]) -> float | None:
    total = 0.0
    for index, ref in enumerate(plan.inputs):
        if ref.role in types:
            probe = probes.get(index)
            if probe is None or probe.seconds is None:
                return None
            total += probe.seconds
    return total
