"""Local media inputs: which values name local files, which files may be read and how they are snapshotted, and
what PyAV (or, without it, the header readers) says the bytes are."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from tests import media_files
from wan_video_mcp.server.media.inspect import inspect_file
from wan_video_mcp.server.media.local import (
    LocalInputRefused,
    MediaRoots,
    StagedFile,
    local_path,
    remove_stale_staged,
    stage_local_file,
)

MB = 2**20
PNG = media_files.png(64, 48, media_files.RED)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    return tmp_path / "staging"


@pytest.fixture
def stage(root: Path, tmp_path: Path, staging: Path) -> Callable[..., StagedFile]:
    def stage(path: Path, roots: tuple[Path, ...] = (root,), max_bytes: int = 10 * MB) -> StagedFile:
        allowed = MediaRoots(roots, (tmp_path / "videos",))
        return stage_local_file(f"file://{path}", path, roots=allowed, max_bytes=max_bytes, staging_dir=staging)

    return stage


@pytest.fixture
def refusal(stage: Callable[..., StagedFile], staging: Path) -> Callable[..., str]:
    def refusal(path: Path, **options: object) -> str:
        with pytest.raises(LocalInputRefused) as caught:
            stage(path, **options)
        assert not staged_files(staging)  # a refusal leaves nothing behind, not even a temp file
        return caught.value.problem

    return refusal


def staged_files(staging: Path) -> list[str]:
    return sorted(os.listdir(staging)) if staging.exists() else []


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- which values are local -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/home/u/cat.png", Path("/home/u/cat.png")),
        ("file:///home/u/my%20cat.png", Path("/home/u/my cat.png")),
        ("file://localhost/home/u/cat.png", Path("/home/u/cat.png")),
        ("FILE://LocalHost/home/u/%E7%8C%AB.png", Path("/home/u/猫.png")),
        ("file:/home/u/cat.png", Path("/home/u/cat.png")),
        ("C:\\Users\\u\\cat.png", Path("C:\\Users\\u\\cat.png")),
    ],
)
def test_absolute_paths_and_file_uris_name_local_files(value: str, expected: Path) -> None:
    assert local_path(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "https://media.test/cat.png",
        "http://media.test/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "oss://bucket/cat.png",
        "wan-video:task/123",
        "",
    ],
)
def test_urls_are_not_local(value: str) -> None:
    assert local_path(value) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("file://nas.local/share/cat.png", "names the host 'nas.local'"),
        ("cat.png", "relative path"),
        ("./cat.png", "relative path"),
        ("~/cat.png", "give an absolute path"),
        ("/home/u/cat\0.png", "NUL byte"),
        ("file:///home/u/cat%00.png", "NUL byte"),
        ("file://localhost", "does not name an absolute path"),
    ],
)
def test_local_forms_that_cannot_be_used_are_refused(value: str, says: str) -> None:
    with pytest.raises(LocalInputRefused) as caught:
        local_path(value)
    assert says in caught.value.problem
    assert "absolute path" in caught.value.problem or "this machine" in caught.value.problem


# --- staging a file inside a root ----------------------------------------------------------------------------


def test_a_file_inside_a_root_is_copied_under_its_sha256(
    root: Path, staging: Path, stage: Callable[..., StagedFile]
) -> None:
    original = write(root / "Cat.PNG", PNG)
    digest = hashlib.sha256(PNG).hexdigest()

    staged = stage(original)

    assert staged == StagedFile(f"file://{original}", original, staging / f"{digest}.png", digest, len(PNG), ".png")
    assert staged.staged.read_bytes() == PNG
    assert staged_files(staging) == [f"{digest}.png"]
    assert stat.S_IMODE(staged.staged.stat().st_mode) & 0o222 == 0  # read-only
    assert stat.S_IMODE(staging.stat().st_mode) == 0o700


def test_the_staged_copy_keeps_the_bytes_checked_when_the_original_changes(
    root: Path, stage: Callable[..., StagedFile]
) -> None:
    original = write(root / "cat.png", PNG)
    staged = stage(original)

    original.write_bytes(b"something else entirely")

    assert hashlib.sha256(staged.staged.read_bytes()).hexdigest() == staged.sha256
    assert staged.staged.read_bytes() == PNG


def test_concurrent_stagings_of_one_file_all_succeed_with_one_intact_copy(
    root: Path, staging: Path, stage: Callable[..., StagedFile]
) -> None:
    data = os.urandom(3 * MB)
    original = write(root / "clip.mp4", data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: stage(original), range(8)))

    assert {r.sha256 for r in results} == {hashlib.sha256(data).hexdigest()}
    assert staged_files(staging) == [results[0].staged.name]
    assert results[0].staged.read_bytes() == data


def test_a_root_that_is_a_symlink_allows_the_files_of_its_folder(
    tmp_path: Path, outside: Path, stage: Callable[..., StagedFile]
) -> None:
    original = write(outside / "cat.png", PNG)
    link = tmp_path / "linked-root"
    link.symlink_to(outside)

    assert stage(link / "cat.png", roots=(link,)).path == original


def test_a_symlink_inside_a_root_to_a_file_inside_a_root_is_allowed(
    root: Path, stage: Callable[..., StagedFile]
) -> None:
    original = write(root / "real" / "cat.png", PNG)
    (root / "cat.png").symlink_to(original)

    staged = stage(root / "cat.png")

    assert staged.path == original
    assert staged.staged.read_bytes() == PNG


def test_the_server_s_own_videos_folder_is_always_allowed(tmp_path: Path, stage: Callable[..., StagedFile]) -> None:
    video = write(tmp_path / "videos" / "task.mp4", b"\0\0\0\x18ftypmp42")

    assert stage(video, roots=()).suffix == ".mp4"


# --- refusals -------------------------------------------------------------------------------------------------


def test_a_path_climbing_out_of_a_root_is_refused_naming_the_allowed_folders(
    root: Path, outside: Path, tmp_path: Path, refusal: Callable[..., str]
) -> None:
    write(outside / "secret.png", PNG)
    (root / "sub").mkdir()
    climbing = root / "sub" / ".." / ".." / "outside" / "secret.png"

    problem = refusal(climbing)

    assert problem == (
        f"{climbing} (really {outside / 'secret.png'}) is outside the folders this server may read media from: "
        f"{root}, {tmp_path / 'videos'} (the server's own videos); to allow a folder, add it to WAN_MEDIA_ROOTS "
        "(folders separated by ':') in the server's environment and restart the server"
    )


def test_a_symlink_inside_a_root_to_a_file_outside_is_refused(
    root: Path, outside: Path, refusal: Callable[..., str]
) -> None:
    (root / "cat.png").symlink_to(write(outside / "secret.png", PNG))

    assert "is outside the folders this server may read media from" in refusal(root / "cat.png")


def test_a_folder_whose_name_starts_with_a_root_s_name_is_not_inside_it(
    tmp_path: Path, refusal: Callable[..., str]
) -> None:
    videos = tmp_path / "data" / "videos"
    videos.mkdir(parents=True)
    sibling = write(tmp_path / "data" / "videos2" / "x.mp4", b"data")

    assert "is outside the folders" in refusal(sibling, roots=(videos,))


def test_with_no_roots_set_the_refusal_says_so(tmp_path: Path, root: Path, refusal: Callable[..., str]) -> None:
    problem = refusal(write(root / "cat.png", PNG), roots=())

    assert f"only {tmp_path / 'videos'} (the server's own videos; WAN_MEDIA_ROOTS is not set)" in problem


def test_a_huge_sparse_file_is_refused_by_its_size_without_being_read(root: Path, refusal: Callable[..., str]) -> None:
    huge = root / "huge.mp4"
    huge.touch()
    os.truncate(huge, 10 * 2**30)

    assert refusal(huge, max_bytes=100 * MB) == (f"{huge} is 10240 MB, larger than the 100 MB this input may be")


def test_a_file_larger_than_the_limit_is_refused(root: Path, refusal: Callable[..., str]) -> None:
    assert "larger than the 100 bytes" in refusal(write(root / "cat.png", PNG), max_bytes=100)


def test_a_fifo_is_refused_without_waiting_for_a_writer(root: Path, refusal: Callable[..., str]) -> None:
    fifo = root / "pipe.mp4"
    os.mkfifo(fifo)
    found: list[str] = []

    worker = threading.Thread(target=lambda: found.append(refusal(fifo)), daemon=True)
    worker.start()
    worker.join(10)

    assert not worker.is_alive()
    assert found == [f"{fifo} is a named pipe (FIFO); only regular files can be used as media"]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused(device: str, refusal: Callable[..., str]) -> None:
    assert refusal(Path(device), roots=(Path("/dev"),)) == (
        f"{device} is a character device; only regular files can be used as media"
    )


def test_a_socket_is_refused(tmp_path: Path, refusal: Callable[..., str]) -> None:
    short = Path(os.path.realpath("/tmp"))  # a socket's path must be short
    path = short / f"wan-test-{os.getpid()}-{threading.get_ident()}.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert refusal(path, roots=(short,)) == f"{path} is a socket; only regular files can be used as media"
    finally:
        server.close()
        path.unlink(missing_ok=True)


def test_a_directory_a_missing_file_and_an_empty_file_are_refused(root: Path, refusal: Callable[..., str]) -> None:
    (root / "folder").mkdir()
    (root / "empty.png").touch()

    assert refusal(root / "folder") == f"{root / 'folder'} is a directory; only regular files can be used as media"
    assert refusal(root / "missing.png").startswith(f"{root / 'missing.png'}: no such file")
    assert refusal(root / "empty.png") == f"{root / 'empty.png'} is empty (0 bytes); give a media file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused(root: Path, refusal: Callable[..., str]) -> None:
    locked = write(root / "locked.png", PNG)
    locked.chmod(0)

    assert "permission denied" in refusal(locked)


def test_a_windows_path_is_refused_when_staged(refusal: Callable[..., str]) -> None:
    windows = local_path("C:\\Users\\u\\cat.png")
    assert windows is not None

    assert "is not an absolute path on this server" in refusal(windows)


def proc_says(target: Path | None) -> Callable[[str], str]:
    """os.readlink, except for /proc/self/fd/N: ``target``, or no such link (a system without /proc)."""
    readlink = os.readlink

    def fake(path: str) -> str:
        if not path.startswith("/proc/self/fd/"):
            return readlink(path)
        if target is None:
            raise FileNotFoundError(path)
        return str(target)

    return fake


def test_a_file_opened_outside_the_roots_is_refused(
    root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, refusal: Callable[..., str]
) -> None:
    # What /proc says was opened wins over what the name said a moment before (a folder swapped meanwhile).
    original = write(root / "cat.png", PNG)
    monkeypatch.setattr(os, "readlink", proc_says(outside / "secret.png"))

    assert refusal(original).startswith(f"{original} changed while it was being opened")


def test_without_proc_the_file_opened_is_compared_with_the_file_named(
    root: Path, monkeypatch: pytest.MonkeyPatch, stage: Callable[..., StagedFile]
) -> None:
    monkeypatch.setattr(os, "readlink", proc_says(None))

    assert stage(write(root / "cat.png", PNG)).size_bytes == len(PNG)


# --- cleaning up ----------------------------------------------------------------------------------------------


def test_stale_staged_copies_and_temp_files_are_removed_and_nothing_else(
    root: Path, staging: Path, stage: Callable[..., StagedFile]
) -> None:
    old = stage(write(root / "old.png", PNG)).staged
    fresh = stage(write(root / "fresh.wav", media_files.wav(0.5))).staged
    leftover = write(staging / ".staging-abc123.part", b"half")
    unrelated = write(staging / "notes.txt", b"not ours")
    now = fresh.stat().st_mtime
    for path in (old, leftover, unrelated):
        os.utime(path, (now - 7200, now - 7200))

    assert remove_stale_staged(staging, 3600, now=now) == 2
    assert staged_files(staging) == sorted([fresh.name, "notes.txt"])


def test_cleaning_a_missing_staging_folder_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_staged(tmp_path / "never-made", 0) == 0


# --- what the bytes are ---------------------------------------------------------------------------------------


def encoded_image(codec: str, container_format: str, pix_fmt: str) -> bytes:
    frame = av.VideoFrame(64, 48, "rgb24")
    frame.planes[0].update(bytes(media_files.GREEN) * (64 * 48))
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for packet in (*stream.encode(frame.reformat(format=pix_fmt)), *stream.encode(None)):
            container.mux(packet)
    return out.getvalue()


def facts_of(tmp_path: Path, name: str, data: bytes) -> tuple[object, ...]:
    path = write(tmp_path / name, data)
    facts = inspect_file(path, f"/home/u/{name}", len(data))
    assert facts.url == f"/home/u/{name}"
    assert facts.size_bytes == len(data)
    assert not facts.unreachable
    seconds = None if facts.seconds is None else round(facts.seconds, 1)
    return facts.format, seconds, facts.width, facts.height, facts.fps, facts.problem


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("cat.png", lambda: PNG, ("png", None, 64, 48, None, None)),
        ("cat.jpg", lambda: encoded_image("mjpeg", "image2pipe", "yuvj420p"), ("jpeg", None, 64, 48, None, None)),
        ("cat.webp", lambda: encoded_image("libwebp", "webp", "yuv420p"), ("webp", None, 64, 48, None, None)),
        ("really-a-png.jpg", lambda: PNG, ("png", None, 64, 48, None, None)),
        ("clip.mp4", lambda: media_files.mp4(3.0), ("mp4", 3.0, 320, 240, 8.0, None)),
        ("clip.mov", lambda: media_files.mp4(2.0, (64, 48), container_format="mov"), ("mov", 2.0, 64, 48, 8.0, None)),
        ("voice.wav", lambda: media_files.wav(2.5), ("wav", 2.5, None, None, None, None)),
        (
            "voice.mp3",
            lambda: media_files.encoded_audio("libmp3lame", "mp3", 44100, "s16p"),
            ("mp3", 2.0, None, None, None, None),
        ),
        (
            "voice.ogg",
            lambda: media_files.encoded_audio("libopus", "ogg", 48000, "s16"),
            ("ogg", 2.0, None, None, None, None),
        ),
        (
            "voice.m4a",
            lambda: media_files.encoded_audio("aac", "mp4", 44100, "fltp"),
            ("m4a", 2.0, None, None, None, None),
        ),
    ],
)
def test_pyav_reads_the_format_and_measures_from_the_bytes(
    tmp_path: Path, name: str, make: Callable[[], bytes], expected: tuple[object, ...]
) -> None:
    assert facts_of(tmp_path, name, make()) == expected


def test_a_text_file_named_like_an_image_has_a_problem_and_no_format(tmp_path: Path) -> None:
    assert facts_of(tmp_path, "notes.png", b"just some notes, not a picture\n") == (
        None,
        None,
        None,
        None,
        None,
        "could not read /home/u/notes.png as an image, a video or an audio file "
        "(its image header is damaged or it is not an image)",
    )


def test_a_truncated_video_has_a_problem_naming_it_as_shown(tmp_path: Path) -> None:
    clip = media_files.mp4(3.0)
    *_, problem = facts_of(tmp_path, "clip.mp4", clip[: len(clip) // 2])

    assert problem == (
        "could not read /home/u/clip.mp4 as an image, a video or an audio file "
        "(not a media file, or a damaged one: Invalid data found when processing input)"
    )


def test_a_playlist_is_not_followed_to_the_files_it_names(tmp_path: Path) -> None:
    target = write(tmp_path / "elsewhere.mp4", media_files.mp4(1.0))
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n"

    *_, problem = facts_of(tmp_path, "list.m3u8", playlist.encode())

    assert problem is not None and "does not follow" in problem


def test_without_pyav_the_header_readers_still_measure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError

    assert facts_of(tmp_path, "cat.png", PNG) == ("png", None, 64, 48, None, None)
    assert facts_of(tmp_path, "voice.wav", media_files.wav(2.5)) == ("wav", 2.5, None, None, None, None)
