"""A paid submit whose answer cannot be written at once (the store fails: a database restarting) is not lost: the
write is tried again, and if it never succeeds the task is reconciled against the provider's list, never resent.

The real server in memory on the DashScope provider at the simulator on 127.0.0.1; the store's write of the provider's
task id fails as a database outage does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.simulated import served
from wan_video_mcp.server.errors import StoreUnreachable
from wan_video_mcp.server.jobs import submit
from wan_video_mcp.server.store import TaskStore

pytestmark = pytest.mark.anyio

REQUEST = {"model": "wan2.7-t2v", "duration": 2, "resolution": "720P", "prompt": "a lantern", "wait_seconds": 5}


@pytest.mark.parametrize("failures", [1, 3])
async def test_a_paid_submit_whose_answer_cannot_be_written_is_saved_without_paying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    """One failed write: written on the next try. More failures than tries: the submit ends, this process gives up
    its lease, and the task is reconciled from the provider's list; either way one task is paid and saved."""
    original = TaskStore.update_sync
    left = [failures]

    def flaky(self: TaskStore, task_id: str, now: float, **changes: Any) -> Any:
        if left[0] and changes.get("remote_id"):
            left[0] -= 1
            raise StoreUnreachable("the store", "server closed the connection unexpectedly")
        return original(self, task_id, now, **changes)

    monkeypatch.setattr(TaskStore, "update_sync", flaky)
    monkeypatch.setattr(submit, "RECORD_RETRY_DELAYS", (0.2, 0.2))
    settings = {"sweep_min_tasks": 0, "reconcile_interval_seconds": 0.5}
    async with served(tmp_path, settings, run_seconds=1.0) as (client, sim, config):
        made = await client.call_tool("generate_video", REQUEST)
        store = TaskStore(config.db_path)
        try:
            with anyio.move_on_after(45):
                while (record := store.list_sync(None, 5)[0]).download_state != "downloaded":
                    await anyio.sleep(0.3)
        finally:
            store.close()
        submits = sim.stats.submits
    said = made.structured_content or {}
    # The caller waiting on a submit whose answer is not written is told so (retryable); the task carries on.
    assert (made.is_error, said.get("error_code")) == ((True, "store_unreachable") if failures == 3 else (False, None))
    assert (record.state, record.download_state, submits) == ("succeeded", "downloaded", 1), record
    assert record.adopted is (failures == 3)  # found again in the provider's list, not resent


@pytest.mark.parametrize("stopped", ["before its first attempt was counted", "after counting an attempt"])
async def test_a_submit_a_stopped_process_never_sent_is_sent_once_and_an_ambiguous_one_is_not_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped: str
) -> None:
    """Each attempt is counted in the store before it is sent. The next process sends a submit whose process stopped
    before counting one (it was never sent), exactly once; one with an attempt counted may have reached the provider,
    so it is reconciled, never resent."""
    from mcp import Client
    from pydantic import SecretStr

    from tests.simulated import QUICK_POLLING, QUICK_RENDER
    from wan_video_mcp.server.app import build_server
    from wan_video_mcp.server.config import Settings
    from wan_video_mcp.server.simulator import Simulator, SimulatorConfig

    async def never(*args: Any, **kwargs: Any) -> Any:
        await anyio.sleep_forever()  # this process stops here (its submit job is cancelled with it)

    async with Simulator(SimulatorConfig(**QUICK_RENDER)) as sim:
        settings = Settings(
            provider="dashscope",
            api_key=SecretStr("sk-test"),
            base_url=sim.base_url,
            data_dir=tmp_path,
            **(QUICK_POLLING | {"sweep_min_tasks": 0, "reconcile_interval_seconds": 0.5, "max_wait_seconds": 5}),
        )
        with monkeypatch.context() as patched:
            patched.setattr(submit.Submitter, "_submit_once", never)  # the process stops before it sends anything
            async with Client(build_server(settings)) as client:
                made = await client.call_tool("generate_video", {**REQUEST, "wait_seconds": 0})
        if stopped.startswith("after"):  # ... or stops after counting its attempt, before the answer came
            store = TaskStore(settings.db_path)
            store.update_sync(store.list_sync(None, 1)[0].id, time.time(), submit_attempts=1)
            store.close()
        async with Client(build_server(settings)):  # the next process on the store
            store = TaskStore(settings.db_path)
            try:
                with anyio.move_on_after(20 if stopped.startswith("before") else 5):
                    while (record := store.list_sync(None, 5)[0]).download_state != "downloaded":
                        await anyio.sleep(0.2)
            finally:
                store.close()
        submits = sim.stats.submits
    assert (made.structured_content or {}).get("status") == "submitting", made.content
    if stopped.startswith("before"):
        assert (record.state, record.download_state, record.submit_attempts, submits) == (
            "succeeded",
            "downloaded",
            1,
            1,
        )
    else:
        assert (record.state, record.remote_id, record.submit_attempts, submits) == ("unknown", None, 1, 0)
