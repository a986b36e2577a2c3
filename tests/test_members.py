"""Member resolution: ids and member emails bind as given; a guest's email becomes its object id."""

from __future__ import annotations

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.errors import MemberNotFound
from chatfn.members import resolve_members
from chatfn.models import parse_chat_request
from chatfn.translate import ResolvedMember
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]


async def test_only_guests_are_looked_up(emulator: Emulator, control: httpx.Client) -> None:
    spec = parse_chat_request(
        {
            "members": [
                {"email": "alex@contoso.com"},
                {"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"},
                {"email": "ana@fabrikam.com", "guest": True},
            ]
        }
    )
    async with graph_for(emulator) as graph:
        members = await resolve_members(spec, graph)
    assert members == [
        ResolvedMember(key="alex@contoso.com"),
        ResolvedMember(key="8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"),
        ResolvedMember(key="8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a", guest=True),
    ]
    lookups = [r for r in control.get("/requests").json() if r["path"].startswith("/v1.0/")]
    assert [(r["method"], r["path"]) for r in lookups] == [("GET", "/v1.0/users")]
    assert lookups[0]["query"]["$filter"] == "mail eq 'ana@fabrikam.com'"


async def test_an_unknown_guest_is_named(emulator: Emulator) -> None:
    spec = parse_chat_request(
        {"emails": "alex@contoso.com", "guests": "ana@fabrikam.com;zoe@nowhere.example"}
    )
    async with graph_for(emulator) as graph:
        with pytest.raises(MemberNotFound) as caught:
            await resolve_members(spec, graph)
    assert (caught.value.field, caught.value.email) == ("guests[1]", "zoe@nowhere.example")


async def test_an_address_shared_by_two_users_is_ambiguous(emulator: Emulator, control: httpx.Client) -> None:
    control.post(
        "/users",
        json=[
            {
                "id": "11111111-1111-4111-8111-111111111111",
                "userPrincipalName": "twin1@contoso.com",
                "mail": "twin@fabrikam.com",
                "userType": "Guest",
            },
            {
                "id": "22222222-2222-4222-8222-222222222222",
                "userPrincipalName": "twin2@contoso.com",
                "mail": "twin@fabrikam.com",
                "userType": "Guest",
            },
        ],
    ).raise_for_status()
    spec = parse_chat_request({"emails": "alex@contoso.com", "guests": "twin@fabrikam.com"})
    async with graph_for(emulator) as graph:
        with pytest.raises(MemberNotFound, match="more than one"):
            await resolve_members(spec, graph)
