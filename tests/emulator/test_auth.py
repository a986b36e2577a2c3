"""Bearer tokens and app roles on the Graph surface, and the managed identity endpoint that issues them."""

from __future__ import annotations

import time

import httpx
import pytest

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, MEGAN, client, error_of, get_token, one_on_one

TOKEN_PARAMS = {"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"}


def test_token_endpoint_issues_a_token_for_an_hour(emulator: Emulator) -> None:
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint, params=TOKEN_PARAMS, headers={"X-IDENTITY-HEADER": "chatfn-local"}
        )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["resource"] == "https://graph.microsoft.com"
    assert body["token_type"] == "Bearer"
    assert 3500 < int(body["expires_on"]) - time.time() <= 3600
    assert get_token(emulator) != body["access_token"]


def test_token_endpoint_echoes_a_user_assigned_client_id(emulator: Emulator) -> None:
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint,
            params=TOKEN_PARAMS | {"client_id": "11111111-2222-3333-4444-555555555555"},
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
    assert answer.json()["client_id"] == "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, TOKEN_PARAMS, 400),
        ({"X-IDENTITY-HEADER": "wrong"}, TOKEN_PARAMS, 401),
        ({"X-IDENTITY-HEADER": "chatfn-local"}, {"resource": "https://graph.microsoft.com"}, 400),
        ({"X-IDENTITY-HEADER": "chatfn-local"}, {"api-version": "2019-08-01"}, 400),
    ],
)
def test_token_endpoint_refuses_like_app_service(
    emulator: Emulator, control: httpx.Client, headers: dict[str, str], params: dict[str, str], status: int
) -> None:
    with client() as http:
        answer = http.get(emulator.identity_endpoint, params=params, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"statusCode": status, "message": answer.json()["message"]}
    assert "access_token" not in answer.text
    assert control.get("/stats").json()["tokenRequests"] == 1


def test_graph_without_a_token_is_401(emulator: Emulator) -> None:
    with client(emulator.graph_url) as http:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
            answer = http.post("/chats", json=one_on_one(ADELE, MEGAN), headers=headers)
            assert answer.status_code == 401
            assert error_of(answer)["code"] == "InvalidAuthenticationToken"


def test_graph_refuses_unknown_tokens_and_tokens_for_other_resources(emulator: Emulator) -> None:
    for token in ("made-up", get_token(emulator, "https://management.azure.com")):
        with client(emulator.graph_url, headers={"Authorization": f"Bearer {token}"}) as http:
            answer = http.get(f"/users/{ADELE}")
        assert answer.status_code == 401
        assert error_of(answer)["code"] == "InvalidAuthenticationToken"
    with client(
        emulator.graph_url,
        headers={"Authorization": f"bearer {get_token(emulator, 'https://graph.microsoft.com/')}"},
    ) as http:
        assert http.get(f"/users/{ADELE}").status_code == 200


def test_tokens_stay_valid_across_reset(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    control.post("/reset").raise_for_status()
    assert graph.get(f"/users/{ADELE}").status_code == 200


@pytest.mark.parametrize(
    ("roles", "method", "path", "needed"),
    [
        (["Chat.ReadBasic.All", "User.Read.All"], "POST", "/chats", "Chat.Create"),
        (["Chat.Create", "User.Read.All"], "GET", "/chats/19:x@thread.v2", "Chat.ReadBasic.All"),
        (["Chat.Create", "Chat.ReadBasic.All"], "GET", f"/users/{ADELE}", "User.Read.All"),
    ],
)
def test_missing_role_is_403_naming_the_roles(
    graph: httpx.Client, control: httpx.Client, roles: list[str], method: str, path: str, needed: str
) -> None:
    control.post("/identity", json={"roles": roles}).raise_for_status()
    answer = graph.request(method, path, json=one_on_one(ADELE, MEGAN) if method == "POST" else None)
    assert answer.status_code == 403
    error = error_of(answer)
    assert error["code"] == "Forbidden"
    assert needed in error["message"]


def test_role_change_applies_to_an_issued_token_at_once(graph: httpx.Client, control: httpx.Client) -> None:
    body = one_on_one(ADELE, MEGAN)
    assert graph.post("/chats", json=body).status_code == 201
    control.post("/identity", json={"roles": ["User.Read.All"]}).raise_for_status()
    assert graph.post("/chats", json=body).status_code == 403
    control.post("/identity", json={"roles": ["Chat.ReadWrite.All"]}).raise_for_status()
    assert graph.post("/chats", json=body).status_code == 201
    assert graph.get(f"/users/{ADELE}").status_code == 403
    control.post("/reset").raise_for_status()
    assert graph.get(f"/users/{ADELE}").status_code == 200


def test_auth_comes_before_validation(emulator: Emulator) -> None:
    with client(emulator.graph_url) as http:
        assert http.post("/chats", json={}).status_code == 401
