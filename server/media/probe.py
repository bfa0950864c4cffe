"""Measuring the media a request points at before paying for it: a duration, a pixel size, a byte count.

Some rules depend on how long a reference video or an input audio is, and the cost estimate includes the
billed seconds of an input video, so each media URL is measured first. ``probe`` reads as little as it
can: with a server that answers byte ranges, an MP4 whose ``moov`` sits after 100 MB of ``mdat`` costs
two or three small requests (``ranges``); durations come from mutagen (MP4/MOV, MP3, WAV and the other
formats it knows), image sizes from the image's header (``formats``). Every hop is checked by the same
``AddressPolicy`` as the video download, and no Authorization header is ever sent.

``probe`` never raises for a bad URL or a bad file: the ``MediaFacts`` it returns says what went wrong.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.to_thread
import httpx

from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy
from wan_video_mcp.server.jobs.downloads.failures import redact_url
from wan_video_mcp.server.media.formats import Measured, measure
from wan_video_mcp.server.media.ranges import RemoteReader, Unmeasurable, megabytes

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "MediaFacts", "probe", "probe_all", "shorten_url"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
_SHOWN_CHARS = 80
_OSS_PROBLEM = "oss:// temporary URLs can only be read by the provider"


@dataclass(frozen=True)
class MediaFacts:
    """What was learned about one media URL.

    ``url`` is the URL as given, except a ``data:`` URL, which is shortened (``shorten_url``). ``problem``
    is None when the media was measured (an image has a size but no ``seconds``); otherwise it says why
    not, naming the URL shortened. ``unreachable`` is True when the URL could not be fetched at all: a
    failed lookup or connection, an HTTP error status, no answer in time, an address the policy refuses.
    """

    url: str
    seconds: float | None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    problem: str | None = None
    unreachable: bool = False
    http_status: int | None = None  # the HTTP error the server answered, when that is why it was not read
    format: str | None = None  # what the bytes are: mp4, mov, png, jpeg, webp, bmp, wav, mp3, ogg, ... (None: unknown)
    fps: float | None = None  # a video's frame rate, where it was read (local files, with PyAV)


def shorten_url(url: str) -> str:
    """``url`` fit for a message or a log: a data: URL by its header and length; an http(s) or oss:// URL
    without query, fragment or credentials; anything else cut to 80 characters."""
    scheme = _scheme(url)
    if scheme == "data":
        header = url[5:].split(",", 1)[0]
        header = header if len(header) <= 60 else header[:59] + "…"
        return f"data:{header},… ({len(url)} characters)"
    if scheme in ("http", "https", "oss"):
        try:
            return redact_url(url)
        except httpx.InvalidURL:
            pass
    return url if len(url) <= _SHOWN_CHARS else url[: _SHOWN_CHARS - 1] + "…"


def _scheme(url: str) -> str:
    head, colon, _ = url.partition(":")
    return head.strip().lower() if colon else ""


async def probe(
    client: httpx.AsyncClient,
    url: str,
    *,
    policy: AddressPolicy,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> MediaFacts:
    """Measure the media at ``url``: its duration, or an image's size, reading as few bytes as it can.

    ``policy`` says which addresses may be connected to, checked before every hop (redirects are
    followed here, at most 5). At most ``max_bytes`` are read and nothing after ``timeout`` seconds.
    A ``data:`` URL is decoded here; an ``oss://`` URL cannot be read by anyone but the provider.
    """
    shown = shorten_url(url)
    scheme = _scheme(url)
    if scheme == "data":
        return await anyio.to_thread.run_sync(_probe_data, url, shown, max_bytes)
    if scheme == "oss":
        return MediaFacts(url, None, problem=f"{_OSS_PROBLEM}; {shown} was not measured")
    if scheme not in ("http", "https"):
        return _unreachable(url, f"{shown} is not an http(s) URL, so it could not be fetched")
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return _unreachable(url, f"{shown} is not a valid URL ({exc})")
    if not target.host:
        return _unreachable(url, f"{shown} names no host")

    reader = RemoteReader(client, target, policy, max_bytes=max_bytes, timeout=timeout)
    try:
        opened = await reader.open()
        try:
            measured = await anyio.to_thread.run_sync(measure, opened.file, shown)
        finally:
            opened.file.close()
    except Unmeasurable as exc:
        logger.info("could not measure %s: %s", shown, exc.problem)
        return MediaFacts(
            url,
            None,
            size_bytes=reader.size,
            problem=exc.problem,
            unreachable=exc.unreachable,
            http_status=exc.http_status,
        )
    logger.debug(
        "measured %s in %d request(s), %d bytes: %s s, %sx%s, %s",
        shown,
        reader.requests,
        reader.received,
        measured.seconds,
        measured.width,
        measured.height,
        measured.problem or "ok",
    )
    return _facts(url, measured, reader.size)


async def probe_all(
    client: httpx.AsyncClient,
    urls: Sequence[str],
    *,
    policy: AddressPolicy,
    concurrency: int = 4,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, MediaFacts]:
    """``probe`` each distinct URL of ``urls``, at most ``concurrency`` at a time; keyed by the URL as given,
    in the order first given."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    distinct = list(dict.fromkeys(urls))
    found: dict[str, MediaFacts] = {}
    slots = anyio.Semaphore(concurrency)

    async def one(url: str) -> None:
        async with slots:
            found[url] = await probe(client, url, policy=policy, max_bytes=max_bytes, timeout=timeout)

    async with anyio.create_task_group() as group:
        for url in distinct:
            group.start_soon(one, url)
    return {url: found[url] for url in distinct}


def _unreachable(url: str, problem: str) -> MediaFacts:
    return MediaFacts(url, None, problem=problem, unreachable=True)


def _facts(url: str, measured: Measured, size: int | None) -> MediaFacts:
    return MediaFacts(
        url, measured.seconds, measured.width, measured.height, size, measured.problem, format=measured.format
    )


def _probe_data(url: str, shown: str, max_bytes: int) -> MediaFacts:
    """A ``data:[<type>][;base64],<data>`` URL, decoded and measured here (in a worker thread)."""
    header, comma, payload = url[5:].partition(",")
    if not comma:
        return MediaFacts(shown, None, problem=f"{shown} is not a valid data: URL (it has no comma)")
    encoded = any(part.strip().lower() == "base64" for part in header.split(";")[1:])
    if (len(payload) * 3 // 4 if encoded else len(payload)) > max_bytes:
        return MediaFacts(shown, None, problem=f"{shown} is larger than {megabytes(max_bytes)}, the most read")
    try:
        if encoded:
            text = "".join(urllib.parse.unquote(payload).split())
            data = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            data = urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return MediaFacts(shown, None, problem=f"{shown} is not valid base64")
    if not data:
        return MediaFacts(shown, None, size_bytes=0, problem=f"{shown} is empty (0 bytes)")
    return _facts(shown, measure(io.BytesIO(data), shown), len(data))
