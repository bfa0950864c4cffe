"""Local files and earlier videos as inputs: read safely and measured, then uploaded once (or inlined) for the provider.

An input may be an absolute path or a ``file://`` URI inside the allowed folders (``WAN_MEDIA_ROOTS``), or an
earlier video of this server (``wan-video://videos/{task_id}.mp4``, ``wan-video://tasks/{task_id}`` or the task
id). ``InputFiles.read`` copies each one's bytes as they were checked (``server.media.local``), measures the copy
(``server.media.inspect``) and records it with the request as an ``InputSource``; nothing leaves the machine. Then,
for a request that is really submitted, ``InputFiles.send`` gives the provider each copy the way it can take it:

- DashScope: its temporary upload (``oss://``), once per (bytes, model, account) while the upload still has
  ``REUSE_MARGIN_SECONDS`` to live; the upload is kept in the store, so neither a second request nor a restart
  uploads the same file again, and concurrent requests with the same file wait for one upload;
- a gateway (no upload API): an image, in a field that takes one inline, as a ``data:`` URL within the model's
  documented size; anything else is refused before anything is paid, asking for a public URL.

Sending waits until the store has decided a new task is created (``JobEngine.submit``): a call that attaches to an
earlier task, or that a budget refuses, sends nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from wan_video_mcp.server.catalog import GenerationRequest, InputSource, ModelSpec
from wan_video_mcp.server.catalog.checks import Problems
from wan_video_mcp.server.catalog.measured import request_inputs
from wan_video_mcp.server.catalog.media import FILE, IMAGE, IMAGE_MIME, LINK
from wan_video_mcp.server.catalog.rules import TASK_REF_RE, is_local
from wan_video_mcp.server.errors import InputsPending, ProviderError, WanError
from wan_video_mcp.server.jobs.background import Heartbeat
from wan_video_mcp.server.jobs.context import EngineContext
from wan_video_mcp.server.store import LOCAL_PRINCIPAL, Upload

if TYPE_CHECKING:
    from wan_video_mcp.server.jobs.saving import VideoSaver
    from wan_video_mcp.server.media import MediaFacts
    from wan_video_mcp.server.media.local import MediaRoots
    from wan_video_mcp.server.providers.dashscope.upload import TemporaryUploads

__all__ = ["InputFiles", "has_local_inputs"]

logger = logging.getLogger(__name__)

# An upload is reused only while it lives this much longer: a task may queue for hours before the model reads it.
REUSE_MARGIN_SECONDS = 6 * 3600.0
# Staged copies are kept as long as an upload of them may be reused, then removed (at start, and hourly).
STAGED_KEEP_SECONDS = 3 * 86400.0
DEFAULT_MAX_MEGABYTES = 100  # a kind without a documented size (reference_urls' images and videos: the larger)


def has_local_inputs(request: GenerationRequest) -> bool:
    return next(_local_inputs(request), None) is not None


def _local_inputs(request: GenerationRequest) -> Iterator[tuple[str, str, str]]:
    """(field, url, kind) of each local input, each url once."""
    seen: set[str] = set()
    for field, url, kind, _ in request_inputs(request):
        if kind != LINK and is_local(url) and url not in seen:
            seen.add(url)
            yield field, url, kind


class InputFiles:
    """Reads, checks and sends one engine's local inputs."""

    def __init__(self, ctx: EngineContext, saver: VideoSaver) -> None:
        self._ctx = ctx
        self._saver = saver
        self._locks: dict[tuple[str, str, str], anyio.Lock] = {}

    @property
    def _uploads(self) -> TemporaryUploads | None:
        uploads: TemporaryUploads | None = getattr(self._ctx.provider, "uploads", None)
        return uploads

    def roots(self) -> MediaRoots:
        from wan_video_mcp.server.media.local import MediaRoots

        settings = self._ctx.settings
        return MediaRoots(settings.media_roots, (settings.video_dir,))

    async def forget_stale(self) -> int:
        """Remove staged copies no upload can reuse any more (at start, then hourly)."""
        from wan_video_mcp.server.media.local import remove_stale_staged

        directory = self._ctx.settings.input_dir
        return await anyio.to_thread.run_sync(remove_stale_staged, directory, STAGED_KEEP_SECONDS)

    # ------------------------------------------------------------------ read and check

    async def read(
        self, request: GenerationRequest, skip: Collection[str] = (), principal: str = LOCAL_PRINCIPAL
    ) -> tuple[GenerationRequest, dict[str, MediaFacts]]:
        """The request with its local inputs recorded (``sources``), and what each measured, keyed by its URL.

        Raises ``InvalidRequest`` naming every input that may not or cannot be used: nothing is uploaded or paid.
        """
        local = [entry for entry in _local_inputs(request) if entry[1] not in skip]
        if not local:
            return request, {}
        problems = Problems()
        sources: list[InputSource] = []
        facts: dict[str, MediaFacts] = {}
        for field, url, kind in local:
            try:
                source, fact = await self._read_one(request.spec, url, kind, principal)
            except _Refused as exc:
                problems.add(field, f"{field}: {exc.problem}")
                continue
            if (why := self._unsendable(request.spec, kind, fact)) is not None:
                problems.add(field, f"{field}: {why}")
            sources.append(source)
            if fact is not None:
                facts[url] = fact
        problems.raise_if_any()
        return request.model_copy(update={"sources": tuple(sources)}), facts

    async def _read_one(
        self, spec: ModelSpec, url: str, kind: str, principal: str
    ) -> tuple[InputSource, MediaFacts | None]:
        from wan_video_mcp.server.media.inspect import inspect_file
        from wan_video_mcp.server.media.local import LocalInputRefused, local_path, stage_local_file

        limits = spec.file_limits(kind)
        most = limits.megabytes if limits and limits.megabytes else DEFAULT_MAX_MEGABYTES
        try:
            path = await self._task_video(url, principal) if TASK_REF_RE.fullmatch(url) else local_path(url)
            if path is None:
                raise _Refused(f"{url[:80]!r} is not a local file or an earlier video this server knows")
            staged = await anyio.to_thread.run_sync(
                functools.partial(
                    stage_local_file,
                    url,
                    path,
                    roots=self.roots(),
                    max_bytes=most * 1024 * 1024,
                    staging_dir=self._ctx.settings.input_dir,
                )
            )
        except LocalInputRefused as exc:
            raise _Refused(exc.problem) from None
        except OSError as exc:  # the staging folder: this server's problem, said as such
            raise _Refused(f"this server could not keep a copy of {url} to check it ({exc.strerror or exc})") from None
        fact = None
        if kind != FILE:
            fact = await anyio.to_thread.run_sync(inspect_file, staged.staged, str(staged.path), staged.size_bytes)
            if fact.problem:
                raise _Refused(fact.problem)
        source = InputSource(
            given=url,
            path=str(staged.path),
            staged=str(staged.staged),
            sha256=staged.sha256,
            size_bytes=staged.size_bytes,
            kind=kind,
            format=fact.format if fact else None,
        )
        return source, fact

    async def _task_video(self, url: str, principal: str) -> Path:
        match = TASK_REF_RE.fullmatch(url)
        assert match is not None
        task_id = match.group(1)
        record = await self._ctx.store.get(task_id)
        if record is None or record.principal != principal:  # another's task is as unknown as a missing one
            raise _Refused(f"{url} names no task of this server (list_tasks shows them)")
        if record.state != "succeeded":
            raise _Refused(
                f"task {task_id} is {record.state}, so it has no video to use yet"
                + ("; wait for it with check_task" if record.open else "")
            )
        path = self._saver.local_file(record)
        if path is None:
            try:
                record = await self._saver.ensure_downloaded(task_id)
            except WanError as exc:
                raise _Refused(f"the video of task {task_id} is not on this machine: {exc.message}") from None
            path = self._saver.local_file(record)
        if path is None:
            raise _Refused(f"the video of task {task_id} is not on this machine (fetch_video saves it)")
        return path

    def _unsendable(self, spec: ModelSpec, kind: str, fact: MediaFacts | None) -> str | None:
        """Why this provider cannot be given a local input of this kind, known before anything is sent."""
        uploads = self._uploads
        if uploads is not None:
            return uploads.refusal()
        limits = spec.file_limits(IMAGE)
        if kind == IMAGE:  # the fields whose schema takes a data: image (not reference_urls' images and videos)
            return None  # sent inline; its size is held to the model's image limit like any image
        megabytes = f" (images up to {limits.megabytes} MB are sent inline)" if limits and limits.megabytes else ""
        return (
            f"{self._ctx.provider.name} has no file upload, so a local {kind} cannot be sent to it{megabytes}; "
            "give it as a public http(s) URL"
        )

    # ------------------------------------------------------------------ send

    async def send(
        self,
        request: GenerationRequest,
        timeout: float | None = None,
        heartbeat: Heartbeat | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> GenerationRequest:
        """The request with each local input replaced by what the provider reads (``sources`` say which is which).

        The uploads run as a background job: one that outlasts ``timeout`` goes on and is kept when it ends, and
        this raises ``InputsPending`` (call again: the upload is reused). Raises ``ProviderError`` (nothing
        created) when an upload failed: nothing was submitted.
        """
        if not request.sources or all(source.sent for source in request.sources):
            return request
        job = await self._ctx.start_job(
            f"send the inputs of a {request.model} request", lambda: self._send(request, principal)
        )
        if not await job.wait(timeout, heartbeat):
            unsent = [source for source in request.sources if source.sent is None]
            size = sum(source.size_bytes for source in unsent) / 2**20
            raise InputsPending(
                f"{len(unsent)} local input file(s) ({size:.1f} MB) are still being uploaded for {request.model}; "
                "nothing was submitted or charged yet",
                hint="Call generate_video again with the same arguments in a little while: the upload goes on "
                "meanwhile and, once done, is reused, not made again.",
            )
        return job.outcome()

    async def _send(self, request: GenerationRequest, principal: str) -> GenerationRequest:
        assert request.sources is not None
        fields = {url: field for field, url, _ in _local_inputs(request)}
        sent: list[InputSource] = []
        for source in request.sources:
            if source.sent is not None:
                sent.append(source)
                continue
            field = fields.get(source.given, "media")
            try:
                sent.append(await self._send_one(request.model, source, principal))
            except ProviderError as exc:
                exc.message = f"{field}: the upload of {source.given} failed, so nothing was submitted: {exc.message}"
                exc.args = (exc.message,)
                raise
            except OSError as exc:  # the checked copy went missing (removed by hand, or a full disk)
                raise ProviderError(
                    f"{field}: the checked copy of {source.given} could not be read ({exc.strerror or exc}), so "
                    "nothing was submitted; call again to read the file afresh",
                    provider_code="InputCopyMissing",
                    retryable=True,
                    created=False,
                ) from None
        urls = {source.given: source.sent for source in sent if source.sent}
        return request.with_urls(urls).model_copy(update={"sources": tuple(sent)})

    async def _send_one(self, model: str, source: InputSource, principal: str) -> InputSource:
        uploads = self._uploads
        staged = Path(source.staged)
        if uploads is None:
            data = await anyio.to_thread.run_sync(staged.read_bytes)
            mime = IMAGE_MIME.get(source.format or "", "image/png")
            return source.model_copy(update={"sent": f"data:{mime};base64,{base64.b64encode(data).decode()}"})
        store, clock = self._ctx.store, self._ctx.clock
        name = uploads.wire_name(model)  # what the upload is bound to: the name the submit sends in this region
        # Each principal's uploads are its own (the account's, scoped): never another principal's URL.
        account = uploads.account if principal == LOCAL_PRINCIPAL else _scoped(uploads.account, principal)
        key = (account, name, source.sha256)
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:  # one upload of the same bytes for the same model, however many requests want it
                found = await store.run(
                    store.find_upload_sync, account, name, source.sha256, clock() + REUSE_MARGIN_SECONDS
                )
                if found is None:
                    uploaded = await uploads.upload(model, staged, source.sha256, source.format)
                    found = Upload(
                        account,
                        name,
                        source.sha256,
                        uploaded.url,
                        source.size_bytes,
                        clock(),
                        uploaded.expires_at,
                    )
                    await store.run(store.record_upload_sync, found)
                    logger.info("uploaded %s (%d bytes) for %s", source.path, source.size_bytes, name)
                else:
                    logger.info("reusing the upload of %s for %s (until %s)", source.path, name, found.expires_at)
        finally:
            if not lock.statistics().tasks_waiting and not lock.locked():
                self._locks.pop(key, None)
        return source.model_copy(update={"sent": found.url, "expires_at": found.expires_at})


class _Refused(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _scoped(account: str, principal: str) -> str:
    """The uploads key of one principal within a provider account (a hash: neither the key nor the principal)."""
    return hashlib.sha256(f"{account}\x00{principal}".encode()).hexdigest()[:32]
