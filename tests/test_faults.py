"""Every simulator fault, and what the server does about it.

The real server runs in-process (the MCP SDK client over its in-memory transport, for speed); the provider
traffic is real HTTP to the simulator on 127.0.0.1. Each test asserts the outcome an agent sees, how many
tasks were paid for, and that the server still answers afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from pydantic import SecretStr

from tests.simulated import served
from wan_video_mcp.server.app import build_server
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

PROMPT = {"prompt": "a lighthouse in a storm", "duration": 2, "resolution": "720P"}


@asynccontextmanager
async def stack(tmp_path: Path, **sim_config) -> AsyncIterator[tuple[Client, Simulator]]:
    settings = dict(reconcile_interval_seconds=0.5, http_timeout_seconds=1.0)
    async with served(tmp_path, settings, **sim_config) as (client, sim, _):
        yield client, sim


async def generate(client: Client, **extra) -> types.CallToolResult:
    return await client.call_tool("generate_video", PROMPT | {"wait_seconds": 30} | extra)


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def assert_still_answers(client: Client) -> None:
    assert not (await client.call_tool("list_tasks", {})).is_error


async def test_a_submit_refused_with_429_is_retried_and_paid_once(tmp_path):
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit("429", count=2, retry_after=0.1)
        result = await generate(client)
        await assert_still_answers(client)
    assert result.structured_content["status"] == "succeeded", text_of(result)
    assert sim.stats.submits_accepted == 1 and sim.stats.submits == 3


@pytest.mark.parametrize("kind", ["500", "503"])
async def test_a_5xx_with_a_dashscope_code_is_never_resent_blindly(tmp_path, kind):
    """The 5xx carries DashScope's own code, yet says nothing of whether the task exists: nothing is resent."""
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit(kind, count=2)
        result = await generate(client, wait_seconds=2)
        await assert_still_answers(client)
    assert result.structured_content["status"] == "unknown", text_of(result)
    assert sim.stats.submits == 1 and sim.stats.submits_accepted == 0


@pytest.mark.parametrize("kind", ["500", "503"])
async def test_a_5xx_after_dashscope_created_the_task_is_reconciled_and_paid_once(tmp_path, kind):
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit(kind, processed=True)
        result = await generate(client)
        await assert_still_answers(client)
    task = result.structured_content
    assert task["status"] == "succeeded", text_of(result)
    assert sim.stats.submits == 1 and sim.stats.submits_accepted == 1
    assert task["remote_task_id"] == sim.tasks[0].task_id


@pytest.mark.parametrize("kind", ["reset", "hang", "malformed"])
async def test_a_submit_that_took_effect_but_whose_answer_was_lost_is_reconciled_not_resent(tmp_path, kind):
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit(kind, processed=True, seconds=3)
        result = await generate(client)
        await assert_still_answers(client)
    task = result.structured_content
    assert task["status"] == "succeeded", text_of(result)
    assert sim.stats.submits_accepted == 1 and sim.stats.submits == 1
    assert task["remote_task_id"] == sim.tasks[0].task_id


@pytest.mark.parametrize("kind", ["reset", "hang"])
async def test_a_lost_submit_that_never_took_effect_stays_unconfirmed_and_is_never_resent(tmp_path, kind):
    # After a reset or a timeout the server cannot know whether the task exists, so it never resends, and
    # an empty task list is no proof either (the provider may list it late, its clock may be off): the
    # task stays "not confirmed" and nothing claims it was not charged.
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit(kind, seconds=3)
        first = await generate(client, wait_seconds=0)
        assert first.structured_content["status"] == "unknown", text_of(first)
        assert "do not generate again yet" in first.structured_content["next_step"]
        checked = await client.call_tool(
            "check_task", {"task_id": first.structured_content["task_id"], "wait_seconds": 6}
        )
    task = checked.structured_content
    assert task["status"] == "unknown", text_of(checked)
    assert "not confirmed" in task["message"] and "charged" not in text_of(checked)
    assert "do not generate again yet" in task["error"]["remedy"]
    assert sim.stats.lists >= 2  # it kept looking
    assert sim.stats.submits_accepted == 0 and sim.stats.submits <= 1


@pytest.mark.parametrize("skew_hours", [-1, 1, 3])
async def test_an_unclear_submit_is_found_although_the_providers_clock_is_off(tmp_path, skew_hours):
    # The provider's task list is stamped by its own clock. Within the assumed two hours the first look
    # finds the task; beyond them (3 h) the offset is learned from the provider's Date headers first.
    async with stack(tmp_path, clock=lambda: time.time() + skew_hours * 3600) as (client, sim):
        sim.faults.submit("reset", processed=True)
        result = await generate(client)
    task = result.structured_content
    assert task["status"] == "succeeded", text_of(result)
    assert task["remote_task_id"] == sim.tasks[0].task_id
    assert sim.stats.submits == 1 and sim.stats.submits_accepted == 1
    assert "charged" not in text_of(result)


