"""The Wan model table as data: families and what each takes as input, resolution tiers, one spec per model.

Where the documents disagree (reference/wire-formats.md section 7) the
official Model Studio document (seed 002, January 2026) wins:
- wan2.6 durations are any integer 2..15 (the Dec-2025 CN pages said 5/10/15);
- over-long prompts are *rejected* here, although the API truncates them
  silently: an agent should know its prompt was cut, not find out from the video;
- ``audio`` is a boolean (seed 000 types it as a string);
- ``audio=false`` together with ``audio_url`` is refused: seed 002 says
  audio_url wins, but wan2.6-i2v-flash lets audio=false win, so the pair is
  ambiguous and we make the caller choose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from wan_video_mcp.server.catalog import pricing
from wan_video_mcp.server.catalog.pricing import Price

DEFAULT_MODEL = "wan2.6-t2v"

TIERS: dict[str, tuple[str, ...]] = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
SIZE_TIER = {size: tier for tier, sizes in TIERS.items() for size in sizes}


class Family(StrEnum):
    T2V = "t2v"  # text to video: size
    I2V = "i2v"  # image to video: img_url + resolution
    KF2V = "kf2v"  # first/last frame to video: first_frame_url (+ last_frame_url) + resolution
    R2V = "r2v"  # reference videos to video: reference_video_urls + size


@dataclass(frozen=True)
class FamilyInputs:
    """What every model of a family takes: its media fields, its shape field, whether a prompt is needed."""

    media: tuple[str, ...]  # the media fields it accepts, in the order they go on the wire
    required_media: tuple[str, ...]  # those of them it cannot do without
    uses_size: bool  # an exact width*height ("size"), not a resolution tier ("resolution")
    prompt_required: bool


# The one table of family -> inputs (reference section 1): the schema, the validator, the providers' wire
# bodies (providers/fields.py) and the simulator's checks all read it.
FAMILY_INPUTS: Mapping[Family, FamilyInputs] = {
    Family.T2V: FamilyInputs((), (), uses_size=True, prompt_required=True),
    Family.I2V: FamilyInputs(("img_url",), ("img_url",), uses_size=False, prompt_required=False),
    Family.KF2V: FamilyInputs(
        ("first_frame_url", "last_frame_url"), ("first_frame_url",), uses_size=False, prompt_required=False
    ),
    Family.R2V: FamilyInputs(
        ("reference_video_urls",), ("reference_video_urls",), uses_size=True, prompt_required=True
    ),
}
# Every media field of generate_video, in the order of the families.
MEDIA_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(name for f in FAMILY_INPUTS.values() for name in f.media))


@dataclass(frozen=True)
class ModelSpec:
    """Everything the server knows about one model's rules."""

    id: str
    family: Family
    summary: str
    tiers: tuple[str, ...]
    default_tier: str
    durations: tuple[int, ...]
    default_duration: int
    prompt_max: int
    price: Price
    default_size: str | None = None  # t2v / r2v only
    audio: bool = False  # accepts the `audio` switch (auto-generated sound)
    audio_url: bool = False  # accepts a driving audio file
    shot_type: bool = False  # single/multi shot (takes effect only with prompt_extend=true)
    regions: tuple[str, ...] = ("intl", "cn")
    region_names: Mapping[str, str] = field(default_factory=dict)  # wire name per region when it differs
    media_limits: str = ""

    @property
    def inputs(self) -> FamilyInputs:
        return FAMILY_INPUTS[self.family]

    @property
    def uses_size(self) -> bool:
        return self.inputs.uses_size

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(size for tier in self.tiers for size in TIERS[tier]) if self.uses_size else ()

    @property
    def prompt_required(self) -> bool:
        return self.inputs.prompt_required

    @property
    def duration_range(self) -> tuple[int, int] | None:
        """(first, last) when the durations are a run of more than three consecutive seconds, else None."""
        d = self.durations
        if len(d) > 3 and list(d) == list(range(d[0], d[-1] + 1)):
            return d[0], d[-1]
        return None

    @property
    def duration_text(self) -> str:
        d = self.durations
        if len(d) == 1:
            return f"fixed {d[0]}"
        if self.duration_range:
            return f"{d[0]}-{d[-1]}"
        return "/".join(map(str, d))

    def wire_name(self, region: str) -> str:
        return self.region_names.get(region, self.id)

    def tier_of(self, size_or_resolution: str) -> str:
        return SIZE_TIER.get(size_or_resolution, size_or_resolution)


_IMAGE_LIMITS = "JPEG/PNG (no alpha)/BMP/WEBP, 360-2000 px per side, <= 10 MB; http(s) URL or data:image/...;base64"
_FRAME_LIMITS = "JPEG/PNG/BMP/WEBP, 240-8000 px per side, <= 10 MB; http(s) URL or data:image/...;base64"
_AUDIO_LIMITS = "audio_url: wav/mp3, 3-30 s, <= 15 MB"

