"""A video is a video: ``download`` against URLs that answer something else, or point somewhere they must not.

Real loopback HTTP (tests/hostile_http.py) for what a server answers; the
address policy is also checked on its own, with IP literals and a stub
resolver, so no test resolves a real host name or touches the internet.
"""

from __future__ import annotations

import hashlib
import re
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.hostile_http import HostileServer
from tests.test_downloads import mux_silence
from wan_video_mcp.server.jobs.downloads import (
    MAX_REDIRECTS,
    AddressPolicy,
    DownloadFailed,
    download,
    has_mp4_signature,
    remove_orphaned_parts,
    verify_video_file,
    video_path,
)
from wan_video_mcp.server.jobs.downloads.addresses import (
    LINK_LOCAL,
    LOOPBACK,
    METADATA,
    OTHER,
    PRIVATE,
    PUBLIC,
    address_category,
    pin,
)
from wan_video_mcp.server.simulator import RenderJob, render_mp4

# The simulator and these tests serve from 127.0.0.1: loopback is allowed, nothing else non-public.
LOOPBACK_POLICY = AddressPolicy.for_base_url("http://127.0.0.1:8000")
# An ftyp box, then bytes no demuxer makes sense of.
MP4_SIGNATURE_THEN_GARBAGE = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 40
# Boxes that tile the file exactly (an ftyp, then a "moov" of noise): only PyAV can tell it is no video.
_NOISE = bytes(range(256)) * 40
TILED_GARBAGE = (
    b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + (8 + len(_NOISE)).to_bytes(4, "big") + b"moov" + _NOISE
)
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to Hotel WiFi</title></head>\n<body>"
    + b"<p>Please accept the terms of use to continue browsing.</p>" * 50
    + b"</body></html>\n"
)


