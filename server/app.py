"""The composition root: build the MCPServer from Settings (tools, resources, prompts, lifespan).

Nothing happens at import. ``build_server(settings)`` wires the catalog narrowed
to what the provider offers, the tools (their waits capped by the settings), the
resources, the prompt with its completions, and MCP logging; the lifespan opens
the one ``httpx.AsyncClient``, the task store and (for ``provider=simulator``)
the in-process simulator, starts the engine's poller and resumes every open task.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from types import MappingProxyType
from typing import Any, cast

import anyio
import httpx
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, InputRequiredResult

from wan_video_mcp.server import __version__
from wan_video_mcp.server.access import CallRate, HttpAccess
from wan_video_mcp.server.catalog import MODELS, ModelSpec, catalog_document, models_for
from wan_video_mcp.server.config import Settings
from wan_video_mcp.server.errors import StoreUnavailable, WanError
from wan_video_mcp.server.jobs import JobEngine
from wan_video_mcp.server.providers.base import Provider
from wan_video_mcp.server.providers.http import shared_client
from wan_video_mcp.server.providers.registry import provider_entry
from wan_video_mcp.server.store import open_store
from wan_video_mcp.tools import (
    cancel_task,
    check_task,
    extend_video,
    fetch_video,
    generate_video,
    list_tasks,
    prompts,
    storyboard,
)
from wan_video_mcp.tools.call import RESULT_RESERVE_SECONDS, current_principal
from wan_video_mcp.tools.client_log import ClientLog
from wan_video_mcp.tools.outcomes import call_reporting_errors, error_result
from wan_video_mcp.tools.player import declare_player, player_extension
from wan_video_mcp.tools.state import AppState, state_of
from wan_video_mcp.tools.storyboard import STORYBOARD_URI, STORYBOARD_VIDEO_URI, storyboard_result
from wan_video_mcp.tools.view import TASK_URI, VIDEO_URI, task_result

logger = logging.getLogger(__name__)


def instructions(settings: Settings) -> str:
    """The server's instructions to the agent, with this server's wait cap (and a missing key said up front)."""
    cap = settings.max_wait_seconds
    text = (
        "Generates videos with Alibaba Wan models. Call generate_video; if it returns a task_id instead of a "
        f"video, call check_task(task_id, wait_seconds={cap}) later (waits are capped at {cap}s so no call outlives "
        "its client): tasks survive client timeouts and server restarts, and the server saves each finished video "
        "itself. Identical requests are not charged twice. Use dry_run=true to validate and price a request for "
        "free; the prompt wan_video_prompt helps write a good one. Catalog with rules and prices: resource "
        "wan-video://models."
    )
    if not settings.key_configured:
        text += (
            f" No API key is configured: only dry runs work until {settings.key_env_name} is set in this "
            "server's environment; tell the user."
        )
    return text


def make_provider(settings: Settings, client: httpx.AsyncClient, base_url: str | None = None) -> Provider:
    """The provider for the configured wire format (``base_url`` overrides, for the simulator)."""
    return provider_entry(settings.provider).build(settings, client, base_url)


def offered_models(settings: Settings) -> tuple[ModelSpec, ...]:
    """The catalog narrowed to what the configured provider (and DashScope region) offers."""
    # The probe is only asked offers(): a client with a transport that cannot send skips loading CA certificates.
    inert = httpx.AsyncClient(transport=httpx.AsyncBaseTransport(), trust_env=False)
    probe = make_provider(settings, inert, base_url="http://127.0.0.1:9/api/v1")
    region = settings.region if settings.regional else None
    models = tuple(spec for spec in models_for(region) if probe.offers(spec.id))
    return models or MODELS


def endpoint_of(settings: Settings) -> str:
    """Where tasks live: tasks recorded under another endpoint are not polled by this server."""
    if settings.simulated:
        return "simulator"
    if settings.regional:
        from wan_video_mcp.server.providers.dashscope.regions import base_url_for

        return base_url_for(settings.region, settings.workspace_id, settings.base_url)
    return f"{settings.provider}:{settings.base_url}"


class WanServer(MCPServer[AppState]):
    """The SDK's server, answering a bad ``prompts/get`` with -32602 (invalid params) as the spec says, and
    every tool failure with an ``isError`` result (tools/outcomes.py).

    The SDK turns an unknown prompt name or a missing argument into a plain exception, which reaches the
    client as JSON-RPC error code 0.
    """

    declared: Mapping[str, Tool] = MappingProxyType({})  # the tools build_server gave it, by name
    rate: CallRate | None = None  # WAN_RATE_LIMIT_PER_MINUTE, per principal

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[AppState, Any] | None = None
    ) -> Any:
        prompts = {p.name: p for p in await self.list_prompts()}
        prompt = prompts.get(name)
        if prompt is None:
            raise MCPError(INVALID_PARAMS, f"unknown prompt '{name}'; this server has: {', '.join(prompts)}")
        declared = {arg.name: arg for arg in prompt.arguments or []}
        given = arguments or {}
        unknown = sorted(set(given) - set(declared))
        missing = sorted(n for n, arg in declared.items() if arg.required and not str(given.get(n) or "").strip())
        if unknown or missing:
            problems = ([f"unknown argument(s) {', '.join(unknown)}"] if unknown else []) + (
                [f"missing required argument(s) {', '.join(missing)}"] if missing else []
            )
            raise MCPError(INVALID_PARAMS, f"prompt '{name}': {'; '.join(problems)}; it takes: {', '.join(declared)}")
        return await super().get_prompt(name, arguments, context)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Every tool failure as an ``isError`` result with structured content the agent can act on."""

        async def call(tool: str, args: dict[str, Any]) -> CallToolResult | InputRequiredResult:
            return await super(WanServer, self).call_tool(tool, args, context)

        if self.rate is not None:
            principal = current_principal()
            wait = await self.rate.wait_for(principal)
            if wait:
                return error_result(
                    WanError(
                        f"too many calls: at most {self.rate.per_minute} a minute per principal "
                        "(WAN_RATE_LIMIT_PER_MINUTE); nothing was done",
                        code="rate_limited",
                        retryable=True,
                        hint=f"Call again in {wait:g} s.",
                    )
                )
        return await call_reporting_errors(call, self.declared.get(name), name, arguments)


