"""The simulated service (``Simulator``): it listens on 127.0.0.1 and answers each request through the route tables.

Every request is routed (``MOUNTS``), counted, and meets the next fault armed for its target
before (or, with ``processed=True``, after) its handler runs.
"""

from __future__ import annotations

import logging
import math
import uuid
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Listener, SocketAttribute, SocketStream, TaskGroup

from wan_video_mcp.server.simulator import admin, dashscope, newapi, oss_upload, results, vtrix, yuto
from wan_video_mcp.server.simulator.config import HOST, SimulatorConfig
from wan_video_mcp.server.simulator.faults import FAULT_ERRORS, FAULT_TARGETS, Fault, Faults
from wan_video_mcp.server.simulator.http import (
    MAX_BODY_BYTES,
    HttpConnection,
    Request,
    Response,
    json_response,
    serve_connection,
)
from wan_video_mcp.server.simulator.media import MediaInputs
from wan_video_mcp.server.simulator.renders import Renders
from wan_video_mcp.server.simulator.routing import Mount, route
from wan_video_mcp.server.simulator.state import SimState
from wan_video_mcp.server.simulator.stats import Stats
from wan_video_mcp.server.simulator.tasks import SimTask, TaskStore, new_id
from wan_video_mcp.server.simulator.uploads import StoredObject, UploadStore

logger = logging.getLogger(__name__)

API_ROOT = r"(?P<root>/api/v1|/qwen/api/v1)"  # where DashScope's API answers
# Where each table answers, in order; everything that is neither the admin API, a result URL, the upload host nor
# a gateway is DashScope (an unknown path: its 404).
MOUNTS = (
    Mount(r"/_sim(?=/|$)", admin.ROUTES, strip=True),
    Mount(r"/results/", results.ROUTES),
    Mount(oss_upload.UPLOAD_PATH + r"(?=/|$)", oss_upload.UPLOAD_ROUTES, oss=True),
    Mount(r"/v1/video", newapi.ROUTES, gateway=True),
    Mount(r"/v2/", yuto.ROUTES, gateway=True),
    Mount(r"/model/", vtrix.ROUTES, gateway=True),
    Mount(API_ROOT + r"(?=/uploads/?$)", oss_upload.POLICY_ROUTES, strip=True),
    Mount(API_ROOT + r"(?=/)", dashscope.ROUTES, strip=True),
    Mount(r"", dashscope.NOWHERE),
)
# The counter each fault target bumps.
COUNTERS = {"submit": "submits", "poll": "polls", "cancel": "cancels", "list": "lists"}


def fault_response(fault: Fault, *, gateway: bool, oss: bool = False) -> Response:
    """The answer a fault puts in place of the handler's: malformed or oversized JSON, or an error."""
    if fault.kind == "oversized":
        head = b'{"request_id":"' + new_id().encode() + b'","padding":"'
        return Response(200, head + b"x" * max(0, fault.size - len(head) - 2) + b'"}')
    if fault.kind == "malformed":
        if gateway:
            return Response(200, b'{"code":"success","data":{"task_id":"' + new_id().encode())
        return Response(200, b'{"request_id":"' + new_id().encode() + b'","output":{"task_id":"')
    status, code, message = FAULT_ERRORS[fault.kind]
    headers = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.kind == "429" else {}
    code, message = fault.code or code, fault.message or message
    if oss:  # the upload host is OSS
        return results.oss_error(status, code, message)
    if gateway:  # the gateway relays the upstream error in its own shape
        return json_response(status, {"error": {"code": code, "message": message, "type": "upstream_error"}}, headers)
    return dashscope.error_response(status, code, message, headers)


