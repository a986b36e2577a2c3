"""The Graph client against the emulator over HTTP: answers, typed errors, retries and their waits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatfn import contract, telemetry
from chatfn.chats.spec import ChatMember, ChatSpec
from chatfn.chats.translate import ResolvedMember, chat_body
from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from chatfn.errors import (
    GraphClientError,
    GraphConnectionError,
    GraphError,
    GraphForbidden,
    GraphServiceError,
    GraphThrottled,
    GraphUnauthorized,
    GraphUnavailable,
    IdentityError,
    LeaseEnded,
)
from chatfn.graph.budget import DOCUMENTED_LIMITS, KINDS, Budget, Rate
from chatfn.graph.client import GraphClient
from chatfn.graph.models import AcceptedOperation, CreatedChat
from chatfn.graph.retry import RetryPolicy
from tests.cases import reference_body
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]


def _chat_posts(control: httpx.Client) -> list[dict[str, Any]]:
    return [
        r for r in control.get("/requests").json() if r["method"] == "POST" and r["path"] == "/v1.0/chats"
    ]


def _user_lookups(control: httpx.Client) -> list[dict[str, Any]]:
    return [r for r in control.get("/requests").json() if r["path"] == "/v1.0/users"]


def _gaps(requests: list[dict[str, Any]]) -> list[float]:
    times = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in requests]
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]


async def test_create_chat_answers_the_created_chat(emulator: Emulator) -> None:
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(reference_body(1))
    assert isinstance(created, CreatedChat)
    assert created.chatType == "oneOnOne"
    assert created.id.startswith("19:")
    assert created.id.endswith("@unq.gbl.spaces")


async def test_an_app_makes_graph_accept_and_the_operation_is_readable(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post(
        "/operations", json={"polls": 1, "result": "succeeded", "retryAfter": 0.5}
    ).raise_for_status()
    async with graph_for(emulator) as graph:
        accepted = await graph.create_chat(reference_body(3))
        assert isinstance(accepted, AcceptedOperation)
        assert accepted.location.startswith(f"{emulator.graph_url}/chats('19:")
        first = await graph.get_operation(accepted.location)
        second = await graph.get_operation(accepted.location)
        chat = await graph.get_chat(str(second.targetResourceId))
    assert (first.status, first.retryAfter) == ("inProgress", 0.5)
    assert second.status == "succeeded"
    assert chat.webUrl
    assert chat.webUrl.startswith("https://teams.microsoft.com/l/chat/")
    assert {m.userId for m in chat.members} == {
        "8b081ef6-4792-4def-b2c9-c363a1bf41d5",
        "82af01c5-f7cc-4a2e-a728-3a5df21afd9d",
    }


async def test_find_users_by_mail_or_upn_in_one_call(emulator: Emulator, control: httpx.Client) -> None:
    async with graph_for(emulator) as graph:
        found = await graph.find_users(["Ana@Fabrikam.com", "sam@contoso.com", "ADELE@contoso.com"])
        assert await graph.find_users(["o'brien@nowhere.example"]) == []
    assert {(user.id, user.userType) for user in found} == {
        ("8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a", "Guest"),
        (SAM.id, "Member"),
        ("8b081ef6-4792-4def-b2c9-c363a1bf41d5", "Member"),
    }
    lookups = [r for r in control.get("/requests").json() if r["path"] == "/v1.0/users"]
    assert len(lookups) == 2
    assert lookups[1]["query"]["$filter"] == (
        "mail in ('o''brien@nowhere.example') or userPrincipalName in ('o''brien@nowhere.example')"
    )


async def test_find_users_takes_fifteen_addresses_at_most(emulator: Emulator) -> None:
    async with graph_for(emulator) as graph:
        found = await graph.find_users([m.mail or "" for m in NUMBERED_MEMBERS[:15]])
        assert len(found) == 15
        with pytest.raises(ValueError, match="1 to 15"):
            await graph.find_users([m.mail or "" for m in NUMBERED_MEMBERS[:16]])


async def test_a_refused_token_is_renewed_once(emulator: Emulator, control: httpx.Client) -> None:
    """401 InvalidAuthenticationToken: the cached token is bypassed (claims) and the call retried."""
    async with graph_for(emulator) as graph:
        await graph.find_users(["sam@contoso.com"])
        control.post("/faults", json={"path": "/v1.0/users", "status": 401, "count": 1}).raise_for_status()
        assert [user.id for user in await graph.find_users(["sam@contoso.com"])] == [SAM.id]
        assert control.get("/stats").json()["tokenRequests"] == 2
        await graph.find_users(["sam@contoso.com"])
        assert control.get("/stats").json()["tokenRequests"] == 2, "the fresh token is cached again"


async def test_a_token_refused_twice_is_not_renewed_again(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/faults", json={"path": "/v1.0/users", "status": 401, "count": 5}).raise_for_status()
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphUnauthorized):
            await graph.find_users(["sam@contoso.com"])
    assert control.get("/stats").json()["tokenRequests"] == 2
    assert len(_user_lookups(control)) == 2


async def test_a_wrong_client_id_names_the_setting(emulator: Emulator, control: httpx.Client) -> None:
    """App Service's identity endpoint answers 400 for a client_id the app has no identity for."""
    control.post("/faults", json={"path": "/msi/token", "status": 400}).raise_for_status()
    async with (
        AsyncManagedIdentityCredential(client_id="0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11") as credential,
        httpx.AsyncClient() as http,
    ):
        graph = GraphClient(
            base_url=emulator.graph_url,
            credential=credential,
            http=http,
            client_id="0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11",
        )
        with pytest.raises(IdentityError, match="AZURE_CLIENT_ID setting is the client id"):
            await graph.find_users(["sam@contoso.com"])


