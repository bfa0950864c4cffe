"""Prompts and completions: guidance for writing a Wan prompt, the prompt guide, and argument completion for
them and for task URIs.

The recipe follows Alibaba's own prompt guide ("Model Studio: Wan video generation prompts recipe",
alibabacloud.com/blog/602777, read 2026-12): subject + scene + motion, then aesthetic control and style; for image
inputs, motion and camera only. The model's own limits (prompt length, sound, multi-shot) come from the catalog.
The prompt guide's text is the catalog's too (``prompt_guide`` in server/catalog/listing.py, also in the
wan-video://models resource); ``wan_prompt_guide`` renders it and adds one model's own rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from wan_video_mcp.server.catalog import DEFAULT_MODEL, NEGATIVE_PROMPT_MAX, Family, ModelSpec, Protocol
from wan_video_mcp.server.catalog.listing import media_names, prompt_guide
from wan_video_mcp.tools.sdk_compat import add_request_handler
from wan_video_mcp.tools.storyboard import STORYBOARD_URI, STORYBOARD_VIDEO_URI
from wan_video_mcp.tools.view import TASK_URI, VIDEO_URI

PROMPT_NAME = "wan_video_prompt"
GUIDE_NAME = "wan_prompt_guide"
PROMPT_NAMES = (PROMPT_NAME, GUIDE_NAME)
TASK_TEMPLATES = (TASK_URI, VIDEO_URI)
STORYBOARD_TEMPLATES = (STORYBOARD_URI, STORYBOARD_VIDEO_URI)
ID_ARGUMENTS = {**dict.fromkeys(TASK_TEMPLATES, "task_id"), **dict.fromkeys(STORYBOARD_TEMPLATES, "storyboard_id")}
COMPLETION_LIMIT = 100  # the spec's maximum number of values per completion

RECIPES = {
    Family.T2V: "Write it as Subject (with a short description) + Scene (foreground, background, light) + Motion "
    "(what moves, how fast, how far), then aesthetic control (shot size, camera angle and movement, lens, light, "
    "colour) and a style (e.g. cinematic, anime, watercolour).",
    Family.I2V: "The image already fixes subject, scene and style: describe only the motion (what moves, how, how "
    "fast) and the camera (push in, pan, orbit, or 'fixed camera'), plus sound if the model makes any.",
    Family.KF2V: "The two frames fix the start and the end: describe briefly how the first becomes the last "
    "(motion and camera during the transition).",
    Family.R2V: "Name the people or things of the reference videos character1, character2, ... in the order of "
    "reference_video_urls, and describe their actions, lines and the scene.",
    Family.R2V_MIXED: "Name the people or things of the references character1, character2, ... in the order of "
    "reference_urls, and describe their actions, lines and the scene.",
    Family.EDIT: "Say what to change in the input video (a style, an object, clothes from a reference image) and "
    "what must stay; name reference images Image 1, Image 2, ... in the order of media.",
    Family.OMNI: "Describe the whole video. Name the inputs Image 1, Video 1, Audio 1, ... counted per type in the "
    "order of media; to edit or extend a reference video, say which (extending needs ratio 'adaptive').",
}
# The media protocol names references per type in media order, not character1, character2, ...
MEDIA_RECIPES = {
    Family.R2V: "Name the references Image 1, Image 2, ... and Video 1, Video 2, ... (counted per type in the "
    "order of media), and describe their actions, lines and the scene.",
}


def _guidance(idea: str, spec: ModelSpec, duration: str | None) -> str:
    seconds = duration or str(spec.default_duration)
    lines = [
        f"Write a prompt for the Wan model {spec.id} ({spec.family.value}, {seconds} s) that shows: {idea.strip()}",
        "",
        _recipe(spec),
        f"Keep it under {spec.prompt_max} characters: a longer prompt is rejected, not shortened.",
        "Describe motion that fits the length: one or two clear actions for 5 s, a short sequence for 10-15 s.",
    ]
    if spec.sound:
        lines.append("This model makes sound: describe ambience, effects and any spoken line (in quotes).")
    else:
        lines.append("This model makes silent video: leave sound out of the prompt.")
    if spec.protocol is Protocol.MEDIA:
        lines.append("For several shots, write them into the prompt: 'Shot 1 [0-3 s] ...', 'Shot 2 [3-6 s] ...'.")
    elif spec.shot_type:
        lines.append(
            "For several shots set shot_type='multi' (with prompt_extend=true) and write the prompt as "
            "'Shot 1 [0-3s] ...', 'Shot 2 [3-6s] ...'."
        )
    if spec.negative_prompt:
        lines.append(f"Put what must not appear in negative_prompt (at most {NEGATIVE_PROMPT_MAX} characters).")
    lines += [
        f"Then call generate_video with model='{spec.id}' and dry_run=true to check the request and its price; "
        "if the user agrees, call it again without dry_run.",
    ]
    return "\n".join(lines)


def _recipe(spec: ModelSpec) -> str:
    return (MEDIA_RECIPES.get(spec.family) if spec.protocol is Protocol.MEDIA else None) or RECIPES[spec.family]


def _model_rules(spec: ModelSpec) -> list[str]:
    """One model's own rules for its prompt: length, negative_prompt, sound, shots, how to name its inputs."""
    need = "required" if spec.prompt_required else "optional"
    lines = [
        f"For {spec.id} ({spec.family.value}):",
        f"- Prompt: at most {spec.prompt_max} characters ({need}); a longer one is refused, not shortened.",
        f"- Focus: {_recipe(spec)}",
        f"- negative_prompt: at most {NEGATIVE_PROMPT_MAX} characters."
        if spec.negative_prompt
        else "- negative_prompt: not taken; describe what should be there instead.",
    ]
    lines.append(f"- Sound: {_sound(spec)}")
    if spec.protocol is Protocol.MEDIA:
        lines.append(
            "- Shots: no shot_type; write them into the prompt (the wan2.7 syntax): "
            "'Shot 1 [0-3 s]: ...', 'Shot 2 [3-6 s]: ...'."
        )
    elif spec.shot_type:
        lines.append("- Shots: shot_type='multi' for several (needs prompt_extend=true, the default).")
    else:
        lines.append("- Shots: one continuous shot.")
    if named := media_names(spec):
        numbered = ", ".join(f"{name} 1" for name in dict.fromkeys(named))
        lines.append(f"- Inputs: call them {numbered}, ... counted per type in the order of media.")
    elif spec.family in (Family.R2V, Family.R2V_MIXED):
        field = "reference_urls" if spec.family is Family.R2V_MIXED else "reference_video_urls"
        lines.append(f"- Inputs: call them character1, character2, ... in the order of {field}.")
    return lines


