"""What callers send (docs/api.md), its validation, and the normalised form the workflow carries.

`parse_chat_request` is the only way in: it returns a `ChatSpec` or raises `InvalidRequest` with every
broken rule, each naming its field (`members[2].guest`, `emails[1]`, `topic`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from chatfn.contract import GUID_PATTERN, MAX_APPS, MAX_EMAIL, MAX_MEMBERS, MAX_TOPIC, MIN_MEMBERS
from chatfn.errors import FieldError, InvalidRequest

_ADDRESS = r'[^@\s;,<>()\[\]"]+@[^@\s;,<>()\[\]"]+\.[^@\s;,<>()\[\]".]+'
_EMAIL = re.compile(f"^{_ADDRESS}$")
_SEPARATORS = re.compile(r"[;,]")
# The same rules as JSON Schema patterns, for the OpenAPI documents (chatfn.api.openapi).
EMAIL_PATTERN = _EMAIL.pattern
ADDRESSES_PATTERN = rf"^[\s;,]*{_ADDRESS}(?:\s*[;,][\s;,]*{_ADDRESS})*[\s;,]*$"

Guid = Annotated[str, StringConstraints(pattern=f"^{GUID_PATTERN}$")]
ChatType = Literal["oneOnOne", "group"]


# JSON's "\ud800" decodes to a lone surrogate, which no UTF-8 body (Graph's, the orchestrator's) can carry.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


# Characters nobody sees but Graph and Teams keep: control characters (C0, DEL, C1) and format
# characters (Unicode category Cf: zero-width spaces and joiners, bidi overrides such as U+202E).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Letters that render as nothing (Hangul fillers, the blank Braille pattern): text of only these,
# format characters and spaces is as blank as an empty string.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def escaped(text: str) -> str:
    """Text safe to show in an answer or a log: anything unprintable as its `\\uXXXX` escape."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _hidden_characters(value: str) -> list[str]:
    return [ch for ch in value if _CONTROL.match(ch) or unicodedata.category(ch) == "Cf"]


def _check_visible(value: str) -> str:
    """Refuse control and format characters anywhere, naming the first few by their escapes."""
    hidden = _hidden_characters(value)
    if hidden:
        shown = ", ".join(dict.fromkeys(escaped(ch) for ch in hidden[:5]))
        raise ValueError(f"must not hold control or invisible formatting characters (found {shown})")
    if value and all(ch.isspace() or ch in _BLANK_LETTERS for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


def _check_email(value: str) -> str:
    value = _check_visible(value).strip()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value) or _SURROGATE.search(value):
        raise ValueError("must be an email address such as alex@contoso.com")
    return value


Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "maxLength": MAX_EMAIL, "pattern": EMAIL_PATTERN}),
]


def _split_addresses(value: object) -> object:
    """Power Automate joins addresses into one string: accept `a@x.com; b@x.com,` as a list."""
    if isinstance(value, str):
        # Only plain spaces and line breaks around an address are layout; anything else stays in
        # the entry, for the entry's own check to refuse.
        return [part.strip(_LAYOUT) for part in _SEPARATORS.split(value) if part.strip(_LAYOUT)]
    return value


_LAYOUT = "".join(
    ch for ch in map(chr, range(0x3001)) if ch.isspace() and (ch in " \t\r\n" or not _CONTROL.match(ch))
)


AddressList = Annotated[
    list[Email],
    BeforeValidator(
        _split_addresses,
        json_schema_input_type=list[Email]
        | Annotated[str, WithJsonSchema({"type": "string", "pattern": ADDRESSES_PATTERN})],
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# The rules of `_relation_errors` that JSON Schema can state, for the OpenAPI document. Those it
# cannot (2 to 250 members across emails and guests, no member twice) only the 400 tells.
_MEMBER_RULES: dict[str, Any] = {
    "oneOf": [
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
        {"required": ["userId"], "properties": {"userId": {"type": "string"}}},
    ],
    "not": {
        "required": ["guest", "tenantId"],
        "properties": {"guest": {"const": True}, "tenantId": {"type": "string"}},
    },
}
_REQUEST_RULES: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["members"],
            "properties": {
                "members": {"type": "array"},
                "emails": {"type": "null"},
                "guests": {"type": "null"},
            },
        },
        {
            "properties": {"members": {"type": "null"}},
            "anyOf": [
                {"required": ["emails"], "properties": {"emails": {"type": ["array", "string"]}}},
                {"required": ["guests"], "properties": {"guests": {"type": ["array", "string"]}}},
            ],
        },
    ],
    "if": {"required": ["chatType"], "properties": {"chatType": {"const": "oneOnOne"}}},
    "then": {"properties": {"topic": {"type": "null"}, "members": {"maxItems": 2}}},
}


class AppPermission(_Strict):
    """A resource-specific permission consented for the app in this chat."""

    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.]{0,127}$")] = Field(
        title="Permission", description="Permission name, for example ChatMessage.Read.Chat."
    )
    type: Literal["application", "delegated"] = Field(
        default="application",
        title="Permission type",
        description="Whether the app uses the permission as itself or for a user.",
    )


class TeamsApp(_Strict):
    """A Teams app to install in the new chat (Graph then answers 202 and chatfn polls)."""

    teamsAppId: Guid = Field(
        title="Teams app ID", description="Id of the app in the tenant's Teams app catalog."
    )
    permissions: list[AppPermission] = Field(
        default_factory=list,
        max_length=50,
        title="Permissions",
        description="Resource-specific permissions to consent.",
    )