async def test_every_call_carries_a_client_request_id_that_graph_echoes(emulator: Emulator) -> None:
    seen: list[tuple[str, str]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request.headers["client-request-id"], response.headers["client-request-id"]))

    http = httpx.AsyncClient(event_hooks={"response": [record]})
    async with graph_for(emulator, http=http) as graph:
        await graph.create_chat(reference_body(2))
        await graph.find_users(["ana@fabrikam.com"])
    assert len(seen) == 2
    assert all(sent == echoed for sent, echoed in seen)
    assert seen[0][0] != seen[1][0]


async def test_errors_are_typed_and_keep_graphs_ids(emulator: Emulator, control: httpx.Client) -> None:
    body = reference_body(2)
    body["members"][2]["user@odata.bind"] = "https://graph.microsoft.com/v1.0/users('nobody@contoso.com')"
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphClientError) as caught:
            await graph.create_chat(body)
    error = caught.value
    assert (error.status, error.attempts) == (404, 1)
    assert error.code
    assert error.message
    assert error.request_id
    assert len(_chat_posts(control)) == 1, "a 404 is not retried"


async def test_a_missing_permission_is_a_403(emulator: Emulator, control: httpx.Client) -> None:
    # Graph authorizes by the roles the token was issued with, so they are set before the first call.
    control.post("/identity", json={"roles": ["User.Read.All"]}).raise_for_status()
    async with graph_for(emulator) as graph:
        await graph.find_users(["ana@fabrikam.com"])
        with pytest.raises(GraphForbidden) as caught:
            await graph.create_chat(reference_body(1))
    assert caught.value.status == 403
    assert [p["status"] for p in _chat_posts(control)] == [403, 403], "one fresh token, one more try"


async def test_a_permission_granted_after_the_token_was_issued_is_picked_up(
    emulator: Emulator, control: httpx.Client
) -> None:
    """An administrator grants Chat.Create after the app got its token (the documented default path,
    docs/deploy.md): a token carries the roles held when it was issued, so a fresh one is needed."""
    control.post("/identity", json={"roles": ["User.Read.All"]}).raise_for_status()
    async with graph_for(emulator) as graph:
        await graph.find_users(["ana@fabrikam.com"])  # the token, issued before the grant
        granted = {"roles": ["Chat.Create", "Chat.ReadBasic.All", "User.Read.All"]}
        control.post("/identity", json=granted).raise_for_status()
        created = await graph.create_chat(reference_body(1))
    assert isinstance(created, CreatedChat)
    assert [p["status"] for p in _chat_posts(control)] == [403, 201]
    assert control.get("/stats").json()["tokenRequests"] == 2


async def test_429_is_retried_after_its_fractional_retry_after(
    emulator: Emulator, control: httpx.Client
) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.2, "count": 1}
    control.post("/faults", json=fault).raise_for_status()
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(reference_body(2))
    assert isinstance(created, CreatedChat)
    posts = _chat_posts(control)
    assert [p["status"] for p in posts] == [429, 201]
    assert _gaps(posts)[0] >= 0.2


