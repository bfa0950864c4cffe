"""The rules JSON Schema cannot check: those that need the media itself (its length, its pixel size, whether it
can be fetched at all), checked on what was measured before the submit.

``urls_to_measure`` says which inputs of a validated request to measure; ``apply_measurements`` checks the
facts against the model's rules (raising ``InvalidRequest`` naming every problem) and returns the request with
the billed input video seconds filled in. It never guesses: an input that could not be measured (a timeout,
an address this server may not reach, an ``oss://`` upload only the provider can read) is let through
unchecked, and the cost estimate then gives the most it can cost. An input the server *refused* (HTTP 4xx)
is refused here, because the provider would fail the task for it: a URL the model cannot download is the
most common failure users meet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from wan_video_mcp.server.catalog.media import AUDIO, IMAGE, VIDEO
from wan_video_mcp.server.catalog.request import GenerationRequest
from wan_video_mcp.server.catalog.validation import Problems

__all__ = ["Measurement", "apply_measurements", "urls_to_measure"]

# Image sides and aspect the media protocol accepts (reference/media-protocol.md section 5).
IMAGE_SIDES = (240, 8000)
IMAGE_ASPECT_MAX = 8.0
# Legacy reference videos (wan2.6-r2v): 2-30 s each (wire-formats.md section 2).
LEGACY_REFERENCE_SECONDS = (2.0, 30.0)


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


# One input: (field name for messages, url, kind, allowed seconds or None).
_Input = tuple[str, str, str, tuple[float, float] | None]


def _inputs(request: GenerationRequest) -> Iterator[_Input]:
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
    """The request's remote inputs (http(s)) and data: media, each once, in the order given."""
    return list(dict.fromkeys(url for _, url, _, _ in _inputs(request) if url.startswith(("http", "data:"))))


def apply_measurements(request: GenerationRequest, facts: Mapping[str, Measurement]) -> GenerationRequest:
    """Check the measured inputs against the model's rules; the request with its billed input seconds.

    Raises ``InvalidRequest`` naming every input that breaks a rule.
    """
    spec = request.spec
    problems: list[tuple[str, str]] = []
    seconds_by_type: dict[str, list[float | None]] = {}

    for field, url, kind, allowed in _inputs(request):
        fact = facts.get(url)
        if fact is None:
            continue
        if fact.http_status is not None and 400 <= fact.http_status < 500:
            problems.append(
                (
                    field,
                    f"{field} could not be downloaded (HTTP {fact.http_status}): the model must be able to fetch "
                    "it, so give a public URL (or a data: URL for an image)",
                )
            )
            continue
        seconds = fact.seconds
        if allowed and seconds is not None and not allowed[0] - 0.05 <= seconds <= allowed[1] + 0.05:
            problems.append(
                (field, f"{field} is {seconds:.1f} s long; {spec.id} takes {allowed[0]:g}-{allowed[1]:g} s there")
            )
        if kind == IMAGE and spec.media is not None and fact.width and fact.height:
            problems += _image_problems(field, fact.width, fact.height, spec.id)
    for item in request.media or ():
        facts_of = facts.get(item.url)
        seconds_by_type.setdefault(item.type, []).append(facts_of.seconds if facts_of else None)
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


def _image_problems(field: str, width: int, height: int, model: str) -> list[tuple[str, str]]:
    low, high = IMAGE_SIDES
    if not (low <= width <= high and low <= height <= high):
        return [(field, f"{field} is {width}x{height} px; {model} takes {low}-{high} px per side")]
    if max(width, height) / min(width, height) > IMAGE_ASPECT_MAX:
        return [(field, f"{field} is {width}x{height} px; {model} takes aspects up to 1:8 or 8:1")]
    return []


def _total_problems(
    request: GenerationRequest, seconds_by_type: Mapping[str, list[float | None]]
) -> list[tuple[str, str]]:
    spec = request.spec
    problems: list[tuple[str, str]] = []
    for types, most in spec.media.seconds_total if spec.media else ():
        total = sum(s for t in types for s in seconds_by_type.get(t, []) if s is not None)
        if total > most + 0.05:
            problems.append(
                (
                    "media",
                    f"the {' + '.join(types)} items add up to {total:.1f} s; {spec.id} takes at most {most:g} s",
                )
            )
    if spec.total_seconds_max and spec.media is not None:
        videos = [s for slot in spec.media.slots if slot.kind == VIDEO for s in seconds_by_type.get(slot.type, [])]
        known = sum(s for s in videos if s is not None)
        output = request.duration if request.duration > 0 else min(spec.plain_durations)
        if videos and known + output > spec.total_seconds_max + 0.05:
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
    urls: list[str] = []
    if spec.media is not None:
        for item in request.media or ():
            slot = spec.media.slot(item.type)
            if slot is not None and slot.kind == VIDEO and slot.type != "first_clip":
                urls.append(item.url)
    elif request.reference_urls:  # images and videos mixed: a measured image has no seconds and no problem
        found = [facts.get(url) for url in request.reference_urls]
        if any(fact is None or fact.problem for fact in found):
            return None
        return round(sum(fact.seconds or 0.0 for fact in found if fact is not None), 2)
    else:
        urls = list(request.reference_video_urls or ())
    if not urls:
        return None
    seconds = [facts[url].seconds if url in facts else None for url in urls]
    if any(s is None for s in seconds):
        return None
    return round(sum(s for s in seconds if s is not None), 2)
