"""Idempotency records in Azure Tables (Azurite through azure-data-tables): claims, the named states,
conditional writes, expiry, scopes, pointers, sends' fences, batches' rows, the purge, and the app's
table client giving up on storage that fails."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables.aio import TableClient

from chatfn.devhost.azurite import Azurite
from chatfn.errors import IdempotencyKeyReused, StorageError
from chatfn.failures import Failure
from chatfn.outcome import Failed, Succeeded
from chatfn.requests.store import (
    LEASE,
    TABLE_CLIENT_OPTIONS,
    Claimed,
    Found,
    IdempotencyStore,
    Pointed,
    RecordState,
    key_partition,
)
from chatfn.schemas import ChatResult, ChatResultMember

pytestmark = [pytest.mark.anyio, pytest.mark.azurite]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(hours=24)


@pytest.fixture
async def store(azurite: str) -> AsyncIterator[IdempotencyStore]:
    """A store on a table of its own, so tests never see each other's records."""
    table = f"t{uuid.uuid4().hex[:20]}"
    store = IdempotencyStore(TableClient.from_connection_string(azurite, table_name=table), TTL, lambda: NOW)
    yield store
    await store.aclose()


def _failed() -> Failed:
    return Failed(failure=Failure(kind="graph", step="resolve", createdNothing=True, status=403))


def _succeeded(request_id: str, members: int = 2) -> Succeeded:
    result = ChatResult(
        requestId=request_id,
        status="succeeded",
        chatId="19:abc@thread.v2",
        chatType="group",
        topic="T",
        webUrl=None,
        createdDateTime=None,
        members=[
            ChatResultMember(email=f"member{i}@contoso.com", userId=str(uuid.uuid4()), role="owner")
            for i in range(members)
        ],
    )
    return Succeeded(result=result)


async def test_the_first_claim_wins_and_a_repeat_finds_its_record(store: IdempotencyStore) -> None:
    first = await store.claim("scope", "key-1", "fp", "r1", NOW)
    again = await store.claim("scope", "key-1", "fp", "r2", NOW + timedelta(seconds=1))
    assert isinstance(first, Claimed)
    assert isinstance(again, Found)
    assert again.record.request_id == "r1"
    assert again.record.state is RecordState.RUNNING
    assert again.record.lease_until == NOW + LEASE
    assert again.record.expires_at == NOW + TTL


async def test_twenty_concurrent_claims_make_one_owner(store: IdempotencyStore) -> None:
    claims = await asyncio.gather(*(store.claim("scope", "k", "fp", f"r{i}", NOW) for i in range(20)))
    owners = [claim for claim in claims if isinstance(claim, Claimed)]
    assert len(owners) == 1
    assert {claim.record.request_id for claim in claims} == {owners[0].record.request_id}


async def test_one_callers_key_never_finds_anothers_record(store: IdempotencyStore) -> None:
    assert isinstance(await store.claim("entra:caller-a", "same", "fp-a", "ra", NOW), Claimed)
    assert isinstance(await store.claim("entra:caller-b", "same", "fp-b", "rb", NOW), Claimed)
    assert key_partition("entra:caller-a", "same") != key_partition("entra:caller-b", "same")


