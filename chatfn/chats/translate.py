"""The normalised request and its resolved members, as Graph's `POST /v1.0/chats` body. Pure."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from chatfn.chats.request import TeamsApp
from chatfn.chats.spec import ChatSpec

# Binds name objects, not addresses: they always use Graph's global URL, whatever GRAPH_BASE_URL is.
GRAPH_ID_ROOT = "https://graph.microsoft.com/v1.0"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"

# What a key inside users('...') may hold as-is; anything else (`#` of a guest UPN, spaces) is escaped.
_SAFE_IN_KEY = "@'!$&()*+,;=:-._~"


class ResolvedMember(BaseModel):
    """A member as Graph binds it: `key` is an object id or a UPN. A model, as it crosses durable
    history inside a chat job."""

    model_config = ConfigDict(frozen=True)

    key: str
    guest: bool = False
    tenant_id: str | None = None


def odata_key(value: str) -> str:
    """An OData string literal for a key: `'` doubled, then percent-encoded where a URL needs it."""
    return quote(value.replace("'", "''"), safe=_SAFE_IN_KEY)


def user_bind(key: str) -> str:
    return f"{GRAPH_ID_ROOT}/users('{odata_key(key)}')"


def member_body(member: ResolvedMember) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": MEMBER_TYPE,
        "roles": ["guest" if member.guest else "owner"],
        "user@odata.bind": user_bind(member.key),
    }
    if member.tenant_id is not None:
        body["tenantId"] = member.tenant_id
    return body


def installed_app_body(app: TeamsApp) -> dict[str, Any]:
    body: dict[str, Any] = {"teamsApp@odata.bind": f"{GRAPH_ID_ROOT}/appCatalogs/teamsApps/{app.teamsAppId}"}
    if app.permissions:
        body["consentedPermissionSet"] = {
            "resourceSpecificPermissions": [
                {"permissionValue": p.value, "permissionType": p.type} for p in app.permissions
            ]
        }
    return body


def chat_body(spec: ChatSpec, members: list[ResolvedMember]) -> dict[str, Any]:
    """Graph's body, in the reference page's key order: chatType, topic, members, installedApps."""
    body: dict[str, Any] = {"chatType": spec.chatType}
    if spec.topic is not None:
        body["topic"] = spec.topic
    body["members"] = [member_body(m) for m in members]
    if spec.app is not None:
        body["installedApps"] = [installed_app_body(spec.app)]
    return body
