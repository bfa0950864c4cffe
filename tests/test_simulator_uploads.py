"""The simulator's temporary uploads (reference/media-protocol.md section 8): getPolicy, the OSS upload form, and
``oss://`` URLs resolved on submit and drawn in the video, driven over loopback HTTP with httpx and the official SDK.

The simulator's clock stands still (``CLOCK``): policies, objects and the getPolicy rate expire only with
``sim.advance``; tasks queue and run 100 s each, and a test waits for ``sim.inputs_read`` before it moves the
clock past their end.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import xml.etree.ElementTree as ET
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
from dashscope.utils.oss_utils import check_and_upload_local

from tests.media_files import RED, mp4, png
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig
from wan_video_mcp.server.simulator.http import MAX_BODY_BYTES

pytestmark = pytest.mark.anyio

NOW = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC, 2026-05-29 in Beijing (where upload dirs are dated)
CLOCK = SimulatorConfig(queue_seconds=100, run_seconds=100, jitter=0, fps=4, clock=lambda: NOW)
KEY, OTHER_KEY = "sk-uploader", "sk-someone-else"
PATH = "/services/aigc/video-generation/video-synthesis"
OSS_HEADER = {"X-DashScope-OssResourceResolve": "enable", "X-DashScope-Async": "enable"}
MSG_OSS = (
    "InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
    "Ensure it is correctly formatted."
)
MSG_RATE = "Requests rate limit exceeded, please try again later."
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
IMAGE = png(320, 240, RED)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(CLOCK) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=30, trust_env=False) as c:
        yield c


async def get_policy(client: httpx.AsyncClient, model: str, key: str = KEY, root: str = "") -> httpx.Response:
    params = {"action": "getPolicy", "model": model}
    return await client.get(root + "/uploads", params=params, headers={"Authorization": f"Bearer {key}"})


async def policy_for(client: httpx.AsyncClient, model: str, key: str = KEY) -> dict[str, Any]:
    response = await get_policy(client, model, key)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def form_of(policy: dict[str, Any], name: str = "cat.png", changes: dict[str, str] | None = None) -> dict[str, str]:
    """The fields the SDK sends (``OssUtils.upload``), with ``changes``."""
    form = {
        "OSSAccessKeyId": policy["oss_access_key_id"],
        "Signature": policy["signature"],
        "policy": policy["policy"],
        "key": policy["upload_dir"] + "/" + name,
        "x-oss-object-acl": policy["x_oss_object_acl"],
        "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
        "success_action_status": "200",
        "x-oss-content-type": "image/png",
    }
    return form | (changes or {})


async def post_form(
    client: httpx.AsyncClient,
    policy: dict[str, Any],
    data: bytes = IMAGE,
    name: str = "cat.png",
    changes: dict[str, str] | None = None,
) -> httpx.Response:
    # httpx writes the data fields first and the file last, as OSS wants.
    files = {"file": (name, data, "application/octet-stream")}
    return await client.post(policy["upload_host"], data=form_of(policy, name, changes), files=files)


async def uploaded(
    client: httpx.AsyncClient, model: str, data: bytes = IMAGE, name: str = "cat.png", key: str = KEY
) -> str:
    """The oss:// URL of a file uploaded for ``model`` with ``key``."""
    policy = await policy_for(client, model, key)
    response = await post_form(client, policy, data, name)
    assert (response.status_code, response.content) == (200, b""), response.text
    return "oss://" + form_of(policy, name)["key"]


def oss_error(response: httpx.Response) -> tuple[int, str, str]:
    """Status, Code and Message of an OSS XML error."""
    assert response.headers["content-type"] == "application/xml", response.headers
    root = ET.fromstring(response.content)
    assert root.tag == "Error" and root.findtext("RequestId") and root.findtext("HostId")
    return response.status_code, root.findtext("Code") or "", root.findtext("Message") or ""


def dashscope_error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["request_id"]
    return response.status_code, body["code"], body["message"]


async def submit(
    client: httpx.AsyncClient,
    model: str,
    inputs: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    *,
    key: str = KEY,
    headers: dict[str, str] = OSS_HEADER,
) -> httpx.Response:
    body = {"model": model, "input": inputs, "parameters": parameters or {}}
    return await client.post(PATH, json=body, headers={**headers, "Authorization": f"Bearer {key}"})


