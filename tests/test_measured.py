"""What needs the media itself: rules checked on measured inputs, billed input seconds, the provider's usage, and the
small ways in (the command line's --media, region names)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import pytest

from wan_video_mcp.server.catalog import InputSource, estimate_cost, input_schema, validate
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import InvalidRequest
from wan_video_mcp.server.human import add_request_options, request_arguments
from wan_video_mcp.server.providers.usage import BilledUsage, billed_usage

V1, V2, IMG, AUD = (f"https://media.test/{name}" for name in ("v1.mp4", "v2.mp4", "a.png", "a.wav"))


@dataclass(frozen=True)
class Fact:
    seconds: float | None = None
    width: int | None = None
    height: int | None = None
    problem: str | None = None
    http_status: int | None = None
    size_bytes: int | None = None
    format: str | None = None
    fps: float | None = None


def request(**arguments: Any) -> Any:
    return validate(arguments).request


def refusal(req: Any, facts: dict[str, Fact]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        apply_measurements(req, facts)
    return caught.value


def test_the_inputs_to_measure_are_the_remote_and_inline_ones_each_once() -> None:
    media = [
        {"type": "reference_video", "url": V1, "reference_voice": AUD},
        {"type": "reference_image", "url": "oss://dashscope-instant/x/a.png"},
        {"type": "reference_video", "url": V1},
    ]
    assert urls_to_measure(request(model="wan2.7-r2v", prompt="Video 1", media=media)) == [V1, AUD]


def test_a_reference_video_over_its_length_is_refused_naming_the_item() -> None:
    req = request(model="wan2.7-r2v", prompt="Video 1", media=[{"type": "reference_video", "url": V1}])
    error = refusal(req, {V1: Fact(seconds=31.5)})
    assert error.field == "media[0].url"
    assert "31.5 s long; wan2.7-r2v takes 1-30 s" in error.message


def test_wan30_references_over_their_total_and_input_plus_output_over_30_s_are_refused() -> None:
    media = [{"type": "reference_video", "url": V1}, {"type": "reference_video", "url": V2}]
    req = request(model="wan3.0-video", prompt="extend Video 1", media=media, duration=20)
    error = refusal(req, {V1: Fact(seconds=9.0), V2: Fact(seconds=7.0)})
    assert [p["field"] for p in error.problems] == ["media", "duration"]  # type: ignore[attr-defined]
    assert "add up to 16.0 s; wan3.0-video takes at most 15 s" in error.message
    assert "make 36.0 s; wan3.0-video takes at most 30 s together" in error.message
    # Within both limits it passes, and the 15 s of input are billed.
    fine = apply_measurements(req.model_copy(update={"duration": 15}), {V1: Fact(seconds=8.0), V2: Fact(seconds=7.0)})
    assert fine.input_video_seconds == 15.0


def test_an_input_that_is_not_there_is_refused_and_one_refused_to_us_alone_is_let_through() -> None:
    req = request(model="wan2.7-i2v", media=[{"type": "first_frame", "url": IMG}])
    for gone in (404, 410):
        assert (
            f"could not be downloaded (HTTP {gone}: not there)" in refusal(req, {IMG: Fact(http_status=gone)}).message
        )
    # A 403 or 429 may be for this server only (an allow-list, a user-agent filter); a connection may fail here alone.
    for maybe_ours in (Fact(http_status=403, problem="HTTP 403"), Fact(problem="the connection failed (ConnectError)")):
        assert apply_measurements(req, {IMG: maybe_ours}) == req  # unchecked, not refused


def test_an_input_outside_the_media_protocols_sides_aspect_or_bytes_is_refused() -> None:
    req = request(model="wan2.7-i2v", media=[{"type": "first_frame", "url": IMG}])
    assert (
        "200x300 px; wan2.7-i2v takes 240-8000 px per side" in refusal(req, {IMG: Fact(width=200, height=300)}).message
    )
    assert "up to 1:8 or 8:1" in refusal(req, {IMG: Fact(width=4000, height=250)}).message
    assert apply_measurements(req, {IMG: Fact(width=320, height=240)}) == req


def test_a_format_the_model_does_not_take_is_refused_by_its_bytes_or_else_by_its_name() -> None:
    voice = "http://127.0.0.1:9/voice.ogg"
    req = request(
        model="wan2.7-i2v", media=[{"type": "first_frame", "url": IMG}, {"type": "driving_audio", "url": voice}]
    )
    # Read: the bytes decide, whatever the name says.
    assert (
        "is ogg; wan2.7-i2v takes audios as wav/mp3" in refusal(req, {voice: Fact(seconds=3.0, format="ogg")}).message
    )
    assert apply_measurements(req, {voice: Fact(seconds=3.0, format="mp3")}) == req
    # Not read (refused to us, or timed out): a name that says a format the model does not take is enough.
    unread = Fact(problem="HTTP 403", http_status=403)
    assert "is named as ogg" in refusal(req, {voice: unread}).message
    mp3 = req.with_urls({voice: "http://127.0.0.1:9/voice.mp3?sig=1"})
    assert apply_measurements(mp3, {"http://127.0.0.1:9/voice.mp3?sig=1": unread}) == mp3
    # An image that is really a GIF, or a video given as an image.
    assert "is gif" in refusal(req, {IMG: Fact(width=320, height=240, format="gif")}).message


def test_legacy_images_are_held_to_their_own_documented_limits() -> None:
    i2v = request(model="wan2.5-i2v-preview", prompt="p", img_url=IMG)
    assert "wan2.5-i2v-preview takes 360-2000 px per side" in refusal(i2v, {IMG: Fact(width=320, height=240)}).message
    assert (
        "takes images of at most 10 MB" in refusal(i2v, {IMG: Fact(width=800, height=600, size_bytes=11 << 20)}).message
    )
    # kf2v frames: 240-8000 px in the current docs.
    kf2v = request(model="wan2.1-kf2v-plus", prompt="p", first_frame_url=IMG)
    assert apply_measurements(kf2v, {IMG: Fact(width=320, height=240, format="png")}) == kf2v


def test_wan30_reference_videos_under_16_fps_are_refused_where_the_rate_is_known() -> None:
    req = request(model="wan3.0-video", prompt="Video 1 dances", media=[{"type": "reference_video", "url": V1}])
    assert "runs at 12 fps; wan3.0-video takes reference_videos of at least 16 fps" in (
        refusal(req, {V1: Fact(seconds=3.0, fps=12.0)}).message
    )
    assert apply_measurements(req, {V1: Fact(seconds=3.0, fps=15.98)}).input_video_seconds == 3.0


def test_a_local_input_hashes_by_its_bytes_wherever_it_lies_and_however_it_was_sent() -> None:
    def sent(path: str, digest: str, url: str | None) -> Any:
        req = request(model="wan2.7-i2v", media=[{"type": "first_frame", "url": path}])
        source = InputSource(given=path, path=path, staged="/s", sha256=digest, size_bytes=1, kind="image", sent=url)
        req = req.model_copy(update={"sources": (source,)})
        return req.with_urls({path: url}) if url else req

    same = "a" * 64
    assert len({sent("/a/x.png", same, None).fingerprint(), sent("/b/y.png", same, "oss://d/1.png").fingerprint()}) == 1
    assert sent("/a/x.png", same, None).fingerprint() != sent("/a/x.png", "b" * 64, None).fingerprint()


def test_a_first_clip_must_be_shorter_than_the_whole_output() -> None:
    req = request(model="wan2.7-i2v", media=[{"type": "first_clip", "url": V1}], duration=4)
    assert refusal(req, {V1: Fact(seconds=5.0)}).field == "duration"
    assert apply_measurements(req, {V1: Fact(seconds=3.0)}).input_video_seconds is None  # inside duration, not extra


def test_measured_seconds_make_the_estimate_exact_and_unmeasured_ones_give_its_ceiling() -> None:
    req = request(model="wan2.7-videoedit", prompt="clay", media=[{"type": "video", "url": V1}], resolution="720P")
    guessed = estimate_cost(req)
    assert (guessed.amount_usd, guessed.amount_max_usd) == (0.0, round(0.084 * 20, 4))  # up to 10 s in + 10 s out
    measured = estimate_cost(apply_measurements(req, {V1: Fact(seconds=5.02)}))
    assert (measured.billed_seconds, measured.amount_usd, measured.amount_max_usd) == (
        10.04,
        round(0.084 * 10.04, 4),
        None,
    )
    assert "5.02 s of output + 5.02 s of input video (measured)" in measured.breakdown


def test_the_providers_usage_reads_every_generations_fields() -> None:
    assert billed_usage(
        {
            "duration": 10.04,
            "input_video_duration": 5.02,
            "output_video_duration": 5.02,
            "SR": 720,
            "ratio": "16:9",
            "fps": 30,
        }
    ) == BilledUsage(
        billed_seconds=10.04,
        input_video_seconds=5.02,
        output_video_seconds=5.02,
        resolution="720P",
        ratio="16:9",
        fps=30,
    )
    assert billed_usage({"video_duration": 5, "video_ratio": "standard", "video_count": 1}) == BilledUsage(
        billed_seconds=5, output_video_seconds=5, video_count=1
    )
    assert billed_usage({"video_duration": 5, "video_ratio": "1280*720"}) == BilledUsage(
        billed_seconds=5, output_video_seconds=5, size="1280*720"
    )
    for junk in (None, {}, {"duration": "abc", "SR": True, "fps": float("nan")}):
        assert billed_usage(junk) is None


def test_the_command_line_takes_media_as_type_equals_url_or_json() -> None:
    parser = argparse.ArgumentParser()
    schema = input_schema()
    add_request_options(parser, schema)
    args = parser.parse_args(
        ["--model", "wan2.7-i2v", "--media", f"first_frame={IMG}", json.dumps({"type": "driving_audio", "url": AUD})]
    )
    assert request_arguments(args, schema)["media"] == [
        {"type": "first_frame", "url": IMG},
        {"type": "driving_audio", "url": AUD},
    ]
    with pytest.raises(SystemExit):
        parser.parse_args(["--media", "no-equals-sign"])


@pytest.mark.parametrize(
    ("given", "region"),
    [
        ("ap-southeast-1", "intl"),
        ("US-EAST-1", "us"),
        ("cn-beijing", "cn"),
        ("Frankfurt", "eu"),
        ("ap-northeast-1", "jp"),
        ("cn-hongkong", "hk"),
    ],
)
def test_alibabas_region_ids_and_city_names_name_our_regions(given: str, region: str) -> None:
    assert Settings(region=given).region == region


def test_more_problems_than_are_listed_never_crash_the_validator() -> None:
    # Ten unknown fields fill the listed problems; a mistyped prompt or duration is still only reported as mistyped.
    crowd = {f"x{i}": 1 for i in range(10)}
    for extra in ({"model": "wan2.7-t2v", "prompt": 5}, {"model": "wan2.7-videoedit", "duration": "5"}):
        with pytest.raises(InvalidRequest) as caught:
            validate(crowd | extra)
        assert caught.value.message.endswith(" more")  # reported, counted, not a TypeError
