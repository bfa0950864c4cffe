"""The rules that the generate_video schema and the validator both read: limits, patterns, each model's narrowing."""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog.models import MEDIA_FIELDS, ModelSpec

SEED_MAX = 2_147_483_647
NEGATIVE_PROMPT_MAX = 500
WAIT_SECONDS_DEFAULT = 45
WAIT_SECONDS_MAX = 900
IDEMPOTENCY_KEY_MAX = 128
MAX_REFERENCE_VIDEOS = 3
MAX_URL_CHARS = 2048  # an http(s) URL: audio_url, each reference video
# 10 MB of image, base64-encoded, plus the data: prefix.
MAX_DATA_URL_CHARS = 14_000_000

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


def model_rules(spec: ModelSpec) -> dict[str, Any]:
    """The `then` of one model's `if`: its narrowed fields, required and forbidden ones."""
    props: dict[str, Any] = {}
    forbidden: list[str] = []
    if spec.uses_size:
        props["size"] = {"enum": list(spec.sizes)}
        forbidden.append("resolution")
    else:
        props["resolution"] = {"enum": list(spec.tiers)}
        forbidden.append("size")
    run = spec.duration_range
    props["duration"] = {"minimum": run[0], "maximum": run[1]} if run else {"enum": list(spec.durations)}
    props["prompt"] = {"maxLength": spec.prompt_max}
    required = ["prompt"] if spec.prompt_required else []
    required += spec.inputs.required_media
    forbidden += [name for name in MEDIA_FIELDS if name not in spec.inputs.media]
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
