"""Fixtures shared by the test modules."""

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from tests import pgcluster

# The task store's contract suite (tests/test_store_contract_*.py) takes its fixtures from this plugin module.
pytest_plugins = ["tests.store_contract"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    # assert_all_mocked: a request to a URL without a route fails the test instead of reaching the internet.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server's URL: ``WAN_TEST_DATABASE_URL`` (``.ci/run`` starts one), else a throwaway cluster of this
    session (each xdist worker starts its own, about a second). Without PostgreSQL the tests that need it are
    skipped, unless ``WAN_REQUIRE_POSTGRES=1`` (CI): then they fail, so a missing server never passes unnoticed."""
    if not os.environ.get(pgcluster.ENV_URL) and pgcluster.bindir() is None:
        reason = f"no PostgreSQL server binaries (initdb, pg_ctl) found and {pgcluster.ENV_URL} is not set"
        if os.environ.get("WAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (WAN_REQUIRE_POSTGRES=1), but {reason}")
        pytest.skip(reason)
    with pgcluster.server_url() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new empty database on the test server (dropped after the test): its URL."""
    with pgcluster.fresh_database(pg_server) as url:
        yield url
