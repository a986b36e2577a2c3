"""The worker's Services: what it builds from the settings uses the clock it was handed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chatfn.requests.store import Claimed
from chatfn.services import Services
from chatfn.settings import Settings

pytestmark = pytest.mark.anyio


async def test_the_store_it_builds_tells_expiry_by_the_services_clock(azurite: str) -> None:
    """A test (or a replay) that moves the clock past the TTL finds the record expired: the store reads
    the time from the Services' clock, not from its own."""
    now = datetime.now(UTC)
    clock = [now]
    settings = Settings(
        storage_connection_string=azurite,
        idempotency_table=f"t{uuid.uuid4().hex[:20]}",
        idempotency_ttl_hours=1,
    )
    services = Services(settings, clock=lambda: clock[0])
    try:
        claim = await services.store.claim("scope", "key", "fingerprint", "r" * 32, now)
        assert isinstance(claim, Claimed)
        assert await services.store.get(claim.record.partition) is not None
        clock[0] = now + timedelta(hours=1, minutes=1)
        assert await services.store.get(claim.record.partition) is None, "expired by the handed-in clock"
    finally:
        await services.aclose()
