"""vtrix.ai (seed 004): model ids, request bodies, tolerant statuses, 9-digit error codes (all mocked)."""

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
from wan_video_mcp.server.providers.vtrix import (
    VTRIX_ERRORS,
    VTRIX_MODEL_IDS,
    VtrixProvider,
    build_submit,
    describe_error,
    normalize_code,
    parse_submit,
    parse_task,
)

CANARY = "sk-canary-vtrix-789"
ROOT = "https://cloud.vtrix.ai"
TASK_ID = "7f9c2e1a-vtrix-task"
VIDEO = "https://cdn.vtrix.example.test/jobs/123.mp4"
SEED_AUDIO = "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/xxx.mp3"


@pytest.fixture
async def provider(client: httpx.AsyncClient) -> VtrixProvider:
    return VtrixProvider(client, api_key=CANARY, base_url=ROOT)


def request_for(**arguments: Any) -> GenerationRequest:
    return validate(arguments).request


def seed_request() -> GenerationRequest:
    # Seed 004's documented example values for wan26_t2v.
    return request_for(
        model="wan2.6-t2v",
        prompt="A kitten running in the moonlight",
        audio_url=SEED_AUDIO,
        size="1920*1080",
        duration=5,
        prompt_extend=True,
        watermark=False,
        shot_type="single",
        seed=12345,
    )


def completed(url: str = VIDEO, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": TASK_ID,
        "status": "completed",
        "output": [{"content": [{"type": "video", "url": url, "jobId": "job-1"}]}],
        "usage": {"cost": "0.75", "discount": 0},
    }
    body.update(fields)
    return body


def failed(code: Any, message: str = "generation failed") -> dict[str, Any]:
    return {"id": TASK_ID, "status": "failed", "error": {"code": code, "message": message}}


# --------------------------------------------------------------------------- model ids and bodies


def test_every_vtrix_model_id_follows_the_naming_rule_and_names_a_catalog_model() -> None:
    catalog = {spec.id for spec in MODELS}
    for model, vtrix_id in VTRIX_MODEL_IDS.items():
        assert model in catalog
        version, family = model.removeprefix("wan").split("-")[:2]
        assert vtrix_id == f"wan{version.replace('.', '')}_{family}"


def test_the_provider_offers_exactly_the_mapped_models() -> None:
    provider = VtrixProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    assert {spec.id for spec in MODELS if provider.offers(spec.id)} == set(VTRIX_MODEL_IDS)
    assert VTRIX_MODEL_IDS["wan2.5-t2v-preview"] == "wan25_t2v"
    assert not provider.offers("wan2.1-kf2v-plus")


def test_the_seed_request_becomes_a_dashscope_shaped_body_under_the_vtrix_id() -> None:
    assert build_submit(seed_request()) == {
        "model": "wan26_t2v",
        "input": {"prompt": "A kitten running in the moonlight", "audio_url": SEED_AUDIO},
        "parameters": {
            "size": "1920*1080",
            "duration": 5,
            "prompt_extend": True,
            "watermark": False,
            "shot_type": "single",
            "seed": 12345,
        },
    }


def test_image_and_reference_requests_carry_their_media_in_input() -> None:
    i2v = build_submit(
        request_for(
            model="wan2.5-i2v-preview",
            img_url="https://img.example.test/a.png",
            resolution="720P",
            duration=10,
            audio=True,
        )
    )
    assert i2v == {
        "model": "wan25_i2v",
        "input": {"img_url": "https://img.example.test/a.png"},
        "parameters": {"resolution": "720P", "duration": 10, "prompt_extend": True, "watermark": False, "audio": True},
    }
    r2v = build_submit(
        request_for(
            model="wan2.6-r2v",
            prompt="character1 dances",
            reference_video_urls=["https://v.example.test/1.mp4"],
            size="1280*720",
        )
    )
    assert r2v["model"] == "wan26_r2v"
    assert r2v["input"] == {"prompt": "character1 dances", "reference_video_urls": ["https://v.example.test/1.mp4"]}
    assert r2v["parameters"]["size"] == "1280*720"


# --------------------------------------------------------------------------- submit


@pytest.mark.anyio
async def test_submit_posts_to_the_generation_endpoint_with_the_bearer_key(
    router: respx.MockRouter, provider: VtrixProvider
) -> None:
    route = router.post(f"{ROOT}/model/v1/generation").respond(200, json={"id": TASK_ID, "status": "in_queue"})
    task = await provider.submit(seed_request())
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert json.loads(sent.content) == build_submit(seed_request())
    assert task.remote_id == TASK_ID
    assert task.status == RemoteStatus(remote_id=TASK_ID, state="queued")


