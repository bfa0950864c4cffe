"""The catalog as documents: the wan-video://models resource and the README's model table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wan_video_mcp.server.catalog.models import DEFAULT_MODEL, MODELS, TIERS, ModelSpec
from wan_video_mcp.server.catalog.rules import NEGATIVE_PROMPT_MAX, SEED_MAX


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
