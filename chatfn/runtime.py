"""The worker's shared parts: one credential and one HTTP client, made on first use and then reused.

The Functions Python worker runs every `async def` function on one event loop, so one
`httpx.AsyncClient` (and its pool of keep-alive connections to Graph) serves all of them.
"""

from __future__ import annotations

import httpx

from chatfn.graph import GraphClient
from chatfn.identity import graph_credential
from chatfn.logs import quiet_http_loggers
from chatfn.settings import get_settings

# Graph answers chat creation in about a second; a stuck read must not hold an activity for long.
GRAPH_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
GRAPH_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=60)

_graph: GraphClient | None = None

# The worker imports this module before any Graph call: from here on no HTTP library logs a URL.
quiet_http_loggers()


def graph_client() -> GraphClient:
    """The worker's Graph client."""
    global _graph
    if _graph is None:
        settings = get_settings()
        _graph = GraphClient(
            base_url=settings.graph_base_url,
            credential=graph_credential(settings),
            http=httpx.AsyncClient(timeout=GRAPH_TIMEOUT, limits=GRAPH_LIMITS),
            client_id=settings.azure_client_id,
        )
    return _graph
