"""Finding a group chat with exactly these members (and topic) in Graph's lists, on the emulator:
`/users/{id}/chats` as Graph serves it (paging, the 25 expanded members, eventual consistency)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chatfn.chats import existing
from chatfn.chats.existing import Wanted, find_latest
from chatfn.chats.request import TeamsApp
from chatfn.chats.spec import ChatMember, ChatSpec
from chatfn.chats.translate import ResolvedMember, chat_body
from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS
from chatfn.graph.models import AcceptedOperation, Chat, CreatedChat
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"
LYNNE = "3626a173-f2bc-4883-bcf7-01514c3bfb82"
MEGAN = "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"


def _members(*ids: str) -> list[ResolvedMember]:
    return [ResolvedMember(key=user_id) for user_id in ids]


def _spec(topic: str | None, ids: list[str]) -> ChatSpec:
    members = tuple(ChatMember(userId=user_id, field=f"members[{i}]") for i, user_id in enumerate(ids))
    return ChatSpec(chatType="group", topic=topic, members=members)


async def _make(emulator: Emulator, topic: str | None, ids: list[str]) -> str:
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(chat_body(_spec(topic, ids), _members(*ids)), replay_safe=False)
    assert isinstance(created, CreatedChat)
    return created.id


def _wanted(topic: str | None, *ids: str) -> Wanted:
    wanted = Wanted.of(_members(*ids), topic)
    assert wanted is not None
    return wanted


def test_a_chat_of_other_tenants_members_only_cannot_be_searched() -> None:
    federated = [
        ResolvedMember(key=ALEX, tenant_id=PARTNER_TENANT),
        ResolvedMember(key=MEGAN, tenant_id=PARTNER_TENANT),
    ]
    assert Wanted.of(federated, "T") is None
    mixed = Wanted.of([federated[0], ResolvedMember(key=JACOB.upper())], "T")
    assert mixed is not None
    assert mixed.searcher == JACOB, "the in-tenant member's list is searched; ids compare in lower case"


async def test_only_exactly_these_members_and_this_topic_match(emulator: Emulator) -> None:
    wanted_id = await _make(emulator, "Incident", [ALEX, JACOB, LYNNE])
    await _make(emulator, "Incident", [ALEX, JACOB])  # a subset
    await _make(emulator, "Incident", [ALEX, JACOB, LYNNE, MEGAN])  # a superset
    await _make(emulator, "Other", [ALEX, JACOB, LYNNE])  # another topic
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Incident", LYNNE, JACOB, ALEX))
        any_topic = await find_latest(graph, _wanted(None, ALEX, JACOB, LYNNE))
    assert found is not None
    assert found.id == wanted_id
    assert any_topic is not None, "without a topic, any topic matches"


async def test_of_several_matches_the_latest_is_found(emulator: Emulator) -> None:
    ids = [await _make(emulator, "Twice", [ALEX, JACOB]) for _ in range(2)]
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Twice", ALEX, JACOB))
    assert found is not None
    assert found.id == ids[-1]


async def test_chats_made_before_the_attempt_began_do_not_count(emulator: Emulator) -> None:
    await _make(emulator, "Old", [ALEX, JACOB])
    async with graph_for(emulator) as graph:
        recent = await find_latest(
            graph, _wanted("Old", ALEX, JACOB), since=datetime.now(UTC) - timedelta(seconds=5)
        )
        later = await find_latest(
            graph, _wanted("Old", ALEX, JACOB), since=datetime.now(UTC) + timedelta(minutes=5)
        )
    assert recent is not None
    assert later is None


async def test_a_chat_larger_than_graph_expands_is_compared_whole(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Graph expands at most 25 members per chat in a list; the rest are read on their own."""
    users = [
        {"id": str(uuid.uuid4()), "userPrincipalName": f"big{i}@contoso.com", "mail": f"big{i}@contoso.com"}
        for i in range(30)
    ]
    control.post("/users", json=users).raise_for_status()
    ids = [user["id"] for user in users]
    big = await _make(emulator, "Big", ids)
    await _make(emulator, "Big", [*ids[:29], ALEX])  # the same first 25, another 30th
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Big", *ids))
    assert found is not None
    assert found.id == big
    member_reads = [r for r in control.get("/requests").json() if r["path"].endswith("/members")]
    assert member_reads, "the whole member list was read"


