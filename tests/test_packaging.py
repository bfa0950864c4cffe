"""The distribution installs one import package, wan_video_mcp, holding every source module, and nothing else.

The wheel is built offline from the checkout (the test virtualenv's own setuptools, no build isolation) and
installed into a fresh virtualenv; the test compares that virtualenv's site-packages with a bare one's.
"""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from wan_video_mcp.server import __version__

REPO = Path(__file__).resolve().parent.parent


def _site_packages(env_dir: Path) -> Path:
    (found,) = env_dir.glob("lib/python3*/site-packages")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    # A copy of the working tree, so the build's own build/ and *.egg-info never land in the checkout.
    source = work / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__"),
    )
    wheels = work / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("wan_video_mcp-*.whl")
    env_dir = work / "fresh"
    venv.create(env_dir, with_pip=False)  # the test venv's pip installs into it (--python): seconds, not tens
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return env_dir


def test_the_wheel_installs_one_import_package_named_after_the_distribution(installed: Path) -> None:
    bare = installed.parent / "bare"
    venv.create(bare, with_pip=False)
    before = {p.name for p in _site_packages(bare).iterdir()}
    after = {p.name for p in _site_packages(installed).iterdir()}
    added = {name for name in after - before if not name.endswith(".dist-info")}
    assert added == {"wan_video_mcp"}
    assert {p.name for p in (_site_packages(installed) / "wan_video_mcp").iterdir()} == {"server", "tools"}


def _source_files() -> set[str]:
    """The package's files in the repository: those git tracks where there is a checkout (so a data file the
    code needs but git ignores fails here, not in a fresh clone), else every file under server/ and tools/."""
    tracked = subprocess.run(
        ["git", "ls-files", "server", "tools"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if tracked.returncode == 0 and tracked.stdout.strip():
        return set(tracked.stdout.split())
    return {
        f"{top}/{p.relative_to(REPO / top)}"
        for top in ("server", "tools")
        for p in (REPO / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_every_source_file_is_in_the_installed_package_and_tracked(installed: Path) -> None:
    package = _site_packages(installed) / "wan_video_mcp"
    shipped = {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == _source_files()


def test_the_console_script_runs_the_packaged_cli(installed: Path) -> None:
    script = (installed / "bin" / "wan-video-mcp").read_text()
    assert "from wan_video_mcp.server.cli import main" in script


def test_the_distribution_version_is_the_one_written_in_the_code(installed: Path) -> None:
    (dist_info,) = _site_packages(installed).glob("wan_video_mcp-*.dist-info")
    metadata = (dist_info / "METADATA").read_text()
    assert f"\nVersion: {__version__}\n" in metadata
