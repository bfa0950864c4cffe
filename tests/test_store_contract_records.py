"""Store contract (see store_contract.py): updates and round trips, adopt and assign_remote, queries."""

from __future__ import annotations

import dataclasses

import pytest

from tests.store_contract import (
    ENDPOINT,
    OTHER_ENDPOINT,
    T0,
    Opener,
    admit_any,
    assert_every_field_set,
    assert_identical,
    full_task,
    insert,
    insert_storyboard,
    live,
    task,
)
from wan_video_mcp.server.store import (
    LOCAL_PRINCIPAL,
    OPEN_STATES,
    Store,
)

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


def test_text_with_a_nul_character_is_stored_without_failing(store: Store) -> None:
    """A provider's text may carry a NUL, which PostgreSQL refuses in text: the write must not fail (a poll that
    records a finished task would otherwise fail forever)."""
    record = insert(store)
    updated = store.update_sync(record.id, T0 + 1, actual_prompt="a\x00b", error_message="x\x00")
    got = store.get_sync(record.id)
    assert got is not None and got == updated
    assert (got.actual_prompt or "").replace("\x00", "") == "ab"
