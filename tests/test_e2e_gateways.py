"""End to end per provider: the real server as a subprocess over stdio, driven by the MCP SDK client, against
the simulator speaking each wire format (new-api, YutoAI, vtrix, DashScope under the /qwen gateway prefix) over
real loopback HTTP. Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from tests.media_files import RED, data_url, png
from tests.stdio_server import server_run, text_of
from wan_video_mcp.server.catalog import MODELS, models_for
from wan_video_mcp.server.providers.newapi import NEWAPI_FAMILIES
from wan_video_mcp.server.providers.vtrix import VTRIX_MODEL_IDS
from wan_video_mcp.server.providers.yuto import YUTO_MODELS
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

KEY = "sk-test"
# Inline, so the server's measuring and the simulator's reading never leave this machine.
IMG = data_url("image/png", png(480, 360, RED))  # legacy i2v images: 360-2000 px per side


@asynccontextmanager
async def simulator(**config: Any) -> AsyncIterator[Simulator]:
    # Tasks queue briefly and then run for minutes, so the first call returns a pending handle;
    # sim.advance() then finishes them at once.
    values = dict(queue_seconds=0.3, run_seconds=180, jitter=0.0, fps=8)
    async with Simulator(SimulatorConfig(**(values | config))) as sim:
        yield sim


@dataclass(frozen=True)
class Case:
    provider: str
    via: str  # SimTask.via: the dialect, or the DashScope API root the task came through
    offered: frozenset[str]
    arguments: dict[str, Any]
    shape: tuple[int, int]

    def env(self, sim: Simulator) -> dict[str, str]:
        if self.provider == "dashscope":
            return {
                "WAN_PROVIDER": "dashscope",
                "DASHSCOPE_BASE_URL": sim.root_url + "/qwen/api/v1",
                "DASHSCOPE_API_KEY": KEY,
            }
        return {"WAN_PROVIDER": self.provider, "WAN_BASE_URL": sim.root_url, "WAN_API_KEY": KEY}


CASES = [
    Case(
        "newapi",
        "newapi",
        frozenset(s.id for s in MODELS if s.family in NEWAPI_FAMILIES),
        # The media protocol through new-api: metadata.input / metadata.parameters pass verbatim.
        {"model": "wan2.7-t2v", "prompt": "a paper boat on a lake", "resolution": "720P", "duration": 2},
        (1280, 720),
    ),
    Case(
        "yuto",
        "yuto",
        frozenset(YUTO_MODELS),
        {"model": "wan2.6-i2v", "prompt": "the cat jumps", "img_url": IMG, "resolution": "720P", "duration": 2},
        (1280, 720),
    ),
    Case(
        "vtrix",
        "vtrix",
        frozenset(VTRIX_MODEL_IDS),
        {"model": "wan2.6-t2v", "prompt": "a kitten running in the moonlight", "size": "1280*720", "duration": 2},
        (1280, 720),
    ),
    Case(
        "dashscope",
        "/qwen/api/v1",
        frozenset(s.id for s in models_for("intl")),
        {"model": "wan2.6-i2v", "prompt": "the cat jumps", "img_url": IMG, "resolution": "720P", "duration": 2},
        (1280, 720),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
async def test_a_pending_handle_then_check_then_fetch_through_each_provider(tmp_path: Path, case: Case) -> None:
    async with simulator() as sim, Client(server_run(tmp_path, case.env(sim)).params) as client:
        listing = await client.list_tools()
        [generate] = [tool for tool in listing.tools if tool.name == "generate_video"]
        enum = generate.input_schema["properties"]["model"]["enum"]
        assert len(enum) == len(set(enum)) and set(enum) == case.offered

        first = await client.call_tool("generate_video", {**case.arguments, "wait_seconds": 2})
        assert not first.is_error, text_of(first)
        handle = first.structured_content
        assert handle["status"] in ("queued", "running"), handle
        assert handle["poll_after_seconds"] > 0 and "check_task" in handle["next_step"]

        sim.advance(200)
        checked = await client.call_tool("check_task", {"task_id": handle["task_id"], "wait_seconds": 60})
        assert checked.structured_content["status"] == "succeeded", text_of(checked)
        fetched = await client.call_tool("fetch_video", {"task_id": handle["task_id"]})
        assert not fetched.is_error, text_of(fetched)
        [link] = [c for c in fetched.content if isinstance(c, types.ResourceLink)]
        read = await client.read_resource(str(link.uri))

    video = fetched.structured_content["video"]
    data = base64.b64decode(read.contents[0].blob)
    assert hashlib.sha256(data).hexdigest() == video["sha256"]
    assert Path(video["path"]).read_bytes() == data and link.size == len(data) == video["size_bytes"]
    assert (video["media"]["width"], video["media"]["height"]) == case.shape
    assert abs(video["media"]["duration_seconds"] - case.arguments["duration"]) < 0.5
    [task] = sim.tasks
    assert task.via == case.via
    assert task.plan.spec.id == case.arguments["model"]
    if "img_url" in case.arguments:
        assert task.plan.tier == case.arguments["resolution"]
    assert sim.stats.submits == sim.stats.submits_accepted == 1


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
async def test_a_failed_task_reports_its_code_through_each_provider(tmp_path: Path, case: Case) -> None:
    async with simulator(run_seconds=1) as sim, Client(server_run(tmp_path, case.env(sim)).params) as client:
        sim.faults.fail_next_task("DataInspectionFailed")
        result = await client.call_tool("generate_video", {**case.arguments, "wait_seconds": 30})
    task = result.structured_content
    assert task["status"] == "failed", text_of(result)
    expected = "001026095" if case.provider == "vtrix" else "DataInspectionFailed"
    assert task["error"]["code"] == expected and expected in text_of(result)
    assert sim.stats.submits == 1
