"""Idempotency records in Azure Table storage: one module owns them, with named states, as Powertools'
idempotency utility does (a record, conditional writes, expiry).

A request with an `Idempotency-Key` claims the key by inserting its record (insert-if-absent: of two
workers, one wins). The record then moves, by ETag-conditional writes only:

    RUNNING --complete---> COMPLETED    the answer is in the record
    RUNNING --hand_over--> ASYNC        the orchestration (same request id) answers from now on
    RUNNING --forget-----> (deleted)    Graph surely made nothing: the key may start over (the failure
                                        is kept in the request's pointer, if a status URL was handed out)
    RUNNING --take_over--> RUNNING      the lease ran out (its worker died): another worker carries on,
                                        looking first for the chat that attempt may have made
    RUNNING --end_lease--> RUNNING      the outcome is unknown: the lease ends now, so the next repeat
                                        of the key carries the request on the same way

The key's partition is a hash of the caller's scope and the key, so one caller's key can never find
another caller's record, and keys (which may be guessable) are never stored. As in Powertools, the store
itself decides what a read of a key means: a record past its expiry (`CHATFN_IDEMPOTENCY_TTL_HOURS`) is
never returned, and a claim whose body differs from the key's first request raises `IdempotencyKeyReused`.

A status URL handed out for a record that is still running finds it through a small pointer row keyed
by the request id (`remember_status_url`), until the purge, and keeps answering after the key is freed:
`forget` deletes the record and only then merges the request's failure into its pointer (if there is
one), and a claim of an expired key merges the old request's outcome there before it replaces the
record. A follower hands out the URL only if the record is still that request's after the pointer was
written, so every URL handed out finds its record or its outcome, or, when a worker stopped between
the delete and the merge, neither, which `find_request` reports rather than leaving the URL unknown.
A keyed request that succeeds still costs two storage operations, claim and complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from chatfn.errors import IdempotencyKeyReused, StorageError
from chatfn.outcome import OUTCOME, Failed, Succeeded

if TYPE_CHECKING:  # azure.data.tables costs a cold start ~45 ms: only a request with a key loads it
    from azure.data.tables.aio import TableClient

# host.json's functionTimeout is 5 minutes: a worker still holding the key is done by then. The lease
# is a little longer, so a slow request is never taken over while it still runs.
LEASE = timedelta(seconds=330)
_KEY_ROW = "key"
_REQUEST_ROW = "request"
_SEND_ROW = "send"
_BATCH_ROW = "batch"
# A claim races with deletions and expiries; this many rounds settle any interleaving.
_CLAIM_ROUNDS = 4

# A storage account that stops answering (not down: it accepts connections and says nothing) must not
# hold a caller: azure-core waits 300 s to connect and 300 s for each read, and retries 10 times
# (azure.core.configuration.ConnectionConfiguration, azure.core.pipeline.policies.RetryPolicy). Table
# calls take milliseconds; these give one a few seconds, and try a failed one twice more, a second
# apart at most. azure-core retries a call that got no answer only for GET, HEAD, PUT and DELETE (its
# method allowlist), and a 500, 503 or 504 for any method: an insert (POST) that got no answer, and may
# have been carried out, is never sent again.
TABLE_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 3.0,
    "read_timeout": 5.0,
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 1,
}
# The last guard around each store call, whatever its client does: then a keyed request is answered 503
# `storage-unavailable`, before anything is sent to Graph.
STORE_CALL_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RecordState(StrEnum):
    RUNNING = "running"
    ASYNC = "async"
    COMPLETED = "completed"


@dataclass(frozen=True)
class IdempotencyRecord:
    """One key's record; `etag` is what the next conditional write must match."""

    partition: str
    request_id: str
    fingerprint: str
    state: RecordState
    attempt_started: datetime
    lease_until: datetime
    expires_at: datetime
    outcome: Succeeded | Failed | None = None
    etag: str = ""

    def lease_expired(self, now: datetime) -> bool:
        return self.state is RecordState.RUNNING and self.lease_until <= now


@dataclass(frozen=True)
class Pointed:
    """What a status URL's pointer leads to: its request's record, while the key's record is still that
    request's; else the outcome kept in the pointer when the record was freed (None: the request never
    recorded one there, as when its worker stopped)."""

    record: IdempotencyRecord | None
    outcome: Succeeded | Failed | None = None


@dataclass(frozen=True)
class Claimed:
    """This request holds the key: it does the work."""

    record: IdempotencyRecord


@dataclass(frozen=True)
class Found:
    """Another request of the same body holds (or held) the key: follow its record."""

    record: IdempotencyRecord


def key_partition(scope: str, key: str) -> str:
    """The record's partition: a hash of who asked and their key, never the key itself."""
    return hashlib.sha256(f"chatfn-idempotency\n{scope}\n{key}".encode()).hexdigest()


