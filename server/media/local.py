"""Local media inputs: which values name a file on this machine, which files may be read, and a snapshot of each.

An agent may give a media input as an absolute path or a ``file://`` URI. Only files inside the allowed folders
(``MediaRoots``: the setting WAN_MEDIA_ROOTS and the server's own videos folder) are read, and only regular files.
``stage_local_file`` opens the file once, checks what it opened (not the name, which may change meanwhile), and
copies its bytes into a staging folder under their sha256: what is measured and uploaded later is that copy, so
the bytes sent are the bytes checked even when the original changes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from wan_video_mcp.server.media.ranges import megabytes

__all__ = ["LocalInputRefused", "MediaRoots", "StagedFile", "local_path", "remove_stale_staged", "stage_local_file"]

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer. O_NOFOLLOW: a symbolic link swapped
# in after realpath() fails to open. O_NOCTTY: a terminal never becomes the server's controlling terminal.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_TEMP_PREFIX = ".staging-"
_SUFFIX = re.compile(r"\.[a-z0-9]{1,16}")
_STAGED_NAME = re.compile(r"[0-9a-f]{64}(\.[a-z0-9]{1,16})?")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_NUL = "contains a NUL byte, which no file name can hold; give the file's absolute path"
_HOW_TO_ALLOW = (
    "to allow a folder, add it to WAN_MEDIA_ROOTS (folders separated by ':') in the server's environment "
    "and restart the server"
)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class LocalInputRefused(Exception):
    """Why a local input cannot be used. ``problem`` is one sentence naming the path and what is allowed, with
    no field name (the caller prefixes the field)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def local_path(text: str) -> Path | None:
    """The path a media value names when it is a local form (an absolute path or a ``file://`` URI), else None.

    Raises ``LocalInputRefused`` for a value that looks local but cannot be used as given: a relative path, a
    ``~`` path, a ``file://`` URI naming another host, a NUL byte.
    """
    if "\0" in text:
        raise LocalInputRefused(f"{_quoted(text)} {_NUL}")
    if text.startswith("/"):
        return Path(text)
    if text.startswith("~"):
        raise LocalInputRefused(
            f"{_quoted(text)} starts with '~', which this server does not expand; give an absolute path"
        )
    scheme = _SCHEME.match(text)
    if scheme is None:
        if not text.strip():
            return None
        raise LocalInputRefused(
            f"{_quoted(text)} is a relative path, and this server has no folder to resolve it against; "
            "give an absolute path (/home/you/cat.png) or a file:// URI"
        )
    name = scheme.group(1).lower()
    if len(name) == 1:  # C:\... or C:/...: a Windows path, which resolves to nothing readable here
        return Path(text)
    if name != "file":
        return None
    return _file_uri_path(text)


def _file_uri_path(text: str) -> Path:
    rest = text[len("file:") :]
    if rest.startswith("//"):
        host, slash, tail = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise LocalInputRefused(
                f"{_quoted(text)} names the host {_quoted(host)}; only files on this machine can be read "
                "(file:///path or file://localhost/path)"
            )
        rest = slash + tail
    # The rest is taken literally, '?' and '#' included (a file name may hold them); bytes that are not UTF-8
    # decode as the file system would (surrogateescape).
    path = os.fsdecode(urllib.parse.unquote_to_bytes(rest))
    if "\0" in path:
        raise LocalInputRefused(f"{_quoted(text)} {_NUL}")
    if not path.startswith("/"):
        raise LocalInputRefused(f"{_quoted(text)} does not name an absolute path; write it as file:///absolute/path")
    return Path(path)


def _quoted(text: str) -> str:
    """``text`` quoted for a message, cut to 80 characters (a value may be a whole file's worth of base64)."""
    return repr(text if len(text) <= 80 else text[:79] + "…")