async def video_of(sim: Simulator, client: httpx.AsyncClient, task_id: str, tmp_path: Path) -> Path:
    """The task's MP4 once its inputs were read and its time ran out."""
    with anyio.fail_after(20):
        await sim.inputs_read(task_id)
    sim.advance(250)
    out = (await client.get(f"/tasks/{task_id}")).json()["output"]
    assert out["task_status"] == "SUCCEEDED", out
    with anyio.fail_after(60):
        data = (await client.get(out["video_url"])).content
    path = tmp_path / f"{task_id}.mp4"
    path.write_bytes(data)
    return path


def pixel(path: Path, index: int) -> tuple[int, int, int]:
    """The RGB at the centre of frame ``index``."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                rgb = frame.to_rgb()
                line, x, y = rgb.planes[0].line_size, rgb.width // 2, rgb.height // 2
                r, g, b = bytes(rgb.planes[0])[y * line + 3 * x : y * line + 3 * x + 3]
                return r, g, b
    raise AssertionError(f"no frame {index}")


def is_red(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 150 and rgb[1] < 90 and rgb[2] < 90


# --------------------------------------------------------------------------- getPolicy


async def test_get_policy_answers_a_signed_policy_bound_to_the_key_and_model(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await get_policy(client, "wan2.7-i2v")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] and body["simulated"] is True
    data = body["data"]
    account = hashlib.sha256(KEY.encode()).hexdigest()[:32]
    assert re.fullmatch(rf"dashscope-instant/{account}/2026-05-29/{UUID}", data["upload_dir"]), data
    assert len(base64.b64decode(data["signature"])) == 20  # HMAC-SHA1
    assert {k: v for k, v in data.items() if k not in ("policy", "signature", "upload_dir")} == {
        "upload_host": sim.root_url + "/oss-upload",
        "expire_in_seconds": 300,
        "max_file_size_mb": 100,
        "capacity_limit_mb": 999999999,
        "oss_access_key_id": "LTAI-SIMULATED",
        "x_oss_object_acl": "private",
        "x_oss_forbid_overwrite": "true",
    }
    assert json.loads(base64.b64decode(data["policy"])) == {
        "expiration": "2026-05-28T20:31:40.000Z",  # NOW + 300 s
        "conditions": [
            ["content-length-range", 0, 100 * 1024 * 1024],
            ["starts-with", "$key", data["upload_dir"]],
            ["eq", "$x-oss-object-acl", "private"],
            ["eq", "$x-oss-forbid-overwrite", "true"],
        ],
    }
    qwen = await client.get(
        sim.root_url + "/qwen/api/v1/uploads", params={"action": "getPolicy", "model": "wan2.6-t2v"}
    )
    assert qwen.status_code == 200 and qwen.json()["data"]["upload_dir"] != data["upload_dir"]
    assert (sim.stats.policies, sim.stats.uploads) == (2, 0)


async def test_get_policy_refuses_a_missing_key_an_unknown_model_and_another_action(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    anonymous = await client.get(
        "/uploads", params={"action": "getPolicy", "model": "wan2.7-i2v"}, headers={"Authorization": ""}
    )
    assert dashscope_error(anonymous) == (401, "InvalidApiKey", "No API-key provided.")
    for params, says in [
        ({"action": "getPolicy"}, "Required parameter 'model'"),
        ({"action": "getPolicy", "model": ""}, "Required parameter 'model'"),
        ({"action": "getPolicy", "model": "qwen-max"}, "'qwen-max' is not a model files can be uploaded for"),
        ({"action": "putPolicy", "model": "wan2.7-i2v"}, "The action must be getPolicy, not 'putPolicy'"),
        ({"model": "wan2.7-i2v"}, "The action must be getPolicy, not None"),
    ]:
        status, code, message = dashscope_error(await client.get("/uploads", params=params))
        assert (status, code) == (400, "InvalidParameter") and says in message, (params, message)
    assert sim.stats.policies == 0


async def test_get_policy_with_a_wrong_key_answers_401() -> None:
    async with (
        Simulator(dataclasses.replace(CLOCK, required_key="sk-right")) as sim,
        httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as c,
    ):
        wrong = await get_policy(c, "wan2.7-i2v", key="sk-wrong")
        right = await get_policy(c, "wan2.7-i2v", key="sk-right")
    assert dashscope_error(wrong) == (401, "InvalidApiKey", "Invalid API-key provided.")
    assert right.status_code == 200


async def test_get_policy_over_the_rate_of_a_key_and_model_answers_429() -> None:
    async with (
        Simulator(dataclasses.replace(CLOCK, policy_rate_per_second=3)) as sim,
        httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as c,
    ):
        statuses = [(await get_policy(c, "wan2.7-i2v")).status_code for _ in range(3)]
        over = await get_policy(c, "wan2.7-i2v")
        other_model = await get_policy(c, "wan2.6-i2v")
        other_key = await get_policy(c, "wan2.7-i2v", key=OTHER_KEY)
        sim.advance(1.0)  # a new second
        later = await get_policy(c, "wan2.7-i2v")
        assert sim.stats.policies == 6
    assert statuses == [200, 200, 200]
    assert dashscope_error(over) == (429, "Throttling.RateQuota", MSG_RATE)
    assert over.headers["retry-after"] == "1"
    assert (other_model.status_code, other_key.status_code, later.status_code) == (200, 200, 200)


async def test_an_armed_policy_fault_answers_429_then_policies_flow_again(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    armed = await client.post(sim.root_url + "/_sim/faults", json={"target": "policy", "kind": "429", "count": 2})
    assert armed.status_code == 200, armed.text
    answers = [await get_policy(client, "wan2.7-i2v") for _ in range(3)]
    assert [dashscope_error(r) for r in answers[:2]] == [(429, "Throttling.RateQuota", MSG_RATE)] * 2
    assert answers[2].status_code == 200
    assert (await client.get(sim.root_url + "/_sim/stats")).json()["policies"] == 1


# --------------------------------------------------------------------------- the upload form


async def test_an_upload_is_stored_under_its_key_and_listed_by_the_admin_api(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    url = await uploaded(client, "wan2.7-i2v")
    listed = (await client.get(sim.root_url + "/_sim/uploads")).json()["uploads"]
    assert [(o["url"], o["model"], o["size"], o["sha256"], o["content_type"]) for o in listed] == [
        (url, "wan2.7-i2v", len(IMAGE), hashlib.sha256(IMAGE).hexdigest(), "image/png")
    ]
    assert listed[0]["key"] == url.removeprefix("oss://")
    stats = (await client.get(sim.root_url + "/_sim/stats")).json()
    assert (stats["policies"], stats["uploads"], stats["upload_bytes"]) == (1, 1, len(IMAGE))
    assert [o.url for o in sim.uploads] == [url]


async def test_uploads_are_refused_as_oss_refuses_a_form(sim: Simulator, client: httpx.AsyncClient) -> None:
    policy = await policy_for(client, "wan2.7-i2v")
    condition = "Invalid according to Policy: Policy Condition failed: "
    cases: list[tuple[dict[str, str], tuple[int, str, str]]] = [
        (
            {"x-oss-object-acl": "public-read"},
            (403, "AccessDenied", condition + '["eq", "$x-oss-object-acl", "private"]'),
        ),
        (
            {"x-oss-forbid-overwrite": "false"},
            (403, "AccessDenied", condition + '["eq", "$x-oss-forbid-overwrite", "true"]'),
        ),
        (
            {"key": "dashscope-instant/elsewhere/cat.png"},
            (403, "AccessDenied", condition + f'["starts-with", "$key", "{policy["upload_dir"]}"]'),
        ),
        (
            {"key": policy["upload_dir"] + "/"},
            (403, "AccessDenied", condition + f'["starts-with", "$key", "{policy["upload_dir"]}"]'),
        ),
        (
            {"Signature": base64.b64encode(b"x" * 20).decode()},
            (
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ),
        ),
        (
            {"OSSAccessKeyId": "LTAI-OTHER"},
            (403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."),
        ),
    ]
    for changes, expected in cases:
        assert oss_error(await post_form(client, policy, changes=changes)) == expected, changes
    # A policy the simulator never handed out, signed or not, is no policy.
    forged = base64.b64encode(
        json.dumps({"expiration": "2099-01-01T00:00:00.000Z", "conditions": []}).encode()
    ).decode()
    assert oss_error(await post_form(client, policy, changes={"policy": forged}))[1] == "SignatureDoesNotMatch"
    assert sim.uploads == [] and sim.stats.uploads == 0
    assert (await post_form(client, policy)).status_code == 200  # the same policy still works


async def test_an_expired_policy_answers_403_policy_expired(sim: Simulator, client: httpx.AsyncClient) -> None:
    policy = await policy_for(client, "wan2.7-i2v")
    sim.advance(301)
    expected = (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert oss_error(await post_form(client, policy)) == expected
    fresh = await policy_for(client, "wan2.7-i2v")
    armed = await client.post(sim.root_url + "/_sim/faults", json={"target": "upload", "kind": "expired", "count": 2})
    assert armed.status_code == 200, armed.text
    assert [oss_error(await post_form(client, fresh)) for _ in range(2)] == [expected] * 2
    assert (await post_form(client, fresh)).status_code == 200
    assert sim.stats.uploads == 1


async def test_an_existing_key_cannot_be_overwritten(sim: Simulator, client: httpx.AsyncClient) -> None:
    policy = await policy_for(client, "wan2.7-i2v")
    assert (await post_form(client, policy)).status_code == 200
    again = await post_form(client, policy, data=png(64, 64, RED))
    assert oss_error(again) == (
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
    assert [o.sha256 for o in sim.uploads] == [hashlib.sha256(IMAGE).hexdigest()]


async def test_a_file_over_max_file_size_mb_answers_entity_too_large() -> None:
    async with (
        Simulator(dataclasses.replace(CLOCK, upload_max_file_mb=1)) as sim,
        httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {KEY}"}, trust_env=False) as c,
    ):
        policy = await policy_for(c, "wan2.7-i2v")
        assert policy["max_file_size_mb"] == 1
        too_large = await post_form(c, policy, data=b"\0" * (1024 * 1024 + 1), name="big.bin")
        just_fits = await post_form(c, policy, data=b"\0" * (1024 * 1024), name="fits.bin")
        assert [o.size for o in sim.uploads] == [1024 * 1024]
    assert oss_error(too_large) == (400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
    assert just_fits.status_code == 200


async def test_an_upload_may_be_larger_than_other_request_bodies(sim: Simulator, client: httpx.AsyncClient) -> None:
    size = MAX_BODY_BYTES + 1024  # over the cap of every other request, within max_file_size_mb
    policy = await policy_for(client, "wan2.7-i2v")
    response = await post_form(client, policy, data=b"\0" * size, name="big.bin")
    assert (response.status_code, [o.size for o in sim.uploads]) == (200, [size])


async def test_a_form_without_a_last_single_file_is_refused(sim: Simulator, client: httpx.AsyncClient) -> None:
    policy = await policy_for(client, "wan2.7-i2v")
    no_file = await client.post(policy["upload_host"], files={k: (None, v) for k, v in form_of(policy).items()})
    assert oss_error(no_file) == (400, "InvalidArgument", "The form has no file field; it must end with one.")
    fields = [(k, (None, v)) for k, v in form_of(policy).items()]
    file_first = await client.post(policy["upload_host"], files=[("file", ("cat.png", IMAGE)), *fields])
    assert oss_error(file_first) == (400, "InvalidArgument", "The file field must be the last field of the form.")
    not_a_form = await client.post(policy["upload_host"], content=IMAGE, headers={"Content-Type": "image/png"})
    assert oss_error(not_a_form)[:2] == (400, "MalformedPOSTRequest")
    assert sim.uploads == []


# --------------------------------------------------------------------------- oss:// URLs on submit


@pytest.mark.parametrize(
    ("model", "inputs", "parameters"),
    [
        (
            "wan2.7-i2v",
            lambda url: {"media": [{"type": "first_frame", "url": url}]},
            {"resolution": "720P", "duration": 2},
        ),
        ("wan2.6-i2v", lambda url: {"prompt": "it moves", "img_url": url}, {"resolution": "720P", "duration": 2}),
        (
            "wan2.5-i2v-preview",
            lambda url: {"prompt": "it moves", "img_url": url},
            {"resolution": "480P", "duration": 5},
        ),
    ],
)
async def test_an_uploaded_image_is_the_first_frame_of_the_video(
    sim: Simulator, client: httpx.AsyncClient, tmp_path: Path, model: str, inputs: Any, parameters: dict[str, Any]
) -> None:
    url = await uploaded(client, model)
    response = await submit(client, model, inputs(url), parameters)
    assert response.status_code == 200, response.text
    task_id = response.json()["output"]["task_id"]
    assert [ref.url for ref in sim.task(task_id).plan.inputs] == [url]  # type: ignore[union-attr]
    video = await video_of(sim, client, task_id, tmp_path)
    assert is_red(pixel(video, 0)), pixel(video, 0)
    assert (sim.stats.submits, sim.stats.submits_accepted) == (1, 1)


async def test_an_uploaded_first_clip_continues_into_the_video(
    sim: Simulator, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    url = await uploaded(client, "wan2.7-i2v", mp4(), name="clip.mp4")  # BLUE for 1.5 s, then GREEN
    response = await submit(
        client, "wan2.7-i2v", {"media": [{"type": "first_clip", "url": url}]}, {"resolution": "720P", "duration": 5}
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["output"]["task_id"]
    video = await video_of(sim, client, task_id, tmp_path)
    blue, green = pixel(video, 2), pixel(video, 10)  # 0.5 s and 2.5 s at 4 fps
    assert blue[2] > 150 and blue[0] < 90, blue
    assert green[1] > 150 and green[0] < 90, green
    assert sim.task(task_id).media.probes[0].kind == "video"  # type: ignore[union-attr]


async def test_oss_urls_without_the_resolve_header_are_refused(sim: Simulator, client: httpx.AsyncClient) -> None:
    url = await uploaded(client, "wan2.7-i2v")
    refused = await submit(
        client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]}, headers={"X-DashScope-Async": "enable"}
    )
    assert dashscope_error(refused) == (400, "InvalidParameter", MSG_OSS)
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.tasks) == (1, 0, [])


async def test_oss_urls_of_another_model_key_or_none_at_all_refuse_the_submit(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    for_i2v26 = await uploaded(client, "wan2.6-i2v")
    others = await uploaded(client, "wan2.7-i2v", key=OTHER_KEY)
    mine = await uploaded(client, "wan2.7-i2v", name="mine.png")
    voice_model = await uploaded(client, "wan2.7-r2v", name="voice.wav")
    never = mine.rsplit("/", 1)[0] + "/never.png"
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "wan2.7-i2v",
            {"media": [{"type": "first_frame", "url": for_i2v26}]},
            f"input.media[0].url: {for_i2v26} was uploaded for model wan2.6-i2v, not wan2.7-i2v;",
        ),
        (
            "wan2.7-i2v",
            {"media": [{"type": "first_frame", "url": others}]},
            f"input.media[0].url: {others} was uploaded with another API key;",
        ),
        (
            "wan2.7-i2v",
            {"media": [{"type": "first_frame", "url": never}]},
            f"input.media[0].url: {never} names no uploaded file",
        ),
        (
            "wan2.6-i2v",
            {"prompt": "p", "img_url": for_i2v26, "audio_url": mine},
            f"input.audio_url: {mine} was uploaded for model wan2.7-i2v, not wan2.6-i2v;",
        ),
        (
            "wan2.7-r2v",
            {"prompt": "Image 1", "media": [{"type": "reference_image", "url": voice_model, "reference_voice": mine}]},
            f"input.media[0].reference_voice: {mine} was uploaded for model wan2.7-i2v, not wan2.7-r2v;",
        ),
    ]
    for model, inputs, message in cases:
        status, code, text = dashscope_error(await submit(client, model, inputs))
        assert (status, code) == (400, "InvalidParameter") and text.startswith(message), (model, text)
    assert (sim.stats.submits, sim.stats.submits_accepted, sim.tasks) == (len(cases), 0, [])
    accepted = await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": mine}]})
    assert accepted.status_code == 200, accepted.text


async def test_uploads_are_gone_48_hours_after_they_were_made(sim: Simulator, client: httpx.AsyncClient) -> None:
    url = await uploaded(client, "wan2.7-i2v")
    sim.advance(48 * 3600 - 1)
    assert (await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]})).status_code == 200
    sim.advance(1)
    status, code, message = dashscope_error(
        await submit(client, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]})
    )
    assert (status, code) == (400, "InvalidParameter")
    assert message.startswith(f"input.media[0].url: {url} has expired (uploads are deleted 48 hours after")
    assert sim.uploads == [] and (await client.get(sim.root_url + "/_sim/uploads")).json()["uploads"] == []


async def test_a_gateway_task_naming_no_upload_fails_reading_it(sim: Simulator) -> None:
    # Gateways are not checked against the uploads on submit (they pass the URL on); reading it then fails the task.
    async with httpx.AsyncClient(
        base_url=sim.root_url, headers={"Authorization": f"Bearer {KEY}"}, trust_env=False
    ) as c:
        body = {
            "model": "wan2.7-i2v",
            "prompt": "p",
            "metadata": {"input": {"media": [{"type": "first_frame", "url": "oss://dashscope-instant/a/b/c/x.png"}]}},
        }
        response = await c.post("/v1/video/generations", json=body)
        assert response.status_code == 200, response.text
        task = sim.tasks[0]
        with anyio.fail_after(20):
            await sim.inputs_read(task.task_id)
    assert task.failure is not None and "no such uploaded file" in task.failure[1], task.failure


# --------------------------------------------------------------------------- the official DashScope SDK


async def test_the_official_sdk_uploads_a_local_file_that_the_simulator_then_resolves(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", sim.base_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    image = tmp_path / "kitten.png"
    image.write_bytes(IMAGE)

    def upload() -> tuple[bool, str, dict[str, Any]]:
        return check_and_upload_local("wan2.6-i2v", f"file://{image}", KEY)  # type: ignore[no-any-return]

    def call() -> Any:
        return VideoSynthesis.async_call(
            model="wan2.7-i2v",
            api_key=KEY,
            media=[{"type": "first_frame", "url": str(image)}],
            resolution="720P",
            duration=2,
        )

    is_upload, url, certificate = await anyio.to_thread.run_sync(upload)
    assert is_upload and re.fullmatch(rf"oss://{re.escape(certificate['upload_dir'])}/kitten\.png", url), url
    submitted = await anyio.to_thread.run_sync(call)
    assert submitted.status_code == 200, submitted
    task = sim.task(submitted.output.task_id)
    assert task is not None
    (ref,) = task.plan.inputs
    assert ref.url.startswith("oss://dashscope-instant/") and ref.url.endswith("/kitten.png")
    assert sorted((o.model, o.sha256) for o in sim.uploads) == [
        ("wan2.6-i2v", hashlib.sha256(IMAGE).hexdigest()),
        ("wan2.7-i2v", hashlib.sha256(IMAGE).hexdigest()),
    ]
    async with httpx.AsyncClient(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {KEY}"}, trust_env=False
    ) as c:
        video = await video_of(sim, c, task.task_id, tmp_path)
        # The upload for wan2.6-i2v is refused for wan2.7-i2v, as the real service binds it to its model.
        refused = await submit(c, "wan2.7-i2v", {"media": [{"type": "first_frame", "url": url}]})
    assert is_red(pixel(video, 0)), pixel(video, 0)
    assert dashscope_error(refused)[:2] == (400, "InvalidParameter")
    assert (sim.stats.policies, sim.stats.uploads, sim.stats.upload_bytes) == (2, 2, 2 * len(IMAGE))


@pytest.mark.anyio
async def test_a_hostile_form_is_refused_at_its_bounds_not_parsed_at_length(client: httpx.AsyncClient) -> None:
    boundary = "b0undary"
    header = 'Content-Disposition: form-data; name="' + ";" * 20_000 + '"'
    long_header = f"--{boundary}\r\n{header}\r\n\r\nx\r\n--{boundary}--\r\n".encode()
    many = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n' for i in range(100))
    host = (await policy_for(client, "wan2.7-i2v"))["upload_host"]
    for body in (long_header, (many + f"--{boundary}--\r\n").encode()):
        answer = await client.post(
            host, content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert oss_error(answer)[:2] == (400, "MalformedPOSTRequest")
