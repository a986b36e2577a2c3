"""Graph's JSON for chats, their members and installed apps, as the chat pages of the reference show."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chatfn.emulator.directory import HOME_TENANT
from chatfn.emulator.messages import iso_millis
from chatfn.emulator.state import Chat, InstalledApp, Member

GRAPH_V1 = "https://graph.microsoft.com/v1.0"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"


def chat_entity(chat: Chat) -> dict[str, Any]:
    """The chat as POST /chats answers it (the reference page's shape)."""
    return {
        "@odata.context": f"{GRAPH_V1}/$metadata#chats/$entity",
        "id": chat.id,
        "topic": chat.topic,
        "createdDateTime": iso_millis(chat.created),
        "lastUpdatedDateTime": iso_millis(chat.last_updated),
        "chatType": chat.chat_type,
    }


def member_json(member: Member) -> dict[str, Any]:
    return {
        "@odata.type": MEMBER_TYPE,
        "id": member.membership_id,
        "roles": member.roles,
        "displayName": member.user.display_name,
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": member.user.id,
        "email": member.user.mail,
        "tenantId": member.user.tenant_id,
    }


def installed_app_json(app: InstalledApp) -> dict[str, Any]:
    return {
        "id": app.installation_id,
        "consentedPermissionSet": app.consented_permission_set,
        "teamsApp": {"id": app.teams_app_id},
    }


def chat_resource(chat: Chat) -> dict[str, Any]:
    """The chat as GET /chats/{id} and the lists answer it, without @odata.context."""
    entity = chat_entity(chat)
    del entity["@odata.context"]
    entity.update(
        webUrl=f"https://teams.microsoft.com/l/chat/{quote(chat.id, safe='')}/0?tenantId={HOME_TENANT}",
        tenantId=HOME_TENANT,
        onlineMeetingInfo=None,
        viewpoint=None,
    )
    return entity