@pytest.mark.anyio
@pytest.mark.parametrize("base", [ROOT, f"{ROOT}/", f"{ROOT}/model/v1", f"{ROOT}/model/v1/"])
async def test_the_base_url_may_include_the_api_prefix(
    router: respx.MockRouter, client: httpx.AsyncClient, base: str
) -> None:
    route = router.post(f"{ROOT}/model/v1/generation").respond(200, json={"id": TASK_ID})
    await VtrixProvider(client, api_key=CANARY, base_url=base).submit(seed_request())
    assert route.called


def test_a_submit_answer_wrapped_in_data_is_read() -> None:
    task = parse_submit({"code": 0, "msg": "ok", "data": {"id": TASK_ID, "status": "pending"}})
    assert (task.remote_id, task.status.state) == (TASK_ID, "queued")


def test_a_submit_answer_without_an_id_may_have_created_a_task() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({"status": "in_queue"})
    assert (caught.value.created, caught.value.retryable) == (None, False)


@pytest.mark.parametrize(
    ("code", "retryable", "words"),
    [
        ("001026001", False, "1-2 video URLs"),
        ("001026002", False, "cannot be combined with the audio parameter"),
        ("001026003", False, "duration must be 5 or 10"),
        ("001026099", True, "could not create the task"),
    ],
)
def test_an_error_body_at_submit_created_nothing_and_says_whether_to_retry(
    code: str, retryable: bool, words: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_submit({"error": {"code": code, "message": "rejected"}})
    error = caught.value
    assert (error.created, error.retryable, error.provider_code) == (False, retryable, code)
    assert words in error.message and code in error.message


@pytest.mark.anyio
async def test_an_http_400_with_a_documented_code_explains_the_rule(
    router: respx.MockRouter, provider: VtrixProvider
) -> None:
    router.post(f"{ROOT}/model/v1/generation").respond(
        400, json={"error": {"code": "001026003", "message": "invalid duration"}}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    error = caught.value
    assert (error.http_status, error.provider_code, error.retryable, error.created) == (400, "001026003", False, False)
    assert "duration must be 5 or 10" in error.message


@pytest.mark.anyio
async def test_an_http_500_on_submit_is_not_resent_because_the_task_may_exist(
    router: respx.MockRouter, provider: VtrixProvider
) -> None:
    router.post(f"{ROOT}/model/v1/generation").respond(500, json={"code": "001026097", "msg": "upstream 503"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created, caught.value.provider_code) == (False, None, "001026097")


@pytest.mark.anyio
async def test_a_gateway_timeout_on_submit_may_hide_a_created_task(
    router: respx.MockRouter, provider: VtrixProvider
) -> None:
    router.post(f"{ROOT}/model/v1/generation").respond(504, text="gateway timeout")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created) == (False, None)


@pytest.mark.anyio
async def test_an_unauthorized_submit_never_repeats_the_key(router: respx.MockRouter, provider: VtrixProvider) -> None:
    router.post(f"{ROOT}/model/v1/generation").respond(
        401, json={"error": {"code": "000401001", "message": f"invalid api key {CANARY}"}}
    )
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    error = caught.value
    assert (error.http_status, error.retryable) == (401, False)
    assert "refused the API key" in error.message
    assert CANARY not in json.dumps(error.to_dict())


@pytest.mark.anyio
async def test_a_rate_limited_submit_is_retryable(router: respx.MockRouter, provider: VtrixProvider) -> None:
    router.post(f"{ROOT}/model/v1/generation").respond(429, json={}, headers={"Retry-After": "3"})
    with pytest.raises(ProviderError) as caught:
        await provider.submit(seed_request())
    assert (caught.value.retryable, caught.value.created, caught.value.retry_after) == (True, False, 3.0)


# --------------------------------------------------------------------------- poll


@pytest.mark.anyio
async def test_polling_a_completed_task_reads_the_url_from_the_first_output_content(
    router: respx.MockRouter, provider: VtrixProvider
) -> None:
    route = router.get(f"{ROOT}/model/v1/generation/task/{TASK_ID}").respond(200, json=completed())
    status = await provider.poll(TASK_ID)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY}"
    assert status == RemoteStatus(
        remote_id=TASK_ID, state="succeeded", progress=100.0, video_url=VIDEO, usage={"cost": "0.75", "discount": 0}
    )


@pytest.mark.parametrize(
    ("spelling", "state"),
    [
        ("in_queue", "queued"),
        ("pending", "queued"),
        ("queued", "queued"),
        ("processing", "running"),
        ("in_progress", "running"),
        ("running", "running"),
        ("done", "succeeded"),
        ("completed", "succeeded"),
        ("succeeded", "succeeded"),
        ("success", "succeeded"),
        ("failed", "failed"),
        ("failure", "failed"),
        ("error", "failed"),
        ("canceled", "canceled"),
        ("cancelled", "canceled"),
        ("DONE", "succeeded"),
        ("In_Queue", "queued"),
        ("brand_new_state", "queued"),
    ],
)
def test_every_status_spelling_vtrix_has_used_maps_to_ours(spelling: str, state: str) -> None:
    assert parse_task(TASK_ID, {"id": TASK_ID, "status": spelling}).state == state


def test_a_status_listed_under_output_is_read_too() -> None:
    body = {"id": TASK_ID, "output": [{"status": "done", "content": [{"type": "video", "url": VIDEO}]}]}
    assert (parse_task(TASK_ID, body).state, parse_task(TASK_ID, body).video_url) == ("succeeded", VIDEO)


def test_a_poll_answer_wrapped_in_data_is_read() -> None:
    assert parse_task(TASK_ID, {"code": 0, "data": completed()}).video_url == VIDEO


def test_a_failed_task_with_the_reference_example_code_is_transient() -> None:
    # The reference example's failure: {"error": {"code": "001026095", "message": "…"}}.
    status = parse_task(TASK_ID, failed("001026095", "…"))
    assert (status.state, status.error_code, status.video_url) == ("failed", "001026095", None)
    assert status.error_message == (
        "internal generation error at vtrix (vtrix error 001026095): …; "
        "this is a transient provider failure, so a new submit may succeed"
    )


@pytest.mark.parametrize("code", sorted(VTRIX_ERRORS))
def test_every_documented_error_code_has_a_clear_message(code: str) -> None:
    meaning, retryable = VTRIX_ERRORS[code]
    status = parse_task(TASK_ID, failed(code))
    assert status.error_code == code
    assert (status.error_message or "").startswith(f"{meaning} (vtrix error {code})")
    assert ("a new submit may succeed" in (status.error_message or "")) is retryable


def test_an_undocumented_nine_digit_code_gets_a_generic_message_naming_it() -> None:
    status = parse_task(TASK_ID, failed("002014001", "quota exhausted"))
    assert (status.error_code, status.error_message) == ("002014001", "vtrix error 002014001: quota exhausted")


def test_integer_codes_get_their_leading_zeros_back() -> None:
    assert normalize_code(1026095) == "001026095"
    assert normalize_code("001026095") == "001026095"
    assert normalize_code(None) is None
    assert normalize_code(0) == "0"
    assert parse_task(TASK_ID, failed(1026001)).error_code == "001026001"


def test_an_error_object_without_a_status_is_a_failure() -> None:
    status = parse_task(TASK_ID, {"id": TASK_ID, "error": {"code": "001026098", "message": "status check"}})
    assert (status.state, status.error_code) == ("failed", "001026098")


def test_a_failure_without_an_error_object_still_says_so() -> None:
    status = parse_task(TASK_ID, {"id": TASK_ID, "status": "failed"})
    assert (status.error_code, status.error_message) == (None, "the task failed without a reason")


def test_a_failure_message_never_repeats_the_key() -> None:
    status = parse_task(TASK_ID, failed("001026097", f"upstream said Bearer {CANARY}"), secret=CANARY)
    assert CANARY not in (status.error_message or "")


def test_describe_error_quotes_the_provider_message_once() -> None:
    assert describe_error("001026095", "Internal generation error") == (
        "internal generation error at vtrix (vtrix error 001026095)",
        True,
    )
    assert describe_error(None, None) == ("vtrix reported an error without a code", None)


@pytest.mark.anyio
async def test_an_unknown_task_id_is_not_found(router: respx.MockRouter, provider: VtrixProvider) -> None:
    router.get(f"{ROOT}/model/v1/generation/task/nope").respond(404, json={"error": {"message": "no task"}})
    with pytest.raises(ProviderError) as caught:
        await provider.poll("nope")
    assert (caught.value.http_status, caught.value.retryable) == (404, False)
    assert "has no task nope" in caught.value.message


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "retryable"), [(401, False), (403, False), (429, True), (500, True), (502, True)])
async def test_poll_http_errors_are_retryable_only_when_transient(
    router: respx.MockRouter, provider: VtrixProvider, status: int, retryable: bool
) -> None:
    router.get(f"{ROOT}/model/v1/generation/task/{TASK_ID}").respond(status, text="nope")
    with pytest.raises(ProviderError) as caught:
        await provider.poll(TASK_ID)
    assert (caught.value.http_status, caught.value.retryable) == (status, retryable)


# --------------------------------------------------------------------------- cancel, list, download


@pytest.mark.anyio
async def test_cancel_is_not_supported(provider: VtrixProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.cancel(TASK_ID)
    assert "not supported" in caught.value.message


@pytest.mark.anyio
async def test_there_is_no_task_list(provider: VtrixProvider) -> None:
    assert await provider.list_recent(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_the_video_is_fetched_from_its_cdn_url_without_the_key() -> None:
    provider = VtrixProvider(httpx.AsyncClient(), api_key=CANARY, base_url=ROOT)
    status = RemoteStatus(remote_id=TASK_ID, state="succeeded", video_url=VIDEO)
    assert provider.download_target(TASK_ID, status) == (VIDEO, {})
