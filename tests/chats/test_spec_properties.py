"""Properties of the request model, over generated requests (docs/api.md):

1. any valid request, in either form, becomes a Graph body the emulator accepts, and the chat it records
   has exactly the members asked for, with their roles;
2. any invalid request is refused with errors that each name a field of the request (the broken one
   where the breakage determines it), and nothing reaches Graph;
3. the fingerprint follows the chat asked for, not how the request was written.

Properties 1 and 2 run the real path: parse -> resolve through the real GraphClient, with azure-identity's
ManagedIdentityCredential on the emulator's identity endpoint -> translate -> POST /v1.0/chats.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chatfn.chats.members import resolve_members
from chatfn.chats.spec import ChatSpec, parse_chat_request
from chatfn.chats.text import escaped
from chatfn.chats.translate import ResolvedMember, chat_body
from chatfn.emulator import Emulator
from chatfn.errors import InvalidRequest
from chatfn.graph.client import GraphClient
from chatfn.graph.directory import Directory
from chatfn.graph.models import AcceptedOperation, CreatedChat
from tests.graphs import graph_for
from tests.strategies import (
    DEFAULT_DIRECTORY,
    GUID,
    MUTATIONS,
    ValidCase,
    asked_chats,
    changed,
    invalid_requests,
    rendered,
    request_like_bodies,
    split_addresses,
    valid_cases,
)

pytestmark = pytest.mark.fuzz

T = TypeVar("T")


# The examples share one emulator, one credential and one Graph client (as a worker does); each example
# resets the emulator itself, so the function-scoped fixtures carry nothing from one example to the next.
def sharing_fixtures(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


@dataclass
class Live:
    """The real Graph path on the emulator, driven from synchronous Hypothesis tests."""

    runner: asyncio.Runner
    graph: GraphClient
    control: httpx.Client

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def reset(self, users: list[dict[str, str]] | None = None) -> None:
        self.control.post("/reset").raise_for_status()
        if users:
            self.control.post("/users", json=users).raise_for_status()

    def graph_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.control.get("/requests").json() if r["path"].startswith("/v1.0")]


@pytest.fixture
def live(managed_identity_env: Emulator, control: httpx.Client) -> Iterator[Live]:
    with asyncio.Runner() as runner:
        context = graph_for(managed_identity_env)
        graph = runner.run(context.__aenter__())
        try:
            yield Live(runner, graph, control)
        finally:
            runner.run(context.__aexit__(None, None, None))


async def create_chat(payload: Any, graph: GraphClient) -> tuple[dict[str, Any], Any]:
    """What the workflow does with a body: parse, resolve, translate, POST /chats."""
    spec = parse_chat_request(payload)
    body = chat_body(spec, await resolve_members(spec, Directory(graph, cache_seconds=0)))
    return body, await graph.create_chat(body)


# --- 1. a valid request creates exactly the chat asked for ----------------------------------------


@sharing_fixtures(100)
@given(case=valid_cases())
def test_a_valid_request_creates_exactly_the_chat_asked_for(case: ValidCase, live: Live) -> None:
    live.reset([user.control_json() for user in case.added])
    live.control.post("/operations", json={"polls": 0}).raise_for_status()  # an app installs at once
    body, answer = live.run(create_chat(case.payload, live.graph))

    [post] = [r for r in live.graph_requests() if r["method"] == "POST" and r["path"] == "/v1.0/chats"]
    assert post["body"] == body
    assert post["status"] == (202 if case.chat.app else 201)
    if isinstance(answer, AcceptedOperation):
        assert live.run(live.graph.get_operation(answer.location)).status == "succeeded"
    else:
        assert isinstance(answer, CreatedChat)

    [chat] = live.control.get("/chats").json()
    assert chat["chatType"] == case.chat.chat_type
    assert chat["topic"] == case.chat.topic
    recorded = sorted((m["userId"], "/".join(m["roles"]), m["tenantId"]) for m in chat["members"])
    assert recorded == case.expected_members()
    assert chat["installedApps"] == case.expected_apps()


def _any_character_emails() -> st.SearchStrategy[str]:
    """Addresses of any code points at all, lone surrogates included (JSON's `\\ud800` decodes to one)."""
    odd = st.one_of(
        st.characters(categories=["Cs"]),  # a lone surrogate
        st.characters(categories=["Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"]),
        st.characters(),
    )
    part = st.builds(lambda a, c, b: a + c + b, st.text(max_size=3), odd, st.text(max_size=3))
    return st.builds(lambda local, domain: f"{local}@{domain}.com", part, part)


@settings(max_examples=150, deadline=None)
@given(addresses=st.lists(_any_character_emails(), min_size=2, max_size=3), guests=st.booleans())
@example(addresses=["a\ud800@contoso.com", "b@contoso.com"], guests=False)
def test_an_accepted_email_can_be_sent_to_graph(addresses: list[str], guests: bool) -> None:
    """Whatever the model accepts as an address can go into Graph's body and the durable input."""
    payload = {"guests" if guests else "emails": addresses}
    try:
        spec = parse_chat_request(payload)
    except InvalidRequest as refused:
        assert {error.field for error in refused.errors} <= request_fields(payload)  # noqa: PT017
        return
    body = chat_body(spec, [ResolvedMember(key=m.email or "", guest=m.guest) for m in spec.members])
    sent = json.dumps(body, ensure_ascii=False).encode("utf-8")  # as httpx encodes it
    assert json.loads(sent) == body
    assert ChatSpec.model_validate_json(spec.model_dump_json()) == spec  # what the orchestrator carries


# --- 2. an invalid request names its fields and reaches no Graph ---------------------------------

_REQUIRED = {"root": {"members"}, "app": {"teamsAppId"}, "permission": {"value"}}


def request_fields(payload: Any) -> set[str]:
    """Every field path a refusal may name for this body: `body`, each value present (each address of a
    `;`-separated string too), and a required field that is missing."""
    fields = {"body"}

    def walk(node: Any, path: str, level: str | None) -> None:
        if isinstance(node, dict):
            for name in _REQUIRED.get(level or "", set()):
                fields.add(f"{path}.{name}" if path else name)
            for key, value in node.items():
                shown = escaped(key)  # the caller's key, as a refusal names it
                at = f"{path}.{shown}" if path else shown
                fields.add(at)
                walk(value, at, _child_level(level, key))
        elif isinstance(node, list):
            item_level = {"members": "member", "apps": "app", "permissions": "permission"}.get(level or "")
            for i, value in enumerate(node):
                fields.add(f"{path}[{i}]")
                walk(value, f"{path}[{i}]", item_level)
        elif isinstance(node, str) and level == "addresses":
            fields.update(f"{path}[{i}]" for i in range(len(split_addresses(node))))

    walk(payload, "", "root")
    return fields


def _child_level(level: str | None, key: str) -> str | None:
    if level == "root" and key in ("members", "apps"):
        return key
    if level == "root" and key in ("emails", "guests"):
        return "addresses"
    if level == "app" and key == "permissions":
        return key
    return None


def assert_refused(live: Live, payload: Any, field: str | None = None) -> None:
    """Refused with InvalidRequest naming fields of the request (`field` among them), and no Graph call."""
    live.reset()
    with pytest.raises(InvalidRequest) as refused:
        live.run(create_chat(payload, live.graph))
    named = [error.field for error in refused.value.errors]
    assert named, "a refusal names at least one field"
    assert all(error.message for error in refused.value.errors)
    assert set(named) <= request_fields(payload), (named, sorted(request_fields(payload)))
    if field is not None:
        assert field in named, named
    assert live.graph_requests() == [], "nothing reaches Graph"


@pytest.mark.parametrize("mutation", MUTATIONS)
@sharing_fixtures(15)
@given(data=st.data())
def test_a_broken_request_is_refused_naming_the_broken_field(
    mutation: str, data: st.DataObject, live: Live
) -> None:
    case = data.draw(invalid_requests(mutation))
    assert_refused(live, case.payload, case.field)


@sharing_fixtures(150)
@given(payload=request_like_bodies())
@example(payload={"guests": "ana@fabrikam.com"})
@example(payload={"emails": "alex@contoso.com", "..topic": 1})
@example(payload={"emails": "alex@contoso.com", "": 1})
def test_any_json_is_a_chat_or_a_refusal_naming_its_fields(payload: Any, live: Live) -> None:
    try:
        parse_chat_request(payload)
    except InvalidRequest:
        assert_refused(live, payload)


# --- the bugs these properties found, pinned ------------------------------------------------------


def _fields(payload: Any) -> list[str]:
    with pytest.raises(InvalidRequest) as refused:
        parse_chat_request(payload)
    return [error.field for error in refused.value.errors]


def test_too_few_guests_names_guests_when_no_emails_were_given() -> None:
    assert _fields({"guests": "ana@fabrikam.com"}) == ["guests"]
    assert _fields({"guests": []}) == ["guests"]
    assert _fields({"emails": [], "guests": ["ana@fabrikam.com"]}) == ["emails"]


def test_an_unknown_field_is_named_as_sent_whatever_its_leading_dots() -> None:
    assert _fields({"emails": "alex@contoso.com;jacob@contoso.com", "..topic": 1}) == ["..topic"]
    assert _fields({"emails": "alex@contoso.com;jacob@contoso.com", ".": 1}) == ["."]
    assert _fields({"emails": "alex@contoso.com;jacob@contoso.com", "": 1}) == [""]
    assert _fields("not an object") == ["body"]


def test_an_email_with_a_lone_surrogate_is_refused() -> None:
    body = json.loads('{"emails": ["a\\ud800@contoso.com", "b@contoso.com"]}')
    assert _fields(body) == ["emails[0]"]
    body = json.loads('{"members": [{"email": "alex@contoso.com"}, {"email": "\\udfff@contoso.com"}]}')
    assert _fields(body) == ["members[1].email"]


# --- 3. the fingerprint follows the chat asked for -----------------------------------------------


def _fingerprint(payload: dict[str, Any]) -> str:
    return parse_chat_request(payload).fingerprint()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_fingerprint_ignores_form_order_and_case(data: st.DataObject) -> None:
    chat = data.draw(asked_chats(DEFAULT_DIRECTORY))
    first, second = data.draw(rendered(chat)), data.draw(rendered(chat))
    assert _fingerprint(first) == _fingerprint(second), (first, second)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_fingerprint_differs_when_the_chat_differs(data: st.DataObject) -> None:
    chat = data.draw(asked_chats(DEFAULT_DIRECTORY))
    other = data.draw(changed(chat))
    first, second = data.draw(rendered(chat)), data.draw(rendered(other))
    assert _fingerprint(first) != _fingerprint(second), (first, second)


def test_the_generated_requests_cover_both_forms_and_every_kind_of_member() -> None:
    """The strategies reach what the properties claim to cover (a guard against a strategy that narrows)."""
    seen: set[str] = set()

    # Hypothesis also draws the string literals it finds in the project's loaded modules, so new code
    # anywhere shifts what this derandomized run draws: 150 examples stopped reaching the rarest kind
    # (a guest's address with a quote) when chatfn.settings gained a few literals; 300 leave a margin.
    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(case=valid_cases())
    def collect(case: ValidCase) -> None:
        payload = case.payload
        seen.add("members" if "members" in payload else "flat")
        seen.update(
            f"{name} as {type(payload[name]).__name__}" for name in ("emails", "guests") if name in payload
        )
        seen.update(ref.user.kind for ref in case.chat.members if ref.user)
        seen.update("added" for ref in case.chat.members if ref.user and ref.user.added)
        seen.update(  # a `'` to escape: in users('...') for a member, in $filter for a guest
            f"quoted {ref.user.kind}" for ref in case.chat.members if ref.user and "'" in ref.key
        )
        seen.update("userId" for ref in case.chat.members if ref.by == "userId" and GUID.fullmatch(ref.key))
        seen.update(["app"] if case.chat.app else [])
        seen.update(["implied type"] if "chatType" not in payload else [])

    collect()
    assert seen >= {
        "members",
        "flat",
        "emails as str",
        "emails as list",
        "guests as str",
        "guests as list",
        "member",
        "guest",
        "federated",
        "added",
        "quoted member",
        "quoted guest",
        "userId",
        "app",
        "implied type",
    }, seen
