"""Saving finished videos: once per store, verified, resumable.

One process at a time holds a task's download lease (the store's ``claim_sync``), the others wait for
its outcome; a background download retries transient failures while the provider's URL lives; a file
counts only once it is on disk and verified (``downloads.download`` checks it before the rename,
``local_file`` rechecks size and signature).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio

from wan_video_mcp.server.config import DOWNLOAD_TIMEOUT
from wan_video_mcp.server.errors import DownloadError, ProviderError, VideoUnavailable, WanError
from wan_video_mcp.server.jobs import downloads
from wan_video_mcp.server.jobs.background import Heartbeat
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.jobs.retry import RetryPolicy, retry
from wan_video_mcp.server.providers.base import RemoteStatus
from wan_video_mcp.server.store import TaskRecord
from wan_video_mcp.server.timefmt import iso

logger = logging.getLogger(__name__)

DOWNLOAD_MAX_ATTEMPTS = 5
DOWNLOAD_CONCURRENCY = 2
# How long a download lease may run before others may take it even from a live holder.
DOWNLOAD_LEASE_SECONDS = 1800.0
WAIT_RECHECK_SECONDS = 1.0  # how often a waiter rereads the store (another process may have moved the task)


class VideoSaver:
    """Downloads the videos of finished tasks into the data directory."""

    def __init__(self, ctx: EngineContext, policy: downloads.AddressPolicy | None) -> None:
        self._ctx = ctx
        self._policy = policy  # where downloads may go; from the provider's base URL unless given
        self._locks: dict[str, anyio.Lock] = {}
        self._slots = anyio.Semaphore(DOWNLOAD_CONCURRENCY)
        self._auto: set[str] = set()  # tasks with a background download running here

    async def address_policy(self) -> downloads.AddressPolicy:
        """Where this server may connect for media (videos, and inputs it measures): from the provider's base URL,
        resolved at first use, not at start-up (no DNS before initialize)."""
        if self._policy is None:
            self._policy = await downloads.AddressPolicy.resolved_for(getattr(self._ctx.provider, "base_url", None))
        return self._policy

    def start_auto(self, task_id: str) -> None:
        """Download the task's video in the background unless that already runs here."""
        tg = self._ctx.tg
        if task_id not in self._auto and tg is not None:
            self._auto.add(task_id)
            tg.start_soon(self._auto_download, task_id)

    async def _auto_download(self, task_id: str) -> None:
        """Download a finished video in the background, retrying transient failures.

        Giving up always leaves ``download_failed`` (never ``downloading``), so waiters settle and
        fetch_video can try again while the URL lives.
        """
        try:
            await self._download_with_retries(task_id)
        finally:
            self._auto.discard(task_id)

    async def _download_with_retries(self, task_id: str) -> None:
        ctx = self._ctx
        policy = RetryPolicy(DOWNLOAD_MAX_ATTEMPTS, base=2 * ctx.settings.retry_base_seconds)
        try:
            await retry(
                lambda _: self.ensure_downloaded(task_id),
                policy,
                retryable=lambda exc: isinstance(exc, DownloadError) and exc.retryable,
                clock=ctx.clock,
            )
            return
        except WanError as exc:  # VideoUnavailable and friends: already recorded, or not retryable
            error = exc.message
        except Exception:
            logger.exception("downloading task %s failed unexpectedly", task_id)
            error = "unexpected error (see the server log)"
        try:
            record = await ctx.store.get(task_id)
            if (
                record is not None
                and record.download_state != "downloaded"
                and record.lease_owner in (None, ctx.instance_id)
            ):
                await ctx.update(task_id, download_state="download_failed", download_error=error)
        except Exception:
            logger.exception("could not record the failed download of task %s", task_id)

    def local_file(self, record: TaskRecord) -> Path | None:
        """The task's MP4 when it is on disk and intact (size as recorded, an MP4 container)."""
        if record.download_state != "downloaded" or not record.local_path:
            return None
        path = Path(record.local_path)
        try:
            if path.stat().st_size == record.file_size and downloads.has_mp4_signature(path):
                return path
        except OSError:
            return None
        return None

    async def download(
        self, task_id: str, timeout: float | None = None, heartbeat: Heartbeat | None = None
    ) -> TaskRecord:
        """``ensure_downloaded`` for at most ``timeout`` seconds: then the task as it stands (still
        ``downloading``) while the download carries on."""
        job = await self._ctx.start_job(f"download {task_id}", lambda: self.ensure_downloaded(task_id))
        if await job.wait(timeout, heartbeat):
            return job.outcome()
        return await self._ctx.get(task_id)

    async def ensure_downloaded(self, task_id: str) -> TaskRecord:
        """The task with its verified MP4 on disk: downloads it now if needed, once, even when asked
        concurrently here or in another process (which then waits for the one downloading)."""
        ctx = self._ctx
        record = await ctx.get(task_id)
        lock = self._locks.setdefault(record.id, anyio.Lock())
        async with lock:
            waited_since = ctx.clock()
            while True:
                record = await ctx.get(record.id)
                if self.local_file(record) is not None:
                    return record
                _check_downloadable(record)
                if record.download_state == "downloaded":  # recorded, but the file is gone or damaged
                    record = await ctx.update(
                        record.id, download_state="none", download_error="the saved file was missing or damaged"
                    )
                await self._expire_if_gone(record)
                now = ctx.clock()
                claimed = await ctx.store.run(
                    ctx.store.claim_sync,
                    record.id,
                    ctx.instance_id,
                    now,
                    now + DOWNLOAD_LEASE_SECONDS,
                    download=True,
                    download_state="downloading",
                    download_attempts=record.download_attempts + 1,
                )
                if claimed is not None:
                    return await self._download_claimed(claimed)
                if ctx.clock() - waited_since > DOWNLOAD_LEASE_SECONDS:
                    raise DownloadError(
                        f"another server process has been saving the video of task {record.id} for too long; try again",
                        retryable=True,
                    )
                await anyio.sleep(WAIT_RECHECK_SECONDS / 2)  # another process is saving it: wait for its outcome

    async def _expire_if_gone(self, record: TaskRecord) -> None:
        if record.video_url_expires_at is not None and self._ctx.clock() >= record.video_url_expires_at:
            await self._ctx.update(
                record.id, download_state="download_failed", download_error="the remote URL has expired"
            )
            raise VideoUnavailable(
                f"the video of task {record.id} was never downloaded and its remote URL expired at "
                f"{iso(record.video_url_expires_at)}; it cannot be recovered. Generate it again.",
                hint="Call generate_video again with force_new=true.",
            )

    async def _download_claimed(self, record: TaskRecord) -> TaskRecord:
        """Fetch and verify the video under this process's lease; the lease is always given back."""
        ctx = self._ctx
        # Until an outcome is known: "none", so an interrupted download is resumed on the next start.
        done: dict[str, Any] = {"download_state": "none", "download_error": "interrupted"}
        try:
            # The provider decides where the bytes come from (new-api proxies them through /content,
            # so a missing result URL is not fatal there).
            try:
                url, headers = ctx.provider.download_target(record.remote_id or "", _status_of(record))
            except ProviderError as exc:
                url, headers = "", {}
                logger.info("no download target for %s: %s", record.id, exc.message)
            if not url:
                done["download_error"] = "the provider gave no video URL"
                raise VideoUnavailable(
                    f"task {record.id} succeeded but the provider gave no video URL",
                    hint="Check the task in the provider's console.",
                )
            dest = downloads.video_path(ctx.settings.data_dir, record.id)
            policy = await self.address_policy()
            try:
                async with self._slots:
                    result = await downloads.download(
                        ctx.client,
                        url,
                        dest,
                        headers=headers,
                        timeout=DOWNLOAD_TIMEOUT,
                        policy=policy,
                        part_tag=ctx.instance_id,
                    )
            except VideoUnavailable as exc:
                done["download_error"] = exc.message
                raise
            except DownloadError as exc:
                # "downloading" only while this process's background loop will try again.
                again = exc.retryable and record.id in self._auto
                done = {"download_state": "downloading" if again else "download_failed", "download_error": exc.message}
                raise
            done = {
                "download_state": "downloaded",
                "local_path": str(result.path),
                "file_size": result.size,
                "sha256": result.sha256,
                "downloaded_at": ctx.clock(),
                "download_error": None,
            }
        finally:
            with anyio.CancelScope(shield=True):
                released = await ctx.store.run(
                    ctx.store.release_sync, record.id, ctx.instance_id, record.lease_until, ctx.clock(), **done
                )
                ctx.changed(record.id)
        if released is None:  # the lease lapsed meanwhile: a saved, verified file still counts; a failure not
            current = await ctx.get(record.id)
            if done["download_state"] != "downloaded" or current.download_state == "downloaded":
                return current
            released = await ctx.update(record.id, **done)
        return released


def _check_downloadable(record: TaskRecord) -> None:
    if record.state != "succeeded":
        raise WanError(
            f"task {record.id} is {record.state}, so there is no video to fetch yet",
            code="not_ready" if record.open else "no_video",
            retryable=record.open,
            hint="Call check_task with wait_seconds to wait for it." if record.open else "",
        )


def _status_of(record: TaskRecord) -> RemoteStatus:
    return RemoteStatus(remote_id=record.remote_id or "", state="succeeded", video_url=record.video_url)
