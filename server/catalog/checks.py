"""The checks ``validate`` is made of: the problem list it fills, and strings, URLs, URL lists and media items.

Each check adds a problem that names the field, the value and what is allowed, and says whether the value passed,
so later checks can skip what already failed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from wan_video_mcp.server.catalog.media import IMAGE, LINK
from wan_video_mcp.server.catalog.models import MODELS
from wan_video_mcp.server.catalog.rules import (
    HTTP_URL_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    IMAGE_URL_PATTERN,
    MAX_MEDIA_DATA_URL_CHARS,
    MAX_URL_CHARS,
    MEDIA_ITEM_KEYS,
    PROMPT_PATTERN,
    STORED_URL_PATTERN,
    TEXT_PATTERN,
)
from wan_video_mcp.server.errors import InvalidRequest, clip

PROMPT_RE = re.compile(PROMPT_PATTERN)
TEXT_RE = re.compile(TEXT_PATTERN)
HTTP_URL_RE = re.compile(HTTP_URL_PATTERN)
IMAGE_URL_RE = re.compile(IMAGE_URL_PATTERN)
STORED_URL_RE = re.compile(STORED_URL_PATTERN)
IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
# What an input may be, for messages: the patterns' alternatives in words.
INPUT_FORMS = (
    "an http(s) or oss:// URL, a local file (an absolute path or file:// URI) or an earlier video "
    "(wan-video://videos/{task_id}.mp4 or its task id)"
)
IMAGE_FORMS = INPUT_FORMS + ", or a data:image/(png|jpeg|bmp|webp);base64 URL"


def is_int(value: Any) -> TypeGuard[int | float]:
    # JSON Schema's integer: any number with zero fraction, never a boolean.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def show(value: Any) -> str:
    return clip(repr(value) if not isinstance(value, str) else f"'{value}'")


class Problems:
    """Every problem of one call, the first SHOWN listed (the first names the error's field)."""

    SHOWN = 10  # more problems than this are counted, not listed

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.more = 0
        self.fields: set[str] = set()  # every field with a problem, listed or only counted

    def add(self, name: str, message: str) -> None:
        self.fields.add(name)
        if len(self.items) >= self.SHOWN:
            self.more += 1
            return
        self.items.append((clip(name), message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0][0]
        if len(self.items) == 1:
            message = self.items[0][1]
        else:
            total = len(self.items) + self.more
            message = f"{total} problems: " + "; ".join(text for _, text in self.items)
            if self.more:
                message += f"; and {self.more} more"
        error = InvalidRequest(message, field=first)
        error.problems = [{"field": name, "message": text} for name, text in self.items]  # type: ignore[attr-defined]
        raise error


def check_string(
    problems: Problems,
    name: str,
    value: Any,
    *,
    pattern: re.Pattern[str],
    max_len: int,
    what: str,
    min_len: int = 0,
) -> bool:
    if not isinstance(value, str):
        problems.add(name, f"{name} must be a string, got {show(value)}")
        return False
    if len(value) > max_len:
        problems.add(name, f"{name} is {len(value)} characters; at most {max_len} allowed")
        return False
    if len(value) < min_len or not pattern.search(value):
        problems.add(name, f"{name} {show(value)} is not {what}")
        return False
    return True


# Each media type's kind (image, video, audio, file, link): the same in every model that takes it.
MEDIA_KINDS = {slot.type: slot.kind for spec in MODELS if spec.media for slot in spec.media.slots}


def check_url_list(problems: Problems, name: str, urls: Any, most: int) -> None:
    if not isinstance(urls, list):
        problems.add(name, f"{name} must be a list of URLs, got {show(urls)}")
        return
    if not 1 <= len(urls) <= most:
        problems.add(name, f"{name} has {len(urls)} items; allowed: 1..{most}")
    for i, url in enumerate(urls):
        check_string(problems, f"{name}[{i}]", url, pattern=STORED_URL_RE, max_len=MAX_URL_CHARS, what=INPUT_FORMS)


def check_media_items(problems: Problems, items: Any, prop: Mapping[str, Any]) -> bool:
    """The shape of every media item (type, url by kind, reference_voice); True when all are well formed."""
    before = len(problems.items) + problems.more
    if not isinstance(items, list):
        problems.add("media", f"media must be a list of {{type, url}} objects, got {show(items)}")
        return False
    if not items:
        problems.add("media", "media is empty; leave it out or give at least one {type, url}")
        return False
    known = prop["items"]["properties"]["type"]["enum"]
    kinds = MEDIA_KINDS
    for i, item in enumerate(items):
        where = f"media[{i}]"
        if not isinstance(item, Mapping):
            problems.add(where, f"{where} must be an object {{type, url}}, got {show(item)}")
            continue
        for key in sorted(set(item) - set(MEDIA_ITEM_KEYS)):
            problems.add(
                f"{where}.{clip(key)}", f"{where} has an unknown key '{clip(key)}'; allowed: type, url, reference_voice"
            )
        kind = item.get("type")
        if "type" not in item:
            problems.add(f"{where}.type", f"{where}.type is required; one of: {', '.join(known)}")
        elif not isinstance(kind, str) or kind not in known:
            problems.add(f"{where}.type", f"{where}.type {show(kind)} is not a media type; one of: {', '.join(known)}")
            kind = None
        if "url" not in item:
            problems.add(f"{where}.url", f"{where}.url is required")
        else:
            check_media_url(problems, f"{where}.url", item["url"], kinds.get(kind or "", IMAGE))
        if "reference_voice" in item:
            check_string(
                problems,
                f"{where}.reference_voice",
                item["reference_voice"],
                pattern=STORED_URL_RE,
                max_len=MAX_URL_CHARS,
                what=f"{INPUT_FORMS} of a wav/mp3",
            )
    return len(problems.items) + problems.more == before


def check_media_url(problems: Problems, name: str, url: Any, kind: str) -> None:
    """A media item's url for its kind: only an image may be a data: URL (and only then be longer than a URL)."""
    data = isinstance(url, str) and url.startswith("data:")
    limit = MAX_MEDIA_DATA_URL_CHARS if data else MAX_URL_CHARS
    if kind == IMAGE:
        pattern, what = IMAGE_URL_RE, IMAGE_FORMS
    elif kind == LINK:
        pattern, what = HTTP_URL_RE, "an http(s) URL (a link is a public web page)"
    else:
        pattern, what = STORED_URL_RE, f"{INPUT_FORMS} (a {kind} has no data: form)"
    check_string(problems, name, url, pattern=pattern, max_len=limit, what=what)
