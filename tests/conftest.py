"""Fixtures shared by the test modules."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx


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
