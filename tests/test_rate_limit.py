"""The per-principal limit on tool calls (``WAN_RATE_LIMIT_PER_MINUTE``, server/access.py ``CallRate``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.simulated import served
from wan_video_mcp.server.access import CallRate
from wan_video_mcp.server.store import TaskStore

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("where", ["this process", "the store"])
async def test_a_limit_allows_a_burst_of_the_limit_then_one_call_per_share_of_a_minute_per_principal(
    tmp_path: Path, where: str
) -> None:
    now = [0.0]
    rate = CallRate(3, clock=lambda: now[0], store=TaskStore(tmp_path / "t.sqlite3") if where == "the store" else None)
    burst = [await rate.wait_for("alice") for _ in range(4)]
    other = await rate.wait_for("bob")
    now[0] = 20.0  # a third of a minute: one call's worth
    later = [await rate.wait_for("alice"), await rate.wait_for("alice")]
    assert (burst, other, later) == ([0.0, 0.0, 0.0, 20.0], 0.0, [0.0, 20.0])


async def test_replicas_on_one_store_share_each_principals_limit(tmp_path: Path) -> None:
    """Two processes' limits on one store count the same calls: the limit is the principal's, not each replica's."""
    now = [0.0]
    first, second = (CallRate(2, clock=lambda: now[0], store=TaskStore(tmp_path / "t.sqlite3")) for _ in range(2))
    waits = [await first.wait_for("alice"), await second.wait_for("alice"), await first.wait_for("alice")]
    assert waits == [0.0, 0.0, 30.0]


async def test_over_the_limit_a_call_is_a_retryable_error_naming_it_and_does_nothing(tmp_path: Path) -> None:
    async with served(tmp_path, {"rate_limit_per_minute": 2}) as (client, sim, _):
        answers = [await client.call_tool("list_tasks", {}) for _ in range(3)]
    refused = answers[2].structured_content or {}
    assert [a.is_error for a in answers] == [False, False, True]
    assert (refused.get("error_code"), refused.get("retryable")) == ("rate_limited", True), refused
    assert "WAN_RATE_LIMIT_PER_MINUTE" in refused.get("message", "") and "Call again in" in refused.get("hint", "")
    assert sim.stats.submits == 0
