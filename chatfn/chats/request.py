"""What callers send to `POST /api/chats` (docs/api.md): the request's models, strict, with every rule
a JSON Schema can state. The OpenAPI and Swagger documents are made from these same models; rules that
tie fields together are checked in `chatfn.chats.spec`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chatfn.chats.text import AddressList, Email, Guid, check_one_line
from chatfn.contract import MAX_APPS, MAX_MEMBERS, MAX_TOPIC, MIN_MEMBERS

ChatType = Literal["oneOnOne", "group"]


class StrictModel(BaseModel):
    """A caller's JSON as sent: no unknown field, no coercion (`"true"` is not a boolean)."""

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


class AppPermission(StrictModel):
    """A resource-specific permission consented for the app in this chat."""

    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.]{0,127}$")] = Field(
        title="Permission", description="Permission name, for example ChatMessage.Read.Chat."
    )
    type: Literal["application", "delegated"] = Field(
        default="application",
        title="Permission type",
        description="Whether the app uses the permission as itself or for a user.",
    )


class TeamsApp(StrictModel):
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


class Member(StrictModel):
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


class ChatRequest(StrictModel):
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
            check_one_line(value)  # blank (all `isspace`) and invisible-only included
        return value
