"""Reading a task's inputs (``MediaInputs``): each URL it was given is fetched (httpx) or decoded (data:) after the
submit was accepted, measured with PyAV, and checked (``media_validation.content_problem``).

Which URLs are read is ``SimulatorConfig.fetch_media``: "all" (the ``simulate`` command), "local" (the
default: data: URLs and loopback hosts only; any other URL is taken as readable, unread) or "off".
``oss://`` URLs are read from the simulator's own uploads (``uploads``) in every mode. A task cannot end
before its inputs were read: it stays RUNNING past its end time until then, and ends when they are.

A failed read fails the task (FAILED, at its normal end time). The real service's wording for these is not
documented; the simulator answers as DashScope's other APIs were seen to answer:

- unreachable (connection refused, DNS failure, an HTTP status >= 400, more than 5 redirects, over
  ``fetch_max_bytes``, an undecodable data: URL): ``InvalidParameter``
  "InternalError.Algo.InvalidParameter: Failed to download multimodal content (<field>: <reason>)";
- too slow (``fetch_timeout_seconds`` to connect or between reads, 12 times that in all):
  ``InvalidParameter.DataInspection`` "Download the media resource timed out during the data inspection process.";
- not the media it should be (PyAV cannot read it as an image, a video or audio, as its field needs):
  ``InvalidParameter.DataInspection`` "The media format is not supported or incorrect for the data inspection."

Without PyAV the inputs are still fetched, but not measured. Each read input goes to a temporary file;
those the render draws from (``media_output.kept_inputs``) stay until it is done, the rest go at once.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
from anyio.abc import TaskGroup

from wan_video_mcp.server.jobs.downloads.addresses import AddressPolicy
from wan_video_mcp.server.jobs.downloads.failures import DownloadFailed
from wan_video_mcp.server.simulator.config import SimulatorConfig
from wan_video_mcp.server.simulator.media_output import kept_inputs, video_seconds
from wan_video_mcp.server.simulator.media_validation import content_problem
from wan_video_mcp.server.simulator.plans import AUDIO, FILE, IMAGE, LINK, VIDEO, InputRef, Probe, TaskMedia
from wan_video_mcp.server.simulator.tasks import SimTask
from wan_video_mcp.server.simulator.uploads import OSS_SCHEME, UploadStore

logger = logging.getLogger(__name__)

MSG_DOWNLOAD = "InternalError.Algo.InvalidParameter: Failed to download multimodal content"
MSG_TIMEOUT = "Download the media resource timed out during the data inspection process."
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_IMAGE_FORMATS = ("image2", "png", "bmp", "webp", "gif", "tiff")


class _Unreadable(Exception):
    """The URL could not be read: why."""


def _readable_here(url: str, mode: str) -> bool:
    """Whether this mode fetches the http(s) URL (else it is taken as readable)."""
    if mode == "all":
        return True
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:[<mime>][;base64],<data>`` URL; ``_Unreadable`` when it is not one."""
    head, comma, data = url[5:].partition(",")
    if not comma:
        raise _Unreadable("not a valid data: URL")
    if head.endswith(";base64"):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Unreadable("not valid base64") from None
    return urllib.parse.unquote_to_bytes(data)


