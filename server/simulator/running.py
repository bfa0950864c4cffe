"""Ways to run a simulator: in a background thread, until a signal, and as ``wan-video-mcp simulate``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
from anyio.from_thread import start_blocking_portal

from wan_video_mcp.server.simulator.config import DEFAULT_PORT, HOST, SimulatorConfig
from wan_video_mcp.server.simulator.service import Simulator

logger = logging.getLogger(__name__)


@contextmanager
def simulator_in_thread(config: SimulatorConfig | None = None) -> Iterator[Simulator]:
    """Run a simulator on its own event loop in a background thread (for synchronous code)."""
    with start_blocking_portal() as portal:
        sim = Simulator(config)
        with portal.wrap_async_context_manager(sim):
            yield sim


def run_forever(
    port: int | None = None, config: SimulatorConfig | None = None, on_ready: Callable[[Simulator], None] | None = None
) -> None:
    """Serve until interrupted (blocking)."""
    cfg = config or SimulatorConfig()
    if port is not None:
        cfg = dataclasses.replace(cfg, port=port)

    async def serve() -> None:
        async with Simulator(cfg) as sim:
            if on_ready is not None:
                on_ready(sim)
            try:  # stop cleanly on SIGTERM too, so the render directory is removed
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        logger.info("stopping on %s", signal.Signals(signum).name)
                        return
            except NotImplementedError:  # no signal support (Windows)
                await anyio.sleep_forever()

    anyio.run(serve)


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> int:
    """``wan-video-mcp simulate``: serve the simulator on 127.0.0.1 until Ctrl-C.

    ``announce`` receives the base URL once listening (the CLI prints it to stdout for scripts).
    """
    parser = argparse.ArgumentParser(
        prog="wan-video-mcp simulate",
        description="Serve an offline, simulated DashScope video-synthesis API on 127.0.0.1 "
        "(no key; the network only to read the input URLs a task is given; every video is labelled SIMULATED).",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--queue-seconds", type=float, default=SimulatorConfig.queue_seconds, help="time a task stays PENDING"
    )
    parser.add_argument(
        "--run-seconds", type=float, default=SimulatorConfig.run_seconds, help="time a task stays RUNNING"
    )
    parser.add_argument(
        "--jitter", type=float, default=SimulatorConfig.jitter, help="random spread of both times, as a fraction"
    )
    parser.add_argument("--fps", type=int, default=SimulatorConfig.fps, help="frame rate of rendered videos")
    parser.add_argument("--required-key", help="accept only this API key (default: any non-empty key)")
    parser.add_argument("--render-dir", type=Path, help="keep rendered MP4s here (default: a temporary directory)")
    parser.add_argument("--no-render", action="store_true", help="serve the small placeholder MP4 instead of rendering")
    parser.add_argument(
        "--fetch-media",
        choices=("all", "local", "off"),
        default="all",
        help="which input URLs a task reads, as the real service does (a URL it cannot read fails the task): "
        "all (default), local (data: and loopback URLs only) or off",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every fault and render")
    args = parser.parse_args(argv)
    if (
        not 0 <= args.port <= 65535
        or args.fps < 1
        or args.queue_seconds < 0
        or args.run_seconds < 0
        or not 0 <= args.jitter < 1
    ):
        parser.error("out-of-range option")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = SimulatorConfig(
        port=args.port,
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        jitter=args.jitter,
        fps=args.fps,
        required_key=args.required_key,
        render_dir=args.render_dir,
        renderer="fallback" if args.no_render else "auto",
        fetch_media=args.fetch_media,
    )

    def ready(sim: Simulator) -> None:
        if announce is not None:
            announce(sim.base_url)
        logger.info(
            "use it as the DashScope base URL, with any API key; new-api, YutoAI and vtrix gateways "
            "at %s; admin and counters under %s/_sim/",
            sim.root_url,
            sim.root_url,
        )

    try:
        run_forever(config=config, on_ready=ready)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        from wan_video_mcp.server.ports import can_listen, port_in_use_message

        if args.port and not can_listen(HOST, args.port):
            sys.stderr.write(port_in_use_message("wan-video-mcp simulate", HOST, args.port) + "\n")
        else:
            logger.error("cannot listen on %s:%s: %s", HOST, args.port, exc)
        return 1
    return 0
