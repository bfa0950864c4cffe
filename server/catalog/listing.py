"""The catalog as documents: the wan-video://models resource, its prompt guide and the README's model table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wan_video_mcp.server.catalog.media import AUDIO, IMAGE, VIDEO
from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, MODELS, TIERS, Family, ModelSpec, Protocol
from wan_video_mcp.server.catalog.rules import NEGATIVE_PROMPT_MAX, SEED_MAX


def catalog_document(models: Sequence[ModelSpec] = MODELS, region: str | None = None) -> dict[str, Any]:
    """The catalog as JSON for the wan-video://models resource and the README table."""
    return {
        "default_model": DEFAULT_MODEL if any(s.id == DEFAULT_MODEL for s in models) else models[0].id,
        "tiers": {tier: list(sizes) for tier, sizes in TIERS.items()},
        "common": {
            "negative_prompt_max": NEGATIVE_PROMPT_MAX,
            "seed": [-1, SEED_MAX],  # -1: random, as when absent
            "prompt_extend_default": True,
            "watermark_default": False,
            "video_url_valid_hours": 24,
            "billing": "per second of output video; only successful tasks are billed",
            "inputs": "an http(s) URL, a data: image, a local file inside WAN_MEDIA_ROOTS (absolute path or file://) "
            "or an earlier video (wan-video://videos/{task_id}.mp4); files are checked against file_limits first",
        },
        "prompt_guide": prompt_guide(models),
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
                "file_limits": _file_limits(spec),
                "protocol": spec.protocol.value,
                "preview": spec.preview,
                "snapshot_of": spec.snapshot_of,
                "sound": spec.sound,
                "ratios": list(spec.ratios) or None,
                "default_ratio": spec.default_ratio,
                "ratio_ignored_with": list(spec.ratio_ignored_with) or None,
                "duration_specials": {str(k): v for k, v in spec.duration_specials.items()} or None,
                "duration_max_with_video": spec.video_duration_max,
                "input_plus_output_seconds_max": spec.total_seconds_max,
                "media": _media_document(spec),
                "negative_prompt": spec.negative_prompt,
                "audio_setting": spec.audio_setting,
                "prompt_extend_required_with": list(spec.extend_required_with) or None,
                "billed_input": spec.billed_input or None,
                "output_sizes": _output_sizes(spec),
                "regions": list(spec.regions),
                "region_names": dict(spec.region_names),
                "price_per_second_usd": {t: round(spec.price.usd(t, silent=False), 5) for t in spec.tiers},
                "price_source": f"{spec.price.source} ({spec.price.as_of})",
                "price_note": spec.price.note,
                "price_official": spec.price.official,
            }
            for spec in models
        ],
    }


# How to write a prompt, written once: the wan-video://models resource carries it and the wan_prompt_guide prompt
# (tools/prompts.py) renders it, tailored to one model. The craft sections follow Alibaba's prompt recipe
# ("Model Studio: Wan video generation prompts recipe", alibabacloud.com/blog/602777); the rest is the API's
# documented behaviour (reference/media-protocol.md, wire-formats.md) and this server's checks.
PROMPT_CRAFT: Mapping[str, str] = {
    "about": "Subject, scene, motion, camera, lighting and style are general craft advice (Alibaba's Wan prompt "
    "recipe), not API rules; the other sections are the API's documented behaviour and this server's checks.",
    "subject": "Open with the main subject and a few concrete details (who or what, look, clothing, expression); "
    "one clear subject per shot.",
    "scene": "Where and when: setting, foreground and background, time of day, weather.",
    "motion": "What moves, how, how fast and how far, in order: one or two actions for 5 s, a short sequence for "
    "10-15 s. With a first frame or reference image, the image fixes subject, scene and style: describe motion and "
    "camera only.",
    "camera": "Shot size (close-up, medium, wide), angle (eye level, low, overhead) and movement (fixed camera, push "
    "in, pull out, pan, tilt, tracking, orbit, handheld); lens if it matters (wide-angle, telephoto, shallow focus).",
    "lighting": "Light source and quality (daylight, golden hour, neon, candlelight, backlight; soft or hard) and "
    "colour tone (warm, cool, desaturated).",
    "style": "One visual style or medium, stated once at the end (photorealistic, cinematic, anime, 3D cartoon, "
    "watercolour, clay).",
}
# The media types a prompt names, counted per type in the order of media (reference sections 5.3-5.5).
MEDIA_NAMES: Mapping[str, str] = {"reference_image": "Image", "reference_video": "Video", "reference_audio": "Audio"}