async def test_many_chats_are_read_page_by_page(emulator: Emulator, control: httpx.Client) -> None:
    for i in range(60):
        await _make(emulator, f"Page {i}", [ALEX, JACOB])
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Page 0", ALEX, JACOB))
    assert found is not None
    lists = [r for r in control.get("/requests").json() if r["path"].endswith(f"/users/{ALEX}/chats")]
    assert len(lists) >= 2, "more than one page of at most 50"


async def test_one_id_in_two_tenants_is_searched_without_a_partner(emulator: Emulator) -> None:
    """The same object id may name a user in two tenants (Graph's reference examples 1 and 7)."""
    members = [ResolvedMember(key=MEGAN), ResolvedMember(key=MEGAN, tenant_id=PARTNER_TENANT)]
    wanted = Wanted.of(members, "T")
    assert wanted is not None
    assert wanted.partner is None
    async with graph_for(emulator) as graph:
        assert await find_latest(graph, wanted) is None


def test_the_partner_is_another_in_tenant_member() -> None:
    wanted = _wanted("T", ALEX, JACOB, LYNNE)
    assert (wanted.searcher, wanted.partner) == (ALEX, JACOB)


async def _made_at(emulator: Emulator, topic: str, ids: list[str]) -> datetime:
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(chat_body(_spec(topic, ids), _members(*ids)))
    assert isinstance(created, CreatedChat)
    assert created.createdDateTime
    return datetime.fromisoformat(created.createdDateTime.replace("Z", "+00:00"))


@pytest.mark.parametrize(("after", "counts"), [(59.5, True), (60.0, True), (60.5, False)])
async def test_a_chat_up_to_a_minute_older_than_the_attempt_counts(
    emulator: Emulator, after: float, counts: bool
) -> None:
    """Our clock and Graph's may disagree by a minute (CLOCK_SKEW)."""
    created = await _made_at(emulator, "Skew", [ALEX, JACOB])
    since = created + timedelta(seconds=after)
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Skew", ALEX, JACOB), since=since)
    assert (found is not None) == counts