@pytest.fixture(scope="module")
def mp4() -> bytes:
    """The simulator's fixed 160x90 H.264 clip: a real, playable MP4."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        render_mp4(path, RenderJob(160, 90, 2, 8, False, "t", "p", "clip"), use_pyav=False)
        return path.read_bytes()


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy from the environment must not carry loopback requests.
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        yield client


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return video_path(tmp_path, "task-1")


def assert_nothing_saved(dest: Path) -> None:
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.glob("*.part")) == []


async def refused(http: httpx.AsyncClient, url: str, dest: Path, **kwargs: object) -> DownloadFailed:
    """The DownloadFailed that downloading ``url`` raises, after checking nothing was left behind."""
    kwargs.setdefault("policy", LOOPBACK_POLICY)
    with anyio.fail_after(10), pytest.raises(DownloadFailed) as caught:
        await download(http, url, dest, **kwargs)  # type: ignore[arg-type]
    assert_nothing_saved(dest)
    return caught.value


# --- the body is not a video -----------------------------------------------------


@pytest.mark.anyio
async def test_an_html_page_answered_with_200_is_not_saved(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    server.route("/v.mp4", body=HTML, content_type="text/html; charset=utf-8")

    error = await refused(http, server.url("/v.mp4"), dest)

    assert error.retryable is True and error.http_status == 200
    assert f"the server at {server.url('/v.mp4')} answered text/html ({len(HTML)} bytes) instead of a video" in (
        error.message
    )
    quoted = re.search(r'beginning "(.*)"', error.message)
    assert quoted is not None and quoted.group(1).startswith("<!DOCTYPE html> <html><head><title>Sign in to Hotel")
    assert len(quoted.group(1)) <= 120
    assert "\n" not in error.message


@pytest.mark.anyio
async def test_a_text_body_is_quoted_scrubbed_of_control_characters(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    server.route("/v.mp4", body=b"\x1b[31mERROR\x00\x07 504 gateway\r\n\ttimeout\xff", content_type="text/plain")

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "answered text/plain" in error.message
    assert '"?[31mERROR?? 504 gateway timeout?"' in error.message
    assert not any(ch in error.message for ch in "\x1b\x00\x07\r\n\t")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content_type", ["application/json", "application/xml", "TEXT/HTML", "text/xml; charset=utf-8", "image/png"]
)
async def test_a_content_type_that_is_not_a_video_is_refused(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes, content_type: str
) -> None:
    # Even with real MP4 bytes: the server says it is something else.
    server.route("/v.mp4", body=mp4, content_type=content_type)

    error = await refused(http, server.url("/v.mp4"), dest)

    assert f"answered {content_type.split(';')[0].lower()} " in error.message and error.retryable is True


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "video/mp4",
        'Video/MP4; codecs="avc1.42E01E"',
        "video/quicktime",
        "application/mp4",
        "application/octet-stream",
        "binary/octet-stream",
    ],
)
async def test_a_real_mp4_is_saved_with_any_video_content_type_or_none(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes, content_type: str | None
) -> None:
    server.route("/v.mp4", body=mp4, content_type=content_type)

    result = await download(http, server.url("/v.mp4"), dest, policy=LOOPBACK_POLICY)

    assert (result.path, result.size, result.content_type) == (dest, len(mp4), content_type)
    assert result.sha256 == hashlib.sha256(mp4).hexdigest()
    assert dest.read_bytes() == mp4
    assert sorted(p.name for p in dest.parent.iterdir()) == ["task-1.mp4"]


@pytest.mark.anyio
async def test_video_mp4_bytes_that_are_no_mp4_are_refused_by_their_signature(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    server.big("/v.mp4", 3_000_000, "video/mp4", prefix=b"SIMULATED CORRUPT BODY " * 100)

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "does not start like an MP4" in error.message
    assert '"SIMULATED CORRUPT BODY SIMULATED' in error.message
    assert (error.retryable, error.http_status) == (True, 200)


@pytest.mark.anyio
async def test_a_body_that_is_no_mp4_is_abandoned_after_its_first_bytes(dest: Path) -> None:
    pulled_more = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled_more
        yield b"<html>" + b" " * 100
        pulled_more = True
        yield b"x" * 1_000_000

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body()))
    async with httpx.AsyncClient(transport=transport) as client:
        error = await refused(client, "http://127.0.0.1/v.mp4", dest)

    assert "does not start like an MP4" in error.message
    assert pulled_more is False


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"", b"\x00\x00\x00\x08ftyp"], ids=["empty", "8-bytes"])
async def test_a_body_too_short_for_an_mp4_is_refused(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, body: bytes
) -> None:
    server.route("/v.mp4", body=body, content_type="video/mp4")

    error = await refused(http, server.url("/v.mp4"), dest)

    assert f"is only {len(body)} bytes long, too short to be an MP4" in error.message


@pytest.mark.anyio
@pytest.mark.parametrize("size_field", [2, 7])
async def test_a_first_box_with_an_impossible_size_is_refused(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes, size_field: int
) -> None:
    server.route("/v.mp4", body=size_field.to_bytes(4, "big") + mp4[4:], content_type="video/mp4")

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "does not start like an MP4" in error.message


@pytest.mark.anyio
async def test_an_mp4_signature_followed_by_garbage_fails_the_pyav_check(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    pytest.importorskip("av")
    server.route("/v.mp4", body=TILED_GARBAGE, content_type="video/mp4")

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "is not a playable MP4 (PyAV: " in error.message
    assert error.retryable is True


@pytest.mark.anyio
async def test_a_body_over_the_size_limit_is_abandoned(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes
) -> None:
    server.big("/streamed.mp4", 5_000_000, prefix=mp4, announce_length=False)
    server.big("/announced.mp4", 5_000_000, prefix=mp4)

    streamed = await refused(http, server.url("/streamed.mp4"), dest, max_bytes=1_000_000)
    announced = await refused(http, server.url("/announced.mp4"), dest, max_bytes=1_000_000)

    assert "larger than the limit of 1000000 bytes" in streamed.message
    assert "is 5000000 bytes, more than the limit of 1000000" in announced.message
    assert streamed.retryable is False and announced.retryable is False


# --- redirects ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_redirect_to_another_loopback_port_serving_text_is_refused_by_content(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    with HostileServer() as other:
        other.route("/secret", body=b"admin console: all systems nominal", content_type="text/plain")
        server.redirect("/v.mp4", other.url("/secret?token=abc"))

        error = await refused(http, server.url("/v.mp4"), dest)

        assert other.hits("/secret") == 1
    assert (
        f"the server at {other.url('/secret')} (redirected from {server.url('/v.mp4')}) answered text/plain"
        in error.message
    )
    assert "token=abc" not in error.message


@pytest.mark.anyio
async def test_redirects_are_followed_up_to_five_hops(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes
) -> None:
    for hop, status in zip(range(MAX_REDIRECTS), (301, 302, 303, 307, 308), strict=True):
        server.redirect(f"/hop{hop}", f"/hop{hop + 1}", status=status)
    server.route(f"/hop{MAX_REDIRECTS}", body=mp4, content_type="video/mp4")

    result = await download(http, server.url("/hop0"), dest, policy=LOOPBACK_POLICY)

    assert result.size == len(mp4) and dest.read_bytes() == mp4
    assert [server.hits(f"/hop{hop}") for hop in range(MAX_REDIRECTS + 1)] == [1] * (MAX_REDIRECTS + 1)


@pytest.mark.anyio
async def test_a_redirect_loop_stops_after_five_hops(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", server.url("/a"))

    error = await refused(http, server.url("/a"), dest)

    assert f"{server.url('/a')} redirected more than {MAX_REDIRECTS} times" in error.message
    assert error.retryable is False
    assert server.hits("/a") + server.hits("/b") == MAX_REDIRECTS + 1


@pytest.mark.anyio
async def test_a_redirect_without_location_is_not_retryable(
    server: HostileServer, http: httpx.AsyncClient, dest: Path
) -> None:
    server.redirect("/v.mp4", None, status=307)

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "answered HTTP 307, a redirect without a Location" in error.message
    assert (error.retryable, error.http_status) == (False, 307)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://10.0.0.1/x", "resolves to 10.0.0.1, a private address; only public and loopback addresses"),
        ("http://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254, a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/meta-data", "resolves to fd00:ec2::254, a cloud metadata address"),
        ("http://[::ffff:10.0.0.1]:8080/x", "resolves to ::ffff:a00:1 (10.0.0.1), a private address"),
        ("http://100.64.0.1/x", "resolves to 100.64.0.1, a private address"),
        ("http://0.0.0.0:8000/x", "resolves to 0.0.0.0, a non-public address"),
    ],
)
async def test_a_redirect_to_a_forbidden_address_is_refused_without_connecting(
    server: HostileServer, dest: Path, location: str, expected: str
) -> None:
    server.redirect("/v.mp4", location)
    connected: list[str] = []
    real = httpx.AsyncHTTPTransport()

    class OnlyLoopback(httpx.AsyncBaseTransport):
        """Real HTTP to 127.0.0.1; any other host is recorded, and hangs as an unreachable host would."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            connected.append(request.url.host)
            if request.url.host != "127.0.0.1":
                await anyio.sleep_forever()
            return await real.handle_async_request(request)

    async with httpx.AsyncClient(transport=OnlyLoopback()) as client:
        error = await refused(client, server.url("/v.mp4"), dest)
    await real.aclose()

    assert connected == ["127.0.0.1"]
    assert error.message.startswith(f"{server.url('/v.mp4')} redirected to a URL that may not be fetched: ")
    assert expected in error.message
    assert error.retryable is False


