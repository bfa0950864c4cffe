"""Store contract (see store_contract.py): uploads, storyboards and the async wrappers."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest

from tests.store_contract import (
    ENDPOINT,
    OTHER_ENDPOINT,
    T0,
    THREADS,
    Opener,
    assert_every_field_set,
    assert_identical,
    at_once,
    full_storyboard,
    insert,
    insert_storyboard,
    live,
    storyboard,
)
from wan_video_mcp.server.store import (
    INSTANCE_STALE_SECONDS,
    LOCAL_PRINCIPAL,
    Store,
    Upload,
)

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
