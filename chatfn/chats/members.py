"""Members as Graph binds them: every email, owner or guest, turned into its user's object id.

In real tenants an email is often not the sign-in name (`sam@contoso.com` is the mail of
`sam.k@contoso.onmicrosoft.com`; a guest's UPN is `ana_fabrikam.com#EXT#@contoso.onmicrosoft.com`),
and `users('<mail>')` is a 404. So each address is looked up by `mail` or `userPrincipalName`,
case-insensitively, 15 to a Graph call (the most one `in` takes), a few calls at a time. Every address
that cannot be bound is reported at once, so the caller fixes them all in one go (docs/api.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from chatfn.chats.spec import ChatMember, ChatSpec
from chatfn.chats.translate import ResolvedMember
from chatfn.errors import FieldError, MembersNotFound
from chatfn.graph.client import MAX_ADDRESSES_PER_LOOKUP, GraphClient
from chatfn.graph.models import DirectoryUser

# Lookups run side by side, but few at a time: Graph throttles an app per tenant. 250 members (the
# most a chat has) are 17 calls, so five in flight take four rounds.
MAX_CONCURRENT_LOOKUPS = 5


async def resolve_members(spec: ChatSpec, graph: GraphClient) -> list[ResolvedMember]:
    """Every member of the request, in order, bound by object id; `MembersNotFound` names every
    address that matches no user, more than one, or a user whose kind contradicts `guest`."""
    addresses = sorted({m.email.lower() for m in spec.members if m.email is not None})
    users = await _users_by_address(addresses, graph)
    errors: list[FieldError] = []
    resolved: list[ResolvedMember] = []
    for member in spec.members:
        if member.userId is not None:  # the request model gives each member an email or a userId
            resolved.append(ResolvedMember(key=member.userId, guest=member.guest, tenant_id=member.tenantId))
            continue
        if member.email is None:
            raise ValueError(f"{member.field} has neither an email nor a userId")
        found = users.get(member.email.lower(), [])
        problem = _binding_problem(member, found)
        if problem is not None:
            errors.append(problem)
            continue
        resolved.append(ResolvedMember(key=found[0].id, guest=member.guest))
    if errors:
        raise MembersNotFound(errors)
    return resolved


def _binding_problem(member: ChatMember, found: Sequence[DirectoryUser]) -> FieldError | None:
    """Why this member cannot be bound to what the directory holds for its address, if it cannot."""
    if not found:
        return FieldError(
            _field(member, "email"),
            f"{member.email} matches no user of the directory by mail or sign-in name",
        )
    if len(found) > 1:
        return FieldError(
            _field(member, "email"), f"{member.email} matches {len(found)} users; give the member's userId"
        )
    # Graph refuses the chat with a 400 for a guest given as owner or a member given as guest
    # (https://learn.microsoft.com/graph/api/chat-post): said here first, naming the field to change.
    is_guest = found[0].userType == "Guest"
    if is_guest and not member.guest:
        return FieldError(
            _field(member, "guest"), f"{member.email} is a guest of the tenant: give it as a guest"
        )
    if member.guest and not is_guest:
        return FieldError(
            _field(member, "guest"), f"{member.email} is a member of the tenant, not a guest: leave guest out"
        )
    return None


def _field(member: ChatMember, part: str) -> str:
    """`members[2].email` in the members form; `emails[1]` as it is in the flat form."""
    return f"{member.field}.{part}" if member.field.startswith("members[") else member.field


async def _users_by_address(addresses: list[str], graph: GraphClient) -> dict[str, list[DirectoryUser]]:
    """Each address (lower case) with the distinct users whose mail or UPN it is."""
    limit = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)

    async def lookup(batch: Sequence[str]) -> list[DirectoryUser]:
        async with limit:
            return await graph.find_users(batch)

    batches = [
        addresses[start : start + MAX_ADDRESSES_PER_LOOKUP]
        for start in range(0, len(addresses), MAX_ADDRESSES_PER_LOOKUP)
    ]
    answers = await asyncio.gather(*(lookup(batch) for batch in batches))
    return _by_address(addresses, (user for answer in answers for user in answer))


def _by_address(addresses: Iterable[str], users: Iterable[DirectoryUser]) -> dict[str, list[DirectoryUser]]:
    matches: dict[str, dict[str, DirectoryUser]] = {address: {} for address in addresses}
    for user in users:
        for address in {(user.mail or "").lower(), (user.userPrincipalName or "").lower()}:
            if address in matches:
                matches[address][user.id.lower()] = user
    return {address: list(found.values()) for address, found in matches.items()}
