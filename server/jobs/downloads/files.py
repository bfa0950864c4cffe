"""Where a video lives on disk and how it gets there whole: task file names, temporary part files,
the atomic rename, and removing the parts a stopped process left behind.

The blocking helpers here run in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

VIDEO_DIR = "videos"
VIDEO_SUFFIX = ".mp4"
PART_SUFFIX = ".part"
PART_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A part tag that names a server process (the engine's instance ids).
_INSTANCE_TAG = re.compile(r"p_[0-9a-f]{12}")
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def video_path(data_dir: Path, task_id: str) -> Path:
    """The local file for a task's video: ``<data_dir>/videos/<task_id>.mp4``."""
    # fullmatch, not match with "$": "$" also accepts a trailing newline.
    if not _TASK_ID.fullmatch(task_id):
        raise ValueError(f"not a valid task id for a file name: {task_id!r}")
    root = Path(data_dir).resolve()
    path = (root / VIDEO_DIR / f"{task_id}{VIDEO_SUFFIX}").resolve()
    # The pattern already rules out separators; this also catches a symlinked
    # videos directory that points outside the data directory.
    if not path.is_relative_to(root):
        raise ValueError(f"video path for task {task_id!r} escapes the data directory")
    return path


def part_owner(part: Path) -> str | None:
    """The process that writes a ``<task>.<instance>.<random>.part`` file (None: an untagged one)."""
    pieces = part.name.split(".")
    return pieces[-3] if len(pieces) >= 4 and _INSTANCE_TAG.fullmatch(pieces[-3]) else None


def file_sha256(path: Path | str) -> str:
    """The hex SHA-256 of a local file (blocking: call it from a worker thread)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def open_temp(dest: Path, tag: str | None = None) -> tuple[Path, IO[bytes]]:
    """A new temporary file next to ``dest``: ``<stem>.<hex>.part``, or ``<stem>.<tag>.<hex>.part``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{dest.stem}.{tag}" if tag else dest.stem
    while True:
        tmp = dest.with_name(f"{prefix}.{secrets.token_hex(6)}{PART_SUFFIX}")
        try:
            return tmp, open(tmp, "xb")  # closed by seal (or _commit) or discard
        except FileExistsError:
            continue


def write_batch(fh: IO[bytes], hasher: hashlib._Hash, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)  # releases the GIL for large buffers
        fh.write(chunk)


def _commit(fh: IO[bytes], tmp: Path, dest: Path) -> None:
    seal(fh)
    place(tmp, dest)


def seal(fh: IO[bytes]) -> None:
    """Flush, fsync and close the temporary file: its content is final and readable by path."""
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def place(tmp: Path, dest: Path) -> None:
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def write_atomically(dest: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``dest`` with ``data`` the way a download lands: a temp file, fsync'd, renamed over it."""
    tmp, fh = open_temp(dest)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        fh.write(data)
        _commit(fh, tmp, dest)
    except BaseException:
        discard(fh, tmp)
        raise


def discard(fh: IO[bytes], tmp: Path) -> None:
    try:
        fh.close()
    except OSError:
        pass
    tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_orphaned_parts(video_dir: Path, keep: Callable[[Path], bool] | None = None) -> int:
    """Delete the ``*.part`` files downloads left in ``video_dir``; return how many went.

    A part file outlives its download only when the process died mid-way.
    Not recursive. ``keep`` spares the files it returns True for (say, those
    whose name carries this process's ``part_tag``: downloads still running);
    without it every part file goes, so call it before any download starts.
    Blocking: run it in a worker thread.
    """
    removed = 0
    for path in sorted(Path(video_dir).glob(f"*{PART_SUFFIX}")):
        if keep is not None and keep(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("could not remove the leftover download %s: %s", path, exc.strerror or exc)
            continue
        removed += 1
    if removed:
        logger.info("removed %d leftover partial download(s) from %s", removed, video_dir)
    return removed
