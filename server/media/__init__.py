"""Measuring remote media before a request that uses it is paid for: durations, pixel sizes, byte counts."""

from wan_video_mcp.server.media.probe import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    MediaFacts,
    probe,
    probe_all,
    shorten_url,
)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "MediaFacts", "probe", "probe_all", "shorten_url"]
