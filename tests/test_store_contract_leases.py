"""Store contract (see store_contract.py): hurry, leases, instances, the poll budget, call admission, sweeps."""

from __future__ import annotations

import dataclasses

import pytest

from tests.store_contract import (
    T0,
    THREADS,
    Opener,
    at_once,
    insert,
    live,
)
from wan_video_mcp.server.store import (
    INSTANCE_STALE_SECONDS,
    Store,
)

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


def test_an_attempt_is_counted_only_by_the_submits_holder_and_only_once(open_store: Opener) -> None:
    """A process taken for gone whose submit was taken over counts nothing (and so sends nothing); the taker counts
    the attempt the old holder had not; no attempt is counted twice."""
    first_store, second_store = open_store(), open_store()
    record = insert(first_store, state="submitting", lease_owner="A", lease_until=T0 + 300)
    counted = first_store.count_attempt_sync(record.id, "A", 1, T0 + 1, T0 + 301)
    assert counted is not None and (counted.submit_attempts, counted.lease_until) == (1, T0 + 301)
    assert first_store.count_attempt_sync(record.id, "A", 1, T0 + 2, T0 + 302) is None  # counted already
    assert second_store.count_attempt_sync(record.id, "B", 2, T0 + 2, T0 + 302) is None  # not B's submit
    other = insert(first_store, state="submitting", fingerprint="other", lease_owner="A", lease_until=T0 + 300)
    later = T0 + INSTANCE_STALE_SECONDS + 1
    live(second_store, "B", now=later)  # A is gone: B takes its submit over before A counted an attempt
    assert second_store.claim_sync(other.id, "B", later, later + 300) is not None
    assert first_store.count_attempt_sync(other.id, "A", 1, later, later + 300) is None  # A woke up: sends nothing
    taken = second_store.count_attempt_sync(other.id, "B", 1, later, later + 300)
    assert taken is not None and (taken.submit_attempts, taken.lease_owner) == (1, "B")
    done = insert(first_store, state="queued", fingerprint="done", lease_owner="A", lease_until=T0 + 300)
    assert first_store.count_attempt_sync(done.id, "A", 1, T0, T0 + 300) is None  # only a task being submitted


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
    assert first_store.claim_sweep_sync("acct", 1000.0, 60.0) == (True, None)
    assert second_store.claim_sweep_sync("acct", 1030.0, 60.0) == (False, None)  # held until it ends (or 1060)
    first_store.end_sweep_sync("acct", 1032.0, 1030.5, False)  # it worked; the next is due at 1032
    assert second_store.claim_sweep_sync("acct", 1031.0, 60.0) == (False, 1030.5)
    assert second_store.claim_sweep_sync("acct", 1032.0, 60.0) == (True, 1030.5)
    second_store.end_sweep_sync("acct", 1035.0, None, False)  # it failed: when one last worked is kept
    assert first_store.claim_sweep_sync("acct", 1035.0, 60.0) == (True, 1030.5)
    first_store.end_sweep_sync("acct", 1037.0, None, True)  # sweeps stopped: nobody counts on them
    assert second_store.claim_sweep_sync("acct", 1037.0, 60.0) == (True, None)
    assert first_store.claim_sweep_sync("other", 1037.0, 60.0) == (True, None)
    # The budget's own slots are untouched by sweeps, and sweeps by the budget.
    assert first_store.reserve_poll_sync("acct", 0.5, 1040.0) == 1040.0
    assert second_store.claim_sweep_sync("acct", 1097.0, 60.0) == (True, None)  # a dead sweeper's turn lapses


def test_concurrent_sweep_claims_have_one_winner(open_store: Opener) -> None:
    stores = [open_store() for _ in range(THREADS)]
    won = at_once(THREADS, lambda i: stores[i].claim_sweep_sync("acct", 1000.0, 2.0)[0])
    assert sorted(won) == [False] * (THREADS - 1) + [True]