class IdempotencyStore:
    """The records of one table. One store (one `TableClient`) per worker, like the Graph client."""

    def __init__(
        self,
        table: TableClient,
        ttl: timedelta,
        clock: Callable[[], datetime] = _utc_now,
        call_seconds: float = STORE_CALL_SECONDS,
    ) -> None:
        """`clock` tells which records have expired; no call takes longer than `call_seconds`."""
        self._table = table
        self._ttl = ttl
        self._clock = clock
        self._call_seconds = call_seconds
        self._table_ready = False

    async def aclose(self) -> None:
        await self._table.close()

    async def claim(
        self, scope: str, key: str, fingerprint: str, request_id: str, now: datetime
    ) -> Claimed | Found:
        """Claim the key for a new request, or find the record that holds it; `IdempotencyKeyReused`
        when that record is of another body (`fingerprint`)."""
        await self._ensure_table()
        fresh = IdempotencyRecord(
            partition=key_partition(scope, key),
            request_id=request_id,
            fingerprint=fingerprint,
            state=RecordState.RUNNING,
            attempt_started=now,
            lease_until=now + LEASE,
            expires_at=now + self._ttl,
        )
        for _ in range(_CLAIM_ROUNDS):
            try:
                metadata = await self._call(self._table.create_entity(_entity(fresh)))
                return Claimed(replace(fresh, etag=metadata["etag"]))
            except ResourceExistsError:
                pass
            held = await self._read(fresh.partition)
            if held is None:
                continue  # forgotten in between: try to insert again
            if held.expires_at > now:
                if held.fingerprint != fingerprint:
                    raise IdempotencyKeyReused("the key belongs to a request with another body")
                return Found(held)
            # An expired key is a new key. Its old request's outcome is final, and no follower hands
            # out a status URL for an expired record: it can go to the pointer first, so that a storage
            # failure here leaves the record as it was.
            if held.outcome is not None:
                await self._keep_outcome(held.request_id, held.outcome)
            replaced = await self._replace(held, fresh)
            if replaced is not None:
                return Claimed(replaced)
        raise StorageError("the idempotency record kept changing under this request")

    async def get(self, partition: str) -> IdempotencyRecord | None:
        """The key's record, or None when there is none or it has expired."""
        record = await self._read(partition)
        return record if record is not None and record.expires_at > self._clock() else None

    async def complete(
        self, record: IdempotencyRecord, outcome: Succeeded | Failed
    ) -> IdempotencyRecord | None:
        """Record the final answer; None if another worker changed the record first."""
        return await self._replace(record, replace(record, state=RecordState.COMPLETED, outcome=outcome))

    async def hand_over(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """The orchestration with the record's request id has the answer from now on."""
        return await self._replace(record, replace(record, state=RecordState.ASYNC))

    async def take_over(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        """Carry on a request whose worker died: a new lease, the same request id and attempt start."""
        return await self._replace(record, replace(record, lease_until=now + LEASE))

    async def end_lease(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        """End the lease now: Graph may have made the chat, and the next repeat should find out."""
        return await self._replace(record, replace(record, lease_until=now))

    async def forget(self, record: IdempotencyRecord, outcome: Failed) -> None:
        """Forget the key (Graph made nothing: `outcome`), unless another worker changed the record
        first; a status URL handed out for the request keeps answering `outcome`."""
        try:
            await self._call(
                self._table.delete_entity(
                    record.partition,
                    _KEY_ROW,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            return
        await self._keep_outcome(record.request_id, outcome)

    async def remember_status_url(self, record: IdempotencyRecord) -> None:
        """Let the request's status URL find this record (written once a 202 names that URL)."""
        await self._call(
            self._table.upsert_entity(
                {
                    "PartitionKey": record.request_id,
                    "RowKey": _REQUEST_ROW,
                    "KeyPartition": record.partition,
                    "ExpiresAt": record.expires_at,
                }
            )
        )

    async def fence_send(self, request_id: str, send: int) -> bool:
        """Claim the right to make the request's `send`-th `POST /chats` (insert-if-absent): False when it
        was claimed before, by an earlier run of the same durable activity that may have sent it."""
        await self._ensure_table()
        fence = {"PartitionKey": request_id, "RowKey": f"{_SEND_ROW}-{send}", "ExpiresAt": self._expiry()}
        try:
            await self._call(self._table.create_entity(fence))
        except ResourceExistsError:
            return False
        return True

    async def open_batch(self, batch_id: str) -> None:
        """The batch's row, where a cancel is recorded; written before the batch starts, so that a batch
        never starts while storage is down."""
        await self._ensure_table()
        row = {
            "PartitionKey": batch_id,
            "RowKey": _BATCH_ROW,
            "Cancelled": False,
            "ExpiresAt": self._expiry(),
        }
        with contextlib.suppress(ResourceExistsError):  # a repeat of the same batch's key
            await self._call(self._table.create_entity(row))

    async def cancel_batch(self, batch_id: str) -> None:
        """No item of the batch is sent from now on (each checks before it sends)."""
        row = {"PartitionKey": batch_id, "RowKey": _BATCH_ROW, "Cancelled": True, "ExpiresAt": self._expiry()}
        await self._call(self._table.upsert_entity(row))

    async def batch_cancelled(self, batch_id: str) -> bool:
        try:
            row = await self._call(self._table.get_entity(batch_id, _BATCH_ROW))
        except ResourceNotFoundError:
            return False
        return bool(row.get("Cancelled"))

    async def find_request(self, request_id: str) -> Pointed | None:
        """Where a status URL stands, if a pointer was written for it (None: no URL was handed out for
        such a request, or it was purged). A record past its expiry still answers here: a status URL
        resolves until the purge, not only as long as its key is remembered."""
        try:
            pointer = await self._call(self._table.get_entity(request_id, _REQUEST_ROW))
        except ResourceNotFoundError:
            return None
        if pointer.get("Outcome") is not None:
            return Pointed(record=None, outcome=_outcome(pointer["Outcome"]))
        record = await self._read(str(pointer["KeyPartition"]))
        return Pointed(record if record is not None and record.request_id == request_id else None)

    async def _keep_outcome(self, request_id: str, outcome: Succeeded | Failed) -> None:
        """Merge how the request ended into its pointer, once its record is gone or another's: a Merge
        that only a pointer already written accepts (an unconditional update is refused with 404 when
        there is no such row), so a request whose status URL was never handed out costs nothing more."""
        from azure.data.tables import UpdateMode

        kept = {"PartitionKey": request_id, "RowKey": _REQUEST_ROW, "Outcome": _compressed(outcome)}
        with contextlib.suppress(ResourceNotFoundError):
            await self._call(self._table.update_entity(kept, mode=UpdateMode.MERGE))

    def _expiry(self) -> datetime:
        """When a row written now expires (the daily purge deletes it after the retention period)."""
        return self._clock() + self._ttl

    async def _read(self, partition: str) -> IdempotencyRecord | None:
        """The key's record as stored, expired or not."""
        try:
            entity = await self._call(self._table.get_entity(partition, _KEY_ROW))
        except ResourceNotFoundError:
            return None
        return _record(entity)

    async def purge(self, before: datetime) -> int:
        """Delete records and pointers that expired before `before`; the number deleted."""
        await self._ensure_table()
        deleted = 0
        query = self._table.query_entities(
            "ExpiresAt lt @before", parameters={"before": before}, select=["PartitionKey", "RowKey"]
        )
        try:
            async for entity in query:
                await self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                deleted += 1
        except AzureError as exc:
            raise StorageError(f"purging idempotency records failed: {type(exc).__name__}") from None
        return deleted

    async def _replace(self, current: IdempotencyRecord, new: IdempotencyRecord) -> IdempotencyRecord | None:
        from azure.data.tables import UpdateMode  # loaded already, with the table client

        try:
            metadata = await self._call(
                self._table.update_entity(
                    _entity(new),
                    mode=UpdateMode.REPLACE,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            return None  # deleted or changed by another worker
        return replace(new, etag=metadata["etag"])

    async def _ensure_table(self) -> None:
        """Create the table on a worker's first claim; later calls cost nothing."""
        if self._table_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._call(self._table.create_table())
        self._table_ready = True

    async def _call(self, operation: Any) -> Any:
        """Await a storage call, for `call_seconds` at most; a failure other than the conditions callers
        handle is a StorageError."""
        try:
            async with asyncio.timeout(self._call_seconds):
                return await operation
        except TimeoutError:
            raise StorageError(
                f"the idempotency store did not answer within {self._call_seconds:g} s"
            ) from None
        except (ResourceExistsError, ResourceNotFoundError, ResourceModifiedError):
            raise
        except HttpResponseError as exc:
            if exc.status_code == 412:  # a failed condition whose error code the SDK does not map itself
                raise ResourceModifiedError(message=exc.message, response=exc.response) from None
            raise StorageError(f"the idempotency store failed: {exc.reason or type(exc).__name__}") from None
        except AzureError as exc:  # no answer at all
            raise StorageError(f"the idempotency store did not answer: {type(exc).__name__}") from None


def _entity(record: IdempotencyRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": record.partition,
        "RowKey": _KEY_ROW,
        "RequestId": record.request_id,
        "Fingerprint": record.fingerprint,
        "State": record.state.value,
        "AttemptStarted": record.attempt_started,
        "LeaseUntil": record.lease_until,
        "ExpiresAt": record.expires_at,
    }
    if record.outcome is not None:
        entity["Outcome"] = _compressed(record.outcome)
    return entity


def _compressed(outcome: Succeeded | Failed) -> bytes:
    """Compressed: a 250-member result with long addresses can outgrow a string property (32K chars)."""
    return zlib.compress(OUTCOME.dump_json(outcome))


def _outcome(stored: Any) -> Succeeded | Failed:
    return OUTCOME.validate_json(zlib.decompress(bytes(stored)))


def _record(entity: Any) -> IdempotencyRecord:
    outcome = entity.get("Outcome")
    return IdempotencyRecord(
        partition=entity["PartitionKey"],
        request_id=entity["RequestId"],
        fingerprint=entity["Fingerprint"],
        state=RecordState(entity["State"]),
        attempt_started=entity["AttemptStarted"],
        lease_until=entity["LeaseUntil"],
        expires_at=entity["ExpiresAt"],
        outcome=_outcome(outcome) if outcome is not None else None,
        etag=entity.metadata["etag"],
    )
