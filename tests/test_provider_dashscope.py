"""DashScope native protocol: request bodies, statuses, error mapping and the HTTP exchanges (all mocked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from wan_video_mcp.server.catalog import GenerationRequest, validate
from wan_video_mcp.server.errors import InvalidRequest, NotConfigured, ProviderError
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.providers.dashscope import (
    KF2V_SYNTHESIS_PATH,
    REGION_BASE_URLS,
    VIDEO_SYNTHESIS_PATH,
    DashScopeProvider,
    advice_for,
    base_url_for,
    build_submit,
    parse_error,
    parse_list_item,
    parse_status,
)

CANARY = "sk-canary-123"
INTL = "https://dashscope-intl.aliyuncs.com/api/v1"
GATEWAY = "https://gw.example.test/qwen/api/v1"
TASK_ID = "0385dc79-5ff8-4d82-bcb6-caf2ba8d7d2c"


@pytest.fixture
def idle_client() -> httpx.AsyncClient:
    # For synchronous tests that build a provider but never send: no connection is ever opened.
    return httpx.AsyncClient()


def request_for(**arguments: Any) -> GenerationRequest:
    # These tests were written for the legacy shape: without a model, wan2.6-t2v (the default until wan2.7).
    return validate({"model": "wan2.6-t2v"} | arguments).request


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def error_response(status: int, code: str | None = None, message: str = "details", **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"request_id": "7438d53d-aaaa", "message": message}
    if code is not None:
        body["code"] = code
    return httpx.Response(status, json=body, headers=headers)


def submitted(task_id: str = TASK_ID) -> httpx.Response:
    return httpx.Response(
        200, json={"output": {"task_status": "PENDING", "task_id": task_id}, "request_id": "4909100c-bbbb"}
    )


# --------------------------------------------------------------------------- base URLs


def test_each_region_has_its_documented_base_url() -> None:
    assert base_url_for("intl") == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert base_url_for("us") == "https://dashscope-us.aliyuncs.com/api/v1"
    assert base_url_for("cn") == "https://dashscope.aliyuncs.com/api/v1"


@pytest.mark.parametrize(
    ("region", "host"),
    [("intl", "ap-southeast-1"), ("us", "us-east-1"), ("cn", "cn-beijing")],
)
def test_a_workspace_id_selects_the_per_workspace_host(region: str, host: str) -> None:
    assert base_url_for(region, "ws-123abc") == f"https://ws-123abc.{host}.maas.aliyuncs.com/api/v1"


def test_an_explicit_base_url_wins_and_loses_its_trailing_slashes() -> None:
    assert base_url_for("cn", "ws-1", GATEWAY + "//") == GATEWAY


def test_an_unknown_region_is_a_configuration_error() -> None:
    with pytest.raises(NotConfigured, match="unknown DashScope region"):
        base_url_for("mars")


@pytest.mark.parametrize(("region", "host"), [("eu", "eu-central-1"), ("jp", "ap-northeast-1"), ("hk", "cn-hongkong")])
def test_a_region_with_only_workspace_hosts_needs_a_workspace_id(region: str, host: str) -> None:
    with pytest.raises(NotConfigured, match="DASHSCOPE_WORKSPACE_ID"):
        base_url_for(region)
    assert base_url_for(region, "ws-7") == f"https://ws-7.{host}.maas.aliyuncs.com/api/v1"


def test_a_workspace_id_that_could_change_the_host_is_refused() -> None:
    with pytest.raises(NotConfigured):
        base_url_for("intl", "evil.example.com/x")


# --------------------------------------------------------------------------- request bodies


def test_a_full_t2v_request_becomes_the_reference_body() -> None:
    request = request_for(
        model="wan2.6-t2v",
        prompt="a fox detective",
        negative_prompt="blur",
        audio_url="https://example.test/fox.mp3",
        size="1280*720",
        duration=10,
        shot_type="multi",
        seed=12345,
    )
    path, body = build_submit(request, "intl")
    assert path == VIDEO_SYNTHESIS_PATH
    assert body == {
        "model": "wan2.6-t2v",
        "input": {"prompt": "a fox detective", "negative_prompt": "blur", "audio_url": "https://example.test/fox.mp3"},
        "parameters": {
            "size": "1280*720",
            "duration": 10,
            "prompt_extend": True,
            "watermark": False,
            "seed": 12345,
            "shot_type": "multi",
        },
    }


def test_a_minimal_t2v_request_omits_every_unset_optional_field() -> None:
    _, body = build_submit(request_for(model="wan2.5-t2v-preview", prompt="a cat"), "intl")
    assert body == {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "a cat"},
        "parameters": {"size": "1920*1080", "duration": 5, "prompt_extend": True, "watermark": False},
    }


def test_the_audio_switch_goes_into_parameters_when_set() -> None:
    _, body = build_submit(
        request_for(model="wan2.6-i2v-flash", img_url="https://example.test/a.png", audio=False), "intl"
    )
    assert body["parameters"]["audio"] is False
    assert "audio" not in body["input"]


def test_an_i2v_request_sends_img_url_and_resolution_not_size() -> None:
    request = request_for(
        model="wan2.6-i2v",
        prompt="she smiles",
        img_url="https://example.test/a.png",
        resolution="720P",
        duration=5,
        watermark=True,
        prompt_extend=False,
    )
    path, body = build_submit(request, "intl")
    assert path == VIDEO_SYNTHESIS_PATH
    assert body == {
        "model": "wan2.6-i2v",
        "input": {"prompt": "she smiles", "img_url": "https://example.test/a.png"},
        "parameters": {"resolution": "720P", "duration": 5, "prompt_extend": False, "watermark": True},
    }


def test_a_kf2v_request_uses_the_image2video_path_and_frame_urls() -> None:
    request = request_for(
        model="wan2.1-kf2v-plus",
        prompt="morph",
        first_frame_url="https://example.test/1.png",
        last_frame_url="https://example.test/2.png",
    )
    path, body = build_submit(request, "intl")
    assert path == KF2V_SYNTHESIS_PATH == "/services/aigc/image2video/video-synthesis"
    assert body == {
        "model": "wan2.1-kf2v-plus",
        "input": {
            "prompt": "morph",
            "first_frame_url": "https://example.test/1.png",
            "last_frame_url": "https://example.test/2.png",
        },
        "parameters": {"resolution": "720P", "duration": 5, "prompt_extend": True, "watermark": False},
    }


def test_a_kf2v_request_without_a_last_frame_omits_it() -> None:
    request = request_for(model="wan2.2-kf2v-flash", first_frame_url="https://example.test/1.png")
    _, body = build_submit(request, "cn")
    assert body["input"] == {"first_frame_url": "https://example.test/1.png"}
    assert body["parameters"]["resolution"] == "720P"


def test_an_r2v_request_sends_reference_videos_as_a_list_with_size() -> None:
    request = request_for(
        model="wan2.6-r2v",
        prompt="character1 waves at character2",
        size="1280*720",
        reference_video_urls=["https://example.test/a.mp4", "https://example.test/b.mp4"],
    )
    path, body = build_submit(request, "intl")
    assert path == VIDEO_SYNTHESIS_PATH
    assert body == {
        "model": "wan2.6-r2v",
        "input": {
            "prompt": "character1 waves at character2",
            "reference_video_urls": ["https://example.test/a.mp4", "https://example.test/b.mp4"],
        },
        "parameters": {"size": "1280*720", "duration": 5, "prompt_extend": True, "watermark": False},
    }
    json.dumps(body)  # the tuple became a JSON-serialisable list


@pytest.mark.parametrize(
    ("model", "extra", "wire"),
    [
        ("wan2.1-t2v-turbo", {"prompt": "x"}, "wanx2.1-t2v-turbo"),
        ("wan2.1-t2v-plus", {"prompt": "x"}, "wanx2.1-t2v-plus"),
        ("wan2.1-i2v-turbo", {"img_url": "https://example.test/a.png"}, "wanx2.1-i2v-turbo"),
        ("wan2.1-i2v-plus", {"img_url": "https://example.test/a.png"}, "wanx2.1-i2v-plus"),
        ("wan2.1-kf2v-plus", {"first_frame_url": "https://example.test/a.png"}, "wanx2.1-kf2v-plus"),
        ("wan2.6-t2v", {"prompt": "x"}, "wan2.6-t2v"),
    ],
)
def test_beijing_uses_the_wanx_model_names(model: str, extra: dict[str, Any], wire: str) -> None:
    _, body = build_submit(request_for(model=model, **extra), "cn")
    assert body["model"] == wire


@pytest.mark.parametrize(
    ("model", "extra", "wire"),
    [
        ("wan2.6-t2v", {"prompt": "x"}, "wan2.6-t2v-us"),
        ("wan2.6-i2v", {"img_url": "https://example.test/a.png"}, "wan2.6-i2v-us"),
    ],
)
def test_virginia_uses_the_us_model_names(model: str, extra: dict[str, Any], wire: str) -> None:
    _, body = build_submit(request_for(model=model, **extra), "us")
    assert body["model"] == wire


def test_singapore_keeps_the_catalog_model_names() -> None:
    _, body = build_submit(request_for(model="wan2.1-t2v-turbo", prompt="x"), "intl")
    assert body["model"] == "wan2.1-t2v-turbo"


def test_a_model_not_offered_in_the_region_is_refused_before_any_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_submit(request_for(model="wan2.2-i2v-flash", img_url="https://example.test/a.png"), "intl")
    assert caught.value.field == "model"


def test_the_provider_offers_exactly_the_models_of_its_region(idle_client: httpx.AsyncClient) -> None:
    us = DashScopeProvider(idle_client, api_key=CANARY, region="us")
    cn = DashScopeProvider(idle_client, api_key=CANARY, region="cn")
    assert us.offers("wan2.6-t2v") and us.offers("wan2.6-i2v")
    assert not us.offers("wan2.1-t2v-turbo")
    assert cn.offers("wan2.2-kf2v-flash")
    assert not DashScopeProvider(idle_client, api_key=CANARY).offers("wan2.2-kf2v-flash")
    assert not cn.offers("no-such-model")


# --------------------------------------------------------------------------- statuses

SUCCEEDED_26 = {
    "request_id": "abbf7aa3-9652-4785-a622-xxxxxx",
    "output": {
        "task_id": "38513c71-5190-48e1-9f3b-xxxxxx",
        "task_status": "SUCCEEDED",
        "submit_time": "2025-09-29 14:05:22.119",
        "scheduled_time": "2025-09-29 14:05:28.278",
        "end_time": "2025-09-29 14:10:00.437",
        "orig_prompt": "a fox detective",
        "video_url": "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
    },
    "usage": {
        "duration": 10,
        "size": "1280*720",
        "input_video_duration": 0,
        "output_video_duration": 10,
        "video_count": 1,
        "SR": 720,
    },
}

SUCCEEDED_25 = {
    "request_id": "167f3beb-3dd0-47fe-a83c-xxxxxx",
    "output": {
        "task_id": "5b65411f-d946-4e29-859e-xxxxxx",
        "task_status": "SUCCEEDED",
        "video_url": "https://dashscope-result-bj.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
        "submit_time": "2025-10-23 11:47:23.879",
        "scheduled_time": "2025-10-23 11:47:34.351",
        "end_time": "2025-10-23 11:52:35.323",
        "orig_prompt": "a fox detective",
        "actual_prompt": "A fox detective in a trench coat, low angle, warm tones.",
    },
    "usage": {"video_count": 1, "video_duration": 5, "video_ratio": "1280*720"},
}


def test_a_succeeded_wan26_task_carries_its_url_usage_and_utc_times() -> None:
    status = parse_status(SUCCEEDED_26)
    assert status.state == "succeeded" and status.terminal
    assert status.remote_id == "38513c71-5190-48e1-9f3b-xxxxxx"
    assert status.video_url == SUCCEEDED_26["output"]["video_url"]
    assert status.usage == SUCCEEDED_26["usage"]
    assert status.actual_prompt is None  # wan2.6 returns no actual_prompt
    assert status.submitted_at == datetime(2025, 9, 29, 6, 5, 22, 119000, tzinfo=UTC)
    assert status.finished_at == datetime(2025, 9, 29, 6, 10, 0, 437000, tzinfo=UTC)
    assert status.submitted_at.utcoffset() is not None


def test_a_succeeded_wan25_task_keeps_its_older_usage_shape_and_actual_prompt() -> None:
    status = parse_status(SUCCEEDED_25)
    assert status.state == "succeeded"
    assert status.usage == {"video_count": 1, "video_duration": 5, "video_ratio": "1280*720"}
    assert status.actual_prompt == "A fox detective in a trench coat, low angle, warm tones."
    assert status.submitted_at == datetime(2025, 10, 23, 3, 47, 23, 879000, tzinfo=UTC)


def test_a_succeeded_task_with_string_sr_usage_is_kept_verbatim() -> None:
    body = {
        "request_id": "r",
        "output": {
            "task_id": "t",
            "task_status": "SUCCEEDED",
            "video_url": "https://o/v.mp4",
            "submit_time": "2026-01-22 23:13:40",
            "end_time": "2026-01-22 23:17:56.380",
        },
        "usage": {
            "video_count": 1,
            "duration": 10.0,
            "size": "1280*720",
            "input_video_duration": 0.0,
            "output_video_duration": 10.0,
            "SR": "720",
        },
    }
    status = parse_status(body)
    assert status.usage["SR"] == "720"
    assert status.submitted_at == datetime(2026, 1, 22, 15, 13, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("task_status", "state"),
    [("PENDING", "queued"), ("RUNNING", "running"), ("SUSPENDED", "running"), ("CANCELED", "canceled")],
)
def test_every_non_result_task_status_maps_to_our_state(task_status: str, state: str) -> None:
    status = parse_status({"request_id": "r", "output": {"task_id": "t-1", "task_status": task_status}})
    assert status.state == state
    assert status.video_url is None and status.error_code is None


def test_suspended_is_not_terminal() -> None:
    assert not parse_status({"output": {"task_id": "t", "task_status": "SUSPENDED"}}).terminal


def test_a_failed_task_reports_its_code_and_message_with_advice() -> None:
    status = parse_status(
        {
            "request_id": "e5d70b02-ebd3-98ce-9fe8-759d7d7b107d",
            "output": {
                "task_id": "86ecf553-d340-4e21-af6e-a0c6a421c010",
                "task_status": "FAILED",
                "code": "InvalidParameter",
                "message": "The size is not match xxxxxx",
            },
        }
    )
    assert status.state == "failed" and status.terminal
    assert status.error_code == "InvalidParameter"
    assert status.error_message is not None and status.error_message.startswith("The size is not match xxxxxx")


def test_a_moderation_failure_tells_the_agent_to_change_the_content() -> None:
    status = parse_status(
        {
            "output": {
                "task_id": "t",
                "task_status": "FAILED",
                "code": "DataInspectionFailed",
                "message": "Output data may contain inappropriate content.",
            }
        }
    )
    assert status.error_code == "DataInspectionFailed"
    assert "change the content" in (status.error_message or "")


def test_an_unknown_task_status_is_an_expired_task() -> None:
    status = parse_status({"request_id": "a4de7c32", "output": {"task_id": "502a00b1", "task_status": "UNKNOWN"}})
    assert status.state == "expired" and status.terminal
    assert "24 hours" in (status.error_message or "")


@pytest.mark.parametrize("video_url", [None, ""])
def test_a_succeeded_body_without_a_video_url_is_a_failure(video_url: str | None) -> None:
    output: dict[str, Any] = {"task_id": "t", "task_status": "SUCCEEDED"}
    if video_url is not None:
        output["video_url"] = video_url
    status = parse_status({"output": output})
    assert status.state == "failed"
    assert status.error_code == "MissingVideoUrl"


def test_an_unrecognised_task_status_keeps_the_task_alive() -> None:
    assert parse_status({"output": {"task_id": "t", "task_status": "PAUSED_FOR_REVIEW"}}).state == "running"


def test_an_unparseable_time_is_left_out_rather_than_guessed() -> None:
    body = {"output": {"task_id": "t", "task_status": "RUNNING", "submit_time": "yesterday"}}
    assert parse_status(body).submitted_at is None


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {}, {"output": None}, {"output": {"task_status": "RUNNING"}}, {"output": {"task_id": "t"}}],
)
def test_a_malformed_status_body_is_a_retryable_provider_error(body: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_status(body)
    assert caught.value.retryable is True


def test_a_list_item_becomes_a_status_with_its_model_and_times() -> None:
    status = parse_list_item(
        {
            "task_id": "t-9",
            "status": "SUCCEEDED",
            "model_name": "wan2.6-t2v",
            "gmt_create": 1765328779000,
            "end_time": 1765328947000,
            "region": "ap-southeast-1",
        }
    )
    assert status == RemoteStatus(
        remote_id="t-9",
        state="succeeded",
        model="wan2.6-t2v",
        submitted_at=datetime.fromtimestamp(1765328779, tz=UTC),
        finished_at=datetime.fromtimestamp(1765328947, tz=UTC),
    )
    assert parse_list_item({"status": "RUNNING"}) is None


@pytest.mark.parametrize(
    ("wire", "region", "model"),
    [
        ("wanx2.1-t2v-turbo", "cn", "wan2.1-t2v-turbo"),
        ("wan2.6-i2v-us", "us", "wan2.6-i2v"),
        ("wan2.6-r2v", "intl", "wan2.6-r2v"),
        ("wan9-new-thing", "intl", "wan9-new-thing"),
        ("wanx2.1-t2v-turbo", None, "wanx2.1-t2v-turbo"),
    ],
)
def test_a_listed_model_name_is_translated_back_to_the_catalog_id(wire: str, region: str | None, model: str) -> None:
    status = parse_list_item({"task_id": "t", "status": "PENDING", "model_name": wire}, region)
    assert status is not None and status.model == model
    assert parse_list_item("nonsense") is None


# --------------------------------------------------------------------------- error mapping

# (HTTP status, code, retryable) for every row of wire-formats.md section 3.
ERROR_TABLE = [
    (400, "InvalidParameter", False),
    (400, "BadRequest.EmptyInput", False),
    (400, "BadRequest.EmptyParameters", False),
    (400, "BadRequest.EmptyModel", False),
    (400, "InvalidURL", False),
    (400, "DataInspectionFailed", False),
    (400, "IPInfringementSuspect", False),
    (400, "Arrearage", False),
    (401, "InvalidApiKey", False),
    (403, "AccessDenied", False),
    (403, "Model.AccessDenied", False),
    (403, "Workspace.AccessDenied", False),
    (403, "AccessDenied.Unpurchased", False),
    (403, "AllocationQuota.FreeTierOnly", False),
    (404, "ModelNotFound", False),
    (404, "WorkSpaceNotFound", False),
    (408, "RequestTimeOut", True),
    (413, "BadRequest.TooLarge", False),
    (415, "BadRequest.InputDownloadFailed", False),
    (415, "UnsupportedFileFormat", False),
    (429, "Throttling", True),
    (429, "Throttling.RateQuota", True),
    (429, "LimitRequests", True),
    (429, "Throttling.AllocationQuota", False),
    (429, "PrepaidBillOverdue", False),
    (429, "PostpaidBillOverdue", False),
    (429, "CommodityNotPurchased", False),
    (500, "InternalError", True),
    (500, "InternalError.Algo", True),
    (500, "InternalError.Timeout", True),
    (500, "SystemError", True),
    (503, "ModelUnavailable", True),
]


@pytest.mark.parametrize(("status", "code", "retryable"), ERROR_TABLE)
def test_every_documented_error_code_maps_to_its_retry_rule_and_advice(status: int, code: str, retryable: bool) -> None:
    error = parse_error(error_response(status, code, "the service's own words"))
    assert error.retryable is retryable
    assert error.created is False  # an error body means the service refused: no task exists
    assert error.provider_code == code
    assert error.http_status == status
    assert code in error.message and "the service's own words" in error.message
    advice = advice_for(code)
    assert advice and advice in error.message
    assert error.hint == advice


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("InvalidApiKey", "DASHSCOPE_API_KEY"),
        ("InvalidApiKey", "region"),
        ("Arrearage", "top up"),
        ("Throttling", "retry later"),
        ("DataInspectionFailed", "change the content"),
        ("ModelNotFound", "region"),
        ("AccessDenied", "X-DashScope-Async"),
    ],
)
def test_error_messages_say_what_to_do(code: str, words: str) -> None:
    assert words in parse_error(error_response(400, code)).message


def test_any_internal_error_variant_is_retryable() -> None:
    assert parse_error(error_response(500, "InternalError.Whatever")).retryable is True


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (404, False),
        (409, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_an_unknown_code_falls_back_on_the_http_status_class(status: int, retryable: bool) -> None:
    error = parse_error(error_response(status, "SomethingNew"))
    assert error.retryable is retryable
    assert error.provider_code == "SomethingNew"
    assert error.created is False


def test_a_bare_429_without_a_body_is_retryable() -> None:
    error = parse_error(httpx.Response(429))
    assert error.retryable is True and error.provider_code == "Unknown"


def test_a_non_json_error_body_gives_code_unknown_and_a_short_snippet() -> None:
    error = parse_error(httpx.Response(502, text="<html><body>502   Bad Gateway</body></html>" + "x" * 1000))
    assert error.provider_code == "Unknown"
    assert error.retryable is True
    assert "502 Bad Gateway" in error.message
    assert len(error.message) < 600


def test_the_message_falls_back_on_msg_when_message_is_absent() -> None:
    error = parse_error(httpx.Response(400, json={"code": "InvalidParameter", "msg": "duration must be 5"}))
    assert "duration must be 5" in error.message


def test_the_request_id_is_kept_for_support_tickets() -> None:
    assert "7438d53d-aaaa" in parse_error(error_response(500, "InternalError")).message


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0", 0.0), ("garbage", None)])
def test_retry_after_is_honoured_in_the_error(header: str, seconds: float | None) -> None:
    error = parse_error(error_response(429, "Throttling", **{"Retry-After": header}))
    assert error.retry_after == seconds


def test_retry_after_as_an_http_date_is_honoured() -> None:
    error = parse_error(error_response(503, "ModelUnavailable", **{"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    assert error.retry_after is not None and error.retry_after > 0


# --------------------------------------------------------------------------- submit


@pytest.mark.anyio
async def test_submit_sends_the_body_with_auth_async_and_json_headers(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(return_value=submitted())
    provider = DashScopeProvider(client, api_key=CANARY)
    request = request_for(model="wan2.6-t2v", prompt="a fox", size="1280*720", duration=10)
    task = await provider.submit(request)

    assert task.remote_id == TASK_ID
    assert task.request_id == "4909100c-bbbb"
    assert task.status.state == "queued" and task.status.remote_id == TASK_ID
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-DashScope-Async"] == "enable"
    assert "X-DashScope-WorkSpace" not in sent.headers
    assert sent_json(route) == build_submit(request, "intl")[1]


@pytest.mark.anyio
async def test_submit_of_a_kf2v_request_posts_to_the_image2video_path(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post("https://dashscope.aliyuncs.com/api/v1/services/aigc/image2video/video-synthesis").mock(
        return_value=submitted()
    )
    provider = DashScopeProvider(client, api_key=CANARY, region="cn")
    await provider.submit(request_for(model="wan2.2-kf2v-flash", first_frame_url="https://example.test/1.png"))
    assert sent_json(route)["model"] == "wan2.2-kf2v-flash"
    assert sent_json(route)["input"] == {"first_frame_url": "https://example.test/1.png"}


@pytest.mark.anyio
async def test_submit_to_virginia_uses_the_us_host_and_model_name(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(REGION_BASE_URLS["us"] + VIDEO_SYNTHESIS_PATH).mock(return_value=submitted())
    await DashScopeProvider(client, api_key=CANARY, region="us").submit(request_for(prompt="a fox"))
    assert sent_json(route)["model"] == "wan2.6-t2v-us"


@pytest.mark.anyio
async def test_a_workspace_id_changes_the_host_and_adds_the_workspace_header(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    url = "https://ws-42.ap-southeast-1.maas.aliyuncs.com/api/v1" + VIDEO_SYNTHESIS_PATH
    route = router.post(url).mock(return_value=submitted())
    provider = DashScopeProvider(client, api_key=CANARY, workspace_id="ws-42")
    await provider.submit(request_for(prompt="a fox"))
    assert route.calls.last.request.headers["X-DashScope-WorkSpace"] == "ws-42"


@pytest.mark.anyio
async def test_a_gateway_prefix_base_url_carries_an_i2v_submit_and_its_poll(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    # Seed 003: a DashScope passthrough at {BASE}/qwen/api/v1.
    submit_route = router.post(
        "https://gw.example.test/qwen/api/v1/services/aigc/video-generation/video-synthesis"
    ).mock(return_value=submitted())
    poll_route = router.get(f"https://gw.example.test/qwen/api/v1/tasks/{TASK_ID}").mock(
        return_value=httpx.Response(200, json={"output": {"task_id": TASK_ID, "task_status": "RUNNING"}})
    )
    provider = DashScopeProvider(client, api_key=CANARY, base_url=GATEWAY + "/")
    task = await provider.submit(
        request_for(model="wan2.5-i2v-preview", img_url="https://example.test/a.png", resolution="1080P")
    )
    body = sent_json(submit_route)
    assert body["input"] == {"img_url": "https://example.test/a.png"}
    assert body["parameters"]["resolution"] == "1080P" and "size" not in body["parameters"]
    assert submit_route.calls.last.request.headers["X-DashScope-Async"] == "enable"
    assert (await provider.poll(task.remote_id)).state == "running"
    assert poll_route.called


@pytest.mark.anyio
async def test_a_refused_submit_created_nothing(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(
        return_value=error_response(429, "Throttling", "Requests rate limit exceeded", **{"Retry-After": "3"})
    )
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).submit(request_for(prompt="a fox"))
    assert caught.value.created is False
    assert caught.value.retryable is True
    assert caught.value.retry_after == 3.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(504),
        # DashScope's own codes say nothing about whether the task was created before the failure either.
        httpx.Response(500, json={"code": "InternalError", "message": "Internal error.", "request_id": "r"}),
        httpx.Response(500, json={"code": "SystemError", "message": "System error.", "request_id": "r"}),
        httpx.Response(503, json={"code": "ModelUnavailable", "message": "Model is busy.", "request_id": "r"}),
    ],
)
async def test_a_5xx_on_submit_is_ambiguous_and_never_resent(
    router: respx.MockRouter, client: httpx.AsyncClient, response: httpx.Response
) -> None:
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(return_value=response)
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).submit(request_for(prompt="a fox"))
    assert caught.value.created is None
    assert caught.value.retryable is False
    message = caught.value.message
    assert "not sent again" in message and "retry later" not in message  # no advice to resend a task that may exist
    assert caught.value.hint is not None and "not sent again" in caught.value.hint


@pytest.mark.anyio
async def test_connection_refused_on_submit_created_nothing_and_is_retryable(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).submit(request_for(prompt="a fox"))
    assert caught.value.created is False
    assert caught.value.retryable is True


@pytest.mark.anyio
async def test_a_read_timeout_on_submit_is_ambiguous_and_not_retryable(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).submit(request_for(prompt="a fox"))
    assert caught.value.created is None
    assert caught.value.retryable is False


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"output": {"task_status": "PENDING"}, "request_id": "r"}),
        httpx.Response(200, json={"output": {"task_id": "", "task_status": "PENDING"}}),
        httpx.Response(200, json={"request_id": "r"}),
        httpx.Response(200, text="{not json"),
        httpx.Response(202, text=""),
    ],
)
async def test_an_accepted_submit_without_a_task_id_must_be_reconciled_not_resent(
    router: respx.MockRouter, client: httpx.AsyncClient, response: httpx.Response
) -> None:
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(return_value=response)
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).submit(request_for(prompt="a fox"))
    assert caught.value.created is None
    assert caught.value.retryable is False
    assert caught.value.provider_code == "MissingTaskId"


# --------------------------------------------------------------------------- poll


@pytest.mark.anyio
async def test_poll_gets_the_task_with_auth_and_parses_success(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.get(f"{INTL}/tasks/{TASK_ID}").mock(return_value=httpx.Response(200, json=SUCCEEDED_26))
    status = await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)
    assert status.state == "succeeded" and status.video_url
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY}"


@pytest.mark.anyio
async def test_a_failed_task_returned_with_http_200_is_a_failed_status(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.get(f"{INTL}/tasks/{TASK_ID}").mock(
        return_value=httpx.Response(
            200,
            json={
                "request_id": "e5d70b02",
                "output": {
                    "task_id": TASK_ID,
                    "task_status": "FAILED",
                    "code": "InvalidParameter",
                    "message": "The size is not match",
                },
            },
        )
    )
    status = await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)
    assert status.state == "failed"
    assert status.error_code == "InvalidParameter"


@pytest.mark.anyio
async def test_polling_an_expired_task_reports_it_expired(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    router.get(f"{INTL}/tasks/{TASK_ID}").mock(
        return_value=httpx.Response(
            200, json={"request_id": "a4de7c32", "output": {"task_id": TASK_ID, "task_status": "UNKNOWN"}}
        )
    )
    assert (await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)).state == "expired"


@pytest.mark.anyio
async def test_malformed_json_on_a_poll_is_a_retryable_error(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.get(f"{INTL}/tasks/{TASK_ID}").mock(return_value=httpx.Response(200, text='{"output": {'))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)
    assert caught.value.retryable is True


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "retryable"), [(503, True), (504, True), (401, False)])
async def test_a_poll_error_is_mapped_like_any_other(
    router: respx.MockRouter, client: httpx.AsyncClient, status: int, retryable: bool
) -> None:
    router.get(f"{INTL}/tasks/{TASK_ID}").mock(return_value=httpx.Response(status))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)
    assert caught.value.retryable is retryable


@pytest.mark.anyio
async def test_a_404_on_poll_is_an_error_not_an_expired_task(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    # DashScope reports expired tasks as 200 + UNKNOWN; a 404 means a wrong URL or workspace.
    router.get(f"{INTL}/tasks/{TASK_ID}").mock(return_value=error_response(404, "WorkSpaceNotFound"))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).poll(TASK_ID)
    assert caught.value.http_status == 404 and caught.value.retryable is False


@pytest.mark.anyio
async def test_a_task_id_cannot_reach_another_endpoint(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = router.get(f"{INTL}/tasks/a%2F..%2Fb%3Fx").mock(
        return_value=httpx.Response(200, json={"output": {"task_id": "a/../b?x", "task_status": "RUNNING"}})
    )
    await DashScopeProvider(client, api_key=CANARY).poll("a/../b?x")
    assert route.called


# --------------------------------------------------------------------------- cancel


@pytest.mark.anyio
async def test_cancel_posts_to_the_cancel_endpoint_without_a_body(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(f"{INTL}/tasks/{TASK_ID}/cancel").mock(
        return_value=httpx.Response(200, json={"request_id": "r"})
    )
    assert await DashScopeProvider(client, api_key=CANARY).cancel(TASK_ID) is None
    assert route.calls.last.request.content == b""
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY}"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [
        error_response(400, "UnsupportedOperation", "task can not be canceled"),
        httpx.Response(200, json={"request_id": "r", "code": "UnsupportedOperation", "message": "not pending"}),
    ],
)
async def test_a_refused_cancel_explains_that_only_pending_tasks_can_be_cancelled(
    router: respx.MockRouter, client: httpx.AsyncClient, response: httpx.Response
) -> None:
    router.post(f"{INTL}/tasks/{TASK_ID}/cancel").mock(return_value=response)
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).cancel(TASK_ID)
    assert "only PENDING" in caught.value.message
    assert caught.value.retryable is False


@pytest.mark.anyio
async def test_a_throttled_cancel_stays_retryable(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    router.post(f"{INTL}/tasks/{TASK_ID}/cancel").mock(return_value=error_response(429, "Throttling"))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).cancel(TASK_ID)
    assert caught.value.retryable is True


# --------------------------------------------------------------------------- list


def _page(items: list[dict[str, Any]], *, page_no: int, total: int, page_size: int = 100) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "request_id": "r",
            "data": items,
            "total": total,
            "total_page": -(-total // page_size),
            "page_no": page_no,
            "page_size": page_size,
        },
    )


@pytest.mark.anyio
async def test_list_recent_follows_every_page_in_utc_plus_8_time(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    first = [{"task_id": f"t-{i}", "status": "SUCCEEDED", "model_name": "wan2.6-t2v-us"} for i in range(100)]
    second = [
        {"task_id": "t-100", "status": "RUNNING", "model_name": "wan2.6-i2v-us"},
        {"model_name": "no id, skipped"},
    ]
    route = router.get(REGION_BASE_URLS["us"] + "/tasks").mock(
        side_effect=[
            _page(first, page_no=1, total=102),
            _page(second, page_no=2, total=102),
        ]
    )
    since = datetime(2026, 1, 22, 0, 0, 0, tzinfo=UTC)
    statuses = await DashScopeProvider(client, api_key=CANARY, region="us").list_recent(since)

    assert [s.remote_id for s in statuses or []] == [f"t-{i}" for i in range(101)]
    assert statuses is not None and statuses[-1].state == "running"
    # The service's US wire names come back as catalog ids.
    assert statuses[0].model == "wan2.6-t2v" and statuses[-1].model == "wan2.6-i2v"
    assert route.call_count == 2
    queries = [parse_qs(urlsplit(str(call.request.url)).query) for call in route.calls]
    assert [q["page_no"] for q in queries] == [["1"], ["2"]]
    assert all(q["page_size"] == ["100"] and q["start_time"] == ["20260122080000"] for q in queries)
    end_time = queries[0]["end_time"][0]
    assert len(end_time) == 14 and end_time.isdigit() and end_time > "20260122080000"


@pytest.mark.anyio
async def test_list_recent_stops_on_an_empty_page_even_if_total_says_more(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.get(f"{INTL}/tasks").mock(return_value=_page([], page_no=1, total=500))
    assert await DashScopeProvider(client, api_key=CANARY).list_recent(datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert route.call_count == 1


@pytest.mark.anyio
async def test_list_recent_is_none_when_a_gateway_has_no_list_endpoint(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.get(f"{GATEWAY}/tasks").mock(return_value=httpx.Response(404))
    provider = DashScopeProvider(client, api_key=CANARY, base_url=GATEWAY)
    assert await provider.list_recent(datetime(2026, 1, 1, tzinfo=UTC)) is None


@pytest.mark.anyio
async def test_list_recent_raises_mapped_errors(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    router.get(f"{INTL}/tasks").mock(return_value=error_response(401, "InvalidApiKey"))
    with pytest.raises(ProviderError) as caught:
        await DashScopeProvider(client, api_key=CANARY).list_recent(datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.provider_code == "InvalidApiKey"


# --------------------------------------------------------------------------- download and secrets


def test_the_download_target_is_the_oss_url_with_no_auth_header(idle_client: httpx.AsyncClient) -> None:
    status = parse_status(SUCCEEDED_26)
    url, headers = DashScopeProvider(idle_client, api_key=CANARY).download_target(status.remote_id, status)
    assert url == SUCCEEDED_26["output"]["video_url"]
    assert headers == {}


def test_a_status_without_a_url_has_no_download_target(idle_client: httpx.AsyncClient) -> None:
    provider = DashScopeProvider(idle_client, api_key=CANARY)
    with pytest.raises(ProviderError):
        provider.download_target("t", RemoteStatus(remote_id="t", state="running"))


@pytest.mark.anyio
async def test_the_api_key_never_appears_in_a_401_error(router: respx.MockRouter, client: httpx.AsyncClient) -> None:
    # Even a body that echoes the key and the Authorization header must not leak it.
    router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(
        return_value=httpx.Response(
            401,
            json={
                "code": "InvalidApiKey",
                "message": f"Invalid API-key provided: {CANARY} (Authorization: Bearer {CANARY})",
                "request_id": "7438d53d",
            },
        )
    )
    provider = DashScopeProvider(client, api_key=CANARY)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(request_for(prompt="a fox"))
    error = caught.value
    assert error.provider_code == "InvalidApiKey" and error.retryable is False and error.created is False
    for text in (error.message, str(error), repr(error), json.dumps(error.to_dict()), repr(provider)):
        assert CANARY not in text
        assert "canary-123" not in text


def test_credential_shaped_text_is_scrubbed_even_without_the_key() -> None:
    error = parse_error(httpx.Response(401, text="bad header Authorization: Bearer sk-abcdef0123456789"))
    assert "sk-abcdef0123456789" not in error.message


def test_scrubbing_leaves_ordinary_words_that_contain_sk_alone() -> None:
    error = parse_error(httpx.Response(400, json={"code": "InvalidParameter", "message": "task-abc123 and mask-xyz"}))
    assert "task-abc123 and mask-xyz" in error.message


def test_a_provider_without_a_key_is_not_configured(idle_client: httpx.AsyncClient) -> None:
    with pytest.raises(NotConfigured):
        DashScopeProvider(idle_client, api_key="")


@pytest.mark.anyio
async def test_a_media_protocol_submit_sends_media_resolution_and_ratio(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(return_value=submitted())
    media = [
        {"type": "video", "url": "https://v.example.test/in.mp4"},
        {"type": "reference_image", "url": "oss://dashscope-instant/a/b.png"},
    ]
    request = request_for(
        model="wan2.7-videoedit", prompt="clay", media=media, resolution="720P", ratio="9:16", audio_setting="origin"
    )
    await DashScopeProvider(client, api_key=CANARY).submit(request)
    sent = route.calls.last.request
    assert json.loads(sent.content) == {
        "model": "wan2.7-videoedit",
        "input": {"prompt": "clay", "media": media},
        "parameters": {
            "resolution": "720P",
            "ratio": "9:16",
            "duration": 0,
            "audio_setting": "origin",
            "prompt_extend": True,
            "watermark": False,
        },
    }
    # An oss:// upload is read only when the request says so (media-protocol.md section 8).
    assert sent.headers["X-DashScope-OssResourceResolve"] == "enable"


@pytest.mark.anyio
async def test_a_request_without_oss_urls_does_not_ask_to_resolve_them(
    router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = router.post(INTL + VIDEO_SYNTHESIS_PATH).mock(return_value=submitted())
    await DashScopeProvider(client, api_key=CANARY).submit(request_for(model="wan2.7-t2v", prompt="a fox"))
    assert "X-DashScope-OssResourceResolve" not in route.calls.last.request.headers
    assert json.loads(route.calls.last.request.content)["parameters"] == {
        "resolution": "1080P",
        "ratio": "16:9",
        "duration": 5,
        "prompt_extend": True,
        "watermark": False,
    }