async def test_503_then_success_when_the_call_is_safe_to_replay(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "status": 503, "count": 2}).raise_for_status()
    async with graph_for(emulator) as graph:
        await graph.create_chat(reference_body(1), replay_safe=True)
    assert [p["status"] for p in _chat_posts(control)] == [503, 503, 201]


async def test_a_dropped_connection_is_retried_when_safe(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "drop": True, "count": 1}).raise_for_status()
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(reference_body(1), replay_safe=True)
    assert isinstance(created, CreatedChat)
    assert len(_chat_posts(control)) == 2
    assert len(control.get("/chats").json()) == 1, "one-on-one: Graph returns the same chat"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 503, "after": True}, GraphUnavailable),
        ({"status": 504, "after": True}, GraphUnavailable),
        ({"drop": True, "after": True}, GraphConnectionError),
    ],
)
async def test_a_group_chat_whose_outcome_is_unknown_is_never_sent_again(
    fault: dict[str, Any], error: type[GraphError], emulator: Emulator, control: httpx.Client
) -> None:
    """Graph made the chat and then failed (docs/graph.md): a second POST would make a second chat."""
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "count": 1} | fault)
    async with graph_for(emulator) as graph:
        with pytest.raises(error):
            await graph.create_chat(reference_body(2))
    assert len(_chat_posts(control)) == 1
    assert len(control.get("/chats").json()) == 1


async def test_a_group_chat_graph_surely_refused_is_sent_again(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "status": 429, "retryAfter": 0.01, "count": 1})
    async with graph_for(emulator) as graph:
        await graph.create_chat(reference_body(2))
    assert [p["status"] for p in _chat_posts(control)] == [429, 201]


async def test_a_connection_never_made_is_retried_even_for_a_group_chat(emulator: Emulator) -> None:
    """Nothing listens on port 9: the request never left, so sending it again is safe."""
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    async with AsyncManagedIdentityCredential() as credential, httpx.AsyncClient(timeout=2) as http:
        graph = GraphClient(base_url="http://127.0.0.1:9/v1.0", credential=credential, http=http, retry=retry)
        with pytest.raises(GraphConnectionError) as caught:
            await graph.create_chat(reference_body(2))
    assert caught.value.sent is False
    assert caught.value.attempts == 3, "retried: nothing reached Graph"


async def test_an_exhausted_budget_raises_with_the_attempts_counted(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "status": 429, "retryAfter": 0.1}).raise_for_status()
    async with graph_for(emulator, retry=RetryPolicy(max_attempts=3, budget_seconds=5.0)) as graph:
        with pytest.raises(GraphThrottled) as caught:
            await graph.create_chat(reference_body(2))
    assert (caught.value.attempts, caught.value.retry_after) == (3, 0.1)
    posts = _chat_posts(control)
    assert len(posts) == 3
    assert all(gap >= 0.1 for gap in _gaps(posts))


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "status": 503, "retryAfter": 30}).raise_for_status()
    async with graph_for(emulator, retry=RetryPolicy(budget_seconds=2.0)) as graph:
        with pytest.raises(GraphUnavailable) as caught:
            await graph.create_chat(reference_body(1), replay_safe=True)
    assert (caught.value.attempts, caught.value.retry_after) == (1, 30.0)


async def test_no_answer_at_all_is_a_connection_error(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/faults", json={"path": "/v1.0/chats", "drop": True}).raise_for_status()
    async with graph_for(emulator, retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as graph:
        with pytest.raises(GraphConnectionError) as caught:
            await graph.create_chat(reference_body(1), replay_safe=True)
    assert caught.value.attempts == 2
    assert caught.value.status is None


async def test_one_token_serves_many_calls(emulator: Emulator, control: httpx.Client) -> None:
    async with graph_for(emulator) as graph:
        for _ in range(5):
            await graph.create_chat(reference_body(2))
    assert control.get("/stats").json()["tokenRequests"] == 1


async def test_a_location_elsewhere_is_never_followed(emulator: Emulator) -> None:
    """Our bearer token goes to Graph only, whatever a Location says."""
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphError, match="outside"):
            await graph.get_operation("https://attacker.example/chats('x')/operations('y')")


async def test_a_burst_of_first_calls_asks_for_one_token(emulator: Emulator, control: httpx.Client) -> None:
    async with graph_for(emulator) as graph:
        await asyncio.gather(*(graph.create_chat(reference_body(2)) for _ in range(10)))
    assert control.get("/stats").json()["tokenRequests"] == 1


async def test_a_400_is_an_error_not_an_answer(emulator: Emulator, control: httpx.Client) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 400, "code": "BadRequest", "count": 1}
    control.post("/faults", json=fault).raise_for_status()
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphClientError) as caught:
            await graph.create_chat(reference_body(1), replay_safe=True)
    assert (caught.value.status, caught.value.code, caught.value.attempts) == (400, "BadRequest", 1)
    assert len(_chat_posts(control)) == 1, "a 400 is not retried"