@dataclass(frozen=True)
class MediaRoots:
    """The folders this server may read media from."""

    roots: tuple[Path, ...]  # from the setting WAN_MEDIA_ROOTS, as given
    always: tuple[Path, ...]  # always readable: the data directory's own videos folder

    def describe(self) -> str:
        """The allowed folders for a message: "/home/u/Pictures, /data/videos (the server's own videos)"."""
        own = ", ".join(str(p) for p in self.always)
        if not self.roots:
            unset = "WAN_MEDIA_ROOTS is not set"
            return f"only {own} (the server's own videos; {unset})" if own else f"no folder ({unset})"
        given = ", ".join(str(p) for p in self.roots)
        return f"{given}, {own} (the server's own videos)" if own else given

    def allowed(self, real: Path) -> bool:
        """Whether ``real`` (already resolved) lies inside one of the roots, themselves resolved.

        A relative root (never what the setting should hold) and a root that does not exist never match.
        """
        for root in (*self.roots, *self.always):
            if not root.is_absolute():
                continue
            resolved = Path(os.path.realpath(root))
            try:
                is_folder = resolved.is_dir()
            except OSError:  # a folder this server may not even look at allows nothing
                continue
            if is_folder and real.is_relative_to(resolved):  # by components: /a/b2 is not inside /a/b
                return True
        return False


@dataclass(frozen=True)
class StagedFile:
    """The immutable copy of a local input that was checked, and what was checked."""

    source: str  # the value as the agent gave it
    path: Path  # the real path that was read
    staged: Path  # the copy: staging_dir / f"{sha256}{suffix}"
    sha256: str
    size_bytes: int
    suffix: str  # the real path's suffix in lower case ('.png'), '' when none (or not a plain one)


def stage_local_file(source: str, path: Path, *, roots: MediaRoots, max_bytes: int, staging_dir: Path) -> StagedFile:
    """Check the file at ``path`` and copy its bytes into ``staging_dir`` under their sha256; synchronous.

    Raises ``LocalInputRefused`` when the file may not or cannot be used (outside the roots, not a regular
    file, missing, unreadable, empty, larger than ``max_bytes``), and ``OSError`` when the staging folder
    cannot be written (the server's problem, not the input's).
    """
    shown = str(path)
    if "\0" in shown:
        raise LocalInputRefused(f"{_quoted(shown)} {_NUL}")
    if not path.is_absolute():
        raise LocalInputRefused(f"{shown} is not an absolute path on this server; give an absolute path")
    real = Path(os.path.realpath(path))
    if not roots.allowed(real):
        really = f" (really {real})" if real != path else ""
        raise LocalInputRefused(
            f"{shown}{really} is outside the folders this server may read media from: {roots.describe()}; "
            f"{_HOW_TO_ALLOW}"
        )
    fd = _open(shown, real)
    try:
        opened = os.fstat(fd)
        _refuse_non_regular(shown, opened)
        _check_opened(shown, fd, real, opened, roots)
        if opened.st_size == 0:
            raise LocalInputRefused(f"{shown} is empty (0 bytes); give a media file")
        if opened.st_size > max_bytes:
            raise LocalInputRefused(
                f"{shown} is {megabytes(opened.st_size)}, larger than the {megabytes(max_bytes)} this input may be"
            )
        suffix = real.suffix.lower() if _SUFFIX.fullmatch(real.suffix.lower()) else ""
        staged, digest, size = _copy(shown, fd, max_bytes, staging_dir, suffix)
    finally:
        os.close(fd)
    logger.debug("staged %s (%d bytes) as %s", shown, size, staged.name)
    return StagedFile(source, real, staged, digest, size, suffix)


def _open(shown: str, real: Path) -> int:
    """``real`` opened for reading; refused first when it is not a regular file (opening a device can act)."""
    try:
        _refuse_non_regular(shown, os.stat(real))
        return os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise LocalInputRefused(_open_problem(shown, exc)) from exc


