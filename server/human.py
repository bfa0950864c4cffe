"""``wan-video-mcp generate`` and ``fetch``: the tools, for a person at a terminal.

Both drive the real MCP server in-process with the SDK's client, so a person gets
exactly what an agent gets (the same validation messages, the same single paid
submit, the same store), and follow each result's next step until the video is
saved: a live progress bar on a terminal, plain lines otherwise. Ctrl-C stops the
waiting, never the task: it stays recorded and ``fetch`` picks it up again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from wan_video_mcp.server.catalog.request import SINGLE_URL_FIELDS, URL_LIST_FIELDS
from wan_video_mcp.server.config import Settings

OPEN = ("submitting", "queued", "running", "unknown")
PLAIN_EVERY_SECONDS = 15.0
CLI_OMITS = ("wait_seconds",)  # the CLI waits until the video is saved


def add_request_options(parser: argparse.ArgumentParser, schema: dict[str, Any]) -> None:
    """One option per generate_video field, typed from the published input schema."""
    for name, prop in schema["properties"].items():
        if name in CLI_OMITS:
            continue
        flag = "--" + name.replace("_", "-")
        help_text = (prop.get("description") or "").replace("%", "%%")
        kind = prop.get("type")
        if kind == "boolean":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind == "array" and prop.get("items", {}).get("type") == "object":
            # media: TYPE=URL, or a JSON object for more keys, e.g. '{"type": ..., "url": ..., "reference_voice": ...}'
            parser.add_argument(
                flag, dest=name, nargs="+", type=_media_item, default=None, metavar="TYPE=URL", help=help_text
            )
        elif kind == "array":
            parser.add_argument(flag, dest=name, nargs="+", default=None, help=help_text)
        elif kind == "integer":
            parser.add_argument(flag, dest=name, type=int, default=None, help=help_text)
        else:
            parser.add_argument(
                flag,
                dest=name,
                choices=prop.get("enum"),
                default=None,
                help=help_text,
                metavar=name.upper() if prop.get("enum") and len(prop["enum"]) > 12 else None,
            )


def _media_item(text: str) -> dict[str, Any]:
    """One media item from the command line: ``first_frame=https://...`` or its JSON object."""
    if text.lstrip().startswith("{"):
        try:
            item = json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a JSON object: {exc}") from None
        if not isinstance(item, dict):
            raise argparse.ArgumentTypeError("a media item must be a JSON object")
        return item
    kind, equals, url = text.partition("=")
    if not equals or not kind or not url:
        raise argparse.ArgumentTypeError(f"{text!r} is not TYPE=URL (e.g. first_frame=https://example.com/a.png)")
    return {"type": kind.strip(), "url": url.strip()}


