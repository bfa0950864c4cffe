"""The prompt guide: the ``wan_prompt_guide`` prompt and the ``prompt_guide`` of wan-video://models, one text."""

from __future__ import annotations

import json

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.inmemory import in_memory
from wan_video_mcp.server.app import offered_models
from wan_video_mcp.server.catalog import MODELS, get_model
from wan_video_mcp.server.catalog.listing import prompt_guide
from wan_video_mcp.server.config import Settings

pytestmark = pytest.mark.anyio

SIMULATOR = {"WAN_PROVIDER": "simulator"}
SECTIONS = (
    "subject",
    "scene",
    "motion",
    "camera",
    "lighting",
    "style",
    "multi_shot",
    "media_names",
    "sound",
    "negative_prompt",
    "length",
    "moderation",
)


def headings(text: str) -> dict[str, bool]:
    """Which of the guide's sections the rendered text has, by their headings."""
    return {key: f"\n{key.replace('_', ' ').capitalize()}: " in text for key in SECTIONS}


async def guide_text(client, arguments: dict[str, str] | None = None) -> str:
    result = await client.get_prompt("wan_prompt_guide", arguments)
    assert [(m.role, m.content.type) for m in result.messages] == [("user", "text")]
    return result.messages[0].content.text


async def test_prompts_list_advertises_the_prompt_recipe_and_the_prompt_guide(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        listed = await client.list_prompts()
        capabilities = client.server_capabilities
    prompts = {p.name: [(a.name, a.required) for a in p.arguments or []] for p in listed.prompts}
    assert prompts == {
        "wan_video_prompt": [("idea", True), ("model", False), ("duration", False)],
        "wan_prompt_guide": [("model", False)],
    }
    assert (capabilities.prompts is not None, capabilities.completions is not None) == (True, True)


async def test_the_guide_without_a_model_has_every_section_and_every_prompt_limit(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        text = await guide_text(client)
    assert headings(text) == dict.fromkeys(SECTIONS, True), text
    assert "For wan" not in text
    limits = {spec.prompt_max for spec in offered_models(Settings(provider="simulator"))}
    assert {n: f"{n}: wan" in text for n in limits} == dict.fromkeys(limits, True), text
    assert "Shot 1 [0-3 s]" in text and "character1" in text and "Image 1" in text


@pytest.mark.parametrize(
    ("model", "lines"),
    [
        (
            "wan2.7-t2v",
            [
                "negative_prompt: at most 500 characters.",
                "audio_url (wav/mp3, 2-30 s) drives it instead.",
                "Shots: no shot_type; write them into the prompt",
            ],
        ),
        (
            "wan3.0-video",
            [
                "negative_prompt: not taken;",
                "Inputs: call them Image 1, Video 1, Audio 1, ...",
                "Prompt: at most 20000 characters (optional)",
            ],
        ),
        (
            "wan2.6-r2v",
            [
                "Shots: shot_type='multi' for several (needs prompt_extend=true",
                "Inputs: call them character1, character2, ... in the order of reference_video_urls.",
            ],
        ),
        ("wan2.2-t2v-plus", ["Sound: silent video", "Shots: one continuous shot."]),
    ],
)
async def test_the_guide_for_a_model_adds_its_own_rules_with_its_catalog_prompt_limit(tmp_path, model, lines):
    async with in_memory(tmp_path, SIMULATOR) as client:
        text = await guide_text(client, {"model": model})
    spec = get_model(model)
    assert headings(text) == dict.fromkeys(SECTIONS, True), text
    own = text.split("\n\n")[1]
    assert own.startswith(f"For {spec.id} ({spec.family.value}):\n- Prompt: at most {spec.prompt_max} characters")
    assert {line: line in own for line in lines} == dict.fromkeys(lines, True), own


async def test_an_unknown_model_is_invalid_params_naming_the_offered_models(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("wan_prompt_guide", {"model": "wan9"})
    assert (caught.value.error.code, "wan9" in caught.value.error.message) == (-32602, True)
    assert "wan2.7-t2v" in caught.value.error.message


async def test_the_guides_model_argument_completes_to_the_offered_models(tmp_path):
    ref = types.PromptReference(type="ref/prompt", name="wan_prompt_guide")
    async with in_memory(tmp_path, SIMULATOR) as client:
        models = await client.complete(ref, {"name": "model", "value": "wan2.7-"})
        durations = await client.complete(ref, {"name": "duration", "value": ""})
    offered = offered_models(Settings(provider="simulator"))
    assert models.completion.values == [m.id for m in offered if m.id.startswith("wan2.7-")] != []
    assert durations.completion.values == []  # the guide takes no duration


async def test_the_models_resource_carries_the_same_guide_with_the_same_sections(tmp_path):
    async with in_memory(tmp_path, SIMULATOR) as client:
        result = await client.read_resource("wan-video://models")
        text = await guide_text(client)
    document = json.loads(result.contents[0].text)
    guide = document["prompt_guide"]
    assert list(guide) == ["about", *SECTIONS]
    assert all(isinstance(value, str) and value for value in guide.values())
    # One source: every section of the resource is in the prompt's text word for word.
    assert {key: value in text for key, value in guide.items()} == dict.fromkeys(guide, True)


def test_the_guide_reads_each_prompt_limit_and_the_models_without_negative_prompt_from_the_catalog():
    guide = prompt_guide(MODELS)
    limits = {spec.prompt_max for spec in MODELS}
    assert {n: f"{n}: wan" in guide["length"] for n in limits} == dict.fromkeys(limits, True), guide["length"]
    assert "Not taken by wan3.0-*" in guide["negative_prompt"]
    assert "Not taken by" not in prompt_guide([get_model("wan2.7-t2v")])["negative_prompt"]
    assert "DataInspectionFailed" in guide["moderation"] and "costs nothing" in guide["moderation"]
