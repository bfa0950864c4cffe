"""The task store's contract: one suite, run against every backend (SQLite, and PostgreSQL when a server is at hand).

``open_store()`` opens a new handle on the test's one database at each call: two handles stand in for two server
processes (or replicas) sharing the store. Every decision is made with an explicit ``now``, so the cases are
deterministic; threads appear only where concurrency is the point (one handle each, started together).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wan_video_mcp.server.store import (
    INSTANCE_STALE_SECONDS,
    LOCAL_PRINCIPAL,
    OPEN_STATES,
    Store,
    StoryboardRecord,
    TaskRecord,
    TaskStore,
    Upload,
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


# -- opening ------------------------------------------------------------------------------------------------------


def test_opening_migrates_a_fresh_database_and_another_handle_opens_it_as_it_is(open_store: Opener) -> None:
    first = open_store()
    assert first.list_sync() == []
    assert first.get_sync("wan_missing") is None
    assert first.get_storyboard_sync("sb_missing") is None
    record = insert(first)
    board = insert_storyboard(first)
    second = open_store()  # the schema is there: nothing to migrate, nothing lost
    assert second.get_sync(record.id) == record
    assert second.get_storyboard_sync(board.id) == board
    assert open_store().list_sync() == [record]


def test_handles_opened_at_once_on_a_fresh_database_all_work(open_store: Opener) -> None:
    stores = at_once(THREADS, lambda index: open_store())
    records = [insert(store, fingerprint=f"f{index}", created_at=T0 + index) for index, store in enumerate(stores)]
    assert stores[0].list_sync(limit=100) == records[::-1]


def test_a_closed_handle_leaves_its_rows_to_the_others(open_store: Opener) -> None:
    first = open_store()
    record = insert(first)
    open_store.close(first)
    assert open_store().get_sync(record.id) == record


# -- create_sync: attach or insert, in one transaction --------------------------------------------------------------


def test_a_new_task_is_inserted_as_it_is(store: Store) -> None:
    record = task(idempotency_key="k1")
    assert store.create_sync(record, dedupe_since=T0 - 600, admit=admit_any) == (record, "new")
    assert store.get_sync(record.id) == record


def test_a_repeated_idempotency_key_attaches_to_its_task_whatever_its_parameters_or_state(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first = insert(first_store, idempotency_key="k1", fingerprint="f1")
    again = task(idempotency_key="k1", fingerprint="f2", created_at=T0 + 1, endpoint=OTHER_ENDPOINT)
    assert second_store.create_sync(again, dedupe_since=T0 - 600, admit=refuse_any) == (first, "idempotency_key")
    assert second_store.create_sync(again, dedupe_since=None, admit=refuse_any) == (first, "idempotency_key")
    failed = first_store.update_sync(first.id, T0 + 2, state="failed")
    assert second_store.create_sync(again, dedupe_since=None, admit=refuse_any) == (failed, "idempotency_key")
    assert second_store.get_sync(again.id) is None
    assert first_store.list_sync() == [failed]


def test_a_twin_within_the_dedupe_window_attaches_and_one_outside_it_does_not(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first = insert(first_store, fingerprint="fp")
    twin = task(fingerprint="fp", created_at=T0 + 60)
    assert second_store.create_sync(twin, dedupe_since=T0, admit=refuse_any) == (first, "duplicate")  # inclusive
    assert second_store.get_sync(twin.id) is None
    assert second_store.create_sync(twin, dedupe_since=T0 + 0.5, admit=admit_any) == (twin, "new")
    unbounded = task(fingerprint="fp", created_at=T0 + 61)
    assert second_store.create_sync(unbounded, dedupe_since=None, admit=admit_any) == (unbounded, "new")
    assert len(first_store.list_sync()) == 3


def test_the_newest_twin_is_the_one_attached(store: Store) -> None:
    insert(store, fingerprint="fp", created_at=T0)
    newest = insert(store, fingerprint="fp", created_at=T0 + 20)
    insert(store, fingerprint="fp", created_at=T0 + 10)
    twin = task(fingerprint="fp", created_at=T0 + 30)
    assert store.create_sync(twin, dedupe_since=T0 - 600, admit=refuse_any) == (newest, "duplicate")


def test_a_twin_at_another_endpoint_or_with_other_parameters_is_not_attached(store: Store) -> None:
    insert(store, fingerprint="fp")
    elsewhere = task(fingerprint="fp", endpoint=OTHER_ENDPOINT, created_at=T0 + 1)
    assert store.create_sync(elsewhere, dedupe_since=T0 - 600, admit=admit_any) == (elsewhere, "new")
    other = task(fingerprint="fp2", created_at=T0 + 1)
    assert store.create_sync(other, dedupe_since=T0 - 600, admit=admit_any) == (other, "new")


@pytest.mark.parametrize(
    ("state", "attached"),
    [
        ("submitting", True),
        ("unknown", True),
        ("queued", True),
        ("running", True),
        ("succeeded", True),
        ("failed", False),
        ("canceled", False),
        ("expired", False),
    ],
)
def test_a_twin_is_attached_unless_it_failed_was_canceled_or_expired(store: Store, state: str, attached: bool) -> None:
    first = insert(store, fingerprint="fp", state=state)
    twin = task(fingerprint="fp", created_at=T0 + 1)
    expected = (first, "duplicate") if attached else (twin, "new")
    assert store.create_sync(twin, dedupe_since=T0 - 600, admit=admit_any) == expected


def test_keys_and_twins_are_each_principals_own(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    alice = insert(first_store, principal="alice", idempotency_key="k1", fingerprint="fp")
    bob = task(principal="bob", idempotency_key="k1", fingerprint="fp", created_at=T0 + 1)
    assert second_store.create_sync(bob, dedupe_since=T0 - 600, admit=admit_any) == (bob, "new")
    carol = task(principal="carol", fingerprint="fp", created_at=T0 + 2)
    assert second_store.create_sync(carol, dedupe_since=T0 - 600, admit=admit_any) == (carol, "new")
    again = task(principal="alice", idempotency_key="k1", fingerprint="other", created_at=T0 + 3)
    assert first_store.create_sync(again, dedupe_since=None, admit=refuse_any) == (alice, "idempotency_key")
    bob_again = task(principal="bob", idempotency_key="k1", created_at=T0 + 4)
    assert first_store.create_sync(bob_again, dedupe_since=None, admit=refuse_any) == (bob, "idempotency_key")
    assert first_store.get_sync(alice.id) == alice
    assert second_store.get_sync(bob.id) == bob
    assert first_store.list_sync(principal="alice") == [alice]
    assert first_store.list_sync(principal="bob") == [bob]


class Refused(Exception):
    pass


def test_a_refused_admission_inserts_nothing_and_the_refusal_reaches_the_caller(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = task(idempotency_key="k1")

    def refuse(spent_today: float) -> None:
        raise Refused("over the daily budget")

    with pytest.raises(Refused, match="over the daily budget"):
        first_store.create_sync(record, dedupe_since=T0 - 600, admit=refuse)
    assert second_store.get_sync(record.id) is None
    assert second_store.list_sync() == []
    assert second_store.repeated_sync("k1", "f", ENDPOINT, T0 - 600) is None
    # The refusal held no lock and left no key behind: the same request may be admitted later, from either handle.
    assert second_store.create_sync(record, dedupe_since=T0 - 600, admit=admit_any) == (record, "new")


def test_admit_is_given_the_principals_spend_of_the_utc_day(store: Store) -> None:
    insert(store, principal="alice", created_at=DAY_START - 1, cost_usd=100.0, fingerprint="yesterday")
    insert(store, principal="alice", created_at=DAY_START, cost_usd=1.5, fingerprint="midnight")
    insert(store, principal="alice", created_at=T0, cost_usd=2.25, fingerprint="done", state="succeeded")
    insert(store, principal="alice", created_at=T0, cost_usd=0.25, fingerprint="unknown", state="unknown")
    insert(store, principal="alice", created_at=T0, cost_usd=None, fingerprint="unpriced")
    for state in ("failed", "canceled", "expired"):
        insert(store, principal="alice", created_at=T0, cost_usd=7.0, fingerprint=state, state=state)
    insert(store, principal="bob", created_at=T0, cost_usd=50.0, fingerprint="bob")
    seen: list[float] = []
    store.create_sync(task(principal="alice", created_at=T0 + 100, cost_usd=9.0), dedupe_since=None, admit=seen.append)
    store.create_sync(task(principal="bob", created_at=T0 + 100, cost_usd=9.0), dedupe_since=None, admit=seen.append)
    store.create_sync(task(principal="carol", created_at=T0 + 100), dedupe_since=None, admit=seen.append)
    assert seen == [pytest.approx(4.0), pytest.approx(50.0), 0.0]
    assert all(type(spent) is float for spent in seen)


def test_repeated_sync_answers_as_create_would_without_inserting(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first = insert(first_store, idempotency_key="k1", fingerprint="fp", principal="alice")
    assert second_store.repeated_sync("k1", "other", OTHER_ENDPOINT, None, "alice") == (first, "idempotency_key")
    assert second_store.repeated_sync(None, "fp", ENDPOINT, T0, "alice") == (first, "duplicate")
    assert second_store.repeated_sync("k2", "fp", ENDPOINT, T0, "alice") == (first, "duplicate")
    assert second_store.repeated_sync(None, "fp", ENDPOINT, T0 + 1, "alice") is None
    assert second_store.repeated_sync(None, "fp", ENDPOINT, None, "alice") is None
    assert second_store.repeated_sync(None, "fp", OTHER_ENDPOINT, T0, "alice") is None
    assert second_store.repeated_sync("k1", "fp", ENDPOINT, T0, "bob") is None
    assert second_store.repeated_sync("k1", "fp", ENDPOINT, T0) is None  # the local principal's: none
    assert first_store.list_sync(principal="alice") == [first]


# -- concurrency across handles -------------------------------------------------------------------------------------


def test_concurrent_creates_with_one_key_from_many_handles_make_one_task(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [task(idempotency_key="k1", fingerprint=f"f{index}") for index in range(THREADS)]
    results = at_once(THREADS, lambda i: stores[i].create_sync(records[i], dedupe_since=T0 - 600, admit=admit_any))
    assert sorted(how for _, how in results) == ["idempotency_key"] * (THREADS - 1) + ["new"]
    winner = next(record for record, how in results if how == "new")
    assert {record.id for record, _ in results} == {winner.id}
    assert stores[0].list_sync(limit=100) == [winner]


def test_concurrent_identical_requests_within_the_window_make_one_task(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [task(fingerprint="fp") for _ in range(THREADS)]
    results = at_once(THREADS, lambda i: stores[i].create_sync(records[i], dedupe_since=T0 - 600, admit=admit_any))
    assert sorted(how for _, how in results) == ["duplicate"] * (THREADS - 1) + ["new"]
    assert len({record.id for record, _ in results}) == 1
    assert len(stores[0].list_sync(limit=100)) == 1


def test_the_daily_budget_holds_across_concurrent_handles(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [task(fingerprint=f"f{index}", cost_usd=1.0) for index in range(THREADS)]

    def admit(spent_today: float) -> None:
        time.sleep(0.01)  # widen the gap between reading the spend and inserting: a race would show
        if spent_today + 1.0 > 3.0:
            raise Refused(f"spent {spent_today}")

    def create(index: int) -> str:
        try:
            return stores[index].create_sync(records[index], dedupe_since=T0 - 600, admit=admit)[1]
        except Refused:
            return "refused"

    assert sorted(at_once(THREADS, create)) == ["new"] * 3 + ["refused"] * (THREADS - 3)
    assert stores[0].spent_since_sync(DAY_START) == 3.0


def test_concurrent_adoptions_of_one_provider_id_make_one_task(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [task(remote_id="r1", adopted=True, state="running") for _ in range(THREADS)]
    results = at_once(THREADS, lambda i: stores[i].adopt_sync(records[i]))
    assert len({record.id for record in results}) == 1
    assert stores[0].list_sync(limit=100) == [results[0]]


def test_concurrent_claims_of_one_task_have_one_winner(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    record = insert(stores[0])
    live(stores[0], *(f"instance-{index}" for index in range(THREADS)))
    results = at_once(THREADS, lambda i: stores[i].claim_sync(record.id, f"instance-{i}", T0 + 1, T0 + 31))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert stores[0].get_sync(record.id) == winners[0]


# -- update_sync and the record's fields ----------------------------------------------------------------------------


def test_update_sets_columns_and_stamps_the_time(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store)
    updated = second_store.update_sync(record.id, T0 + 5, state="running", progress=0.25, remote_state="RUNNING")
    assert updated == dataclasses.replace(
        record, state="running", progress=0.25, remote_state="RUNNING", updated_at=T0 + 5
    )
    assert first_store.get_sync(record.id) == updated


def test_updating_an_unknown_column_raises_value_error_and_changes_nothing(store: Store) -> None:
    record = insert(store)
    with pytest.raises(ValueError):
        store.update_sync(record.id, T0 + 5, state="running", colour="blue")
    with pytest.raises(ValueError):
        store.update_sync(record.id, T0 + 5, **{"state = 'failed', progress": 1})
    assert store.get_sync(record.id) == record


def test_updating_an_unknown_task_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.update_sync("wan_missing", T0, state="running")


def test_booleans_come_back_as_booleans(store: Store) -> None:
    record = insert(store)
    assert store.get_sync(record.id) == record
    got = store.get_sync(record.id)
    assert got is not None
    assert got.adopted is False and got.simulated is False and got.error_retryable is None
    for value in (True, False, None):
        updated = store.update_sync(record.id, T0 + 1, error_retryable=value, adopted=True, simulated=True)
        got = store.get_sync(record.id)
        assert got == updated
        assert got is not None
        assert got.error_retryable is value
        assert got.adopted is True and got.simulated is True


def test_floats_and_none_round_trip_exactly(store: Store) -> None:
    record = insert(store, cost_usd=0.1, progress=1 / 3, next_poll_at=T0 + 0.1)
    assert store.get_sync(record.id) == record
    for value in (1e-9, 123456789.000001, 0.0, None):
        store.update_sync(record.id, T0 + 1, cost_usd=value, progress=value, finished_at=value)
        got = store.get_sync(record.id)
        assert got is not None
        assert (got.cost_usd, got.progress, got.finished_at) == (value, value, value)


def test_whole_floats_come_back_as_floats_from_every_write(open_store: Opener) -> None:
    """A float column holding a whole number is still a float in the record a write returns, not an int."""
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="unknown")
    live(first_store, "A")
    written = [
        second_store.update_sync(record.id, T0 + 1, progress=1.0, cost_usd=2.0, last_polled_at=T0 + 1),
        second_store.claim_sync(record.id, "A", T0 + 2, T0 + 32, next_poll_at=T0 + 10),
        second_store.release_sync(record.id, "A", T0 + 32, T0 + 3, finished_at=T0 + 3),
        second_store.assign_remote_sync(record.id, "r1", T0 + 4, submitted_at=T0 + 4),
    ]
    for got in [*written, first_store.get_sync(record.id)]:
        assert got is not None
        for name in ("created_at", "updated_at", "progress", "cost_usd", "last_polled_at"):
            assert type(getattr(got, name)) is float, name
    board = insert_storyboard(first_store)
    boards = [
        second_store.update_storyboard_sync(board.id, T0 + 1, seconds=10.0, owner_until=T0 + 30),
        second_store.set_shots_sync(board.id, T0 + 2, {0: {"task_id": "wan_0", "attempt": 1}}),
        first_store.get_storyboard_sync(board.id),
    ]
    for got_board in boards:
        assert got_board is not None
        for name in ("created_at", "updated_at", "seconds", "owner_until"):
            assert type(getattr(got_board, name)) is float, name


def test_every_task_field_round_trips_exactly(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = full_task()
    assert_every_field_set(record)
    assert first_store.create_sync(record, dedupe_since=None, admit=admit_any) == (record, "new")
    got = second_store.get_sync(record.id)
    assert_identical(got, record)
    assert_identical(second_store.list_sync(principal=record.principal)[0], record)
    # And through update_sync: every column but the id, to other values of the same types.
    other = full_task(
        id=record.id,
        created_at=T0 + 10.5,
        provider="vtrix",
        endpoint="https://third",
        model="wan2.2-t2v-plus",
        request_json='{"b": 2}',
        fingerprint="fp-2",
        state="failed",
        idempotency_key="key-2",
        remote_id="remote-2",
        remote_state="FAILED",
        progress=0.9,
        submit_attempts=4,
        file_size=5_000_000_000,
        error_retryable=False,
        adopted=False,
        simulated=False,
        principal="bob",
        download_state="failed",
        lease_owner="instance-2",
        lease_until=T0 + 99.75,
    )
    changes = {name: getattr(other, name) for name in dataclasses.asdict(other) if name not in ("id", "updated_at")}
    updated = second_store.update_sync(record.id, T0 + 11.25, **changes)
    expected = dataclasses.replace(other, updated_at=T0 + 11.25)
    assert_identical(updated, expected)
    assert_identical(first_store.get_sync(record.id), expected)


# -- adopt_sync and assign_remote_sync ------------------------------------------------------------------------------


def test_adopting_a_provider_id_again_returns_the_task_that_has_it(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    adopted = task(remote_id="r1", adopted=True, state="running")
    assert first_store.adopt_sync(adopted) == adopted
    assert second_store.get_sync(adopted.id) == adopted
    again = task(remote_id="r1", adopted=True, state="queued", created_at=T0 + 5)
    assert second_store.adopt_sync(again) == adopted
    assert second_store.get_sync(again.id) is None
    submitted = insert(first_store, remote_id="r2", fingerprint="other")
    assert second_store.adopt_sync(task(remote_id="r2", adopted=True)) == submitted
    # A provider id names a task at its provider and endpoint: the same id elsewhere is another task.
    elsewhere = task(remote_id="r1", adopted=True, endpoint=OTHER_ENDPOINT)
    assert second_store.adopt_sync(elsewhere) == elsewhere
    assert len(first_store.list_sync()) == 3


def test_assign_remote_gives_an_unconfirmed_task_its_provider_id(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="unknown")
    assigned = second_store.assign_remote_sync(record.id, "r1", T0 + 5, state="queued", remote_state="PENDING")
    assert assigned == dataclasses.replace(
        record, remote_id="r1", state="queued", remote_state="PENDING", updated_at=T0 + 5
    )
    assert first_store.get_sync(record.id) == assigned
    assert first_store.find_remote_sync("r1") == assigned


def test_assign_remote_refuses_an_id_another_task_holds(store: Store) -> None:
    holder = insert(store, remote_id="r1", fingerprint="holder")
    record = insert(store, state="unknown")
    assert store.assign_remote_sync(record.id, "r1", T0 + 5, state="queued") is None
    assert store.get_sync(record.id) == record
    assert store.find_remote_sync("r1") == holder


def test_assign_remote_refuses_a_task_that_is_no_longer_unconfirmed(store: Store) -> None:
    answered = insert(store, state="queued")
    assert store.assign_remote_sync(answered.id, "r1", T0 + 5, state="running") is None
    assert store.get_sync(answered.id) == answered
    has_one = insert(store, state="unknown", remote_id="r0", fingerprint="other")
    assert store.assign_remote_sync(has_one.id, "r2", T0 + 5) is None
    assert store.get_sync(has_one.id) == has_one
    assert store.find_remote_sync("r1") is None and store.find_remote_sync("r2") is None


def test_assign_remote_of_an_unknown_task_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.assign_remote_sync("wan_missing", "r1", T0)


# -- hurry_sync -----------------------------------------------------------------------------------------------------


def test_hurry_only_brings_the_next_poll_forward(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, next_poll_at=T0 + 100)
    unscheduled = insert(first_store, fingerprint="other")
    second_store.hurry_sync(record.id, T0 + 50)
    assert first_store.get_sync(record.id) == dataclasses.replace(record, next_poll_at=T0 + 50)
    second_store.hurry_sync(record.id, T0 + 80)
    assert first_store.get_sync(record.id) == dataclasses.replace(record, next_poll_at=T0 + 50)
    second_store.hurry_sync(unscheduled.id, T0 + 7)
    assert first_store.get_sync(unscheduled.id) == dataclasses.replace(unscheduled, next_poll_at=T0 + 7)
    second_store.hurry_sync("wan_missing", T0)  # nothing to hurry: no error


# -- leases ---------------------------------------------------------------------------------------------------------


def test_a_claim_takes_a_free_lease_and_applies_its_changes(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store)
    live(first_store, "A")
    claimed = second_store.claim_sync(record.id, "A", T0 + 1, T0 + 31, state="running", poll_count=1)
    assert claimed == dataclasses.replace(
        record, lease_owner="A", lease_until=T0 + 31, state="running", poll_count=1, updated_at=T0 + 1
    )
    assert first_store.get_sync(record.id) == claimed


def test_a_live_instances_lease_holds_until_it_lapses(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store)
    live(first_store, "A", "B")
    assert first_store.claim_sync(record.id, "A", T0, T0 + 30) is not None
    assert second_store.claim_sync(record.id, "B", T0 + 10, T0 + 40) is None
    assert first_store.claim_sync(record.id, "A", T0 + 10, T0 + 40) is None  # not re-entrant (but see download)
    live(first_store, "A", "B", now=T0 + 30)
    assert second_store.claim_sync(record.id, "B", T0 + 30, T0 + 60) is None  # lapses after lease_until
    live(first_store, "A", "B", now=T0 + 31)
    claimed = second_store.claim_sync(record.id, "B", T0 + 31, T0 + 61)
    assert claimed is not None and (claimed.lease_owner, claimed.lease_until) == ("B", T0 + 61)
    assert first_store.get_sync(record.id) == claimed


def test_a_lapsed_submit_lease_is_kept_while_its_owner_lives(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="submitting")
    live(first_store, "A", "B")
    assert first_store.claim_sync(record.id, "A", T0, T0 + 30) is not None
    live(first_store, "A", "B", now=T0 + 100)
    assert second_store.claim_sync(record.id, "B", T0 + 100, T0 + 130) is None  # a paid call may outlast any bound
    later = T0 + 100 + INSTANCE_STALE_SECONDS + 1  # A stopped beating: it is gone
    live(first_store, "B", now=later)
    claimed = second_store.claim_sync(record.id, "B", later, later + 30)
    assert claimed is not None and claimed.lease_owner == "B"


def test_a_dead_owners_lease_is_free_before_it_lapses(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="submitting")
    live(first_store, "A")
    assert first_store.claim_sync(record.id, "A", T0, T0 + 3600) is not None
    later = T0 + INSTANCE_STALE_SECONDS + 1
    live(second_store, "B", now=later)
    claimed = second_store.claim_sync(record.id, "B", later, later + 30)
    assert claimed is not None and claimed.lease_owner == "B"
    # An owner with no instance row at all (never registered, or unregistered) holds nothing either.
    ghost = insert(first_store, fingerprint="ghost")
    assert first_store.claim_sync(ghost.id, "ghost", T0, T0 + 3600) is not None
    assert second_store.claim_sync(ghost.id, "B", T0 + 1, T0 + 31) is not None


def test_a_due_claim_waits_for_the_shared_poll_time(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    scheduled = insert(first_store, next_poll_at=T0 + 10)
    unscheduled = insert(first_store, fingerprint="other")
    live(first_store, "A")
    assert second_store.claim_sync(scheduled.id, "A", T0 + 9.5, T0 + 30, due=True) is None
    assert first_store.get_sync(scheduled.id) == scheduled
    claimed = second_store.claim_sync(scheduled.id, "A", T0 + 10, T0 + 30, due=True)
    assert claimed is not None and claimed.lease_owner == "A"
    assert second_store.claim_sync(unscheduled.id, "A", T0, T0 + 30, due=True) is not None
    not_due = insert(first_store, next_poll_at=T0 + 100, fingerprint="later")
    assert second_store.claim_sync(not_due.id, "A", T0, T0 + 30) is not None  # without due: whenever


@pytest.mark.parametrize(
    ("state", "download_state", "claimable"),
    [
        ("succeeded", "none", True),
        ("succeeded", "downloading", True),
        ("succeeded", "downloaded", False),
        ("queued", "none", False),
        ("running", "none", False),
        ("failed", "none", False),
    ],
)
def test_a_download_claim_is_only_for_a_finished_task_whose_video_is_not_saved(
    store: Store, state: str, download_state: str, claimable: bool
) -> None:
    record = insert(store, state=state, download_state=download_state)
    live(store, "A")
    claimed = store.claim_sync(record.id, "A", T0, T0 + 600, download=True, download_state="downloading")
    assert (claimed is not None) is claimable
    if claimed is None:
        assert store.get_sync(record.id) == record
    else:
        assert (claimed.lease_owner, claimed.download_state) == ("A", "downloading")


def test_a_download_may_start_under_the_owners_own_poll_lease_but_not_under_anothers(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="running")
    live(first_store, "A", "B")
    assert first_store.claim_sync(record.id, "A", T0, T0 + 30) is not None
    first_store.update_sync(record.id, T0 + 1, state="succeeded")  # the poll saw it finish
    assert second_store.claim_sync(record.id, "B", T0 + 2, T0 + 600, download=True) is None
    download = first_store.claim_sync(record.id, "A", T0 + 2, T0 + 600, download=True)
    assert download is not None and (download.lease_owner, download.lease_until) == ("A", T0 + 600)
    # The poll's lease was replaced by the download's: releasing the poll's gives back nothing.
    assert first_store.release_sync(record.id, "A", T0 + 30, T0 + 3, next_poll_at=T0 + 99) is None
    assert second_store.get_sync(record.id) == download
    released = first_store.release_sync(record.id, "A", T0 + 600, T0 + 4, download_state="downloaded")
    assert released is not None and released.lease_owner is None and released.download_state == "downloaded"


def test_release_needs_the_owner_and_the_lease_it_took(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store)
    live(first_store, "A", "B")
    claimed = first_store.claim_sync(record.id, "A", T0, T0 + 30)
    assert claimed is not None
    assert second_store.release_sync(record.id, "B", T0 + 30, T0 + 1, state="failed") is None
    assert second_store.release_sync(record.id, "A", T0 + 31, T0 + 1, state="failed") is None
    assert second_store.get_sync(record.id) == claimed
    released = second_store.release_sync(record.id, "A", T0 + 30, T0 + 2, next_poll_at=T0 + 20, poll_count=1)
    assert released == dataclasses.replace(record, next_poll_at=T0 + 20, poll_count=1, updated_at=T0 + 2)
    assert first_store.get_sync(record.id) == released
    assert first_store.release_sync(record.id, "A", T0 + 30, T0 + 3) is None


def test_unregistering_an_instance_frees_its_leases(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    a1, a2, b1 = (insert(first_store, fingerprint=name) for name in ("a1", "a2", "b1"))
    live(first_store, "A", "B", "C")
    assert first_store.claim_sync(a1.id, "A", T0, T0 + 30) is not None
    assert first_store.claim_sync(a2.id, "A", T0, T0 + 30, state="submitting") is not None
    held = second_store.claim_sync(b1.id, "B", T0, T0 + 30)
    second_store.unregister_instance_sync("A")
    for record in (a1, a2):
        got = first_store.get_sync(record.id)
        assert got is not None and (got.lease_owner, got.lease_until) == (None, None)
    assert first_store.get_sync(b1.id) == held
    assert first_store.live_instances_sync(T0) == {"B", "C"}
    assert first_store.claim_sync(a2.id, "C", T0 + 1, T0 + 31) is not None
    second_store.unregister_instance_sync("never-registered")


# -- instances ------------------------------------------------------------------------------------------------------


def test_an_instance_is_live_until_its_heartbeat_is_stale(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    assert second_store.live_instances_sync(T0) == set()
    first_store.heartbeat_sync("A", T0)
    second_store.heartbeat_sync("B", T0 + 10)
    assert second_store.live_instances_sync(T0 + 10) == {"A", "B"}
    assert second_store.live_instances_sync(T0 + INSTANCE_STALE_SECONDS) == {"A", "B"}
    assert second_store.live_instances_sync(T0 + INSTANCE_STALE_SECONDS + 0.5) == {"B"}
    first_store.heartbeat_sync("A", T0 + 20)
    assert second_store.live_instances_sync(T0 + 20) == {"A", "B"}
    assert first_store.live_instances_sync(T0 + 40) == set()


def test_registering_records_the_instance_and_forgets_an_earlier_one_of_this_process(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first_store.register_instance_sync("A", T0)
    assert second_store.live_instances_sync(T0) == {"A"}
    # Same host and pid: A can only be an earlier engine of this very process, which is gone.
    second_store.register_instance_sync("B", T0 + 1)
    assert first_store.live_instances_sync(T0 + 1) == {"B"}
    first_store.heartbeat_sync("A", T0 + 2)  # a live one re-inserts itself on its next heartbeat
    assert second_store.live_instances_sync(T0 + 2) == {"A", "B"}
    first_store.unregister_instance_sync("A")
    assert second_store.live_instances_sync(T0 + 2) == {"B"}


def test_registering_forgets_the_instances_of_processes_that_are_gone(open_store: Opener) -> None:
    store = open_store()
    open_store.in_another_process(f"store.heartbeat_sync('exited', {T0!r})")  # then it exits
    assert store.live_instances_sync(T0) == {"exited"}
    # On this host, so its process is looked up: gone, so it is forgotten at once (not 15 s later).
    store.register_instance_sync("A", T0 + 1)
    assert store.live_instances_sync(T0 + 1) == {"A"}


# -- spend ----------------------------------------------------------------------------------------------------------


def test_spend_is_per_principal_and_ignores_failed_canceled_and_expired_tasks(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    insert(first_store, created_at=T0 - 10, cost_usd=100.0, fingerprint="before")
    insert(first_store, created_at=T0, cost_usd=1.25, fingerprint="local-1")
    insert(first_store, created_at=T0 + 5, cost_usd=2.5, fingerprint="local-2", state="succeeded")
    insert(first_store, created_at=T0 + 5, cost_usd=None, fingerprint="unpriced")
    for state in ("failed", "canceled", "expired"):
        insert(first_store, created_at=T0 + 5, cost_usd=40.0, fingerprint=state, state=state)
    insert(first_store, created_at=T0 + 5, cost_usd=8.0, fingerprint="alice", principal="alice")
    assert second_store.spent_since_sync(T0) == 3.75
    assert second_store.spent_since_sync(T0, LOCAL_PRINCIPAL) == 3.75
    assert second_store.spent_since_sync(T0 - 10) == 103.75
    assert second_store.spent_since_sync(T0, "alice") == 8.0
    assert second_store.spent_since_sync(T0, "nobody") == 0.0
    assert second_store.spent_since_sync(T0 + 6) == 0.0
    assert type(second_store.spent_since_sync(T0)) is float


# -- uploads --------------------------------------------------------------------------------------------------------


def upload(**fields: Any) -> Upload:
    values: dict[str, Any] = {
        "account": "acct",
        "model": "wan2.6-i2v",
        "sha256": "ef" * 32,
        "url": "oss://bucket/one.png",
        "size_bytes": 3_000_000_789,
        "uploaded_at": T0,
        "expires_at": T0 + 172800.5,
    }
    return Upload(**{**values, **fields})


def test_an_upload_is_found_for_its_account_model_and_bytes_while_it_lives(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    kept = upload()
    first_store.record_upload_sync(kept)
    assert second_store.find_upload_sync("acct", "wan2.6-i2v", "ef" * 32, T0 + 3600) == kept
    assert second_store.find_upload_sync("acct", "wan2.6-i2v", "ef" * 32, T0 + 172800) == kept
    assert second_store.find_upload_sync("acct", "wan2.6-i2v", "ef" * 32, T0 + 172800.5) is None  # must outlive it
    assert second_store.find_upload_sync("other", "wan2.6-i2v", "ef" * 32, T0) is None
    assert second_store.find_upload_sync("acct", "wan2.6-r2v", "ef" * 32, T0) is None
    assert second_store.find_upload_sync("acct", "wan2.6-i2v", "00" * 32, T0) is None


def test_recording_an_upload_again_replaces_the_older_one(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first_store.record_upload_sync(upload())
    other_model = upload(model="wan2.6-r2v", url="oss://bucket/r2v.png")
    first_store.record_upload_sync(other_model)
    newer = upload(url="oss://bucket/two.png", uploaded_at=T0 + 60, expires_at=T0 + 60 + 172800)
    second_store.record_upload_sync(newer)
    assert first_store.find_upload_sync("acct", "wan2.6-i2v", "ef" * 32, T0 + 100) == newer
    assert first_store.find_upload_sync("acct", "wan2.6-r2v", "ef" * 32, T0 + 100) == other_model


def test_expired_uploads_are_pruned_when_another_is_recorded(store: Store) -> None:
    short = upload(sha256="11" * 32, expires_at=T0 + 10)
    store.record_upload_sync(short)
    assert store.find_upload_sync("acct", "wan2.6-i2v", "11" * 32, T0) == short
    store.record_upload_sync(upload(sha256="22" * 32, uploaded_at=T0 + 20, expires_at=T0 + 3600))
    assert store.find_upload_sync("acct", "wan2.6-i2v", "11" * 32, 0.0) is None  # gone, not just filtered


# -- storyboards ----------------------------------------------------------------------------------------------------


def test_a_storyboard_round_trips_exactly(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = full_storyboard()
    assert_every_field_set(record)
    assert first_store.create_storyboard_sync(record, None) == (record, "new")
    assert_identical(second_store.get_storyboard_sync(record.id), record)
    assert_identical(second_store.list_storyboards_sync(principal=record.principal)[0], record)
    assert second_store.get_storyboard_sync("sb_missing") is None


def test_a_storyboards_key_attaches_whatever_its_request_or_state(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first = insert_storyboard(first_store, idempotency_key="k1", fingerprint="sf1")
    again = storyboard(idempotency_key="k1", fingerprint="sf2", endpoint=OTHER_ENDPOINT, created_at=T0 + 1)
    assert second_store.create_storyboard_sync(again, T0 - 600) == (first, "idempotency_key")
    assert second_store.repeated_storyboard_sync(again, None) == (first, "idempotency_key")
    failed = first_store.update_storyboard_sync(first.id, T0 + 2, state="failed")
    assert second_store.create_storyboard_sync(again, None) == (failed, "idempotency_key")
    assert second_store.get_storyboard_sync(again.id) is None


def test_a_storyboards_twin_attaches_within_the_window_unless_it_failed(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    first = insert_storyboard(first_store, fingerprint="sf", state="joining")
    twin = storyboard(fingerprint="sf", created_at=T0 + 60)
    assert second_store.repeated_storyboard_sync(twin, T0) == (first, "duplicate")
    assert second_store.create_storyboard_sync(twin, T0) == (first, "duplicate")
    assert second_store.repeated_storyboard_sync(twin, T0 + 1) is None
    assert second_store.repeated_storyboard_sync(twin, None) is None
    assert second_store.repeated_storyboard_sync(dataclasses.replace(twin, endpoint=OTHER_ENDPOINT), T0) is None
    assert second_store.repeated_storyboard_sync(dataclasses.replace(twin, principal="bob"), T0) is None
    first_store.update_storyboard_sync(first.id, T0 + 2, state="succeeded")
    assert second_store.create_storyboard_sync(twin, T0)[1] == "duplicate"
    first_store.update_storyboard_sync(first.id, T0 + 3, state="failed")
    assert second_store.create_storyboard_sync(twin, T0) == (twin, "new")


def test_storyboard_keys_are_each_principals_own(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    alice = insert_storyboard(first_store, principal="alice", idempotency_key="k1")
    bob = storyboard(principal="bob", idempotency_key="k1", created_at=T0 + 1)
    assert second_store.create_storyboard_sync(bob, T0 - 600) == (bob, "new")
    again = storyboard(principal="alice", idempotency_key="k1", created_at=T0 + 2)
    assert second_store.create_storyboard_sync(again, None) == (alice, "idempotency_key")
    assert first_store.list_storyboards_sync(principal="bob") == [bob]


def test_concurrent_storyboard_creates_with_one_key_make_one_storyboard(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [storyboard(idempotency_key="k1", fingerprint=f"sf{index}") for index in range(THREADS)]
    results = at_once(THREADS, lambda i: stores[i].create_storyboard_sync(records[i], T0 - 600))
    assert sorted(how for _, how in results) == ["idempotency_key"] * (THREADS - 1) + ["new"]
    assert len({record.id for record, _ in results}) == 1
    assert len(stores[0].list_storyboards_sync(limit=100)) == 1


def test_concurrent_identical_storyboards_within_the_window_make_one(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    records = [storyboard(fingerprint="sf") for _ in range(THREADS)]
    results = at_once(THREADS, lambda i: stores[i].create_storyboard_sync(records[i], T0 - 600))
    assert sorted(how for _, how in results) == ["duplicate"] * (THREADS - 1) + ["new"]
    assert len(stores[0].list_storyboards_sync(limit=100)) == 1


def test_update_storyboard_sets_columns_and_stamps_the_time(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert_storyboard(first_store)
    updated = second_store.update_storyboard_sync(record.id, T0 + 5, state="joining", seconds=9.5)
    assert updated == dataclasses.replace(record, state="joining", seconds=9.5, updated_at=T0 + 5)
    assert first_store.get_storyboard_sync(record.id) == updated
    with pytest.raises(ValueError):
        second_store.update_storyboard_sync(record.id, T0 + 6, state="failed", colour="blue")
    assert first_store.get_storyboard_sync(record.id) == updated
    with pytest.raises(KeyError):
        second_store.update_storyboard_sync("sb_missing", T0 + 6, state="failed")


def test_set_shots_changes_only_the_shots_given(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert_storyboard(first_store, shots_json=json.dumps([{"task_id": "wan_0", "attempt": 1}, None, None]))
    changed = second_store.set_shots_sync(record.id, T0 + 5, {2: {"task_id": "wan_2", "attempt": 1}}, error="x")
    assert changed is not None
    assert changed.shots == [{"task_id": "wan_0", "attempt": 1}, None, {"task_id": "wan_2", "attempt": 1}]
    assert (changed.error, changed.updated_at) == ("x", T0 + 5)
    assert first_store.get_storyboard_sync(record.id) == changed
    again = first_store.set_shots_sync(
        record.id, T0 + 6, {0: {"task_id": "wan_0b", "attempt": 2}}, expect_state="running", state="joining"
    )
    assert again is not None
    assert again.shots == [{"task_id": "wan_0b", "attempt": 2}, None, {"task_id": "wan_2", "attempt": 1}]
    assert again.state == "joining"


def test_set_shots_expecting_another_state_changes_nothing(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert_storyboard(first_store, state="failed")
    shot = {0: {"task_id": "wan_0", "attempt": 2}}
    assert second_store.set_shots_sync(record.id, T0 + 5, shot, expect_state="running", state="running") is None
    assert first_store.get_storyboard_sync(record.id) == record
    with pytest.raises(KeyError):
        second_store.set_shots_sync("sb_missing", T0 + 5, shot)


def test_concurrent_set_shots_on_different_shots_all_survive(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    record = insert_storyboard(stores[0], shots_json=json.dumps([None] * THREADS))
    for round_ in range(3):  # several rounds: a lost update would show in any of them
        at_once(
            THREADS,
            lambda i, round_=round_: stores[i].set_shots_sync(
                record.id, T0 + round_, {i: {"task_id": f"wan_{i}", "attempt": round_}}, expect_state="running"
            ),
        )
        got = stores[0].get_storyboard_sync(record.id)
        assert got is not None
        assert got.shots == [{"task_id": f"wan_{i}", "attempt": round_} for i in range(THREADS)]


def test_claiming_a_storyboard(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert_storyboard(first_store)
    live(first_store, "A", "B")
    assert second_store.claim_storyboard_sync(record.id, OTHER_ENDPOINT, "A", T0, T0 + 30) is False
    assert second_store.claim_storyboard_sync("sb_missing", ENDPOINT, "A", T0, T0 + 30) is False
    assert second_store.claim_storyboard_sync(record.id, ENDPOINT, "A", T0, T0 + 30) is True
    got = first_store.get_storyboard_sync(record.id)
    assert got is not None and (got.owner, got.owner_until) == ("A", T0 + 30)
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "B", T0 + 1, T0 + 31) is False
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "A", T0 + 1, T0 + 40) is True  # keeps it
    got = second_store.get_storyboard_sync(record.id)
    assert got is not None and (got.owner, got.owner_until) == ("A", T0 + 40)
    # A's hold lapses after owner_until even while A lives.
    live(first_store, "A", "B", now=T0 + 40)
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "B", T0 + 40, T0 + 70) is False
    live(first_store, "A", "B", now=T0 + 41)
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "B", T0 + 41, T0 + 71) is True
    # B dies before its hold lapses: A takes it over.
    later = T0 + 41 + INSTANCE_STALE_SECONDS + 1
    live(first_store, "A", now=later)
    assert second_store.claim_storyboard_sync(record.id, ENDPOINT, "A", later, later + 30) is True
    got = first_store.get_storyboard_sync(record.id)
    assert got is not None and got.owner == "A"


@pytest.mark.parametrize(
    ("state", "claimable"), [("running", True), ("joining", True), ("succeeded", False), ("failed", False)]
)
def test_only_an_open_storyboard_is_claimed(store: Store, state: str, claimable: bool) -> None:
    record = insert_storyboard(store, state=state)
    live(store, "A")
    assert store.claim_storyboard_sync(record.id, ENDPOINT, "A", T0, T0 + 30) is claimable


def test_concurrent_claims_of_one_storyboard_have_one_winner(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    record = insert_storyboard(stores[0])
    live(stores[0], *(f"instance-{index}" for index in range(THREADS)))
    results = at_once(
        THREADS, lambda i: stores[i].claim_storyboard_sync(record.id, ENDPOINT, f"instance-{i}", T0 + 1, T0 + 31)
    )
    assert results.count(True) == 1
    got = stores[0].get_storyboard_sync(record.id)
    assert got is not None and got.owner == f"instance-{results.index(True)}"


def test_releasing_a_storyboard_needs_its_owner(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert_storyboard(first_store)
    live(first_store, "A", "B")
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "A", T0, T0 + 30)
    second_store.release_storyboard_sync(record.id, "B")
    got = first_store.get_storyboard_sync(record.id)
    assert got is not None and got.owner == "A"
    second_store.release_storyboard_sync(record.id, "A")
    got = first_store.get_storyboard_sync(record.id)
    assert got is not None and (got.owner, got.owner_until) == (None, None)
    assert first_store.claim_storyboard_sync(record.id, ENDPOINT, "B", T0 + 1, T0 + 31)
    second_store.release_storyboard_sync("sb_missing", "A")


def test_listing_storyboards(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    states = ["running", "succeeded", "failed", "joining", "succeeded"]
    boards = [
        insert_storyboard(first_store, state=state, created_at=T0 + index, fingerprint=f"sf{index}")
        for index, state in enumerate(states)
    ]
    insert_storyboard(first_store, principal="bob", created_at=T0 + 10)
    assert second_store.list_storyboards_sync() == boards[::-1]
    assert second_store.list_storyboards_sync(limit=2) == [boards[4], boards[3]]
    assert second_store.list_storyboards_sync(["succeeded"]) == [boards[4], boards[1]]
    assert second_store.list_storyboards_sync(["running", "joining"], limit=1) == [boards[3]]
    assert second_store.list_storyboards_sync([]) == boards[::-1]  # no filter
    assert second_store.list_storyboards_sync(principal=LOCAL_PRINCIPAL, states=("failed",)) == [boards[2]]
    assert len(second_store.list_storyboards_sync(principal="bob")) == 1
    assert second_store.list_storyboards_sync(principal="nobody") == []


def test_open_storyboards_are_this_endpoints_unfinished_ones_oldest_first(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    joining = insert_storyboard(first_store, state="joining", created_at=T0 + 2, fingerprint="a")
    running = insert_storyboard(first_store, state="running", created_at=T0 + 1, fingerprint="b")
    insert_storyboard(first_store, state="succeeded", created_at=T0, fingerprint="c")
    insert_storyboard(first_store, state="failed", created_at=T0, fingerprint="d")
    elsewhere = insert_storyboard(first_store, state="running", endpoint=OTHER_ENDPOINT, fingerprint="e")
    bobs = insert_storyboard(first_store, state="running", principal="bob", created_at=T0 + 3, fingerprint="f")
    assert second_store.open_storyboards_sync(ENDPOINT) == [running, joining, bobs]  # every principal's
    assert second_store.open_storyboards_sync(OTHER_ENDPOINT) == [elsewhere]
    assert second_store.open_storyboards_sync("https://none") == []


# -- queries --------------------------------------------------------------------------------------------------------


def test_find_remote_with_and_without_the_provider(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, remote_id="r1")
    assert second_store.find_remote_sync("r1") == record
    assert second_store.find_remote_sync("r1", "dashscope") == record
    assert second_store.find_remote_sync("r1", "newapi") is None
    assert second_store.find_remote_sync("r2") is None


def test_submitting_like_sees_another_tasks_submit_of_the_same_request(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    mine = insert(first_store, state="submitting", fingerprint="fp")
    assert second_store.submitting_like_sync("fp", ENDPOINT, exclude=mine.id) is False
    other = insert(first_store, state="queued", fingerprint="fp")
    insert(first_store, state="submitting", fingerprint="fp", endpoint=OTHER_ENDPOINT)
    insert(first_store, state="submitting", fingerprint="fp2")
    assert second_store.submitting_like_sync("fp", ENDPOINT, exclude=mine.id) is False
    assert second_store.submitting_like_sync("fp", ENDPOINT, exclude=other.id) is True
    first_store.update_sync(other.id, T0 + 1, state="submitting")
    assert second_store.submitting_like_sync("fp", ENDPOINT, exclude=mine.id) is True


def test_listing_tasks(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    states = ["queued", "succeeded", "failed", "running", "succeeded"]
    tasks = [
        insert(first_store, state=state, created_at=T0 + index, fingerprint=f"f{index}")
        for index, state in enumerate(states)
    ]
    bobs = insert(first_store, principal="bob", created_at=T0 + 10)
    assert second_store.list_sync() == tasks[::-1]
    assert second_store.list_sync(limit=2) == [tasks[4], tasks[3]]
    assert second_store.list_sync(["succeeded"]) == [tasks[4], tasks[1]]
    assert second_store.list_sync(["queued", "running"], limit=1) == [tasks[3]]
    assert second_store.list_sync([]) == tasks[::-1]  # no filter
    assert second_store.list_sync(("failed",), principal=LOCAL_PRINCIPAL) == [tasks[2]]
    assert second_store.list_sync(principal="bob") == [bobs]
    assert second_store.list_sync(["queued"], principal="bob") == [bobs]
    assert second_store.list_sync(principal="nobody") == []


def test_open_tasks_are_this_endpoints_unfinished_ones_oldest_first(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    expected = [
        insert(first_store, state=state, created_at=T0 + 10 - index, fingerprint=state)
        for index, state in enumerate(OPEN_STATES)
    ][::-1]
    for state in ("succeeded", "failed", "canceled", "expired"):
        insert(first_store, state=state, fingerprint=state)
    elsewhere = insert(first_store, state="running", endpoint=OTHER_ENDPOINT)
    bobs = insert(first_store, state="queued", principal="bob", created_at=T0 + 20)
    assert second_store.open_tasks_sync(ENDPOINT) == [*expected, bobs]  # every principal's
    assert second_store.open_tasks_sync(OTHER_ENDPOINT) == [elsewhere]
    assert second_store.open_tasks_sync("https://none") == []


def test_pending_downloads_are_finished_tasks_whose_video_is_not_saved_yet(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    later = insert(first_store, state="succeeded", finished_at=T0 + 20, download_state="none", fingerprint="a")
    earlier = insert(first_store, state="succeeded", finished_at=T0 + 10, download_state="downloading")
    insert(first_store, state="succeeded", finished_at=T0, download_state="downloaded", fingerprint="b")
    insert(first_store, state="succeeded", finished_at=T0, download_state="failed", fingerprint="c")
    insert(first_store, state="running", fingerprint="d")
    elsewhere = insert(first_store, state="succeeded", endpoint=OTHER_ENDPOINT, finished_at=T0, fingerprint="e")
    assert second_store.pending_downloads_sync(ENDPOINT) == [earlier, later]
    assert second_store.pending_downloads_sync(OTHER_ENDPOINT) == [elsewhere]


# -- the shared poll budget -----------------------------------------------------------------------------------------


def test_poll_reservations_are_spaced_by_the_interval(store: Store) -> None:
    assert store.reserve_poll_sync("acct", 0.5, 1000.0) == 1000.0
    assert store.reserve_poll_sync("acct", 0.5, 1000.0) == 1000.5
    assert store.reserve_poll_sync("acct", 0.5, 1000.25) == 1001.0
    assert store.reserve_poll_sync("acct", 0.5, 1001.75) == 1001.75  # later than the next slot: now
    assert store.reserve_poll_sync("acct", 0.5, 1001.75) == 1002.25


def test_poll_reservations_are_shared_by_every_handle_and_separate_per_account(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    assert first_store.reserve_poll_sync("acct", 0.5, 1000.0) == 1000.0
    assert second_store.reserve_poll_sync("acct", 0.5, 1000.0) == 1000.5
    assert first_store.reserve_poll_sync("acct", 0.5, 1000.0) == 1001.0
    assert second_store.reserve_poll_sync("other", 0.5, 1000.0) == 1000.0
    assert first_store.reserve_poll_sync("other", 0.5, 1000.0) == 1000.5
    assert second_store.reserve_poll_sync("acct", 0.5, 1000.0) == 1001.5


def test_an_idle_account_gets_no_burst_credit(store: Store) -> None:
    assert store.reserve_poll_sync("acct", 0.5, 1000.0) == 1000.0
    # Idle for a minute: the next call may go now, but the one after still waits its interval.
    assert store.reserve_poll_sync("acct", 0.5, 1060.0) == 1060.0
    assert store.reserve_poll_sync("acct", 0.5, 1060.0) == 1060.5
    assert store.reserve_poll_sync("acct", 0.5, 1060.0) == 1061.0


def test_concurrent_poll_reservations_each_get_their_own_slot(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    slots = at_once(THREADS, lambda i: stores[i].reserve_poll_sync("acct", 0.25, 1000.0))
    assert sorted(slots) == [1000.0 + 0.25 * index for index in range(THREADS)]


def test_calls_are_admitted_in_a_burst_then_one_per_interval_on_every_handle(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    burst = [store.admit_call_sync("calls:alice", 20.0, 3, 1000.0) for store in (first_store, second_store) * 2]
    assert burst == [0.0, 0.0, 0.0, 20.0]
    assert second_store.admit_call_sync("calls:bob", 20.0, 3, 1000.0) == 0.0
    assert first_store.admit_call_sync("calls:alice", 20.0, 3, 1020.0) == 0.0
    assert second_store.admit_call_sync("calls:alice", 20.0, 3, 1020.0) == 20.0  # refused calls are not counted
    assert first_store.admit_call_sync("calls:alice", 20.0, 3, 1200.0) == 0.0  # idle: a burst again


def test_concurrent_calls_admit_exactly_the_burst(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    waits = at_once(THREADS, lambda i: stores[i].admit_call_sync("calls:alice", 10.0, 3, 1000.0))
    assert sorted(wait == 0.0 for wait in waits) == [False] * (THREADS - 3) + [True] * 3


def test_one_handle_at_a_time_claims_a_due_sweep_and_each_learns_when_one_last_worked(open_store: Opener) -> None:
    first_store, second_store = open_store(), open_store()
    assert first_store.claim_sweep_sync("acct", 1000.0, 2.0) == (True, None)
    assert second_store.claim_sweep_sync("acct", 1001.0, 2.0) == (False, None)  # not due until 1002
    first_store.swept_sync("acct", 1000.5)
    assert second_store.claim_sweep_sync("acct", 1002.0, 2.0) == (True, 1000.5)
    assert first_store.claim_sweep_sync("acct", 1003.0, 2.0) == (False, 1000.5)
    assert first_store.claim_sweep_sync("other", 1003.0, 2.0) == (True, None)
    # The budget's own slots are untouched by sweeps, and sweeps by the budget.
    assert first_store.reserve_poll_sync("acct", 0.5, 1003.0) == 1003.0
    assert second_store.claim_sweep_sync("acct", 1004.0, 2.0) == (True, 1000.5)


def test_concurrent_sweep_claims_have_one_winner(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    won = at_once(THREADS, lambda i: stores[i].claim_sweep_sync("acct", 1000.0, 2.0)[0])
    assert sorted(won) == [False] * (THREADS - 1) + [True]


# -- the async wrappers ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_async_wrappers_run_off_the_event_loop(open_store: Opener) -> None:
    store = open_store()
    loop_thread = threading.get_ident()

    def work(a: int, *, b: int) -> tuple[int, int]:
        return a + b, threading.get_ident()

    total, thread = await store.run(work, 2, b=3)
    assert total == 5 and thread != loop_thread
    record = await store.run(insert, store)
    assert await store.get(record.id) == record
    assert await store.get("wan_missing") is None
    updated = await store.update(record.id, T0 + 1, state="running")
    assert updated == dataclasses.replace(record, state="running", updated_at=T0 + 1)
    assert open_store().get_sync(record.id) == updated
    with pytest.raises(KeyError):
        await store.update("wan_missing", T0, state="running")
