"""The /_emulator control API: reset, directory, request log, stats and its own input checks."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS
from tests.emulator.conftest import ADELE, HOME_TENANT, MEGAN, client, get_token, group, member

NEW_USER = {
    "id": "d3b07384-d113-4ec6-a1b2-3c4d5e6f7a8b",
    "userPrincipalName": "zoe@contoso.com",
    "mail": "zoe@contoso.com",
}

# The reference examples' ten users, sam, and member01..member45.
DEFAULT_USER_COUNT = 10 + 1 + len(NUMBERED_MEMBERS)


def test_default_directory(control: httpx.Client) -> None:
    users = control.get("/users").json()
    assert len(users) == DEFAULT_USER_COUNT
    assert {"id", "userPrincipalName", "mail", "userType", "tenantId"} <= set(users[0])
    assert sum(user["userType"] == "Guest" for user in users) == 2
    assert [user["userPrincipalName"] for user in users if user["tenantId"] != HOME_TENANT] == [
        "bo@partner.com"
    ]


def test_added_users_default_to_home_members_and_can_chat(graph: httpx.Client, control: httpx.Client) -> None:
    added = control.post("/users", json=NEW_USER)
    assert added.status_code == 201
    assert added.json() == [NEW_USER | {"userType": "Member", "tenantId": HOME_TENANT, "displayName": "Zoe"}]
    assert graph.post("/chats", json=group(ADELE, "zoe@contoso.com")).status_code == 201
    assert (
        graph.get("/users", params={"$filter": "mail eq 'zoe@contoso.com'"}).json()["value"][0]["id"]
        == NEW_USER["id"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"userPrincipalName": "x@contoso.com"},
        {"id": "x", "userPrincipalName": ""},
        NEW_USER | {"userType": "Admin"},
        NEW_USER | {"email": "x@contoso.com"},
        NEW_USER | {"id": "other", "userPrincipalName": "adele@contoso.com"},
        [],
        "zoe",
    ],
)
def test_invalid_users_are_400(control: httpx.Client, body: Any) -> None:
    answer = control.post("/users", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert len(control.get("/users").json()) == DEFAULT_USER_COUNT


def test_not_json_is_400(control: httpx.Client) -> None:
    assert control.post("/users", content=b"{").status_code == 400


def test_reset_restores_everything(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/users", json=NEW_USER).raise_for_status()
    control.post("/identity", json={"roles": []}).raise_for_status()
    control.post("/operations", json={"polls": 0, "result": "failed"}).raise_for_status()
    control.post("/faults", json={"path": "/v1.0/users", "status": 503}).raise_for_status()
    control.post("/reset").raise_for_status()
    assert len(control.get("/users").json()) == DEFAULT_USER_COUNT
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 201
    control.post("/reset").raise_for_status()
    assert control.get("/chats").json() == []
    assert control.get("/requests").json() == []
    assert control.post("/operations", json={}).json() == {
        "statuses": ["inProgress", "inProgress", "succeeded"],
        "completeAfterSeconds": None,
        "retryAfter": None,
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/identity", {"roles": "Chat.Create"}),
        ("/identity", {"role": []}),
        ("/operations", {"polls": -1}),
        ("/operations", {"result": "done"}),
        ("/operations", {"retryAfter": "soon"}),
        ("/operations", {"poll": 1}),
    ],
)
def test_invalid_settings_are_400(control: httpx.Client, path: str, body: Any) -> None:
    assert control.post(path, json=body).status_code == 400


def test_unknown_endpoint_and_method(control: httpx.Client) -> None:
    assert control.get("/nothing").status_code == 404
    answer = control.get("/faults")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST, DELETE"


def test_request_log_records_requests_oldest_first_without_tokens(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client, token: str
) -> None:
    control.post("/reset").raise_for_status()
    fresh = get_token(emulator)
    body = {"chatType": "group", "topic": "Log", "members": [member(ADELE), member(MEGAN)]}
    chat_id = graph.post("/chats", json=body).json()["id"]
    graph.get(f"/chats/{chat_id.replace(':', '%3A')}", params={"$expand": "members"})
    graph.get("/users", params={"$filter": "mail eq 'ana@fabrikam.com'"})
    control.get("/chats")

    log = control.get("/requests").json()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("GET", "/msi/token", 200),
        ("POST", "/v1.0/chats", 201),
        ("GET", f"/v1.0/chats/{chat_id}", 200),
        ("GET", "/v1.0/users", 200),
    ]
    assert log[0]["query"] == {"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"}
    assert log[1]["body"] == body
    assert log[1]["query"] == {}
    assert log[2]["query"] == {"$expand": "members"}
    assert log[2]["body"] is None
    assert log[3]["query"] == {"$filter": "mail eq 'ana@fabrikam.com'"}
    assert all(set(entry) == {"method", "path", "query", "body", "status", "time"} for entry in log)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["time"]) for entry in log)
    assert [entry["time"] for entry in log] == sorted(entry["time"] for entry in log)
    text = control.get("/requests").text
    assert token not in text
    assert fresh not in text
    assert "chatfn-local" not in text


def test_refused_requests_are_logged_with_their_status(emulator: Emulator, control: httpx.Client) -> None:
    with client(emulator.graph_url) as http:
        http.post("/chats", content=b"not json")
    assert [(entry["status"], entry["body"]) for entry in control.get("/requests").json()] == [(401, None)]


def test_stats_count_connections_token_and_graph_requests(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/reset").raise_for_status()  # control's own connection is now open and not counted
    token = get_token(emulator)
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(5):
            assert http.get(f"/users/{ADELE}").status_code == 200
    assert control.get("/stats").json() == {"connections": 2, "tokenRequests": 1, "graphRequests": 5}
    control.post("/reset").raise_for_status()
    assert control.get("/stats").json() == {"connections": 0, "tokenRequests": 0, "graphRequests": 0}
