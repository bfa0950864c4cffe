"""The engine: tasks persisted, submitted once, polled, reconciled and their videos saved; ``JobEngine`` is
the facade the tools and the app call."""

from wan_video_mcp.server.jobs.engine import JobEngine, ProgressFn
from wan_video_mcp.server.jobs.submit import SubmitOutcome

__all__ = ["JobEngine", "ProgressFn", "SubmitOutcome"]
