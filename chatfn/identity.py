"""The credential chatfn uses for Graph: the function's managed identity, through azure-identity.

In Azure, `ManagedIdentityCredential` (user-assigned when `AZURE_CLIENT_ID` is set). On a developer
machine against a real tenant, `CHATFN_CREDENTIAL=default` uses `DefaultAzureCredential` (Azure CLI
login and the rest of its chain). Locally against the emulator, the managed identity flow is used as in
Azure: the local host points `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` at the emulator.
"""

from __future__ import annotations

from azure.core.credentials_async import AsyncTokenCredential

from chatfn.settings import Settings


def graph_credential(settings: Settings) -> AsyncTokenCredential:
    """A new async credential; it caches its tokens, so build one per worker and keep it."""
    # Imported here: azure.identity.aio costs import time that only the first Graph call should pay.
    if settings.credential == "default":
        from azure.identity.aio import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    from azure.identity.aio import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=settings.azure_client_id)