async def test_a_gateways_html_502_is_a_graph_error_with_its_reason(
    emulator: Emulator, control: httpx.Client
) -> None:
    """An error body that is not JSON (a gateway in front of Graph) still makes a typed error."""
    fault = {"path": "/v1.0/users", "status": 502, "body": "<html><body>Bad Gateway</body></html>"}
    control.post("/faults", json=fault).raise_for_status()
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphServiceError) as caught:
            await graph.find_users(["sam@contoso.com"])
    assert (caught.value.status, caught.value.code, caught.value.message) == (502, "", "Bad Gateway")
    assert caught.value.request_id is None


async def test_graphs_request_id_comes_from_the_error_body_when_no_header_has_it(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"path": "/v1.0/users", "status": 404, "count": 1}).raise_for_status()
    seen: list[str] = []

    async def drop_header(response: httpx.Response) -> None:
        seen.append(response.headers.pop("request-id", ""))

    http = httpx.AsyncClient(event_hooks={"response": [drop_header]})
    async with graph_for(emulator, http=http) as graph:
        with pytest.raises(GraphClientError) as caught:
            await graph.find_users(["sam@contoso.com"])
    assert caught.value.request_id
    assert caught.value.request_id in seen, "the body's innerError names the same request"


async def test_a_202_without_location_is_an_error(emulator: Emulator) -> None:
    """Without `Location` there is nothing to poll: an error whose outcome is unknown, not a crash."""

    async def drop_location(response: httpx.Response) -> None:
        response.headers.pop("Location", None)

    http = httpx.AsyncClient(event_hooks={"response": [drop_location]})
    async with graph_for(emulator, http=http) as graph:
        with pytest.raises(GraphError, match="202 without a Location") as caught:
            await graph.create_chat(reference_body(3))
    assert caught.value.status == 202


async def test_the_waits_add_up_against_the_budget(emulator: Emulator, control: httpx.Client) -> None:
    """Three waits of 0.1 s fit a 0.35 s budget, a fourth does not, however many attempts are left."""
    control.post("/faults", json={"path": "/v1.0/users", "status": 429, "retryAfter": 0.1}).raise_for_status()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    retry = RetryPolicy(max_attempts=10, budget_seconds=0.35)
    async with (
        AsyncManagedIdentityCredential() as credential,
        httpx.AsyncClient(timeout=10) as http,
    ):
        graph = GraphClient(
            base_url=emulator.graph_url, credential=credential, http=http, retry=retry, sleep=sleep
        )
        with pytest.raises(GraphThrottled) as caught:
            await graph.find_users(["sam@contoso.com"])
    assert caught.value.attempts == 4
    assert sleeps == [pytest.approx(0.1, abs=0.01)] * 3, "each Retry-After waited once, on the budget"


async def test_the_default_policy_retries_with_jittered_backoff(
    emulator: Emulator, control: httpx.Client
) -> None:
    """No policy given: RetryPolicy() and backoff without a generator of the caller's, as in production."""
    control.post("/faults", json={"path": "/v1.0/users", "status": 503, "count": 2}).raise_for_status()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with AsyncManagedIdentityCredential() as credential, httpx.AsyncClient(timeout=10) as http:
        graph = GraphClient(base_url=emulator.graph_url, credential=credential, http=http, sleep=sleep)
        assert [u.id for u in await graph.find_users(["sam@contoso.com"])] == [SAM.id]
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def _group_body(topic: str | None, *user_ids: str) -> dict[str, Any]:
    members = tuple(ChatMember(userId=user_id, field=f"members[{i}]") for i, user_id in enumerate(user_ids))
    spec = ChatSpec(chatType="group" if topic else "oneOnOne", topic=topic, members=members)
    return chat_body(spec, [ResolvedMember(key=user_id) for user_id in user_ids])


