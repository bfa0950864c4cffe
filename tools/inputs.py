"""Before a request is paid for: measure its input media and hold them to the rules that need the media itself."""

from __future__ import annotations

from wan_video_mcp.server.catalog import GenerationRequest
from wan_video_mcp.server.catalog.measured import apply_measurements, urls_to_measure
from wan_video_mcp.server.media import shorten_url
from wan_video_mcp.tools.call import Call


async def measured_request(call: Call, request: GenerationRequest) -> tuple[GenerationRequest, list[str]]:
    """The request with its billed input seconds, and a note per input that could not be measured.

    Raises ``InvalidRequest`` (nothing submitted) when a measured input breaks a rule or its server refused it.
    """
    urls = urls_to_measure(request)
    if not urls:
        return request, []
    await call.progress(0, f"measuring {len(urls)} input file(s) before submitting")
    facts = await call.state.engine.measure(urls)
    request = apply_measurements(request, facts)
    notes = [fact.problem for fact in facts.values() if fact.problem and fact.http_status is None]
    for note in notes:
        await call.log("warning", f"not measured, so not checked before submitting: {note}")
    measured = [f"{shorten_url(url)}: {fact.seconds:.1f} s" for url, fact in facts.items() if fact.seconds is not None]
    if measured:
        await call.log("info", "measured " + "; ".join(measured))
    return request, notes
