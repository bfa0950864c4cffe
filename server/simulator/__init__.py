"""An offline DashScope video-synthesis service on 127.0.0.1, for demos and end-to-end tests.

It speaks the native DashScope protocol (reference/wire-formats.md, section 1) closely
enough that the official ``dashscope`` SDK, our own provider and plain httpx cannot
tell it from the real service, except that everything it produces says SIMULATED:
a ``"simulated": true`` field in JSON bodies (all but the bare cancel acknowledgement,
where the SDK would take it for the output), an ``X-Wan-Simulator: 1`` header on every
response, and the label drawn on every video frame. It listens only on 127.0.0.1; the only
addresses it contacts are the input URLs a task is given (``media``: read as the real service
reads them, so an unreachable one fails the task), and by default (``fetch_media="local"``) only
loopback ones; ``wan-video-mcp simulate`` reads them all.

It takes both protocols: the legacy fields of wan2.1-2.6 and the media protocol of wan2.7 and wan3.0
(reference/media-protocol.md: ``input.media[]``, ``resolution`` + ``ratio``), and renders at the
reference's pixel sizes, drawing the inputs it was given.

On the same port it also speaks the three gateway formats of reference/wire-formats.md
(sections 4 and 5), on top of the same tasks, timing, renders, faults and counters:
new-api (seed 001), YutoAI (seed 000) and vtrix (seed 004). Every dialect needs
``Authorization: Bearer``; result URLs are the simulator's own signed, expiring URLs.

Layout (one module per concept; choices where the real service is undocumented are noted in
the docstring of the module that makes them):

- ``config``: ``SimulatorConfig``; ``validation``: ``plan_submit`` (a submit body checked
  against the catalog, as the real service does it; the media protocol's in ``media_validation``),
  into a ``plans.SubmitPlan``; ``tasks``: ``SimTask`` (its state is a function of the clock) and the
  task store;
- ``media``: each task's input URLs read (fetched, measured with PyAV, checked) after the submit;
  ``media_output``: the output's W*H, length and usage once they are known;
- ``dashscope``, ``gateway`` + ``newapi``/``yuto``/``vtrix``, ``results`` (the OSS-like result
  URLs), ``oss_upload`` (temporary uploads: getPolicy and the upload form), ``admin`` (``/_sim/...``):
  bodies, handlers and a route table each (``routing``); ``uploads`` (the policies and objects behind
  ``oss://`` URLs) and ``multipart`` (the upload form's parser);
- ``faults`` and ``stats``: fault injection and counters, driven from Python or over HTTP;
- ``rendering`` (an MP4 made with PyAV, or a placeholder from ``data/``), ``render_inputs`` (the
  inputs drawn in it) and ``renders`` (each task's MP4, once, in worker threads);
- ``http``: HTTP/1.1 on anyio streams with h11, where faults are real: a TCP reset, a hang, a
  body shorter than its Content-Length, a throttled download;
- ``service``: ``Simulator`` (``async with``); ``running``: ``simulator_in_thread`` (for
  synchronous callers), ``run_forever`` and ``main`` (the ``wan-video-mcp simulate`` command).
"""

from __future__ import annotations

from wan_video_mcp.server.simulator.config import SimulatorConfig
from wan_video_mcp.server.simulator.faults import Fault, Faults
from wan_video_mcp.server.simulator.rendering import RenderJob, render_mp4
from wan_video_mcp.server.simulator.running import main, run_forever, simulator_in_thread
from wan_video_mcp.server.simulator.service import Simulator
from wan_video_mcp.server.simulator.stats import Stats
from wan_video_mcp.server.simulator.tasks import SimTask
from wan_video_mcp.server.simulator.validation import ApiError, SubmitPlan, plan_submit

__all__ = [
    "ApiError",
    "Fault",
    "Faults",
    "RenderJob",
    "SimTask",
    "Simulator",
    "SimulatorConfig",
    "Stats",
    "SubmitPlan",
    "main",
    "plan_submit",
    "render_mp4",
    "run_forever",
    "simulator_in_thread",
]