async def test_complete_records_the_outcome_and_a_stale_write_loses(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    outcome = _succeeded("r1", members=250)  # the largest chat: stored compressed
    assert await store.complete(claimed.record, outcome) is not None
    assert await store.complete(claimed.record, _succeeded("r1")) is None, "the old ETag no longer matches"
    found = await store.get(claimed.record.partition)
    assert found is not None
    assert found.state is RecordState.COMPLETED
    assert found.outcome == outcome


async def test_forgetting_frees_the_key_unless_the_record_moved_on(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    handed = await store.hand_over(claimed.record)
    assert handed is not None
    assert handed.state is RecordState.ASYNC
    await store.forget(claimed.record, _failed())  # stale: the record moved on, so it stays
    assert await store.get(claimed.record.partition) is not None
    await store.forget(handed, _failed())
    assert await store.get(claimed.record.partition) is None
    assert isinstance(await store.claim("s", "k", "fp", "r2", NOW), Claimed)


async def test_an_expired_key_is_a_new_key(store: IdempotencyStore) -> None:
    old = await store.claim("s", "k", "fp-old", "r1", NOW)
    assert isinstance(old, Claimed)
    later = await store.claim("s", "k", "fp-new", "r2", NOW + TTL + timedelta(seconds=1))
    assert isinstance(later, Claimed)
    assert later.record.fingerprint == "fp-new"


async def test_a_key_that_comes_again_with_another_body_is_refused(store: IdempotencyStore) -> None:
    """As Powertools' idempotency utility does, the store compares the body (its fingerprint) itself."""
    assert isinstance(await store.claim("s", "k", "fp-first", "r1", NOW), Claimed)
    with pytest.raises(IdempotencyKeyReused):
        await store.claim("s", "k", "fp-other", "r2", NOW + timedelta(seconds=1))


async def test_no_read_returns_an_expired_record(azurite: str) -> None:
    """Expiry is the store's to check, on every read: past its TTL a record is as good as absent."""
    clock = [NOW]
    table = TableClient.from_connection_string(azurite, table_name=f"t{uuid.uuid4().hex[:20]}")
    store = IdempotencyStore(table, TTL, lambda: clock[0])
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.remember_status_url(claimed.record)
    clock[0] = NOW + TTL - timedelta(microseconds=1)
    assert await store.get(claimed.record.partition) is not None
    assert await store.find_request("r1") is not None
    clock[0] = NOW + TTL
    assert await store.get(claimed.record.partition) is None
    # A status URL resolves until the purge, not only for as long as its key is remembered.
    found = await store.find_request("r1")
    assert found is not None
    assert found.record is not None
    assert found.record.request_id == "r1"
    await store.aclose()


async def test_a_lease_that_ran_out_is_taken_over_once(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    after = NOW + LEASE + timedelta(seconds=1)
    assert not claimed.record.lease_expired(NOW + LEASE - timedelta(seconds=1))
    assert claimed.record.lease_expired(after)
    takers = await asyncio.gather(*(store.take_over(claimed.record, after) for _ in range(5)))
    won = [taken for taken in takers if taken is not None]
    assert len(won) == 1
    assert (won[0].request_id, won[0].attempt_started) == ("r1", NOW), "the same request carries on"
    assert won[0].lease_until == after + LEASE


async def test_a_pointer_lets_the_status_url_find_a_running_record(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    assert await store.find_request("r1") is None, "no pointer until a 202 names the URL"
    await store.remember_status_url(claimed.record)
    found = await store.find_request("r1")
    assert found is not None
    assert found.record is not None
    assert found.record.request_id == "r1"


async def test_a_status_url_keeps_the_failure_of_a_request_whose_key_was_freed(
    store: IdempotencyStore,
) -> None:
    """The contract: a status URL that was handed out keeps answering its request's outcome, failures
    included; it never turns unknown because the key was freed and claimed again."""
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.remember_status_url(claimed.record)
    await store.forget(claimed.record, _failed())
    assert isinstance(await store.claim("s", "k", "fp", "r2", NOW), Claimed), "the key is free"
    assert await store.find_request("r1") == Pointed(record=None, outcome=_failed())


async def test_a_request_whose_status_url_was_never_handed_out_leaves_no_pointer(
    store: IdempotencyStore, azurite: str
) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.forget(claimed.record, _failed())
    assert await store.find_request("r1") is None
    async with TableClient.from_connection_string(azurite, table_name=store._table.table_name) as table:
        assert [entity async for entity in table.list_entities()] == [], "no row was made for it"


async def test_a_pointer_left_without_record_or_outcome_says_so(
    store: IdempotencyStore, azurite: str
) -> None:
    """A worker that stopped between deleting the record and keeping its failure: the URL still answers."""
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.remember_status_url(claimed.record)
    async with TableClient.from_connection_string(azurite, table_name=store._table.table_name) as table:
        await table.delete_entity(claimed.record.partition, "key")
    assert await store.find_request("r1") == Pointed(record=None)
    assert isinstance(await store.claim("s", "k", "fp", "r2", NOW), Claimed)
    assert await store.find_request("r1") == Pointed(record=None), "the key's record is another's now"


async def test_a_claim_of_an_expired_key_keeps_the_old_outcome_for_its_status_url(
    store: IdempotencyStore,
) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.remember_status_url(claimed.record)
    succeeded = _succeeded("r1")
    assert await store.complete(claimed.record, succeeded) is not None
    assert isinstance(await store.claim("s", "k", "fp", "r2", NOW + TTL), Claimed)
    assert await store.find_request("r1") == Pointed(record=None, outcome=succeeded)


async def test_a_keyed_request_costs_two_storage_operations_when_it_succeeds(azurite: str) -> None:
    """Claim and complete: keeping outcomes for status URLs adds nothing to the path of a success."""
    responses: list[int] = []
    table = TableClient.from_connection_string(
        azurite,
        table_name=f"t{uuid.uuid4().hex[:20]}",
        raw_response_hook=lambda response: responses.append(response.http_response.status_code),
    )
    store = IdempotencyStore(table, TTL, lambda: NOW)
    await store.purge(NOW)  # the table is made, as a worker's first call makes it
    responses.clear()
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    await store.complete(claimed.record, _succeeded("r1"))
    await store.aclose()
    assert len(responses) == 2


async def test_the_purge_deletes_only_what_expired_before(store: IdempotencyStore) -> None:
    old = await store.claim("s", "old", "fp", "r-old", NOW - timedelta(days=10))
    new = await store.claim("s", "new", "fp", "r-new", NOW)
    assert isinstance(old, Claimed)
    assert isinstance(new, Claimed)
    await store.remember_status_url(old.record)
    failed = Failed(failure=Failure(kind="deadline", step="poll", createdNothing=False))
    await store.complete(new.record, failed)
    assert await store.purge(NOW - timedelta(days=7)) == 2, "the old record and its pointer"
    assert await store.get(old.record.partition) is None
    kept = await store.get(new.record.partition)
    assert kept is not None
    assert kept.outcome == failed


async def test_keys_are_never_stored(store: IdempotencyStore, azurite: str) -> None:
    await store.claim("s", "incident-4711", "fp", "r1", NOW)
    async with TableClient.from_connection_string(azurite, table_name=store._table.table_name) as table:
        entities = [entity async for entity in table.list_entities()]
    assert entities
    assert all("incident-4711" not in str(dict(entity)) for entity in entities)


async def test_storage_that_does_not_answer_is_a_storage_error() -> None:
    unreachable = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1"
    )
    store = IdempotencyStore(TableClient.from_connection_string(unreachable, table_name="t1"), TTL)
    with pytest.raises(StorageError):
        await store.claim("s", "k", "fp", "r1", NOW)
    await store.aclose()


async def test_a_call_storage_never_answers_is_given_up_by_the_store_itself() -> None:
    """The last guard, whatever the table client does: this one keeps azure-core's defaults (300 s to
    read, 10 retries), and Azurite, paused with SIGSTOP, accepts the connection and says nothing."""
    server = Azurite.start()
    store = IdempotencyStore(
        TableClient.from_connection_string(server.connection_string, table_name="thung"), TTL, call_seconds=1
    )
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="did not answer within 1 s"):
            await store.claim("s", "k", "fp", "r1", NOW)
        assert time.monotonic() - started < 3
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        await store.aclose()
        server.stop()


async def test_ending_the_lease_ends_it_the_lease_for_the_next_repeat(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    later = NOW + timedelta(seconds=3)
    ended = await store.end_lease(claimed.record, later)
    assert ended is not None
    assert ended.lease_expired(later)
    assert ended.state is RecordState.RUNNING
    taken = await store.take_over(ended, later)
    assert taken is not None
    assert (taken.request_id, taken.attempt_started) == ("r1", NOW)


def test_the_lease_outlasts_a_functions_run_by_a_little() -> None:
    """A worker still holding the key is done by host.json's functionTimeout; then the lease ends."""
    hours, minutes, seconds = json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":")
    timeout = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))
    assert timeout < LEASE <= timeout + timedelta(minutes=1)