async def test_a_users_group_chats_are_listed_with_or_without_a_partner(
    emulator: Emulator, control: httpx.Client
) -> None:
    alex, jacob, megan = (m.id for m in NUMBERED_MEMBERS[:3])
    async with graph_for(emulator) as graph:
        await graph.create_chat(_group_body("With Jacob", alex, jacob, megan))
        await graph.create_chat(_group_body("Without", alex, megan, SAM.id))
        await graph.create_chat(_group_body(None, alex, jacob))  # one-on-one
        every = [chat.topic or "" async for chat in graph.group_chats_of(alex)]
        with_jacob = [chat async for chat in graph.group_chats_of(alex, with_member=jacob)]
    assert sorted(every) == ["With Jacob", "Without"], "group chats only"
    assert [chat.topic for chat in with_jacob] == ["With Jacob"]
    assert {m.userId for m in with_jacob[0].members} == {alex, jacob, megan}, "members expanded"
    lists = [r for r in control.get("/requests").json() if r["path"] == f"/v1.0/users/{alex}/chats"]
    assert [r["query"]["$top"] for r in lists] == ["50", "50"], "Graph's largest page"
    assert lists[0]["query"]["$filter"] == "chatType eq 'group'"


async def test_every_member_of_a_chat_is_read(emulator: Emulator) -> None:
    ids = [m.id for m in NUMBERED_MEMBERS[:30]]
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(_group_body("Thirty", *ids))
        assert isinstance(created, CreatedChat)
        members = await graph.members_of(created.id)
    assert sorted(m.userId or "" for m in members) == sorted(ids)


async def test_no_addresses_are_not_a_lookup(emulator: Emulator) -> None:
    async with graph_for(emulator) as graph:
        with pytest.raises(ValueError, match="1 to 15"):
            await graph.find_users([])


async def test_closing_the_client_closes_its_connections_and_credential(emulator: Emulator) -> None:
    closed: list[str] = []

    class Credential(AsyncManagedIdentityCredential):
        async def close(self) -> None:
            closed.append("credential")
            await super().close()

    http = httpx.AsyncClient()
    graph = GraphClient(base_url=emulator.graph_url, credential=Credential(), http=http)
    await graph.find_users(["sam@contoso.com"])
    await graph.aclose()
    assert http.is_closed
    assert closed == ["credential"]


async def test_only_an_invalid_token_is_renewed(emulator: Emulator, control: httpx.Client) -> None:
    """A 401 for another reason is Graph's answer, not a stale token: no second token, no retry."""
    fault = {"path": "/v1.0/users", "status": 401, "code": "Unauthorized", "count": 1}
    control.post("/faults", json=fault).raise_for_status()
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphUnauthorized):
            await graph.find_users(["sam@contoso.com"])
    assert control.get("/stats").json()["tokenRequests"] == 1
    assert len(_user_lookups(control)) == 1


async def test_graphs_own_message_is_kept(emulator: Emulator, control: httpx.Client) -> None:
    fault = {"path": "/v1.0/users", "status": 404, "message": "Resource 'x' does not exist", "count": 1}
    control.post("/faults", json=fault).raise_for_status()
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphClientError) as caught:
            await graph.find_users(["sam@contoso.com"])
    assert caught.value.message == "Resource 'x' does not exist"