@pytest.mark.anyio
@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/video.mp4", "gopher://127.0.0.1:70/_x"])
async def test_a_redirect_to_another_scheme_is_refused(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, location: str
) -> None:
    server.redirect("/v.mp4", location)

    error = await refused(http, server.url("/v.mp4"), dest)

    assert "is not http(s)" in error.message and "only http and https may serve a video" in error.message
    assert error.retryable is False


@pytest.mark.anyio
async def test_without_a_policy_only_public_addresses_are_allowed(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes
) -> None:
    server.route("/v.mp4", body=mp4, content_type="video/mp4")

    error = await refused(http, server.url("/v.mp4"), dest, policy=None)

    assert error.message == (
        f"the video URL {server.url('/v.mp4')} resolves to 127.0.0.1, a loopback address; "
        "only public addresses may serve a video"
    )
    assert server.hits("/v.mp4") == 0


@pytest.mark.anyio
async def test_the_callers_headers_reach_the_first_origin_only(server: HostileServer, dest: Path, mp4: bytes) -> None:
    with HostileServer() as storage:
        storage.route("/v.mp4", body=mp4, content_type="video/mp4")
        server.redirect("/content", "/content2")  # same origin: the caller's headers go along
        server.redirect("/content2", storage.url("/v.mp4"))
        auth = {"Authorization": "Bearer sk-for-the-gateway"}
        async with httpx.AsyncClient(trust_env=False, headers={"Authorization": "Bearer sk-client-wide"}) as client:
            await download(client, server.url("/content"), dest, headers=auth, policy=LOOPBACK_POLICY)

        [first], [second], [third] = server.headers("/content"), server.headers("/content2"), storage.headers("/v.mp4")
    assert first["authorization"] == second["authorization"] == "Bearer sk-for-the-gateway"
    assert "authorization" not in third
    assert third["accept-encoding"] == "identity"


