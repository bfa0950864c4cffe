"""wan-video-mcp [serve|demo|simulate|tasks|models]: the human-facing entry points.

``serve`` (the default) speaks MCP over stdio: in that mode nothing but protocol
may reach stdout, so logging goes to stderr and this module prints only in the
human commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from server.config import Settings

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=["dashscope", "newapi", "yuto", "vtrix", "simulator"],
                        help="wire format (env WAN_PROVIDER; default dashscope)")
    parser.add_argument("--region", choices=["intl", "us", "cn"], help="DashScope region (env DASHSCOPE_REGION)")
    parser.add_argument("--base-url", help="provider base URL (env DASHSCOPE_BASE_URL / WAN_BASE_URL)")
    parser.add_argument("--data-dir", type=Path, help="where tasks and videos are kept (env WAN_MCP_DATA_DIR)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(provider=args.provider, region=args.region, base_url=args.base_url,
                             data_dir=args.data_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wan-video-mcp", description="MCP server for Alibaba Wan video generation")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _common(serve)
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (loopback only)")
    serve.add_argument("--port", type=int, default=8765, help="HTTP port")
    demo = sub.add_parser("demo", help="offline demo: an MCP client generates a real MP4 via the simulator")
    demo.add_argument("--out", type=Path, default=Path("wan-demo.mp4"), help="where to save the video")
    demo.add_argument("--prompt", default="A paper boat sails across a calm blue lake at sunrise")
    demo.add_argument("--render-seconds", type=float, default=6.0, help="how long the simulated render takes")
    sub.add_parser("simulate", help="run the DashScope-compatible simulator on 127.0.0.1 (simulate --help)")
    sub.add_parser("models", help="print the model catalog as the README's Markdown table")
    tasks = sub.add_parser("tasks", help="list recorded tasks")
    _common(tasks)
    tasks.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]
    if argv[0] == "simulate":  # the simulator owns its flags (argparse can't forward them reliably)
        from server import simulator

        _configure_logging()
        return simulator.main(argv[1:], announce=lambda url: print(url, flush=True))
    args = _parser().parse_args(argv)
    _configure_logging()
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from server.demo import run_demo

        def echo(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        return run_demo(out=args.out, prompt=args.prompt, render_seconds=args.render_seconds, echo=echo)
    if args.command == "tasks":
        return _tasks(args)
    if args.command == "models":
        from server.catalog import markdown_table

        print(markdown_table())
        return 0
    return 2


def _configure_logging() -> None:
    logging.basicConfig(level=os.environ.get("WAN_LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every URL in full at INFO, signed result-URL query strings included; our own
    # log lines say what happened with the query redacted.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    from server.app import build_server

    try:
        settings = _settings(args)
        server = build_server(settings)
    except ValueError as exc:
        print(f"wan-video-mcp: {exc}", file=sys.stderr)
        return 2
    if args.http:
        if args.host not in LOOPBACK_HOSTS:
            print("wan-video-mcp: --http binds to loopback only (no authentication is built in); "
                  "put an authenticating proxy in front to expose it", file=sys.stderr)
            return 2
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run("stdio")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from server.store import TaskStore

    settings = _settings(args)
    store = TaskStore(settings.db_path)
    try:
        for record in store.list_sync(None, args.limit):
            created = datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{record.id}  {created}  {record.state:<10} {record.model:<20} "
                  f"{record.download_state:<15} {record.local_path or ''}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
