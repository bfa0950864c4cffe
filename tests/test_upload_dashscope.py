"""DashScope's temporary file upload (reference/media-protocol.md section 8): getPolicy, the OSS form POST, oss://.

Everything is mocked with respx, and the storage host's DNS answer comes from ``dns`` (anyio.getaddrinfo replaced),
so no test resolves or reaches a real host. Waits go through ``waits``, which records them and moves the injected
clock instead of sleeping.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.providers.dashscope import DashScopeProvider
from wan_video_mcp.server.providers.dashscope import upload as upload_module
from wan_video_mcp.server.providers.dashscope.upload import ATTEMPTS, TemporaryUploads, Uploaded

KEY = "sk-canary-upload-123"
OTHER_KEY = "sk-someone-else-456"
CN = "https://dashscope.aliyuncs.com/api/v1"
LOOPBACK = "http://127.0.0.1:9/api/v1"
UPLOAD_HOST = "https://dashscope-file-mgr.oss-cn-beijing.aliyuncs.com"
# The form is posted to the address the policy checked (pinned), with the host name kept in Host and TLS.
PINNED_HOST = "https://47.93.243.12"
UPLOAD_DIR = "dashscope-instant/7f3c0a/2026-05-29/b1e2"
MODEL = "wan2.7-i2v"
NOW = 1_780_000_000.0
FORTY_EIGHT_HOURS = 48 * 3600.0
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
# The storage hosts as DNS would answer them; a name not listed does not resolve.
ADDRESSES = {
    "dashscope-file-mgr.oss-cn-beijing.aliyuncs.com": "47.93.243.12",
    "metadata.oss.example": "169.254.169.254",
}


class Clock:
    """A clock that moves only when a test (or a recorded wait) moves it."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idle_client() -> httpx.AsyncClient:
    # For synchronous tests that build uploads but never send: no connection is ever opened.
    return httpx.AsyncClient()


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> list[float]:
    # The upload module's waits are recorded and passed on the injected clock, never slept.
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)
        clock.now += seconds
        await anyio.lowlevel.checkpoint()

    fake = SimpleNamespace(Lock=anyio.Lock, sleep=sleep, current_time=lambda: clock.now)
    monkeypatch.setattr(upload_module, "anyio", fake)
    return recorded


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    # The address policy resolves the upload host before posting; answer from ADDRESSES, never from the network.
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        if host not in ADDRESSES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ADDRESSES[host], port))]

    monkeypatch.setattr(anyio, "getaddrinfo", getaddrinfo)
    yield asked


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "alice-holiday-secret.PNG"
    path.write_bytes(IMAGE)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def uploads_for(
    client: httpx.AsyncClient,
    clock: Clock,
    *,
    base_url: str = CN,
    api_key: str = KEY,
    region: str = "cn",
    default_host: bool = True,
) -> TemporaryUploads:
    return TemporaryUploads(
        client,
        base_url=base_url,
        api_key=api_key,
        headers=lambda: {"Authorization": f"Bearer {api_key}"},
        region=region,
        default_host=default_host,
        clock=clock,
    )


def policy_answer(
    *, signature: str = "eWy9sig=", upload_host: str = UPLOAD_HOST, expire_in_seconds: Any = 300
) -> httpx.Response:
    """A getPolicy answer shaped like the documented example."""
    return httpx.Response(
        200,
        json={
            "request_id": "52f4383a-c67d-9f8c-aaaa",
            "data": {
                "policy": "eyJleHBpcmF0aW9uIjoi...1ZSJ9",
                "signature": signature,
                "upload_dir": UPLOAD_DIR,
                "upload_host": upload_host,
                "expire_in_seconds": expire_in_seconds,
                "max_file_size_mb": 100,
                "capacity_limit_mb": 999999999,
                "oss_access_key_id": "LTAI5tAccessKeyId",
                "x_oss_object_acl": "private",
                "x_oss_forbid_overwrite": "true",
            },
        },
    )


def oss_error(status: int, code: str, message: str) -> httpx.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>6650A1B2C3D4E5F6</RequestId><HostId>dashscope-file-mgr.oss-cn-beijing.aliyuncs.com</HostId>"
        "</Error>"
    )
    return httpx.Response(status, text=body, headers={"Content-Type": "application/xml"})


