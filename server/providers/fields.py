"""DashScope's ``input`` / ``parameters`` split of a validated request, which dashscope, newapi and vtrix all send."""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog import FAMILY_INPUTS, GenerationRequest

__all__ = ["wire_fields"]


def wire_fields(request: GenerationRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """DashScope's ``input`` and ``parameters`` for a validated request (None values omitted)."""
    inputs: dict[str, Any] = {}
    # The family's media fields (the catalog's table) go into ``input``.
    for name in ("prompt", "negative_prompt", *FAMILY_INPUTS[request.family].media, "audio_url"):
        value = getattr(request, name)
        if value is not None:
            inputs[name] = list(value) if isinstance(value, tuple) else value
    # t2v and r2v take an exact width*height; i2v and kf2v take a tier such as "720P".
    # Optional switches are sent only when set, so the service's own defaults apply otherwise.
    shape = "size" if request.spec.uses_size else "resolution"
    parameters: dict[str, Any] = {}
    for name in (shape, "duration", "prompt_extend", "watermark", "seed", "audio", "shot_type"):
        value = getattr(request, name)
        if value is not None:
            parameters[name] = value
    return inputs, parameters