async def test_a_refused_submit_is_a_clear_error_and_costs_nothing(tmp_path):
    async with stack(tmp_path) as (client, sim):
        sim.faults.submit("429", count=10, code="Throttling.AllocationQuota", message="quota exhausted")
        result = await generate(client)
        await assert_still_answers(client)
    assert result.is_error and "Throttling.AllocationQuota" in text_of(result)
    assert result.structured_content["retryable"] is False  # a quota, not a rate: no blind retry
    assert sim.stats.submits_accepted == 0 and sim.stats.submits == 1


@pytest.mark.parametrize("kind", ["429", "500", "503", "reset", "hang", "malformed"])
async def test_poll_faults_are_retried_and_the_task_still_completes(tmp_path, kind):
    async with stack(tmp_path) as (client, sim):
        sim.faults.poll(kind, count=2, retry_after=0.1, seconds=2)
        result = await generate(client)
    assert result.structured_content["status"] == "succeeded", text_of(result)
    assert sim.stats.submits == 1


async def test_an_expired_download_url_is_a_clear_error_not_a_crash(tmp_path):
    async with stack(tmp_path) as (client, sim):
        sim.faults.download("expired", count=10)
        result = await generate(client)
        fetched = await client.call_tool("fetch_video", {"task_id": result.structured_content["task_id"]})
        await assert_still_answers(client)
    assert result.is_error and result.structured_content["error_code"] == "video_unavailable", text_of(result)
    assert result.structured_content["task_id"].startswith("wan_")
    assert fetched.is_error and "expired" in text_of(fetched)


@pytest.mark.parametrize("kind", ["truncated", "slow"])
async def test_a_broken_or_slow_download_is_retried_and_verified(tmp_path, kind):
    async with stack(tmp_path) as (client, sim):
        sim.faults.download(kind, count=1, bytes_per_second=20_000)
        result = await generate(client)
        assert result.structured_content["status"] == "succeeded", text_of(result)
        fetched = await client.call_tool("fetch_video", {"task_id": result.structured_content["task_id"]})
        read = await client.read_resource(fetched.structured_content["video"]["uri"])
    video = fetched.structured_content["video"]
    assert hashlib.sha256(base64.b64decode(read.contents[0].blob)).hexdigest() == video["sha256"]
    assert hashlib.sha256(Path(video["path"]).read_bytes()).hexdigest() == video["sha256"]


async def test_a_task_that_fails_at_the_provider_reports_its_code(tmp_path):
    async with stack(tmp_path) as (client, sim):
        sim.faults.fail_next_task("InternalError.Algo")
        result = await generate(client)
    task = result.structured_content
    assert task["status"] == "failed" and task["error"]["code"] == "InternalError.Algo"
    assert "generate again" in task["error"]["remedy"]


async def test_cancel_works_only_while_queued(tmp_path):
    async with stack(tmp_path, queue_seconds=30) as (client, sim):
        handle = (await generate(client, wait_seconds=0)).structured_content
        canceled = await client.call_tool("cancel_task", {"task_id": handle["task_id"]})
        again = await client.call_tool("cancel_task", {"task_id": handle["task_id"]})
    assert canceled.structured_content["status"] == "canceled", text_of(canceled)
    assert again.is_error and again.structured_content["error_code"] == "not_cancelable"


@pytest.mark.parametrize("provider", ["newapi", "yuto", "vtrix"])
async def test_a_gateway_5xx_after_the_task_was_created_is_never_paid_twice(tmp_path, provider):
    async with Simulator(SimulatorConfig(queue_seconds=0.2, run_seconds=0.8, renderer="fallback")) as sim:
        settings = Settings(
            provider=provider,
            api_key=SecretStr("sk-test"),
            base_url=sim.root_url,
            data_dir=tmp_path,
            poll_min_seconds=0.1,
            retry_base_seconds=0.05,
        )
        async with Client(build_server(settings)) as client:
            sim.faults.submit("500", processed=True)
            arguments = {"model": "wan2.6-t2v", "prompt": "a lighthouse", "size": "1280*720", "duration": 2}
            result = await client.call_tool("generate_video", arguments | {"wait_seconds": 2})
            await assert_still_answers(client)
    assert result.structured_content["status"] == "unknown", text_of(result)
    assert "do not generate again yet" in result.structured_content["next_step"]
    assert sim.stats.submits == 1 and sim.stats.submits_accepted == 1


async def test_a_client_that_cancels_a_waiting_call_loses_nothing_and_pays_once(tmp_path):
    async with stack(tmp_path, run_seconds=3) as (client, sim):
        with anyio.move_on_after(1.0):  # the client gives up mid-wait; the SDK cancels the request
            await generate(client, wait_seconds=60)
        listed = await client.call_tool("list_tasks", {})
        [task] = listed.structured_content["tasks"]
        checked = await client.call_tool("check_task", {"task_id": task["task_id"], "wait_seconds": 30})
    assert checked.structured_content["status"] == "succeeded", text_of(checked)
    assert sim.stats.submits == 1
