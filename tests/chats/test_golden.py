"""Graph's seven reference examples, end to end through chatfn's core against the emulator:
request -> resolve -> translate (equal to the reference body) -> Graph client -> the reference's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatfn.chats.members import resolve_members
from chatfn.chats.spec import parse_chat_request
from chatfn.chats.translate import chat_body
from chatfn.emulator import Emulator
from chatfn.graph.directory import Directory
from chatfn.graph.models import AcceptedOperation, CreatedChat
from tests.cases import EQUIVALENT_REQUESTS, reference_body, seed_examples
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]


@pytest.mark.parametrize("number", range(1, 8))
async def test_reference_example(number: int, emulator: Emulator, control: httpx.Client) -> None:
    reference = seed_examples()[number]["response"]
    spec = parse_chat_request(EQUIVALENT_REQUESTS[number])
    expected = bound_by_id(reference_body(number), control)
    async with graph_for(emulator) as graph:
        body = chat_body(spec, await resolve_members(spec, Directory(graph, cache_seconds=0)))
        assert body == expected
        answer = await graph.create_chat(body)

    [received] = [r for r in control.get("/requests").json() if r["path"] == "/v1.0/chats"]
    assert received["body"] == expected, "the emulator received the reference body"
    if reference["status"] == 202:
        assert isinstance(answer, AcceptedOperation)
        relative = answer.location.removeprefix(emulator.graph_url)
        assert relative.startswith("/chats('19:")
        assert "')/operations('" in relative
        assert relative.endswith("')")
        return
    assert isinstance(answer, CreatedChat)
    assert set(reference["body"]) <= set(received_fields(control, answer.id)) | {"@odata.context"}
    assert answer.chatType == reference["body"]["chatType"]
    assert answer.topic == reference["body"]["topic"]
    if number in (5, 7):  # one-on-one ids are made of the members' ids, as Graph's are
        # (example 1's reference id belongs to another pair of members on Graph's own page)
        assert answer.id == reference["body"]["id"]


def bound_by_id(body: dict[str, Any], control: httpx.Client) -> dict[str, Any]:
    """The reference body with its UPN binds (example 5's `users('alex@contoso.com')`) as the object
    ids they name: chatfn looks every email up and binds the id, since an email is not always a UPN."""
    ids = {user["userPrincipalName"].lower(): user["id"] for user in control.get("/users").json()}
    for member in body["members"]:
        key = member["user@odata.bind"].split("users('", 1)[1].removesuffix("')")
        if "@" in key:
            member["user@odata.bind"] = member["user@odata.bind"].replace(key, ids[key.lower()])
    return body


def received_fields(control: httpx.Client, chat_id: str) -> list[str]:
    [chat] = [c for c in control.get("/chats").json() if c["id"] == chat_id]
    return ["id", "topic", "chatType", "createdDateTime", "lastUpdatedDateTime", *chat]
