"""Temporary uploads (reference/media-protocol.md section 8): the policies handed out and the objects stored
(``UploadStore``), and whether a submit may use the ``oss://`` URLs it names (``oss_refusal``).

A policy is the real service's: a base64 JSON document (expiration, the ACL and no-overwrite conditions,
the key prefix, the size range) signed OSS style (base64 HMAC-SHA1) with the simulator's secret; the
simulator remembers who asked for it (the API key stands for the account) and for which model. An upload
(OSS PostObject, ``oss_upload``) is checked against it as OSS checks a form. Objects live
``upload_ttl_seconds`` (48 h), then are gone. Choices where the real service is undocumented: a missing,
expired, foreign or other-model object refuses the submit with 400 ``InvalidParameter`` naming the field
and why (the reference documents only that an upload is bound to one model and one account); a key must
name a file under the policy's ``upload_dir`` (``upload_dir/<name>``), a little stricter than OSS's
``starts-with``.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wan_video_mcp.server.simulator.config import BEIJING, SimulatorConfig
from wan_video_mcp.server.simulator.multipart import Part
from wan_video_mcp.server.simulator.plans import SubmitPlan

OSS_SCHEME = "oss://"
ACCESS_KEY_ID = "LTAI-SIMULATED"
ACL, FORBID_OVERWRITE = "private", "true"
CAPACITY_LIMIT_MB = 999_999_999
MB = 1024 * 1024
MAX_KEY_BYTES = 1023  # OSS's longest object name
ACL_CONDITION = ["eq", "$x-oss-object-acl", ACL]
OVERWRITE_CONDITION = ["eq", "$x-oss-forbid-overwrite", FORBID_OVERWRITE]
# OSS's wording (PostObject errors).
MSG_EXPIRED = "Invalid according to Policy: Policy expired."
MSG_CONDITION = "Invalid according to Policy: Policy Condition failed: "
MSG_SIGNATURE = "The request signature we calculated does not match the signature you provided."
MSG_EXISTS = "The object you specified already exists and can not be overwritten."


class UploadRefused(Exception):
    """An upload OSS refuses: HTTP status, OSS code, message, and extra XML fields."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _condition_failed(condition: Sequence[object]) -> UploadRefused:
    return UploadRefused(403, "AccessDenied", MSG_CONDITION + json.dumps(list(condition)))


def sign_policy(secret: bytes, policy: str) -> str:
    """OSS's signature of a base64 policy: base64 HMAC-SHA1."""
    return base64.b64encode(hmac.new(secret, policy.encode(), hashlib.sha1).digest()).decode()


@dataclass(frozen=True)
class Policy:
    """One getPolicy answer, and what the simulator remembers of it."""

    text: str  # the base64 JSON document, as handed out (and sent back in the form)
    signature: str
    api_key: str
    model: str
    upload_dir: str
    expires_at: float
    max_bytes: int

    @property
    def key_condition(self) -> tuple[str, str, str]:
        return ("starts-with", "$key", self.upload_dir)