def _sound(spec: ModelSpec) -> str:
    if not spec.sound:
        return "silent video; leave sound out of the prompt."
    text = "made from the prompt: spoken lines in quotes with their speaker, ambient sounds, music."
    if spec.audio_url:
        low, high = spec.audio_url_seconds
        text += f" audio_url (wav/mp3, {low:g}-{high:g} s) drives it instead."
    slots = spec.media.slots if spec.media else ()
    if any(slot.type == "driving_audio" for slot in slots):
        text += " A driving_audio media item drives it instead."
    if any(slot.voice for slot in slots):
        text += " reference_voice on a reference sets its timbre."
    if spec.audio_setting:
        text += " audio_setting='origin' keeps the input video's sound."
    return text


def _guide(models: tuple[ModelSpec, ...], spec: ModelSpec | None) -> str:
    lines = ["A guide to writing prompts for Wan video models."]
    if spec is not None:
        lines += ["", *_model_rules(spec)]
    lines.append("")
    lines += [f"{key.replace('_', ' ').capitalize()}: {text}" for key, text in prompt_guide(models).items()]
    lines += ["", "Check a prompt with generate_video and dry_run=true: a free check of the request and its price."]
    return "\n".join(lines)


def wan_prompt(models: tuple[ModelSpec, ...]) -> Prompt:
    """The ``wan_video_prompt`` prompt for the offered models."""
    by_id = {spec.id: spec for spec in models}
    default = DEFAULT_MODEL if DEFAULT_MODEL in by_id else models[0].id

    def render(idea: str, model: str = default, duration: str | None = None) -> list[dict[str, Any]]:
        spec = by_id.get(model.strip())
        if spec is None:
            raise MCPError(INVALID_PARAMS, f"model '{model}' is not offered here; offered: {', '.join(by_id)}")
        if duration is not None and duration.strip() not in {str(d) for d in spec.durations}:
            raise MCPError(
                INVALID_PARAMS,
                f"duration '{duration}' is not offered by {spec.id}; allowed: {spec.duration_text} seconds",
            )
        return [{"role": "user", "content": {"type": "text", "text": _guidance(idea, spec, duration)}}]

    return Prompt(
        name=PROMPT_NAME,
        title="Write a Wan video prompt",
        description="Turn an idea into a prompt that suits a Wan model (its recipe, length limit, sound and "
        "shots), then check it with a free dry run.",
        arguments=[
            PromptArgument(name="idea", description="What the video should show, in your words.", required=True),
            PromptArgument(name="model", description=f"Model id (default {default}).", required=False),
            PromptArgument(name="duration", description="Seconds (default: the model's).", required=False),
        ],
        fn=render,
        context_kwarg=None,
    )


