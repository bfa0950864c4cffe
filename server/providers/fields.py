"""DashScope's ``input`` / ``parameters`` split of a validated request (dashscope, newapi and vtrix all send it),
and whether it needs DashScope's oss:// header (which only the dashscope provider can send: gateways refuse it)."""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog import GenerationRequest, Protocol
from wan_video_mcp.server.catalog.measured import request_inputs
from wan_video_mcp.server.catalog.rules import is_local
from wan_video_mcp.server.errors import ProviderError

__all__ = ["needs_oss_resolve", "unsent_local_input", "unsent_local_error", "wire_fields"]

# A field is sent when it has a value: the validator fills in the model's defaults for resolution, ratio, duration,
# prompt_extend and watermark (sent, so the request says what it asked for); switches without a default (audio,
# audio_setting, seed, shot_type) are sent only when given, so the service's own defaults apply.
_LEGACY_PARAMETERS = ("duration", "prompt_extend", "watermark", "seed", "audio", "shot_type")
_MEDIA_PARAMETERS = ("resolution", "ratio", "duration", "audio_setting", "audio", "prompt_extend", "watermark", "seed")


def wire_fields(request: GenerationRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """DashScope's ``input`` and ``parameters`` for a validated request (None values omitted)."""
    spec = request.spec
    inputs: dict[str, Any] = {}
    if spec.protocol is Protocol.MEDIA:
        # The media protocol: media is the API's own list, resolution + ratio replace size.
        for name in ("prompt", "negative_prompt", "audio_url"):
            if (value := getattr(request, name)) is not None:
                inputs[name] = value
        if request.media:
            inputs["media"] = [item.model_dump(exclude_none=True) for item in request.media]
        names: tuple[str, ...] = _MEDIA_PARAMETERS
    else:
        # The family's media fields (the catalog's table) go into ``input``.
        for name in ("prompt", "negative_prompt", *spec.inputs.media, "audio_url"):
            value = getattr(request, name)
            if value is not None:
                inputs[name] = list(value) if isinstance(value, tuple) else value
        # t2v and r2v take an exact width*height; i2v and kf2v take a tier such as "720P".
        names = ("size" if spec.uses_size else "resolution", *_LEGACY_PARAMETERS)
    parameters = {name: value for name in names if (value := getattr(request, name)) is not None}
    return inputs, parameters


def _input_urls(request: GenerationRequest) -> list[str]:
    return [url for _, url, _, _ in request_inputs(request)]


def needs_oss_resolve(request: GenerationRequest) -> bool:
    """Whether any input is an ``oss://`` temporary upload, which DashScope reads only when told to."""
    return any(url.startswith("oss://") for url in _input_urls(request))


def unsent_local_input(request: GenerationRequest) -> str | None:
    """An input that is still a local file or an earlier video (the engine sends those first: a guard)."""
    return next((url for url in _input_urls(request) if is_local(url)), None)


def unsent_local_error(url: str) -> ProviderError:
    return ProviderError(
        f"the local input {url[:80]!r} was not uploaded before the submit (a server bug); nothing was sent",
        provider_code="LocalInputNotSent",
        retryable=False,
        created=False,
    )
