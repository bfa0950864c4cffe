"""``wan-video-mcp doctor``: what is configured, and whether it can work.

Each check prints one line, ``ok``, ``warn`` or ``FAIL``; the exit code is 1 when
any check failed. The API key is reported present or missing, never shown.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx

from wan_video_mcp.server.config import Settings, SettingsError


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | FAIL
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.what}: {self.detail}"


def _writable(directory: Path) -> Check:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return Check(
            "FAIL",
            "data directory",
            f"{directory} is not writable ({exc.strerror or exc}); set WAN_MCP_DATA_DIR to a folder you can write",
        )
    return Check("ok", "data directory", f"{directory} is writable")


def _store(settings: Settings) -> Check:
    from wan_video_mcp.server.store import open_store

    try:
        store = open_store(settings)
    except Exception as exc:  # a corrupt, locked or unreachable database: say so, whatever the driver raised
        return Check("FAIL", "task store", f"{settings.store_text} cannot be opened: {exc}")
    try:
        count = len(store.list_sync(None, 10_000))
    finally:
        store.close()
    return Check("ok", "task store", f"{settings.store_text} ({count} task(s) recorded)")


def _pyav() -> Check:
    try:
        import av
    except ImportError:
        return Check(
            "warn",
            "PyAV",
            "not installed: fetch_video reports no media facts or poster frame and the "
            "simulator serves a fixed clip; install the 'video' extra",
        )
    return Check("ok", "PyAV", f"{av.__version__} (FFmpeg inside)")


def _media_roots(settings: Settings) -> Check:
    """Which folders local inputs may come from; a listed folder that is not one is worth a warning."""
    if not settings.media_roots:
        return Check(
            "ok",
            "local inputs",
            "only the server's own videos (set WAN_MEDIA_ROOTS to folders agents may give files from)",
        )
    missing = [str(root) for root in settings.media_roots if not _is_folder(root)]
    listed = ", ".join(str(root) for root in settings.media_roots)
    if missing:
        return Check("warn", "local inputs", f"WAN_MEDIA_ROOTS names no folder at {', '.join(missing)}")
    return Check("ok", "local inputs", f"files under {listed} and the server's own videos")


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


async def _online(settings: Settings) -> Check:
    """Ask the provider something free: its recent task list, else the status of a task that does not exist."""
    from wan_video_mcp.server.app import make_provider
    from wan_video_mcp.server.errors import ProviderError

    if settings.simulated:
        return Check("ok", "provider", "the simulator runs in-process; nothing to reach")
    async with httpx.AsyncClient(timeout=settings.http_timeout) as client:
        provider = make_provider(settings, client)
        try:
            listed = await provider.list_recent(datetime.now(UTC) - timedelta(hours=1))
            if listed is not None:
                return Check(
                    "ok", "provider", f"answered and accepted the key ({len(listed)} task(s) in the last hour)"
                )
            await provider.poll("wan-doctor-probe-0000")
        except ProviderError as exc:
            if exc.http_status in (401, 403):
                return Check("FAIL", "provider", f"refused the key: {exc.message}")
            if exc.http_status is None:
                return Check("FAIL", "provider", f"could not be reached: {exc.message}")
            return Check("ok", "provider", f"answered (HTTP {exc.http_status} for a probe task id)")
    return Check("ok", "provider", "answered")


def checks(settings_factory: Callable[[], Settings], online: bool) -> Iterator[Check]:
    """Every check, in order; a failure to read the settings ends the list."""
    try:
        settings = settings_factory()
    except SettingsError as exc:
        yield Check("FAIL", "settings", str(exc))
        return
    yield Check(
        "ok",
        "settings",
        f"provider {settings.provider}, {settings.endpoint_text()}, waits capped at {settings.max_wait_seconds}s",
    )
    if settings.simulated:
        yield Check("ok", "API key", "not needed: every result is simulated")
    elif settings.api_key is not None:
        yield Check("ok", "API key", f"{settings.key_env_name} is set")
    else:
        why = f" ({settings.key_note})" if settings.key_note else ""
        yield Check(
            "FAIL",
            "API key",
            f"{settings.key_env_name} is not set{why}; hosts do not pass your shell's "
            "environment, so put it in the server's env in the host's configuration "
            "(`wan-video-mcp config --client ...`)",
        )
    yield _writable(settings.data_dir)
    yield _store(settings)
    yield _pyav()
    yield _media_roots(settings)
    yield Check("ok", "python", f"{sys.version.split()[0]} at {sys.executable}")
    if online:
        if not settings.key_configured:
            yield Check("FAIL", "provider", "not asked: no API key")
        else:
            yield anyio.run(_online, settings)
    else:
        yield Check("ok", "provider", "not contacted (add --online to ask it)")
