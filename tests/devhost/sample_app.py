"""A small Durable app that exercises what the local host must do: routes, the durable client,
activities (async and sync), retries, failures, timers, task_any, custom status, events, continue-as-new,
sub-orchestrations (named and not, with retries, failing, terminated), a timer trigger that purges
finished instances, Azure Tables through AzureWebJobsStorage, and functions of every kind that run
longer than they are asked to (for functionTimeout)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df
import azure.functions as func
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.Task import TimerTask

from chatfn.devhost.azurite import STORAGE_SETTING

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# What activities saw, by key: how the tests prove a retry happened and that nothing ran twice.
ATTEMPTS: Counter[str] = Counter()
RUNS: Counter[str] = Counter()
# What each run of the purge timer saw and deleted, in order.
PURGES: list[dict[str, Any]] = []
FINISHED = [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed]
# How the slow functions ended ("cancelled", "finished"), by function; and how often each `stalling`
# instance's orchestrator was called.
SLOW: dict[str, str] = {}
STALLS: Counter[str] = Counter()


def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.route(route="items/{id}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def items(req: func.HttpRequest) -> func.HttpResponse:
    response = _json(
        {
            "method": req.method,
            "url": req.url,
            "id": req.route_params["id"],
            "params": dict(req.params),
            "header": req.headers.get("x-sample"),
            "body": req.get_body().decode(),
        }
    )
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    return response


@app.route(route="text", methods=["GET"])
def text(req: func.HttpRequest) -> str:
    return "plain"


@app.route(route="env/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def env(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"value": os.environ.get(req.route_params["name"])})


@app.route(route="boom", methods=["GET"])
async def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret detail that must not reach the caller")


@app.route(route="slow/async", methods=["GET"])
async def slow_async(req: func.HttpRequest) -> func.HttpResponse:
    try:
        await asyncio.sleep(float(req.params["seconds"]))
    except asyncio.CancelledError:
        SLOW["slow_async"] = "cancelled"
        raise
    SLOW["slow_async"] = "finished"
    return _json({"slept": True})


@app.route(route="slow/sync", methods=["GET"])
def slow_sync(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params["seconds"]))
    SLOW["slow_sync"] = "finished"
    return _json({"slept": True})


@app.timer_trigger(arg_name="timer", schedule="0 0 4 * * *")
async def slow_timer(timer: func.TimerRequest) -> None:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        SLOW["slow_timer"] = "cancelled"
        raise


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.params.get("id")
    try:
        instance_id = await client.start_new(req.route_params["name"], instance_id, req.get_json())
    except Exception as exc:
        return _json({"error": str(exc)}, 409)
    status = await client.get_status(instance_id)
    return _json({"id": instance_id, "runtimeStatus": _status_name(status)}, 202)


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await client.get_status(req.route_params["instanceId"], show_history=True)
    if not found:
        return _json({"error": "unknown"}, 404)
    return _json(
        {
            "runtimeStatus": _status_name(found),
            "output": found.output,
            "customStatus": found.custom_status,
            "historyEvents": getattr(found, "historyEvents", None),
        }
    )


@app.route(route="events/{instanceId}/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def events(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instanceId"], req.route_params["name"], req.get_json())
    return _json({}, 202)


@app.route(route="binding", methods=["GET"])
@app.durable_client_input(client_name="client")
async def binding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return _json(client.create_http_management_payload("some-id"))


@app.route(route="purge/{instanceId}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instanceId"])
    return _json({"instancesDeleted": result.instances_deleted})


@app.timer_trigger(arg_name="timer", schedule="0 30 3 * * *")
@app.durable_client_input(client_name="client")
async def purge_finished(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Like a daily clean-up job: every completed or failed instance created up to now."""
    result = await client.purge_instance_history_by(
        created_time_from=datetime(2000, 1, 1, tzinfo=UTC),
        created_time_to=datetime.now(UTC),
        runtime_status=FINISHED,
    )
    PURGES.append({"pastDue": timer.past_due, "deleted": result.instances_deleted})


@app.route(route="purges", methods=["GET"])
def purges(req: func.HttpRequest) -> func.HttpResponse:
    return _json(PURGES)


@app.route(route="tables", methods=["POST"])
async def tables(req: func.HttpRequest) -> func.HttpResponse:
    """What an idempotency store does with the AzureWebJobsStorage the host hands the app: create a
    table, insert, update only if the ETag still matches, query."""
    name = f"devhost{uuid.uuid4().hex[:12]}"
    async with TableClient.from_connection_string(os.environ[STORAGE_SETTING], name) as table:
        await table.create_table()
        await table.create_entity({"PartitionKey": "keys", "RowKey": "k1", "state": "running"})
        stale = (await table.get_entity("keys", "k1")).metadata["etag"]
        entity = {"PartitionKey": "keys", "RowKey": "k1", "state": "succeeded"}
        await table.update_entity(
            entity, mode=UpdateMode.MERGE, etag=stale, match_condition=MatchConditions.IfNotModified
        )
        try:
            await table.update_entity(
                entity | {"state": "lost"},
                mode=UpdateMode.MERGE,
                etag=stale,
                match_condition=MatchConditions.IfNotModified,
            )
            stale_refused = False
        except ResourceModifiedError:
            stale_refused = True
        found = [
            dict(e) async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": "keys"})
        ]
        await table.delete_table()
    return _json({"staleRefused": stale_refused, "entities": found})