async def test_the_search_lists_a_bounded_number_of_chats(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists come newest first; a match past the cap is not looked at (MAX_CHATS_LISTED, made small)."""
    oldest = await _make(emulator, "Capped", [ALEX, JACOB])
    for topic in ("Newer", "Newest"):
        await _make(emulator, topic, [ALEX, JACOB])
    async with graph_for(emulator) as graph:
        monkeypatch.setattr(existing, "MAX_CHATS_LISTED", 2)
        assert await find_latest(graph, _wanted("Capped", ALEX, JACOB)) is None
        monkeypatch.setattr(existing, "MAX_CHATS_LISTED", 3)
        found = await find_latest(graph, _wanted("Capped", ALEX, JACOB))
    assert found is not None
    assert found.id == oldest


def test_a_chat_without_a_date_counts_as_the_oldest() -> None:
    assert existing._created(Chat(id="19:x@thread.v2", chatType="group")) == datetime.min.replace(tzinfo=UTC)


async def test_the_latest_is_found_whatever_order_graph_lists_in(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Graph lists by last activity: an older chat whose app install finished later comes first."""
    control.post("/operations", json={"polls": 1, "result": "succeeded"}).raise_for_status()
    spec = _spec("Order", [ALEX, JACOB]).model_copy(
        update={"app": TeamsApp(teamsAppId="8e55a7b1-6766-4f0a-8610-ecacfe3d569a")}
    )
    async with graph_for(emulator) as graph:
        accepted = await graph.create_chat(chat_body(spec, _members(ALEX, JACOB)))
        assert isinstance(accepted, AcceptedOperation)
        newer = await _make(emulator, "Order", [ALEX, JACOB])
        polls = [(await graph.get_operation(accepted.location)).status for _ in range(2)]
        assert polls == ["inProgress", "succeeded"]
        listed = [chat.id async for chat in graph.group_chats_of(ALEX, with_member=JACOB)]
        found = await find_latest(graph, _wanted("Order", ALEX, JACOB))
    assert listed[-1] == newer, "the older chat is listed first"
    assert found is not None
    assert found.id == newer


async def test_a_chat_graph_expands_whole_costs_no_member_read(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Up to 24 members, the expansion is the whole chat; from 25 on, it may not be (MAX_EXPANDED_MEMBERS)."""
    ids = [m.id for m in NUMBERED_MEMBERS[:24]]
    made = await _make(emulator, "Whole", ids)
    async with graph_for(emulator) as graph:
        found = await find_latest(graph, _wanted("Whole", *ids))
    assert found is not None
    assert found.id == made
    assert not [r for r in control.get("/requests").json() if r["path"].endswith("/members")]


async def test_the_same_users_with_another_role_are_another_chat(emulator: Emulator) -> None:
    """A guest who is a member of the chat as a guest is not the chat that asks for them as an owner."""
    guest = "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"  # a guest of the home tenant (docs/graph.md)
    members = [ResolvedMember(key=ALEX), ResolvedMember(key=guest, guest=True)]
    spec = ChatSpec(
        chatType="group",
        topic="Roles",
        members=(
            ChatMember(userId=ALEX, field="members[0]"),
            ChatMember(userId=guest, guest=True, field="m"),
        ),
    )
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(chat_body(spec, members))
        assert isinstance(created, CreatedChat)
        as_guest = Wanted.of(members, "Roles")
        as_owner = Wanted.of([members[0], ResolvedMember(key=guest)], "Roles")
        assert as_guest is not None
        assert as_owner is not None
        found = await find_latest(graph, as_guest)
        assert found is not None
        assert found.id == created.id
        assert await find_latest(graph, as_owner) is None


async def test_the_same_id_of_another_tenant_is_another_member(emulator: Emulator) -> None:
    await _make(emulator, "Tenants", [ALEX, MEGAN])
    federated = Wanted.of(
        [ResolvedMember(key=ALEX), ResolvedMember(key=MEGAN, tenant_id=PARTNER_TENANT)], "Tenants"
    )
    assert federated is not None
    async with graph_for(emulator) as graph:
        assert await find_latest(graph, _wanted("Tenants", ALEX, MEGAN)) is not None
        assert await find_latest(graph, federated) is None


async def test_a_chat_with_a_member_of_another_tenant_is_found_by_naming_that_tenant(
    emulator: Emulator,
) -> None:
    """Graph lists every member with its tenant: the chat's own tenant is how a request names none."""
    federated = [ResolvedMember(key=ALEX), ResolvedMember(key=MEGAN, tenant_id=PARTNER_TENANT)]
    spec = ChatSpec(
        chatType="group",
        topic="Tenants",
        members=(
            ChatMember(userId=ALEX, field="members[0]"),
            ChatMember(userId=MEGAN, tenantId=PARTNER_TENANT, field="members[1]"),
        ),
    )
    wanted = Wanted.of(federated, "Tenants")
    assert wanted is not None
    async with graph_for(emulator) as graph:
        created = await graph.create_chat(chat_body(spec, federated), replay_safe=False)
        assert isinstance(created, CreatedChat)
        found = await find_latest(graph, wanted)
        assert found is not None
        assert found.id == created.id
        assert await find_latest(graph, _wanted("Tenants", ALEX, MEGAN)) is None, (
            "MEGAN of this tenant is another user"
        )


async def test_a_chat_without_the_asked_app_is_not_the_chat(
    emulator: Emulator, control: httpx.Client
) -> None:
    """reuseExisting with an app asks for a chat that has it installed (GET /chats/{id}/installedApps)."""
    control.post(
        "/identity",
        json={
            "roles": [
                "Chat.Create",
                "Chat.ReadBasic.All",
                "User.Read.All",
                "TeamsAppInstallation.ReadForChat.All",
            ]
        },
    ).raise_for_status()
    control.post("/operations", json={"polls": 0, "result": "succeeded"}).raise_for_status()
    app = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
    without = await _make(emulator, "Apps", [ALEX, JACOB])
    spec = _spec("Apps", [ALEX, JACOB]).model_copy(update={"app": TeamsApp(teamsAppId=app)})
    async with graph_for(emulator) as graph:
        assert await find_latest(graph, _wanted("Apps", ALEX, JACOB)) is not None, (
            "any chat, with no app asked"
        )
        with_app = Wanted.of(_members(ALEX, JACOB), "Apps", app)
        assert with_app is not None
        assert await find_latest(graph, with_app) is None, "the only chat lacks the app"
        accepted = await graph.create_chat(chat_body(spec, _members(ALEX, JACOB)))
        assert isinstance(accepted, AcceptedOperation)
        assert (await graph.get_operation(accepted.location)).status == "succeeded"
        found = await find_latest(graph, with_app)
    assert found is not None
    assert found.id != without
