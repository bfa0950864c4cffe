"""The catalog as documents: the wan-video://models resource and the README's model table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.catalog.media import AUDIO, IMAGE, VIDEO
from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, MODELS, TIERS, ModelSpec
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
