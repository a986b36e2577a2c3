"""GET /chats/{id}/installedApps, as https://learn.microsoft.com/graph/api/chat-list-installedapps
documents it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.directory import CATALOG
from tests.emulator.conftest import ADELE, APP, GRAPH, MEGAN, client, error_of, get_token, group

DEFAULT_ROLES = ["Chat.Create", "Chat.ReadBasic.All", "User.Read.All"]
PERMISSIONS = {
    "resourceSpecificPermissions": [
        {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}
    ]
}
[OTHER_APP] = [app for app in CATALOG if app.id != APP]
[THE_APP] = [app for app in CATALOG if app.id == APP]


def _as_app_with(emulator: Emulator, control: httpx.Client, *roles: str) -> httpx.Client:
    control.post("/identity", json={"roles": [*DEFAULT_ROLES, *roles]}).raise_for_status()
    return client(emulator.graph_url, headers={"Authorization": f"Bearer {get_token(emulator)}"})


@pytest.fixture
def reader(emulator: Emulator, control: httpx.Client) -> Iterator[httpx.Client]:
    """A Graph client whose token holds the least privileged role the page lists."""
    with _as_app_with(emulator, control, "TeamsAppInstallation.ReadForChat.All") as http:
        yield http


def _chat_installing(graph: httpx.Client, control: httpx.Client, **app: Any) -> tuple[str, str]:
    """A chat made with the app; its operation succeeds on the second read. (chat id, operation URL)."""
    control.post("/operations", json={"polls": 1}).raise_for_status()
    body = group(ADELE, MEGAN) | {
        "installedApps": [{"teamsApp@odata.bind": f"{GRAPH}/appCatalogs/teamsApps/{APP}", **app}]
    }
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 202, answer.text
    chat_id: str = next(chat["id"] for chat in control.get("/chats").json())
    return chat_id, answer.headers["Location"]


def _succeed(graph: httpx.Client, operation: str) -> None:
    assert [graph.get(operation).json()["status"] for _ in range(2)] == ["inProgress", "succeeded"]


def _installed(http: httpx.Client, chat_id: str, **params: str) -> list[dict[str, Any]]:
    answer = http.get(f"/chats/{chat_id}/installedApps", params=params)
    assert answer.status_code == 200, answer.text
    value: list[dict[str, Any]] = answer.json()["value"]
    return value


def test_an_app_is_listed_once_its_operation_succeeded(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client
) -> None:
    chat_id, operation = _chat_installing(graph, control)
    assert _installed(reader, chat_id) == [], "installing: not yet in the chat"
    assert graph.get(operation).json()["status"] == "inProgress"
    assert _installed(reader, chat_id) == []
    assert graph.get(operation).json()["status"] == "succeeded"
    installation_id = base64.b64encode(f"{chat_id}##{APP}".encode()).decode()
    assert _installed(reader, chat_id) == [{"id": installation_id}], (
        "the installation's id alone, not the app's"
    )
    answer = reader.get(f"/chats/{chat_id}/installedApps")
    assert (
        answer.json()["@odata.context"]
        == f"{GRAPH}/$metadata#chats('{quote(chat_id, safe='')}')/installedApps"
    )


def test_a_failed_operation_installs_nothing(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client
) -> None:
    control.post("/operations", json={"statuses": ["inProgress", "failed"]}).raise_for_status()
    body = group(ADELE, MEGAN) | {
        "installedApps": [{"teamsApp@odata.bind": f"{GRAPH}/appCatalogs/teamsApps/{APP}"}]
    }
    operation = graph.post("/chats", json=body).headers["Location"]
    assert [graph.get(operation).json()["status"] for _ in range(2)] == ["inProgress", "failed"]
    assert _installed(reader, control.get("/chats").json()[0]["id"]) == []


def test_without_one_of_the_pages_roles_it_is_403(graph: httpx.Client, control: httpx.Client) -> None:
    chat_id, _ = _chat_installing(graph, control)
    answer = graph.get(f"/chats/{chat_id}/installedApps")
    assert answer.status_code == 403
    assert error_of(answer)["code"] == "Forbidden"
    assert "TeamsAppInstallation.ReadForChat.All" in error_of(answer)["message"]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("TeamsAppInstallation.ReadForChat.All", 200),
        ("TeamsAppInstallation.ReadWriteSelfForChat.All", 200),
        ("TeamsAppInstallation.ManageSelectedForChat.All", 200),
        ("TeamsAppInstallation.Read.All", 200),
        ("TeamsAppInstallation.ReadWriteAndConsentForChat.All", 200),
        ("TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All", 200),
        ("TeamsAppInstallation.ReadWriteForChat.All", 200),
        ("Chat.Manage.Chat", 403),  # resource-specific consent: granted per chat, not an app role
        ("TeamsAppInstallation.ReadForUser.All", 403),
    ],
)
def test_the_application_roles_the_page_lists_may_read(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client, role: str, status: int
) -> None:
    chat_id, _ = _chat_installing(graph, control)
    with _as_app_with(emulator, control, role) as http:
        assert http.get(f"/chats/{chat_id}/installedApps").status_code == status


def test_expand_shows_the_app_and_its_definition(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client
) -> None:
    chat_id, operation = _chat_installing(graph, control)
    _succeed(graph, operation)
    answer = reader.get(f"/chats/{chat_id}/installedApps", params={"$expand": "teamsApp,teamsAppDefinition"})
    [installation] = answer.json()["value"]
    assert installation["teamsApp"] == {
        "id": APP,
        "externalId": THE_APP.external_id,
        "displayName": THE_APP.display_name,
        "distributionMethod": THE_APP.distribution_method,
    }
    definition = installation["teamsAppDefinition"]
    assert (definition["teamsAppId"], definition["version"], definition["publishingState"]) == (
        APP,
        THE_APP.version,
        "published",
    )
    assert set(installation) == {"id", "teamsApp", "teamsAppDefinition"}
    assert answer.json()["@odata.context"].endswith("/installedApps(teamsApp(),teamsAppDefinition())")


@pytest.mark.parametrize(
    ("expression", "found"),
    [
        (f"teamsApp/id eq '{APP}'", 1),
        (f"teamsApp/id eq '{APP.upper()}'", 1),
        (f"teamsApp/id eq '{OTHER_APP.id}'", 0),
        (f"teamsApp/externalId eq '{THE_APP.external_id}'", 1),
        (f"teamsApp/externalId eq '{APP}'", 0),
    ],
)
def test_filter_on_the_apps_id_or_manifest_id(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client, expression: str, found: int
) -> None:
    chat_id, operation = _chat_installing(graph, control)
    _succeed(graph, operation)
    assert len(_installed(reader, chat_id, **{"$filter": expression, "$expand": "teamsApp"})) == found


def test_select_shows_the_consented_permission_set(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client
) -> None:
    chat_id, operation = _chat_installing(graph, control, consentedPermissionSet=PERMISSIONS)
    _succeed(graph, operation)
    assert "consentedPermissionSet" not in _installed(reader, chat_id)[0]
    [selected] = _installed(reader, chat_id, **{"$select": "id,consentedPermissionSet"})
    assert selected["consentedPermissionSet"] == PERMISSIONS


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "teamsApp/displayName eq 'Incident Desk'"},
        {"$filter": f"teamsApp/id in ('{APP}')"},
        {"$expand": "bot"},
        {"$expand": "teamsAppDefinition($expand=bot)"},
        {"$select": "teamsAppId"},
        {"$top": "1"},
    ],
)
def test_options_graph_does_not_serve_here_are_400(
    graph: httpx.Client, reader: httpx.Client, control: httpx.Client, params: dict[str, str]
) -> None:
    chat_id, _ = _chat_installing(graph, control)
    answer = reader.get(f"/chats/{chat_id}/installedApps", params=params)
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "BadRequest"


def test_an_unknown_chat_is_404(reader: httpx.Client) -> None:
    assert reader.get("/chats/19:nothing@thread.v2/installedApps").status_code == 404


def test_the_default_roles_stay_as_the_contract_fixes_them(control: httpx.Client) -> None:
    assert control.post("/identity", json={}).json()["roles"] == DEFAULT_ROLES
