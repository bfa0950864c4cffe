"""The Wan model catalog: one table of per-model rules, and everything derived from it. Nothing here does I/O.

- ``spec``: what a model is (``ModelSpec``, families, protocols, tiers and sizes);
- ``media``: the media protocol's inputs per model (``MediaRules``), as schema and as checks;
- ``current`` and ``legacy``: the model table as data (wan2.7/wan3.0 on the media protocol; wan2.1-2.6);
- ``models``: the whole table and lookups by id and region;
- ``rules``: limits, patterns and each model's narrowing, read by both the schema and the validator;
- ``schema``: the ``generate_video`` input JSON Schema (``input_schema``);
- ``validation``: the validator that enforces exactly the same rules (``validate``);
- ``request``: the validated request it returns (``GenerationRequest``, ``ValidatedCall``);
- ``pricing``: list prices and the cost estimate (``estimate_cost``);
- ``listing``: the ``wan-video://models`` document and the README table.
"""

from wan_video_mcp.server.catalog.listing import catalog_document, markdown_table
from wan_video_mcp.server.catalog.media import MediaRules, MediaSlot
from wan_video_mcp.server.catalog.models import (
    DEFAULT_MODEL,
    FAMILY_INPUTS,
    MEDIA_FIELDS,
    MEDIA_SIZES,
    MODEL_INDEX,
    MODELS,
    SIZE_TIER,
    TIERS,
    Family,
    FamilyInputs,
    ModelSpec,
    Protocol,
    get_model,
    models_for,
)
from wan_video_mcp.server.catalog.pricing import CNY_PER_USD, CostEstimate, Price, estimate_cost
from wan_video_mcp.server.catalog.request import GenerationRequest, InputSource, MediaItem, ValidatedCall
from wan_video_mcp.server.catalog.rules import (
    IDEMPOTENCY_KEY_MAX,
    MAX_DATA_URL_CHARS,
    MAX_REFERENCE_URLS,
    MAX_REFERENCE_VIDEOS,
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    WAIT_SECONDS_DEFAULT,
    WAIT_SECONDS_MAX,
)
from wan_video_mcp.server.catalog.schema import input_schema
from wan_video_mcp.server.catalog.validation import validate

__all__ = [
    "CNY_PER_USD",
    "DEFAULT_MODEL",
    "FAMILY_INPUTS",
    "IDEMPOTENCY_KEY_MAX",
    "MAX_DATA_URL_CHARS",
    "MAX_REFERENCE_URLS",
    "MAX_REFERENCE_VIDEOS",
    "MEDIA_FIELDS",
    "MEDIA_SIZES",
    "MODELS",
    "MODEL_INDEX",
    "NEGATIVE_PROMPT_MAX",
    "SEED_MAX",
    "SIZE_TIER",
    "TIERS",
    "WAIT_SECONDS_DEFAULT",
    "WAIT_SECONDS_MAX",
    "CostEstimate",
    "Family",
    "FamilyInputs",
    "GenerationRequest",
    "InputSource",
    "MediaItem",
    "MediaRules",
    "MediaSlot",
    "ModelSpec",
    "Price",
    "Protocol",
    "ValidatedCall",
    "catalog_document",
    "estimate_cost",
    "get_model",
    "input_schema",
    "markdown_table",
    "models_for",
    "validate",
]
