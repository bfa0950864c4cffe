"""A paid submit whose answer cannot be written at once (the store fails: a database restarting) is not lost: the
write is tried again, and if it never succeeds the task is reconciled against the provider's list, never resent.

The real server in memory on the DashScope provider at the simulator on 127.0.0.1; the store's write of the provider's
task id fails as a database outage does.
"""

from __future__ import annotations

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
