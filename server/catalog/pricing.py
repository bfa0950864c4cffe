"""List prices per second per resolution tier (with their sources and dates), and cost estimates from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel

from wan_video_mcp.server.catalog.media import KEEP_INPUT_LENGTH, VIDEO

if TYPE_CHECKING:
    # Only for the annotation: the request module imports the model table, which imports these prices.
    from wan_video_mcp.server.catalog.request import GenerationRequest

LEGACY_REFERENCE_SECONDS_MAX = 30.0  # a legacy reference video (wire-formats.md section 2)
# An estimate for converting the CNY list prices quoted for Beijing.
CNY_PER_USD = 7.1


@dataclass(frozen=True)
class Price:
    """A per-second list price per resolution tier: an estimate, with where it came from."""

    per_second: Mapping[str, float]
    currency: str
    source: str
    as_of: str
    silent_per_second: Mapping[str, float] | None = None  # when a silent video costs less
    note: str = ""
    official: bool = True  # False: no official list price was found; a reseller's figure stands in

    def usd(self, tier: str, *, silent: bool) -> float:
        table = self.silent_per_second if silent and self.silent_per_second else self.per_second
        value = table[tier]
        return value / CNY_PER_USD if self.currency == "CNY" else value


_S8 = "third-party quotes of Alibaba's price page (crazyrouter, lumenfall, runpod docs)"
_S7 = "Alibaba Cloud Model Studio pricing, Singapore"
_CN = "Alibaba Cloud Bailian pricing, Beijing, as quoted by third parties; converted at 7.1 CNY/USD"

WAN26 = Price({"720P": 0.10, "1080P": 0.15}, "USD", _S8, "2026-01")
WAN26_I2V_FLASH = Price(
    {"720P": 0.05, "1080P": 0.075},
    "USD",
    _S8,
    "2026-01",
    silent_per_second={"720P": 0.025, "1080P": 0.0375},
    note="silent (audio=false) costs half",
)
WAN26_R2V = Price(
    {"720P": 0.6, "1080P": 1.0},
    "CNY",
    _CN,
    "2025-12",
    note="billed on output seconds plus the reference videos' seconds",
)
WAN25 = Price({"480P": 0.30, "720P": 0.60, "1080P": 1.00}, "CNY", _CN, "2025-10")
WAN22_PLUS = Price({"480P": 0.14, "1080P": 0.70}, "CNY", _CN, "2025-10")
WAN22_FLASH = Price({"480P": 0.10, "720P": 0.20, "1080P": 0.48}, "CNY", _CN, "2025-10")
WAN21_TURBO = Price({"480P": 0.036, "720P": 0.036}, "USD", _S7, "2025-06")
WAN21_PLUS = Price({"720P": 0.10}, "USD", _S7, "2025-06")

# No official list price for wan2.7, wan3.0 or wan2.6-r2v-flash was found (reference/media-protocol.md section 7):
# these are resellers' figures, marked official=False and shown as estimates.
_APIYI = "reseller price (docs.apiyi.com); no official list price found"
WAN27 = Price({"720P": 0.084, "1080P": 0.14}, "USD", _APIYI, "2026-06", official=False)
WAN27_R2V = replace(
    WAN27, note="billed on output seconds plus the reference videos' seconds (fal.ai charges $0.10/s flat)"
)
WAN27_EDIT = replace(WAN27, note="billed on the input video's seconds plus the output's")
WAN30 = Price(
    {"480P": 0.03, "720P": 0.06, "1080P": 0.12},
    "USD",
    "apiyi's reseller price at '98% of official' (docs.apiyi.com), rounded up; no official list price found",
    "2026-10",
    note="the same with or without sound; input video seconds are billed too",
    official=False,
)
WAN30_PRIME = replace(
    WAN30,
    per_second={"480P": 0.0884, "720P": 0.182, "1080P": 0.364},
    source="reseller price (docs.venice.ai; apiyi lists $0.126 at 720P); no official list price found",
)
WAN26_R2V_FLASH = Price(
    {"720P": 0.05, "1080P": 0.075},
    "USD",
    "wan2.6 flash price quoted by third parties (crazyrouter, lumenfall); no r2v-flash price found",
    "2026-02",
    silent_per_second={"720P": 0.025, "1080P": 0.0375},
    note="billed on output seconds plus the reference videos' seconds; silent (audio=false) costs half",
    official=False,
)


class CostEstimate(BaseModel):
    """An estimate from list prices; the provider's bill is the truth."""

    amount_usd: float
    per_second_usd: float
    billed_seconds: float  # output seconds, plus the input video seconds the model bills (when measured)
    tier: str
    source: str
    as_of: str
    note: str = ""
    official_price: bool = True  # False: a reseller's price stands in for a list price nobody published
    input_seconds: float | None = None  # billed input video seconds, when measured
    amount_max_usd: float | None = None  # when part of the bill is not known yet: the most it can be
    breakdown: str = ""  # how the figure is made up, in words