# --- the address policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", LOOPBACK),
        ("127.8.9.10", LOOPBACK),
        ("::1", LOOPBACK),
        ("::ffff:127.0.0.1", LOOPBACK),
        ("10.1.2.3", PRIVATE),
        ("172.16.0.1", PRIVATE),
        ("172.31.255.255", PRIVATE),
        ("192.168.1.1", PRIVATE),
        ("100.64.0.1", PRIVATE),
        ("100.127.255.254", PRIVATE),
        ("fd12:3456::1", PRIVATE),
        ("::ffff:10.0.0.1", PRIVATE),
        ("64:ff9b::a00:1", PRIVATE),  # NAT64 of 10.0.0.1
        ("2002:a00:1::1", PRIVATE),  # 6to4 of 10.0.0.1
        ("169.254.1.1", LINK_LOCAL),
        ("fe80::1", LINK_LOCAL),
        ("fe80::1%eth0", LINK_LOCAL),
        ("169.254.169.254", METADATA),
        ("::ffff:169.254.169.254", METADATA),
        ("fd00:ec2::254", METADATA),
        ("0.0.0.0", OTHER),
        ("::", OTHER),
        ("224.0.0.1", OTHER),
        ("ff02::1", OTHER),
        ("240.0.0.1", OTHER),
        ("255.255.255.255", OTHER),
        ("192.0.2.1", OTHER),  # documentation
        ("93.184.216.34", PUBLIC),
        ("8.8.8.8", PUBLIC),
        ("172.32.0.1", PUBLIC),
        ("100.128.0.1", PUBLIC),
        ("2606:2800:220:1:248:1893:25c8:1946", PUBLIC),
    ],
)
def test_address_categories(address: str, category: str) -> None:
    assert address_category(address) == category


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        (None, set()),
        ("", set()),
        ("https://dashscope.aliyuncs.com/api/v1", set()),  # a host name: public only, and no DNS asked
        ("http://93.184.216.34/v1", set()),
        ("http://127.0.0.1:8000", {LOOPBACK}),
        ("http://[::1]:8000/v1", {LOOPBACK}),
        ("http://localhost:8000", {LOOPBACK}),
        ("http://10.0.0.5:3000", {PRIVATE}),
        ("http://169.254.10.10", {LINK_LOCAL}),
        ("http://169.254.169.254", set()),
        ("http://0.0.0.0:8000", {OTHER}),
        ("http://[not-a-url", set()),
    ],
)
def test_the_policy_allows_the_base_urls_own_category(base_url: str | None, allowed: set[str]) -> None:
    assert AddressPolicy.for_base_url(base_url).allowed == allowed


async def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"the policy asked DNS about {host}")


async def check(policy: AddressPolicy, url: str) -> DownloadFailed | None:
    """The refusal of ``url`` by ``policy`` (None when allowed); an IP literal is never resolved."""
    try:
        await AddressPolicy(policy.allowed, resolve=_no_dns).check(httpx.URL(url))
    except DownloadFailed as exc:
        return exc
    return None


@pytest.mark.anyio
async def test_a_public_base_allows_only_public_addresses() -> None:
    policy = AddressPolicy.for_base_url("https://93.184.216.34/api")

    assert await check(policy, "https://93.184.216.34/v.mp4") is None
    assert await check(policy, "http://[2606:2800:220:1:248:1893:25c8:1946]:8080/v.mp4") is None
    for url in ("http://127.0.0.1/v.mp4", "http://[::1]/v.mp4", "http://10.0.0.1/", "http://192.168.0.2/"):
        error = await check(policy, url)
        assert error is not None and "only public addresses may serve a video" in error.message
        assert error.retryable is False


@pytest.mark.anyio
async def test_a_loopback_base_allows_loopback_but_not_private_or_metadata() -> None:
    for url in ("http://127.0.0.1:9/v.mp4", "http://[::1]:9/v.mp4", "http://127.0.0.2/", "https://93.184.216.34/"):
        assert await check(LOOPBACK_POLICY, url) is None, url
    for url, reason in [
        ("http://10.0.0.1/x", "10.0.0.1, a private address; only public and loopback addresses may serve a video"),
        ("http://[::ffff:10.0.0.1]/x", "::ffff:a00:1 (10.0.0.1), a private address"),
        ("http://100.64.0.1/x", "100.64.0.1, a private address"),
        ("http://0.0.0.0/x", "0.0.0.0, a non-public address"),
        ("http://[fe80::1]/x", "fe80::1, a link-local address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254, a cloud metadata address; it may never"),
    ]:
        error = await check(LOOPBACK_POLICY, url)
        assert error is not None and reason in error.message, url


