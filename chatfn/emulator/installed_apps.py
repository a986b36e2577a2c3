"""`GET /chats/{id}/installedApps`, as https://learn.microsoft.com/graph/api/chat-list-installedapps
documents it: the chat's app installations, each shown by its `id` alone unless `$select` asks for
`consentedPermissionSet` ("A $select query parameter is required to show the consented permission
set") or `$expand` for `teamsApp` and `teamsAppDefinition`; `$filter` on the app's catalog id or its
manifest id (`teamsApp/externalId`, the page's example). An app is installed in the chat once the
async operation of the POST /chats that asked for it has succeeded.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from chatfn.emulator.chat_json import GRAPH_V1
from chatfn.emulator.directory import TeamsApp
from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.refusals import GraphError, bad_request
from chatfn.emulator.state import InstalledApp, State

# The page's application permissions (read 2025), least privileged first. Chat.Manage.Chat and
# TeamsAppInstallation.Read.Chat, also listed, are left out: they are resource-specific consent,
# granted in one chat by its owners, not app roles a token carries, and the emulator has no such grants.
ROLES = (
    "TeamsAppInstallation.ReadForChat.All",
    "TeamsAppInstallation.ReadWriteSelfForChat.All",
    "TeamsAppInstallation.ManageSelectedForChat.All",
    "TeamsAppInstallation.Read.All",
    "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
    "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
    "TeamsAppInstallation.ReadWriteForChat.All",
)
_TYPE = "microsoft.graph.teamsAppInstallation"
_SELECTABLE = ("id", "consentedPermissionSet")
_EXPANDABLE = ("teamsApp", "teamsAppDefinition")
_FILTER = re.compile(r"\s*teamsApp/(?P<property>id|externalId)\s+eq\s+'(?P<value>[^']*)'\s*")


def teams_app_json(app: TeamsApp) -> dict[str, Any]:
    return {
        "id": app.id,
        "externalId": app.external_id,
        "displayName": app.display_name,
        "distributionMethod": app.distribution_method,
    }


def definition_json(app: TeamsApp) -> dict[str, Any]:
    """The published version; its id is base64 of `<app id>##<version>##Published`, as Graph's are."""
    return {
        "id": base64.b64encode(f"{app.id}##{app.version}##Published".encode()).decode(),
        "teamsAppId": app.id,
        "displayName": app.display_name,
        "version": app.version,
        "publishingState": "published",
    }


def _names(value: str | None, allowed: tuple[str, ...], kind: str) -> tuple[str, ...]:
    if value is not None and "(" in value:
        raise bad_request(f"The emulator serves no nested query options, as in '{value}'.")
    names = tuple(name.strip() for name in (value or "").split(",") if name.strip())
    for name in names:
        if name not in allowed:
            raise bad_request(f"Could not find a {kind} named '{name}' on type '{_TYPE}'.")
    return names


def _filter(expression: str | None) -> Callable[[TeamsApp], bool]:
    if expression is None:
        return lambda _app: True
    match = _FILTER.fullmatch(expression)
    if match is None:
        raise bad_request(
            f"Unsupported filter '{expression}': the emulator serves teamsApp/id eq '...' and "
            "teamsApp/externalId eq '...'."
        )
    wanted = match["value"].lower()  # ids are GUIDs, compared whatever their case as the catalog does
    if match["property"] == "id":
        return lambda app: app.id.lower() == wanted
    return lambda app: app.external_id.lower() == wanted


def _installation_json(
    installation: InstalledApp, selected: tuple[str, ...], expanded: tuple[str, ...]
) -> dict[str, Any]:
    app = installation.teams_app
    shown: dict[str, Any] = {}
    if "id" in selected:
        shown["id"] = installation.installation_id
    if "consentedPermissionSet" in selected:
        shown["consentedPermissionSet"] = installation.consented_permission_set
    if "teamsApp" in expanded:
        shown["teamsApp"] = teams_app_json(app)
    if "teamsAppDefinition" in expanded:
        shown["teamsAppDefinition"] = definition_json(app)
    return shown


def chat_installed_apps(state: State, request: Request, keys: list[str]) -> Response:
    for name in request.query:
        if name.startswith("$") and name not in ("$filter", "$select", "$expand"):
            raise bad_request(f"The query parameter '{name}' is not supported on this resource.")
    selected = _names(request.query.get("$select"), _SELECTABLE, "property") or ("id",)
    expanded = _names(request.query.get("$expand"), _EXPANDABLE, "navigation property")
    wanted = _filter(request.query.get("$filter"))
    chat = state.chats.get(keys[0])
    if chat is None:
        raise GraphError(404, f"Chat '{keys[0]}' was not found.")
    shown = [
        _installation_json(installation, selected, expanded)
        for installation in chat.installed_apps
        if wanted(installation.teams_app)
    ]
    shape = [*(selected if "$select" in request.query else ()), *(f"{name}()" for name in expanded)]
    context = f"{GRAPH_V1}/$metadata#chats('{quote(chat.id, safe='')}')/installedApps"
    return json_response(
        200, {"@odata.context": context + (f"({','.join(shape)})" if shape else ""), "value": shown}
    )
