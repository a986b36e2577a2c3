"""The Durable client as the request driver uses it: start an orchestration, read how it stands."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from chatfn.requests.driver import OrchestrationState

_RUNNING = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})


class DurableOrchestrations:
    """`chatfn.requests.driver.Orchestrations` over the function's durableClient binding."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client

    async def start(self, name: str, instance_id: str, job: dict[str, Any]) -> None:
        await self._client.start_new(name, instance_id, job)

    async def raise_event(self, instance_id: str, name: str) -> None:
        await self._client.raise_event(instance_id, name, None)

    async def status(self, instance_id: str) -> OrchestrationState | None:
        """One read of the orchestration (a table read in Azure); None when there is no such instance."""
        status = await self._client.get_status(instance_id)
        if status.runtime_status is None:
            return None
        runtime_status = status.runtime_status.value
        output = json.loads(status.output) if isinstance(status.output, str) else status.output
        return OrchestrationState(
            running=runtime_status in _RUNNING,
            completed=runtime_status == "Completed",
            output=output,
            custom_status=status.custom_status,
        )