_RANGE_2_15 = tuple(range(2, 16))

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "wan2.6-t2v",
        Family.T2V,
        "text to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        pricing.WAN26,
        default_size="1920*1080",
        audio=True,
        audio_url=True,
        shot_type=True,
        regions=("intl", "us", "cn"),
        region_names={"us": "wan2.6-t2v-us"},
        media_limits=_AUDIO_LIMITS,
    ),
    ModelSpec(
        "wan2.5-t2v-preview",
        Family.T2V,
        "text to video with sound",
        ("480P", "720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        pricing.WAN25,
        default_size="1920*1080",
        audio=True,
        audio_url=True,
        media_limits=_AUDIO_LIMITS,
    ),
    ModelSpec(
        "wan2.2-t2v-plus",
        Family.T2V,
        "text to video, silent",
        ("480P", "1080P"),
        "1080P",
        (5,),
        5,
        800,
        pricing.WAN22_PLUS,
        default_size="1920*1080",
    ),
    ModelSpec(
        "wan2.1-t2v-turbo",
        Family.T2V,
        "fast text to video, silent",
        ("480P", "720P"),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN21_TURBO,
        default_size="1280*720",
        region_names={"cn": "wanx2.1-t2v-turbo"},
    ),
    ModelSpec(
        "wan2.1-t2v-plus",
        Family.T2V,
        "text to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN21_PLUS,
        default_size="1280*720",
        region_names={"cn": "wanx2.1-t2v-plus"},
    ),
    ModelSpec(
        "wan2.6-i2v",
        Family.I2V,
        "image to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        pricing.WAN26,
        audio=True,
        audio_url=True,
        shot_type=True,
        regions=("intl", "us", "cn"),
        region_names={"us": "wan2.6-i2v-us"},
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.6-i2v-flash",
        Family.I2V,
        "fast image to video, optional sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        _RANGE_2_15,
        5,
        1500,
        pricing.WAN26_I2V_FLASH,
        audio=True,
        audio_url=True,
        shot_type=True,
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.5-i2v-preview",
        Family.I2V,
        "image to video with sound",
        ("480P", "720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        pricing.WAN25,
        audio=True,
        audio_url=True,
        media_limits=f"img_url: {_IMAGE_LIMITS}; {_AUDIO_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-i2v-plus",
        Family.I2V,
        "image to video, silent",
        ("480P", "1080P"),
        "1080P",
        (5,),
        5,
        800,
        pricing.WAN22_PLUS,
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-i2v-flash",
        Family.I2V,
        "fast image to video, silent (Beijing only)",
        ("480P", "720P", "1080P"),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN22_FLASH,
        regions=("cn",),
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-i2v-turbo",
        Family.I2V,
        "fast image to video, silent",
        ("480P", "720P"),
        "720P",
        (3, 4, 5),
        5,
        800,
        pricing.WAN21_TURBO,
        region_names={"cn": "wanx2.1-i2v-turbo"},
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-i2v-plus",
        Family.I2V,
        "image to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN21_PLUS,
        region_names={"cn": "wanx2.1-i2v-plus"},
        media_limits=f"img_url: {_IMAGE_LIMITS}",
    ),
    ModelSpec(
        "wan2.2-kf2v-flash",
        Family.KF2V,
        "first/last frame to video, silent (Beijing only)",
        ("480P", "720P", "1080P"),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN22_FLASH,
        regions=("cn",),
        media_limits=f"first_frame_url, last_frame_url: {_FRAME_LIMITS}",
    ),
    ModelSpec(
        "wan2.1-kf2v-plus",
        Family.KF2V,
        "first/last frame to video, silent",
        ("720P",),
        "720P",
        (5,),
        5,
        800,
        pricing.WAN21_PLUS,
        region_names={"cn": "wanx2.1-kf2v-plus"},
        media_limits=f"first_frame_url, last_frame_url: {_FRAME_LIMITS}",
    ),
    ModelSpec(
        "wan2.6-r2v",
        Family.R2V,
        "characters from reference videos to video, sound, multi-shot",
        ("720P", "1080P"),
        "1080P",
        (5, 10),
        5,
        1500,
        pricing.WAN26_R2V,
        default_size="1920*1080",
        audio=True,
        shot_type=True,
        media_limits="reference_video_urls: 1-3 mp4/mov, 2-30 s, <= 100 MB each; "
        "name them character1, character2, ... in the prompt",
    ),
)

MODEL_INDEX: dict[str, ModelSpec] = {spec.id: spec for spec in MODELS}


def get_model(model_id: str) -> ModelSpec:
    return MODEL_INDEX[model_id]


def models_for(region: str | None = None, offered: Iterable[str] | None = None) -> tuple[ModelSpec, ...]:
    """The catalog narrowed to one DashScope region and/or a provider's offer."""
    keep = set(offered) if offered is not None else None
    return tuple(
        spec for spec in MODELS if (region is None or region in spec.regions) and (keep is None or spec.id in keep)
    )
