"""The worker's shared parts: one credential and one HTTP client for Graph, one table client for the
idempotency records, each made on first use and then reused.

The Functions Python worker runs every `async def` function on one event loop, so one
`httpx.AsyncClient` (and its pool of keep-alive connections to Graph) serves all of them.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from azure.core.credentials_async import AsyncTokenCredential

from chatfn.graph.client import GraphClient
from chatfn.graph.identity import graph_credential
from chatfn.logs import quiet_http_loggers
from chatfn.requests.store import IdempotencyStore
from chatfn.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

# Graph answers chat creation in about a second; a stuck read must not hold a request for long.
GRAPH_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
GRAPH_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=60)

_credential: AsyncTokenCredential | None = None
_graph: GraphClient | None = None
_store: IdempotencyStore | None = None


def credential() -> AsyncTokenCredential:
    """The worker's managed identity (one credential, whose token cache every call shares)."""
    global _credential
    if _credential is None:
        _credential = graph_credential(get_settings())
    return _credential


# The worker imports this module before any Graph call: from here on no HTTP library logs a URL.
quiet_http_loggers()


def graph_client() -> GraphClient:
    """The worker's Graph client."""
    global _graph
    if _graph is None:
        settings = get_settings()
        _graph = GraphClient(
            base_url=settings.graph_base_url,
            credential=credential(),
            http=httpx.AsyncClient(timeout=GRAPH_TIMEOUT, limits=GRAPH_LIMITS),
            client_id=settings.azure_client_id,
        )
    return _graph


def idempotency_store() -> IdempotencyStore:
    """The worker's idempotency records, in the function's own storage account."""
    global _store
    if _store is None:
        settings = get_settings()
        _store = IdempotencyStore(table_client(settings), timedelta(hours=settings.idempotency_ttl_hours))
    return _store


def table_client(settings: Settings) -> TableClient:
    """A client of the idempotency table: through the managed identity when the host's storage
    connection is identity-based (`AzureWebJobsStorage__tableServiceUri`), else the connection string."""
    from azure.data.tables.aio import TableClient  # only requests with a key pay for the import

    if settings.table_service_uri:
        storage_identity = settings.storage_client_id
        if storage_identity and storage_identity != settings.azure_client_id:
            table_credential = graph_credential(
                dataclasses.replace(settings, azure_client_id=storage_identity)
            )
        else:
            table_credential = credential()
        return TableClient(
            endpoint=settings.table_service_uri,
            table_name=settings.idempotency_table,
            credential=table_credential,
        )
    if settings.storage_connection_string:
        return TableClient.from_connection_string(
            settings.storage_connection_string, table_name=settings.idempotency_table
        )
    raise SettingsError("AzureWebJobsStorage (or AzureWebJobsStorage__tableServiceUri) must be set")
