"""What a model is: ``ModelSpec`` and the vocabulary it is written in (families, protocols, tiers, sizes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from wan_video_mcp.server.catalog.media import (
    IMAGE,
    KF2V_FRAME_LIMITS,
    LEGACY_FILE_LIMITS,
    MEDIA_FILE_LIMITS,
    FileLimits,
    MediaRules,
)
from wan_video_mcp.server.catalog.pricing import Price

TIERS: dict[str, tuple[str, ...]] = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
SIZE_TIER = {size: tier for tier, sizes in TIERS.items() for size in sizes}
# The media protocol's output W*H per tier and ratio: 720P/1080P x the five wan2.7 ratios from the reference
# (section 4, note 4:3 differs from wan2.6); 480P and 21:9 (wan3.0 only) are not published and follow the same
# rule (the tier's area at that aspect, sides multiples of 16) - used by the simulator and shown as estimates.
MEDIA_SIZES: dict[str, dict[str, str]] = {
    "480P": {
        "16:9": "832*480",
        "9:16": "480*832",
        "1:1": "624*624",
        "4:3": "736*544",
        "3:4": "544*736",
        "21:9": "960*416",
    },
    "720P": {
        "16:9": "1280*720",
        "9:16": "720*1280",
        "1:1": "960*960",
        "4:3": "1104*832",
        "3:4": "832*1104",
        "21:9": "1472*624",
    },
    "1080P": {
        "16:9": "1920*1080",
        "9:16": "1080*1920",
        "1:1": "1440*1440",
        "4:3": "1648*1248",
        "3:4": "1248*1648",
        "21:9": "2208*944",
    },
}


class Family(StrEnum):
    T2V = "t2v"  # text to video (legacy: size)
    I2V = "i2v"  # image to video (legacy: img_url + resolution)
    KF2V = "kf2v"  # first/last frame to video: first_frame_url (+ last_frame_url) + resolution
    R2V = "r2v"  # reference videos to video (legacy: reference_video_urls + size)
    R2V_MIXED = "r2v-mixed"  # reference images and videos to video: reference_urls + size (wan2.6-r2v-flash)
    EDIT = "videoedit"  # edit a video, optionally after reference images (media protocol)
    OMNI = "all-in-one"  # wan3.0: text, frames, references, a document or a page, edit and extend


class Protocol(StrEnum):
    LEGACY = "legacy"  # wan2.1-2.6: one field per input (img_url, ...), size or resolution
    MEDIA = "media"  # wan2.7 / wan3.0: input.media[] of {type, url}, resolution + ratio


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
    Family.R2V_MIXED: FamilyInputs(("reference_urls",), ("reference_urls",), uses_size=True, prompt_required=True),
}
# Every media field of generate_video: the legacy families' fields, then the media protocol's list.
MEDIA_FIELDS: tuple[str, ...] = (
    *dict.fromkeys(name for f in FAMILY_INPUTS.values() for name in f.media),
    "media",
)


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
    # The media protocol (wan2.7 / wan3.0); legacy models keep the defaults.
    protocol: Protocol = Protocol.LEGACY
    media: MediaRules | None = None  # what the model takes in input.media (None: no media list)
    ratios: tuple[str, ...] = ()  # the `ratio` values it takes (none: the output follows the input)
    default_ratio: str | None = None  # None with ratios: the output follows the input unless one is given
    ratio_ignored_with: tuple[str, ...] = ()  # media types that make the service ignore `ratio` (refused here)
    duration_specials: Mapping[int, str] = field(default_factory=dict)  # e.g. 0: keep the input's length
    video_duration_max: int | None = None  # the longest output when any reference video is given
    total_seconds_max: int | None = None  # input video seconds + output seconds at most this
    prompt_need: str = ""  # media protocol: "required", "optional" or "prompt or media"
    negative_prompt: bool = True
    audio_setting: bool = False  # takes audio_setting auto/origin (keep the source's sound)
    extend_required_with: tuple[str, ...] = ()  # media types that need prompt_extend=true
    preview: bool = False
    snapshot_of: str | None = None  # a dated snapshot id: the model it pins
    billed_input: str = ""  # how input video seconds are billed, in words ("" when they are not)

    @property
    def inputs(self) -> FamilyInputs:
        if self.protocol is Protocol.LEGACY:
            return FAMILY_INPUTS[self.family]
        takes = ("media",) if self.media else ()
        needed = ("media",) if self.media and self.media.required else ()
        return FamilyInputs(takes, needed, uses_size=False, prompt_required=self.prompt_need == "required")

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
    def plain_durations(self) -> tuple[int, ...]:
        """The durations that are lengths in seconds (not a special value such as 0 or -1)."""
        return tuple(d for d in self.durations if d not in self.duration_specials)

    @property
    def duration_range(self) -> tuple[int, int] | None:
        """(first, last) when the plain durations are a run of more than three consecutive seconds, else None."""
        d = self.plain_durations
        if len(d) > 3 and list(d) == list(range(d[0], d[-1] + 1)):
            return d[0], d[-1]
        return None

    @property
    def duration_text(self) -> str:
        d = self.plain_durations
        if len(d) == 1:
            text = f"fixed {d[0]}"
        elif self.duration_range:
            text = f"{d[0]}-{d[-1]}"
        else:
            text = "/".join(map(str, d))
        specials = ", ".join(f"{value} = {meaning}" for value, meaning in self.duration_specials.items())
        return f"{text} ({specials})" if specials else text

    @property
    def sound(self) -> bool:
        """Whether its videos have sound (every media-protocol model makes it; legacy ones where `audio` is)."""
        return self.audio or self.protocol is Protocol.MEDIA

    @property
    def audio_url_seconds(self) -> tuple[float, float]:
        """How long an audio_url may be: 2-30 s on the media protocol (wan2.7-t2v), 3-30 s on the legacy one."""
        return (2, 30) if self.protocol is Protocol.MEDIA else (3, 30)

    def file_limits(self, kind: str) -> FileLimits | None:
        """The documented formats, size and pixels of an input file of ``kind`` (None: nothing to check)."""
        if self.protocol is Protocol.MEDIA:
            return MEDIA_FILE_LIMITS.get(kind)
        if kind == IMAGE and self.family is Family.KF2V:
            return KF2V_FRAME_LIMITS
        return LEGACY_FILE_LIMITS.get(kind)

    def wire_name(self, region: str) -> str:
        return self.region_names.get(region, self.id)

    def tier_of(self, size_or_resolution: str) -> str:
        return SIZE_TIER.get(size_or_resolution, size_or_resolution)

    def output_size(self, tier: str, ratio: str | None) -> str | None:
        """The W*H the service renders for a tier and ratio (None: it follows the input's aspect)."""
        if ratio is None or ratio == "adaptive":
            return None
        return MEDIA_SIZES[tier][ratio]
