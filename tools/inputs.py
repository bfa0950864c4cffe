"""Before a request is paid for: measure its input media and hold them to the rules that need the media itself."""

from __future__ import annotations

import math

from wan_video_mcp.server.catalog import GenerationRequest
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.tools.call import Call

MEASURE_AT_ONCE = 4  # inputs measured side by side
MEASURE_SECONDS_MAX = 10.0  # the longest one input may take before it is let through unmeasured
MEASURE_SECONDS_MIN = 1.0
SUBMIT_RESERVE_SECONDS = 10.0  # of the call's time, kept for the submit itself


async def measured_request(call: Call, request: GenerationRequest) -> tuple[GenerationRequest, list[str]]:
    """The request with its billed input seconds, and a note per input that was not measured (nor checked).

    Raises ``InvalidRequest`` (nothing submitted) when a measured input breaks a rule or its server says it is
    not there. Measuring fits in the call's time: each input gets an equal share, so a host that never answers
    costs seconds, not the client's timeout.
    """
    urls = urls_to_measure(request)
    if not urls:
        return request, []
    rounds = math.ceil(len(urls) / MEASURE_AT_ONCE)
    share = (call.remaining() - SUBMIT_RESERVE_SECONDS) / rounds
    timeout = max(MEASURE_SECONDS_MIN, min(MEASURE_SECONDS_MAX, share))
    await call.progress(0, f"measuring {len(urls)} input file(s) before submitting")
    facts = await call.state.engine.measure(urls, timeout=timeout, at_once=MEASURE_AT_ONCE)
    request = apply_measurements(request, facts)
    notes = [fact.problem for fact in facts.values() if fact.problem]
    for note in notes:
        await call.log("warning", f"not measured, so not checked before submitting: {note}")
    from wan_video_mcp.server.media import shorten_url  # (the measuring code loads at the first measurement)

    measured = [f"{shorten_url(url)}: {fact.seconds:.1f} s" for url, fact in facts.items() if fact.seconds is not None]
    if measured:
        await call.log("info", "measured " + "; ".join(measured))
    return request, notes
