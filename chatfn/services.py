"""What a request needs, handed in rather than read from module globals: the settings, the Graph
client (with the worker's one Graph budget), the directory of users by address, the idempotency store, a
clock and a sleep, the way httpx takes a transport.

`function_app.py` builds one `Services` per worker and passes it to every binding; tests build their own
(a Graph client on the emulator, a store on Azurite, a sleep that does not sleep). The Graph client and
the store are made on first use, so a cold start pays neither for azure-identity nor for
azure-data-tables until a request needs them, and then one credential, one HTTP client and one table
client serve the whole worker.

The Functions Python worker runs every `async def` function on one event loop, so one
`httpx.AsyncClient` (and its pool of keep-alive connections to Graph) serves all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from chatfn.graph.budget import Budget, Kind, Rate
from chatfn.graph.client import GraphClient
from chatfn.graph.directory import Directory
from chatfn.graph.identity import graph_credential
from chatfn.logs import quiet_http_loggers
from chatfn.requests.store import TABLE_CLIENT_OPTIONS, IdempotencyStore
from chatfn.settings import Settings, SettingsError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

# Graph answers chat creation in about a second; a stuck read must not hold a request for long.
GRAPH_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
GRAPH_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=60)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def graph_limits(settings: Settings) -> dict[Kind, Rate]:
    """The worker's Graph budget, from the CHATFN_GRAPH_*_RPS settings."""
    return {
        "chats.write": Rate.of(settings.graph_write_rps),
        "chats.read": Rate.of(settings.graph_read_rps),
        "directory": Rate.of(settings.graph_directory_rps),
    }


class Services:
    """One worker's shared parts. Give `graph` or `store` to use your own; the others are made from
    `settings` on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphClient | None = None,
        store: IdempotencyStore | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._graph = graph
        self._store = store
        self._directory: Directory | None = None
        self._credential: AsyncTokenCredential | None = None
        # From here on no HTTP library logs a URL (a query may hold an email address).
        quiet_http_loggers()

    @property
    def graph(self) -> GraphClient:
        """The worker's Graph client: one credential, one HTTP client and one budget, whose sleep is
        this one."""
        if self._graph is None:
            self._graph = GraphClient(
                base_url=self.settings.graph_base_url,
                credential=self._graph_credential(),
                http=httpx.AsyncClient(timeout=GRAPH_TIMEOUT, limits=GRAPH_LIMITS),
                budget=Budget(graph_limits(self.settings), sleep=self.sleep),
                sleep=self.sleep,
                client_id=self.settings.azure_client_id,
            )
        return self._graph

    @property
    def directory(self) -> Directory:
        """Users by address for every request of the worker: lookups merged and remembered."""
        if self._directory is None:
            self._directory = Directory(self.graph, self.settings.directory_cache_seconds)
        return self._directory

    @property
    def store(self) -> IdempotencyStore:
        """The worker's idempotency records, in the function's own storage account."""
        if self._store is None:
            ttl = timedelta(hours=self.settings.idempotency_ttl_hours)
            self._store = IdempotencyStore(self._table_client(), ttl, clock=self.clock)
        return self._store

    async def aclose(self) -> None:
        """Close what was made (for an owner that outlives neither: a test, a benchmark, the local host)."""
        if self._graph is not None:
            await self._graph.aclose()
        if self._store is not None:
            await self._store.aclose()

    def _graph_credential(self) -> AsyncTokenCredential:
        if self._credential is None:
            self._credential = graph_credential(self.settings)
        return self._credential

    def _table_client(self) -> TableClient:
        """A client of the idempotency table: through the managed identity when the host's storage
        connection is identity-based (`AzureWebJobsStorage__tableServiceUri`), else the connection string;
        with timeouts and few retries, so that storage that hangs is a quick 503."""
        from azure.data.tables.aio import TableClient  # only requests with a key pay for the import

        settings = self.settings
        if settings.table_service_uri:
            storage_identity = settings.storage_client_id
            if storage_identity and storage_identity != settings.azure_client_id:
                credential = graph_credential(dataclasses.replace(settings, azure_client_id=storage_identity))
            else:
                credential = self._graph_credential()
            return TableClient(
                endpoint=settings.table_service_uri,
                table_name=settings.idempotency_table,
                credential=credential,
                **TABLE_CLIENT_OPTIONS,
            )
        if settings.storage_connection_string:
            return TableClient.from_connection_string(
                settings.storage_connection_string,
                table_name=settings.idempotency_table,
                **TABLE_CLIENT_OPTIONS,
            )
        raise SettingsError("AzureWebJobsStorage (or AzureWebJobsStorage__tableServiceUri) must be set")
