"""Before a request is paid for: read its local inputs, measure its input media, and hold them to the rules that
need the media itself."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from wan_video_mcp.server.catalog import GenerationRequest
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.server.jobs.inputs import has_local_inputs
from wan_video_mcp.tools.call import Call

MEASURE_AT_ONCE = 4  # inputs measured side by side
MEASURE_SECONDS_MAX = 10.0  # the longest one input may take before it is let through unmeasured
MEASURE_SECONDS_MIN = 1.0
SUBMIT_RESERVE_SECONDS = 10.0  # of the call's time, kept for the submit itself


async def read_local_inputs(call: Call, request: GenerationRequest) -> tuple[GenerationRequest, dict[str, Any]]:
    """The request with its local files and earlier videos read and checked (``InputFiles.read``), and their
    measurements. Raises ``InvalidRequest`` naming each input that may not or cannot be used."""
    if not has_local_inputs(request):  # (a call without any needs no engine: a dry run works without a store)
        return request, {}
    request, facts = await call.state.engine.read_inputs(request, principal=call.principal)
    if request.sources:
        read = "; ".join(f"{src.given} ({src.size_bytes} bytes, sha256 {src.sha256[:12]})" for src in request.sources)
        await call.log("info", f"read and checked the local input(s): {read}")
    return request, facts


async def measured_request(
    call: Call, request: GenerationRequest, local: Mapping[str, Any] | None = None
) -> tuple[GenerationRequest, list[str]]:
    """The request with its billed input seconds, and a note per input that was not measured (nor checked).

    ``local`` holds what the local inputs measured (``read_local_inputs``). Raises ``InvalidRequest`` (nothing
    submitted) when a measured input breaks a rule or its server says it is not there. Measuring fits in the
    call's time: each input gets an equal share, so a host that never answers costs seconds, not the client's
    timeout.
    """
    urls = urls_to_measure(request)
    if not urls:
        return (apply_measurements(request, local), []) if local else (request, [])
    rounds = math.ceil(len(urls) / MEASURE_AT_ONCE)
    share = (call.remaining() - SUBMIT_RESERVE_SECONDS) / rounds
    timeout = max(MEASURE_SECONDS_MIN, min(MEASURE_SECONDS_MAX, share))
    await call.progress(0, f"measuring {len(urls)} input file(s) before submitting")
    facts = await call.state.engine.measure(urls, timeout=timeout, at_once=MEASURE_AT_ONCE)
    request = apply_measurements(request, {**facts, **(local or {})})
    notes = [fact.problem for fact in facts.values() if fact.problem]
    for note in notes:
        await call.log("warning", f"not measured, so not checked before submitting: {note}")
    from wan_video_mcp.server.media import shorten_url  # (the measuring code loads at the first measurement)

    measured = [f"{shorten_url(url)}: {fact.seconds:.1f} s" for url, fact in facts.items() if fact.seconds is not None]
    if measured:
        await call.log("info", "measured " + "; ".join(measured))
    return request, notes
