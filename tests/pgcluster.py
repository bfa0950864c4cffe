"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests and benchmarks (a real server, never a mock).

``WAN_TEST_DATABASE_URL`` names a running server to use instead (``.ci/run`` starts one and exports it). Otherwise
``start_cluster`` runs ``initdb`` and ``pg_ctl`` from the PostgreSQL binaries it finds (Debian's ``postgresql``
package: ``/usr/lib/postgresql/<version>/bin``; or ``pg_config --bindir``), as the ``postgres`` user when run as
root (initdb refuses root). Run as a script it starts one and prints ``export WAN_TEST_DATABASE_URL=…`` and
``export WAN_TEST_PG_DIR=…`` (``.ci/run``); ``--stop "$WAN_TEST_PG_DIR"`` stops it; ``--find`` prints where the
binaries are (exit status 1: nowhere).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "WAN_TEST_DATABASE_URL"


def bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are, if anywhere."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    config = shutil.which("pg_config")
    if config:
        try:
            candidates.append(subprocess.run([config, "--bindir"], capture_output=True, text=True).stdout.strip())
        except OSError:
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    url: str  # postgresql://postgres@127.0.0.1:<port>/postgres
    directory: Path
    _bin: Path
    _as_postgres: bool
    _options: str = ""

    def halt(self) -> None:
        """Stop the server at once, keeping its data (``restart`` brings it back on the same port)."""
        _run(self._bin / "pg_ctl", ["-D", str(self.directory / "data"), "-m", "immediate", "stop"], self._as_postgres)

    def restart(self) -> None:
        data, log = str(self.directory / "data"), str(self.directory / "log")
        _run(
            self._bin / "pg_ctl",
            ["-D", data, "-l", log, "-o", self._options, "-w", "-t", "60", "start"],
            self._as_postgres,
        )

    def stop(self) -> None:
        _run(self._bin / "pg_ctl", ["-D", str(self.directory / "data"), "-m", "immediate", "stop"], self._as_postgres)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(program: Path, args: list[str], as_postgres: bool) -> None:
    command = [str(program), *args]
    if as_postgres:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")


def start_cluster(*, durable: bool = False) -> Cluster:
    """A new cluster in a temporary directory on a free loopback port (trust auth; ``durable``: fsync on)."""
    programs = bindir()
    if programs is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
    as_postgres = os.geteuid() == 0
    directory = Path(tempfile.mkdtemp(prefix="wan-pg-"))
    data, sockets = directory / "data", directory / "sock"
    sockets.mkdir()
    if as_postgres:
        shutil.chown(directory, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(directory, 0o755)
    port = _free_port()
    _run(
        programs / "initdb", ["-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], as_postgres
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=400"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    _run(
        programs / "pg_ctl",
        ["-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "-t", "60", "start"],
        as_postgres,
    )
    return Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", directory, programs, as_postgres, options)


@contextmanager
def server_url() -> Iterator[str]:
    """``WAN_TEST_DATABASE_URL`` when set, else a cluster started here (stopped after)."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    cluster = start_cluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new empty database on that server (dropped after): its URL."""
    import psycopg

    name = "wan_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop_cluster(directory: Path) -> None:
    """Stop a cluster ``start_cluster`` made (its directory, as the script printed it) and remove it."""
    programs = bindir()
    if programs is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
    Cluster("", directory, programs, os.geteuid() == 0).stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durable", action="store_true", help="keep fsync on")
    parser.add_argument("--find", action="store_true", help="print where the server binaries are (exit 1: nowhere)")
    parser.add_argument("--stop", metavar="DIR", type=Path, help="stop the cluster in DIR (WAN_TEST_PG_DIR)")
    args = parser.parse_args()
    if args.find:
        programs = bindir()
        if programs is None:
            return 1
        print(programs)
        return 0
    if args.stop is not None:
        stop_cluster(args.stop)
        return 0
    cluster = start_cluster(durable=args.durable)
    print(f"export {ENV_URL}={cluster.url}")
    print(f"export WAN_TEST_PG_DIR={cluster.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
