"""Bearer tokens and app roles on the Graph surface, and the managed identity endpoint that issues them."""

from __future__ import annotations

import time

import httpx
import pytest

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, MEGAN, client, error_of, get_token, one_on_one

TOKEN_PARAMS = {"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"}


def test_token_endpoint_issues_a_token_for_a_day_in_app_services_shape(emulator: Emulator) -> None:
    """App Service answers expires_on only (no expires_in, no refresh_in), about 24 h ahead:
    https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference"""
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint, params=TOKEN_PARAMS, headers={"X-IDENTITY-HEADER": "chatfn-local"}
        )
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["resource"] == "https://graph.microsoft.com"
    assert body["token_type"] == "Bearer"
    assert 86300 < int(body["expires_on"]) - time.time() <= 86399
    assert get_token(emulator) != body["access_token"]


def test_token_endpoint_echoes_a_user_assigned_client_id(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/identity", json={"clientIds": ["11111111-2222-3333-4444-555555555555"]}).raise_for_status()
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
    emulator: Emulator, control: httpx.Client, roles: list[str], method: str, path: str, needed: str
) -> None:
    control.post("/identity", json={"roles": roles}).raise_for_status()
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {get_token(emulator)}"}) as graph:
        answer = graph.request(method, path, json=one_on_one(ADELE, MEGAN) if method == "POST" else None)
    assert answer.status_code == 403
    error = error_of(answer)
    assert error["code"] == "Forbidden"
    assert needed in error["message"]


def test_a_token_keeps_the_roles_it_was_issued_with(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    """Graph authorizes by the token's roles; a changed grant reaches the app only with a new token
    (https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/
    managed-identity-best-practice-recommendations)."""
    body = one_on_one(ADELE, MEGAN)
    control.post("/identity", json={"roles": ["User.Read.All"]}).raise_for_status()
    assert graph.post("/chats", json=body).status_code == 201
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {get_token(emulator)}"}) as fresh:
        assert fresh.post("/chats", json=body).status_code == 403
        assert fresh.get(f"/users/{ADELE}").status_code == 200
        control.post("/identity", json={"roles": ["Chat.ReadWrite.All"]}).raise_for_status()
        assert fresh.post("/chats", json=body).status_code == 403, "still the token's roles"


def test_revoked_tokens_are_401_until_a_new_one_or_a_reset(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    assert control.post("/identity", json={"revokeTokens": True}).json()["roles"] == [
        "Chat.Create",
        "Chat.ReadBasic.All",
        "User.Read.All",
    ]
    answer = graph.get(f"/users/{ADELE}")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "InvalidAuthenticationToken"
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {get_token(emulator)}"}) as fresh:
        assert fresh.get(f"/users/{ADELE}").status_code == 200
    control.post("/reset").raise_for_status()
    assert graph.get(f"/users/{ADELE}").status_code == 200, "reset makes issued tokens valid again"


def test_an_unassigned_client_id_is_400_in_app_services_shape(
    emulator: Emulator, control: httpx.Client
) -> None:
    assigned, other = "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11", "9d3b2a1c-0000-4000-8000-000000000001"
    control.post("/identity", json={"clientIds": [assigned]}).raise_for_status()
    with client() as http:
        refused = http.get(
            emulator.identity_endpoint,
            params=TOKEN_PARAMS | {"client_id": other},
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
        granted = http.get(
            emulator.identity_endpoint,
            params=TOKEN_PARAMS | {"client_id": assigned.upper()},
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
    assert refused.status_code == 400
    assert refused.json() == {
        "statusCode": 400,
        "message": "No User Assigned or Delegated Managed Identity found for specified "
        "ClientId/ResourceId/PrincipalId.",
    }
    assert granted.status_code == 200


def test_token_lifetime_is_set_for_new_tokens(emulator: Emulator, control: httpx.Client) -> None:
    token = get_token(emulator)
    control.post("/identity", json={"tokenLifetimeSeconds": 1}).raise_for_status()
    short = get_token(emulator)
    time.sleep(1.1)
    for bearer, status in ((token, 200), (short, 401)):
        with client(emulator.graph_url, headers={"Authorization": f"Bearer {bearer}"}) as http:
            answer = http.get(f"/users/{ADELE}")
        assert answer.status_code == status
    assert "expired" in error_of(answer)["message"]


@pytest.mark.parametrize(
    "body",
    [{"tokenLifetimeSeconds": 0}, {"clientIds": "x"}, {"revokeTokens": "yes"}, {"lifetime": 5}],
)
def test_invalid_identity_settings_are_400(control: httpx.Client, body: dict[str, object]) -> None:
    assert control.post("/identity", json=body).status_code == 400


def test_identity_fields_left_out_keep_their_value(control: httpx.Client) -> None:
    control.post("/identity", json={"roles": ["Chat.Create"], "clientIds": ["a"]}).raise_for_status()
    assert control.post("/identity", json={"tokenLifetimeSeconds": 60}).json() == {
        "roles": ["Chat.Create"],
        "clientIds": ["a"],
        "tokenLifetimeSeconds": 60,
    }


def test_auth_comes_before_validation(emulator: Emulator) -> None:
    with client(emulator.graph_url) as http:
        assert http.post("/chats", json={}).status_code == 401
