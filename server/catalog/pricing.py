"""List prices per second per resolution tier (with their sources and dates), and cost estimates from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    # Only for the annotation: the request module imports the model table, which imports these prices.
    from wan_video_mcp.server.catalog.request import GenerationRequest

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


class CostEstimate(BaseModel):
    """An estimate from list prices; the provider's bill is the truth."""

    amount_usd: float
    per_second_usd: float
    billed_seconds: int
    tier: str
    source: str
    as_of: str
    note: str = ""


def estimate_cost(request: GenerationRequest) -> CostEstimate:
    """The list-price cost of a validated request, in USD."""
    spec = request.spec
    tier = request.tier
    silent = request.audio is False and request.audio_url is None
    per_second = spec.price.usd(tier, silent=silent)
    notes = [spec.price.note] if spec.price.note else []
    if spec.price.currency == "CNY":
        notes.append(f"converted from CNY at {CNY_PER_USD}/USD")
    return CostEstimate(
        amount_usd=round(per_second * request.duration, 4),
        per_second_usd=round(per_second, 5),
        billed_seconds=request.duration,
        tier=tier,
        source=spec.price.source,
        as_of=spec.price.as_of,
        note="; ".join(notes),
    )