async def test_a_key_is_new_again_the_moment_it_expires(store: IdempotencyStore) -> None:
    assert isinstance(await store.claim("s", "k", "fp", "r1", NOW), Claimed)
    assert isinstance(await store.claim("s", "k", "fp", "r2", NOW + TTL - timedelta(microseconds=1)), Found)
    assert isinstance(await store.claim("s", "k", "fp", "r3", NOW + TTL), Claimed)


async def test_only_a_running_record_has_a_lease_to_expire(store: IdempotencyStore) -> None:
    claimed = await store.claim("s", "k", "fp", "r1", NOW)
    assert isinstance(claimed, Claimed)
    completed = await store.complete(claimed.record, _succeeded("r1"))
    assert completed is not None
    assert not completed.lease_expired(NOW + LEASE + timedelta(seconds=1))


async def test_closing_the_store_closes_its_table_client(azurite: str) -> None:
    closed: list[str] = []

    class Table(TableClient):
        async def close(self) -> None:
            closed.append(self.table_name)
            await super().close()

    store = IdempotencyStore(Table.from_connection_string(azurite, table_name="tclosing"), TTL)
    await store.aclose()
    assert closed == ["tclosing"]


async def test_the_first_purge_of_a_worker_makes_the_table(store: IdempotencyStore) -> None:
    assert await store.purge(NOW) == 0


