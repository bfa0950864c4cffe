"""The task store's contract: one suite, run against every backend (SQLite, and PostgreSQL when a server is at hand).

``open_store()`` opens a new handle on the test's one database at each call: two handles stand in for two server
processes (or replicas) sharing the store. Every decision is made with an explicit ``now``, so the cases are
deterministic; threads appear only where concurrency is the point (one handle each, started together).

This module holds the suite's fixtures and helpers; the cases are in ``test_store_contract_*.py``. It is a pytest
plugin (``pytest_plugins`` in ``tests/conftest.py``), so its ``open_store`` and ``store`` fixtures are seen there
without importing them, and its helpers' assertions are rewritten as a test module's are.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wan_video_mcp.server.store import (
    Store,
    StoryboardRecord,
    TaskRecord,
    TaskStore,
    new_storyboard_id,
    new_task_id,
)

T = TypeVar("T")

T0 = 1_800_000_000.0  # 08:00 UTC
DAY_START = T0 - T0 % 86400  # its UTC day began at midnight
ENDPOINT = "https://e"
OTHER_ENDPOINT = "https://other"
THREADS = 8


class Opener:
    """Opens a new handle on the test's database at each call; closes them all after the test."""

    def __init__(self, factory: Callable[[], Store], opening: str) -> None:
        self._factory = factory
        self._opening = opening  # Python that opens the same database as ``store`` (in another process)
        self._handles: list[Store] = []
        self._lock = threading.Lock()

    def in_another_process(self, code: str) -> None:
        """Run ``code`` with ``store`` open on this database in a new Python process, to its end."""
        program = f"{self._opening}\n{code}\nstore.close()\n"
        subprocess.run([sys.executable, "-c", program], check=True, timeout=60)

    def __call__(self) -> Store:
        store = self._factory()
        with self._lock:
            self._handles.append(store)
        return store

    def close(self, store: Store) -> None:
        with self._lock:
            self._handles.remove(store)
        store.close()

    def close_all(self) -> None:
        while self._handles:
            self._handles.pop().close()


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    factory: Callable[[], Store]
    if request.param == "sqlite":
        path = tmp_path / "tasks.sqlite3"

        def factory() -> Store:
            return TaskStore(path)

        opening = "\n".join(
            [
                "from pathlib import Path",
                f"from {TaskStore.__module__} import TaskStore",
                f"store = TaskStore(Path({str(path)!r}))",
            ]
        )
    else:
        url: str = request.getfixturevalue("pg_url")  # skips (or fails in CI) without PostgreSQL
        from wan_video_mcp.server.store.postgres import PostgresStore

        def factory() -> Store:
            return PostgresStore(url)

        opening = f"from {PostgresStore.__module__} import PostgresStore\nstore = PostgresStore({url!r})"
    opener = Opener(factory, opening)
    yield opener
    opener.close_all()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()


# -- helpers ------------------------------------------------------------------------------------------------------


def task(**fields: Any) -> TaskRecord:
    values: dict[str, Any] = {
        "id": new_task_id(),
        "created_at": T0,
        "updated_at": T0,
        "provider": "dashscope",
        "endpoint": ENDPOINT,
        "model": "wan2.6-t2v",
        "request_json": "{}",
        "fingerprint": "f",
        "state": "queued",
    }
    return TaskRecord(**{**values, **fields})


def admit_any(spent_today: float) -> None:
    pass


def refuse_any(spent_today: float) -> None:
    raise AssertionError("admit must not be called when the request attaches to a task")


class Refused(Exception):
    pass


def insert(store: Store, **fields: Any) -> TaskRecord:
    record, how = store.create_sync(task(**fields), dedupe_since=None, admit=admit_any)
    assert how == "new"
    return record


