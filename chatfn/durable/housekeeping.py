"""The daily purge: finished orchestrations and expired idempotency records past
`CHATFN_HISTORY_RETENTION_DAYS`, so that the task hub and the table stop growing and a status URL stops
resolving once its retention has passed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from chatfn.services import Services

log = logging.getLogger(__name__)

_FINISHED = [
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
]
# The Durable extension needs a lower bound; no orchestration of chatfn's is older than this.
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Purged:
    orchestrations: int
    records: int


async def purge(client: df.DurableOrchestrationClient, services: Services) -> Purged:
    """Delete what finished or expired before the retention period; how much was deleted."""
    before = services.clock() - timedelta(days=services.settings.history_retention_days)
    history = await client.purge_instance_history_by(
        created_time_from=_EPOCH, created_time_to=before, runtime_status=_FINISHED
    )
    records = await services.store.purge(before)
    purged = Purged(orchestrations=history.instances_deleted, records=records)
    log.info(
        "purged %d orchestrations and %d records older than %s", purged.orchestrations, purged.records, before
    )
    return purged
