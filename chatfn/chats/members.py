"""Members as Graph binds them: every email, owner or guest, turned into its user's object id.

In real tenants an email is often not the sign-in name (`sam@contoso.com` is the mail of
`sam.k@contoso.onmicrosoft.com`; a guest's UPN is `ana_fabrikam.com#EXT#@contoso.onmicrosoft.com`),
and `users('<mail>')` is a 404. So each address is looked up by `mail` or `userPrincipalName`,
case-insensitively, 15 to a Graph call (the most one `in` takes), a few calls at a time. Every address
that cannot be bound is reported at once, so the caller fixes them all in one go (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chatfn.chats.spec import ChatMember, ChatSpec
from chatfn.chats.translate import ResolvedMember
from chatfn.errors import FieldError, MembersNotFound
from chatfn.graph.directory import Directory
from chatfn.graph.models import DirectoryUser


async def resolve_members(spec: ChatSpec, directory: Directory) -> list[ResolvedMember]:
    """Every member of the request, in order, bound by object id (`bind_members`), its addresses looked
    up in the worker's directory."""
    addresses = addresses_of(spec)
    users = await directory.users_by_address(addresses) if addresses else {}
    return bind_members(spec, users)


def addresses_of(spec: ChatSpec) -> list[str]:
    """The request's addresses to look up, lower case, each once."""
    return sorted({m.email.lower() for m in spec.members if m.email is not None})


def bind_members(spec: ChatSpec, users: Mapping[str, Sequence[DirectoryUser]]) -> list[ResolvedMember]:
    """Every member bound by object id, from what the directory holds for each address (lower case);
    `MembersNotFound` names every address that matches no user, more than one, or a user whose kind
    contradicts `guest`, and every user named twice (by email and by `userId`, say), with both entries.
    Pure: a batch binds all its items from one lookup of all their addresses."""
    errors: list[FieldError] = []
    resolved: list[tuple[ChatMember, ResolvedMember]] = []
    for member in spec.members:
        if member.userId is not None:  # the request model gives each member an email or a userId
            bound = ResolvedMember(key=member.userId, guest=member.guest, tenant_id=member.tenantId)
            resolved.append((member, bound))
            continue
        if member.email is None:
            raise ValueError(f"{member.field} has neither an email nor a userId")
        found = users.get(member.email.lower(), [])
        problem = _binding_problem(member, found)
        if problem is not None:
            errors.append(problem)
            continue
        resolved.append((member, ResolvedMember(key=found[0].id, guest=member.guest)))
    errors.extend(_named_twice(resolved))
    if errors:
        raise MembersNotFound(errors)
    return [bound for _, bound in resolved]


def _named_twice(resolved: Sequence[tuple[ChatMember, ResolvedMember]]) -> list[FieldError]:
    """One user given twice (by email and by object id, or by two addresses of theirs): Graph would
    refuse the chat; said here, naming both entries."""
    first: dict[tuple[str, str], ChatMember] = {}
    errors: list[FieldError] = []
    for member, bound in resolved:
        identity = (bound.key.lower(), (bound.tenant_id or "").lower())
        if identity in first:
            earlier = first[identity]
            errors.append(
                FieldError(
                    member.field, f"the same user as {earlier.field} ({bound.key}); name each member once"
                )
            )
        else:
            first[identity] = member
    return errors


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