async def test_storage_lost_during_a_purge_is_a_storage_error() -> None:
    server = Azurite.start()
    table = TableClient.from_connection_string(server.connection_string, table_name="tpurge", retry_total=0)
    store = IdempotencyStore(table, TTL)
    try:
        await store.claim("s", "k", "fp", "r1", NOW - timedelta(days=10))
        server.stop()
        with pytest.raises(StorageError, match="purging idempotency records failed"):
            await store.purge(NOW)
    finally:
        server.stop()
        await store.aclose()


async def test_a_refusal_of_storage_is_a_storage_error_with_its_reason(azurite: str) -> None:
    """A name Azure Tables refuses (400): not an answer chatfn can act on, so a StorageError."""
    store = IdempotencyStore(TableClient.from_connection_string(azurite, table_name="t-bad"), TTL)
    with pytest.raises(StorageError, match="the idempotency store failed: Bad Request"):
        await store.claim("s", "k", "fp", "r1", NOW)
    await store.aclose()


async def test_a_send_is_fenced_once(store: IdempotencyStore) -> None:
    """A durable activity may run twice: its second run must not make the same send again."""
    assert await store.fence_send("r1", 1) is True
    assert await store.fence_send("r1", 1) is False
    assert await store.fence_send("r1", 2) is True, "the next send is a fence of its own"
    assert await store.fence_send("r2", 1) is True, "and so is another request's"


async def test_a_batch_is_cancelled_once_its_row_says_so(store: IdempotencyStore) -> None:
    await store.open_batch("b1")
    assert await store.batch_cancelled("b1") is False
    await store.cancel_batch("b1")
    assert await store.batch_cancelled("b1") is True
    await store.open_batch("b1")  # the same batch's key, sent again
    assert await store.batch_cancelled("b1") is True, "a repeat does not undo the cancel"
    assert await store.batch_cancelled("b2") is False, "no such batch"


async def test_fences_and_batch_rows_expire_like_records_by_the_real_clock(azurite: str) -> None:
    """Written at the worker's now, they are kept for the TTL; then the daily purge takes them."""
    table = TableClient.from_connection_string(azurite, table_name=f"t{uuid.uuid4().hex[:20]}")
    store = IdempotencyStore(table, TTL)
    written = datetime.now(UTC)
    await store.open_batch("b1")
    await store.fence_send("r1", 1)
    assert await store.purge(written + TTL - timedelta(minutes=1)) == 0
    assert await store.purge(written + TTL + timedelta(minutes=1)) == 2
    assert await store.purge(written + TTL + timedelta(minutes=1)) == 0, "they are gone"
    await store.aclose()


@contextlib.contextmanager
def _failing_storage() -> Iterator[tuple[str, list[float]]]:
    """A Table service on 127.0.0.1 that answers every call 503: its connection string, and when each
    call arrived."""
    arrivals: list[float] = []

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def _unavailable(self) -> None:
            arrivals.append(time.monotonic())
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _unavailable

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"TableEndpoint=http://127.0.0.1:{server.server_address[1]}/devstoreaccount1",
            arrivals,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_apps_table_client_tries_a_failed_call_twice_more_a_second_apart_at_most() -> None:
    """TABLE_CLIENT_OPTIONS: storage that fails costs a caller about a second, not azure-core's ten
    retries and their minutes of backoff."""
    with _failing_storage() as (connection, arrivals):
        table = TableClient.from_connection_string(connection, table_name="tfailing", **TABLE_CLIENT_OPTIONS)
        store = IdempotencyStore(table, TTL)
        with pytest.raises(StorageError, match="Service Unavailable"):
            await store.claim("s", "k", "fp", "r1", NOW)
        await store.aclose()
    assert len(arrivals) == 3
    first, second = (later - earlier for earlier, later in itertools.pairwise(arrivals))
    assert first < 0.5, "the first retry goes at once"
    assert 0.9 <= second < 1.5, "the next one a second later"
