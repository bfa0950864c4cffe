"""The rules that the generate_video schema and the validator both read: limits, patterns, each model's narrowing."""

from __future__ import annotations

import re
from typing import Any

from wan_video_mcp.server.catalog.media import media_schema
from wan_video_mcp.server.catalog.models import MEDIA_FIELDS, MODELS, ModelSpec

SEED_MAX = 2_147_483_647
NEGATIVE_PROMPT_MAX = 500
WAIT_SECONDS_DEFAULT = 45
WAIT_SECONDS_MAX = 900
IDEMPOTENCY_KEY_MAX = 128
MAX_REFERENCE_VIDEOS = 3
MAX_REFERENCE_URLS = 5  # wan2.6-r2v-flash's reference_urls (images and videos)
MAX_URL_CHARS = 2048  # an http(s) URL: audio_url, each reference video
# 10 MB of image, base64-encoded, plus the data: prefix (the legacy image fields).
MAX_DATA_URL_CHARS = 14_000_000
# 20 MB of image, base64-encoded: the media protocol's image limit (reference/media-protocol.md section 5).
MAX_MEDIA_DATA_URL_CHARS = 28_000_000

# Control characters other than tab, newline and carriage return.
_CTRL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
# Patterns must mean the same in Python's `re` (our validator, jsonschema) and ECMA-262 (JS clients):
# no \s or \S (their classes differ), and `$(?!\n)` because Python's `$` also matches before a final newline.
_WS_ABOVE_SPACE = "\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff\\x85"  # Unicode white space
_END = "$(?!\\n)"
# No control chars, not blank: at least one character that is neither a control character nor white space
# (\x00-\x20 holds both kinds below the space). A newline is allowed anywhere, so `$` needs no guard here.
PROMPT_PATTERN = f"^(?=[^\\x00]*[^\\x00-\\x20\\x7f{_WS_ABOVE_SPACE}])[^{_CTRL}]*$"
TEXT_PATTERN = f"^[^{_CTRL}]*$"  # no control chars (a final newline is allowed anyway)
_URL_CHARS = "[^\\x00-\\x20\\x7f]+"  # no spaces or control characters
HTTP_URL_PATTERN = f"^https?://{_URL_CHARS}{_END}"  # a link: a public web page
_DATA_IMAGE = "data:image/(png|jpe?g|bmp|webp);base64,[A-Za-z0-9+/]+={0,2}"
# A file this server reads, checks and uploads (or inlines) before the submit (``tools.local_inputs``): an absolute
# path or a file:// URI (spaces allowed: paths have them), or an earlier video of this server by its resource URI
# or its task id.
TASK_ID_PATTERN = "wan_[0-9a-f]{20}"
_ID = TASK_ID_PATTERN
_LOCAL = f"(/|file:/)[^\\x00-\\x1f\\x7f]*|wan-video://(videos/{_ID}(\\.mp4)?|tasks/{_ID})|{_ID}"
# An earlier video by its resource URI or its task id (group 1: the task id).
TASK_REF_RE = re.compile(rf"(?:wan-video://(?:videos|tasks)/)?({TASK_ID_PATTERN})(?:\.mp4)?")


def is_local(url: str) -> bool:
    """Whether an input names a file on this machine or an earlier video: read and sent by the server itself."""
    return url.startswith(("/", "file:", "wan-video:")) or TASK_REF_RE.fullmatch(url) is not None


# Every input also takes oss:// temporary upload URLs (reference/media-protocol.md section 8).
STORED_URL_PATTERN = f"^((https?|oss)://{_URL_CHARS}|{_LOCAL}){_END}"  # video, audio, file, reference_voice
IMAGE_URL_PATTERN = f"^((https?|oss)://{_URL_CHARS}|{_LOCAL}|{_DATA_IMAGE}){_END}"  # an image: also data:
MEDIA_ITEM_KEYS = ("type", "url", "reference_voice")
# The media types that take a per-item reference_voice in some model (wan2.7-r2v's references).
VOICED_TYPES = frozenset(slot.type for spec in MODELS if spec.media for slot in spec.media.slots if slot.voice)
# Every media type of the catalog, in the order the models list them.
MEDIA_TYPES = tuple(dict.fromkeys(slot.type for spec in MODELS if spec.media for slot in spec.media.slots))
IDEMPOTENCY_KEY_PATTERN = f"^[A-Za-z0-9._:-]+{_END}"
# A schema that nothing satisfies: a forbidden field. (MCP Inspector's strict lint rejects a bare `false`.)
FORBIDDEN: dict[str, Any] = {"not": {}}


def model_rules(spec: ModelSpec) -> dict[str, Any]:
    """The `then` of one model's `if`: its narrowed fields, required and forbidden ones, and conditionals."""
    props: dict[str, Any] = {}
    forbidden: list[str] = []
    conditionals: list[dict[str, Any]] = []
    if spec.uses_size:
        props["size"] = {"enum": list(spec.sizes)}
        forbidden.append("resolution")
    else:
        props["resolution"] = {"enum": list(spec.tiers)}
        forbidden.append("size")
    props["duration"] = duration_rule(spec)
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
    if not spec.negative_prompt:
        forbidden.append("negative_prompt")
    if not spec.audio_setting:
        forbidden.append("audio_setting")
    if spec.ratios:
        props["ratio"] = {"enum": list(spec.ratios)}
    else:
        forbidden.append("ratio")
    if spec.media is not None:
        props["media"] = media_schema(spec.media, MEDIA_TYPES, VOICED_TYPES)
        # Each as "not (media has X and the field is Y)": the same rule as an if/then, in fewer bytes.
        if spec.ratio_ignored_with:
            conditionals.append(_never(spec.ratio_ignored_with, "ratio", {}))  # any ratio
        if spec.video_duration_max is not None:
            conditionals.append(_never(spec.media.video_types, "duration", {"minimum": spec.video_duration_max + 1}))
        if spec.extend_required_with:
            conditionals.append(_never(spec.extend_required_with, "prompt_extend", {"const": False}))
    if spec.prompt_need == "prompt or media":
        conditionals.append({"anyOf": [{"required": ["prompt"]}, {"required": ["media"]}]})
    for name in forbidden:
        props[name] = FORBIDDEN
    rules: dict[str, Any] = {"properties": props}
    if required:
        rules["required"] = required
    if conditionals:
        rules["allOf"] = conditionals
    return rules


def duration_rule(spec: ModelSpec) -> dict[str, Any]:
    """The durations a model takes: a range, a list, or a range plus special values (0 keep, -1 auto)."""
    run = spec.duration_range
    plain: dict[str, Any] = {"minimum": run[0], "maximum": run[1]} if run else {"enum": list(spec.plain_durations)}
    if not spec.duration_specials:
        return plain
    return {"anyOf": [{"enum": list(spec.duration_specials)}, plain]}


def _never(types: tuple[str, ...], name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Refuses a call whose ``media`` has an item of one of these types while ``name`` matches ``value``."""
    kind: dict[str, Any] = {"const": types[0]} if len(types) == 1 else {"enum": list(types)}
    properties: dict[str, Any] = {"media": {"contains": {"properties": {"type": kind}}}}
    if value:
        properties[name] = value
    return {"not": {"required": ["media", name], "properties": properties}}
