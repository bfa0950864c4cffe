"""Throughput and peak memory of ``wan_video_mcp.server.jobs.downloads.download`` over loopback.

A child process serves a body of ``--size-mb`` MB (with Content-Length) from
127.0.0.1 on an ephemeral port; this process downloads it with ``download()``
into a temporary directory ``--runs`` times and prints MB/s per run and the
peak RSS of this process (the server's memory is not counted).

``--compare-writers`` instead times the two ways of keeping file writes off
the event loop on a 50 MB body: ``anyio.open_file`` (one thread hop per
network chunk, hash on the loop) against ``download()`` itself (hash and write
in a worker thread once per 1 MiB batch).

Run from the repository root:

    .venv/bin/python -m tests.benchmarks.bench_download [--size-mb 200] [--runs 3]
    .venv/bin/python -m tests.benchmarks.bench_download --compare-writers
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from wan_video_mcp.server.jobs.downloads import download

MB = 1024**2
BLOCK = bytes(range(256)) * 4096  # 1 MiB of a repeating pattern


def serve(size: int, ports: multiprocessing.Queue[int]) -> None:
    """Serve ``size`` bytes to every GET on 127.0.0.1 until terminated."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size
            )
            block, sent = memoryview(BLOCK), 0
            while sent < size:
                n = min(len(block), size - sent)
                writer.write(block[:n])
                sent += n
                await writer.drain()
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


async def via_open_file(client: httpx.AsyncClient, url: str, dest: Path) -> None:
    """The alternative writer: anyio's async file, one thread hop per chunk."""
    hasher = hashlib.sha256()
    async with client.stream("GET", url) as response:
        async with await anyio.open_file(dest, "wb") as fh:
            async for chunk in response.aiter_bytes():
                hasher.update(chunk)
                await fh.write(chunk)
            await fh.flush()
            await anyio.to_thread.run_sync(os.fsync, fh.wrapped.fileno())


async def via_download(client: httpx.AsyncClient, url: str, dest: Path) -> None:
    await download(client, url, dest)


async def timed_runs(
    url: str, size: int, runs: int, fn: Callable[[httpx.AsyncClient, str, Path], Awaitable[None]]
) -> list[float]:
    speeds = []
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        dest = Path(tmp) / "video.mp4"
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            for _ in range(runs):
                started = time.perf_counter()
                await fn(client, url, dest)
                speeds.append(size / MB / (time.perf_counter() - started))
                assert dest.stat().st_size == size
                dest.unlink()
    return speeds


async def bench(url: str, size: int, runs: int) -> None:
    before = peak_rss_mb()
    speeds = await timed_runs(url, size, runs, via_download)
    print(f"download() of {size / MB:.0f} MB over loopback, {runs} runs")
    print(f"  throughput MB/s: median {statistics.median(speeds):.1f}  runs {[round(s, 1) for s in speeds]}")
    print(f"  peak RSS: {peak_rss_mb():.1f} MB (before the first download: {before:.1f} MB)")


async def compare(url: str, size: int, runs: int) -> None:
    print(f"file writers on a {size / MB:.0f} MB body, {runs} runs each, alternating")
    results: dict[str, list[float]] = {"anyio.open_file": [], "to_thread per 1 MiB batch": []}
    for _ in range(runs):
        results["anyio.open_file"] += await timed_runs(url, size, 1, via_open_file)
        results["to_thread per 1 MiB batch"] += await timed_runs(url, size, 1, via_download)
    for name, speeds in results.items():
        print(f"  {name:26s} median {statistics.median(speeds):6.1f} MB/s  runs {[round(s) for s in speeds]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=None, help="body size (default 200, or 50 with --compare)")
    parser.add_argument("--runs", type=int, default=None, help="runs (default 3, or 5 with --compare)")
    parser.add_argument("--compare-writers", action="store_true", help="compare anyio.open_file with download()")
    args = parser.parse_args()
    size_mb = args.size_mb or (50 if args.compare_writers else 200)
    runs = args.runs or (5 if args.compare_writers else 3)
    size = size_mb * MB

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(size, ports), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=10)}/video.mp4?Signature=not-logged"
        anyio.run(compare if args.compare_writers else bench, url, size, runs)
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