def probe_file(path: Path) -> Probe | None:
    """What the file is, read with PyAV (blocking; None without PyAV)."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            visual = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
            seconds = container.duration / 1_000_000 if container.duration else None
            if visual:
                stream = visual[0]
                width, height = stream.codec_context.width, stream.codec_context.height
                name = container.format.name
                if name.endswith("_pipe") or name in _IMAGE_FORMATS or (seconds is None and not stream.frames):
                    return Probe(IMAGE, width, height)
                if seconds is None and stream.duration is not None and stream.time_base is not None:
                    seconds = float(stream.duration * stream.time_base)
                return Probe(VIDEO, width, height, seconds)
            if container.streams.audio:
                return Probe(AUDIO, seconds=seconds)
    except Exception:  # not media PyAV can read (or a broken file)
        return Probe("")
    return Probe("")


class MediaInputs:
    """Reads the inputs of new tasks in the background (``async with``: reads stop, and files go, on exit)."""

    def __init__(self, config: SimulatorConfig, now: Callable[[], float], uploads: UploadStore | None = None) -> None:
        self._config = config
        self._now = now
        self._uploads = uploads  # where oss:// URLs are read (None: they are taken as given)
        self._done: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self._client: httpx.AsyncClient | None = None
        self._dir: Path | None = None

    async def __aenter__(self) -> MediaInputs:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            if self._client is not None:
                await self._client.aclose()
            if self._dir is not None:
                await anyio.to_thread.run_sync(shutil.rmtree, self._dir, True)

    def start(self, task: SimTask) -> None:
        """Read the task's inputs (unless there is nothing to read); the task stays RUNNING until then."""
        if not any(self._reads(ref.url) for ref in task.plan.inputs):
            return
        assert self._tg is not None, "MediaInputs is used outside `async with`"
        task.inputs_pending = True
        done = self._done[task.task_id] = anyio.Event()
        self._tg.start_soon(self._read_task, task, done)

    def _reads(self, url: str) -> bool:
        """Whether this simulator reads the URL (else it is taken as readable, as given)."""
        if url.startswith(OSS_SCHEME):
            # The simulator's own uploads: reading one contacts nothing, so every mode, "off" too, reads it
            # (the upload's picture is drawn as a data: or loopback one is).
            return self._uploads is not None
        mode = self._config.fetch_media
        if mode == "off":
            return False
        return url.startswith("data:") or _readable_here(url, mode)

    async def wait(self, task_id: str) -> None:
        """Until the task's inputs were read (at once if there was nothing to read)."""
        done = self._done.get(task_id)
        if done is not None:
            await done.wait()

    async def _read_task(self, task: SimTask, done: anyio.Event) -> None:
        media = TaskMedia()
        failure: tuple[str, str] | None = None
        try:
            failure = await self._read_all(task, media)
        except Exception:
            logger.exception("reading the inputs of %s failed (a simulator bug); the task goes on", task.task_id)
        finally:
            if failure is not None:
                media.release()
                if task.failure is None:
                    task.failure = failure
            task.media = media
            task.ends_at = max(task.ends_at, self._now())
            task.inputs_pending = False
            done.set()
            self._done.pop(task.task_id, None)

    async def _read_all(self, task: SimTask, media: TaskMedia) -> tuple[str, str] | None:
        plan = task.plan
        keep = kept_inputs(plan)
        for index, ref in enumerate(plan.inputs):
            path = await self._temp_dir() / f"{task.task_id}-{index}"
            try:
                read = await self._read(ref, path)
            except TimeoutError:
                path.unlink(missing_ok=True)
                return "InvalidParameter.DataInspection", MSG_TIMEOUT
            except _Unreadable as exc:
                path.unlink(missing_ok=True)
                return "InvalidParameter", f"{MSG_DOWNLOAD} ({ref.field}: {exc})"
            if not read:
                continue
            if ref.kind not in (FILE, LINK):
                probe = await anyio.to_thread.run_sync(probe_file, path)
                if probe is not None:
                    media.probes[index] = probe
            if index in keep:
                media.files[index] = path
            else:
                path.unlink(missing_ok=True)
        seconds, measured = video_seconds(plan, media)
        return content_problem(plan, media.probes, seconds if measured else None)

    async def _temp_dir(self) -> Path:
        if self._dir is None:
            # On the loop, not in a thread: a cancelled await must not leave a directory nobody removes.
            self._dir = Path(tempfile.mkdtemp(prefix="wan-simulator-inputs-"))
        return self._dir

    async def _read(self, ref: InputRef, path: Path) -> bool:
        """Write the URL's bytes at ``path``; False when it is not read here (not fetched in this mode)."""
        if not self._reads(ref.url):
            return False
        if self._uploads is not None and ref.url.startswith(OSS_SCHEME):
            stored = self._uploads.get(ref.url, self._now())
            if stored is None:  # a gateway's submit is not checked against the uploads
                raise _Unreadable("no such uploaded file, or it has expired")
            await anyio.to_thread.run_sync(path.write_bytes, stored.data)
            return True
        if ref.url.startswith("data:"):
            path.write_bytes(decode_data_url(ref.url))
            return True
        with anyio.fail_after(12 * self._config.fetch_timeout_seconds):
            return await self._download(ref.url, path)

    async def _download(self, url: str, path: Path) -> bool:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._config.fetch_timeout_seconds), trust_env=False, follow_redirects=False
            )
        limit = self._config.fetch_max_bytes
        for _ in range(MAX_REDIRECTS + 1):
            try:
                # Like the real service, nothing on a private network or a cloud metadata address is read (the
                # simulator's own loopback, where tests serve inputs, is allowed): an agent's URL is no way in.
                await _REACHABLE.check(httpx.URL(url))
            except DownloadFailed as exc:
                raise _Unreadable(f"the address is not reachable from the service ({exc.message})") from None
            try:
                async with self._client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urllib.parse.urljoin(url, response.headers["location"])
                        if not url.startswith(("http://", "https://")):
                            raise _Unreadable(f"redirected to a URL that is not http(s): {url[:80]}")
                        if not _readable_here(url, self._config.fetch_media):
                            return False  # redirected off loopback in "local" mode: taken as readable
                        continue
                    if response.status_code >= 400:
                        raise _Unreadable(f"HTTP {response.status_code}")
                    size = 0
                    with path.open("wb") as out:
                        async for chunk in response.aiter_bytes(_CHUNK):
                            size += len(chunk)
                            if size > limit:
                                raise _Unreadable(f"larger than {limit} bytes")
                            out.write(chunk)
                    return True
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError as exc:
                raise _Unreadable(_why(exc)) from None
        raise _Unreadable(f"more than {MAX_REDIRECTS} redirects")


_REACHABLE = AddressPolicy.for_base_url("http://127.0.0.1")


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect" + (f": {exc}" if str(exc) else "")
    return f"{type(exc).__name__}" + (f": {exc}" if str(exc) else "")