def full_task(**fields: Any) -> TaskRecord:
    """A task with every field set to something other than its default (and floats that are not round numbers)."""
    values: dict[str, Any] = {
        "created_at": T0 + 0.123456789,
        "updated_at": T0 + 0.987654321,
        "provider": "newapi",
        "endpoint": OTHER_ENDPOINT,
        "model": "wan2.5-i2v-preview",
        "request_json": json.dumps({"prompt": "a cat on a roof, étoile ☃", "duration": 5}),
        "fingerprint": "fp-full",
        "state": "succeeded",
        "idempotency_key": "key-full",
        "remote_id": "remote-full",
        "remote_state": "SUCCEEDED",
        "progress": 0.1,
        "submit_attempts": 2,
        "submitted_at": T0 + 1.1,
        "finished_at": T0 + 2.2,
        "next_poll_at": T0 + 3.3,
        "poll_count": 7,
        "poll_errors": 1,
        "last_polled_at": T0 + 3.0000005,
        "video_url": "https://v.example/x.mp4?sig=abc",
        "video_url_expires_at": T0 + 86400.5,
        "actual_prompt": "a cat on a roof at dusk — étoile ☃",
        "usage_json": '{"duration": 5, "size": "1280*720"}',
        "error_code": "DataInspectionFailed",
        "error_message": 'it\'s "quoted"; and\nmultiline',
        "error_retryable": True,
        "cost_usd": 0.7500000001,
        "cost_json": '{"usd": 0.75}',
        "download_state": "downloaded",
        "download_attempts": 3,
        "download_error": "a previous attempt timed out",
        "local_path": "/data/videos/x.mp4",
        "file_size": 3_000_000_123,  # past 2**31: a long video's size needs 64 bits
        "sha256": "ab" * 32,
        "downloaded_at": T0 + 4.4,
        "adopted": True,
        "simulated": True,
        "principal": "https://issuer#alice",
        "lease_owner": "instance-full",
        "lease_until": T0 + 60.125,
    }
    return task(**{**values, **fields})


def storyboard(**fields: Any) -> StoryboardRecord:
    values: dict[str, Any] = {
        "id": new_storyboard_id(),
        "created_at": T0,
        "updated_at": T0,
        "request_json": '{"shots": 2}',
        "state": "running",
        "shots_json": "[null, null]",
        "endpoint": ENDPOINT,
        "fingerprint": "sf",
    }
    return StoryboardRecord(**{**values, **fields})


def insert_storyboard(store: Store, **fields: Any) -> StoryboardRecord:
    record, how = store.create_storyboard_sync(storyboard(**fields), None)
    assert how == "new"
    return record


def full_storyboard(**fields: Any) -> StoryboardRecord:
    values: dict[str, Any] = {
        "created_at": T0 + 0.123456789,
        "updated_at": T0 + 0.987654321,
        "request_json": json.dumps({"shots": [{"prompt": "étoile ☃"}], "continuity": "clip"}),
        "state": "succeeded",
        "shots_json": json.dumps([{"task_id": "wan_a", "attempt": 1}, None]),
        "local_path": "/data/storyboards/sb.mp4",
        "file_size": 3_000_000_456,
        "sha256": "cd" * 32,
        "seconds": 10.1,
        "join_method": "encode",
        "error": "shot 2 was refused",
        "owner": "instance-full",
        "owner_until": T0 + 30.5,
        "endpoint": OTHER_ENDPOINT,
        "idempotency_key": "sb-key-full",
        "fingerprint": "sb-fp-full",
        "principal": "https://issuer#alice",
    }
    return storyboard(**{**values, **fields})


def assert_every_field_set(record: Any) -> None:
    """The record leaves no field at its default, so a column the backend drops or mistypes shows."""
    for field in dataclasses.fields(record):
        if field.default is not dataclasses.MISSING:
            assert getattr(record, field.name) != field.default, field.name


def assert_identical(got: Any, want: Any) -> None:
    """Equal, field by field, and of the same types (``1 == 1.0 == True`` would hide a wrong column type)."""
    assert got == want
    for field in dataclasses.fields(want):
        assert type(getattr(got, field.name)) is type(getattr(want, field.name)), field.name


def at_once(count: int, fn: Callable[[int], T]) -> list[T]:
    """``fn(0) … fn(count - 1)`` on as many threads, released together."""
    barrier = threading.Barrier(count)

    def one(index: int) -> T:
        barrier.wait(timeout=30)
        return fn(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def live(store: Store, *instances: str, now: float = T0) -> None:
    for instance in instances:
        store.heartbeat_sync(instance, now)
