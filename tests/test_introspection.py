"""The OAuth resource server's token check (server/auth.py ``Introspection``) against an RFC 7662 endpoint mocked
with respx: what makes a token good, who it names, and what is cached."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from wan_video_mcp.server.auth import Introspection

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/introspect"
ISSUER = "http://127.0.0.1:9/issuer"
RESOURCE = "http://127.0.0.1:8000/mcp"
NOW = 1_800_000_000.0


def good(**changes: Any) -> dict[str, Any]:
    answer = {
        "active": True,
        "sub": "user-42",
        "client_id": "agent-app",
        "iss": ISSUER,
        "aud": RESOURCE,
        "scope": "video:generate profile",
        "exp": NOW + 3600,
    }
    return {k: v for k, v in (answer | changes).items() if v is not None}


async def verified(answer: dict[str, Any], **options: Any) -> Any:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(URL).respond(json=answer)
        async with httpx.AsyncClient() as client:
            check = Introspection(
                URL,
                ISSUER,
                resource=RESOURCE,
                required_scopes=("video:generate",),
                client=client,
                clock=lambda: NOW,
                **options,
            )
            return await check.verify_token("opaque-token")


async def test_an_active_token_for_this_resource_with_the_scope_names_its_issuer_and_subject() -> None:
    """The principal is the issuer plus the subject, so two issuers' 'user-42' are two principals."""
    token = await verified(good())
    assert (token.subject, token.client_id, token.scopes, token.expires_at) == (
        f"{ISSUER}#user-42",
        "agent-app",
        ["video:generate", "profile"],
        int(NOW + 3600),
    )


@pytest.mark.parametrize(
    "answer",
    [
        good(active=False),
        good(exp=NOW - 1),
        good(iss="http://127.0.0.1:9/another-issuer"),
        good(aud="http://127.0.0.1:9999/another-resource"),
        good(scope="profile"),
        good(sub=None, client_id=None),
        {"active": "true", "sub": "x"},  # a string is not true
    ],
    ids=["inactive", "expired", "other issuer", "other audience", "scope missing", "nobody", "not a boolean"],
)
async def test_a_token_failing_any_check_is_refused(answer: dict[str, Any]) -> None:
    assert await verified(answer) is None


async def test_without_a_subject_the_client_is_the_principal() -> None:
    token = await verified(good(sub=None))
    assert token.subject == f"{ISSUER}#client:agent-app"


async def test_an_audience_list_naming_this_resource_is_accepted() -> None:
    token = await verified(good(aud=["http://127.0.0.1:1/other", RESOURCE + "/"]))
    assert token is not None


async def test_the_answer_is_cached_briefly_and_the_token_is_sent_with_the_clients_credentials() -> None:
    """One request for two checks of one token within the cache time; HTTP Basic with the client credentials;
    the token itself is not kept in the cache."""
    with respx.mock() as mock:
        route = mock.post(URL).respond(json=good())
        async with httpx.AsyncClient() as client:
            check = Introspection(
                URL, ISSUER, resource=RESOURCE, client_id="rs", client_secret="s3", client=client, clock=lambda: NOW
            )
            first = await check.verify_token("opaque-token")
            second = await check.verify_token("opaque-token")
    request = route.calls[0].request
    assert (route.call_count, first.subject, second.subject) == (1, f"{ISSUER}#user-42", f"{ISSUER}#user-42")
    assert request.headers["authorization"].startswith("Basic ")
    assert b"token=opaque-token" in request.content
    assert "opaque-token" not in json.dumps([cached[1].model_dump() for cached in check._cache.values() if cached[1]])


async def test_an_unreachable_or_failing_introspection_endpoint_refuses_and_is_asked_again_next_time() -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            side_effect=[httpx.ConnectError("down"), httpx.Response(500), httpx.Response(200, json=good())]
        )
        async with httpx.AsyncClient() as client:
            check = Introspection(URL, ISSUER, resource=RESOURCE, client=client, clock=lambda: NOW)
            answers = [await check.verify_token("t") for _ in range(3)]
    assert ([a is not None for a in answers], route.call_count) == ([False, False, True], 3)
