"""Member resolution against the emulator's directory: every email becomes an object id, by mail or
sign-in name, 15 addresses to a Graph call; every member that cannot be bound is named at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatfn.chats.members import bind_members, resolve_members
from chatfn.chats.spec import parse_chat_request
from chatfn.chats.translate import ResolvedMember
from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from chatfn.errors import FieldError, MembersNotFound
from chatfn.graph.directory import Directory
from chatfn.graph.models import DirectoryUser
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

ANA_GUEST = "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"
ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"


def _lookups(control: httpx.Client) -> list[dict[str, Any]]:
    return [r for r in control.get("/requests").json() if r["path"] == "/v1.0/users"]


async def _resolve(emulator: Emulator, body: dict[str, Any]) -> list[ResolvedMember]:
    async with graph_for(emulator) as graph:
        return await resolve_members(parse_chat_request(body), Directory(graph, cache_seconds=0))


async def test_every_email_is_bound_by_object_id(emulator: Emulator, control: httpx.Client) -> None:
    members = await _resolve(
        emulator,
        {
            "members": [
                {"email": "Alex@Contoso.com"},  # mail and UPN alike
                {"email": "sam@contoso.com"},  # a mail that is not the UPN
                {"email": "m01.k@contoso.onmicrosoft.com"},  # a UPN that is not the mail
                {"userId": JACOB},
                {"email": "ana@fabrikam.com", "guest": True},
            ]
        },
    )
    assert members == [
        ResolvedMember(key=ALEX),
        ResolvedMember(key=SAM.id),
        ResolvedMember(key=NUMBERED_MEMBERS[0].id),
        ResolvedMember(key=JACOB),
        ResolvedMember(key=ANA_GUEST, guest=True),
    ]
    assert len(_lookups(control)) == 1, "four addresses, one call"


@pytest.mark.parametrize(("count", "calls"), [(15, 1), (16, 2), (40, 3), (45, 3)])
async def test_n_addresses_cost_ceil_n_over_15_calls(
    emulator: Emulator, control: httpx.Client, count: int, calls: int
) -> None:
    mails = [member.mail for member in NUMBERED_MEMBERS[:count]]
    members = await _resolve(emulator, {"emails": mails, "topic": "Many"})
    assert [m.key for m in members] == [member.id for member in NUMBERED_MEMBERS[:count]]
    assert len(_lookups(control)) == calls


async def test_every_unbindable_member_is_named_at_once(emulator: Emulator, control: httpx.Client) -> None:
    control.post(
        "/users",
        json=[
            {
                "id": "11111111-1111-4111-8111-111111111111",
                "userPrincipalName": "t1@contoso.com",
                "mail": "twin@contoso.com",
            },
            {
                "id": "22222222-2222-4222-8222-222222222222",
                "userPrincipalName": "twin@contoso.com",
                "mail": "t2@contoso.com",
            },
        ],
    ).raise_for_status()
    with pytest.raises(MembersNotFound) as caught:
        await _resolve(
            emulator,
            {
                "members": [
                    {"email": "alex@contoso.com"},
                    {"email": "zoe@nowhere.example"},
                    {"email": "twin@contoso.com"},  # one user's mail, another's UPN
                    {"email": "ana@fabrikam.com"},  # a guest given as owner
                    {"email": "sam@contoso.com", "guest": True},  # a member given as guest
                    {"email": "yan@nowhere.example", "guest": True},
                ]
            },
        )
    assert caught.value.errors == [
        FieldError(
            "members[1].email",
            "zoe@nowhere.example matches no user of the directory by mail or sign-in name",
        ),
        FieldError("members[2].email", "twin@contoso.com matches 2 users; give the member's userId"),
        FieldError("members[3].guest", "ana@fabrikam.com is a guest of the tenant: give it as a guest"),
        FieldError(
            "members[4].guest", "sam@contoso.com is a member of the tenant, not a guest: leave guest out"
        ),
        FieldError(
            "members[5].email",
            "yan@nowhere.example matches no user of the directory by mail or sign-in name",
        ),
    ]
    assert "@" not in str(caught.value), "the error's message is safe to log"


async def test_flat_form_fields_are_named_as_sent(emulator: Emulator) -> None:
    with pytest.raises(MembersNotFound) as caught:
        await _resolve(
            emulator, {"emails": "alex@contoso.com;a@nowhere.example", "guests": ["b@nowhere.example"]}
        )
    assert [error.field for error in caught.value.errors] == ["emails[1]", "guests[0]"]


async def test_ids_alone_cost_no_lookup(emulator: Emulator, control: httpx.Client) -> None:
    members = await _resolve(emulator, {"members": [{"userId": ALEX}, {"userId": JACOB}]})
    assert [m.key for m in members] == [ALEX, JACOB]
    assert _lookups(control) == []


async def test_at_most_five_lookups_are_in_flight(emulator: Emulator, control: httpx.Client) -> None:
    """Graph throttles an app per tenant: 90 addresses are six calls, five at a time."""
    control.post("/faults", json={"path": "/v1.0/users", "delay": 0.2}).raise_for_status()
    in_flight: list[int] = [0]
    peak: list[int] = [0]

    async def sent(request: httpx.Request) -> None:
        if request.url.path == "/v1.0/users":
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])

    async def answered(response: httpx.Response) -> None:
        if response.request.url.path == "/v1.0/users":
            in_flight[0] -= 1

    http = httpx.AsyncClient(event_hooks={"request": [sent], "response": [answered]})
    body = {"emails": [f"nobody{i}@nowhere.example" for i in range(90)]}
    async with graph_for(emulator, http=http) as graph:
        with pytest.raises(MembersNotFound):
            await resolve_members(parse_chat_request(body), Directory(graph, cache_seconds=0))
    assert len(_lookups(control)) == 6
    assert peak[0] == 5


ALEX_USER = DirectoryUser(
    id=ALEX, mail="alex@contoso.com", userPrincipalName="alex.w@contoso.com", userType="Member"
)
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
BY_ADDRESS = {"alex@contoso.com": [ALEX_USER], "alex.w@contoso.com": [ALEX_USER]}


def test_one_user_named_twice_is_refused_naming_both_entries() -> None:
    """By email and by object id, or by mail and sign-in name: Graph would refuse the chat."""
    spec = parse_chat_request(
        {
            "members": [
                {"email": "alex@contoso.com"},
                {"userId": JACOB},
                {"userId": ALEX.upper()},
                {"email": "alex.w@contoso.com"},
            ]
        }
    )
    with pytest.raises(MembersNotFound) as caught:
        bind_members(spec, BY_ADDRESS)
    assert caught.value.errors == [
        FieldError("members[2]", f"the same user as members[0] ({ALEX.upper()}); name each member once"),
        FieldError("members[3]", f"the same user as members[0] ({ALEX}); name each member once"),
    ]


def test_one_object_id_in_two_tenants_is_two_users() -> None:
    spec = parse_chat_request(
        {"members": [{"email": "alex@contoso.com"}, {"userId": ALEX, "tenantId": PARTNER_TENANT}]}
    )
    assert bind_members(spec, BY_ADDRESS) == [
        ResolvedMember(key=ALEX),
        ResolvedMember(key=ALEX, tenant_id=PARTNER_TENANT),
    ]
