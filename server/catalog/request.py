"""The validated request types: what ``validate`` hands to pricing, the engine and the providers."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from wan_video_mcp.server.catalog.models import MODEL_INDEX, Family, ModelSpec
from wan_video_mcp.server.catalog.rules import WAIT_SECONDS_DEFAULT


class GenerationRequest(BaseModel):
    """A validated, normalized generation request: defaults filled, ready for a provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    family: Family
    prompt: str | None = None
    negative_prompt: str | None = None
    size: str | None = None
    resolution: str | None = None
    duration: int
    audio: bool | None = None
    audio_url: str | None = None
    prompt_extend: bool = True
    shot_type: str | None = None
    watermark: bool = False
    seed: int | None = None
    img_url: str | None = None
    first_frame_url: str | None = None
    last_frame_url: str | None = None
    reference_video_urls: tuple[str, ...] | None = None

    @property
    def spec(self) -> ModelSpec:
        return MODEL_INDEX[self.model]

    @property
    def tier(self) -> str:
        return self.spec.tier_of(self.size or self.resolution or "")

    def fingerprint(self) -> str:
        """A stable hash of the normalized parameters: identical requests share it."""
        data = self.model_dump(mode="json")
        # The service's own defaults (sound on, a single shot) are left unsent, but an explicit
        # audio=true or shot_type="single" asks for the same video and must hash the same.
        if self.spec.audio and data["audio"] is None:
            data["audio"] = True
        if self.spec.shot_type and data["shot_type"] is None:
            data["shot_type"] = "single"
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def summary(self) -> str:
        shape = self.size or self.resolution
        return f"{self.model} {shape} {self.duration}s"


class ValidatedCall(BaseModel):
    """What ``validate`` returns: the request plus the server's own options."""

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    wait_seconds: int = WAIT_SECONDS_DEFAULT
    idempotency_key: str | None = None
    force_new: bool = False
    dry_run: bool = False
