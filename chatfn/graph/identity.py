"""The credential chatfn uses for Graph: the function's managed identity, through azure-identity.

In Azure, `ManagedIdentityCredential` (user-assigned when `AZURE_CLIENT_ID` is set). On a developer
machine against a real tenant, `CHATFN_CREDENTIAL=default` uses `DefaultAzureCredential` (Azure CLI
login and the rest of its chain). Locally against the emulator, the managed identity flow is used as in
Azure: the local host points `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` at the emulator.
"""

from __future__ import annotations

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

from chatfn.errors import IdentityError
from chatfn.settings import Settings

CLIENT_ID_SETTING = "AZURE_CLIENT_ID"


def graph_credential(settings: Settings) -> AsyncTokenCredential:
    """A new async credential; it caches its tokens, so build one per worker and keep it."""
    # Imported here: azure.identity.aio costs import time that only the first Graph call should pay.
    if settings.credential == "default":
        from azure.identity.aio import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    from azure.identity.aio import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=settings.azure_client_id)


def identity_error(failure: ClientAuthenticationError, client_id: str | None) -> IdentityError:
    """What an administrator must fix, naming the setting: a `client_id` the app has no identity for
    is the usual cause (App Service's identity endpoint answers it with a 400)."""
    if client_id:
        advice = (
            f"check that the {CLIENT_ID_SETTING} setting is the client id of a user-assigned managed "
            "identity assigned to this function app, or remove the setting to use the system-assigned one"
        )
    else:
        advice = (
            "enable the function app's system-assigned managed identity, or set "
            f"{CLIENT_ID_SETTING} to the client id of a user-assigned one"
        )
    # azure-identity's message says what the endpoint answered; it never holds a token.
    return IdentityError(
        f"the function's managed identity got no token for Graph: {advice} ({failure.message})"
    )