def local_files(arguments: dict[str, Any]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The arguments with each file a person named on the command line as an absolute path (``./cat.png`` too),
    and the folders holding them: a person at the shell allows what they name, where an agent may not."""
    folders: dict[Path, None] = {}

    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or "://" in value or value.startswith(("data:", "wan_")):
            return value
        try:
            path = Path(value).expanduser()
            if not path.is_file():
                return value  # the server says what is wrong with it
            path = path.resolve()
        except (OSError, RuntimeError, ValueError):  # ~nosuchuser, a name too long, a NUL: for the server to say
            return value
        folders[path.parent] = None
        return str(path)

    given = dict(arguments)
    for name in SINGLE_URL_FIELDS:
        if name in given:
            given[name] = absolute(given[name])
    for name in URL_LIST_FIELDS:
        if isinstance(given.get(name), list):
            given[name] = [absolute(url) for url in given[name]]
    if isinstance(given.get("media"), list):
        given["media"] = [
            {**item, **{key: absolute(item[key]) for key in ("url", "reference_voice") if key in item}}
            if isinstance(item, dict)
            else item
            for item in given["media"]
        ]
    return given, tuple(folders)


def request_arguments(args: argparse.Namespace, schema: dict[str, Any]) -> dict[str, Any]:
    """The generate_video arguments a person gave (unset options are left to the server's defaults)."""
    return {
        name: getattr(args, name)
        for name in schema["properties"]
        if name not in CLI_OMITS and getattr(args, name, None) is not None
    }


class ProgressView:
    """A rich progress bar on a terminal; otherwise a plain line when the state changes or every 15 s."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self._bar = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if self.live
            else None
        )
        self._row: Any = None
        self._last_line = ("", 0.0)

    def __enter__(self) -> ProgressView:
        if self._bar is not None:
            self._bar.__enter__()
            self._row = self._bar.add_task("starting", total=100)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    async def update(self, progress: float, total: float | None, message: str | None) -> None:
        text = message or ""
        if self._bar is not None:
            self._bar.update(self._row, completed=progress, total=total or 100, description=text[:70])
            return
        state = text.split(":", 1)[0]
        last_state, last_time = self._last_line
        if state != last_state or time.monotonic() - last_time >= PLAIN_EVERY_SECONDS:
            self.console.print(f"[{progress:5.1f}%] {text}", highlight=False)
            self._last_line = (state, time.monotonic())


async def follow(
    client: Client, first: types.CallToolResult, view: ProgressView, cap: int, on_task: Callable[[str], None]
) -> types.CallToolResult:
    """Follow next steps (check_task, then fetch_video) until the task ends: the last result."""
    result = first
    while True:
        data = result.structured_content or {}
        if result.is_error or not data.get("task_id"):
            return result
        task_id = data["task_id"]
        on_task(task_id)
        status = data.get("status")
        if status in OPEN:
            result = await client.call_tool(
                "check_task", {"task_id": task_id, "wait_seconds": cap}, progress_callback=view.update
            )
        elif status == "succeeded" and "video" not in data:
            await anyio.sleep(float(data.get("poll_after_seconds") or 1))
            result = await client.call_tool("fetch_video", {"task_id": task_id}, progress_callback=view.update)
        else:
            return result


async def run(settings: Settings, tool: str, arguments: dict[str, Any], out: Path | None, console: Console) -> int:
    """Call ``tool`` on an in-process server, follow it to the end and save the video: the exit code."""
    from wan_video_mcp.server.app import build_server

    task: dict[str, str] = {}
    started = time.time()
    interrupted = False
    final: types.CallToolResult | None = None
    async with Client(build_server(settings)) as client:
        async with anyio.create_task_group() as tg:

            async def on_interrupt(scope: anyio.CancelScope) -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        interrupted = True
                        scope.cancel()
                        return

            with anyio.CancelScope() as scope, ProgressView(console) as view:
                tg.start_soon(on_interrupt, scope)
                first = await client.call_tool(tool, arguments, progress_callback=view.update)
                final = await follow(
                    client, first, view, settings.max_wait_seconds, lambda tid: task.__setitem__("id", tid)
                )
            tg.cancel_scope.cancel()
    if interrupted:
        tid = task.get("id") or _started_since(settings, started)
        if tid:
            console.print(
                f"Stopped waiting. Task {tid} is still recorded and keeps its place at the provider; "
                f"resume with: wan-video-mcp fetch {tid}"
            )
        else:
            console.print(
                "Stopped waiting before the provider answered; if the request was sent, "
                "`wan-video-mcp tasks` lists it and `wan-video-mcp fetch TASK_ID` resumes it."
            )
        return 130
    assert final is not None
    return report(final, out, console)


def _started_since(settings: Settings, since: float) -> str | None:
    """The task this command recorded, when it was stopped before its first answer named it."""
    from wan_video_mcp.server.store import open_store

    store = open_store(settings)
    try:
        mine = [r for r in store.list_sync(None, 20) if r.created_at >= since - 1]
    finally:
        store.close()
    return mine[0].id if len(mine) == 1 else None


def report(result: types.CallToolResult, out: Path | None, console: Console) -> int:
    """Print how a call ended (copying the video to ``out``): the exit code."""
    data = result.structured_content or {}
    text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
    if result.is_error:
        console.print(f"Error: {text}", highlight=False)
        return 1
    if data.get("status") == "dry_run":
        console.print(text, highlight=False)
        return 0
    video = data.get("video")
    if data.get("status") == "succeeded" and video:
        source = Path(video["path"])
        target = out or Path.cwd() / source.name
        if target.resolve() != source.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        media = video.get("media") or {}
        facts = ", ".join(
            f
            for f in (
                f"{media['width']}x{media['height']}" if media.get("width") else "",
                f"{media['duration_seconds']:.1f} s" if media.get("duration_seconds") else "",
                "with sound" if media.get("has_audio") else "silent" if media else "",
            )
            if f
        )
        prefix = "[SIMULATED] " if data.get("simulated") else ""
        console.print(
            f"{prefix}Saved {target} ({video['size_bytes']:,} bytes{', ' + facts if facts else ''}); "
            f"task {data['task_id']}",
            highlight=False,
        )
        return 0
    console.print(f"{text}\nNext: {data.get('next_step', '')}", highlight=False)
    return 1