def build_server(settings: Settings, http: HttpAccess | None = None) -> WanServer:
    """The server; ``http``: how it is reached over HTTP (its URL, and whether tokens are required there)."""
    models = offered_models(settings)
    client_log = ClientLog()

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            # Redirects are followed by hand where they are wanted (downloads check every hop's address).
            client = await stack.enter_async_context(shared_client(settings.http_timeout))
            try:
                store = open_store(settings)
            except StoreUnavailable as exc:
                # One line naming the file; the server still starts, and every tool that needs the store says why.
                logger.error("%s %s", exc.message, exc.hint)
                yield AppState(
                    settings=settings,
                    engine=cast(JobEngine, _Unavailable(exc)),
                    models=models,
                    provider_name=settings.provider,
                    simulated=settings.simulated,
                    client_log=client_log,
                )
                return
            stack.callback(store.close)
            if server.rate is not None:  # each principal's limit counted in the store, shared by replicas
                server.rate.store = store
                stack.callback(setattr, server.rate, "store", None)
            base_url = None
            if settings.simulated:
                from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

                sim = await stack.enter_async_context(
                    Simulator(
                        SimulatorConfig(
                            queue_seconds=settings.sim_queue_seconds,
                            run_seconds=settings.sim_run_seconds,
                            # Like the real service: an input URL it cannot read fails the task.
                            fetch_media="all",
                        )
                    )
                )
                base_url = sim.base_url
                logger.info("simulator running at %s (every result is simulated)", base_url)
            provider = make_provider(settings, client, base_url)
            engine = JobEngine(
                store=store,
                provider=provider,
                client=client,
                settings=settings,
                endpoint=endpoint_of(settings),
                models=models,
                simulated=settings.simulated,
                key_configured=settings.key_configured,
            )
            # Leaving the store comes after the task group has ended, shielded submits included: until then
            # this process still holds their leases.
            stack.push_async_callback(engine.stop)
            tg = await stack.enter_async_context(anyio.create_task_group())
            await engine.start(tg)
            try:
                yield AppState(
                    settings=settings,
                    engine=engine,
                    models=models,
                    provider_name=provider.name,
                    simulated=settings.simulated,
                    client_log=client_log,
                )
            finally:
                tg.cancel_scope.cancel()

    cap = settings.max_wait_seconds
    tools = [
        generate_video.build(models, cap),
        check_task.build(cap),
        fetch_video.build(),
        list_tasks.build(),
        cancel_task.build(),
        extend_video.build(cap),
        storyboard.build(cap),
    ]
    declare_player(tools)  # hosts with MCP Apps show these tools' results in the player; the results stay the same
    server = WanServer(
        name="wan-video-mcp",
        title="Wan video generation",
        instructions=instructions(settings),
        version=version(),
        lifespan=lifespan,
        tools=tools,
        extensions=[player_extension()],
        **(http.auth_options(settings) if http is not None else {}),
    )
    server.declared = MappingProxyType({tool.name: tool for tool in tools})
    if settings.rate_limit_per_minute:
        server.rate = CallRate(settings.rate_limit_per_minute)
    _register_resources(server, models, settings)
    prompts.install(server, models, recent_ids)
    client_log.install(server)
    return server


