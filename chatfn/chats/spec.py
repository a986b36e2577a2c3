"""The request normalised into a `ChatSpec`: one form, the chat type decided, every rule of docs/api.md
checked, each member with the field it came from. `parse_chat_request` is the only way in: it returns a
spec or raises `InvalidRequest` with every broken rule, each naming its field (`members[2].guest`,
`emails[1]`, `topic`). A spec crosses durable history as plain JSON, so it is rebuilt from it too."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from pydantic import ConfigDict, ValidationError

from chatfn.chats.field_errors import field_error
from chatfn.chats.request import AppPermission, ChatRequest, ChatType, Member, StrictModel, TeamsApp
from chatfn.contract import MAX_MEMBERS, MIN_MEMBERS
from chatfn.errors import FieldError, InvalidRequest

# Every field name a caller could mean, for "did you mean" when one is misspelt.
KNOWN_FIELDS = frozenset(
    {*ChatRequest.model_fields, *Member.model_fields, *TeamsApp.model_fields, *AppPermission.model_fields}
)


class ChatMember(Member):
    """A member of the normalised request, with the field it came from, for errors found later.
    Strict like the request's member: its fields are strings and a boolean, which JSON gives back as
    they were (only ChatSpec, whose members are a tuple, must be lax to come back from history)."""

    field: str


class ChatSpec(StrictModel):
    """The request normalised: one form, chat type decided, every rule of docs/api.md checked."""

    model_config = ConfigDict(strict=False)

    chatType: ChatType
    topic: str | None
    members: tuple[ChatMember, ...]
    app: TeamsApp | None = None
    reuseExisting: bool = False

    def fingerprint(self) -> str:
        """Same chat asked for, same fingerprint: whatever form, member order, email case, app id case
        or order of the app's permissions."""
        members = sorted(
            json.dumps(
                [(m.email or "").lower(), (m.userId or "").lower(), m.guest, (m.tenantId or "").lower()]
            )
            for m in self.members
        )
        app = None
        if self.app is not None:
            app = [self.app.teamsAppId.lower(), sorted((p.value, p.type) for p in self.app.permissions)]
        canonical = json.dumps([self.chatType, self.topic, members, app, self.reuseExisting], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_chat_request(payload: Any) -> ChatSpec:
    """Validate a decoded JSON body; raise `InvalidRequest` listing every broken rule."""
    try:
        request = ChatRequest.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest([field_error(error, KNOWN_FIELDS) for error in exc.errors()]) from None
    errors = list(_relation_errors(request))
    if errors:
        raise InvalidRequest(errors)
    members = tuple(_normalised_members(request))
    chat_type = request.chatType or ("oneOnOne" if len(members) == 2 and request.topic is None else "group")
    return ChatSpec(
        chatType=chat_type,
        topic=request.topic,
        members=members,
        app=request.apps[0] if request.apps else None,
        reuseExisting=request.reuseExisting,
    )


def _normalised_members(request: ChatRequest) -> Iterator[ChatMember]:
    if request.members is not None:
        for i, member in enumerate(request.members):
            yield ChatMember(**member.model_dump(), field=f"members[{i}]")
        return
    for name, guest in (("emails", False), ("guests", True)):
        for i, email in enumerate(getattr(request, name) or []):
            yield ChatMember(email=email, guest=guest, field=f"{name}[{i}]")


def _relation_errors(request: ChatRequest) -> Iterator[FieldError]:
    """The rules that tie fields together, which a JSON schema alone cannot say."""
    flat = request.emails is not None or request.guests is not None
    if request.members is not None and flat:
        yield FieldError("members", "use either members or emails/guests, not both")
        return
    if request.members is None and not flat:
        yield FieldError("members", "give the chat's members, as members or as emails/guests")
        return
    count_field = (
        "members" if request.members is not None else "emails" if request.emails is not None else "guests"
    )
    entries: list[tuple[str, Member]] = []
    if request.members is not None:
        for i, member in enumerate(request.members):
            field = f"members[{i}]"
            if (member.email is None) == (member.userId is None):
                yield FieldError(field, "give exactly one of email or userId")
            if member.email is not None and member.tenantId is not None:
                yield FieldError(
                    f"{field}.email",
                    "a user of another tenant (tenantId) is given by userId, its object id: this "
                    "tenant's Graph cannot look up another tenant's addresses",
                )
            if member.guest and member.tenantId is not None:
                yield FieldError(
                    f"{field}.guest", "a user of another tenant (tenantId) joins as an owner, not a guest"
                )
            entries.append((field, member))
    else:
        for name, guest in (("emails", False), ("guests", True)):
            for i, email in enumerate(getattr(request, name) or []):
                entries.append((f"{name}[{i}]", Member(email=email, guest=guest)))

    if len(entries) < MIN_MEMBERS:
        yield FieldError(count_field, f"a chat needs at least {MIN_MEMBERS} members, got {len(entries)}")
    if len(entries) > MAX_MEMBERS:
        yield FieldError(count_field, f"a chat has at most {MAX_MEMBERS} members, got {len(entries)}")

    seen: dict[tuple[str, str], str] = {}
    for field, member in entries:
        key = ((member.tenantId or "").lower(), (member.email or member.userId or "").lower())
        if key[1] and key in seen:
            yield FieldError(field, f"the same member as {seen[key]}")
        seen.setdefault(key, field)

    if request.chatType == "oneOnOne":
        if request.topic is not None:
            yield FieldError("topic", "a oneOnOne chat has no topic; use chatType group")
        if len(entries) != 2:
            yield FieldError("chatType", f"a oneOnOne chat has exactly 2 members, got {len(entries)}")
