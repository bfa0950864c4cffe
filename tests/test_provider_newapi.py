"""new-api gateway (seed 001): request bodies, every status spelling, failures, errors and downloads (all mocked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from wan_video_mcp.server.catalog import MODELS, Family, GenerationRequest, Protocol, validate
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.providers.gateway import gateway_root
from wan_video_mcp.server.providers.newapi import NewApiProvider, build_submit, parse_submit, parse_task
from wan_video_mcp.server.providers.parsing import parse_progress
from wan_video_mcp.server.providers.taskdto import parse_fail_reason

CANARY = "sk-canary-newapi-123"
ROOT = "https://gw.example.test"
TASK_ID = "task_01JEXAMPLE"
SEED_PROMPT = (
    "A large hand-shaped marble statue with vines growing on it, "
    "on a platform in the middle of a shallow pool of water."
)

# The three poll bodies of seed 001, verbatim.
SEED_PROCESSING = {
    "code": "success",
    "message": "",
    "data": {
        "task_id": "...",
        "action": "textGenerate",
        "status": "IN_PROGRESS",
        "fail_reason": "",
        "submit_time": 1765328779,
        "start_time": 1765328794,
        "finish_time": 0,
        "progress": "30%",
        "data": {
            "output": {
                "scheduled_time": "2025-12-10 09:06:19.749",
                "submit_time": "2025-12-10 09:06:19.731",
                "task_id": "...",
                "task_status": "RUNNING",
            },
            "request_id": "...",
        },
    },
}
SEED_SUCCESS = {
    "code": "success",
    "message": "",
    "data": {
        "task_id": "...",
        "action": "textGenerate",
        "status": "SUCCESS",
        "fail_reason": "<OUTPUT_URL>",
        "submit_time": 1765328779,
        "start_time": 1765328794,
        "finish_time": 1765328947,
        "progress": "100%",
        "data": {
            "output": {
                "actual_prompt": "<EDITED_PROMPT>",
                "end_time": "2025-12-10 09:08:53.863",
                "orig_prompt": SEED_PROMPT,
                "scheduled_time": "2025-12-10 09:06:19.749",
                "submit_time": "2025-12-10 09:06:19.731",
                "task_id": "...",
                "task_status": "SUCCEEDED",
                "video_url": "<OUTPUT_URL>",
            },
            "request_id": "...",
            "usage": {"video_count": 1, "video_duration": 5, "video_ratio": "1920*1080"},
        },
    },
}
SEED_FAILED = {
    "code": "success",
    "message": "",
    "data": {
        "task_id": "...",
        "action": "textGenerate",
        "status": "FAILURE",
        "fail_reason": "task failed, code: InvalidParameter , message: image_url must provided",
        "submit_time": 1765407269,
        "start_time": 1765407278,
        "finish_time": 1765407294,
        "progress": "100%",
        "data": {
            "output": {
                "code": "InvalidParameter",
                "end_time": "2025-12-11 06:54:49.934",
                "message": "image_url must provided",
                "scheduled_time": "2025-12-11 06:54:29.557",
                "submit_time": "2025-12-11 06:54:29.529",
                "task_id": "...",
                "task_status": "FAILED",
            },
            "request_id": "...",
        },
    },
}


@pytest.fixture
async def provider(client: httpx.AsyncClient) -> NewApiProvider:
    return NewApiProvider(client, api_key=CANARY, base_url=ROOT)


def request_for(**arguments: Any) -> GenerationRequest:
    # These tests were written for the legacy shape: without a model, wan2.6-t2v (the default until wan2.7).
    return validate({"model": "wan2.6-t2v"} | arguments).request


def seed_request() -> GenerationRequest:
    return request_for(
        model="wan2.5-t2v-preview", prompt=SEED_PROMPT, negative_prompt="trees, animals, outdoors", size="1280*720"
    )


def envelope(**task: Any) -> dict[str, Any]:
    return {"code": "success", "message": "", "data": task}


def status_of(remote_id: str = TASK_ID, **kwargs: Any) -> RemoteStatus:
    return RemoteStatus(remote_id=remote_id, state="succeeded", **kwargs)


# --------------------------------------------------------------------------- request bodies


def test_the_seed_request_travels_in_metadata_under_the_official_names() -> None:
    assert build_submit(seed_request()) == {
        "model": "wan2.5-t2v-preview",
        "prompt": SEED_PROMPT,
        "duration": 5,
        "metadata": {
            "input": {"negative_prompt": "trees, animals, outdoors"},
            "parameters": {"size": "1280*720", "duration": 5, "prompt_extend": True, "watermark": False},
        },
    }


# The smallest media list each media-protocol family takes.
MEDIA = {
    Family.I2V: [{"type": "first_frame", "url": "https://img.example.test/cat.png"}],
    Family.R2V: [{"type": "reference_image", "url": "https://img.example.test/cat.png"}],
    Family.EDIT: [{"type": "video", "url": "https://vid.example.test/1.mp4"}],
}


@pytest.mark.parametrize("spec", [s for s in MODELS if s.family is not Family.KF2V], ids=lambda s: s.id)
def test_no_body_ever_carries_a_top_level_size(spec: Any) -> None:
    arguments: dict[str, Any] = {"model": spec.id, "prompt": "a cat"}
    if spec.protocol is Protocol.MEDIA:
        if spec.family in MEDIA:
            arguments["media"] = MEDIA[spec.family]
    elif spec.family is Family.I2V:
        arguments["img_url"] = "https://img.example.test/cat.png"
    elif spec.family is Family.R2V:
        arguments["reference_video_urls"] = ["https://vid.example.test/1.mp4"]
    elif spec.family is Family.R2V_MIXED:
        arguments["reference_urls"] = ["https://img.example.test/cat.png"]
    body = build_submit(request_for(**arguments))
    assert "size" not in body
    assert set(body) == {"model", "prompt", "duration", "metadata"}


def test_an_image_to_video_request_sends_img_url_and_resolution() -> None:
    request = request_for(
        model="wan2.6-i2v",
        img_url="https://img.example.test/cat.png",
        prompt="the cat jumps",
        audio_url="https://aud.example.test/a.mp3",
        duration=10,
        seed=42,
        watermark=True,
        prompt_extend=False,
        shot_type="single",
    )
    assert build_submit(request) == {
        "model": "wan2.6-i2v",
        "prompt": "the cat jumps",
        "duration": 10,
        "metadata": {
            "input": {"audio_url": "https://aud.example.test/a.mp3", "img_url": "https://img.example.test/cat.png"},
            "parameters": {
                "resolution": "1080P",
                "duration": 10,
                "prompt_extend": False,
                "watermark": True,
                "seed": 42,
                "shot_type": "single",
            },
        },
    }


def test_a_reference_video_request_sends_the_urls_as_a_list_with_audio_and_shot_type() -> None:
    request = request_for(
        model="wan2.6-r2v",
        prompt="character1 waves",
        reference_video_urls=["https://v.example.test/1.mp4", "https://v.example.test/2.mp4"],
        audio=True,
        shot_type="multi",
        size="1280*720",
    )
    assert build_submit(request)["metadata"] == {
        "input": {"reference_video_urls": ["https://v.example.test/1.mp4", "https://v.example.test/2.mp4"]},
        "parameters": {
            "size": "1280*720",
            "duration": 5,
            "prompt_extend": True,
            "watermark": False,
            "audio": True,
            "shot_type": "multi",
        },
    }


def test_an_image_to_video_request_without_prompt_omits_the_prompt() -> None:
    body = build_submit(request_for(model="wan2.1-i2v-turbo", img_url="https://img.example.test/cat.png"))
    assert "prompt" not in body
    assert body["metadata"]["input"] == {"img_url": "https://img.example.test/cat.png"}


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("https://gw.example.test", "https://gw.example.test"),
        ("https://gw.example.test/", "https://gw.example.test"),
        ("https://gw.example.test/v1", "https://gw.example.test"),
        ("https://gw.example.test/v1/", "https://gw.example.test"),
        ("https://gw.example.test/proxy/v1", "https://gw.example.test/proxy"),
    ],
)
def test_the_gateway_root_drops_trailing_slashes_and_a_version_segment(base: str, root: str) -> None:
    assert gateway_root(base, ("/v1",)) == root


# --------------------------------------------------------------------------- offers


def test_the_gateway_offers_text_image_and_reference_models_but_never_first_last_frame() -> None:
    provider = NewApiProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    offered = {spec.id for spec in MODELS if provider.offers(spec.id)}
    assert offered == {spec.id for spec in MODELS if spec.family is not Family.KF2V}
    assert not provider.offers("wan2.1-kf2v-plus")
    assert not provider.offers("wan2.2-kf2v-flash")
    assert not provider.offers("no-such-model")


# --------------------------------------------------------------------------- submit over HTTP


@pytest.mark.anyio
async def test_submit_posts_the_seed_body_with_the_bearer_key_and_returns_the_gateway_task_id(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    route = router.post(f"{ROOT}/v1/video/generations").respond(
        200,
        json={
            "id": TASK_ID,
            "object": "video",
            "model": "wan2.5-t2v-preview",
            "status": "queued",
            "progress": 0,
            "created_at": 1765328779,
        },
    )
    task = await provider.submit(seed_request())
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert json.loads(sent.content) == build_submit(seed_request())
    assert task.remote_id == TASK_ID
    assert task.status == RemoteStatus(
        remote_id=TASK_ID, state="queued", progress=0.0, submitted_at=datetime.fromtimestamp(1765328779, UTC)
    )


@pytest.mark.anyio
async def test_a_base_url_that_already_ends_in_v1_is_not_doubled(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(f"{ROOT}/v1/video/generations").respond(200, json={"id": "abc", "status": "queued"})
    provider = NewApiProvider(client, api_key=CANARY, base_url=f"{ROOT}/v1/")
    assert (await provider.submit(seed_request())).remote_id == "abc"
    assert route.called


@pytest.mark.anyio
async def test_model_names_map_catalog_ids_to_the_gateways_own_names(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(f"{ROOT}/v1/video/generations").respond(200, json={"id": "abc", "status": "queued"})
    provider = NewApiProvider(
        client, api_key=CANARY, base_url=ROOT, model_names={"wan2.1-i2v-plus": "wanx2.1-i2v-plus"}
    )
    await provider.submit(request_for(model="wan2.1-i2v-plus", img_url="https://img.example.test/a.png"))
    assert json.loads(route.calls.last.request.content)["model"] == "wanx2.1-i2v-plus"


def test_a_submit_answer_without_an_id_may_have_created_a_task() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({"object": "video", "status": "queued"})
    assert (caught.value.created, caught.value.retryable) == (None, False)


def test_a_submit_answer_that_is_an_error_body_created_nothing() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({"code": "model_price_error", "message": "model price not configured", "data": None})
    assert (caught.value.created, caught.value.retryable, caught.value.provider_code) == (
        False,
        False,
        "model_price_error",
    )
    assert "model price not configured" in caught.value.message


@pytest.mark.anyio
async def test_a_rejected_submit_is_not_retryable_and_names_the_upstream_error(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    router.post(f"{ROOT}/v1/video/generations").respond(
        400,
        json={
            "code": "fail_to_fetch_task",
            "message": '{"code":"InvalidParameter","message":"The size is not match the model"}',
            "data": None,
        },
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    error = caught.value
    assert (error.http_status, error.provider_code, error.retryable, error.created) == (
        400,
        "fail_to_fetch_task",
        False,
        False,
    )
    assert "The size is not match the model" in error.message


@pytest.mark.anyio
async def test_a_submit_refused_with_401_asks_for_the_key_and_is_not_retryable(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    router.post(f"{ROOT}/v1/video/generations").respond(
        401, json={"error": {"message": f"invalid token {CANARY}", "type": "new_api_error"}}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    error = caught.value
    assert (error.http_status, error.retryable, error.created, error.provider_code) == (
        401,
        False,
        False,
        "new_api_error",
    )
    assert "refused the API key" in error.message
    assert CANARY not in error.message and CANARY not in error.hint
    assert CANARY not in json.dumps(error.to_dict())


@pytest.mark.anyio
async def test_a_rate_limited_submit_is_retryable_after_the_advertised_delay(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    router.post(f"{ROOT}/v1/video/generations").respond(
        429, json={"error": {"message": "too many requests", "type": "rate_limit"}}, headers={"Retry-After": "7"}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created, caught.value.retry_after) == (True, False, 7.0)


@pytest.mark.anyio
async def test_a_gateway_5xx_on_submit_may_hide_a_created_task_even_with_an_error_body(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    router.post(f"{ROOT}/v1/video/generations").respond(
        500, json={"code": "do_request_failed", "message": "upstream unavailable", "data": None}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    # new-api creates the upstream task before recording it: a 500 can follow a paid task, so never resend.
    assert (caught.value.retryable, caught.value.created, caught.value.http_status) == (False, None, 500)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [502, 504])
async def test_a_proxy_error_page_on_submit_may_hide_a_created_task(
    router: respx.MockRouter, provider: NewApiProvider, status: int
) -> None:
    router.post(f"{ROOT}/v1/video/generations").respond(status, text="<html>Bad gateway</html>")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created) == (False, None)


@pytest.mark.anyio
async def test_a_read_timeout_on_submit_leaves_the_task_unknown(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    router.post(f"{ROOT}/v1/video/generations").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created) == (False, None)


# --------------------------------------------------------------------------- poll


@pytest.mark.anyio
async def test_polling_the_seed_processing_body_reports_running_at_30_percent(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    route = router.get(f"{ROOT}/v1/video/generations/{TASK_ID}").respond(200, json=SEED_PROCESSING)
    status = await provider.poll(TASK_ID)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY}"
    assert status == RemoteStatus(
        remote_id=TASK_ID, state="running", progress=30.0, submitted_at=datetime.fromtimestamp(1765328779, UTC)
    )


def test_the_seed_success_body_gives_the_video_url_prompt_usage_and_times() -> None:
    assert parse_task(TASK_ID, SEED_SUCCESS) == RemoteStatus(
        remote_id=TASK_ID,
        state="succeeded",
        progress=100.0,
        video_url="<OUTPUT_URL>",
        actual_prompt="<EDITED_PROMPT>",
        usage={"video_count": 1, "video_duration": 5, "video_ratio": "1920*1080"},
        submitted_at=datetime.fromtimestamp(1765328779, UTC),
        finished_at=datetime.fromtimestamp(1765328947, UTC),
    )


def test_the_seed_failure_inside_a_success_envelope_is_a_failed_task_with_code_and_message() -> None:
    assert parse_task(TASK_ID, SEED_FAILED) == RemoteStatus(
        remote_id=TASK_ID,
        state="failed",
        progress=100.0,
        error_code="InvalidParameter",
        error_message="image_url must provided",
        submitted_at=datetime.fromtimestamp(1765407269, UTC),
        finished_at=datetime.fromtimestamp(1765407294, UTC),
    )


def test_a_failure_known_only_from_fail_reason_is_parsed_into_code_and_message() -> None:
    body = envelope(
        status="FAILURE",
        progress="100%",
        fail_reason="task failed, code: DataInspectionFailed , message: Input data may contain inappropriate content.",
    )
    status = parse_task(TASK_ID, body)
    assert (status.state, status.error_code, status.error_message) == (
        "failed",
        "DataInspectionFailed",
        "Input data may contain inappropriate content.",
    )


def test_a_failure_with_a_plain_reason_keeps_the_reason_as_the_message() -> None:
    status = parse_task(TASK_ID, envelope(status="FAILURE", fail_reason="task failed"))
    assert (status.state, status.error_code, status.error_message) == ("failed", None, "task failed")


def test_a_failure_without_any_reason_still_says_it_failed() -> None:
    status = parse_task(TASK_ID, envelope(status="FAILURE", fail_reason=""))
    assert (status.state, status.error_message) == ("failed", "the task failed without a reason")


def test_legacy_builds_deliver_the_video_url_in_fail_reason() -> None:
    url = "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/1.mp4?Expires=1"
    status = parse_task(
        TASK_ID,
        envelope(status="SUCCESS", progress="100%", fail_reason=url, data={"output": {"task_status": "SUCCEEDED"}}),
    )
    assert (status.state, status.video_url, status.error_message) == ("succeeded", url, None)


def test_result_url_wins_over_the_upstream_url_and_fail_reason() -> None:
    body = envelope(
        status="SUCCESS",
        result_url="https://a.example.test/r.mp4",
        fail_reason="https://b.example.test/f.mp4",
        data={"output": {"task_status": "SUCCEEDED", "video_url": "https://c.example.test/v.mp4"}},
    )
    assert parse_task(TASK_ID, body).video_url == "https://a.example.test/r.mp4"


def test_a_url_in_fail_reason_is_no_failure_reason() -> None:
    status = parse_task(TASK_ID, envelope(status="FAILURE", fail_reason="https://a.example.test/r.mp4"))
    assert (status.state, status.video_url, status.error_message) == (
        "failed",
        None,
        "the task failed without a reason",
    )


@pytest.mark.parametrize(
    ("spelling", "state"),
    [
        ("queued", "queued"),
        ("in_progress", "running"),
        ("completed", "succeeded"),
        ("failed", "failed"),
        ("QUEUED", "queued"),
        ("IN_PROGRESS", "running"),
        ("SUCCESS", "succeeded"),
        ("FAILURE", "failed"),
        ("NOT_START", "queued"),
        ("SUBMITTED", "queued"),
        ("unknown", "queued"),
        ("UNKNOWN", "queued"),
        ("processing", "running"),
        ("succeeded", "succeeded"),
        ("SOMETHING_NEW", "queued"),
        ("", "queued"),
    ],
)
def test_every_documented_status_spelling_maps_to_our_state(spelling: str, state: str) -> None:
    assert parse_task(TASK_ID, envelope(status=spelling)).state == state


def test_a_bare_taskdto_without_the_envelope_is_read_too() -> None:
    assert parse_task(TASK_ID, {"status": "IN_PROGRESS", "progress": "30%"}).progress == 30.0


def test_without_a_gateway_status_the_upstream_task_status_decides() -> None:
    assert parse_task(TASK_ID, envelope(data={"output": {"task_status": "RUNNING"}})).state == "running"


@pytest.mark.parametrize(
    ("value", "progress"),
    [
        (0, 0.0),
        (30, 30.0),
        (42.5, 42.5),
        ("30%", 30.0),
        ("100%", 100.0),
        ("10", 10.0),
        (" 20 % ", 20.0),
        ("", None),
        (None, None),
        ("n/a", None),
        (True, None),
        (250, 100.0),
        (-3, 0.0),
    ],
)
def test_progress_is_read_from_numbers_and_percent_strings(value: Any, progress: float | None) -> None:
    assert parse_progress(value) == progress


def test_an_upstream_unknown_task_has_expired() -> None:
    body = envelope(
        status="FAILURE", fail_reason="task failed", data={"output": {"task_id": "x", "task_status": "UNKNOWN"}}
    )
    status = parse_task(TASK_ID, body)
    assert (status.state, status.error_code, status.video_url) == ("expired", "expired", None)
    assert "expire" in (status.error_message or "")


def test_an_upstream_cancel_reported_as_failure_is_a_cancel() -> None:
    body = envelope(status="FAILURE", fail_reason="task failed", data={"output": {"task_status": "CANCELED"}})
    assert parse_task(TASK_ID, body).state == "canceled"


def test_a_non_success_envelope_code_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_task(TASK_ID, {"code": "get_task_failed", "message": "database is locked", "data": None})
    assert caught.value.provider_code == "get_task_failed"
    assert "database is locked" in caught.value.message


def test_a_failure_message_never_repeats_the_api_key() -> None:
    reason = f"task failed, code: X , message: bad {CANARY}"
    status = parse_task(TASK_ID, envelope(status="FAILURE", fail_reason=reason), secret=CANARY)
    assert CANARY not in (status.error_message or "")


def test_fail_reason_parsing_handles_the_seed_format_and_plain_text() -> None:
    assert parse_fail_reason("task failed, code: InvalidParameter , message: image_url must provided") == (
        "InvalidParameter",
        "image_url must provided",
    )
    assert parse_fail_reason("upstream timeout") == (None, "upstream timeout")
    assert parse_fail_reason("https://x.example.test/v.mp4") == (None, None)
    assert parse_fail_reason(None) == (None, None)


@pytest.mark.anyio
async def test_an_unknown_task_id_is_reported_as_not_found(router: respx.MockRouter, provider: NewApiProvider) -> None:
    router.get(f"{ROOT}/v1/video/generations/nope").respond(
        400, json={"code": "task_not_exist", "message": "task_not_exist", "data": None}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.poll("nope")
    error = caught.value
    assert (error.provider_code, error.http_status, error.retryable) == ("task_not_exist", 400, False)
    assert "has no task nope" in error.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (403, False), (429, True), (500, True), (502, True), (503, True)]
)
async def test_poll_http_errors_are_retryable_only_when_transient(
    router: respx.MockRouter, provider: NewApiProvider, status: int, retryable: bool
) -> None:
    router.get(f"{ROOT}/v1/video/generations/{TASK_ID}").respond(
        status, json={"error": {"message": f"nope {CANARY}", "type": "new_api_error"}}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.poll(TASK_ID)
    assert (caught.value.http_status, caught.value.retryable) == (status, retryable)
    assert CANARY not in caught.value.message


@pytest.mark.anyio
async def test_a_task_id_is_escaped_in_the_poll_path(router: respx.MockRouter, provider: NewApiProvider) -> None:
    route = router.get(f"{ROOT}/v1/video/generations/a%2F..%2Fb").respond(200, json=envelope(status="QUEUED"))
    assert (await provider.poll("a/../b")).state == "queued"
    assert route.called


# --------------------------------------------------------------------------- cancel, list, download


@pytest.mark.anyio
async def test_cancel_is_not_supported_by_this_gateway(provider: NewApiProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.cancel(TASK_ID)
    assert "not supported by this gateway" in caught.value.message
    assert caught.value.retryable is False


@pytest.mark.anyio
async def test_the_gateway_has_no_task_list(provider: NewApiProvider) -> None:
    assert await provider.list_recent(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_the_video_is_downloaded_through_the_content_endpoint_with_the_key() -> None:
    provider = NewApiProvider(httpx.AsyncClient(), api_key=CANARY, base_url=f"{ROOT}/v1")
    assert provider.download_target(TASK_ID, status_of(video_url="https://oss.example.test/v.mp4")) == (
        f"{ROOT}/v1/videos/{TASK_ID}/content",
        {"Authorization": f"Bearer {CANARY}"},
    )


def test_without_the_content_endpoint_the_result_url_is_fetched_without_the_key() -> None:
    provider = NewApiProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT, use_content_endpoint=False)
    assert provider.download_target(TASK_ID, status_of(video_url="https://oss.example.test/v.mp4")) == (
        "https://oss.example.test/v.mp4",
        {},
    )


def test_without_the_content_endpoint_a_missing_url_cannot_be_downloaded() -> None:
    provider = NewApiProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT, use_content_endpoint=False)
    with pytest.raises(ProviderError) as caught:
        provider.download_target(TASK_ID, status_of())
    assert CANARY not in caught.value.message


def test_the_media_protocol_travels_in_metadata_under_the_apis_own_names() -> None:
    media = [
        {
            "type": "reference_image",
            "url": "https://img.example.test/girl.png",
            "reference_voice": "https://a.test/v.mp3",
        },
        {"type": "first_frame", "url": "https://img.example.test/first.png"},
    ]
    request = request_for(model="wan2.7-r2v", prompt="Image 1 walks", media=media, resolution="720P", duration=8)
    assert build_submit(request) == {
        "model": "wan2.7-r2v",
        "prompt": "Image 1 walks",
        "duration": 8,
        "metadata": {
            # The JS plugin merges metadata.input into input verbatim; no ratio with a first frame (it is ignored).
            "input": {"media": media},
            "parameters": {"resolution": "720P", "duration": 8, "prompt_extend": True, "watermark": False},
        },
    }


@pytest.mark.anyio
async def test_an_oss_upload_url_is_refused_before_anything_is_sent(
    router: respx.MockRouter, provider: NewApiProvider
) -> None:
    route = router.post(f"{ROOT}/v1/video/generations").respond(200, json={"id": TASK_ID})
    media = [{"type": "first_frame", "url": "oss://dashscope-instant/abc/cat.png"}]
    with pytest.raises(ProviderError) as caught:
        await provider.submit(request_for(model="wan2.7-i2v", media=media))
    assert (caught.value.created, caught.value.retryable, caught.value.provider_code) == (
        False,
        False,
        "OssUrlNotSupported",
    )
    assert not route.called