@dataclass
class StoredObject:
    """One uploaded file, under its key (its URL is ``oss://`` + key)."""

    key: str
    data: bytes
    content_type: str
    model: str
    api_key: str
    uploaded_at: float
    expires_at: float
    sha256: str = field(init=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.sha256, self.size = hashlib.sha256(self.data).hexdigest(), len(self.data)

    @property
    def url(self) -> str:
        return OSS_SCHEME + self.key

    def live(self, now: float) -> bool:
        return now < self.expires_at


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def policy_document(upload_dir: str, expires_at: float, max_bytes: int) -> dict[str, object]:
    """The JSON a policy encodes (the conditions a form must meet)."""
    return {
        "expiration": _iso(expires_at),
        "conditions": [
            ["content-length-range", 0, max_bytes],
            ["starts-with", "$key", upload_dir],
            ACL_CONDITION,
            OVERWRITE_CONDITION,
        ],
    }


def _form_fields(parts: Sequence[Part]) -> tuple[dict[str, str], Part]:
    """The text fields (names lower-cased, the first of each) and the file, which must be the one last part."""
    files = [i for i, part in enumerate(parts) if part.name.lower() == "file"]
    if not files:
        raise UploadRefused(400, "InvalidArgument", "The form has no file field; it must end with one.")
    if len(files) > 1:
        raise UploadRefused(400, "InvalidArgument", "The form has more than one file field; one file per request.")
    if files[0] != len(parts) - 1:
        raise UploadRefused(400, "InvalidArgument", "The file field must be the last field of the form.")
    fields: dict[str, str] = {}
    for part in parts[:-1]:
        fields.setdefault(part.name.lower(), part.text)
    return fields, parts[-1]


class UploadStore:
    """The policies handed out, the getPolicy rate of each (key, model), and the objects uploaded."""

    def __init__(self, config: SimulatorConfig, secret: bytes) -> None:
        self._config = config
        self._secret = secret
        self._policies: dict[str, Policy] = {}  # by the base64 text
        self._calls: dict[tuple[str, str], collections.deque[float]] = {}
        self._objects: dict[str, StoredObject] = {}

    @property
    def max_bytes(self) -> int:
        return self._config.upload_max_file_mb * MB

    def admit(self, api_key: str, model: str, now: float) -> bool:
        """Whether one more getPolicy call of (key, model) fits the rate (then it counts), or is throttled."""
        calls = self._calls.setdefault((api_key, model), collections.deque())
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        if len(calls) >= self._config.policy_rate_per_second:
            return False
        calls.append(now)
        return True

    def issue(self, api_key: str, model: str, now: float) -> Policy:
        """A new policy for (key, model): its own upload directory, ``upload_policy_seconds`` to use it."""
        self._policies = {text: p for text, p in self._policies.items() if p.expires_at > now}
        account = hashlib.sha256(api_key.encode()).hexdigest()[:32]
        day = datetime.fromtimestamp(now, BEIJING).strftime("%Y-%m-%d")
        upload_dir = f"dashscope-instant/{account}/{day}/{uuid.uuid4()}"
        expires_at = now + self._config.upload_policy_seconds
        document = policy_document(upload_dir, expires_at, self.max_bytes)
        text = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
        policy = Policy(text, sign_policy(self._secret, text), api_key, model, upload_dir, expires_at, self.max_bytes)
        self._policies[text] = policy
        return policy

    def accept(self, parts: Sequence[Part], now: float, *, expired: bool = False) -> StoredObject:
        """Store the form's file as OSS would, or raise ``UploadRefused``; ``expired``: as if the policy had expired."""
        fields, file = _form_fields(parts)
        if fields.get("ossaccesskeyid") != ACCESS_KEY_ID:
            raise UploadRefused(
                403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."
            )
        text, signature = fields.get("policy", ""), fields.get("signature", "")
        policy = self._policies.get(text)
        if policy is None or not hmac.compare_digest(signature, sign_policy(self._secret, text)):
            raise UploadRefused(403, "SignatureDoesNotMatch", MSG_SIGNATURE)
        if expired or now > policy.expires_at:
            raise UploadRefused(403, "AccessDenied", MSG_EXPIRED)
        if fields.get("x-oss-object-acl") != ACL:
            raise _condition_failed(ACL_CONDITION)
        if fields.get("x-oss-forbid-overwrite") != FORBID_OVERWRITE:
            raise _condition_failed(OVERWRITE_CONDITION)
        key = fields.get("key", "")
        name = key.removeprefix(policy.upload_dir + "/")
        if name == key or not name or name.endswith("/"):
            raise _condition_failed(policy.key_condition)
        if len(key.encode()) > MAX_KEY_BYTES:
            raise UploadRefused(400, "InvalidObjectName", "The specified object is not valid.")
        if len(file.data) > policy.max_bytes:
            raise UploadRefused(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size.",
                ProposedSize=str(len(file.data)),
                MaxSizeAllowed=str(policy.max_bytes),
            )
        if (old := self._objects.get(key)) is not None and old.live(now):
            raise UploadRefused(409, "FileAlreadyExists", MSG_EXISTS)
        content_type = fields.get("x-oss-content-type") or file.content_type or "application/octet-stream"
        expires_at = now + self._config.upload_ttl_seconds
        stored = StoredObject(key, file.data, content_type, policy.model, policy.api_key, now, expires_at)
        self._objects[key] = stored
        return stored

    def get(self, url: str, now: float) -> StoredObject | None:
        """The live object an ``oss://`` URL names (None: never uploaded, or gone); an expired one frees its bytes."""
        found = self._objects.get(url.removeprefix(OSS_SCHEME)) if url.startswith(OSS_SCHEME) else None
        if found is not None and not found.live(now):
            found.data = b""
            return None
        return found

    def objects(self, now: float) -> list[StoredObject]:
        """The live objects, oldest first."""
        return [o for o in self._objects.values() if o.live(now)]

    def problem(self, url: str, api_key: str, model: str, now: float) -> str | None:
        """Why this submit may not use the ``oss://`` URL, or None."""
        stored = self._objects.get(url.removeprefix(OSS_SCHEME))
        hours = f"{self._config.upload_ttl_seconds / 3600:g} hours"
        if stored is None:
            return f"{url} names no uploaded file (the URL is 'oss://' + the key of a successful upload)."
        if not stored.live(now):
            return f"{url} has expired (uploads are deleted {hours} after they were made); upload the file again."
        if stored.api_key != api_key:
            return f"{url} was uploaded with another API key; an upload is usable only by the account that made it."
        if stored.model != model:
            return f"{url} was uploaded for model {stored.model}, not {model}; upload it again for {model}."
        return None


def oss_refusal(store: UploadStore, plan: SubmitPlan, api_key: str, now: float) -> str | None:
    """The message refusing a submit whose ``oss://`` URLs are not all usable by this key and model, or None."""
    for ref in plan.inputs:
        if ref.url.startswith(OSS_SCHEME):
            problem = store.problem(ref.url, api_key, plan.model_name, now)
            if problem is not None:
                return f"{ref.field}: {problem}"
    return None
