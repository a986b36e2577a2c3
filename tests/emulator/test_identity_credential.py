"""The identity endpoint through azure-identity's real ManagedIdentityCredential, as the app meets it."""

from __future__ import annotations

import time

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, MEGAN, client, error_of, group

SCOPE = "https://graph.microsoft.com/.default"
ASSIGNED = "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"
NOT_ASSIGNED = "7d1c0e55-3a41-4f0e-9b6e-2c8f5a9d0e12"


def test_an_unassigned_client_id_fails_naming_the_problem(
    managed_identity_env: Emulator, control: httpx.Client
) -> None:
    control.post("/identity", json={"clientIds": [ASSIGNED]}).raise_for_status()
    with pytest.raises(ClientAuthenticationError) as caught:
        ManagedIdentityCredential(client_id=NOT_ASSIGNED).get_token(SCOPE)
    assert "No User Assigned or Delegated Managed Identity found" in caught.value.message
    assert ManagedIdentityCredential(client_id=ASSIGNED).get_token(SCOPE).token


@pytest.mark.anyio
async def test_the_async_credential_fails_the_same_way(
    managed_identity_env: Emulator, control: httpx.Client
) -> None:
    """The app's credential (azure.identity.aio) reads App Service's {statusCode, message} too."""
    async with AsyncManagedIdentityCredential(client_id=NOT_ASSIGNED) as credential:
        with pytest.raises(ClientAuthenticationError) as caught:
            await credential.get_token(SCOPE)
    assert "No User Assigned or Delegated Managed Identity found" in caught.value.message


def test_a_revoked_token_is_401_though_the_credential_still_holds_it(
    managed_identity_env: Emulator, control: httpx.Client
) -> None:
    credential = ManagedIdentityCredential()
    token = credential.get_token(SCOPE).token
    control.post("/identity", json={"revokeTokens": True}).raise_for_status()
    assert credential.get_token(SCOPE).token == token, "the credential caches its token"
    with client(managed_identity_env.graph_url, headers={"Authorization": f"Bearer {token}"}) as graph:
        answer = graph.post("/chats", json=group(ADELE, MEGAN))
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "InvalidAuthenticationToken"
    assert control.get("/chats").json() == []


def test_a_day_long_token_is_refreshed_by_the_client_after_half_of_it(managed_identity_env: Emulator) -> None:
    """MSAL sets refresh_in to half of a lifetime of 2 h or more (msal/managed_identity.py), so the
    app gets a new token, with the roles of the day, about every 12 h, as in Azure."""
    info = ManagedIdentityCredential().get_token_info(SCOPE)
    now = time.time()
    assert 86300 < info.expires_on - now <= 86399
    assert info.refresh_on is not None
    assert 43100 < info.refresh_on - now <= 43200


def test_a_new_credential_gets_the_roles_of_the_day(
    managed_identity_env: Emulator, control: httpx.Client
) -> None:
    held = ManagedIdentityCredential().get_token(SCOPE).token
    control.post("/identity", json={"roles": ["User.Read.All"]}).raise_for_status()
    fresh = ManagedIdentityCredential().get_token(SCOPE).token
    statuses = []
    for token in (held, fresh):
        with client(managed_identity_env.graph_url, headers={"Authorization": f"Bearer {token}"}) as graph:
            statuses.append(graph.post("/chats", json=group(ADELE, MEGAN)).status_code)
    assert statuses == [201, 403]