@pytest.mark.anyio
async def test_metadata_addresses_are_refused_whatever_the_base() -> None:
    private = AddressPolicy.for_base_url("http://[fd00::1]:8000")  # fd00:ec2::254 is in fc00::/7 too
    link_local = AddressPolicy.for_base_url("http://169.254.0.7")

    assert await check(private, "http://[fd12::9]/v.mp4") is None
    assert await check(link_local, "http://169.254.1.1/v.mp4") is None
    for policy, url in [
        (private, "http://[fd00:ec2::254]/"),
        (link_local, "http://169.254.169.254/"),
        (AddressPolicy(frozenset({PRIVATE, LINK_LOCAL, METADATA})), "http://169.254.169.254/"),
    ]:
        error = await check(policy, url)
        assert error is not None and "a cloud metadata address; it may never serve a video" in error.message


@pytest.mark.anyio
async def test_every_address_a_host_resolves_to_must_be_allowed() -> None:
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return {"cdn.example": ["93.184.216.34", "2606:2800:220:1::1"], "mixed.example": ["93.184.216.34", "10.0.0.1"]}[
            host
        ]

    policy = AddressPolicy(resolve=resolve)

    await policy.check(httpx.URL("https://cdn.example/v.mp4?sig=1"))
    with pytest.raises(DownloadFailed) as caught:
        await policy.check(httpx.URL("http://mixed.example:8080/v.mp4?sig=1"))

    assert asked == [("cdn.example", 443), ("mixed.example", 8080)]
    assert caught.value.message == (
        "the video URL http://mixed.example:8080/v.mp4 resolves to 10.0.0.1, a private address; "
        "only public addresses may serve a video"
    )


