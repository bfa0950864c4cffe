"""Store contract (see store_contract.py): opening, creating (attach, dedupe, admit), concurrent creates, spend."""

from __future__ import annotations

import time

import pytest

from tests.store_contract import (
    DAY_START,
    ENDPOINT,
    OTHER_ENDPOINT,
    T0,
    THREADS,
    Opener,
    Refused,
    admit_any,
    at_once,
    insert,
    insert_storyboard,
    live,
    refuse_any,
    task,
)
from wan_video_mcp.server.store import (
    LOCAL_PRINCIPAL,
    Store,
)

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
