"""What the local-input path costs on this machine: staging, inspecting and uploading a local file.

Each measurement has a baseline timed in the same process, side by side:

1. Staging: ``stage_local_file`` (open, check, copy into a fresh staging folder while hashing with sha256) of a
   file of ``--size-mb`` MB of random bytes, against ``shutil.copyfile`` followed by ``hashlib.file_digest``
   (sha256) of the same file; the two alternate, ``--runs`` each. The file is in the page cache for both.
2. Inspecting: ``inspect_file`` (PyAV) on a real H.264 MP4 (``tests.media_files.mp4``, 10 s at 1280x720) and a
   1920x1080 PNG, against ``formats.measure`` (the header readers and mutagen used for remote URLs) on an open
   file; the median of ``max(--runs, 5)`` calls each, opening the file included.
3. Uploading: the simulator in this process on 127.0.0.1, ``TemporaryUploads.upload`` of the ``--size-mb`` file
   ``--runs`` times (one getPolicy, then the policy is reused), against the same bytes, held in memory, posted
   as one multipart form with ``client.post(upload_host, data=form, files=...)`` after a fresh getPolicy each
   (the getPolicy is inside the baseline's time). The peak RSS of this process (``ru_maxrss``) is printed
   before the uploads, after ``TemporaryUploads`` and after the baseline. The simulator runs on the same event
   loop and in the same process: it buffers each request body whole (several copies while it parses the
   form), so those peaks count the server's memory too. Each stored object is checked (size, sha256) and its
   bytes then dropped, so that stored uploads do not pile up in this process across runs.

Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_local_inputs [--size-mb 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.media_files import RED, mp4, png
from tests.test_simulator_uploads import form_of
from wan_video_mcp.server.media.formats import measure
from wan_video_mcp.server.media.inspect import inspect_file
from wan_video_mcp.server.media.local import MediaRoots, stage_local_file
from wan_video_mcp.server.providers.dashscope.upload import TemporaryUploads
from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

MB = 1024**2
MODEL = "wan2.7-i2v"  # a model files can be uploaded for
API_KEY = "sk-bench"
MP4_SECONDS, MP4_SIZE = 10.0, (1280, 720)
PNG_SIZE = (1920, 1080)  # PNG width: a multiple of 32
MAX_UPLOAD_MB = 90  # the simulator refuses files over 100 MB (its upload_max_file_mb)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path`` 1 MiB at a time; their sha256."""
    sha = hashlib.sha256()
    with path.open("wb") as out:
        written = 0
        while written < size:
            block = os.urandom(min(MB, size - written))
            sha.update(block)
            out.write(block)
            written += len(block)
    return sha.hexdigest()


def print_rates(size: int, rows: list[tuple[str, list[float]]]) -> None:
    """One line per timed step: median MB/s, median ms, each run's MB/s."""
    for name, times in rows:
        speeds = [size / MB / t for t in times]
        print(
            f"   {name:28s} {statistics.median(speeds):7.1f} MB/s  {median_ms(times):7.1f} ms  "
            f"runs MB/s {[round(s) for s in speeds]}"
        )


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


# ---- 1. staging


def bench_staging(folder: Path, source: Path, size: int, sha: str, runs: int) -> None:
    roots = MediaRoots((folder,), ())
    stage_times: list[float] = []
    copy_times: list[float] = []
    for i in range(runs):  # alternating, so that writeback and cache effects fall on both
        staging_dir = folder / f"staging-{i}"  # fresh: a staged copy already there would be reused, not copied
        started = time.perf_counter()
        staged = stage_local_file(str(source), source, roots=roots, max_bytes=2 * size, staging_dir=staging_dir)
        stage_times.append(time.perf_counter() - started)
        assert (staged.sha256, staged.size_bytes, staged.staged.stat().st_size) == (sha, size, size)
        shutil.rmtree(staging_dir)

        copy = folder / f"copy-{i}.bin"
        started = time.perf_counter()
        shutil.copyfile(source, copy)
        with source.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        copy_times.append(time.perf_counter() - started)
        assert digest == sha and copy.stat().st_size == size
        copy.unlink()

    print(f"1. staging a {size / MB:.0f} MB file of random bytes, {runs} runs each, alternating")
    print_rates(size, [("stage_local_file", stage_times), ("baseline copyfile + sha256", copy_times)])
    ratio = statistics.median(stage_times) / statistics.median(copy_times)
    print(f"   ratio (median time, stage_local_file / baseline): {ratio:.2f}x")


# ---- 2. inspecting


