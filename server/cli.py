"""wan-video-mcp [serve|demo|generate|fetch|tasks|models|config|bundle|doctor|simulate]: the entry points.

``serve`` (the default) speaks MCP over stdio: in that mode nothing but protocol
may reach stdout, so logging and the start-up line go to stderr, and only the
human commands print to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wan_video_mcp.server.ports import SERVE_HTTP_PORT
from wan_video_mcp.server.providers.registry import PROVIDER_NAMES, REGION_ALIASES, REGIONS

if TYPE_CHECKING:
    from wan_video_mcp.server.config import Settings

COMMANDS = ("serve", "demo", "generate", "fetch", "tasks", "models", "config", "bundle", "doctor", "simulate")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        choices=PROVIDER_NAMES,
        help="wire format (env WAN_PROVIDER; default dashscope)",
    )
    parser.add_argument(
        "--region",
        type=str.lower,
        choices=[*REGIONS, *REGION_ALIASES],
        metavar="{" + ",".join(REGIONS) + "}",
        help="DashScope region (env DASHSCOPE_REGION; Alibaba's ids such as ap-southeast-1 work too)",
    )
    parser.add_argument("--base-url", help="provider base URL (env DASHSCOPE_BASE_URL / WAN_BASE_URL)")
    parser.add_argument("--data-dir", type=Path, help="where tasks and videos are kept (env WAN_MCP_DATA_DIR)")


def _settings(args: argparse.Namespace) -> Settings:
    from wan_video_mcp.server.config import Settings

    return Settings.from_env(provider=args.provider, region=args.region, base_url=args.base_url, data_dir=args.data_dir)


def _parser(request_schema: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    from wan_video_mcp.server.app import version

    parser = argparse.ArgumentParser(prog="wan-video-mcp", description="MCP server for Alibaba Wan video generation")
    parser.add_argument("--version", action="version", version=f"wan-video-mcp {version()}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _common(serve)
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    serve.add_argument(
        "--host", default="127.0.0.1", help="HTTP bind address (other than loopback: needs auth and WAN_ALLOWED_HOSTS)"
    )
    serve.add_argument(
        "--auth",
        choices=("auto", "required"),
        default="auto",
        help="bearer tokens over HTTP: required off loopback (auto), or everywhere (required)",
    )
    serve.add_argument("--port", type=int, default=SERVE_HTTP_PORT, help=f"HTTP port (default {SERVE_HTTP_PORT})")
    demo = sub.add_parser("demo", help="offline demo: an MCP client generates a real MP4 via the simulator")
    demo.add_argument("--out", type=Path, default=Path("wan-demo.mp4"), help="where to save the video")
    demo.add_argument("--prompt", default="A paper boat sails across a calm blue lake at sunrise")
    demo.add_argument("--render-seconds", type=float, default=6.0, help="how long the simulated render takes")
    generate = sub.add_parser("generate", help="generate a video from the shell, with a progress bar")
    _common(generate)
    generate.add_argument("--out", type=Path, help="save the video here (default: ./<task_id>.mp4)")
    if request_schema is not None:
        from wan_video_mcp.server.human import add_request_options

        add_request_options(generate, request_schema)
    fetch = sub.add_parser("fetch", help="wait for a task (ours or the provider's id) and save its video")
    _common(fetch)
    fetch.add_argument("task_id")
    fetch.add_argument("--out", type=Path, help="save the video here (default: ./<task_id>.mp4)")
    sub.add_parser("simulate", help="run the DashScope-compatible simulator on 127.0.0.1 (simulate --help)")
    sub.add_parser("models", help="print the model catalog as the README's Markdown table")
    tasks = sub.add_parser("tasks", help="list recorded tasks")
    _common(tasks)
    tasks.add_argument("--limit", type=int, default=20)
    config = sub.add_parser("config", help="print (or --write) this server's entry for an MCP host")
    _common(config)
    config.add_argument("--client", required=True, choices=["claude-desktop", "claude-code", "cursor", "vscode"])
    config.add_argument(
        "--scope",
        choices=["user", "project"],
        default="user",
        help="user-wide file (default) or the project's (.mcp.json, .cursor/, .vscode/)",
    )
    config.add_argument("--name", default="wan-video", help="the server's name in the host (default wan-video)")
    config.add_argument("--write", action="store_true", help="merge it into the host's file (a backup is kept)")
    bundle = sub.add_parser("bundle", help="build an MCP Bundle (.mcpb) that installs this server in Claude Desktop")
    _common(bundle)
    bundle.add_argument("--out", type=Path, default=Path("wan-video-mcp.mcpb"), help="where to write the bundle")
    doctor = sub.add_parser("doctor", help="check the settings, key, data directory and PyAV")
    _common(doctor)
    doctor.add_argument("--online", action="store_true", help="also ask the provider (a free query)")
    return parser


def _leave_out_httpx_cli() -> None:
    """Keep httpx from importing its command-line client, which start-up never uses.

    httpx imports ``httpx._main`` (rich's syntax and progress modules, pygments) whenever
    those are installed, and here they are: a share of every cold start spent before
    ``initialize``. A ``None`` entry in ``sys.modules`` makes that one import fail, which
    httpx handles by leaving its CLI out; everything else in httpx is unchanged.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    _leave_out_httpx_cli()
    from wan_video_mcp.server.config import SettingsError
    from wan_video_mcp.server.errors import StoreUnavailable

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve", *argv]
    if argv[0] == "simulate":  # the simulator owns its flags (argparse can't forward them reliably)
        from wan_video_mcp.server import simulator

        _configure_logging()
        return simulator.main(argv[1:], announce=lambda url: print(url, flush=True))
    schema = _request_schema() if argv[0] == "generate" else None
    args = _parser(schema).parse_args(argv)
    _configure_logging("WARNING" if args.command in ("generate", "fetch", "config", "bundle", "doctor") else "INFO")
    try:
        return _run(args, schema)
    except SettingsError as exc:
        print(f"wan-video-mcp: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"wan-video-mcp: {exc.message} {exc.hint}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, schema: dict[str, Any] | None) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from wan_video_mcp.server.demo import run_demo

        def echo(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        return run_demo(out=args.out, prompt=args.prompt, render_seconds=args.render_seconds, echo=echo)
    if args.command in ("generate", "fetch"):
        return _human(args, schema)
    if args.command == "tasks":
        return _tasks(args)
    if args.command == "models":
        from wan_video_mcp.server.catalog import markdown_table

        print(markdown_table())
        return 0
    if args.command == "config":
        return _config(args)
    if args.command == "bundle":
        from wan_video_mcp.server.bundle import build

        manifest = build(_settings(args), args.out)
        print(
            f"Wrote {args.out} (MCPB manifest {manifest['manifest_version']}, {len(manifest['tools'])} tools). "
            "Open it with Claude Desktop to install; it asks for the API key and keeps it in the keychain. It "
            f"runs this installation ({manifest['server']['mcp_config']['command']})."
        )
        return 0
    if args.command == "doctor":
        from wan_video_mcp.server.doctor import checks

        failed = False
        for check in checks(lambda: _settings(args), args.online):
            print(check.line())
            failed |= check.status == "FAIL"
        return 1 if failed else 0
    return 2


def _request_schema() -> dict[str, Any]:
    """generate_video's input schema for the configured provider (the CLI's options follow it)."""
    from wan_video_mcp.server.app import offered_models
    from wan_video_mcp.server.catalog import input_schema
    from wan_video_mcp.server.config import Settings

    try:
        return input_schema(offered_models(Settings.from_env()))
    except ValueError:  # SettingsError included: the options then cover the whole catalog
        return input_schema()


def _configure_logging(default: str = "INFO") -> None:
    logging.basicConfig(
        level=os.environ.get("WAN_LOG_LEVEL", default).upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every URL in full at INFO, signed result-URL query strings included; our own
    # log lines say what happened with the query redacted.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    from wan_video_mcp.server.access import HttpAccess
    from wan_video_mcp.server.app import build_server
    from wan_video_mcp.server.ports import can_listen, port_in_use_message

    try:
        settings = _settings(args)
        access = HttpAccess.decide(args.host, args.port, args.auth, settings) if args.http else None
        server = build_server(settings, access)
    except (ValueError, OSError) as exc:
        print(f"wan-video-mcp: {exc}", file=sys.stderr)
        return 2
    if args.http:
        if not can_listen(args.host, args.port):
            print(port_in_use_message("wan-video-mcp serve --http", args.host, args.port), file=sys.stderr)
            return 2
    print(
        settings.describe()
        + (f"; streamable HTTP at http://{args.host}:{args.port}/mcp" if args.http else "")
        + ("; bearer tokens required" if access is not None and access.auth_required else ""),
        file=sys.stderr,
        flush=True,
    )
    if args.http:
        assert access is not None
        server.run(
            "streamable-http",
            host=args.host,
            port=args.port,
            session_idle_timeout=settings.http_session_idle_seconds,
            transport_security=access.transport_security(settings),
        )
    else:
        server.run("stdio")
    return 0


def _human(args: argparse.Namespace, schema: dict[str, Any] | None) -> int:
    import anyio
    from rich.console import Console

    from wan_video_mcp.server import human

    settings = _settings(args)
    console = Console(soft_wrap=True, highlight=False)
    if args.command == "generate":
        assert schema is not None
        arguments, folders = human.local_files(human.request_arguments(args, schema))
        settings = settings.model_copy(update={"media_roots": (*settings.media_roots, *folders)})
        if "prompt" not in arguments and "model" not in arguments:
            print("wan-video-mcp generate: give at least --prompt (see --help for every field)", file=sys.stderr)
            return 2
        return anyio.run(human.run, settings, "generate_video", arguments, args.out, console)
    return anyio.run(human.run, settings, "check_task", {"task_id": args.task_id}, args.out, console)


def _tasks(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from wan_video_mcp.server.store import open_store

    settings = _settings(args)
    store = open_store(settings)
    try:
        records = store.list_sync(None, args.limit)
    finally:
        store.close()
    if not records:
        print(f"No tasks recorded yet in {settings.store_text}. Start one with: wan-video-mcp generate --prompt '...'")
        return 0
    for record in records:
        created = datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{record.id}  {created}  {record.state:<10} {record.model:<20} "
            f"{record.download_state:<15} {record.local_path or ''}"
        )
    return 0


def _config(args: argparse.Namespace) -> int:
    from wan_video_mcp.server.hosts import ConfigFileError, config_path, host_entry, merge_into

    settings = _settings(args)
    entry = host_entry(args.client, settings, name=args.name, literal_key=args.write)
    if not args.write:
        print(json.dumps(entry.document(), indent=2))
        print(
            f"# {entry.key_note} Add it to {config_path(args.client, args.scope)} or run again with --write.",
            file=sys.stderr,
        )
        return 0
    path = config_path(args.client, args.scope)
    try:
        backup = merge_into(path, entry)
    except (ConfigFileError, OSError) as exc:
        print(f"wan-video-mcp config: {exc}", file=sys.stderr)
        return 1
    kept = f" (the previous file is kept as {backup})" if backup else ""
    print(f"Added '{args.name}' to {path}{kept}. {entry.key_note} Restart the client to load it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
