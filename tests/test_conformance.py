"""The MCP conformance suite's server scenarios pass, except those that need the suite's own fixtures."""

from __future__ import annotations

import pytest

from tests import conformance

pytestmark = pytest.mark.e2e

MUST_PASS = {
    "server-initialize",
    "logging-set-level",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}


def test_every_conformance_scenario_that_tests_this_server_passes_and_the_rest_are_listed_with_a_reason(tmp_path):
    scenarios = {s.name: s for s in conformance.run(tmp_path)}
    # Every scenario the suite ran is either required to pass or excluded with a reason (a new one shows up here).
    assert set(scenarios) == MUST_PASS | set(conformance.EXCLUDED), set(scenarios) ^ (
        MUST_PASS | set(conformance.EXCLUDED)
    )
    failing = {name: scenarios[name].failures for name in MUST_PASS if not scenarios[name].passed}
    assert failing == {}
    assert all(reason for reason in conformance.EXCLUDED.values())
