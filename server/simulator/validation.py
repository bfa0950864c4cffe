"""What the service accepts: ``plan_submit`` validates a DashScope submit body against the catalog.

Over-long prompts and negative prompts are truncated silently, like the real API; an unknown
model answers 404 ``ModelNotFound``; a kf2v model on the video-generation path, or any other
model on the image2video path, answers 400 ``InvalidParameter`` "url error, please check url！";
an ``oss://`` URL without the header ``X-DashScope-OssResourceResolve: enable`` answers 400
``InvalidParameter`` with the message the reference quotes (``plans.MSG_OSS``). Media-protocol
models (wan2.7, wan3.0) are checked by ``media_validation``; wan2.6-r2v-flash's ``reference_urls``
take 1-5 image or video URLs. Every URL of the body is recorded in the plan (``SubmitPlan.inputs``)
for ``media`` to read once the submit is accepted.
"""

from __future__ import annotations

from typing import Any

from wan_video_mcp.server.catalog import (
    MAX_REFERENCE_URLS,
    MAX_REFERENCE_VIDEOS,
    MODELS,
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    TIERS,
    Family,
    ModelSpec,
    Protocol,
)
from wan_video_mcp.server.simulator.media_validation import plan_media_submit
from wan_video_mcp.server.simulator.plans import (
    AUDIO,
    IMAGE,
    VIDEO,
    VISUAL,
    ApiError,
    InputRef,
    SubmitPlan,
    check_url,
    checked_duration,
    invalid,
)

__all__ = ["MSG_URL", "WIRE_NAMES", "ApiError", "SubmitPlan", "plan_submit", "service_of"]

MSG_URL = "url error, please check url！"

# Every name a model answers to on the wire: catalog ids, snapshot ids and regional names (wanx2.1-*, *-us).
WIRE_NAMES: dict[str, ModelSpec] = {name: spec for spec in MODELS for name in (spec.id, *spec.region_names.values())}

# What each legacy media field holds, and how many URLs a list field takes.
_LEGACY_KINDS = {
    "img_url": IMAGE,
    "first_frame_url": IMAGE,
    "last_frame_url": IMAGE,
    "reference_video_urls": VIDEO,
    "reference_urls": VISUAL,
}
_LIST_MAX = {"reference_video_urls": MAX_REFERENCE_VIDEOS, "reference_urls": MAX_REFERENCE_URLS}
_VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")


def service_of(spec: ModelSpec) -> str:
    """The path's task name a model is submitted under: kf2v models go to image2video, the rest to video-generation."""
    return "image2video" if spec.family is Family.KF2V else "video-generation"


def looks_like_video(url: str) -> bool:
    """Whether a URL names a video file (before it is read: for reference_urls, which mix images and videos)."""
    return url.split("?", 1)[0].lower().endswith(_VIDEO_SUFFIXES)


def _wants_audio(spec: ModelSpec, audio: bool | None, audio_url: str | None) -> bool:
    if not spec.audio:
        return False
    if spec.id == "wan2.6-i2v-flash":  # here the audio switch beats audio_url
        return audio is not False
    return audio_url is not None or audio is not False


def plan_submit(service: str, body: Any, *, oss_resolve: bool = False) -> SubmitPlan:
    """Validate a submit body as the real service does; raise ``ApiError`` or return the plan.

    ``service`` is the path's task name: "video-generation" or "image2video"; ``oss_resolve``: the
    request carried ``X-DashScope-OssResourceResolve: enable`` (needed for oss:// URLs). Keys the
    service does not know (the SDK's ``extend_prompt``/``function``, unknown parameters) are
    ignored, as the real service ignores them. Media-protocol models (wan2.7, wan3.0) are checked
    by ``media_validation``.
    """
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    model_name = body.get("model")
    if model_name is None or model_name == "":
        raise ApiError(400, "BadRequest.EmptyModel", "Required parameter 'model' missing from request.")
    if not isinstance(model_name, str) or model_name not in WIRE_NAMES:
        raise ApiError(404, "ModelNotFound", "Model can not be found.")
    spec = WIRE_NAMES[model_name]
    if service != service_of(spec):
        raise invalid(MSG_URL)
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        raise ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise invalid("Input should be a valid dictionary: parameters")
    if spec.protocol is Protocol.MEDIA:
        return plan_media_submit(model_name, spec, inp, params, oss_resolve=oss_resolve)
    return _plan_legacy(model_name, spec, inp, params, oss_resolve)


