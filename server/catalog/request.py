"""The validated request types: what ``validate`` hands to pricing, the engine and the providers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from wan_video_mcp.server.catalog.models import MODEL_INDEX, Family, ModelSpec
from wan_video_mcp.server.catalog.rules import WAIT_SECONDS_DEFAULT


class MediaItem(BaseModel):
    """One item of the media protocol's ``input.media``: the API's own ``{type, url, reference_voice?}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    url: str
    reference_voice: str | None = None


class InputSource(BaseModel):
    """A local file or an earlier video given as an input: the file read, the bytes checked, what was sent for it.

    Kept with the task, so that after a restart it is known which file was sent, and an upload is never repeated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    given: str  # the value as the agent gave it (a path, a file:// URI, a wan-video:// URI, a task id)
    path: str  # the real path that was read
    staged: str  # the copy of the bytes that were checked: what is uploaded or inlined
    sha256: str
    size_bytes: int
    kind: str  # image, video, audio, file
    format: str | None = None
    sent: str | None = None  # what the request carries in its place: an oss:// upload or a data: URL
    expires_at: float | None = None  # until when the provider can read an upload


class GenerationRequest(BaseModel):
    """A validated, normalized generation request: defaults filled, ready for a provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    family: Family
    prompt: str | None = None
    negative_prompt: str | None = None
    size: str | None = None
    resolution: str | None = None
    ratio: str | None = None  # media protocol; None: the output follows the input
    duration: int
    audio: bool | None = None
    audio_url: str | None = None
    audio_setting: str | None = None
    prompt_extend: bool = True
    shot_type: str | None = None
    watermark: bool = False
    seed: int | None = None
    img_url: str | None = None
    first_frame_url: str | None = None
    last_frame_url: str | None = None
    reference_video_urls: tuple[str, ...] | None = None
    reference_urls: tuple[str, ...] | None = None
    media: tuple[MediaItem, ...] | None = None
    # Seconds of input video the provider bills, when measured before the submit (not part of the request's
    # identity: the same inputs measure the same).
    input_video_seconds: float | None = None
    # The local files and earlier videos among the inputs (not part of the identity: their bytes are, by sha256).
    sources: tuple[InputSource, ...] | None = None

    @property
    def spec(self) -> ModelSpec:
        return MODEL_INDEX[self.model]

    @property
    def tier(self) -> str:
        return self.spec.tier_of(self.size or self.resolution or "")

    def fingerprint(self) -> str:
        """A stable hash of the normalized parameters: identical requests share it."""
        data = self.model_dump(mode="json", exclude={"input_video_seconds", "sources"})
        # A local input is the same input wherever it lies and however it was sent: its bytes decide.
        same = {url: f"sha256:{src.sha256}" for src in self.sources or () for url in (src.given, src.sent) if url}
        if same:
            data = {name: _replaced(value, same) if name in URL_FIELDS else value for name, value in data.items()}
        # Fields added after tasks were stored hash as they did then when unused.
        for name in ("ratio", "audio_setting", "reference_urls", "media"):
            if data[name] is None:
                del data[name]
        # The service's own defaults (sound on, a single shot) are left unsent, but an explicit
        # audio=true or shot_type="single" asks for the same video and must hash the same.
        if self.spec.audio and data["audio"] is None:
            data["audio"] = True
        if self.spec.shot_type and data["shot_type"] is None:
            data["shot_type"] = "single"
        if self.spec.audio_setting and data.get("audio_setting") is None:
            data["audio_setting"] = "auto"
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_urls(self, urls: Mapping[str, str]) -> GenerationRequest:
        """This request with each input URL that is a key of ``urls`` replaced by its value."""

        def new(url: str | None) -> str | None:
            return urls.get(url, url) if url is not None else None

        update: dict[str, Any] = {name: new(getattr(self, name)) for name in SINGLE_URL_FIELDS}
        for name in URL_LIST_FIELDS:
            listed = getattr(self, name)
            update[name] = tuple(urls.get(url, url) for url in listed) if listed else listed
        if self.media:
            update["media"] = tuple(
                item.model_copy(
                    update={"url": urls.get(item.url, item.url), "reference_voice": new(item.reference_voice)}
                )
                for item in self.media
            )
        return self.model_copy(update=update)

    def summary(self) -> str:
        return summary_of(self.model_dump(include={"model", "size", "resolution", "ratio", "duration"}))


SINGLE_URL_FIELDS = ("audio_url", "img_url", "first_frame_url", "last_frame_url")
URL_LIST_FIELDS = ("reference_video_urls", "reference_urls")
URL_FIELDS = (*SINGLE_URL_FIELDS, *URL_LIST_FIELDS, "media")


def _replaced(value: Any, urls: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return urls.get(value, value)
    if isinstance(value, list):
        return [_replaced(item, urls) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, urls) for key, item in value.items()}
    return value


def summary_of(request: Mapping[str, Any]) -> str:
    """'wan2.7-t2v 1080P 16:9 5s' for a request, or its stored JSON (without validating a whole stored request,
    whose data: URLs may be megabytes, each time a task is shown)."""
    model = str(request.get("model"))
    shape = request.get("size") or " ".join(filter(None, (request.get("resolution"), request.get("ratio"))))
    duration = request.get("duration")
    if not shape or duration is None:  # an adopted task's request may hold nothing more
        return model
    spec = MODEL_INDEX.get(model)
    seconds = (spec.duration_specials.get(duration) if spec and isinstance(duration, int) else None) or f"{duration}s"
    return f"{model} {shape} {seconds}"


class ValidatedCall(BaseModel):
    """What ``validate`` returns: the request plus the server's own options."""

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    wait_seconds: int = WAIT_SECONDS_DEFAULT
    idempotency_key: str | None = None
    force_new: bool = False
    dry_run: bool = False
    principal: str | None = None  # who asks (server/auth.py); None: this machine's one local user