# --- orchestrators ---------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    doubled = yield context.call_activity("double", context.get_input())
    shouted = yield context.call_activity("shout", {"text": "hi"})
    return {"doubled": doubled, "shouted": shouted}


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    return cast(
        dict[str, Any],
        (
            yield context.call_activity_with_retry(
                "flaky", options, {"key": context.instance_id, "failures": 2}
            )
        ),
    )


@app.orchestration_trigger(context_name="context")
def exhausting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("flaky", options, {"key": context.instance_id, "failures": 5})
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def catching(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    try:
        yield context.call_activity("always_fails", "x")
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def propagating(context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
    yield context.call_activity("always_fails", "y")


@app.orchestration_trigger(context_name="context")
def waiting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=1))
    return {"waited": (context.current_utc_datetime - started).total_seconds()}


@app.orchestration_trigger(context_name="context")
def racing(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
    work = context.call_activity("double", 21)
    winner = yield context.task_any([timer, work])
    if winner == work:
        cast(TimerTask, timer).cancel()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        return {"winner": "activity", "value": work.result}
    return {"winner": "timer"}


@app.orchestration_trigger(context_name="context")
def gated(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    context.set_custom_status({"stage": "waiting"})
    data = yield context.wait_for_external_event("go")
    ran = yield context.call_activity("count_run", context.instance_id)
    context.set_custom_status({"stage": "done"})
    return {"event": data, "runs": ran}


@app.orchestration_trigger(context_name="context")
def counting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    value = cast(int, context.get_input())
    if value < 3:
        yield context.call_activity("double", value)
        context.continue_as_new(value + 1)
        return value
    return value


@app.orchestration_trigger(context_name="context")
def family(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Children with an id and without, next to an activity inside task_all, then one more child."""
    named = context.call_sub_orchestrator("child", 1, f"{context.instance_id}-named")
    work = context.call_activity("double", 10)
    unnamed = context.call_sub_orchestrator("child", 2)
    together = yield context.task_all([named, work, unnamed])
    last = yield context.call_sub_orchestrator("child", 3)
    return {"together": together, "last": last}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    doubled = yield context.call_activity("double", context.get_input())
    return {"doubled": doubled, "me": context.instance_id, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def lone_parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return cast(dict[str, Any], (yield context.call_sub_orchestrator("child", context.get_input())))


@app.orchestration_trigger(context_name="context")
def retrying_parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """A child that fails twice (its activity does), retried on durable timers as activities are."""
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    payload = {"key": context.instance_id, "failures": context.get_input()}
    try:
        return {"result": (yield context.call_sub_orchestrator_with_retry("fragile", options, payload))}
    except Exception as exc:
        return {"caught": str(exc)}


@app.orchestration_trigger(context_name="context")
def fragile(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return cast(dict[str, Any], (yield context.call_activity("flaky", context.get_input())))


@app.orchestration_trigger(context_name="context")
def guardian(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Waits for the child its input names (with the input and instance id it names), catching its failure."""
    wanted = cast(dict[str, Any], context.get_input())
    try:
        child = yield context.call_sub_orchestrator(wanted["child"], wanted.get("input"), wanted.get("id"))
    except Exception as exc:
        return {"caught": str(exc)}
    return {"child": child}


@app.orchestration_trigger(context_name="context")
def racing_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
    work = context.call_sub_orchestrator("child", 21)
    winner = yield context.task_any([timer, work])
    if winner == work:
        cast(TimerTask, timer).cancel()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        return {"winner": "child", "value": work.result}
    return {"winner": "timer"}


@app.orchestration_trigger(context_name="context")
def impatient(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Waits for an activity that sleeps as long as the input says, catching its failure."""
    try:
        return {"result": (yield context.call_activity("dawdle", context.get_input()))}
    except Exception as exc:
        return {"caught": str(exc)}


@app.orchestration_trigger(context_name="context")
def stalling(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Blocks its first episode for as many seconds as the input says (an orchestrator doing I/O)."""
    STALLS[context.instance_id] += 1
    if STALLS[context.instance_id] == 1:
        time.sleep(cast(float, context.get_input()))
    doubled = yield context.call_activity("double", 5)
    return {"doubled": doubled, "calls": STALLS[context.instance_id]}


# --- activities ------------------------------------------------------------------------------------


@app.activity_trigger(input_name="payload")
async def double(payload: int) -> int:
    return payload * 2


@app.activity_trigger(input_name="payload")
def shout(payload: dict[str, str]) -> dict[str, Any]:
    return {"text": payload["text"].upper(), "thread": threading.current_thread().name}


@app.activity_trigger(input_name="payload")
async def flaky(payload: dict[str, Any]) -> dict[str, Any]:
    ATTEMPTS[payload["key"]] += 1
    attempt = ATTEMPTS[payload["key"]]
    if attempt <= payload["failures"]:
        raise ValueError(f"attempt {attempt} failed")
    return {"attempts": attempt}


@app.activity_trigger(input_name="payload")
async def always_fails(payload: str) -> None:
    raise ValueError(f"no luck with {payload}")


@app.activity_trigger(input_name="payload")
async def dawdle(payload: float) -> str:
    try:
        await asyncio.sleep(payload)
    except asyncio.CancelledError:
        SLOW["dawdle"] = "cancelled"
        raise
    return "done"


@app.activity_trigger(input_name="payload")
def count_run(payload: str) -> int:
    RUNS[payload] += 1
    return RUNS[payload]


def _status_name(status: DurableOrchestrationStatus) -> str | None:
    return status.runtime_status.value if status.runtime_status is not None else None
