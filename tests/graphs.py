"""A real GraphClient wired to the emulator the way the function app wires it: managed identity, httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from azure.identity.aio import ManagedIdentityCredential

from chatfn.emulator import Emulator
from chatfn.graph.client import GraphClient
from chatfn.graph.retry import RetryPolicy

# Fast retries for tests; the waits they measure come from Retry-After, not from these.
FAST_RETRY = RetryPolicy(max_attempts=4, budget_seconds=5.0, base_delay=0.05, max_delay=0.2)


@asynccontextmanager
async def graph_for(
    emulator: Emulator, retry: RetryPolicy = FAST_RETRY, http: httpx.AsyncClient | None = None
) -> AsyncIterator[GraphClient]:
    """Needs IDENTITY_ENDPOINT/IDENTITY_HEADER pointing at the emulator (fixture managed_identity_env)."""
    async with ManagedIdentityCredential() as credential, http or httpx.AsyncClient(timeout=10) as client:
        yield GraphClient(base_url=emulator.graph_url, credential=credential, http=client, retry=retry)
