"""The current models on the media protocol (wan2.7, wan3.0; reference/media-protocol.md): their table as data.

Where the sources disagree (media-protocol.md section 10), the choices made here:
- prompt limits are the official 5000 (wan2.7) and 20000 (wan3.0) characters, and longer prompts are
  rejected, not truncated as the service would (conflict 1);
- images follow the official 240-8000 px, <= 20 MB (conflict 2); videoedit takes up to 4 reference
  images, the official figure (conflict 3); t2v's audio_url is 2-30 s (conflict 4);
- wan2.7 has no ``audio`` switch: it is undocumented there (conflict 5), so it is refused rather than sent;
- only the dated snapshots with an official page are listed (``*-2026-04-25``; conflict 9);
- wan2.7 is offered in Beijing and Singapore only, where it is documented; wan3.0 in all six documented
  regions (conflict 8); wan3.0 takes no ``negative_prompt`` (conflict 11);
- a ``ratio`` the service would ignore (r2v with a first frame) is refused, so an agent does not expect it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wan_video_mcp.server.catalog import pricing
from wan_video_mcp.server.catalog.media import (
    AUDIO,
    FILE,
    IMAGE,
    KEEP_INPUT_LENGTH,
    LINK,
    MEDIA_FILE_LIMITS,
    MODEL_PICKS,
    VIDEO,
    MediaRules,
    MediaSlot,
)
from wan_video_mcp.server.catalog.spec import Family, ModelSpec, Protocol

# In words, from the limits the measured checks hold inputs to (catalog/media.py): written once.
_IMAGE = f"{MEDIA_FILE_LIMITS[IMAGE].describe()}, PNG without alpha"
_VIDEO = MEDIA_FILE_LIMITS[VIDEO].describe()
_AUDIO = MEDIA_FILE_LIMITS[AUDIO].describe()
_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
_WAN27_REGIONS = ("intl", "cn")
_WAN30_REGIONS = ("intl", "us", "cn", "eu", "jp", "hk")

_I2V_MEDIA = MediaRules(
    (
        MediaSlot("first_frame", IMAGE, 1, limits=_IMAGE),
        MediaSlot("last_frame", IMAGE, 1, limits=_IMAGE),
        MediaSlot("driving_audio", AUDIO, 1, (2, 30), limits=f"{_AUDIO}; cut or padded with silence to duration"),
        MediaSlot("first_clip", VIDEO, 1, (2, 10), limits=_VIDEO, in_output=True),
    ),
    required=True,
    exactly_one_of=("first_frame", "first_clip"),
    apart=((("driving_audio",), ("first_clip",)),),
    combinations=(
        ("first_frame",),
        ("first_frame", "driving_audio"),
        ("first_frame", "last_frame"),
        ("first_frame", "last_frame", "driving_audio"),
        ("first_clip",),
        ("first_clip", "last_frame"),
    ),
    note="first frame (+ last frame, + driving audio), or continue a first clip (+ last frame); each type once",
)

_R2V_MEDIA = MediaRules(
    (
        MediaSlot("reference_image", IMAGE, 5, voice=True, limits=f"{_IMAGE}; one character each"),
        MediaSlot("reference_video", VIDEO, 5, (1, 30), voice=True, limits=f"{_VIDEO}; subject and voice"),
        MediaSlot("first_frame", IMAGE, 1, limits=_IMAGE),
    ),
    required=True,
    at_least_one_of=("reference_image", "reference_video"),
    group_max=((("reference_image", "reference_video"), 5),),
    note="1-5 reference images/videos (call them Image 1, Video 1, ... in the prompt, counted per type), "
    "optionally a first frame; reference_voice (wav/mp3, 1-10 s) sets a reference's timbre",
)

_EDIT_MEDIA = MediaRules(
    (
        MediaSlot("video", VIDEO, 1, (2, 10), limits=_VIDEO),
        MediaSlot("reference_image", IMAGE, 4, limits=_IMAGE),
    ),
    required=True,
    at_least_one_of=("video",),
    note="exactly one video to edit, and up to 4 reference images",
)

_FRAMES = ("first_frame", "last_frame")
_REFERENCES = ("reference_image", "reference_video", "reference_audio")
_WAN30_MEDIA = MediaRules(
    (
        MediaSlot("first_frame", IMAGE, 1, limits=_IMAGE),
        MediaSlot("last_frame", IMAGE, 1, limits=_IMAGE),
        MediaSlot("reference_image", IMAGE, 10, limits=_IMAGE),
        MediaSlot("reference_video", VIDEO, 5, (1, 15), limits=f"{_VIDEO}, >= 16 fps", fps_min=16),
        MediaSlot("reference_audio", AUDIO, 5, (1, 15), limits=_AUDIO),
        MediaSlot("file", FILE, 1, limits="doc(x)/xls(x)/ppt(x)/pdf/txt/md/key/pages/numbers, <= 100 MB, <= 50 pages"),
        MediaSlot("link", LINK, 1, limits="a public web page that needs no login"),
    ),
    apart=((_FRAMES, (*_REFERENCES, "file", "link")), (("file",), ("link",))),
    seconds_total=((("reference_video",), 15), (("reference_audio",), 15)),
    note="first/last frame, or references (Image 1, Video 1, Audio 1, ... in the prompt) with a file or a "
    "link; edit or extend a video with reference_video and a prompt saying which (extend needs ratio adaptive)",
)


def _wan27(model_id: str, family: Family, summary: str, price: pricing.Price, **rules: Any) -> ModelSpec:
    """A wan2.7 model: what the four share (720P/1080P, 2-15 s, 5000 characters, Beijing and Singapore) and its own."""
    shared: dict[str, Any] = {
        "tiers": ("720P", "1080P"),
        "default_tier": "1080P",
        "durations": tuple(range(2, 16)),
        "default_duration": 5,
        "prompt_max": 5000,
        "regions": _WAN27_REGIONS,
        "protocol": Protocol.MEDIA,
    }
    return ModelSpec(model_id, family, summary, price=price, **(shared | rules))


WAN27_T2V = _wan27(
    "wan2.7-t2v",
    Family.T2V,
    "text to video with sound (generated, or from audio_url); multi-shot written in the prompt",
    pricing.WAN27,
    audio_url=True,
    media_limits=f"audio_url: {_AUDIO}, 2-30 s; cut or padded with silence to duration",
    ratios=_RATIOS,
    default_ratio="16:9",
    prompt_need="required",
)

WAN27_I2V = _wan27(
    "wan2.7-i2v",
    Family.I2V,
    "first frame (+ last frame, + driving audio) or a clip to continue, to video with sound",
    pricing.WAN27,
    media_limits=_I2V_MEDIA.note,
    media=_I2V_MEDIA,
    prompt_need="optional",
    billed_input="with first_clip, duration is the whole output (clip included) and that is what is billed",
)

WAN27_R2V = _wan27(
    "wan2.7-r2v",
    Family.R2V,
    "characters from reference images and videos (with their voices) to video",
    pricing.WAN27_R2V,
    media_limits=_R2V_MEDIA.note,
    media=_R2V_MEDIA,
    ratios=_RATIOS,
    default_ratio="16:9",
    ratio_ignored_with=("first_frame",),
    video_duration_max=10,
    prompt_need="required",
    billed_input="the reference videos' seconds are billed on top of the output's",
)

WAN27_EDIT = _wan27(
    "wan2.7-videoedit",
    Family.EDIT,
    "edit a video by instruction (style, objects, clothes from reference images), keeping or remaking its sound",
    pricing.WAN27_EDIT,
    durations=(KEEP_INPUT_LENGTH, *range(2, 11)),
    default_duration=KEEP_INPUT_LENGTH,
    media_limits=_EDIT_MEDIA.note,
    media=_EDIT_MEDIA,
    ratios=_RATIOS,
    duration_specials={KEEP_INPUT_LENGTH: "keep the input's length"},
    prompt_need="optional",
    audio_setting=True,
    billed_input="the input video's seconds are billed on top of the output's",
)

WAN30 = ModelSpec(
    "wan3.0-video",
    Family.OMNI,
    "preview, all-in-one: text, first/last frame, references (image, video, audio), a document or a web page; "
    "edit and extend; up to 30 s",
    ("480P", "720P", "1080P"),
    "1080P",
    (-1, *range(2, 31)),
    5,
    20000,
    pricing.WAN30,
    audio=True,
    regions=_WAN30_REGIONS,
    media_limits=_WAN30_MEDIA.note,
    protocol=Protocol.MEDIA,
    media=_WAN30_MEDIA,
    ratios=("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
    default_ratio="adaptive",
    duration_specials={MODEL_PICKS: "the model picks"},
    total_seconds_max=30,
    prompt_need="prompt or media",
    negative_prompt=False,
    extend_required_with=("file", "link"),
    preview=True,
    billed_input="input video seconds are billed on top of the output's",
)

WAN30_PRIME = dataclasses.replace(
    WAN30,
    id="wan3.0-video-prime",
    summary="preview, the faster wan3.0: the same inputs and rules",
    price=pricing.WAN30_PRIME,
)


def _snapshot(spec: ModelSpec, date: str) -> ModelSpec:
    return dataclasses.replace(spec, id=f"{spec.id}-{date}", summary=f"{spec.id} pinned at {date}", snapshot_of=spec.id)


CURRENT_MODELS: tuple[ModelSpec, ...] = (
    WAN27_T2V,
    WAN27_I2V,
    WAN27_R2V,
    WAN27_EDIT,
    WAN30,
    WAN30_PRIME,
    _snapshot(WAN27_T2V, "2026-04-25"),
    _snapshot(WAN27_I2V, "2026-04-25"),
)
