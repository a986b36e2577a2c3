"""Find a group chat that already has exactly these members (and this topic): the chat an earlier
attempt may have made before Graph failed (then only chats made since that attempt began count), or the
one `reuseExisting` asks for.

Graph has no filter on topic or on a whole member set, so the search lists the group chats of one
in-tenant member that another member is also in (`GET /users/{id}/chats`, `Chat.ReadBasic.All`) and
compares topic and members here. Graph's lists are eventually consistent: a chat made a moment ago may
not be listed yet, which is why `find_made_since` looks more than once (docs/api.md, "Exactly one chat").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chatfn.chats.translate import ResolvedMember
from chatfn.graph.client import MAX_EXPANDED_MEMBERS, GraphClient
from chatfn.graph.models import Chat

# Our clock and Graph's may disagree by this much; a chat "made since the attempt began" is compared
# with the attempt's start less this margin.
CLOCK_SKEW = timedelta(seconds=60)
# How long a new chat may take to appear in a member's list, as waits between looks.
LOOK_AGAIN_AFTER = (1.0, 2.0)
# A member with thousands of chats must not cost thousands of calls: at most 10 pages of 50.
MAX_CHATS_LISTED = 500


@dataclass(frozen=True)
class Wanted:
    """The chat looked for: its members' object ids (lower case) and its topic (None: any topic)."""

    member_ids: frozenset[str]
    topic: str | None
    searcher: str  # an in-tenant member, whose chats are listed
    partner: str | None  # another member, to narrow the list (None: every member has the same id)

    @classmethod
    def of(cls, members: Sequence[ResolvedMember], topic: str | None) -> Wanted | None:
        """None when no member can be searched: members of other tenants are not in this tenant's lists."""
        home = [m.key.lower() for m in members if m.tenant_id is None]
        if not home:
            return None
        ids = frozenset(m.key.lower() for m in members)
        partner = next((m.key.lower() for m in members if m.key.lower() != home[0]), None)
        return cls(ids, topic, home[0], partner)


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
        if await _members_of(graph, chat) == wanted.member_ids:
            best, best_created = chat, created
    return best


async def find_made_since(
    graph: GraphClient,
    wanted: Wanted,
    since: datetime,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Chat | None:
    """The chat an attempt that began at `since` may have made, looking again while lists catch up."""
    found = await find_latest(graph, wanted, since)
    for delay in LOOK_AGAIN_AFTER:
        if found is not None:
            return found
        await sleep(delay)
        found = await find_latest(graph, wanted, since)
    return found


async def _members_of(graph: GraphClient, chat: Chat) -> frozenset[str]:
    members = chat.members
    if len(members) >= MAX_EXPANDED_MEMBERS:
        members = await graph.members_of(chat.id)
    return frozenset((m.userId or "").lower() for m in members)


def _created(chat: Chat) -> datetime:
    """When Graph made the chat; a chat without a date counts as the oldest."""
    if not chat.createdDateTime:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(chat.createdDateTime.replace("Z", "+00:00"))