POLICY_EXPIRED = "Invalid according to Policy: Policy expired."


def form_parts(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """The multipart form's parts in order: (field name, file name, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    assert message.is_multipart()
    return [
        (
            str(part.get_param("name", header="content-disposition")),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


def policy_routes(router: respx.MockRouter, **mocked: Any) -> tuple[respx.Route, respx.Route]:
    get = router.get(f"{CN}/uploads").mock(**(mocked.pop("get", None) or {"return_value": policy_answer()}))
    post = router.post(PINNED_HOST, headers={"host": "dashscope-file-mgr.oss-cn-beijing.aliyuncs.com"}).mock(
        **(mocked.pop("post", None) or {"return_value": httpx.Response(200)})
    )
    return get, post


# --------------------------------------------------------------------------- a successful upload


@pytest.mark.anyio
async def test_an_upload_asks_dashscope_for_a_policy_with_the_key_and_the_model(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    get, _ = policy_routes(router)
    await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    sent = get.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert dict(sent.url.params) == {"action": "getPolicy", "model": MODEL}
    assert get.call_count == 1


@pytest.mark.anyio
async def test_an_upload_posts_the_policy_form_with_the_file_last_and_returns_its_oss_url(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    _, post = policy_routes(router)
    digest = sha256_of(photo)
    uploaded = await uploads_for(client, clock).upload(MODEL, photo, digest)

    parts = form_parts(post.calls.last.request)
    key = dict((n, v.decode()) for n, _, v in parts[:-1])["key"]
    # Named by the bytes, plus a token (a later upload of the same bytes must not meet a forbidden overwrite).
    assert re.fullmatch(rf"{UPLOAD_DIR}/{digest[:32]}-[0-9a-f]{{8}}\.png", key), key
    assert uploaded == Uploaded(url=f"oss://{key}", expires_at=NOW + FORTY_EIGHT_HOURS)
    assert {name: value.decode() for name, filename, value in parts[:-1] if filename is None} == {
        "OSSAccessKeyId": "LTAI5tAccessKeyId",
        "Signature": "eWy9sig=",
        "policy": "eyJleHBpcmF0aW9uIjoi...1ZSJ9",
        "key": key,
        "x-oss-object-acl": "private",
        "x-oss-forbid-overwrite": "true",
        "success_action_status": "200",
        "x-oss-content-type": "image/png",
    }
    assert [filename for _, filename, _ in parts[:-1]] == [None] * (len(parts) - 1)
    assert parts[-1] == ("file", key.rsplit("/", 1)[-1], IMAGE)


@pytest.mark.anyio
async def test_the_storage_post_carries_neither_the_api_key_nor_the_local_file_name(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    _, post = policy_routes(router)
    uploaded = await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    sent = post.calls.last.request
    assert "Authorization" not in sent.headers
    assert not any(KEY in value for value in sent.headers.values())
    assert KEY.encode() not in sent.content
    assert KEY not in str(sent.url)
    for revealing in ("alice", "holiday", "secret"):
        assert revealing.encode() not in sent.content.lower()
        assert revealing not in uploaded.url.lower()


@pytest.mark.anyio
async def test_the_documented_hosts_are_used_only_after_the_storage_host_resolved_to_a_public_address(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, dns: list[str]
) -> None:
    policy_routes(router)
    await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))
    assert dns == ["dashscope-file-mgr.oss-cn-beijing.aliyuncs.com"]


# --------------------------------------------------------------------------- policy reuse


@pytest.mark.anyio
async def test_two_uploads_for_one_model_share_one_policy_while_it_is_valid(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, tmp_path: Path
) -> None:
    get, post = policy_routes(router)
    other = tmp_path / "b.png"
    other.write_bytes(IMAGE + b"second")
    uploads = uploads_for(client, clock)

    first = await uploads.upload(MODEL, photo, sha256_of(photo))
    clock.now += 200  # still well inside the policy's 300 s
    second = await uploads.upload(MODEL, other, sha256_of(other))

    assert get.call_count == 1
    assert post.call_count == 2
    assert first.url != second.url
    assert second.expires_at == NOW + 200 + FORTY_EIGHT_HOURS


@pytest.mark.anyio
async def test_a_policy_past_its_expiry_is_fetched_again(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    get, post = policy_routes(
        router, get={"side_effect": [policy_answer(signature="one"), policy_answer(signature="two")]}
    )
    uploads = uploads_for(client, clock)

    await uploads.upload(MODEL, photo, sha256_of(photo))
    clock.now += 301
    await uploads.upload(MODEL, photo, sha256_of(photo))

    assert get.call_count == 2
    signatures = [dict((n, v) for n, _, v in form_parts(call.request))["Signature"] for call in post.calls]
    assert signatures == [b"one", b"two"]


@pytest.mark.anyio
async def test_different_models_get_different_policies(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    get, _ = policy_routes(router)
    uploads = uploads_for(client, clock)

    await uploads.upload(MODEL, photo, sha256_of(photo))
    await uploads.upload("wan2.7-r2v", photo, sha256_of(photo))
    await uploads.upload(MODEL, photo, sha256_of(photo))

    assert [call.request.url.params["model"] for call in get.calls] == [MODEL, "wan2.7-r2v"]


# --------------------------------------------------------------------------- an expired policy


@pytest.mark.anyio
async def test_a_policy_that_expired_on_the_way_is_fetched_again_and_the_file_posted_again(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    get, post = policy_routes(
        router,
        get={"side_effect": [policy_answer(signature="stale"), policy_answer(signature="fresh")]},
        post={"side_effect": [oss_error(403, "AccessDenied", POLICY_EXPIRED), httpx.Response(200)]},
    )
    digest = sha256_of(photo)
    uploaded = await uploads_for(client, clock).upload(MODEL, photo, digest)

    assert uploaded.url.startswith(f"oss://{UPLOAD_DIR}/{digest[:32]}-")
    assert get.call_count == 2
    signatures = [dict((n, v) for n, _, v in form_parts(call.request))["Signature"] for call in post.calls]
    assert signatures == [b"stale", b"fresh"]


@pytest.mark.anyio
async def test_a_policy_that_keeps_expiring_gives_up_after_the_attempts_naming_the_oss_error(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    get, post = policy_routes(router, post={"return_value": oss_error(403, "AccessDenied", POLICY_EXPIRED)})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    error = caught.value
    assert error.created is False
    assert (error.provider_code, error.http_status, error.retryable) == ("AccessDenied", 403, False)
    assert "AccessDenied" in error.message and POLICY_EXPIRED in error.message
    assert get.call_count == post.call_count == ATTEMPTS


# --------------------------------------------------------------------------- getPolicy refusals


def rate_refusal() -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "request_id": "1b5e0e0c-cccc",
            "code": "Throttling.RateQuota",
            "message": "Requests rate limit exceeded, please try again later.",
        },
        headers={"Retry-After": "0"},
    )


@pytest.mark.anyio
async def test_a_rate_refused_policy_request_is_waited_out_and_retried(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    get, post = policy_routes(router, get={"side_effect": [rate_refusal(), policy_answer()]})
    uploaded = await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    assert uploaded.url.startswith(f"oss://{UPLOAD_DIR}/")
    assert get.call_count == 2
    assert post.call_count == 1
    assert waits  # the 429 was waited out (on the injected clock) before the second request


@pytest.mark.anyio
async def test_a_rate_refusal_with_retry_after_zero_is_retried_without_a_pause(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    policy_routes(router, get={"side_effect": [rate_refusal(), policy_answer()]})
    await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))
    assert waits[0] == 0.0


@pytest.mark.anyio
async def test_a_policy_request_that_stays_rate_refused_raises_a_retryable_error(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    get, post = policy_routes(router, get={"return_value": rate_refusal()})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    error = caught.value
    assert (error.provider_code, error.http_status, error.retryable, error.created) == (
        "Throttling.RateQuota",
        429,
        True,
        False,
    )
    assert get.call_count == ATTEMPTS
    assert not post.called


@pytest.mark.anyio
async def test_an_invalid_api_key_is_not_retried_and_the_key_never_appears_in_the_error(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, waits: list[float]
) -> None:
    refusal = httpx.Response(
        401,
        json={"request_id": "9c1d-dddd", "code": "InvalidApiKey", "message": f"Invalid API-key provided: {KEY}"},
    )
    get, post = policy_routes(router, get={"return_value": refusal})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    error = caught.value
    assert (error.provider_code, error.http_status, error.retryable, error.created) == (
        "InvalidApiKey",
        401,
        False,
        False,
    )
    assert MODEL in error.message
    assert KEY not in error.message
    assert KEY not in str(error)
    assert KEY not in repr(error.to_dict())
    assert get.call_count == 1
    assert not post.called
    assert waits == []


# --------------------------------------------------------------------------- other storage refusals


@pytest.mark.parametrize(
    ("answer", "status", "code", "retryable"),
    [
        (
            oss_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."),
            400,
            "EntityTooLarge",
            False,
        ),
        (
            oss_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match."),
            403,
            "SignatureDoesNotMatch",
            False,
        ),
        (
            oss_error(500, "InternalError", "We encountered an internal error. Please try again."),
            500,
            "InternalError",
            True,
        ),
        (httpx.Response(500, text="upstream connect error"), 500, "Unknown", True),
    ],
)
@pytest.mark.anyio
async def test_any_other_storage_refusal_raises_once_naming_the_status_and_code(
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Clock,
    photo: Path,
    answer: httpx.Response,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    get, post = policy_routes(router, post={"return_value": answer})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    error = caught.value
    assert (error.provider_code, error.http_status, error.retryable, error.created) == (code, status, retryable, False)
    assert f"HTTP {status} {code}" in error.message
    assert get.call_count == post.call_count == 1


@pytest.mark.anyio
async def test_a_storage_host_that_cannot_be_reached_raises_a_retryable_error(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    policy_routes(router, post={"side_effect": httpx.ConnectError("Connection refused")})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    error = caught.value
    assert (error.provider_code, error.retryable, error.created) == ("UploadFailed", True, False)


# --------------------------------------------------------------------------- malformed policies


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"request_id": "r", "data": {"policy": "p", "signature": "s"}}),
        httpx.Response(200, json={"request_id": "r"}),
        httpx.Response(200, json={"data": {**policy_answer().json()["data"], "upload_host": None}}),
        httpx.Response(200, text="<html>gateway login</html>"),
    ],
)
@pytest.mark.anyio
async def test_a_policy_answer_without_the_policy_fields_is_malformed(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, answer: httpx.Response
) -> None:
    _, post = policy_routes(router, get={"return_value": answer})

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    assert (caught.value.provider_code, caught.value.created) == ("MalformedPolicy", False)
    assert not post.called


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize("region", ["us", "eu", "jp", "hk"])
def test_a_region_without_uploads_on_the_default_hosts_is_refused_with_a_reason(
    idle_client: httpx.AsyncClient, clock: Clock, region: str
) -> None:
    refusal = uploads_for(idle_client, clock, region=region).refusal()
    assert refusal is not None
    assert f"'{region}'" in refusal
    assert "Beijing" in refusal and "Singapore" in refusal


@pytest.mark.parametrize("region", ["us", "eu", "jp", "hk", "cn", "intl"])
def test_a_custom_base_url_is_never_refused_beforehand(
    idle_client: httpx.AsyncClient, clock: Clock, region: str
) -> None:
    assert uploads_for(idle_client, clock, region=region, default_host=False).refusal() is None


@pytest.mark.parametrize("region", ["cn", "intl"])
def test_beijing_and_singapore_are_not_refused(idle_client: httpx.AsyncClient, clock: Clock, region: str) -> None:
    assert uploads_for(idle_client, clock, region=region).refusal() is None


@pytest.mark.anyio
async def test_a_refused_region_raises_before_any_request(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path
) -> None:
    router.route()  # would catch anything sent
    uploads = uploads_for(client, clock, base_url="https://dashscope-us.aliyuncs.com/api/v1", region="us")

    with pytest.raises(ProviderError) as caught:
        await uploads.upload(MODEL, photo, sha256_of(photo))

    assert (caught.value.provider_code, caught.value.created) == ("UploadNotOffered", False)
    assert caught.value.message == uploads.refusal()
    assert router.calls.call_count == 0


# --------------------------------------------------------------------------- where files may go


@pytest.mark.parametrize(
    "upload_host",
    [
        "http://169.254.169.254/",
        "http://100.100.100.200/latest/meta-data/",
        "https://metadata.oss.example",  # a name that resolves to the metadata address
        "http://127.0.0.1:8080/",  # loopback, while DashScope is a public host
        "http://10.0.0.7/",
        "file:///etc/passwd",
        "ftp://dashscope-file-mgr.oss-cn-beijing.aliyuncs.com/",
        "https://no-such-host.oss.example",
    ],
)
@pytest.mark.anyio
async def test_an_upload_host_this_server_may_not_send_files_to_is_refused_and_nothing_is_posted(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, upload_host: str
) -> None:
    get = router.get(f"{CN}/uploads").mock(return_value=policy_answer(upload_host=upload_host))
    anything_else = router.route()

    with pytest.raises(ProviderError) as caught:
        await uploads_for(client, clock).upload(MODEL, photo, sha256_of(photo))

    assert (caught.value.provider_code, caught.value.created) == ("UploadHostRefused", False)
    assert get.call_count == 1
    assert not anything_else.called


@pytest.mark.anyio
async def test_a_loopback_provider_may_name_a_loopback_storage_host(
    router: respx.MockRouter, client: httpx.AsyncClient, clock: Clock, photo: Path, dns: list[str]
) -> None:
    # The simulator and local gateways serve both on 127.0.0.1: no DNS, and loopback is allowed there.
    router.get(f"{LOOPBACK}/uploads").mock(return_value=policy_answer(upload_host="http://127.0.0.1:9/oss"))
    post = router.post("http://127.0.0.1:9/oss").mock(return_value=httpx.Response(200))
    uploads = uploads_for(client, clock, base_url=LOOPBACK, region="us", default_host=False)

    uploaded = await uploads.upload(MODEL, photo, sha256_of(photo))

    assert uploaded.url.startswith(f"oss://{UPLOAD_DIR}/")
    assert post.call_count == 1
    assert dns == []


# --------------------------------------------------------------------------- account


def test_the_account_is_stable_per_key_and_host_and_never_shows_the_key(
    idle_client: httpx.AsyncClient, clock: Clock
) -> None:
    account = uploads_for(idle_client, clock).account
    assert account == uploads_for(idle_client, clock).account
    assert account != uploads_for(idle_client, clock, api_key=OTHER_KEY).account
    assert account != uploads_for(idle_client, clock, base_url=LOOPBACK).account
    assert KEY not in account and KEY.removeprefix("sk-") not in account


# --------------------------------------------------------------------------- wiring


def test_the_provider_refuses_uploads_for_virginia_on_the_default_host(idle_client: httpx.AsyncClient) -> None:
    uploads = DashScopeProvider(idle_client, api_key="sk-x", region="us").uploads
    refusal = uploads.refusal()
    assert refusal is not None and "'us'" in refusal


def test_the_provider_tries_uploads_through_a_custom_base_url(idle_client: httpx.AsyncClient) -> None:
    provider = DashScopeProvider(idle_client, api_key="sk-x", region="us", base_url="http://127.0.0.1:9/api/v1")
    assert provider.uploads.refusal() is None


def test_the_provider_tries_uploads_for_singapore_by_default(idle_client: httpx.AsyncClient) -> None:
    assert DashScopeProvider(idle_client, api_key="sk-x").uploads.refusal() is None


@pytest.mark.anyio
async def test_the_provider_uploads_with_its_own_authorization_header(
    router: respx.MockRouter, client: httpx.AsyncClient, photo: Path
) -> None:
    get, post = policy_routes(router)
    provider = DashScopeProvider(client, api_key=KEY, region="cn")

    uploaded = await provider.uploads.upload(MODEL, photo, sha256_of(photo))

    assert uploaded.url.startswith(f"oss://{UPLOAD_DIR}/")
    assert get.calls.last.request.headers["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in post.calls.last.request.headers