def wan_prompt_guide(models: tuple[ModelSpec, ...]) -> Prompt:
    """The ``wan_prompt_guide`` prompt: the catalog's prompt guide, with one model's own rules when named."""
    by_id = {spec.id: spec for spec in models}

    def render(model: str | None = None) -> list[dict[str, Any]]:
        spec = None
        if model is not None and model.strip():
            spec = by_id.get(model.strip())
            if spec is None:
                raise MCPError(INVALID_PARAMS, f"model '{model}' is not offered here; offered: {', '.join(by_id)}")
        return [{"role": "user", "content": {"type": "text", "text": _guide(models, spec)}}]

    return Prompt(
        name=GUIDE_NAME,
        title="Wan prompt guide",
        description="How to write a Wan video prompt: subject, scene, motion, camera, lighting, style; shots, "
        "naming inputs, sound, negative_prompt, length limits and what moderation refuses.",
        arguments=[
            PromptArgument(name="model", description="Model id, to add that model's own rules.", required=False)
        ],
        fn=render,
        context_kwarg=None,
    )


def complete(
    ref: Any, argument: types.CompletionArgument, models: tuple[ModelSpec, ...], recent: list[str]
) -> types.Completion:
    """Completion values: model ids (and durations) for the prompts; for the task and storyboard URIs, ``recent``
    (the ids of that template's kind, newest first)."""
    prefix = argument.value or ""
    values: list[str] = []
    if isinstance(ref, types.PromptReference):
        if ref.name not in PROMPT_NAMES:
            raise MCPError(INVALID_PARAMS, f"unknown prompt '{ref.name}'; this server has: {', '.join(PROMPT_NAMES)}")
        if argument.name == "model":
            values = [spec.id for spec in models]
        elif argument.name == "duration" and ref.name == PROMPT_NAME:
            values = sorted({str(d) for spec in models for d in spec.durations}, key=int)
    elif isinstance(ref, types.ResourceTemplateReference):
        if ref.uri not in ID_ARGUMENTS:
            raise MCPError(
                INVALID_PARAMS, f"unknown resource template '{ref.uri}'; this server has: {', '.join(ID_ARGUMENTS)}"
            )
        if argument.name == ID_ARGUMENTS[ref.uri]:
            values = recent
    matches = [v for v in values if v.startswith(prefix)]
    return types.Completion(
        values=matches[:COMPLETION_LIMIT], total=len(matches), has_more=len(matches) > COMPLETION_LIMIT
    )


def install(
    server: MCPServer[Any], models: tuple[ModelSpec, ...], recent: Callable[[Any, str], Awaitable[list[str]]]
) -> None:
    """Register the prompts and the ``completion/complete`` handler (which needs the caller's state)."""
    server.add_prompt(wan_prompt(models))
    server.add_prompt(wan_prompt_guide(models))

    async def handler(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        ref = params.ref
        ids = await recent(ctx.lifespan_context, ref.uri) if isinstance(ref, types.ResourceTemplateReference) else []
        completion = complete(ref, params.argument, models, ids)
        return types.CompleteResult(completion=completion)

    # MCPServer.completion() would not pass the request context, which task-id completions need.
    add_request_handler(server, "completion/complete", types.CompleteRequestParams, handler)
