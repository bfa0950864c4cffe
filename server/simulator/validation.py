"""What the service accepts: ``plan_submit`` validates a DashScope submit body against the catalog.

Over-long prompts and negative prompts are truncated silently, like the real API; an unknown
model answers 404 ``ModelNotFound``; a kf2v model on the video-generation path, or any other
model on the image2video path, answers 400 ``InvalidParameter`` "url error, please check url！".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wan_video_mcp.server.catalog import MODELS, NEGATIVE_PROMPT_MAX, SEED_MAX, TIERS, Family, ModelSpec

MSG_URL = "url error, please check url！"


class ApiError(Exception):
    """An error answer of the service: HTTP status, DashScope code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# Every name a model answers to on the wire: catalog ids and regional names (wanx2.1-*, *-us).
WIRE_NAMES: dict[str, ModelSpec] = {name: spec for spec in MODELS for name in (spec.id, *spec.region_names.values())}


def service_of(spec: ModelSpec) -> str:
    """The path's task name a model is submitted under: kf2v models go to image2video, the rest to video-generation."""
    return "image2video" if spec.family is Family.KF2V else "video-generation"


@dataclass(frozen=True)
class SubmitPlan:
    """A submit the service accepted: what to simulate, with the real service's defaults filled in."""

    model_name: str  # as sent (wanx2.1-*, *-us and catalog ids are all accepted)
    spec: ModelSpec
    prompt: str  # truncated to the model's maximum; "" when none was given
    negative_prompt: str | None
    size: str  # the output W*H
    tier: str
    duration: int
    audio: bool
    prompt_extend: bool
    reference_videos: int = 0
    seed: int | None = None

    @property
    def width(self) -> int:
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("*")[1])

    @property
    def generation(self) -> str:
        return self.spec.id.split("-")[0]  # "wan2.6", "wan2.5", ...


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def _check_url(value: Any, name: str, *, required: bool) -> None:
    if value is None or value == "":
        if required:
            raise _invalid(f"Field required: {name}")
        return
    if not isinstance(value, str):
        raise _invalid(f"Input should be a valid string: {name}")
    if not value.startswith(("http://", "https://", "oss://", "data:")):
        raise ApiError(400, "InvalidURL", f"Invalid URL provided in your request: {name}")


def _wants_audio(spec: ModelSpec, audio: bool | None, audio_url: str | None) -> bool:
    if not spec.audio:
        return False
    if spec.id == "wan2.6-i2v-flash":  # here the audio switch beats audio_url
        return audio is not False
    return audio_url is not None or audio is not False


def plan_submit(service: str, body: Any) -> SubmitPlan:
    """Validate a submit body as the real service does; raise ``ApiError`` or return the plan.

    ``service`` is the path's task name: "video-generation" or "image2video".
    Keys the service does not know (the SDK's ``extend_prompt``/``function``, unknown
    parameters) are ignored, as the real service ignores them.
    """
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    model_name = body.get("model")
    if model_name is None or model_name == "":
        raise ApiError(400, "BadRequest.EmptyModel", "Required parameter 'model' missing from request.")
    if not isinstance(model_name, str) or model_name not in WIRE_NAMES:
        raise ApiError(404, "ModelNotFound", "Model can not be found.")
    spec = WIRE_NAMES[model_name]
    if service != service_of(spec):
        raise _invalid(MSG_URL)
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        raise ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _invalid("Input should be a valid dictionary: parameters")

    prompt = inp.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise _invalid("Input should be a valid string: input.prompt")
    if spec.prompt_required and not (prompt and prompt.strip()):
        raise _invalid("Field required: input.prompt")
    negative = inp.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise _invalid("Input should be a valid string: input.negative_prompt")

    references = 0
    media = spec.inputs  # the catalog's family table: the media fields this model takes, and needs
    for name in media.media:
        if name != "reference_video_urls":
            _check_url(inp.get(name), f"input.{name}", required=name in media.required_media)
            continue
        urls = inp.get(name)
        if not urls:
            raise _invalid("Field required: input.reference_video_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= 3:
            raise _invalid("input.reference_video_urls must be a list of 1 to 3 URLs.")
        for i, url in enumerate(urls):
            _check_url(url, f"input.reference_video_urls[{i}]", required=True)
        references = len(urls)
    audio_url = inp.get("audio_url") or None
    _check_url(audio_url, "input.audio_url", required=False)

    if spec.uses_size:
        size = params.get("size", spec.default_size)
        if size not in spec.sizes:
            raise _invalid(f"The size is not match the allowed size list of {model_name}: {', '.join(spec.sizes)}.")
        tier = spec.tier_of(size)
    else:
        resolution = params.get("resolution", spec.default_tier)
        tier = resolution.upper() if isinstance(resolution, str) else resolution
        if tier not in spec.tiers:
            raise _invalid(f"The resolution is not supported by {model_name}; allowed: {', '.join(spec.tiers)}.")
        size = TIERS[tier][0]  # the 16:9 (or 1:1 free) size of the tier

    duration = params.get("duration", spec.default_duration)
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or duration != int(duration)
        or int(duration) not in spec.durations
    ):
        allowed = ", ".join(map(str, spec.durations))
        raise _invalid(f"The duration is not supported by {model_name}; allowed: {allowed}.")

    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX):
        raise _invalid(f"The seed must be an integer in [0, {SEED_MAX}].")
    shot_type = params.get("shot_type")
    if shot_type is not None and shot_type not in ("single", "multi"):
        raise _invalid("The shot_type must be 'single' or 'multi'.")
    for name in ("prompt_extend", "watermark", "audio"):
        if name in params and not isinstance(params[name], bool):
            raise _invalid(f"Input should be a valid boolean: parameters.{name}")

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
    )
