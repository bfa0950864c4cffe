"""The human commands: generate and fetch with progress, doctor, tasks, --version, ports that are taken."""

from __future__ import annotations

import os
import pty
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from wan_video_mcp.server.app import version
from wan_video_mcp.server.ports import SERVE_HTTP_PORT, SIMULATOR_PORT
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
CANARY = "sk-canary-cli-93e1aa"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "DASHSCOPE_"))}
    return subprocess.run(
        [sys.executable, "-m", "wan_video_mcp.server.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean | (env or {}),
    )


def test_version_prints_the_installed_version():
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"wan-video-mcp {version()}"


def test_tasks_says_so_when_nothing_is_recorded(tmp_path):
    done = cli("tasks", "--data-dir", str(tmp_path))
    assert done.returncode == 0 and "No tasks recorded yet" in done.stdout


def test_serve_http_and_simulate_default_to_different_ports():
    assert SERVE_HTTP_PORT != SIMULATOR_PORT
    assert f"default {SERVE_HTTP_PORT}" in cli("serve", "--help").stdout
    assert f"default {SIMULATOR_PORT}" in cli("simulate", "--help").stdout


@pytest.mark.parametrize("command", [["serve", "--http"], ["simulate"]])
def test_a_port_in_use_gets_one_line_of_explanation_and_a_free_port_to_try(tmp_path, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli(*command, "--port", str(port), env={"WAN_PROVIDER": "simulator", "WAN_MCP_DATA_DIR": str(tmp_path)})
    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if "already in use" in line]
    assert f"127.0.0.1:{port} is already in use" in line and "--port" in line
    assert "Traceback" not in done.stderr


def test_doctor_names_what_is_missing_and_fails(tmp_path):
    done = cli("doctor", env={"WAN_MCP_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 1
    assert "FAIL API key: DASHSCOPE_API_KEY is not set" in done.stdout
    assert "ok   data directory" in done.stdout and "ok   PyAV" in done.stdout


def test_doctor_reports_settings_that_do_not_parse_by_their_variable(tmp_path):
    done = cli("doctor", env={"WAN_MAX_WAIT_SECONDS": "soon", "WAN_MCP_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1 and "FAIL settings: invalid settings: WAN_MAX_WAIT_SECONDS='soon'" in done.stdout


def test_doctor_finds_a_data_directory_it_cannot_write(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    done = cli("doctor", env={"WAN_PROVIDER": "simulator", "WAN_MCP_DATA_DIR": str(blocked / "data")})
    assert done.returncode == 1 and "FAIL data directory" in done.stdout


@pytest.mark.anyio
async def test_doctor_online_asks_the_provider_and_tells_a_refused_key_from_an_accepted_one(tmp_path):
    async with Simulator(SimulatorConfig(required_key=CANARY)) as sim:
        env = {"DASHSCOPE_BASE_URL": sim.base_url, "WAN_MCP_DATA_DIR": str(tmp_path)}
        good = await anyio.to_thread.run_sync(
            lambda: cli("doctor", "--online", env=env | {"DASHSCOPE_API_KEY": CANARY})
        )
        bad = await anyio.to_thread.run_sync(
            lambda: cli("doctor", "--online", env=env | {"DASHSCOPE_API_KEY": "sk-wrong"})
        )
    assert good.returncode == 0 and "ok   provider: answered and accepted the key" in good.stdout
    assert bad.returncode == 1 and "FAIL provider: refused the key" in bad.stdout
    assert CANARY not in good.stdout + good.stderr


def test_generate_saves_the_video_with_plain_progress_lines_when_stdout_is_not_a_terminal(tmp_path):
    out = tmp_path / "clip.mp4"
    done = cli(
        "generate",
        "--provider",
        "simulator",
        "--data-dir",
        str(tmp_path / "data"),
        "--prompt",
        "a red kite over the dunes",
        "--duration",
        "2",
        "--resolution",
        "720P",
        "--out",
        str(out),
        env={"WAN_SIM_RUN_SECONDS": "3", "WAN_SIM_QUEUE_SECONDS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"[SIMULATED] Saved {out}" in done.stdout and "1280x720" in done.stdout
    assert "%]" in done.stdout and "\x1b[" not in done.stdout  # plain lines, no terminal control codes
    assert out.read_bytes()[4:8] == b"ftyp"


def test_generate_reports_a_bad_field_and_submits_nothing(tmp_path):
    done = cli("generate", "--provider", "simulator", "--data-dir", str(tmp_path), "--prompt", "x", "--duration", "99")
    assert done.returncode == 1 and "duration 99 is out of range" in done.stdout
    assert "No tasks recorded yet" in cli("tasks", "--data-dir", str(tmp_path)).stdout


def test_generate_draws_a_live_progress_bar_on_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wan_video_mcp.server.cli",
            "generate",
            "--provider",
            "simulator",
            "--data-dir",
            str(tmp_path / "data"),
            "--prompt",
            "a slow tide",
            "--duration",
            "2",
            "--resolution",
            "720P",
            "--out",
            str(tmp_path / "tide.mp4"),
        ],
        cwd=REPO,
        stdin=follower,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env={**os.environ, "WAN_SIM_RUN_SECONDS": "4", "COLUMNS": "100"},
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        screen += chunk
    assert process.wait(timeout=120) == 0
    os.close(leader)
    text = screen.decode(errors="replace")
    assert "━" in text and "Saved" in text  # rich's bar, then the result


@pytest.mark.anyio
async def test_ctrl_c_stops_waiting_keeps_the_task_and_fetch_resumes_it(tmp_path):
    async with Simulator(SimulatorConfig(queue_seconds=0.5, run_seconds=600, jitter=0.0, fps=4)) as sim:
        env = {
            **os.environ,
            "WAN_PROVIDER": "dashscope",
            "DASHSCOPE_API_KEY": "sk-test",
            "DASHSCOPE_BASE_URL": sim.base_url,
            "WAN_MCP_DATA_DIR": str(tmp_path / "data"),
        }
        process = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "wan_video_mcp.server.cli",
                "generate",
                "--prompt",
                "an endless render",
                "--duration",
                "2",
                "--resolution",
                "720P",
            ],
            cwd=str(REPO),
            env=env,
        )
        with anyio.fail_after(60):
            while sim.stats.submits_accepted == 0 or not _task_ids(tmp_path / "data"):
                await anyio.sleep(0.1)
        await anyio.sleep(1)
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(60):
            code = await process.wait()
        assert process.stdout is not None
        output = (await process.stdout.receive()).decode()
        [task_id] = _task_ids(tmp_path / "data")
        assert code == 130 and f"wan-video-mcp fetch {task_id}" in output, output
        sim.advance(700)
        fetched = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "wan_video_mcp.server.cli",
                "fetch",
                task_id,
                "--out",
                str(tmp_path / "resumed.mp4"),
            ],
            cwd=str(REPO),
            env=env,
            check=False,
        )
    assert fetched.returncode == 0, fetched.stdout.decode() + fetched.stderr.decode()
    assert (tmp_path / "resumed.mp4").stat().st_size > 0
    assert sim.stats.submits == 1


def _task_ids(data_dir: Path) -> list[str]:
    db = data_dir / "tasks.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM tasks WHERE remote_id IS NOT NULL")]