class Member(_Strict):
    """One person in the chat: an email (or UPN) or an Entra object id."""

    model_config = ConfigDict(json_schema_extra=_MEMBER_RULES)

    email: Email | None = Field(
        default=None, title="Email", description="Email address or user principal name."
    )
    userId: Guid | None = Field(
        default=None, title="User ID", description="Entra object id of the user (a GUID)."
    )
    guest: bool = Field(
        default=False, title="Guest", description="A guest user of this tenant: joins with role guest."
    )
    tenantId: Guid | None = Field(
        default=None,
        title="Tenant ID",
        description="Tenant of a user from another organisation: always an owner.",
    )


class ChatRequest(_Strict):
    """The body of `POST /api/chats`: `members`, or the flat `emails`/`guests` form."""

    model_config = ConfigDict(json_schema_extra=_REQUEST_RULES)

    topic: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOPIC,
        title="Topic",
        description="Title of a group chat.",
        json_schema_extra={"pattern": r"\S"},  # not blank, as _topic_not_blank checks
    )
    chatType: ChatType | None = Field(
        default=None,
        title="Chat type",
        description="oneOnOne or group; by default oneOnOne for two members and no topic.",
    )
    members: list[Member] | None = Field(
        default=None,
        title="Members",
        description="The chat's members, 2 to 250.",
        json_schema_extra={"minItems": MIN_MEMBERS, "maxItems": MAX_MEMBERS},  # checked in _relation_errors
    )
    emails: AddressList | None = Field(
        default=None,
        title="Emails",
        description="Members as emails: a list, or one string separated by ';' or ','.",
    )
    guests: AddressList | None = Field(
        default=None,
        title="Guests",
        description="Guest members as emails: a list, or one string separated by ';' or ','.",
    )
    apps: list[TeamsApp] | None = Field(
        default=None, max_length=MAX_APPS, title="Teams app", description="At most one Teams app."
    )
    reuseExisting: bool = Field(
        default=False,
        title="Reuse an existing chat",
        description="For a group chat: answer with an existing group chat that has exactly these members "
        "(and this topic, when one is given) instead of creating another.",
    )

    @field_validator("topic")
    @classmethod
    def _topic_not_blank(cls, value: str | None) -> str | None:
        if value is not None:
            _check_visible(value)  # blank (all `isspace`) included
        return value


class ChatMember(Member):
    """A member of the normalised request, with the field it came from, for errors found later."""

    # Not strict: a spec comes back from durable history as plain JSON (lists, not tuples).
    model_config = ConfigDict(strict=False)

    field: str


class ChatSpec(_Strict):
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


# Deeper than any body of docs/api.md needs; Python's decoder would recurse into a RecursionError.
MAX_JSON_DEPTH = 32


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON, or `InvalidRequest`: not JSON, nested too deeply, or a key given twice in
    one object (a gateway keeping the first value and chatfn the last would disagree on the request)."""

    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise InvalidRequest(
                    [FieldError("body", f"the key '{escaped(key)}' appears twice in one object")]
                )
            seen[key] = value
        return seen

    try:
        payload = json.loads(raw, object_pairs_hook=no_repeats)
    except ValueError as exc:  # json.JSONDecodeError and undecodable bytes
        raise InvalidRequest([FieldError("body", f"is not valid JSON: {escaped(str(exc))}")]) from None
    except RecursionError:  # the decoder recurses: 64 KiB of `[` fit within the size limit
        raise InvalidRequest([FieldError("body", "is not valid JSON: nested too deeply")]) from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise InvalidRequest([FieldError("body", f"is nested deeper than {MAX_JSON_DEPTH} levels")])
    return payload


def _depth(value: Any) -> int:
    """How deeply lists and objects nest, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_chat_request(payload: Any) -> ChatSpec:
    """Validate a decoded JSON body; raise `InvalidRequest` listing every broken rule."""
    try:
        request = ChatRequest.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest([_field_error(error) for error in exc.errors()]) from None
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


# A validator's step in pydantic's error path ("function-after[...]"), not a field the caller sent.
_VALIDATOR_STEP = re.compile(r"function-(?:after|before|wrap|plain)\[")


def _field_error(error: Any) -> FieldError:
    """Pydantic's error, as a path a caller recognises and a message that says what to do."""
    loc = [part for part in error["loc"] if not (isinstance(part, str) and _VALIDATOR_STEP.match(part))]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).removeprefix(".")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown field" + _did_you_mean(error["loc"])
    elif kind == "string_pattern_mismatch" and str(loc[-1]) in ("userId", "tenantId", "teamsAppId"):
        message = "must be a GUID such as 8b081ef6-4792-4def-b2c9-c363a1bf41d5"
    elif kind == "list_type" and str(loc[-1]) in ("emails", "guests"):
        message = "must be a list of email addresses, or one string of them separated by ';' or ','"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    elif kind == "literal_error":
        message = f"must be one of {error['ctx']['expected']}"
    elif kind in _MESSAGES:
        message = _MESSAGES[kind]
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
    return FieldError(field if loc else "body", message)  # a key may be "" or start with dots


_MESSAGES = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
}

_KNOWN_FIELDS = {
    *ChatRequest.model_fields,
    *Member.model_fields,
    *TeamsApp.model_fields,
    *AppPermission.model_fields,
}


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    name = loc[-1]
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