def estimate_cost(request: GenerationRequest) -> CostEstimate:
    """The list-price cost of a validated request, in USD: output seconds plus billed input video seconds."""
    spec = request.spec
    tier = request.tier
    silent = request.audio is False and request.audio_url is None
    per_second = spec.price.usd(tier, silent=silent)
    notes = [spec.price.note] if spec.price.note else []
    if spec.price.currency == "CNY":
        notes.append(f"converted from CNY at {CNY_PER_USD}/USD")
    if not spec.price.official:
        notes.append("no official list price was found: this is a reseller's figure")
    output, output_max, measured_input, input_max = _billed_parts(request)
    known = output + (measured_input or 0.0)
    parts = [f"{_s(output)} s of output" + (f" (up to {_s(output_max)} s)" if output_max > output else "")]
    if measured_input is not None:
        parts.append(f"{_s(measured_input)} s of input video (measured)")
    elif input_max:
        parts.append(f"the input videos' seconds (not measured; up to {_s(input_max)} s)")
    most = output_max + (measured_input if measured_input is not None else input_max)
    if spec.total_seconds_max:  # wan3.0 bills input + output, which together are at most this
        most = min(most, max(known, spec.total_seconds_max))
    breakdown = f"{' + '.join(parts)} at ${per_second:.4g}/s ({tier})"
    if spec.billed_input:
        breakdown += f"; {spec.billed_input}"
    return CostEstimate(
        amount_usd=round(per_second * known, 4),
        per_second_usd=round(per_second, 5),
        billed_seconds=round(known, 2),
        tier=tier,
        source=spec.price.source,
        as_of=spec.price.as_of,
        note="; ".join(notes),
        official_price=spec.price.official,
        input_seconds=measured_input,
        amount_max_usd=round(per_second * most, 4) if most > known else None,
        breakdown=breakdown,
    )


def _s(seconds: float) -> str:
    return f"{seconds:g}"


def _billed_parts(request: GenerationRequest) -> tuple[float, float, float | None, float]:
    """(output seconds, the most output seconds, measured billed input seconds, the most unmeasured input seconds).

    The output is ``duration``, except videoedit's 0 (the input's length) and wan3.0's -1 (the model picks,
    at most ``total_seconds_max`` with the input). Input video seconds count only where the model bills them
    (``billed_input``) and only for its video references (wan2.7-i2v's first_clip is inside ``duration``).
    """
    spec = request.spec
    measured = request.input_video_seconds
    videos = _billed_videos(request)
    input_max = 0.0
    if videos and measured is None:
        input_max = sum(most for most in videos)
        for _, total in spec.media.seconds_total if spec.media else ():
            input_max = min(input_max, total)
    billed_input = measured if videos and spec.billed_input else None
    if not spec.billed_input:
        input_max = 0.0
    output = float(request.duration)
    if request.duration in spec.duration_specials:
        if request.duration == KEEP_INPUT_LENGTH:  # the input video is the output's length
            if measured is not None:
                return measured, measured, billed_input, input_max
            return 0.0, max(videos, default=0.0), billed_input, input_max
        top = float(spec.total_seconds_max or max(spec.plain_durations))
        longest = top - (measured or 0.0)
        return float(min(spec.plain_durations)), longest, billed_input, input_max
    return output, output, billed_input, input_max


def billed_video_inputs(request: GenerationRequest) -> list[tuple[str, float]]:
    """(url, the longest it may be) of each input that may be a video billed on top of the output: the media
    protocol's video items (not a first_clip, which is inside ``duration``), or the legacy references (30 s
    each; wan2.6-r2v-flash's mix images and videos, so any of them may be one)."""
    spec = request.spec
    if spec.media is not None:
        found = []
        for item in request.media or ():
            slot = spec.media.slot(item.type)
            if slot is not None and slot.kind == VIDEO and not slot.in_output:
                found.append((item.url, float(slot.seconds[1]) if slot.seconds else 0.0))
        return found
    return [(url, LEGACY_REFERENCE_SECONDS_MAX) for url in request.reference_video_urls or request.reference_urls or ()]


def _billed_videos(request: GenerationRequest) -> list[float]:
    return [most for _, most in billed_video_inputs(request)]
