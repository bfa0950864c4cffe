"""Authenticated streamable HTTP: the real ``wan-video-mcp serve --http`` process on loopback with ``--auth required``
and a tokens file, reached with raw HTTP (for statuses) and the Python SDK's client (for a whole session).

Nothing here leaves 127.0.0.1. The tokens are made up per test; the file holds only their hashes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.http_serving import replica
from tests.simulated import free_port
from tests.stdio_server import REPO
from wan_video_mcp.server.auth import StaticTokens, parse_token_file

pytestmark = pytest.mark.anyio

ALICE, BOB = "alice-token-4b1f0c2e9d", "bob-token-7a3e55c0b8"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    lines = [
        "# principal per token",
        *(f"{hashlib.sha256(t.encode()).hexdigest()} {p}" for t, p in ((ALICE, "alice"), (BOB, "bob"))),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@asynccontextmanager
async def serving(tmp_path: Path, *arguments: str, **env: str) -> AsyncIterator[tuple[int, Path]]:
    """``serve --http`` with the simulator; its port and its log file, once it answers."""
    environment = {"WAN_PROVIDER": "simulator", "WAN_MCP_DATA_DIR": str(tmp_path / "data"), **env}
    async with replica(tmp_path, "server", environment, arguments) as server:
        yield server.port, server.log


async def post(port: int, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"http://127.0.0.1:{port}/mcp", json=INITIALIZE, headers={**ACCEPT, **(headers or {})})


async def test_with_auth_required_no_token_and_a_wrong_token_are_refused_and_a_listed_one_is_served(
    tmp_path: Path,
) -> None:
    """401 with a bearer challenge without a token or with an unlisted one; 200 with a listed one; no token in
    the log."""
    async with serving(tmp_path, "--auth", "required", WAN_AUTH_TOKENS_FILE=str(tokens_file(tmp_path))) as (
        port,
        log,
    ):
        bare = await post(port)
        wrong = await post(port, {"Authorization": "Bearer not-a-listed-token"})
        right = await post(port, {"Authorization": f"Bearer {ALICE}"})
        bearer = httpx2.AsyncClient(headers={"Authorization": f"Bearer {BOB}"})
        async with bearer, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=bearer)) as client:
            dry = await client.call_tool("generate_video", {"prompt": "x", "dry_run": True})
    assert {
        "no token": (bare.status_code, bare.headers.get("www-authenticate", "").lower().startswith("bearer")),
        "wrong token": wrong.status_code,
        "listed token": right.status_code,
        "a session": (dry.is_error, (dry.structured_content or {}).get("status")),
    } == {"no token": (401, True), "wrong token": 401, "listed token": 200, "a session": (False, "dry_run")}
    logged = log.read_text(errors="replace")
    assert (ALICE in logged, BOB in logged, "not-a-listed-token" in logged) == (False, False, False)


async def test_a_forged_host_or_origin_is_refused_even_with_a_good_token(tmp_path: Path) -> None:
    """DNS rebinding: a Host or Origin that is not this server's is refused before the token matters."""
    async with serving(tmp_path, "--auth", "required", WAN_AUTH_TOKENS_FILE=str(tokens_file(tmp_path))) as (port, _):
        token = {"Authorization": f"Bearer {ALICE}"}
        host = await post(port, {**token, "Host": "evil.example:80"})
        origin = await post(port, {**token, "Origin": "http://evil.example"})
    assert (host.status_code, origin.status_code) == (421, 403), (host.text, origin.text)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({}, "WAN_ALLOWED_HOSTS"),
        ({"WAN_ALLOWED_HOSTS": "mcp.example.test:8000"}, "WAN_AUTH_TOKENS_FILE"),
        ({"WAN_ALLOWED_HOSTS": "mcp.example.test:8000", "WAN_OAUTH_ISSUER": "https://id.example.test"}, "both"),
    ],
    ids=["no allowed hosts", "no auth", "half of oauth"],
)
async def test_serving_other_machines_without_auth_or_allowed_hosts_does_not_start(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    """``--host 0.0.0.0`` without the host names clients use, or without any authentication, exits 2 saying what
    to set, before listening."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_AUTH", "WAN_OAUTH", "WAN_ALLOWED"))}
    result = await anyio.run_process(
        [
            sys.executable,
            "-m",
            "wan_video_mcp.server.cli",
            "serve",
            "--http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env={**clean, "WAN_PROVIDER": "simulator", "WAN_MCP_DATA_DIR": str(tmp_path), **env},
        cwd=str(REPO),
        check=False,
    )
    error = result.stderr.decode()
    assert (result.returncode, said in error) == (2, True), error


async def test_a_tokens_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    """Removing a token's line revokes it at the next request; a listed token names its principal."""
    path = tokens_file(tmp_path)
    tokens = StaticTokens(path)
    before = await tokens.verify_token(BOB)
    path.write_text(path.read_text().splitlines()[1] + "\n")  # alice's line only
    os.utime(path, ns=(1, 1))  # a change the file's stamp shows even within one clock tick
    after = await tokens.verify_token(BOB)
    alice = await tokens.verify_token(ALICE)
    assert (before and before.subject, after, alice and alice.subject) == ("bob", None, "alice")


@pytest.mark.parametrize("line", ["abc alice", "g" * 64 + " alice", hashlib.sha256(b"x").hexdigest(), "a b c"])
def test_a_malformed_tokens_line_is_refused_naming_its_number_not_its_content(line: str) -> None:
    """A line that is not '<sha256 hex> <principal>' stops the start naming the line number, never echoing it."""
    with pytest.raises(ValueError) as refused:
        parse_token_file(f"# ok\n{line}\n", "tokens")
    assert "tokens line 2" in str(refused.value) and line not in str(refused.value)


@asynccontextmanager
async def session(port: int, token: str) -> AsyncIterator[Client]:
    bearer = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    async with bearer, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=bearer)) as client:
        yield client