def timed_calls(fn: Callable[[], Any], calls: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(calls):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def described(found: Any) -> str:
    size = f" {found.width}x{found.height}" if found.width else ""
    seconds = f" {found.seconds:g} s" if found.seconds else ""
    problem = f" PROBLEM: {found.problem}" if found.problem else ""
    return f"{found.format}{seconds}{size}{problem}"


def bench_inspecting(folder: Path, runs: int) -> None:
    calls = max(runs, 5)
    started = time.perf_counter()
    video = folder / "clip.mp4"
    video.write_bytes(mp4(MP4_SECONDS, MP4_SIZE))
    made_video = time.perf_counter() - started
    image = folder / "frame.png"
    image.write_bytes(png(*PNG_SIZE, RED))

    print(f"2. inspecting, median of {calls} calls each (opening the file included)")
    print(
        f"   MP4: H.264 {MP4_SECONDS:g} s at {MP4_SIZE[0]}x{MP4_SIZE[1]}, 8 fps, {video.stat().st_size / 1024:.0f} KiB "
        f"(made in {made_video:.1f} s); PNG: {PNG_SIZE[0]}x{PNG_SIZE[1]}, {image.stat().st_size / 1024:.0f} KiB"
    )
    for label, path in (("MP4", video), ("PNG", image)):
        size = path.stat().st_size

        def with_pyav(path: Path = path, size: int = size) -> Any:
            return inspect_file(path, str(path), size)

        def with_headers(path: Path = path) -> Any:
            with path.open("rb") as fh:
                return measure(fh, str(path))

        pyav_times, pyav = timed_calls(with_pyav, calls)
        header_times, headers = timed_calls(with_headers, calls)
        print(
            f"   {label} inspect_file               {median_ms(pyav_times):7.2f} ms  "
            f"(min {min(pyav_times) * 1000:.2f})  -> {described(pyav)}"
        )
        print(
            f"   {label} baseline formats.measure   {median_ms(header_times):7.2f} ms  "
            f"(min {min(header_times) * 1000:.2f})  -> {described(headers)}"
        )
        ratio = statistics.median(pyav_times) / statistics.median(header_times)
        print(f"   {label} ratio (median time, inspect_file / measure): {ratio:.1f}x")


# ---- 3. uploading


def check_and_drop(sim: Simulator, size: int, sha: str) -> None:
    """Every stored object is the whole file; then its bytes are dropped (they stay in this process otherwise)."""
    for stored in sim.uploads:
        if stored.data:
            assert (stored.size, stored.sha256) == (size, sha), (stored.key, stored.size)
            stored.data = b""


async def bench_uploading(source: Path, size: int, sha: str, runs: int) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with Simulator(SimulatorConfig(jitter=0.0)) as sim:
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            uploads = TemporaryUploads(
                client,
                base_url=sim.base_url,
                api_key=API_KEY,
                headers=lambda: dict(auth),
                region="intl",
                default_host=False,
            )
            before = peak_rss_mb()
            streamed: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                done = await uploads.upload(MODEL, source, sha)
                streamed.append(time.perf_counter() - started)
                assert done.url.startswith("oss://dashscope-instant/"), done
                check_and_drop(sim, size, sha)
            after_streamed = peak_rss_mb()
            policies_streamed = sim.stats.policies

            data = source.read_bytes()  # the baseline posts bytes held in memory (read outside the timing)
            mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
            posted: list[float] = []
            for i in range(runs):
                started = time.perf_counter()
                answer = await client.get(
                    f"{sim.base_url}/uploads", params={"action": "getPolicy", "model": MODEL}, headers=auth
                )
                assert answer.status_code == 200, answer.text
                policy = answer.json()["data"]
                name = f"baseline-{i}{source.suffix}"
                form = form_of(policy, name, {"x-oss-content-type": mime})
                response = await client.post(policy["upload_host"], data=form, files={"file": (name, data, mime)})
                posted.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                check_and_drop(sim, size, sha)
            del data
            after_posted = peak_rss_mb()
            stats = sim.stats.snapshot()

    assert policies_streamed == 1, policies_streamed  # TemporaryUploads reuses its policy
    assert stats["uploads"] == 2 * runs and stats["upload_bytes"] == 2 * runs * size, stats
    assert stats["policies"] == 1 + runs, stats

    print(f"3. uploading the {size / MB:.0f} MB file to the in-process simulator on 127.0.0.1, {runs} runs each")
    print_rates(size, [("TemporaryUploads.upload", streamed), ("baseline client.post(files=)", posted)])
    ratio = statistics.median(streamed) / statistics.median(posted)
    print(f"   ratio (median time, TemporaryUploads / baseline): {ratio:.2f}x")
    print(
        f"   peak RSS of this process (client and simulator): {before:.1f} MB before the uploads, "
        f"{after_streamed:.1f} MB after TemporaryUploads (+{after_streamed - before:.1f}), "
        f"{after_posted:.1f} MB after the baseline (+{after_posted - after_streamed:.1f})"
    )
    print(
        f"   simulator stats: policies {stats['policies']}, uploads {stats['uploads']} "
        f"({stats['upload_bytes'] / MB:.0f} MB), requests {stats['requests']}, connections {stats['connections']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--size-mb", type=int, default=50, help=f"file size to stage and upload (default 50, at most {MAX_UPLOAD_MB})"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (default 3; inspecting: >= 5)")
    args = parser.parse_args()
    if not 1 <= args.size_mb <= MAX_UPLOAD_MB:
        parser.error(f"--size-mb must be between 1 and {MAX_UPLOAD_MB} (the simulator takes uploads up to 100 MB)")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    size = args.size_mb * MB

    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    print(f"local inputs on {system}")
    with tempfile.TemporaryDirectory(prefix="bench-local-inputs-") as tmp:
        folder = Path(os.path.realpath(tmp))
        source = folder / "random.mp4"  # random bytes; the suffix only sets the upload's content type
        sha = write_random(source, size)
        bench_staging(folder, source, size, sha, args.runs)
        bench_inspecting(folder, args.runs)
        anyio.run(bench_uploading, source, size, sha, args.runs)


if __name__ == "__main__":
    main()
