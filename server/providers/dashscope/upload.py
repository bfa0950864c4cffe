"""DashScope's temporary file upload (reference/media-protocol.md section 8): a policy, a form POST, an oss:// URL.

``TemporaryUploads.upload`` sends one file for one model and returns its ``oss://`` URL, which lives 48 hours and
only that model of the same account can read (the submit then carries ``X-DashScope-OssResourceResolve``). A
policy is fetched per model and reused across files until shortly before it expires; one that expired on the way
("Policy expired") is fetched again. Policy requests keep under the documented 100 per second per account and
model, and a ``Throttling.RateQuota`` answer is waited out. The API key goes to DashScope only, never to the
storage host, and the file is posted under a name made of its hash, not the agent's file name.

The documents disagree on where the upload exists (conflict 14: Beijing only in English, Singapore too in the
newer es/pt pages): with the default hosts, another region is refused before any request, saying so; with a
custom base URL (a gateway, a workspace host, a test server) the upload is tried and the provider's answer told.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from wan_video_mcp.server.catalog.media import FORMAT_MIME
from wan_video_mcp.server.errors import ProviderError
from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy, pin
from wan_video_mcp.server.jobs.downloads.failures import DownloadFailed
from wan_video_mcp.server.providers.dashscope.errors import parse_error
from wan_video_mcp.server.providers.http import json_or_none, send

__all__ = ["UPLOAD_LIFETIME_SECONDS", "UPLOAD_REGIONS", "TemporaryUploads", "Uploaded"]

UPLOAD_LIFETIME_SECONDS = 48 * 3600.0
# Where the documents say the upload exists (conflict 14): the English page Beijing only, es/pt Singapore too.
UPLOAD_REGIONS = ("cn", "intl")
POLICY_MARGIN_SECONDS = 30.0  # a policy is not used in its last seconds: the POST must arrive before it expires
POLICIES_PER_SECOND = 100.0  # the documented credential rate per account and model
ATTEMPTS = 3  # a policy that expired on the way, or a rate refusal, is tried again this often
_POLICY_FIELDS = ("policy", "signature", "upload_dir", "upload_host", "oss_access_key_id")
_OSS_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_OSS_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")
_SUFFIXES = {"jpeg": "jpg"}  # a format's usual file suffix, where it is not the format's own name
_ANSWER_BYTES = 8192  # of the storage's answer: an error's XML; more is never read


@dataclass(frozen=True)
class Uploaded:
    url: str  # oss://dashscope-instant/...
    expires_at: float


@dataclass(frozen=True)
class _Policy:
    fields: Mapping[str, Any]
    expires_at: float


class TemporaryUploads:
    """Uploads for one DashScope account and host."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        headers: Callable[[], dict[str, str]],
        region: str,
        default_host: bool,
        wire_name: Callable[[str], str] = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._api_key = api_key
        self._headers = headers
        self._region = region
        self._default_host = default_host
        self._clock = clock
        self.wire_name = wire_name
        self._policies: dict[str, _Policy] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._last_policy_at: dict[str, float] = {}
        self._addresses = AddressPolicy.for_base_url(base_url)
        # Whose uploads these are: a hash of the key and the host (uploads are bound to both), never the key.
        self.account = hashlib.sha256(f"wan-video-mcp uploads\0{api_key}\0{base_url}".encode()).hexdigest()[:32]

    def refusal(self) -> str | None:
        """Why this server does not try the upload at all (None: it tries)."""
        if not self._default_host or self._region in UPLOAD_REGIONS:
            return None
        return (
            "DashScope's temporary upload of local files is documented only for Beijing (cn) keys, and in newer "
            f"pages Singapore (intl); this server uses region '{self._region}'. Give the file as a public https "
            "URL, or run the server with a Beijing or Singapore key (DASHSCOPE_REGION=cn or intl)"
        )

    async def upload(self, model: str, file: Path, sha256: str, form: str | None = None) -> Uploaded:
        """Send ``file`` (whose bytes hash to ``sha256`` and are of format ``form``, as read) for the catalog
        ``model``; raises ``ProviderError`` (created=False). The upload is bound to the model's name in this
        region, the name the submit sends."""
        refused = self.refusal()
        if refused:
            raise ProviderError(refused, provider_code="UploadNotOffered", created=False)
        model = self.wire_name(model)
        suffix = f".{_SUFFIXES.get(form or '', form or '')}" if form else file.suffix.lower()
        mime = FORMAT_MIME.get(form or "") or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        for attempt in range(ATTEMPTS):
            policy = await self._policy(model)
            # Named by the bytes, plus a token: a later upload of the same bytes (one about to expire is replaced)
            # must not meet the first under a policy that forbids overwriting.
            key = f"{policy.fields['upload_dir']}/{sha256[:32]}-{secrets.token_hex(4)}{suffix}"
            started = self._clock()
            status, answer = await self._post(policy, key, file, mime)
            if status in (200, 201, 204):
                return Uploaded(f"oss://{key}", started + UPLOAD_LIFETIME_SECONDS)
            code, message = _oss_error(answer)
            if status == 403 and "expired" in message.lower() and attempt + 1 < ATTEMPTS:
                self._policies.pop(model, None)  # fetched again on the next round
                continue
            raise ProviderError(
                f"DashScope's file storage refused the upload (HTTP {status} {code}: {message})",
                provider_code=code,
                http_status=status,
                retryable=status >= 500 or status == 429,
                created=False,
            )
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def _policy(self, model: str) -> _Policy:
        lock = self._locks.setdefault(model, anyio.Lock())
        async with lock:  # one policy request per model at a time: files of one call share it
            cached = self._policies.get(model)
            if cached is not None and self._clock() < cached.expires_at - POLICY_MARGIN_SECONDS:
                return cached
            for attempt in range(ATTEMPTS):
                await self._keep_rate(model)
                response = await send(
                    self._client,
                    "GET",
                    f"{self._base_url}/uploads",
                    headers=self._headers(),
                    params={"action": "getPolicy", "model": model},
                )
                if response.status_code == 429 and attempt + 1 < ATTEMPTS:
                    error = parse_error(response, api_key=self._api_key)
                    await anyio.sleep(error.retry_after if error.retry_after is not None else 1.0)
                    continue
                if not response.is_success:
                    error = parse_error(response, api_key=self._api_key)
                    error.message = f"the upload credential for {model} was refused: {error.message}"
                    error.args = (error.message,)
                    raise error
                policy = self._parse_policy(response)
                self._policies[model] = policy
                return policy
        raise AssertionError("unreachable")

    async def _keep_rate(self, model: str) -> None:
        """At most ``POLICIES_PER_SECOND`` policy requests per model (on the event loop's clock)."""
        last = self._last_policy_at.get(model)
        now = anyio.current_time()
        if last is not None and now - last < 1 / POLICIES_PER_SECOND:
            await anyio.sleep(1 / POLICIES_PER_SECOND - (now - last))
        self._last_policy_at[model] = anyio.current_time()

    def _parse_policy(self, response: httpx.Response) -> _Policy:
        payload = json_or_none(response)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, Mapping) or not all(isinstance(data.get(name), str) for name in _POLICY_FIELDS):
            raise ProviderError(
                "DashScope's upload credential answer lacks the policy fields (policy, signature, upload_dir, "
                "upload_host, oss_access_key_id)",
                provider_code="MalformedPolicy",
                created=False,
            )
        try:
            lifetime = float(data.get("expire_in_seconds") or 300)  # typed as a string in the docs' table
        except (TypeError, ValueError):
            lifetime = 300.0
        if not 0 < lifetime <= 3600:  # "inf", negative or absurd: the documented 300 s
            lifetime = 300.0
        return _Policy(dict(data), self._clock() + lifetime)

    async def _post(self, policy: _Policy, key: str, file: Path, mime: str) -> tuple[int, str]:
        """POST the form; the answer's status and (at most ``_ANSWER_BYTES`` of) its body."""
        fields = policy.fields
        host = str(fields["upload_host"])
        try:
            target = httpx.URL(host)
            addresses = await self._addresses.check(target)
        except (DownloadFailed, httpx.InvalidURL) as exc:
            raise ProviderError(
                f"DashScope named an upload host this server may not send files to ({exc})",
                provider_code="UploadHostRefused",
                created=False,
            ) from None
        form = {
            "OSSAccessKeyId": str(fields["oss_access_key_id"]),
            "Signature": str(fields["signature"]),
            "policy": str(fields["policy"]),
            "key": key,
            "x-oss-object-acl": str(fields.get("x_oss_object_acl") or "private"),
            "x-oss-forbid-overwrite": str(fields.get("x_oss_forbid_overwrite") or "true"),
            "success_action_status": "200",
            "x-oss-content-type": mime,
        }
        try:
            with file.open("rb") as body:
                # httpx sends the data fields first and the file last, as OSS requires. No Authorization: the
                # policy and signature are the credential here, and the API key never leaves for storage. The
                # request goes to the address that was checked (``pin``), not to a second DNS answer.
                request = self._client.build_request(
                    "POST", target, data=form, files={"file": (key.rsplit("/", 1)[-1], body, mime)}
                )
                response = await self._client.send(pin(request, addresses), stream=True)
                try:
                    answer = bytearray()
                    async for chunk in response.aiter_bytes():
                        answer += chunk
                        if len(answer) >= _ANSWER_BYTES:
                            break
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"the upload to DashScope's file storage failed ({type(exc).__name__})",
                provider_code="UploadFailed",
                retryable=True,
                created=False,
            ) from exc
        return response.status_code, bytes(answer[:_ANSWER_BYTES]).decode("utf-8", "replace")


def _oss_error(text: str) -> tuple[str, str]:
    """OSS's XML error (Code, Message), or DashScope's JSON one, or the start of the body."""
    code = _OSS_CODE.search(text)
    message = _OSS_MESSAGE.search(text)
    if code or message:
        return (code.group(1) if code else "Unknown"), (message.group(1) if message else "")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        return str(payload.get("code") or "Unknown"), str(payload.get("message") or "")
    return "Unknown", " ".join(text.split())[:160]