async def refused_reads(client: Client, known_id: str, *uris: str) -> dict[str, str]:
    """Each resource read as the client sees it: "refused" when the server says the id is not known, else what it
    said ("read" when it was served)."""
    reads = {}
    for uri in uris:
        try:
            await client.read_resource(uri)
            reads[uri] = "read"
        except Exception as exc:  # the SDK raises the server's error
            reads[uri] = "refused" if known_id in str(exc) and "known" in str(exc) else str(exc)
    return reads


def _said(result: object) -> str:
    content = getattr(result, "content", None) or []
    return " ".join(getattr(block, "text", "") for block in content)


async def test_each_principal_sees_only_its_own_tasks_and_videos(tmp_path: Path) -> None:
    """Alice's task and video are 'not found' for Bob through every tool and resource, worded as for an id that
    does not exist; her list shows it, his is empty; Bob cannot adopt her provider task id."""
    env = {"WAN_AUTH_TOKENS_FILE": str(tokens_file(tmp_path)), "WAN_SIM_QUEUE_SECONDS": "0", "WAN_SIM_RUN_SECONDS": "1"}
    async with serving(tmp_path, "--auth", "required", **env) as (port, _):
        async with session(port, ALICE) as alice:
            made = await alice.call_tool(
                "generate_video", {"prompt": "a lighthouse", "duration": 2, "wait_seconds": 30}
            )
            task = made.structured_content or {}
            theirs = await alice.call_tool("list_tasks", {})
        task_id, remote = task["task_id"], task.get("remote_task_id")
        ghost = "wan_" + "0" * 20
        async with session(port, BOB) as bob:
            calls = {
                name: await bob.call_tool(name, {"task_id": task_id})
                for name in ("check_task", "fetch_video", "cancel_task")
            }
            unknown = await bob.call_tool("check_task", {"task_id": ghost})
            by_remote = await bob.call_tool("check_task", {"task_id": remote})
            extend = await bob.call_tool("extend_video", {"task_id": task_id, "prompt": "more", "dry_run": True})
            mine = await bob.call_tool("list_tasks", {})
            reads = await refused_reads(
                bob, task_id, f"wan-video://tasks/{task_id}", f"wan-video://videos/{task_id}.mp4"
            )
    assert (made.is_error, task.get("status")) == (False, "succeeded"), _said(made)
    assert [t["task_id"] for t in (theirs.structured_content or {})["tasks"]] == [task_id]
    for name, result in calls.items():
        assert result.is_error and _said(result).replace(task_id, "ID") == _said(unknown).replace(ghost, "ID"), name
    assert by_remote.is_error and task_id not in _said(by_remote), _said(by_remote)
    assert extend.is_error and "known" in _said(extend), _said(extend)
    assert (mine.structured_content or {})["tasks"] == []
    assert set(reads.values()) == {"refused"}, reads


async def test_another_principals_storyboard_is_not_found_as_an_unknown_one(tmp_path: Path) -> None:
    """Alice's storyboard id, its JSON and its MP4 are 'not found' for Bob, worded as for an id that does not exist; an
    earlier video of Alice's is no input for Bob either; her storyboard is not in his list."""
    env = {"WAN_AUTH_TOKENS_FILE": str(tokens_file(tmp_path)), "WAN_SIM_QUEUE_SECONDS": "0", "WAN_SIM_RUN_SECONDS": "1"}
    shots = [{"prompt": "a gull", "duration": 2}, {"prompt": "a wave", "duration": 2}]
    async with serving(tmp_path, "--auth", "required", **env) as (port, _):
        async with session(port, ALICE) as alice:
            made = await alice.call_tool("generate_storyboard", {"shots": shots, "wait_seconds": 0})
            video = await alice.call_tool("generate_video", {"prompt": "a pier", "duration": 2, "wait_seconds": 30})
        board_id = (made.structured_content or {}).get("task_id") or (made.structured_content or {}).get(
            "storyboard_id"
        )
        video_id = (video.structured_content or {})["task_id"]
        ghost = "sb_" + "0" * 20
        async with session(port, BOB) as bob:
            calls = {name: await bob.call_tool(name, {"task_id": board_id}) for name in ("check_task", "fetch_video")}
            unknown = await bob.call_tool("check_task", {"task_id": ghost})
            retry = await bob.call_tool("generate_storyboard", {"storyboard_id": board_id, "retry_shot": 0})
            ghost_retry = await bob.call_tool("generate_storyboard", {"storyboard_id": ghost, "retry_shot": 0})
            as_input = await bob.call_tool(
                "generate_video",
                {
                    "model": "wan2.7-i2v",
                    "prompt": "on",
                    "media": [{"type": "first_frame", "url": f"wan-video://videos/{video_id}.mp4"}],
                    "dry_run": True,
                },
            )
            listed = await bob.call_tool("list_tasks", {})
            uris = (f"wan-video://storyboards/{board_id}", f"wan-video://storyboards/{board_id}.mp4")
            reads = await refused_reads(bob, board_id, *uris)
    assert not made.is_error and board_id and board_id.startswith("sb_"), _said(made)
    for name, result in calls.items():
        assert result.is_error and _said(result).replace(board_id, "ID") == _said(unknown).replace(ghost, "ID"), name
    assert retry.is_error and _said(retry).replace(board_id, "ID") == _said(ghost_retry).replace(ghost, "ID")
    assert as_input.is_error and f"{video_id}.mp4 names no task of this server" in _said(as_input), _said(as_input)
    assert (listed.structured_content or {}).get("tasks") == [], listed.structured_content
    assert set(reads.values()) == {"refused"}, reads