async def test_each_call_is_logged_by_route_template_with_its_ids(
    emulator: Emulator, control: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the query (addresses) nor the path (object ids, chat ids) of a call is logged."""
    caplog.set_level(logging.INFO, logger="chatfn.graph.client")
    control.post("/faults", json={"path": "/v1.0/users", "status": 404, "count": 1}).raise_for_status()
    chat_id = "19:0a1b2c3d4e5f@thread.v2"
    async with graph_for(emulator) as graph:
        with pytest.raises(GraphClientError):
            await graph.find_users(["sam@contoso.com"])
        await graph.find_users(["sam@contoso.com"])
        with pytest.raises(GraphClientError):
            await graph.members_of(chat_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "chatfn.graph.client"]
    assert len(lines) == 3
    assert lines[0].startswith("graph GET /users -> 404 in ")
    assert lines[1].startswith("graph GET /users -> 200 in ")
    assert lines[2].startswith("graph GET /chats/{id}/members -> 404 in ")
    assert all("client-request-id" in line and "sam@" not in line and "0a1b2c" not in line for line in lines)


@contextlib.asynccontextmanager
async def _recorded_client(emulator: Emulator, sleeps: list[float]) -> AsyncIterator[GraphClient]:
    """A client whose every wait (its own and its budget's) is recorded, not slept: its budget's time
    moves on by each wait, as it would have."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    budget = Budget(DOCUMENTED_LIMITS, clock=lambda: now[0], sleep=sleep)
    async with AsyncManagedIdentityCredential() as credential, httpx.AsyncClient(timeout=10) as http:
        yield GraphClient(
            base_url=emulator.graph_url, credential=credential, http=http, budget=budget, sleep=sleep
        )


async def test_a_retry_after_that_pauses_nothing_else_is_waited_by_the_call_itself(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Only a 429's Retry-After pauses the worker's budget (and is waited there); a 503's is this
    call's own to wait."""
    control.post(
        "/faults", json={"path": "/v1.0/users", "status": 503, "retryAfter": 0.1, "count": 1}
    ).raise_for_status()
    sleeps: list[float] = []
    async with _recorded_client(emulator, sleeps) as graph:
        assert [u.id for u in await graph.find_users(["sam@contoso.com"])] == [SAM.id]
    assert sleeps == [pytest.approx(0.1, abs=0.01)]


async def test_a_429_without_retry_after_backs_off(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/faults", json={"path": "/v1.0/users", "status": 429, "count": 1}).raise_for_status()
    sleeps: list[float] = []
    async with _recorded_client(emulator, sleeps) as graph:
        assert [u.id for u in await graph.find_users(["sam@contoso.com"])] == [SAM.id]
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5, "the first backoff: half a second, jittered"


async def test_after_a_429_each_success_wins_some_of_the_rate_back(
    emulator: Emulator, control: httpx.Client
) -> None:
    """The budget slows down on a 429 and recovers as calls succeed: the client tells it of both."""
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    rates = {kind: Rate(per_second=10.0, burst=1.0) for kind in KINDS}
    budget = Budget(rates, clock=lambda: now[0], sleep=sleep)
    control.post(
        "/faults", json={"path": "/v1.0/users", "status": 429, "retryAfter": 0, "count": 1}
    ).raise_for_status()
    async with AsyncManagedIdentityCredential() as credential, httpx.AsyncClient(timeout=10) as http:
        graph = GraphClient(
            base_url=emulator.graph_url, credential=credential, http=http, budget=budget, sleep=sleep
        )
        for _ in range(4):
            await graph.find_users(["sam@contoso.com"])
    waits = sleeps[-3:]
    assert waits[0] > waits[1] > waits[2], f"each success shortens the next wait: {waits}"


async def test_before_send_runs_before_each_attempt_and_may_withdraw_it(
    emulator: Emulator, control: httpx.Client
) -> None:
    """A batch's cancel flag and a request's lease are checked right before each POST goes out."""
    control.post(
        "/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 503, "count": 1}
    ).raise_for_status()
    checks: list[int] = []

    async def check() -> None:
        checks.append(len(_chat_posts(control)))

    async with graph_for(emulator) as graph:
        await graph.create_chat(reference_body(1), replay_safe=True, before_send=check)
    assert checks == [0, 1], "once before each attempt, before it is sent"

    async def withdraw() -> None:
        raise LeaseEnded("the lease ran out")

    async with graph_for(emulator) as graph:
        with pytest.raises(LeaseEnded):
            await graph.create_chat(reference_body(1), replay_safe=True, before_send=withdraw)
    assert len(_chat_posts(control)) == 2, "nothing more was sent"


async def test_each_call_is_a_span_with_graphs_status_and_request_id(emulator: Emulator) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry.use_providers(tracer_provider, metrics.NoOpMeterProvider())
    try:
        async with graph_for(emulator) as graph:
            await graph.find_users(["sam@contoso.com"])
    finally:
        telemetry.use_providers(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
    [span] = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert (span.name, attributes["http.response.status_code"]) == ("graph GET /users", 200)
    assert contract.GUID.fullmatch(str(attributes["graph.request_id"]))