@pytest.mark.anyio
async def test_a_host_that_does_not_resolve_is_a_retryable_failure() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DownloadFailed) as caught:
        await AddressPolicy(resolve=resolve).check(httpx.URL("https://gone.example/v.mp4"))

    assert caught.value.retryable is True
    assert caught.value.message == "could not resolve host gone.example of https://gone.example/v.mp4: " + (
        "Name or service not known"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://93.184.216.34/v.mp4", "data:,hello"])
async def test_the_policy_refuses_other_schemes(url: str) -> None:
    error = await check(AddressPolicy(), url)

    assert error is not None and "is not http(s)" in error.message and error.retryable is False


# --- verify_video_file, part files ------------------------------------------------------


def test_verify_video_file_accepts_a_real_mp4_and_names_what_is_wrong_otherwise(tmp_path: Path, mp4: bytes) -> None:
    pytest.importorskip("av")
    files = {
        "real.mp4": mp4,
        "html.mp4": HTML,
        "garbage.mp4": TILED_GARBAGE,
        "cut.mp4": MP4_SIGNATURE_THEN_GARBAGE,
        "empty.mp4": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    assert verify_video_file(tmp_path / "real.mp4") is None
    assert (verify_video_file(tmp_path / "html.mp4") or "").startswith(
        'does not start like an MP4 (no ISO-BMFF box; it begins "<!DOCTYPE html>'
    )
    assert (verify_video_file(tmp_path / "garbage.mp4") or "").startswith("is not a playable MP4 (PyAV: ")
    assert (verify_video_file(tmp_path / "cut.mp4") or "").startswith("is cut short: a box at byte 24")
    assert verify_video_file(tmp_path / "empty.mp4") == "is only 0 bytes long, too short to be an MP4"
    assert verify_video_file(tmp_path / "missing.mp4") == "cannot be read (No such file or directory)"


def test_has_mp4_signature_is_the_cheap_check_of_the_first_box(tmp_path: Path, mp4: bytes) -> None:
    for name, data in {"real": mp4, "garbage": MP4_SIGNATURE_THEN_GARBAGE, "html": HTML, "short": mp4[:11]}.items():
        (tmp_path / name).write_bytes(data)

    assert has_mp4_signature(tmp_path / "real") and has_mp4_signature(tmp_path / "garbage")
    assert not has_mp4_signature(tmp_path / "html") and not has_mp4_signature(tmp_path / "short")
    assert not has_mp4_signature(tmp_path / "missing")


def test_verify_video_file_wants_a_video_stream(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "audio-only.mp4"
    with av.open(str(path), "w") as container:
        mux_silence(container, container.add_stream("aac", rate=8000, layout="mono"))

    assert verify_video_file(path) == "is not a playable MP4 (PyAV: no video stream)"


def test_without_pyav_the_signature_alone_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    garbage, html, cut = tmp_path / "garbage.mp4", tmp_path / "html.mp4", tmp_path / "cut.mp4"
    garbage.write_bytes(TILED_GARBAGE)
    html.write_bytes(HTML)
    cut.write_bytes(MP4_SIGNATURE_THEN_GARBAGE)

    assert verify_video_file(garbage) is None  # boxes that tile the file: only PyAV could say more
    assert (verify_video_file(html) or "").startswith("does not start like an MP4")
    assert (verify_video_file(cut) or "").startswith("is cut short")  # a truncated body, even without PyAV


def test_remove_orphaned_parts_deletes_part_files_unless_kept(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    (videos / "nested").mkdir(parents=True)
    (videos / "dir.part").mkdir()
    names = ["a.mp4", "a.0123456789ab.part", "b.run-1.0123456789ab.part", "c.run-2.0123456789ab.part", "notes.txt"]
    for name in names:
        (videos / name).write_bytes(b"x")
    (videos / "nested" / "d.0123456789ab.part").write_bytes(b"x")

    assert remove_orphaned_parts(videos, keep=lambda path: ".run-1." in path.name) == 2
    assert sorted(p.name for p in videos.iterdir()) == [
        "a.mp4",
        "b.run-1.0123456789ab.part",
        "dir.part",
        "nested",
        "notes.txt",
    ]
    assert (videos / "nested" / "d.0123456789ab.part").exists()
    assert remove_orphaned_parts(videos) == 1
    assert remove_orphaned_parts(videos) == 0
    assert remove_orphaned_parts(tmp_path / "missing") == 0


@pytest.mark.anyio
async def test_part_tag_names_the_temporary_file(dest: Path, mp4: bytes) -> None:
    seen: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield mp4[:1000]
        seen.extend(p.name for p in dest.parent.iterdir())
        yield mp4[1000:]

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body()))
    async with httpx.AsyncClient(transport=transport) as client:
        await download(client, "http://127.0.0.1/v.mp4", dest, policy=LOOPBACK_POLICY, part_tag="run-7")
        with pytest.raises(ValueError, match="part_tag"):
            await download(client, "http://127.0.0.1/v.mp4", dest, policy=LOOPBACK_POLICY, part_tag="../x")

    assert len(seen) == 1 and re.fullmatch(r"task-1\.run-7\.[0-9a-f]{12}\.part", seen[0])
    assert sorted(p.name for p in dest.parent.iterdir()) == ["task-1.mp4"]


# --- the connection goes where the check looked --------------------------------------


@pytest.mark.anyio
async def test_the_download_connects_to_the_vetted_address_not_to_a_second_lookup(
    server: HostileServer, http: httpx.AsyncClient, dest: Path, mp4: bytes
) -> None:
    # "video.test" exists only in this resolver, which answers loopback once and a private address after
    # that (a DNS rebinding attack). The download must reach the first answer without asking again.
    answers = [["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if answers else ["10.0.0.1"]

    server.route("/v.mp4", body=mp4, content_type="video/mp4")
    policy = AddressPolicy(frozenset({LOOPBACK}), resolve=rebinding)
    url = f"http://video.test:{server.port}/v.mp4"

    with anyio.fail_after(10):
        result = await download(http, url, dest, policy=policy)

    assert result.size == len(mp4) and dest.read_bytes() == mp4
    assert answers == []  # asked once; the second answer was never used
    assert server.hits("/v.mp4") == 1
    assert {k.lower(): v for k, v in server.headers("/v.mp4")[0].items()}["host"] == f"video.test:{server.port}"


def test_pinning_keeps_the_host_name_for_the_host_header_and_tls() -> None:
    request = httpx.Request("GET", "https://cdn.example.com/v.mp4?sig=1", headers={"Host": "cdn.example.com"})
    pinned = pin(request, ["93.184.216.34", "93.184.216.35"])
    assert str(pinned.url) == "https://93.184.216.34/v.mp4?sig=1"
    assert pinned.headers["Host"] == "cdn.example.com" and pinned.extensions["sni_hostname"] == "cdn.example.com"
    literal = httpx.Request("GET", "http://127.0.0.1:8000/v.mp4")
    assert pin(literal, ["127.0.0.1"]).url == literal.url and "sni_hostname" not in literal.extensions
