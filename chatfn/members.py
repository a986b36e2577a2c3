"""Members as Graph can bind them: ids and member emails as they are, guests' emails as object ids.

A guest's email is not its user principal name (`ana_fabrikam.com#EXT#@contoso.onmicrosoft.com`), so
`users('ana@fabrikam.com')` would be a 404: the guest is looked up by `mail` first.
"""

from __future__ import annotations

import asyncio

from chatfn.errors import MemberNotFound
from chatfn.graph import GraphClient
from chatfn.models import ChatMember, ChatSpec
from chatfn.translate import ResolvedMember

# Lookups run side by side, but few at a time: Graph throttles an app per tenant.
MAX_CONCURRENT_LOOKUPS = 8


async def resolve_members(spec: ChatSpec, graph: GraphClient) -> list[ResolvedMember]:
    """Every member of the request, in order, ready to bind; `MemberNotFound` names a missing guest."""
    limit = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)

    async def resolve(member: ChatMember) -> ResolvedMember:
        if member.userId is not None:
            return ResolvedMember(key=member.userId, guest=member.guest, tenant_id=member.tenantId)
        assert member.email is not None  # the request model guarantees one of the two
        if not member.guest:
            return ResolvedMember(key=member.email, tenant_id=member.tenantId)
        async with limit:
            ids = await graph.find_user_ids_by_mail(member.email)
        if not ids:
            raise MemberNotFound(member.field, member.email)
        if len(ids) > 1:
            raise MemberNotFound(member.field, member.email, "matches more than one user; give its userId")
        return ResolvedMember(key=ids[0], guest=True)

    return list(await asyncio.gather(*(resolve(member) for member in spec.members)))
