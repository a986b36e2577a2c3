"""Find a group chat that is exactly the one a request asks for: the chat an earlier send may have made
before Graph failed (then only chats made since the request's first send count), or the one
`reuseExisting` asks for.

Exactly means the whole request: the same users, each from the same tenant and with the same role
(owner or guest), the topic when one is asked, and the Teams app when one is asked. Graph has no filter
on topic or on a whole member set, so the search lists the group chats of one in-tenant member that
another member is also in (`GET /users/{id}/chats`, `Chat.ReadBasic.All`) and compares here. Graph's
lists are eventually consistent: a chat made a moment ago may not be listed yet, which is why a search
for a send's chat goes on for as long as lists may lag (`chatfn.chats.job`, docs/api.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chatfn.chats.translate import ResolvedMember
from chatfn.graph.client import MAX_EXPANDED_MEMBERS, GraphClient
from chatfn.graph.models import Chat, ChatMemberInfo

# Our clock and Graph's may disagree by this much; a chat "made since the attempt began" is compared
# with the attempt's start less this margin.
CLOCK_SKEW = timedelta(seconds=60)
# A member with thousands of chats must not cost thousands of calls: at most 10 pages of 50.
MAX_CHATS_LISTED = 500

# A member as a chat holds it: object id (lower case), tenant (None: the chat's own), role.
MemberIdentity = tuple[str, str | None, str]


@dataclass(frozen=True)
class Wanted:
    """The chat looked for: its members, its topic (None: any topic) and the app it must have (None:
    any)."""

    members: frozenset[MemberIdentity]
    topic: str | None
    app_id: str | None
    searcher: str  # an in-tenant member, whose chats are listed
    partner: str | None  # another member, to narrow the list (None: every member has the same id)

    @classmethod
    def of(
        cls, members: Sequence[ResolvedMember], topic: str | None, app_id: str | None = None
    ) -> Wanted | None:
        """None when no member can be searched: members of other tenants are not in this tenant's lists."""
        home = [m.key.lower() for m in members if m.tenant_id is None]
        if not home:
            return None
        identities = frozenset(
            (m.key.lower(), m.tenant_id.lower() if m.tenant_id else None, "guest" if m.guest else "owner")
            for m in members
        )
        partner = next((m.key.lower() for m in members if m.key.lower() != home[0]), None)
        return cls(identities, topic, app_id.lower() if app_id else None, home[0], partner)


async def find_latest(graph: GraphClient, wanted: Wanted, since: datetime | None = None) -> Chat | None:
    """The most recently created matching group chat (made at or after `since`, when given), or None."""
    best: Chat | None = None
    best_created = datetime.min.replace(tzinfo=UTC)
    listed = 0
    async for chat in graph.group_chats_of(wanted.searcher, with_member=wanted.partner):
        listed += 1
        if listed > MAX_CHATS_LISTED:
            break
        created = _created(chat)
        if since is not None and created < since - CLOCK_SKEW:
            continue
        if wanted.topic is not None and chat.topic != wanted.topic:
            continue
        if best is not None and created <= best_created:
            continue
        if await _members_of(graph, chat) != wanted.members:
            continue
        if wanted.app_id is not None and not await graph.chat_has_app(chat.id, wanted.app_id):
            continue
        best, best_created = chat, created
    return best


async def _members_of(graph: GraphClient, chat: Chat) -> frozenset[MemberIdentity]:
    members = chat.members
    if len(members) >= MAX_EXPANDED_MEMBERS:
        members = await graph.members_of(chat.id)
    return frozenset(_identity(member, chat.tenantId) for member in members)


def _identity(member: ChatMemberInfo, chat_tenant: str | None) -> MemberIdentity:
    tenant = (member.tenantId or "").lower() or None
    if tenant is not None and tenant == (chat_tenant or "").lower():
        tenant = None  # a member of the chat's own tenant, as a request names it: no tenantId
    return ((member.userId or "").lower(), tenant, "guest" if "guest" in member.roles else "owner")


def _created(chat: Chat) -> datetime:
    """When Graph made the chat; a chat without a date counts as the oldest."""
    if not chat.createdDateTime:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(chat.createdDateTime.replace("Z", "+00:00"))
