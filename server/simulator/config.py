"""The simulator's settings (``SimulatorConfig``) and the constants its parts share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Literal

from wan_video_mcp.server.ports import SIMULATOR_PORT

HOST = "127.0.0.1"
DEFAULT_PORT = SIMULATOR_PORT  # serve --http uses another (SERVE_HTTP_PORT)
DAY = 24 * 3600.0
BEIJING = timezone(timedelta(hours=8))

Clock = Callable[[], float]


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves; every duration is in seconds of simulator time."""

    port: int = 0  # 0: any free port
    queue_seconds: float = 2.0  # time in PENDING
    run_seconds: float = 6.0  # time in RUNNING
    jitter: float = 0.25  # each of the two times is scaled by a factor drawn from [1-jitter, 1+jitter]
    fps: int = 16
    required_key: str | None = None  # None: any non-empty key is accepted
    task_ttl_seconds: float = DAY  # after this, polls answer UNKNOWN
    url_ttl_seconds: float = DAY  # after this (from the end of the task), video URLs answer 403
    renderer: Literal["auto", "fallback"] = "auto"  # fallback: always serve the embedded MP4
    render_dir: Path | None = None  # None: a temporary directory, removed on exit
    max_concurrent_renders: int = 1
    clock: Clock = time.time  # unix seconds; ``Simulator.advance`` adds to it
    seed: int | None = None  # for the jitter
    # Which input URLs (media[].url, reference_voice, img_url, audio_url, ...) a task reads after its submit
    # (``media``): "all" fetches every http(s) URL (the ``simulate`` command's default); "local" (the default
    # here, so embedded simulators and tests never reach the network) decodes data: URLs and fetches loopback
    # URLs only, taking any other URL as readable; "off" reads nothing. oss:// URLs (the simulator's own
    # uploads, ``uploads``) are read in every mode.
    fetch_media: Literal["all", "local", "off"] = "local"
    fetch_timeout_seconds: float = 5.0  # connect and each read; a whole download gets 12 times this
    fetch_max_bytes: int = 100 * 1024 * 1024  # a larger input fails its task
    # Temporary uploads (oss://, reference/media-protocol.md section 8; ``uploads``):
    upload_policy_seconds: float = 300.0  # how long a getPolicy answer can be used (its expire_in_seconds)
    upload_max_file_mb: int = 100  # its max_file_size_mb: a larger file answers 400 EntityTooLarge
    upload_ttl_seconds: float = 2 * DAY  # an uploaded object is gone this long after its upload
    policy_rate_per_second: int = 100  # getPolicy calls per (key, model) in any second; more answer 429