async def recent_ids(state: AppState, template: str) -> list[str]:
    """Task (or, for the storyboard URIs, storyboard) ids to offer as completions, newest first: none when the
    store cannot be read (the tools say why)."""
    try:
        if template in prompts.STORYBOARD_TEMPLATES:
            boards = await state.engine.storyboards.recent(None, prompts.COMPLETION_LIMIT, current_principal())
            return [board.id for board in boards]
        return [record.id for record in await state.engine.list(None, prompts.COMPLETION_LIMIT, current_principal())]
    except StoreUnavailable:
        return []


def _register_resources(server: MCPServer[AppState], models: tuple[ModelSpec, ...], settings: Settings) -> None:
    region = settings.region if settings.regional else None

    @functools.cache
    def document() -> str:  # written at the first read, not at start-up
        return json.dumps(catalog_document(models, region), indent=1)

    @server.resource(
        "wan-video://models",
        name="models",
        title="Wan model catalog",
        description="Every offered model's rules (sizes, durations, prompt limits, audio, shot type, "
        "media inputs) and estimated prices.",
        mime_type="application/json",
    )
    def models_resource() -> str:
        return document()

    @server.resource(
        TASK_URI, name="task", title="A video task", description="A task's state as JSON.", mime_type="application/json"
    )
    async def task_resource(task_id: str, ctx: Context) -> str:
        state = state_of(ctx)
        with _as_resource_error():
            record = await state.engine.owned(task_id, current_principal())
        return task_result(state, record).model_dump_json(indent=1)

    # The .mp4 template first: templates are tried in order, and {storyboard_id} would match 'sb_x.mp4' too.
    @server.resource(
        STORYBOARD_VIDEO_URI,
        name="storyboard video",
        title="A storyboard's joined video",
        description="The MP4 of a finished storyboard.",
        mime_type="video/mp4",
    )
    async def storyboard_video_resource(storyboard_id: str, ctx: Context) -> bytes:
        record = await state_of(ctx).engine.storyboards.get(storyboard_id, current_principal())
        if record is None:
            raise ResourceNotFoundError(f"no storyboard '{storyboard_id}' is known to this server")
        if record.state != "succeeded" or not record.local_path:
            raise ResourceError(f"storyboard {storyboard_id} is {record.state}: its video is not joined yet")
        path = state_of(ctx).engine.storyboards.joined_file(record)
        if path is None:
            raise ResourceError(
                f"the joined video of storyboard {storyboard_id} is missing from disk: call generate_storyboard("
                f"storyboard_id='{storyboard_id}', retry_shot=0) to join its shots again (nothing is paid again)"
            )
        return await anyio.Path(path).read_bytes()

    @server.resource(
        STORYBOARD_URI,
        name="storyboard",
        title="A storyboard",
        description="A storyboard's shots and state as JSON.",
        mime_type="application/json",
    )
    async def storyboard_resource(storyboard_id: str, ctx: Context) -> str:
        state = state_of(ctx)
        boards = state.engine.storyboards
        record = await boards.get(storyboard_id, current_principal())
        if record is None:
            raise ResourceNotFoundError(f"no storyboard '{storyboard_id}' is known to this server")
        return storyboard_result(state, record, await boards.shot_tasks(record)).model_dump_json(indent=1)

    @server.resource(
        VIDEO_URI,
        name="video",
        title="A generated video",
        description="The MP4 of a finished task.",
        mime_type="video/mp4",
    )
    async def video_resource(task_id: str, ctx: Context) -> bytes:
        state = state_of(ctx)
        with _as_resource_error():
            await state.engine.owned(task_id, current_principal())  # another's video is not found, nor saved
            # A read is a request too: bounded by the same cap as a tool call; the download carries on.
            record = await state.engine.download(task_id, state.max_wait - RESULT_RESERVE_SECONDS)
        path = state.engine.local_file(record)
        if path is None:
            if record.video_pending:
                raise ResourceError(
                    f"the video of task {record.id} is still being saved; read it again in a few "
                    "seconds (or call fetch_video)"
                )
            raise ResourceError(f"the video of task {task_id} is not on disk; call fetch_video")
        return await anyio.Path(path).read_bytes()


@contextmanager
def _as_resource_error() -> Iterator[None]:
    """Our errors as the SDK's resource errors: unknown task -> not found (-32602), else -32603 with the hint."""
    try:
        yield
    except WanError as exc:
        error = ResourceNotFoundError if exc.code == "task_not_found" else ResourceError
        raise error(exc.message + (f" — {exc.hint}" if exc.hint else "")) from exc


class _Unavailable:
    """Stands in for the engine when the task store cannot be opened: every use raises why."""

    def __init__(self, error: StoreUnavailable) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise self._error


def version() -> str:
    """This distribution's version."""
    return __version__


__all__ = ["WanServer", "build_server", "endpoint_of", "instructions", "make_provider", "offered_models", "version"]
