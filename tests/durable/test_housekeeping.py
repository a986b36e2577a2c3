"""The daily purge, through the real durable client against the local host's Durable API and the store
on Azurite: what finished or expired before the retention period goes, nothing younger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.durable_functions as df
import httpx
import pytest
from azure.data.tables.aio import TableClient

from chatfn.devhost import HostHandle
from chatfn.durable.housekeeping import Purged, purge
from chatfn.requests.store import Claimed, IdempotencyStore
from chatfn.services import Services
from chatfn.settings import Settings
from tests.devhost.driving import finished, sample_host, start

pytestmark = [pytest.mark.apphost, pytest.mark.azurite]

TTL = timedelta(hours=1)


@pytest.fixture(scope="module")
def sample(azurite: str) -> Iterator[HostHandle]:
    with sample_host(azurite, Path("none.json")) as host:
        yield host


def test_what_ended_before_the_retention_period_is_purged_and_nothing_younger(
    sample: HostHandle, azurite: str
) -> None:
    with httpx.Client(base_url=sample.url, timeout=30) as http:
        instance = start(http, "sequence", ["a", "b"])
        finished(http, instance)
    table_name = f"t{uuid.uuid4().hex[:20]}"
    now = datetime.now(UTC)

    async def run(days_later: float) -> Purged:
        """On the host's loop, where the durable client's session lives."""
        table = TableClient.from_connection_string(azurite, table_name=table_name)
        store = IdempotencyStore(table, TTL, lambda: now)
        claimed = await store.claim("scope", f"key-{days_later}", "fp", uuid.uuid4().hex, now)
        assert isinstance(claimed, Claimed)
        retention = Settings(history_retention_days=1)
        services = Services(retention, store=store, clock=lambda: now + timedelta(days=days_later))
        client = df.DurableOrchestrationClient(binding)
        try:
            return await purge(client, services)
        finally:
            await store.aclose()

    binding = sample.client_binding()
    assert sample.run(run(0.5)) == Purged(orchestrations=0, records=0), "within the day: nothing goes"
    later = sample.run(run(2))
    assert later.orchestrations >= 1
    assert later.records >= 2, "both records expired an hour after they were written, over a day ago"
    with httpx.Client(base_url=sample.url, timeout=30) as http:
        assert http.get(f"/api/status/{instance}").json().get("runtimeStatus") in (None, ""), (
            "the instance went"
        )
