"""The Wan model table: the current models (media protocol) first, then the legacy ones; lookups by id and region.

Where the documents disagree, ``current`` and ``legacy`` each say which source won and why.
"""

from __future__ import annotations

from collections.abc import Iterable

from wan_video_mcp.server.catalog.current import CURRENT_MODELS
from wan_video_mcp.server.catalog.legacy import LEGACY_MODELS
from wan_video_mcp.server.catalog.spec import (
    FAMILY_INPUTS,
    MEDIA_FIELDS,
    MEDIA_SIZES,
    SIZE_TIER,
    TIERS,
    Family,
    FamilyInputs,
    ModelSpec,
    Protocol,
)

__all__ = [
    "DEFAULT_MODEL",
    "FAMILY_INPUTS",
    "MEDIA_FIELDS",
    "MEDIA_SIZES",
    "MODELS",
    "MODEL_INDEX",
    "SIZE_TIER",
    "TIERS",
    "Family",
    "FamilyInputs",
    "ModelSpec",
    "Protocol",
    "get_model",
    "models_for",
]

DEFAULT_MODEL = "wan2.7-t2v"

MODELS: tuple[ModelSpec, ...] = (*CURRENT_MODELS, *LEGACY_MODELS)
MODEL_INDEX: dict[str, ModelSpec] = {spec.id: spec for spec in MODELS}


def get_model(model_id: str) -> ModelSpec:
    return MODEL_INDEX[model_id]


def models_for(region: str | None = None, offered: Iterable[str] | None = None) -> tuple[ModelSpec, ...]:
    """The catalog narrowed to one DashScope region and/or a provider's offer."""
    keep = set(offered) if offered is not None else None
    return tuple(
        spec for spec in MODELS if (region is None or region in spec.regions) and (keep is None or spec.id in keep)
    )
