"""The real azure-identity credentials get Graph tokens from the emulator's managed identity endpoint."""

from __future__ import annotations

import time

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential

from chatfn.emulator import Emulator
from chatfn.graph.client import GRAPH_SCOPE
from chatfn.graph.identity import graph_credential
from chatfn.settings import Settings

pytestmark = pytest.mark.usefixtures("managed_identity_env")


def test_sync_credential_gets_a_token(emulator: Emulator, control: httpx.Client) -> None:
    token = ManagedIdentityCredential().get_token(GRAPH_SCOPE)
    assert token.token
    assert token.expires_on > time.time() + 600
    [request] = control.get("/requests").json()
    assert request["path"] == "/msi/token"
    assert request["query"]["resource"] == "https://graph.microsoft.com"
    assert token.token not in str(control.get("/requests").json()), "the log never holds a token"


@pytest.mark.anyio
async def test_async_credential_gets_a_token_and_caches_it(emulator: Emulator, control: httpx.Client) -> None:
    async with AsyncManagedIdentityCredential() as credential:
        first = await credential.get_token(GRAPH_SCOPE)
        second = await credential.get_token(GRAPH_SCOPE)
    assert first.token == second.token
    assert control.get("/stats").json()["tokenRequests"] == 1


def test_a_wrong_identity_header_is_refused(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(GRAPH_SCOPE)


def test_a_missing_identity_header_is_refused(emulator: Emulator) -> None:
    answer = httpx.get(
        emulator.identity_endpoint,
        params={"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"},
    )
    assert answer.status_code in (400, 401, 403)
    assert "access_token" not in answer.text


def test_a_token_without_chat_create_gets_graphs_403(emulator: Emulator, control: httpx.Client) -> None:
    control.post("/identity", json={"roles": ["Chat.ReadBasic.All", "User.Read.All"]}).raise_for_status()
    token = ManagedIdentityCredential().get_token(GRAPH_SCOPE).token
    answer = httpx.post(
        f"{emulator.graph_url}/chats",
        json={"chatType": "oneOnOne", "members": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Forbidden"


@pytest.mark.anyio
async def test_a_user_assigned_identity_asks_for_its_client_id(
    emulator: Emulator, control: httpx.Client
) -> None:
    client_id = "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"
    control.post("/identity", json={"clientIds": [client_id]}).raise_for_status()  # assigned to the app
    credential = graph_credential(Settings(azure_client_id=client_id))
    async with credential:
        await credential.get_token(GRAPH_SCOPE)
    [request] = control.get("/requests").json()
    assert request["query"]["client_id"] == client_id