class Simulator:
    """The simulated service: ``async with Simulator(config) as sim:`` serves on 127.0.0.1 until exit.

    ``sim.base_url`` (…/api/v1) goes where a DashScope base URL goes, ``sim.root_url`` where a
    gateway's (new-api, YutoAI, vtrix) goes; ``sim.faults`` arms faults, ``sim.stats`` counts
    what arrived, ``sim.uploads`` lists the files uploaded for ``oss://`` URLs, ``sim.advance(s)``
    moves its clock.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = Stats()
        tasks = TaskStore(self.config)
        self.faults = Faults(tasks.fail)
        secret = uuid.uuid4().bytes  # signs result URLs and upload policies
        uploads = UploadStore(self.config, secret)
        self._inputs = MediaInputs(self.config, tasks.now, uploads)
        renders = Renders(self.config, self.stats)
        self._state = SimState(
            self.config, tasks, self.faults, self.stats, renders, uploads, self._inputs, secret=secret
        )
        self._upload_limit = max(MAX_BODY_BYTES, oss_upload.upload_body_limit(self.config))
        self._listener: Listener[SocketStream] | None = None
        self._tg: TaskGroup | None = None

    # ---- lifecycle

    @property
    def port(self) -> int:
        return self._state.port

    @property
    def root_url(self) -> str:
        return self._state.root_url

    @property
    def base_url(self) -> str:
        return self._state.base_url

    @property
    def render_dir(self) -> Path | None:
        """Where the MP4s are; a temporary directory (removed on exit) is made at the first render."""
        return self._state.renders.render_dir

    async def __aenter__(self) -> Simulator:
        await self._state.renders.__aenter__()
        try:
            await self._inputs.__aenter__()
        except BaseException:
            await self._state.renders.__aexit__(None, None, None)
            raise
        try:
            listener = await anyio.create_tcp_listener(local_host=HOST, local_port=self.config.port)
        except BaseException:
            await self._inputs.__aexit__(None, None, None)
            await self._state.renders.__aexit__(None, None, None)
            raise
        self._listener = listener
        self._state.port = listener.extra(SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(listener.serve, self._serve_connection)
        logger.info("Wan simulator listening on %s (offline; every result is simulated)", self.base_url)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tg is not None and self._listener is not None
        self._tg.cancel_scope.cancel()
        try:
            # The body's own exception, if any, propagates unchanged (not wrapped in a group).
            await self._tg.__aexit__(None, None, None)
        finally:
            try:
                await self._listener.aclose()
            finally:
                try:
                    await self._inputs.__aexit__(None, None, None)
                finally:
                    await self._state.renders.__aexit__(None, None, None)

    # ---- clock and tasks

    def now(self) -> float:
        return self._state.now()

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (task states, task TTL, URL expiry all follow)."""
        self._state.tasks.advance(seconds)

    def task(self, task_id: str) -> SimTask | None:
        return self._state.tasks.get(task_id)

    @property
    def tasks(self) -> list[SimTask]:
        return self._state.tasks.all()

    def gateway_task(self, dialect: str, gateway_id: str) -> SimTask | None:
        """The task a gateway dialect knows by ``gateway_id``."""
        return self._state.tasks.by_gateway_id(dialect, gateway_id)

    def video_url(self, task: SimTask) -> str:
        return self._state.video_url(task)

    @property
    def uploads(self) -> list[StoredObject]:
        """The uploaded objects still live (``oss://`` + key), oldest first."""
        return self._state.uploads.objects(self.now())

    async def inputs_read(self, task_id: str) -> None:
        """Until the task's input URLs were read (at once when there was nothing to read); KeyError: unknown task."""
        if self._state.tasks.get(task_id) is None:
            raise KeyError(task_id)
        await self._inputs.wait(task_id)

    async def rendered(self, task_id: str) -> Path:
        """The task's MP4 on disk, rendering it first if needed."""
        task = self._state.tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        return await self._state.renders.path(task)

    # ---- requests

    async def _serve_connection(self, stream: SocketStream) -> None:
        self.stats.connections += 1
        await serve_connection(stream, self._answer, self._body_limit)

    def _body_limit(self, method: str, path: str) -> int:
        """Uploads may be as large as the policy allows; every other body is held to the usual cap."""
        return self._upload_limit if method == "POST" and path == oss_upload.UPLOAD_PATH else MAX_BODY_BYTES

    async def _answer(self, req: Request, conn: HttpConnection) -> bool:
        """Answer one request; return whether the connection stays open."""
        state = self._state
        state.stats.requests += 1
        mount, target, handler = route(MOUNTS, req)
        if target in COUNTERS:
            setattr(state.stats, COUNTERS[target], getattr(state.stats, COUNTERS[target]) + 1)
        fault = self.faults.take(target) if target in FAULT_TARGETS else None
        if fault is not None:
            state.stats.faults_applied += 1
            logger.info("fault %s on %s %s", fault.kind, req.method, req.path)
        if fault is not None and not fault.processed and fault.breaks:  # the request never takes effect
            await self._break(conn, fault)
            return False
        if fault is not None and not fault.processed and fault.replaces:
            response = fault_response(fault, gateway=mount.gateway, oss=mount.oss)
        else:
            try:
                response = await handler(state, req, fault)
            except Exception:
                logger.exception("simulator error on %s %s", req.method, req.path)
                response = dashscope.error_response(
                    500, "InternalError", "The simulator failed on this request (a bug; see its log)."
                )
            if fault is not None and fault.processed and fault.breaks:  # it took effect, but no answer comes back
                await self._break(conn, fault)
                return False
            if fault is not None and fault.processed and fault.replaces:
                response = fault_response(fault, gateway=mount.gateway, oss=mount.oss)
        if not await conn.send(response, date=state.now()):
            return False  # cut short on purpose: the connection is closed
        if req.method != "HEAD" and response.content_type == "video/mp4" and response.status in (200, 206):
            state.stats.downloads_completed += 1
        return True

    async def _break(self, conn: HttpConnection, fault: Fault) -> None:
        if fault.kind == "hang":
            await conn.hang_up(after=fault.seconds)
        else:
            await conn.reset()
