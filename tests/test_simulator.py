"""The simulator speaks DashScope's native protocol over real loopback, renders real MP4s and makes faults real.

Most tests use a simulator whose tasks queue and run for 100 s each and move only
with ``sim.advance``, so state changes are deterministic and nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import av
import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis
from dashscope.aigc.video_synthesis import AioVideoSynthesis
from dashscope.api_entities.aio_session import get_shared_aio_session

from wan_video_mcp.server.catalog import GenerationRequest, validate
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.jobs import downloads
from wan_video_mcp.server.providers.dashscope import DashScopeProvider
from wan_video_mcp.server.providers.newapi import NewApiProvider
from wan_video_mcp.server.providers.vtrix import VtrixProvider
from wan_video_mcp.server.providers.yuto import YutoProvider
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig, rendering, simulator_in_thread

KEY = {"Authorization": "Bearer sk-test"}
ASYNC = {**KEY, "X-DashScope-Async": "enable"}
T2V_PATH = "/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/services/aigc/image2video/video-synthesis"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
IMG = "https://example.com/cat.png"
# Tasks queue 100 s and run 100 s; tests move the clock with sim.advance.
MANUAL = SimulatorConfig(queue_seconds=100, run_seconds=100, jitter=0, renderer="fallback")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(MANUAL) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=5, trust_env=False) as c:
        yield c


async def submit(
    client: httpx.AsyncClient,
    model: str = "wan2.6-t2v",
    path: str = T2V_PATH,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    payload = {
        "model": model,
        "input": body.pop("input", {"prompt": "a red fox in the snow"}),
        "parameters": body.pop("parameters", {"size": "1280*720", "duration": 2}),
    }
    return await client.post(path, json=payload, headers=headers or ASYNC)


async def submit_ok(client: httpx.AsyncClient, **kwargs: Any) -> str:
    response = await submit(client, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["output"]["task_id"]


async def poll(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def mp4_facts(data: bytes, path: Path) -> tuple[int, int, int, float, list[str]]:
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        kinds = sorted(s.type for s in container.streams)
        frames = sum(1 for _ in container.decode(video=0))
        return video.codec_context.width, video.codec_context.height, frames, container.duration / 1e6, kinds


# --------------------------------------------------------------------------- protocol


@pytest.mark.anyio
async def test_a_task_goes_pending_running_succeeded_with_the_documented_bodies(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await submit(client, input={"prompt": "a red fox in the snow", "audio_url": "https://e.com/a.mp3"})
    assert response.status_code == 200
    assert response.headers["X-Wan-Simulator"] == "1"
    body = response.json()
    task_id = body["output"]["task_id"]
    assert body == {
        "output": {"task_status": "PENDING", "task_id": task_id},
        "request_id": body["request_id"],
        "simulated": True,
    }

    pending = (await poll(client, task_id))["output"]
    assert set(pending) == {"task_id", "task_status", "submit_time"} and pending["task_status"] == "PENDING"
    assert TIME_RE.match(pending["submit_time"])

    sim.advance(150)
    running = (await poll(client, task_id))["output"]
    assert running["task_status"] == "RUNNING" and TIME_RE.match(running["scheduled_time"])
    assert "end_time" not in running and "video_url" not in running

    sim.advance(100)
    done = await poll(client, task_id)
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["orig_prompt"] == "a red fox in the snow"
    assert "actual_prompt" not in out  # wan2.6 does not return it
    assert set(out) == {
        "task_id",
        "task_status",
        "submit_time",
        "scheduled_time",
        "end_time",
        "orig_prompt",
        "video_url",
    }
    assert out["video_url"].startswith(sim.root_url + f"/results/{task_id}.mp4?Expires=")
    assert done["usage"] == {
        "duration": 2.0,
        "size": "1280*720",
        "input_video_duration": 0,
        "output_video_duration": 2,
        "video_count": 1,
        "SR": 720,
    }
    # Timestamps are UTC+8 and 100 s apart.
    submit_at = time.mktime(time.strptime(out["submit_time"][:19], "%Y-%m-%d %H:%M:%S"))
    end_at = time.mktime(time.strptime(out["end_time"][:19], "%Y-%m-%d %H:%M:%S"))
    assert 199 <= end_at - submit_at <= 201
    assert sim.stats.submits == sim.stats.submits_accepted == 1 and sim.stats.polls == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "parameters", "input_extra", "usage"),
    [
        (
            "wanx2.1-t2v-turbo",
            {"size": "832*480"},
            {},
            {"video_duration": 5, "video_count": 1, "video_ratio": "standard"},
        ),
        (
            "wan2.5-t2v-preview",
            {"size": "832*480", "duration": 10},
            {},
            {"video_duration": 10, "video_count": 1, "video_ratio": "832*480"},
        ),
        (
            "wan2.2-i2v-plus",
            {"resolution": "480P"},
            {"img_url": IMG},
            {"video_duration": 5, "video_count": 1, "SR": 480},
        ),
        (
            "wan2.6-r2v",
            {"size": "1280*720", "duration": 5},
            {"reference_video_urls": ["https://e.com/1.mp4"] * 2},
            {
                "duration": 15.0,
                "size": "1280*720",
                "input_video_duration": 10,
                "output_video_duration": 5,
                "video_count": 1,
                "SR": 720,
            },
        ),
    ],
)
async def test_each_model_generation_reports_its_own_usage_shape(
    sim: Simulator,
    client: httpx.AsyncClient,
    model: str,
    parameters: dict[str, Any],
    input_extra: dict[str, Any],
    usage: dict[str, Any],
) -> None:
    task_id = await submit_ok(
        client, model=model, input={"prompt": "character1 waves", **input_extra}, parameters=parameters
    )
    sim.advance(500)
    done = await poll(client, task_id)
    assert done["usage"] == usage
    assert ("actual_prompt" in done["output"]) == (not model.startswith("wan2.6"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no key", 401, "InvalidApiKey"),
        ("no async header", 403, "AccessDenied"),
        ("unknown model", 404, "ModelNotFound"),
        ("empty model", 400, "BadRequest.EmptyModel"),
        ("kf2v on the video-generation path", 400, "InvalidParameter"),
        ("t2v on the image2video path", 400, "InvalidParameter"),
        ("size not allowed for the model", 400, "InvalidParameter"),
        ("resolution not allowed for the model", 400, "InvalidParameter"),
        ("duration not allowed for the model", 400, "InvalidParameter"),
        ("t2v without prompt", 400, "InvalidParameter"),
        ("i2v without img_url", 400, "InvalidParameter"),
        ("kf2v without first_frame_url", 400, "InvalidParameter"),
        ("no input", 400, "BadRequest.EmptyInput"),
        ("body is not JSON", 400, "InvalidParameter"),
    ],
)
async def test_invalid_submits_get_the_real_services_status_and_code(
    sim: Simulator, client: httpx.AsyncClient, case: str, status: int, code: str
) -> None:
    cases: dict[str, Any] = {
        "no key": dict(headers={"X-DashScope-Async": "enable", "Authorization": ""}),
        "no async header": dict(headers=KEY),
        "unknown model": dict(model="wan9-t2v"),
        "empty model": dict(model=""),
        "kf2v on the video-generation path": dict(
            model="wan2.1-kf2v-plus", input={"first_frame_url": IMG}, parameters={}
        ),
        "t2v on the image2video path": dict(path=KF2V_PATH),
        "size not allowed for the model": dict(parameters={"size": "832*480"}),
        "resolution not allowed for the model": dict(
            model="wan2.1-i2v-plus", input={"img_url": IMG}, parameters={"resolution": "1080P"}
        ),
        "duration not allowed for the model": dict(parameters={"size": "1280*720", "duration": 20}),
        "t2v without prompt": dict(input={"negative_prompt": "blur"}),
        "i2v without img_url": dict(model="wan2.6-i2v", input={"prompt": "move"}, parameters={}),
        "kf2v without first_frame_url": dict(
            model="wanx2.1-kf2v-plus", path=KF2V_PATH, input={"last_frame_url": IMG}, parameters={}
        ),
        "no input": dict(input={}),
    }
    if case == "body is not JSON":
        response = await client.post(T2V_PATH, content=b"{not json", headers=ASYNC)
    else:
        response = await submit(client, **cases[case])
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and body["request_id"]
    if case == "no key":
        assert body["message"] == "No API-key provided."
    if case == "no async header":
        assert body["message"] == "current user api does not support synchronous calls"
    if "path" in case:
        assert body["message"].startswith("url error")
    assert sim.stats.submits == 1 and sim.stats.submits_refused == 1 and sim.tasks == []


@pytest.mark.anyio
async def test_a_required_key_refuses_other_keys() -> None:
    async with (
        Simulator(SimulatorConfig(required_key="sk-right", renderer="fallback")) as sim,
        httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as client,
    ):
        wrong = await submit(client, headers={**ASYNC, "Authorization": "Bearer sk-wrong"})
        right = await submit(client, headers={**ASYNC, "Authorization": "Bearer sk-right"})
        poll_wrong = await client.get("/tasks/x", headers={"Authorization": "Bearer sk-wrong"})
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["message"]) == (
        401,
        "InvalidApiKey",
        "Invalid API-key provided.",
    )
    assert right.status_code == 200 and poll_wrong.status_code == 401


@pytest.mark.anyio
async def test_beijing_and_us_model_names_are_accepted(client: httpx.AsyncClient) -> None:
    for model, extra in (("wanx2.1-t2v-plus", {}), ("wan2.6-t2v-us", {}), ("wanx2.1-i2v-turbo", {"img_url": IMG})):
        parameters = {"resolution": "480P", "duration": 3} if "i2v" in model else {"size": "1280*720"}
        response = await submit(client, model=model, input={"prompt": "p", **extra}, parameters=parameters)
        assert response.status_code == 200, (model, response.text)


@pytest.mark.anyio
async def test_overlong_prompts_are_truncated_silently(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client, model="wan2.1-t2v-turbo", input={"prompt": "x" * 2000}, parameters={})
    sim.advance(500)
    out = (await poll(client, task_id))["output"]
    assert out["orig_prompt"] == "x" * 800


@pytest.mark.anyio
async def test_the_sdks_extra_keys_are_tolerated(client: httpx.AsyncClient) -> None:
    response = await submit(
        client,
        input={"prompt": "p", "extend_prompt": True, "function": "video-synthesis"},
        parameters={"size": "1280*720", "audio": True, "some_future_knob": 3, "watermark": False, "seed": 7},
    )
    assert response.status_code == 200, response.text


@pytest.mark.anyio
async def test_only_pending_tasks_can_be_canceled(sim: Simulator, client: httpx.AsyncClient) -> None:
    pending = await submit_ok(client)
    canceled = await client.post(f"/tasks/{pending}/cancel")
    assert canceled.status_code == 200 and set(canceled.json()) == {"request_id"}
    assert canceled.headers["X-Wan-Simulator"] == "1"
    out = (await poll(client, pending))["output"]
    assert out["task_status"] == "CANCELED" and TIME_RE.match(out["end_time"])

    running = await submit_ok(client)
    sim.advance(150)
    for task_id in (pending, running, "no-such-task"):
        refused = await client.post(f"/tasks/{task_id}/cancel")
        assert refused.status_code == 400
        assert refused.json()["code"] == "UnsupportedOperation"
        assert "PENDING" in refused.json()["message"]
    assert (await poll(client, running))["output"]["task_status"] == "RUNNING"


@pytest.mark.anyio
async def test_the_task_list_pages_and_filters_like_the_real_one(sim: Simulator, client: httpx.AsyncClient) -> None:
    ids = [await submit_ok(client) for _ in range(3)]
    turbo = await submit_ok(client, model="wan2.1-t2v-turbo", parameters={})
    sim.advance(150)
    first = (await client.get("/tasks", params={"page_no": 1, "page_size": 2})).json()
    assert set(first) == {"total", "data", "total_page", "page_no", "page_size", "request_id", "simulated"}
    assert (first["total"], first["total_page"], first["page_no"], first["page_size"]) == (4, 2, 1, 2)
    assert [row["task_id"] for row in first["data"]] == [turbo, ids[2]]  # newest first
    row = first["data"][0]
    assert row["status"] == "RUNNING" and row["model_name"] == "wan2.1-t2v-turbo"
    assert isinstance(row["gmt_create"], int) and isinstance(row["start_time"], int) and "end_time" not in row
    assert row["user_api_unique_key"].endswith(":video-synthesis:wan2.1-t2v-turbo")

    by_model = (await client.get("/tasks/", params={"model_name": "wan2.6-t2v"})).json()
    assert sorted(r["task_id"] for r in by_model["data"]) == sorted(ids)
    assert (await client.get("/tasks", params={"status": "SUCCEEDED"})).json()["total"] == 0
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(sim.now() + 8 * 3600 - 3600))  # an hour ago, UTC+8
    window = (await client.get("/tasks", params={"start_time": stamp})).json()
    assert window["total"] == 4
    too_wide = await client.get("/tasks", params={"start_time": "20250101000000", "end_time": "20250103000000"})
    assert too_wide.status_code == 400 and too_wide.json()["code"] == "InvalidParameter"


@pytest.mark.anyio
async def test_unknown_and_expired_task_ids_answer_unknown(sim: Simulator, client: httpx.AsyncClient) -> None:
    unknown = await poll(client, "0385dc79-0000-0000-0000-000000000000")
    assert unknown["output"] == {"task_id": "0385dc79-0000-0000-0000-000000000000", "task_status": "UNKNOWN"}
    task_id = await submit_ok(client)
    sim.advance(24 * 3600)
    assert (await poll(client, task_id))["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    assert (await client.get("/tasks")).json()["total"] == 0


@pytest.mark.anyio
async def test_video_urls_expire_with_an_oss_style_403(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client)
    sim.advance(250)
    url = (await poll(client, task_id))["output"]["video_url"]
    ok = await client.get(url)
    assert ok.status_code == 200 and ok.headers["content-type"] == "video/mp4"
    assert int(ok.headers["content-length"]) == len(ok.content) > 1000
    forged = await client.get(url.replace("Signature=", "Signature=AA"))
    assert forged.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in forged.content
    sim.advance(24 * 3600 + 1)
    expired = await client.get(url)
    assert expired.status_code == 403 and expired.headers["content-type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in expired.content and b"Request has expired." in expired.content
    assert sim.stats.downloads == 3 and sim.stats.downloads_completed == 1


@pytest.mark.anyio
async def test_range_requests_let_a_download_resume(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client)
    sim.advance(250)
    url = (await poll(client, task_id))["output"]["video_url"]
    whole = (await client.get(url)).content
    tail = await client.get(url, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == whole[100:]
    assert tail.headers["content-range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    beyond = await client.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416


# --------------------------------------------------------------------------- faults


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("429", 429, "Throttling.RateQuota"), ("500", 500, "InternalError"), ("503", 503, "ModelUnavailable")],
)
async def test_error_faults_hit_exactly_the_next_n_requests(
    sim: Simulator, client: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    sim.faults.submit(kind, count=2, retry_after=7)
    refused = [await submit(client) for _ in range(2)]
    accepted = await submit(client)
    for response in refused:
        assert response.status_code == status and response.json()["code"] == code
        assert response.headers["X-Wan-Simulator"] == "1"
    assert ("Retry-After" in refused[0].headers) == (kind == "429")
    if kind == "429":
        assert refused[0].headers["Retry-After"] == "7"
    assert accepted.status_code == 200
    assert (sim.stats.submits, sim.stats.submits_accepted, len(sim.tasks)) == (3, 1, 1)

    sim.faults.poll(kind)
    assert (await client.get(f"/tasks/{accepted.json()['output']['task_id']}")).status_code == status
    assert (await client.get(f"/tasks/{accepted.json()['output']['task_id']}")).status_code == 200


@pytest.mark.anyio
async def test_a_reset_fault_resets_the_connection(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.submit("reset")
    with pytest.raises(httpx.TransportError):
        await submit(client)
    assert (sim.stats.submits, sim.tasks) == (1, [])
    assert (await submit(client)).status_code == 200  # the client reconnects


@pytest.mark.anyio
async def test_a_hang_fault_holds_the_request_until_the_client_gives_up(sim: Simulator) -> None:
    sim.faults.poll("hang", seconds=5)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=0.3, trust_env=False) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/tasks/some-id")
        assert time.monotonic() - started < 2
        assert (await client.get("/tasks/some-id")).status_code == 200


@pytest.mark.anyio
async def test_a_malformed_fault_answers_json_that_does_not_parse(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.poll("malformed")
    response = await client.get("/tasks/some-id")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["500", "reset", "hang"])
async def test_a_processed_fault_creates_a_task_the_client_never_hears_about(sim: Simulator, kind: str) -> None:
    sim.faults.submit(kind, processed=True, seconds=0.05)
    async with httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=2, trust_env=False) as client:
        if kind == "500":
            assert (await submit(client)).status_code == 500
        else:
            with pytest.raises(httpx.TransportError):
                await submit(client)
        listed = (await client.get("/tasks")).json()
    assert len(sim.tasks) == 1 and listed["total"] == 1  # found again by listing
    assert sim.stats.submits_accepted == 1


@pytest.mark.anyio
async def test_injected_task_failures_come_back_in_a_200_poll(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.faults.fail_next_task("DataInspectionFailed")
    flagged = await submit_ok(client)
    by_id = await submit_ok(client)
    sim.faults.fail_task(by_id, "InternalError.Timeout", "took too long")
    fine = await submit_ok(client)
    sim.advance(250)
    failed = await poll(client, flagged)
    assert failed["output"]["task_status"] == "FAILED"
    assert failed["output"]["code"] == "DataInspectionFailed"
    assert failed["output"]["message"] == "Output data may contain inappropriate content."
    assert "usage" not in failed and "video_url" not in failed["output"]
    assert (await poll(client, by_id))["output"]["message"] == "took too long"
    assert (await poll(client, fine))["output"]["task_status"] == "SUCCEEDED"
    with pytest.raises(ValueError, match="already SUCCEEDED"):
        sim.faults.fail_task(fine)
    with pytest.raises(KeyError):
        sim.faults.fail_task("no-such-task")


@pytest.mark.anyio
async def test_download_faults_expire_truncate_throttle_and_corrupt(
    sim: Simulator, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    task_id = await submit_ok(client)
    sim.advance(250)
    url = (await poll(client, task_id))["output"]["video_url"]
    whole = (await client.get(url)).content

    sim.faults.download("expired")
    expired = await client.get(url)
    assert expired.status_code == 403 and b"Request has expired." in expired.content

    sim.faults.download("truncated", truncate_at=1000)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("GET", url) as response:
            assert int(response.headers["content-length"]) == len(whole)
            async for chunk in response.aiter_bytes():
                received += chunk
    assert bytes(received) == whole[:1000]

    rate = len(whole) * 4  # about a quarter of a second
    sim.faults.download("slow", bytes_per_second=rate)
    started = time.monotonic()
    slow = await client.get(url)
    assert slow.content == whole and time.monotonic() - started >= 0.2

    sim.faults.download("malformed")
    corrupt = await client.get(url)
    assert corrupt.status_code == 200 and len(corrupt.content) == len(whole) and corrupt.content != whole
    with pytest.raises(av.error.InvalidDataError):
        mp4_facts(corrupt.content, tmp_path / "corrupt.mp4")
    assert (await client.get(url)).content == whole
    assert sim.stats.downloads == 6 and sim.stats.downloads_completed == 3


@pytest.mark.anyio
async def test_admin_endpoints_drive_a_simulator_from_another_process(sim: Simulator) -> None:
    async with (
        httpx.AsyncClient(base_url=sim.root_url, timeout=5, trust_env=False) as admin,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=5, trust_env=False) as api,
    ):
        armed = await admin.post("/_sim/faults", json={"target": "submit", "kind": "429", "count": 1, "retry_after": 3})
        assert armed.status_code == 200 and armed.json()["armed"]["kind"] == "429"
        assert (await admin.get("/_sim/faults")).json()["faults"][0]["target"] == "submit"
        assert (await submit(api)).status_code == 429
        await admin.post("/_sim/fail", json={"code": "IPInfringementSuspect"})
        task_id = (await submit(api)).json()["output"]["task_id"]
        assert (await admin.post("/_sim/advance", json={"seconds": 250})).status_code == 200
        assert (await poll(api, task_id))["output"]["code"] == "IPInfringementSuspect"
        stats = (await admin.get("/_sim/stats")).json()
        assert (stats["submits"], stats["submits_accepted"], stats["submits_refused"], stats["polls"]) == (2, 1, 1, 1)
        assert (await admin.get("/_sim/tasks")).json()["tasks"][0]["failure"][0] == "IPInfringementSuspect"
        bad = await admin.post("/_sim/faults", json={"target": "submit", "kind": "truncated"})
        assert bad.status_code == 400 and "not valid for submit" in bad.json()["error"]
        assert (await admin.post("/_sim/fail", json={"task_id": "nope"})).status_code == 404
        await admin.post("/_sim/reset")
        assert (await admin.get("/_sim/stats")).json()["submits"] == 0


@pytest.mark.anyio
async def test_connections_are_kept_alive_and_served_concurrently(sim: Simulator, client: httpx.AsyncClient) -> None:
    task_id = await submit_ok(client)
    for _ in range(5):
        await poll(client, task_id)
    assert sim.stats.connections == 1
    sim.faults.poll("hang", seconds=1)  # one stuck request must not hold up the others

    async def one(results: list[int]) -> None:
        try:
            results.append((await client.get(f"/tasks/{task_id}", timeout=0.5)).status_code)
        except httpx.ReadTimeout:
            results.append(0)

    results: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one, results)
    assert sorted(results) == [0] + [200] * 19


@pytest.mark.anyio
async def test_the_qwen_gateway_prefix_serves_the_same_api(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.root_url + "/qwen/api/v1", headers=KEY, trust_env=False) as client:
        task_id = await submit_ok(client)
        assert (await poll(client, task_id))["output"]["task_status"] == "PENDING"


# --------------------------------------------------------------------------- rendering


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "input_extra", "parameters", "shape", "audio"),
    [
        ("wan2.6-t2v", {}, {"size": "1280*720", "duration": 2}, (1280, 720, 2), True),
        (
            "wan2.6-i2v-flash",
            {"img_url": IMG, "audio_url": "https://e.com/a.mp3"},
            {"resolution": "720P", "duration": 2, "audio": False},
            (1280, 720, 2),
            False,
        ),
        ("wan2.1-i2v-turbo", {"img_url": IMG}, {"resolution": "480P", "duration": 3}, (832, 480, 3), False),
    ],
)
async def test_the_mp4_has_the_requested_size_duration_and_audio(
    tmp_path: Path,
    model: str,
    input_extra: dict[str, Any],
    parameters: dict[str, Any],
    shape: tuple[int, int, int],
    audio: bool,
) -> None:
    config = SimulatorConfig(queue_seconds=100, run_seconds=100, jitter=0)
    async with (
        Simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, timeout=30, trust_env=False) as client,
    ):
        task_id = await submit_ok(
            client, model=model, input={"prompt": "a paper boat", **input_extra}, parameters=parameters
        )
        sim.advance(250)
        url = (await poll(client, task_id))["output"]["video_url"]
        with anyio.fail_after(20):
            data = (await client.get(url)).content
    assert sim.render_dir is not None and not sim.render_dir.exists()  # removed on exit
    width, height, frames, duration, kinds = mp4_facts(data, tmp_path / "v.mp4")
    assert (width, height) == shape[:2]
    assert abs(frames - shape[2] * 16) <= 1
    assert abs(duration - shape[2]) <= 1 / 16 + 0.05
    assert kinds == (["audio", "video"] if audio else ["video"])


@pytest.mark.anyio
async def test_without_pyav_a_valid_placeholder_mp4_is_served_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails
    monkeypatch.setattr(rendering, "_warned_fallback", False)
    caplog.set_level(logging.WARNING, logger="wan_video_mcp.server.simulator.rendering")
    async with (
        Simulator(SimulatorConfig(queue_seconds=0, run_seconds=0, jitter=0)) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers=KEY, trust_env=False) as client,
    ):
        task_id = await submit_ok(client)
        url = (await poll(client, task_id))["output"]["video_url"]
        data = (await client.get(url)).content
    monkeypatch.undo()
    assert "pip install av" in caplog.text
    width, height, frames, _, kinds = mp4_facts(data, tmp_path / "placeholder.mp4")
    assert (width, height, kinds) == (160, 90, ["video"]) and frames > 0


# --------------------------------------------------------------------------- other clients


@pytest.mark.anyio
async def test_the_official_dashscope_sdk_works_end_to_end(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", sim.base_url)

    def drive() -> None:
        created = VideoSynthesis.async_call(
            model="wan2.6-t2v",
            prompt="a lighthouse at dusk",
            size="1280*720",
            duration=2,
            audio=True,
            api_key="sk-test",
        )
        assert created.status_code == 200 and created.output.task_status == "PENDING"
        fetched = VideoSynthesis.fetch(created, api_key="sk-test")
        assert fetched.output.task_status == "PENDING"

        doomed = VideoSynthesis.async_call(
            model="wanx2.1-kf2v-plus", prompt="bloom", first_frame_url=IMG, api_key="sk-test"
        )  # the SDK picks the image2video path
        assert doomed.status_code == 200
        assert VideoSynthesis.cancel(doomed, api_key="sk-test").status_code == 200
        again = VideoSynthesis.cancel(doomed, api_key="sk-test")
        assert (again.status_code, again.code) == (400, "UnsupportedOperation")

        refused = VideoSynthesis.async_call(model="wan2.6-t2v", prompt="x", size="640*480", api_key="sk-test")
        assert (refused.status_code, refused.code) == (400, "InvalidParameter")
        sim.faults.submit("429")
        throttled = VideoSynthesis.async_call(model="wan2.6-t2v", prompt="x", api_key="sk-test")
        assert (throttled.status_code, throttled.code) == (429, "Throttling.RateQuota")

        sim.advance(250)
        sim.faults.poll("503")  # the SDK's wait retries a 503 once, a second later
        done = VideoSynthesis.wait(created, api_key="sk-test")
        assert done.status_code == 200 and done.output.task_status == "SUCCEEDED"
        assert done.output.video_url.startswith(sim.root_url) and done.usage["output_video_duration"] == 2
        assert VideoSynthesis.fetch(doomed, api_key="sk-test").output.task_status == "CANCELED"

        listed = VideoSynthesis.list(api_key="sk-test", page_size=5)
        assert listed.status_code == 200 and listed.output["total"] == 2
        assert {row["status"] for row in listed.output["data"]} == {"SUCCEEDED", "CANCELED"}

    with anyio.fail_after(20):
        await anyio.to_thread.run_sync(drive)
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.stats.polls) == (4, 2, 4)


@pytest.mark.anyio
async def test_the_official_aio_sdk_works_on_the_same_loop(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", sim.base_url)
    with anyio.fail_after(10):
        created = await AioVideoSynthesis.async_call(
            model="wan2.1-i2v-turbo", img_url=IMG, resolution="480P", duration=3, api_key="sk-test"
        )
        assert created.status_code == 200
        sim.advance(250)
        done = await AioVideoSynthesis.wait(created, api_key="sk-test")
    await (await get_shared_aio_session()).close()  # the SDK keeps one pooled session open for good
    assert done.output.task_status == "SUCCEEDED" and done.usage.video_ratio == "standard"


def test_a_simulator_in_a_thread_serves_synchronous_code() -> None:
    with simulator_in_thread(MANUAL) as sim, httpx.Client(base_url=sim.base_url, headers=KEY, trust_env=False) as c:
        response = c.post(T2V_PATH, headers=ASYNC, json={"model": "wan2.6-t2v", "input": {"prompt": "p"}})
        task_id = response.json()["output"]["task_id"]
        sim.advance(250)
        assert c.get(f"/tasks/{task_id}").json()["usage"]["size"] == "1920*1080"  # the default size
        assert sim.stats.submits == 1


def test_the_standalone_command_prints_only_its_url_on_stdout() -> None:
    # The command as users run it (`wan-video-mcp simulate`); the CLI owns stdout.
    proc = subprocess.Popen(
        [sys.executable, "-m", "wan_video_mcp.server.cli", "simulate", "--port", "0", "--no-render"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    watchdog = threading.Timer(30, proc.kill)  # a silent process must fail the test, not hang the suite
    watchdog.start()
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", url)
        response = httpx.get(url.removesuffix("/api/v1") + "/_sim/stats", trust_env=False)
        assert response.json()["submits"] == 0
    finally:
        watchdog.cancel()
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert out == "" and "listening on" in err and "stopping on SIGTERM" in err
    assert proc.returncode == 0


# --------------------------------------------------------------------------- gateway dialects

NEWAPI = "/v1/video/generations"
YUTO = "/v2/videos/generations"
VTRIX = "/model/v1/generation"
VIDEO = "https://e.com/ref.mp4"


@pytest.fixture
async def gw(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.root_url, headers=KEY, timeout=5, trust_env=False) as c:
        yield c


async def ok_json(response_or_awaitable: Any) -> dict[str, Any]:
    response = await response_or_awaitable
    assert response.status_code == 200, response.text
    assert response.headers["X-Wan-Simulator"] == "1"
    return response.json()


@pytest.mark.anyio
async def test_new_api_tasks_go_submitted_queued_in_progress_success_in_the_taskdto_envelope(
    sim: Simulator, gw: httpx.AsyncClient
) -> None:
    created = await ok_json(
        gw.post(
            NEWAPI,
            json={
                "model": "wan2.6-t2v",
                "prompt": "a red fox",
                "duration": 2,
                "metadata": {"input": {"negative_prompt": "blur"}, "parameters": {"size": "1280*720", "audio": False}},
            },
        )
    )
    gid = created["id"]
    assert re.fullmatch(r"task_[0-9a-f]{32}", gid)
    assert created == {
        "id": gid,
        "object": "video",
        "model": "wan2.6-t2v",
        "status": "queued",
        "progress": 0,
        "created_at": created["created_at"],
        "simulated": True,
    }
    [task] = sim.tasks
    assert (task.via, task.gateway_id, task.plan.size, task.plan.duration, task.plan.audio) == (
        "newapi",
        gid,
        "1280*720",
        2,
        False,
    )
    assert task.plan.negative_prompt == "blur"

    seen = []
    for step in (0, 60, 100, 100):
        sim.advance(step)
        body = await ok_json(gw.get(f"{NEWAPI}/{gid}"))
        assert (body["code"], body["message"]) == ("success", "")
        dto = body["data"]
        assert dto["task_id"] == gid and dto["action"] == "textGenerate"
        assert dto["data"]["output"]["task_id"] == task.task_id  # the raw DashScope poll body
        seen.append((dto["status"], dto["progress"], dto["data"]["output"]["task_status"]))
    assert seen == [
        ("SUBMITTED", "10%", "PENDING"),
        ("QUEUED", "20%", "PENDING"),
        ("IN_PROGRESS", "30%", "RUNNING"),
        ("SUCCESS", "100%", "SUCCEEDED"),
    ]
    url = dto["data"]["output"]["video_url"]
    assert url.startswith(sim.root_url + f"/results/{task.task_id}.mp4?Expires=")
    assert dto["fail_reason"] == dto["result_url"] == url  # legacy builds: the URL in fail_reason
    assert dto["submit_time"] < dto["start_time"] < dto["finish_time"]
    assert dto["finish_time"] - dto["submit_time"] in (199, 200, 201)

    direct = (await gw.get(url, headers={"Authorization": ""})).content
    content = await gw.get(f"/v1/videos/{gid}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    assert content.content == direct and len(direct) > 1000
    tail = await gw.get(f"/v1/videos/{gid}/content", headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == direct[100:]
    openai = await ok_json(gw.get(f"/v1/videos/{gid}"))
    assert (openai["status"], openai["progress"], openai["metadata"]["url"]) == ("completed", 100, url)
    # The same task, seen through DashScope's own API under its upstream id.
    assert (await ok_json(gw.get(f"/api/v1/tasks/{task.task_id}")))["output"]["task_status"] == "SUCCEEDED"
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.stats.downloads_completed) == (1, 1, 3)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": "wan2.6-t2v", "prompt": "p", "size": "1280*720"}, ("1280*720", 5, "p")),
        ({"model": "wan2.6-i2v", "prompt": "p", "input_reference": IMG, "size": "720p"}, ("1280*720", 5, "p")),
        (
            {
                "model": "wan2.6-t2v",
                "prompt": "p",
                "seconds": "3",
                "metadata": {"input": {"prompt": "from metadata"}, "parameters": {"size": "832*480", "future_key": 1}},
            },
            None,
        ),  # 832*480 is no wan2.6 size: refused below
        (
            {
                "model": "wan2.6-t2v",
                "prompt": "p",
                "seconds": "3",
                "metadata": {"input": {"prompt": "from metadata"}, "parameters": {"size": "720*1280"}},
            },
            ("720*1280", 3, "from metadata"),
        ),
    ],
)
async def test_new_api_maps_top_level_fields_and_lays_metadata_over_them(
    sim: Simulator, gw: httpx.AsyncClient, body: dict[str, Any], expected: tuple[str, int, str] | None
) -> None:
    response = await gw.post(NEWAPI, json=body)
    if expected is None:
        assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"
        return
    assert response.status_code == 200, response.text
    plan = sim.tasks[0].plan
    assert (plan.size, plan.duration, plan.prompt) == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no key", 401, "unauthorized"),
        ("unknown model", 503, "model_not_found"),
        ("kf2v model (the adaptor never uses image2video)", 400, "InvalidParameter"),
        ("size not allowed", 400, "InvalidParameter"),
        ("i2v without an image", 400, "InvalidParameter"),
        ("metadata changes the model", 400, "invalid_request"),
        ("body is not JSON", 400, "invalid_request"),
    ],
)
async def test_new_api_refusals_use_the_gateways_error_shapes(
    sim: Simulator, gw: httpx.AsyncClient, case: str, status: int, code: str
) -> None:
    bodies: dict[str, Any] = {
        "no key": {"model": "wan2.6-t2v", "prompt": "p"},
        "unknown model": {"model": "wan9-t2v", "prompt": "p"},
        "kf2v model (the adaptor never uses image2video)": {
            "model": "wan2.1-kf2v-plus",
            "prompt": "p",
            "metadata": {"input": {"first_frame_url": IMG}},
        },
        "size not allowed": {"model": "wan2.6-t2v", "prompt": "p", "metadata": {"parameters": {"size": "1*1"}}},
        "i2v without an image": {"model": "wan2.6-i2v", "prompt": "p"},
        "metadata changes the model": {"model": "wan2.6-t2v", "prompt": "p", "metadata": {"model": "wan2.5-t2v"}},
    }
    if case == "body is not JSON":
        response = await gw.post(NEWAPI, content=b"{nope")
    else:
        response = await gw.post(NEWAPI, json=bodies[case], headers={"Authorization": ""} if case == "no key" else None)
    assert response.status_code == status, response.text
    body = response.json()
    if status in (401, 503):  # the gateway's middleware: OpenAI-style
        assert body["error"]["code"] == code and body["error"]["type"] == "new_api_error" and body["error"]["message"]
    else:  # task relay errors: {code, message, data}
        assert (body["code"], body["data"]) == (code, None) and body["message"]
    if case.startswith("kf2v"):
        assert body["message"].startswith("url error")
    assert (sim.stats.submits, sim.stats.submits_refused, sim.tasks) == (1, 1, [])


@pytest.mark.anyio
async def test_new_api_failures_unknown_ids_and_other_keys(sim: Simulator, gw: httpx.AsyncClient) -> None:
    sim.faults.fail_next_task("DataInspectionFailed")
    gid = (await ok_json(gw.post(NEWAPI, json={"model": "wan2.6-t2v", "prompt": "p"})))["id"]
    not_yet = await gw.get(f"/v1/videos/{gid}/content")
    assert not_yet.status_code == 400
    assert not_yet.json()["error"] == {
        "message": "Task is not completed yet, current status: SUBMITTED",
        "type": "invalid_request_error",
    }
    sim.advance(250)
    body = await ok_json(gw.get(f"{NEWAPI}/{gid}"))
    dto = body["data"]
    assert body["code"] == "success" and (dto["status"], dto["progress"]) == ("FAILURE", "100%")
    assert dto["fail_reason"] == (
        "task failed, code: DataInspectionFailed , message: Output data may contain inappropriate content."
    )
    assert "result_url" not in dto and dto["data"]["output"]["code"] == "DataInspectionFailed"
    failed = await gw.get(f"/v1/videos/{gid}/content")
    assert failed.status_code == 400 and failed.json()["error"]["message"].endswith("current status: FAILURE")
    assert (await ok_json(gw.get(f"/v1/videos/{gid}")))["error"]["code"] == "DataInspectionFailed"

    upstream_id = sim.tasks[0].task_id
    for unknown, key in (("task_nope", KEY), (gid, {"Authorization": "Bearer sk-someone-else"}), (upstream_id, KEY)):
        refused = await gw.get(f"{NEWAPI}/{unknown}", headers=key)
        assert refused.status_code == 400 and refused.json()["code"] == "task_not_exist", unknown
    assert (await gw.get("/v1/videos/task_nope/content")).status_code == 404
    assert (await gw.get(f"{NEWAPI}/{gid}", headers={"Authorization": ""})).status_code == 401
    # A gateway id means nothing to DashScope itself.
    assert (await ok_json(gw.get(f"/api/v1/tasks/{gid}")))["output"]["task_status"] == "UNKNOWN"


@pytest.mark.anyio
async def test_gateways_keep_finished_tasks_but_their_urls_expire(sim: Simulator, gw: httpx.AsyncClient) -> None:
    gid = (await ok_json(gw.post(NEWAPI, json={"model": "wan2.6-t2v", "prompt": "p"})))["id"]
    yid = (await ok_json(gw.post(YUTO, json={"model": "wan2.6-t2v", "prompt": "p"})))["task_id"]
    sim.advance(250)
    url = (await ok_json(gw.get(f"{YUTO}/{yid}")))["data"]["output"]
    sim.advance(24 * 3600 + 1)
    assert (await ok_json(gw.get(f"{NEWAPI}/{gid}")))["data"]["status"] == "SUCCESS"  # from the gateway's database
    assert (await ok_json(gw.get(f"{YUTO}/{yid}")))["status"] == "SUCCESS"
    assert (await ok_json(gw.get(f"/api/v1/tasks/{sim.tasks[0].task_id}")))["output"]["task_status"] == "UNKNOWN"
    gone = await gw.get(f"/v1/videos/{gid}/content")
    assert gone.status_code == 502 and "expired" in gone.json()["error"]["message"]
    assert (await gw.get(url)).status_code == 403


@pytest.mark.anyio
async def test_yuto_flat_submits_and_flat_taskdto_polls(sim: Simulator, gw: httpx.AsyncClient) -> None:
    created = await ok_json(
        gw.post(
            YUTO,
            json={
                "model": "wan2.6-i2v",
                "prompt": "the cat jumps",
                "images": [IMG],
                "resolution": "720P",
                "duration": 2,
                "audio": "false",
                "negative_prompt": "blur",
                "prompt_extend": True,
                "watermark": False,
                "seed": 7,
            },
        )
    )
    yid = created["task_id"]
    assert set(created) == {"task_id", "simulated"}
    [task] = sim.tasks
    assert (task.via, task.plan.spec.id, task.plan.tier, task.plan.duration, task.plan.audio, task.plan.seed) == (
        "yuto",
        "wan2.6-i2v",
        "720P",
        2,
        False,
        7,
    )
    seen = []
    for step in (0, 60, 100, 100):
        sim.advance(step)
        body = await ok_json(gw.get(f"{YUTO}/{yid}"))
        assert set(body) == {
            "task_id",
            "status",
            "fail_reason",
            "submit_time",
            "start_time",
            "finish_time",
            "progress",
            "data",
            "simulated",
        }
        seen.append((body["status"], body["progress"], body["data"] is None))
    assert seen == [
        ("SUBMITTED", "10%", True),
        ("QUEUED", "20%", True),
        ("IN_PROGRESS", "30%", True),
        ("SUCCESS", "100%", False),
    ]
    url = body["data"]["output"]
    assert body["data"]["outputs"] == [url] and body["fail_reason"] == ""
    video = await gw.get(url, headers={"Authorization": ""})  # a signed URL: no key needed
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"

    sim.faults.fail_next_task("InternalError.Timeout")
    doomed = (
        await ok_json(
            gw.post(
                YUTO,
                json={
                    "model": "wan2.5-t2v-preview",
                    "prompt": "p",
                    "size": "832*480",
                    "duration": 10,
                    "audio_url": "https://e.com/a.mp3",
                },
            )
        )
    )["task_id"]
    sim.advance(250)
    failed = await ok_json(gw.get(f"{YUTO}/{doomed}"))
    assert (failed["status"], failed["data"]) == ("FAILURE", None)
    assert failed["fail_reason"].startswith("task failed, code: InternalError.Timeout , message: ")

    unknown = await gw.get(f"{YUTO}/nope")
    assert unknown.status_code == 400 and unknown.json()["code"] == "task_not_exist"
    bad = await gw.post(YUTO, json={"model": "wan2.6-t2v", "prompt": "p", "size": "832*480"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter" and bad.json()["data"] is None
    assert (sim.stats.submits, sim.stats.submits_accepted) == (3, 2)


@pytest.mark.anyio
async def test_vtrix_submits_under_vtrix_ids_and_polls_in_queue_processing_done(
    sim: Simulator, gw: httpx.AsyncClient
) -> None:
    created = await ok_json(
        gw.post(
            VTRIX,
            json={
                "model": "wan26_t2v",
                "input": {"prompt": "a kitten"},
                "parameters": {"size": "1280*720", "duration": 2, "audio": False},
            },
        )
    )
    vid = created["id"]
    assert created["status"] == "in_queue"
    [task] = sim.tasks
    assert (task.via, task.plan.model_name, task.plan.size) == ("vtrix", "wan2.6-t2v", "1280*720")
    seen = []
    for step in (0, 150, 100):
        sim.advance(step)
        body = await ok_json(gw.get(f"{VTRIX}/task/{vid}"))
        seen.append((body["status"], "output" in body, "usage" in body, "error" in body))
    assert seen == [("in_queue", False, False, False), ("processing", False, False, False), ("done", True, True, False)]
    [part] = body["output"][0]["content"]
    assert part["type"] == "video" and part["jobId"] == task.task_id and part["url"].startswith(sim.root_url)
    assert body["usage"] == {"cost": "0.20", "discount": 0}  # 2 s of silent 720P wan2.6 at the list price
    assert (await gw.get(part["url"], headers={"Authorization": ""})).status_code == 200

    sim.faults.fail_next_task("DataInspectionFailed")
    flagged = (await ok_json(gw.post(VTRIX, json={"model": "wan25_t2v", "input": {"prompt": "p"}})))["id"]
    sim.faults.fail_next_task("001026096", "Result parsing error")
    parsed = (
        await ok_json(
            gw.post(VTRIX, json={"model": "wan25_i2v", "input": {"img_url": IMG}, "parameters": {"resolution": "480P"}})
        )
    )["id"]
    sim.advance(250)
    failed = await ok_json(gw.get(f"{VTRIX}/task/{flagged}"))
    assert (failed["status"], failed["error"]["code"]) == ("failed", "001026095")
    assert "DataInspectionFailed" in failed["error"]["message"] and "output" not in failed
    assert (await ok_json(gw.get(f"{VTRIX}/task/{parsed}")))["error"] == {
        "code": "001026096",
        "message": "Result parsing error",
    }
    missing = await gw.get(f"{VTRIX}/task/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "task_not_found"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "wan2.6-t2v", "input": {"prompt": "p"}}, 400, "ModelNotFound"),  # catalog id, not a vtrix id
        ({"model": "wan26_t2v", "input": {"prompt": "p"}, "parameters": {"size": "1*1"}}, 400, "InvalidParameter"),
        (
            {"model": "wan26_r2v", "input": {"prompt": "character1", "reference_video_urls": [VIDEO] * 3}},
            400,
            "001026001",
        ),
        (
            {
                "model": "wan26_r2v",
                "input": {"prompt": "character1", "reference_video_urls": [VIDEO]},
                "parameters": {"audio": True},
            },
            400,
            "001026002",
        ),
        (
            {
                "model": "wan26_r2v",
                "input": {"prompt": "character1", "reference_video_urls": [VIDEO]},
                "parameters": {"duration": 15},
            },
            400,
            "001026003",
        ),
    ],
)
async def test_vtrix_refusals_carry_vtrix_codes(
    sim: Simulator, gw: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = await gw.post(VTRIX, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert (sim.stats.submits, sim.tasks) == (1, [])
    no_key = await gw.post(VTRIX, json=body, headers={"Authorization": "Basic x"})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "unauthorized"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body"),
    [
        (NEWAPI, {"model": "wan2.6-t2v", "prompt": "p"}),
        (YUTO, {"model": "wan2.6-t2v", "prompt": "p"}),
        (VTRIX, {"model": "wan26_t2v", "input": {"prompt": "p"}}),
    ],
)
async def test_faults_hit_gateway_submits_and_polls_in_the_gateways_shape(
    sim: Simulator, gw: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    sim.faults.submit("429", retry_after=3)
    throttled = await gw.post(path, json=body)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "Throttling.RateQuota"
    created = await ok_json(gw.post(path, json=body))
    gid = created.get("id") or created["task_id"]
    poll_path = f"{VTRIX}/task/{gid}" if path == VTRIX else f"{path}/{gid}"
    sim.faults.poll("503")
    assert (await gw.get(poll_path)).status_code == 503
    sim.faults.poll("malformed")
    with pytest.raises(json.JSONDecodeError):
        (await gw.get(poll_path)).json()
    await ok_json(gw.get(poll_path))
    sim.faults.submit("500", processed=True)
    assert (await gw.post(path, json=body)).status_code == 500
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.stats.polls, sim.stats.faults_applied) == (3, 2, 3, 4)


@pytest.mark.anyio
async def test_download_faults_hit_the_new_api_content_endpoint(sim: Simulator, gw: httpx.AsyncClient) -> None:
    gid = (await ok_json(gw.post(NEWAPI, json={"model": "wan2.6-t2v", "prompt": "p"})))["id"]
    sim.advance(250)
    whole = (await gw.get(f"/v1/videos/{gid}/content")).content
    sim.faults.download("truncated", truncate_at=500)
    with pytest.raises(httpx.RemoteProtocolError):
        await gw.get(f"/v1/videos/{gid}/content")
    sim.faults.download("expired")
    assert (await gw.get(f"/v1/videos/{gid}/content")).status_code == 502
    sim.faults.download("503")
    assert (await gw.get(f"/v1/videos/{gid}/content")).status_code == 503
    assert (await gw.get(f"/v1/videos/{gid}/content")).content == whole
    with anyio.fail_after(2):  # the counter moves just after the last byte went out
        while sim.stats.downloads_completed < 2:
            await anyio.sleep(0.01)
    assert (sim.stats.downloads, sim.stats.downloads_completed) == (4, 2)  # the 503 replaced the handler


# --------------------------------------------------------------------------- the real providers over loopback


def gen_request(**arguments: Any) -> GenerationRequest:
    return validate(arguments).request


def make_provider(name: str, client: httpx.AsyncClient, sim: Simulator) -> Any:
    if name == "dashscope":  # seed 003: DashScope behind the /qwen gateway prefix
        return DashScopeProvider(client, api_key="sk-test", base_url=sim.root_url + "/qwen/api/v1")
    cls = {"newapi": NewApiProvider, "yuto": YutoProvider, "vtrix": VtrixProvider}[name]
    return cls(client, api_key="sk-test", base_url=sim.root_url)


PROVIDER_CASES = [
    ("newapi", {"model": "wan2.6-t2v", "prompt": "a fox", "size": "1280*720", "duration": 2, "audio": False}),
    (
        "newapi",
        {
            "model": "wan2.6-i2v",
            "prompt": "the cat jumps",
            "img_url": IMG,
            "resolution": "720P",
            "duration": 3,
            "negative_prompt": "blur",
            "seed": 5,
        },
    ),
    (
        "newapi",
        {
            "model": "wan2.6-r2v",
            "prompt": "character1 waves",
            "reference_video_urls": [VIDEO],
            "size": "1280*720",
            "shot_type": "multi",
        },
    ),
    ("yuto", {"model": "wan2.6-t2v", "prompt": "a fox", "size": "1280*720", "duration": 2, "audio": True}),
    ("yuto", {"model": "wan2.5-i2v-preview", "prompt": "the cat jumps", "img_url": IMG, "resolution": "480P"}),
    ("vtrix", {"model": "wan2.6-t2v", "prompt": "a fox", "size": "1280*720", "duration": 2}),
    (
        "vtrix",
        {
            "model": "wan2.6-r2v",
            "prompt": "character1 waves",
            "reference_video_urls": [VIDEO],
            "size": "1280*720",
            "duration": 10,
        },
    ),
    (
        "dashscope",
        {"model": "wan2.6-i2v", "prompt": "the cat jumps", "img_url": IMG, "resolution": "720P", "duration": 2},
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "arguments"), PROVIDER_CASES, ids=[f"{n}-{a['model']}" for n, a in PROVIDER_CASES])
async def test_each_real_provider_completes_a_task_against_the_simulator(
    sim: Simulator, tmp_path: Path, name: str, arguments: dict[str, Any]
) -> None:
    request = gen_request(**arguments)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        provider = make_provider(name, client, sim)
        created = await provider.submit(request)
        assert created.status.state == "queued"
        assert (await provider.poll(created.remote_id)).state == "queued"
        sim.advance(150)
        running = await provider.poll(created.remote_id)
        assert running.state == "running" and running.video_url is None
        sim.advance(100)
        done = await provider.poll(created.remote_id)
        assert done.state == "succeeded" and done.video_url and done.video_url.startswith(sim.root_url)
        url, headers = provider.download_target(created.remote_id, done)
        result = await downloads.download(
            client, url, tmp_path / "v.mp4", headers=headers, policy=downloads.AddressPolicy.for_base_url(sim.root_url)
        )
        direct = (await client.get(done.video_url)).content
    [task] = sim.tasks
    assert task.via == ("/qwen/api/v1" if name == "dashscope" else name)
    assert (task.plan.spec.id, task.plan.duration) == (request.model, request.duration)
    if request.resolution:
        assert task.plan.tier == request.resolution
    else:
        assert task.plan.size == request.size
    if request.audio is not None:
        assert task.plan.audio is request.audio
    assert result.size == len(direct) > 1000 and (tmp_path / "v.mp4").read_bytes() == direct
    assert sim.stats.submits == sim.stats.submits_accepted == 1
    if name == "newapi":
        assert url == f"{sim.root_url}/v1/videos/{created.remote_id}/content" and headers
    else:
        assert url == done.video_url and not headers


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "model", "code"),
    [
        ("newapi", "wan2.6-t2v", "DataInspectionFailed"),
        ("yuto", "wan2.6-t2v", "DataInspectionFailed"),
        ("vtrix", "wan2.6-t2v", "001026095"),
        ("dashscope", "wan2.6-t2v", "DataInspectionFailed"),
    ],
)
async def test_each_real_provider_reads_a_failed_task_with_its_code(
    sim: Simulator, name: str, model: str, code: str
) -> None:
    sim.faults.fail_next_task("DataInspectionFailed")
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        provider = make_provider(name, client, sim)
        created = await provider.submit(gen_request(model=model, prompt="something flagged", size="1280*720"))
        sim.advance(250)
        status = await provider.poll(created.remote_id)
    assert (status.state, status.error_code, status.video_url) == ("failed", code, None)
    assert status.error_message and (
        "inappropriate" in status.error_message or "DataInspectionFailed" in status.error_message
    )


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["newapi", "yuto", "vtrix"])
async def test_each_gateway_provider_reports_unknown_ids_and_refusals_as_final(sim: Simulator, name: str) -> None:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        provider = make_provider(name, client, sim)
        with pytest.raises(ProviderError) as unknown:
            await provider.poll("no-such-task")
        assert unknown.value.retryable is False and unknown.value.http_status in (400, 404)
        sim.faults.submit("429", retry_after=2)
        with pytest.raises(ProviderError) as throttled:
            await provider.submit(gen_request(model="wan2.6-t2v", prompt="p", size="1280*720"))
        assert (throttled.value.retryable, throttled.value.created, throttled.value.retry_after) == (True, False, 2)
    assert sim.stats.submits_accepted == 0


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["newapi", "yuto", "vtrix"])
async def test_each_gateway_provider_is_told_a_wrong_key_is_refused(name: str) -> None:
    async with (
        Simulator(SimulatorConfig(required_key="sk-right", renderer="fallback")) as sim,
        httpx.AsyncClient(timeout=10, trust_env=False) as client,
    ):
        provider = make_provider(name, client, sim)  # it sends sk-test
        with pytest.raises(ProviderError) as refused:
            await provider.submit(gen_request(model="wan2.6-t2v", prompt="p", size="1280*720"))
        with pytest.raises(ProviderError) as poll_refused:
            await provider.poll("whatever")
    assert (refused.value.http_status, refused.value.retryable, refused.value.created) == (401, False, False)
    assert (poll_refused.value.http_status, poll_refused.value.retryable) == (401, False)
    assert "sk-test" not in refused.value.message and sim.tasks == []


@pytest.mark.anyio
async def test_vtrix_refuses_three_reference_videos_although_alibaba_allows_them(sim: Simulator) -> None:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        provider = make_provider("vtrix", client, sim)
        with pytest.raises(ProviderError) as caught:
            await provider.submit(
                gen_request(model="wan2.6-r2v", prompt="character1", size="1280*720", reference_video_urls=[VIDEO] * 3)
            )
    error = caught.value
    assert (error.provider_code, error.retryable, error.created) == ("001026001", False, False)
    assert "1-2" in error.message and sim.tasks == []