def _refuse_non_regular(shown: str, found: os.stat_result) -> None:
    if stat.S_ISREG(found.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a regular file")
    raise LocalInputRefused(f"{shown} is {kind}; only regular files can be used as media")


def _open_problem(shown: str, exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"{shown}: no such file; check the path (it must be an absolute path to an existing file)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{shown} cannot be read: permission denied for the user the server runs as"
    if exc.errno == errno.ELOOP:
        return f"{shown} was replaced by a symbolic link while it was being opened; try again"
    if exc.errno == errno.ENXIO:
        return f"{shown} is a socket or a device, not a regular file; only regular files can be used as media"
    return f"{shown} could not be opened ({exc.strerror or exc})"


def _check_opened(shown: str, fd: int, real: Path, opened: os.stat_result, roots: MediaRoots) -> None:
    """Refuse when what was opened is no longer inside the roots (a folder on the path was swapped meanwhile)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc (macOS): the path must still resolve to itself, and name the very file opened
        try:
            unchanged = Path(os.path.realpath(real)) == real and roots.allowed(real)
            now = os.stat(real, follow_symlinks=False)
        except OSError:
            unchanged, now = False, None
        same = unchanged and now is not None and (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)
    else:
        same = target.startswith("/") and roots.allowed(Path(target.removesuffix(" (deleted)")))
    if not same:
        raise LocalInputRefused(
            f"{shown} changed while it was being opened (it no longer lies inside the allowed folders: "
            f"{roots.describe()}); try again"
        )


def _copy(shown: str, fd: int, max_bytes: int, staging_dir: Path, suffix: str) -> tuple[Path, str, int]:
    """Copy at most ``max_bytes`` from ``fd`` into ``staging_dir``: the staged path, the sha256, the size."""
    os.makedirs(staging_dir, mode=0o700, exist_ok=True)
    temp_fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=staging_dir)
    temp = Path(temp_name)
    try:
        with os.fdopen(temp_fd, "wb") as out:
            digest, size = _read_into(shown, fd, out, max_bytes)
        os.chmod(temp, 0o400)
        staged = staging_dir / f"{digest}{suffix}"
        try:
            existing = os.stat(staged, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISREG(existing.st_mode) and existing.st_size == size:
            temp.unlink()
            os.utime(staged)  # fresh again, so that remove_stale_staged leaves it to whoever uses it now
        else:
            os.replace(temp, staged)  # atomic: a concurrent staging of the same bytes leaves one whole copy
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return staged, digest, size


def _read_into(shown: str, fd: int, out: IO[bytes], max_bytes: int) -> tuple[str, int]:
    """Copy ``fd`` to ``out`` until its end or one byte past ``max_bytes``: the sha256 and the size."""
    sha = hashlib.sha256()
    size = 0
    while size <= max_bytes:
        try:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
        except OSError as exc:
            raise LocalInputRefused(f"{shown} could not be read ({exc.strerror or exc})") from exc
        if not chunk:
            break
        sha.update(chunk)
        out.write(chunk)
        size += len(chunk)
    if size > max_bytes:
        raise LocalInputRefused(
            f"{shown} grew beyond the {megabytes(max_bytes)} this input may be while it was being read"
        )
    if size == 0:
        raise LocalInputRefused(f"{shown} was emptied while it was being read; give a media file")
    return sha.hexdigest(), size


def remove_stale_staged(staging_dir: Path, older_than_seconds: float, now: float | None = None) -> int:
    """Delete staged copies (and leftover temp files) older than ``older_than_seconds``; the number removed.

    Only names this module writes are touched (a sha256 with a suffix, or a temp file), so a misconfigured
    folder loses nothing else. A missing folder removes nothing.
    """
    cutoff = (time.time() if now is None else now) - older_than_seconds
    removed = 0
    try:
        entries = list(os.scandir(staging_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        ours = _STAGED_NAME.fullmatch(entry.name) or entry.name.startswith(_TEMP_PREFIX)
        try:
            if not ours or not entry.is_file(follow_symlinks=False):
                continue
            # A fresh stat, not the listing's: a copy reused (and so refreshed) since the listing stays.
            if os.stat(entry.path, follow_symlinks=False).st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:  # removed meanwhile by another cleanup
            continue
        removed += 1
    return removed