def _legacy_inputs(spec: ModelSpec, inp: dict[str, Any], oss_resolve: bool) -> list[InputRef]:
    """The media fields of a legacy body (the catalog's family table says which), checked."""
    refs: list[InputRef] = []
    media = spec.inputs  # the media fields this model takes, and needs
    for name in media.media:
        kind = _LEGACY_KINDS[name]
        if name not in _LIST_MAX:
            url = check_url(
                inp.get(name), f"input.{name}", required=name in media.required_media, oss_resolve=oss_resolve
            )
            if url is not None:
                refs.append(InputRef(f"input.{name}", name, kind, url))
            continue
        urls, most = inp.get(name), _LIST_MAX[name]
        if not urls:
            raise invalid(f"Field required: input.{name}")
        if not isinstance(urls, list) or not 1 <= len(urls) <= most:
            raise invalid(f"input.{name} must be a list of 1 to {most} URLs.")
        for i, value in enumerate(urls):
            where = f"input.{name}[{i}]"
            url = check_url(value, where, required=True, oss_resolve=oss_resolve)
            assert url is not None
            refs.append(InputRef(where, name, kind, url))
    audio_url = check_url(inp.get("audio_url"), "input.audio_url", required=False, oss_resolve=oss_resolve)
    if audio_url is not None:
        refs.append(InputRef("input.audio_url", "audio_url", AUDIO, audio_url))
    return refs


def _plan_legacy(
    model_name: str, spec: ModelSpec, inp: dict[str, Any], params: dict[str, Any], oss_resolve: bool
) -> SubmitPlan:
    prompt = inp.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise invalid("Input should be a valid string: input.prompt")
    if spec.prompt_required and not (prompt and prompt.strip()):
        raise invalid("Field required: input.prompt")
    negative = inp.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise invalid("Input should be a valid string: input.negative_prompt")

    refs = _legacy_inputs(spec, inp, oss_resolve)
    references = sum(
        1
        for ref in refs
        if ref.role == "reference_video_urls" or (ref.role == "reference_urls" and looks_like_video(ref.url))
    )

    if spec.uses_size:
        size = params.get("size", spec.default_size)
        if size not in spec.sizes:
            raise invalid(f"The size is not match the allowed size list of {model_name}: {', '.join(spec.sizes)}.")
        tier = spec.tier_of(size)
    else:
        resolution = params.get("resolution", spec.default_tier)
        tier = resolution.upper() if isinstance(resolution, str) else resolution
        if tier not in spec.tiers:
            raise invalid(f"The resolution is not supported by {model_name}; allowed: {', '.join(spec.tiers)}.")
        size = TIERS[tier][0]  # the 16:9 (or 1:1 free) size of the tier

    duration = checked_duration(model_name, spec, params, ", ".join(map(str, spec.durations)))

    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX):
        raise invalid(f"The seed must be an integer in [0, {SEED_MAX}].")
    shot_type = params.get("shot_type")
    if shot_type is not None and shot_type not in ("single", "multi"):
        raise invalid("The shot_type must be 'single' or 'multi'.")
    for name in ("prompt_extend", "watermark", "audio"):
        if name in params and not isinstance(params[name], bool):
            raise invalid(f"Input should be a valid boolean: parameters.{name}")

    audio_url = inp.get("audio_url") or None
    return SubmitPlan(
        model_name=model_name,
        spec=spec,
        prompt=(prompt or "")[: spec.prompt_max],
        negative_prompt=negative[:NEGATIVE_PROMPT_MAX] if negative else None,
        size=size,
        tier=tier,
        duration=int(duration),
        audio=_wants_audio(spec, params.get("audio"), audio_url),
        prompt_extend=params.get("prompt_extend", True),
        reference_videos=references,
        seed=seed,
        inputs=tuple(refs),
    )