def prompt_guide(models: Sequence[ModelSpec] = MODELS) -> dict[str, str]:
    """The prompt guide: the craft sections, then the rules that differ by model, naming the models they apply to."""
    names = _model_names(models)
    limits = "; ".join(f"{n}: {names(_prompt_max_is(n))}" for n in sorted({s.prompt_max for s in models}))
    return {
        **PROMPT_CRAFT,
        "multi_shot": "wan2.7 has no shot_type: write the shots into the prompt with their times, e.g. 'Shot 1 "
        "[0-3 s]: wide shot, ... Shot 2 [3-6 s]: close-up, ...', covering the duration (wan3.0 has no shot_type "
        f"either; this server suggests the same syntax). shot_type='multi' ({names(lambda s: s.shot_type)}) works "
        "only with prompt_extend=true (the default). Other models make one continuous shot.",
        "media_names": f"Media protocol references ({names(lambda s: bool(media_names(s)))}): Image 1, Video 1, "
        "Audio 1, ... counted per type in the order of media (e.g. 'Image 1 hands Image 2 a cup'). Legacy r2v "
        f"({names(_legacy_r2v)}): character1, character2, ... in the order of reference_video_urls or "
        "reference_urls. Frames and the video to edit need no name.",
        "sound": f"Models with sound ({names(lambda s: s.sound)}) follow the prompt: put spoken lines in quotes "
        "with their speaker, then ambient sounds and effects, then music (or 'no music'). A driving audio file "
        f"(audio_url: {names(lambda s: s.audio_url)}; a driving_audio media item: {names(_driving_audio)}) "
        "becomes the soundtrack and the video follows it: describe the action, not the audio. Silent models: "
        f"{names(lambda s: not s.sound)}.",
        "negative_prompt": "What must not appear, as a short list (e.g. 'blurry, text, watermark, extra fingers'), "
        f"at most {NEGATIVE_PROMPT_MAX} characters."
        + (
            f" Not taken by {names(lambda s: not s.negative_prompt)}: describe what should be there instead."
            if any(not s.negative_prompt for s in models)
            else ""
        ),
        "length": f"prompt_max in characters - {limits}. This server refuses a longer prompt before submitting (the "
        "service would cut it). prompt_extend (default true) lets the service expand a short prompt; false keeps "
        "yours as written.",
        "moderation": "The provider's content inspection checks the prompt, the input files and the video, and it "
        "decides (no published list is known here). Commonly refused: real people and public figures, violence and "
        "gore, sexual content, copyrighted characters and brands (IPInfringementSuspect), political content. A "
        "refusal (DataInspectionFailed) fails the submit or the task and costs nothing (only successful tasks are "
        "billed): rephrase rather than retry.",
    }


def media_names(spec: ModelSpec) -> list[str]:
    """How a media-protocol model's prompt names its references ('Image', 'Video', 'Audio'), in media type order."""
    slots = spec.media.slots if spec.media else ()
    return [MEDIA_NAMES[slot.type] for slot in slots if slot.type in MEDIA_NAMES]


def _prompt_max_is(limit: int) -> Callable[[ModelSpec], bool]:
    return lambda spec: spec.prompt_max == limit


def _legacy_r2v(spec: ModelSpec) -> bool:
    return spec.protocol is Protocol.LEGACY and spec.family in (Family.R2V, Family.R2V_MIXED)


def _driving_audio(spec: ModelSpec) -> bool:
    return spec.media is not None and any(slot.type == "driving_audio" for slot in spec.media.slots)


