"""YutoAI flat /v2 format (seed 000): request bodies, statuses, failures and errors (all mocked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from wan_video_mcp.server.catalog import MODELS, GenerationRequest, validate
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.providers.yuto import YUTO_MODELS, YutoProvider, build_submit, parse_submit, parse_task

CANARY = "sk-canary-yuto-456"
ROOT = "https://api.yuto.example.test"
TASK_ID = "e7bed961-d1b9-4b3f-8ef9-5f441bde28c8"
SEED_PROMPT = (
    "An epically cute scene. A tiny cartoon kitten general in detailed golden armor and an oversized helmet stands "
    'bravely on a cliff. Riding a small but heroic warhorse, he declares: "Dark clouds gather above the Snow '
    "Mountain, and from the lone city we gaze toward Yumenguan. After a hundred battles in yellow sand, the golden "
    'armor is worn through; we will not return until Loulan is broken." Below the cliff, a vast and endless army of '
    "mice charges forward with improvised weapons. It is a dramatic large-scale battle scene inspired by ancient "
    "Chinese war epics. Dark clouds hang above the distant Snow Mountain, blending comedy, cuteness, and epic grandeur."
)
SEED_AUDIO = "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20250923/hbiayh/%E4%BB%8E%E5%86%9B%E8%A1%8C.mp3"
# Seed 000's example body, verbatim.
SEED_BODY = {
    "model": "wan2.5-t2v-preview",
    "prompt": SEED_PROMPT,
    "audio_url": SEED_AUDIO,
    "size": "832*480",
    "prompt_extend": True,
    "duration": 10,
}
VIDEO = "https://cdn.yuto.example.test/out/e7bed961.mp4"


@pytest.fixture
async def provider(client: httpx.AsyncClient) -> YutoProvider:
    return YutoProvider(client, api_key=CANARY, base_url=ROOT)


def request_for(**arguments: Any) -> GenerationRequest:
    return validate(arguments).request


def seed_request() -> GenerationRequest:
    return request_for(**SEED_BODY)


def task_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": TASK_ID,
        "status": "QUEUED",
        "fail_reason": "",
        "submit_time": 1765328779,
        "start_time": 0,
        "finish_time": 0,
        "progress": "20%",
        "data": None,
    }
    body.update(fields)
    return body


# --------------------------------------------------------------------------- request bodies


def test_the_seed_request_becomes_the_seed_body_plus_the_explicit_watermark_default() -> None:
    assert build_submit(seed_request()) == {**SEED_BODY, "watermark": False}


def test_an_image_to_video_request_sends_images_and_resolution_instead_of_size() -> None:
    request = request_for(
        model="wan2.6-i2v",
        img_url="https://img.example.test/cat.png",
        prompt="the cat jumps",
        resolution="720P",
        audio=False,
        negative_prompt="blur",
        seed=9,
        shot_type="multi",
    )
    assert build_submit(request) == {
        "model": "wan2.6-i2v",
        "prompt": "the cat jumps",
        "duration": 5,
        "images": ["https://img.example.test/cat.png"],
        "resolution": "720P",
        "negative_prompt": "blur",
        "audio": False,
        "prompt_extend": True,
        "watermark": False,
        "seed": 9,
        "shot_type": "multi",
    }


def test_the_body_is_flat_and_omits_every_unset_field() -> None:
    body = build_submit(request_for(model="wan2.6-t2v", prompt="a fox"))
    assert body == {
        "model": "wan2.6-t2v",
        "prompt": "a fox",
        "duration": 5,
        "size": "1920*1080",
        "prompt_extend": True,
        "watermark": False,
    }


def test_only_the_documented_generations_are_offered() -> None:
    provider = YutoProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    assert {spec.id for spec in MODELS if provider.offers(spec.id)} == {
        "wan2.6-t2v",
        "wan2.5-t2v-preview",
        "wan2.6-i2v",
        "wan2.5-i2v-preview",
    }
    assert YUTO_MODELS <= {spec.id for spec in MODELS}
    for model in ("wan2.1-t2v-turbo", "wan2.6-r2v", "wan2.1-kf2v-plus", "wan2.6-i2v-flash"):
        assert not provider.offers(model)


# --------------------------------------------------------------------------- submit


@pytest.mark.anyio
async def test_submit_posts_the_flat_body_with_the_bearer_key_and_returns_the_task_id(
    router: respx.MockRouter, provider: YutoProvider
) -> None:
    route = router.post(f"{ROOT}/v2/videos/generations").respond(200, json={"task_id": TASK_ID})
    task = await provider.submit(seed_request())
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert json.loads(sent.content) == {**SEED_BODY, "watermark": False}
    assert task.remote_id == TASK_ID
    assert task.status == RemoteStatus(remote_id=TASK_ID, state="queued")


@pytest.mark.anyio
@pytest.mark.parametrize("base", [f"{ROOT}/v2", f"{ROOT}/v2/", f"{ROOT}/"])
async def test_a_base_url_ending_in_v2_is_not_doubled(
    router: respx.MockRouter, client: httpx.AsyncClient, base: str
) -> None:
    route = router.post(f"{ROOT}/v2/videos/generations").respond(200, json={"task_id": TASK_ID})
    await YutoProvider(client, api_key=CANARY, base_url=base).submit(seed_request())
    assert route.called


def test_a_submit_answer_without_a_task_id_may_have_created_a_task() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({})
    assert (caught.value.created, caught.value.retryable) == (None, False)


def test_a_submit_answer_carrying_an_error_created_nothing() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({"error": {"message": "model not found", "type": "invalid_request_error"}})
    assert (caught.value.created, caught.value.provider_code) == (False, "invalid_request_error")
    assert "model not found" in caught.value.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "retryable", "created"),
    [
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (429, True, False),
        (500, False, None),
        (503, False, None),
    ],
)
async def test_submit_http_errors_say_whether_a_retry_is_safe(
    router: respx.MockRouter, provider: YutoProvider, status: int, retryable: bool, created: bool | None
) -> None:
    router.post(f"{ROOT}/v2/videos/generations").respond(
        status, json={"error": {"message": f"no luck for {CANARY}", "type": "upstream_error"}}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    error = caught.value
    assert (error.http_status, error.retryable, error.created) == (status, retryable, created)
    assert CANARY not in error.message


@pytest.mark.anyio
async def test_a_bad_gateway_page_on_submit_may_hide_a_created_task(
    router: respx.MockRouter, provider: YutoProvider
) -> None:
    router.post(f"{ROOT}/v2/videos/generations").respond(502, text="<html>502</html>")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created) == (False, None)


# --------------------------------------------------------------------------- poll


@pytest.mark.anyio
async def test_polling_a_finished_task_reads_the_url_from_data_output(
    router: respx.MockRouter, provider: YutoProvider
) -> None:
    body = {
        "task_id": TASK_ID,
        "status": "SUCCESS",
        "fail_reason": "",
        "submit_time": 1765328779,
        "start_time": 1765328794,
        "finish_time": 1765328947,
        "progress": "100%",
        "data": {"output": VIDEO, "outputs": [VIDEO]},
    }
    route = router.get(f"{ROOT}/v2/videos/generations/{TASK_ID}").respond(200, json=body)
    status = await provider.poll(TASK_ID)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY}"
    assert status == RemoteStatus(
        remote_id=TASK_ID,
        state="succeeded",
        progress=100.0,
        video_url=VIDEO,
        submitted_at=datetime.fromtimestamp(1765328779, UTC),
        finished_at=datetime.fromtimestamp(1765328947, UTC),
    )


def test_the_first_of_data_outputs_is_used_when_data_output_is_empty() -> None:
    status = parse_task(TASK_ID, task_body(status="SUCCESS", data={"output": "", "outputs": ["", VIDEO]}))
    assert status.video_url == VIDEO


def test_a_legacy_url_in_fail_reason_is_used_when_data_is_empty() -> None:
    assert parse_task(TASK_ID, task_body(status="SUCCESS", fail_reason=VIDEO)).video_url == VIDEO


@pytest.mark.parametrize(
    ("spelling", "state"),
    [
        ("NOT_START", "queued"),
        ("SUBMITTED", "queued"),
        ("QUEUED", "queued"),
        ("IN_PROGRESS", "running"),
        ("SUCCESS", "succeeded"),
        ("FAILURE", "failed"),
        ("queued", "queued"),
        ("in_progress", "running"),
        ("completed", "succeeded"),
        ("failed", "failed"),
        ("MYSTERY", "queued"),
    ],
)
def test_every_documented_state_maps_to_ours(spelling: str, state: str) -> None:
    assert parse_task(TASK_ID, task_body(status=spelling)).state == state


@pytest.mark.parametrize(("progress", "expected"), [("30%", 30.0), (30, 30.0), ("", None)])
def test_progress_comes_as_a_percent_string_or_a_number(progress: Any, expected: float | None) -> None:
    assert parse_task(TASK_ID, task_body(status="IN_PROGRESS", progress=progress)).progress == expected


def test_a_failed_task_carries_the_code_and_message_from_fail_reason() -> None:
    status = parse_task(
        TASK_ID,
        task_body(
            status="FAILURE",
            progress="100%",
            fail_reason="task failed, code: InvalidParameter , message: The size is not match the model",
        ),
    )
    assert (status.state, status.error_code, status.error_message, status.video_url) == (
        "failed",
        "InvalidParameter",
        "The size is not match the model",
        None,
    )


def test_a_failed_task_with_a_plain_reason_keeps_it() -> None:
    status = parse_task(TASK_ID, task_body(status="FAILURE", fail_reason="content moderation"))
    assert (status.error_code, status.error_message) == (None, "content moderation")


def test_a_failed_task_without_a_reason_still_says_so() -> None:
    assert parse_task(TASK_ID, task_body(status="FAILURE")).error_message == "the task failed without a reason"


def test_a_new_api_envelope_around_the_task_is_tolerated() -> None:
    body = {"code": "success", "message": "", "data": task_body(status="IN_PROGRESS", progress="30%")}
    assert parse_task(TASK_ID, body).state == "running"


def test_an_envelope_with_an_error_code_is_a_provider_error_without_the_key() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_task(TASK_ID, {"code": "get_task_failed", "message": f"oops {CANARY}", "data": None}, secret=CANARY)
    assert caught.value.provider_code == "get_task_failed"
    assert CANARY not in caught.value.message


def test_an_upstream_unknown_task_has_expired() -> None:
    body = task_body(status="FAILURE", data={"output": {"task_status": "UNKNOWN"}})
    assert parse_task(TASK_ID, body).state == "expired"


@pytest.mark.anyio
async def test_an_unknown_task_id_is_not_found(router: respx.MockRouter, provider: YutoProvider) -> None:
    router.get(f"{ROOT}/v2/videos/generations/nope").respond(404, json={"message": "not found"})
    with pytest.raises(ProviderError) as caught:
        await provider.poll("nope")
    assert (caught.value.http_status, caught.value.retryable) == (404, False)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (500, True), (504, True)])
async def test_poll_http_errors_are_retryable_only_when_transient(
    router: respx.MockRouter, provider: YutoProvider, status: int, retryable: bool
) -> None:
    router.get(f"{ROOT}/v2/videos/generations/{TASK_ID}").respond(status, text="busy")
    with pytest.raises(ProviderError) as caught:
        await provider.poll(TASK_ID)
    assert (caught.value.http_status, caught.value.retryable) == (status, retryable)


@pytest.mark.anyio
async def test_a_connection_failure_during_poll_is_retryable(router: respx.MockRouter, provider: YutoProvider) -> None:
    router.get(f"{ROOT}/v2/videos/generations/{TASK_ID}").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as caught:
        await provider.poll(TASK_ID)
    assert caught.value.retryable is True


# --------------------------------------------------------------------------- cancel, list, download


@pytest.mark.anyio
async def test_cancel_is_not_supported(provider: YutoProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.cancel(TASK_ID)
    assert "not supported" in caught.value.message


@pytest.mark.anyio
async def test_there_is_no_task_list(provider: YutoProvider) -> None:
    assert await provider.list_recent(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_the_video_is_fetched_from_its_url_without_the_key() -> None:
    provider = YutoProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    status = RemoteStatus(remote_id=TASK_ID, state="succeeded", video_url=VIDEO)
    assert provider.download_target(TASK_ID, status) == (VIDEO, {})


def test_a_task_without_a_url_cannot_be_downloaded() -> None:
    provider = YutoProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    with pytest.raises(ProviderError):
        provider.download_target(TASK_ID, RemoteStatus(remote_id=TASK_ID, state="succeeded"))
