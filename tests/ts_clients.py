"""The Node side of the test suite: the TypeScript MCP clients hosts embed, the conformance suite, the MCPB CLI.

``.ci/run`` installs ``tests/clients`` with ``npm ci``; when a developer's checkout
has Node but not the modules (or a stale install), the first test that needs them
runs ``npm ci`` itself. Without Node the tests that need it are skipped, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

CLIENTS = Path(__file__).resolve().parent / "clients"
MODULES = CLIENTS / "node_modules"
HARNESS = CLIENTS / "harness.mjs"
NODE22 = MODULES / "node" / "bin" / "node"  # the conformance suite and mcpb use Node 22 APIs
CONFORMANCE = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
MCPB_CLI = MODULES / "@anthropic-ai" / "mcpb" / "dist" / "cli" / "cli.js"
MCPB_SCHEMAS = MODULES / "@anthropic-ai" / "mcpb" / "schemas"
MIN_NODE = 20


def node() -> str:
    """The system Node (>= 20), as hosts run it; skips the calling test, loudly, where there is none."""
    path = shutil.which("node")
    if path is None:
        pytest.skip(
            "NODE IS NOT INSTALLED: the TypeScript-client, conformance and MCPB tests did not run "
            f"(install Node >= {MIN_NODE} to run them; CI has it)"
        )
    major = int(
        subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
        .stdout.strip()
        .lstrip("v")
        .split(".")[0]
    )
    if major < MIN_NODE:
        pytest.skip(f"NODE {major} IS TOO OLD: the TypeScript-client tests need Node >= {MIN_NODE}")
    _ensure_modules()
    return path


def _ensure_modules() -> None:
    lock, installed = CLIENTS / "package-lock.json", MODULES / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime and NODE22.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("Node is installed but npm is not: run `npm ci` in tests/clients")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"`npm ci` in tests/clients failed:\n{done.stderr[-2000:]}")


def server_env(data_dir: Path, **env: str) -> dict[str, str]:
    """A stdio server's environment as a host passes it: only what its configuration names.

    The transports add HOME, PATH and a few more of their own, as hosts do; the server runs the code under test
    because the test virtualenv installs the checkout in editable mode.
    """
    return {"WAN_MCP_DATA_DIR": str(data_dir), "WAN_LOG_LEVEL": "DEBUG"} | env


def python_server(data_dir: Path, **env: str) -> dict[str, Any]:
    """The server under test, started as `python -m server.cli serve` from the checkout."""
    return {
        "command": sys.executable,
        "args": ["-m", "wan_video_mcp.server.cli", "serve"],
        "env": server_env(data_dir, **env),
        "cwd": str(CLIENTS.parent.parent),
    }


# Where each client exports the timeout it gives a request that sets none.
PROTOCOL_MODULES = {"v1": "@modelcontextprotocol/sdk/shared/protocol.js", "v2": "@modelcontextprotocol/client"}


async def default_request_timeouts_ms() -> dict[str, int]:
    """Each TypeScript client's DEFAULT_REQUEST_TIMEOUT_MSEC, read from the installed SDK."""
    script = (
        f"const modules = {json.dumps(PROTOCOL_MODULES)};\n"
        "const out = {};\n"
        "for (const [client, name] of Object.entries(modules)) {\n"
        "  out[client] = (await import(name)).DEFAULT_REQUEST_TIMEOUT_MSEC;\n"
        "}\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    done = await anyio.run_process([node(), "--input-type=module", "-e", script], cwd=str(CLIENTS))
    timeouts: dict[str, int] = json.loads(done.stdout.decode())
    return timeouts


async def run_plan(
    client: str, server: dict[str, Any], steps: list[dict[str, Any]], timeout: float = 600
) -> dict[str, Any]:
    """Run steps with one TypeScript client ("v1": @modelcontextprotocol/sdk, "v2": @modelcontextprotocol/client)."""
    plan = json.dumps({"client": client, "server": server, "steps": steps})
    with anyio.fail_after(timeout):
        done = await anyio.run_process(
            [node(), str(HARNESS), "/dev/stdin"],
            input=plan.encode(),
            check=False,
            cwd=str(CLIENTS),
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
    if done.returncode != 0:
        raise AssertionError(f"the {client} harness failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return report
