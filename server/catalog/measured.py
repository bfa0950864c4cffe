"""The rules JSON Schema cannot check: those that need the media itself (its length, its pixel size, whether it
can be fetched at all), checked on what was measured before the submit.

``urls_to_measure`` says which inputs of a validated request to measure; ``apply_measurements`` checks the
facts against the model's rules (raising ``InvalidRequest`` naming every problem) and returns the request with
the billed input video seconds filled in. It never guesses: an input that could not be measured (a timeout,
an address this server may not reach, an ``oss://`` upload only the provider can read) is let through
unchecked, and the cost estimate then gives the most it can cost. An input whose server says it is not there
(HTTP 404 or 410) is refused here: the provider could not download it either, the most common failure users
meet. Other refusals (403, 429, 5xx) may be this server's alone and are let through, noted as unchecked.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Protocol

from wan_video_mcp.server.catalog.checks import Problems
from wan_video_mcp.server.catalog.media import AUDIO, FILE, IMAGE, LINK, SUFFIX_FORMATS, VIDEO, VIDEO_FORMATS
from wan_video_mcp.server.catalog.pricing import LEGACY_REFERENCE_SECONDS_MAX, billed_video_inputs
from wan_video_mcp.server.catalog.request import GenerationRequest
from wan_video_mcp.server.catalog.spec import ModelSpec

__all__ = ["Measurement", "apply_measurements", "request_inputs", "urls_to_measure"]

SECONDS_TOLERANCE = 0.05  # measured lengths are rounded by their containers
FPS_TOLERANCE = 0.1  # 15.98 fps (NTSC-style rates) counts as 16
# What an input's server may answer that means the input is not there for anyone: refused before paying. Any other
# error (403 to our client only, 429, 5xx) may be ours alone, so the input is let through, noted as unchecked.
GONE = frozenset({404, 410})
# Legacy reference videos (wan2.6-r2v): 2-30 s each (wire-formats.md section 2).
LEGACY_REFERENCE_SECONDS = (2.0, LEGACY_REFERENCE_SECONDS_MAX)


class Measurement(Protocol):
    """What was learned about one URL (``server.media.MediaFacts`` has these)."""

    @property
    def seconds(self) -> float | None: ...

    @property
    def width(self) -> int | None: ...

    @property
    def height(self) -> int | None: ...

    @property
    def problem(self) -> str | None: ...

    @property
    def http_status(self) -> int | None: ...

    @property
    def size_bytes(self) -> int | None: ...

    @property
    def format(self) -> str | None: ...

    @property
    def fps(self) -> float | None: ...


# One input: (field name for messages, url, kind, allowed seconds or None).
_Input = tuple[str, str, str, tuple[float, float] | None]


def request_inputs(request: GenerationRequest) -> Iterator[_Input]:
    """Every input of a request: (field name for messages, url, kind, allowed seconds or None)."""
    spec = request.spec
    if spec.media is not None:
        for i, item in enumerate(request.media or ()):
            slot = spec.media.slot(item.type)
            if slot is None:
                continue
            yield f"media[{i}].url", item.url, slot.kind, slot.seconds
            if item.reference_voice:
                yield f"media[{i}].reference_voice", item.reference_voice, AUDIO, spec.media.voice_seconds
    if request.audio_url:
        yield "audio_url", request.audio_url, AUDIO, spec.audio_url_seconds
    for name in ("img_url", "first_frame_url", "last_frame_url"):
        if url := getattr(request, name):
            yield name, url, IMAGE, None
    for i, url in enumerate(request.reference_video_urls or ()):
        yield f"reference_video_urls[{i}]", url, VIDEO, LEGACY_REFERENCE_SECONDS
    for i, url in enumerate(request.reference_urls or ()):
        yield f"reference_urls[{i}]", url, "image or video", None


def urls_to_measure(request: GenerationRequest) -> list[str]:
    """The request's remote (http(s)) and data: media, each once, in the order given; not a file or a web page,
    which have no rule to check here."""
    return list(
        dict.fromkeys(
            url
            for _, url, kind, _ in request_inputs(request)
            if kind not in (FILE, LINK) and url.startswith(("http", "data:"))
        )
    )


def apply_measurements(request: GenerationRequest, facts: Mapping[str, Measurement]) -> GenerationRequest:
    """Check the measured inputs against the model's rules; the request with its billed input seconds.

    Raises ``InvalidRequest`` naming every input that breaks a rule.
    """
    spec = request.spec
    problems: list[tuple[str, str]] = []
    seconds_by_type: dict[str, list[float | None]] = {}

    for field, url, kind, allowed in request_inputs(request):
        fact = facts.get(url)
        if fact is None:
            continue
        if fact.http_status in GONE:
            problems.append(
                (
                    field,
                    f"{field} could not be downloaded (HTTP {fact.http_status}: not there): the model must be able "
                    "to fetch it, so give a public URL (or a data: URL for an image)",
                )
            )
            continue
        seconds = fact.seconds
        low, high = allowed or (0.0, 0.0)
        if allowed and seconds is not None and not low - SECONDS_TOLERANCE <= seconds <= high + SECONDS_TOLERANCE:
            problems.append((field, f"{field} is {seconds:.1f} s long; {spec.id} takes {low:g}-{high:g} s there"))
        problems += _file_problems(field, url, kind, fact, spec)
    for i, item in enumerate(request.media or ()):
        facts_of = facts.get(item.url)
        seconds_by_type.setdefault(item.type, []).append(facts_of.seconds if facts_of else None)
        slot = spec.media.slot(item.type) if spec.media else None
        rate = facts_of.fps if facts_of else None
        if slot and slot.fps_min and rate and rate < slot.fps_min - FPS_TOLERANCE:
            where = f"media[{i}].url"
            problems.append(
                (where, f"{where} runs at {rate:g} fps; {spec.id} takes {item.type}s of at least {slot.fps_min:g} fps")
            )
        if item.type == "first_clip" and facts_of and facts_of.seconds and request.duration <= facts_of.seconds:
            problems.append(
                (
                    "duration",
                    f"duration {request.duration} is not longer than the first_clip ({facts_of.seconds:.1f} s): "
                    "it is the whole output, clip included; make it longer",
                )
            )
    problems += _total_problems(request, seconds_by_type)
    found = Problems()
    for name, message in problems:
        found.add(name, message)
    found.raise_if_any()
    return request.model_copy(update={"input_video_seconds": _billed_input_seconds(request, facts)})


def _file_problems(field: str, url: str, kind: str, fact: Measurement, spec: ModelSpec) -> list[tuple[str, str]]:
    """An input's format, pixel size, aspect and bytes against the model's documented limits for its kind.

    The format is what the bytes say; for an input that could not be read, what its file name says, when that
    names a format the model does not take (an .ogg audio is refused without reading it).
    """
    form = fact.format or SUFFIX_FORMATS.get(_suffix(url))
    if kind == "image or video":  # wan2.6-r2v-flash's reference_urls
        kind = VIDEO if form in VIDEO_FORMATS or fact.seconds else IMAGE
    limits = spec.file_limits(kind)
    if limits is None:
        return []
    found: list[tuple[str, str]] = []
    if limits.formats and form and form not in limits.formats:
        said = "is" if fact.format else "is named as"
        return [(field, f"{field} {said} {form}; {spec.id} takes {kind}s as {'/'.join(limits.formats)}")]
    if limits.sides and fact.width and fact.height:
        low, high = limits.sides
        shape = f"{field} is {fact.width}x{fact.height} px; {spec.id} takes"
        if not (low <= fact.width <= high and low <= fact.height <= high):
            found.append((field, f"{shape} {low}-{high} px per side for {kind}s"))
        elif limits.aspect_max and max(fact.width, fact.height) / min(fact.width, fact.height) > limits.aspect_max:
            found.append((field, f"{shape} aspects up to 1:{limits.aspect_max:g} or {limits.aspect_max:g}:1"))
    most = limits.megabytes
    if most is not None and fact.size_bytes is not None and fact.size_bytes > most * 1024 * 1024:
        size = f"{fact.size_bytes / 2**20:.1f} MB"
        found.append((field, f"{field} is {size}; {spec.id} takes {kind}s of at most {most} MB"))
    return found


def _suffix(url: str) -> str:
    """The lower-case suffix of a URL's or a path's last segment ('' for a data: URL or none)."""
    if url.startswith("data:"):
        return ""
    path = urllib.parse.urlsplit(url).path if "://" in url else url
    return posixpath.splitext(urllib.parse.unquote(path))[1].lower()


def _total_problems(
    request: GenerationRequest, seconds_by_type: Mapping[str, list[float | None]]
) -> list[tuple[str, str]]:
    spec = request.spec
    problems: list[tuple[str, str]] = []
    for types, most in spec.media.seconds_total if spec.media else ():
        total = sum(s for t in types for s in seconds_by_type.get(t, []) if s is not None)
        if total > most + SECONDS_TOLERANCE:
            problems.append(
                (
                    "media",
                    f"the {' + '.join(types)} items add up to {total:.1f} s; {spec.id} takes at most {most:g} s",
                )
            )
    if spec.total_seconds_max and spec.media is not None:
        videos = [s for kind in spec.media.video_types for s in seconds_by_type.get(kind, [])]
        known = sum(s for s in videos if s is not None)
        output = min(spec.plain_durations) if request.duration in spec.duration_specials else request.duration
        if videos and known + output > spec.total_seconds_max + SECONDS_TOLERANCE:
            problems.append(
                (
                    "duration",
                    f"the input videos ({known:.1f} s) plus duration {request.duration} make "
                    f"{known + output:.1f} s; {spec.id} takes at most {spec.total_seconds_max} s together",
                )
            )
    return problems


def _billed_input_seconds(request: GenerationRequest, facts: Mapping[str, Measurement]) -> float | None:
    """The input video seconds the model bills, when every billed video was measured (None otherwise)."""
    spec = request.spec
    if not spec.billed_input:
        return None
    if request.reference_urls:  # images and videos mixed: a measured image has no seconds and no problem
        found = [facts.get(url) for url in request.reference_urls]
        if any(fact is None or fact.problem for fact in found):
            return None
        return round(sum(fact.seconds or 0.0 for fact in found if fact is not None), 2)
    urls = [url for url, _ in billed_video_inputs(request)]
    if not urls:
        return None
    seconds = [facts[url].seconds if url in facts else None for url in urls]
    if any(s is None for s in seconds):
        return None
    return round(sum(s for s in seconds if s is not None), 2)