def _model_names(models: Sequence[ModelSpec]) -> Callable[[Callable[[ModelSpec], bool]], str]:
    """Names for the models that pass a test, compactly: 'wan2.6-*' when every offered wan2.6 model passes."""

    def names(test: Callable[[ModelSpec], bool]) -> str:
        matched = [spec.id for spec in models if test(spec)]
        out: list[str] = []
        for model_id in matched:
            version = model_id.split("-")[0]
            siblings = {spec.id for spec in models if spec.id.split("-")[0] == version}
            name = f"{version}-*" if len(siblings) > 1 and siblings <= set(matched) else model_id
            if name not in out:
                out.append(name)
        return ", ".join(out) or "none"

    return names


def _file_limits(spec: ModelSpec) -> dict[str, str] | None:
    """What each kind of input file may be for a model (formats, pixels, aspect, size), for the kinds it takes."""
    kinds = {slot.kind for slot in spec.media.slots} if spec.media else set()
    kinds |= {kind for name, taken in _LEGACY_KINDS.items() if name in spec.inputs.media for kind in taken}
    if spec.audio_url:
        kinds.add(AUDIO)
    found = {kind: limits.describe() for kind in sorted(kinds) if (limits := spec.file_limits(kind)) is not None}
    return found or None


_LEGACY_KINDS = {
    "img_url": (IMAGE,),
    "first_frame_url": (IMAGE,),
    "last_frame_url": (IMAGE,),
    "reference_video_urls": (VIDEO,),
    "reference_urls": (IMAGE, VIDEO),
}


def _media_document(spec: ModelSpec) -> dict[str, Any] | None:
    """A model's ``media`` rules as data: each type's count, kind, length and voice; the cross-item rules."""
    rules = spec.media
    if rules is None:
        return None
    return {
        "required": rules.required,
        "types": {
            slot.type: {
                "kind": slot.kind,
                "max": slot.max,
                "seconds": list(slot.seconds) if slot.seconds else None,
                "reference_voice": slot.voice,
                "limits": slot.limits,
            }
            for slot in rules.slots
        },
        "exactly_one_of": list(rules.exactly_one_of) or None,
        "at_least_one_of": list(rules.at_least_one_of) or None,
        "not_together": [[list(a), list(b)] for a, b in rules.apart] or None,
        "at_most_together": [{"types": list(t), "max": n} for t, n in rules.group_max] or None,
        "seconds_total": [{"types": list(t), "max": n} for t, n in rules.seconds_total] or None,
        "valid_combinations": [list(c) for c in rules.combinations] or None,
        "reference_voice_seconds": list(rules.voice_seconds) if any(s.voice for s in rules.slots) else None,
        "note": rules.note,
    }


def _output_sizes(spec: ModelSpec) -> dict[str, dict[str, str]] | None:
    """W*H per tier and ratio for the media protocol's models that take a ratio (the rest follow the input)."""
    if not spec.ratios:
        return None
    return {tier: {r: size for r in spec.ratios if (size := spec.output_size(tier, r))} for tier in spec.tiers}


def markdown_table(models: Sequence[ModelSpec] = MODELS) -> str:
    """The README's model table, generated from the catalog (a test keeps the README in step)."""
    rows = [
        "| model | input | sizes / resolutions (default) | seconds (default) | prompt | sound | shot_type | "
        "est. USD/s | regions |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in models:
        shape = f"{'/'.join(spec.tiers)} ({spec.default_size or spec.default_tier})"
        if spec.ratios:
            shape += f"; ratio {'/'.join(spec.ratios)} ({spec.default_ratio or 'input'})"
        sound = "auto + audio_url" if spec.audio_url else ("auto" if spec.sound else "silent")
        prices = " / ".join(f"{spec.price.usd(t, silent=False):.3f}" for t in spec.tiers)
        if not spec.price.official:
            prices += " (reseller)"
        rows.append(
            f"| {spec.id} | {spec.family.value} | {shape} | {spec.duration_text} ({spec.default_duration}) | "
            f"{spec.prompt_max} | {sound} | {'yes' if spec.shot_type else 'no'} | {prices} | "
            f"{', '.join(spec.regions)} |"
        )
    return "\n".join(rows)
