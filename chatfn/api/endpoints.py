"""The HTTP answers of docs/api.md, as plain functions that `function_app.py` binds to routes.

`POST /api/chats` checks everything before it starts anything: a 400 (or 401, 403, 409, 413, 415)
reaches neither Graph nor storage. A request with an `Idempotency-Key` then claims its record
(`chatfn.requests.store`); the chat is made on the direct path (`chatfn.chats.opening`), answered 201 at
once when Graph answers 201, and only Graph's 202 starts the orchestration (`chatfn.durable.operation`),
which the trigger waits on a little before answering 202 with a `Location` to `GET
/api/chats/requests/{requestId}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from chatfn import __version__, contract, problems
from chatfn.api.callers import Caller, CallerRefused, caller_of
from chatfn.api.schemas import Health, RunningRequest
from chatfn.chats.opening import Accepted, open_chat
from chatfn.chats.request import ChatSpec, parse_chat_request, parse_json_body
from chatfn.durable.operation import ORCHESTRATOR, OperationJob, Progress
from chatfn.errors import FieldError, InvalidRequest, StorageError
from chatfn.failures import StepFailed
from chatfn.problems import Problem, invalid_request, problem_for
from chatfn.requests.outcome import OUTCOME, Failed, Succeeded, chat_result
from chatfn.requests.store import Claimed, IdempotencyRecord, RecordState
from chatfn.runtime import graph_client, idempotency_store
from chatfn.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A request still on the direct path (a repeat waiting on its key) is usually done within seconds.
DIRECT_RETRY_AFTER = 2
_RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}
_DELTA_SECONDS = re.compile(r"\d{1,9}")  # RFC 7240's wait is delta-seconds: digits only
_NO_STORE = {contract.CACHE_CONTROL_HEADER: "no-store"}


@dataclass(frozen=True)
class CheckedRequest:
    """A request that passed every check: what it asks, who asks, and how long it may wait."""

    spec: ChatSpec
    caller: Caller
    key: str | None
    wait: float


async def post_chats(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    checked = _checked_request(req, get_settings())
    if isinstance(checked, Problem):
        return problem_response(checked)
    if checked.key is None:
        return await _run(client, checked, _new_request_id(), _now(), record=None)
    try:
        return await _with_key(client, checked)
    except StorageError as exc:
        log.error("a request with a key: %s", exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())


async def get_chat_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    request_id = req.route_params.get("requestId", "")
    if not contract.REQUEST_ID.fullmatch(request_id):
        return problem_response(problems.UNKNOWN_REQUEST.problem())
    status = await client.get_status(request_id)
    if status.runtime_status is not None:  # answered from this one read: no second look
        if _running(status):
            return running_answer(request_id, status)
        return _orchestration_answer(request_id, status, success_status=200)
    try:
        record = await idempotency_store().find_request(request_id)
    except StorageError as exc:
        log.error("request %s: %s", request_id, exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())
    if record is None:
        return problem_response(problems.UNKNOWN_REQUEST.problem())
    if record.state is RecordState.COMPLETED and record.outcome is not None:
        return outcome_response(record.outcome, success_status=200)
    if record.lease_expired(_now()):
        return problem_response(_ABANDONED)
    return _accepted(request_id, stage="creating chat", retry_after=DIRECT_RETRY_AFTER)


def health(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response(Health(status="ok", version=__version__).model_dump(mode="json"), 200)


def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3.1 document, its server the app's public origin."""
    from chatfn.api import openapi  # imported on first use: a cold start does not pay for it

    return func.HttpResponse(openapi.openapi_json(_public_origin()), mimetype=contract.JSON)


def swagger_json(req: func.HttpRequest) -> func.HttpResponse:
    """The Swagger 2.0 document, for a Power Platform custom connector of this very app."""
    from chatfn.api import swagger

    return func.HttpResponse(swagger.swagger_json(_public_origin()), mimetype=contract.JSON)


def problem_response(problem: Problem) -> func.HttpResponse:
    headers = dict(_NO_STORE)
    if problem.retry_after is not None:
        headers[contract.RETRY_AFTER_HEADER] = str(max(1, math.ceil(problem.retry_after)))
    return func.HttpResponse(
        json.dumps(problem.body()),
        status_code=problem.status,
        headers=headers,
        mimetype=contract.PROBLEM_JSON,
    )


def outcome_response(outcome: Succeeded | Failed, success_status: int) -> func.HttpResponse:
    """How a request ended, as its answer: the result (200 when an existing chat was reused), or the
    problem, rendered here and nowhere else."""
    if isinstance(outcome, Failed):
        return problem_response(problem_for(outcome.failure))
    status = 200 if outcome.result.reused else success_status
    return _json_response(outcome.result.model_dump(mode="json"), status)


# --- POST: the request's own work ------------------------------------------------------------------


async def _run(
    client: df.DurableOrchestrationClient,
    checked: CheckedRequest,
    request_id: str,
    started: datetime,
    record: IdempotencyRecord | None,
    look_first: bool = False,
) -> func.HttpResponse:
    """Make the chat (the direct path), then settle the record: complete it, hand it to the
    orchestration, or release it when Graph surely made nothing."""
    try:
        made = await open_chat(checked.spec, graph_client(), attempt_started=started, look_first=look_first)
    except StepFailed as failed:
        outcome: Succeeded | Failed = Failed(failure=failed.failure)
        log.warning("request %s failed at %s", request_id, failed.failure.step)
        if record is not None:
            await _settle(record, None if failed.failure.createdNothing else "unknown")
        return outcome_response(outcome, success_status=201)
    if isinstance(made, Accepted):
        return await _start_orchestration(client, checked, request_id, made, record)
    outcome = Succeeded(result=chat_result(request_id, made.chat, made.reused))
    if record is not None:
        await _settle(record, outcome)
    log.info("request %s answered on the direct path", request_id)
    return outcome_response(outcome, success_status=201)


async def _start_orchestration(
    client: df.DurableOrchestrationClient,
    checked: CheckedRequest,
    request_id: str,
    accepted: Accepted,
    record: IdempotencyRecord | None,
) -> func.HttpResponse:
    settings = get_settings()
    job = OperationJob(
        requestId=request_id,
        location=accepted.location,
        pollIntervalSeconds=settings.poll_interval_seconds,
        operationDeadlineSeconds=settings.operation_deadline_seconds,
    )
    await client.start_new(ORCHESTRATOR, request_id, job.model_dump(mode="json"))
    log.info("request %s: Graph answered 202, following its operation", request_id)
    if record is not None:
        try:
            handed = await idempotency_store().hand_over(record)
        except StorageError as exc:
            handed = None
            log.error("request %s: %s", request_id, exc)
        if handed is None:
            log.error("request %s: its idempotency record changed under it", request_id)
    return await _await_orchestration(client, request_id, checked.wait, success_status=201)


async def _settle(record: IdempotencyRecord, outcome: Succeeded | Literal["unknown"] | None) -> None:
    """Record the result for repeats of the key; release the key when Graph surely made nothing (None);
    or, when Graph may have made the chat ("unknown"), end the lease so that the next repeat looks for it.
    A storage failure here leaves the record running: once its lease runs out, the same happens."""
    store = idempotency_store()
    try:
        if outcome is None:
            await store.release(record)
        elif outcome == "unknown":
            await store.let_go(record, _now())
        elif await store.complete(record, outcome) is None:
            log.error("request %s: its idempotency record changed under it", record.request_id)
    except StorageError as exc:
        log.error("request %s: %s", record.request_id, exc)


# --- POST: a request with a key ------------------------------------------------------------------


async def _with_key(client: df.DurableOrchestrationClient, checked: CheckedRequest) -> func.HttpResponse:
    """Claim the key and do the work, or follow the request that holds it."""
    assert checked.key is not None  # only requests with a key come here
    request_id, started = _new_request_id(), _now()
    claim = await idempotency_store().claim(
        checked.caller.scope, checked.key, checked.spec.fingerprint(), request_id, started
    )
    if isinstance(claim, Claimed):
        return await _run(client, checked, request_id, started, record=claim.record)
    return await _follow(client, checked, claim.record)


async def _follow(
    client: df.DurableOrchestrationClient, checked: CheckedRequest, record: IdempotencyRecord
) -> func.HttpResponse:
    """Answer a repeat of a key as the first request answers: at once when it has ended, else after
    waiting on its record like it (then 202 to the same status URL). A record whose worker died is
    taken over: the chat that attempt may have made is looked for before anything is sent."""
    if record.fingerprint != checked.spec.fingerprint():
        return problem_response(problems.KEY_REUSED.problem())
    store = idempotency_store()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + checked.wait
    pause = 0.05
    while True:
        if record.state is RecordState.COMPLETED and record.outcome is not None:
            return outcome_response(record.outcome, success_status=201)
        if record.state is RecordState.ASYNC:
            wait = max(0.0, deadline - loop.time())
            return await _await_orchestration(client, record.request_id, wait, success_status=201)
        now = _now()
        if record.lease_expired(now):
            taken = await store.take_over(record, now)
            if taken is not None:
                log.warning("request %s: its worker stopped; carrying it on", taken.request_id)
                return await _run(
                    client, checked, taken.request_id, taken.attempt_started, taken, look_first=True
                )
        remaining = deadline - loop.time()
        if remaining <= 0:
            await store.point_to(record)
            return _accepted(record.request_id, stage="creating chat", retry_after=DIRECT_RETRY_AFTER)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)
        latest = await store.get(record.partition)
        if latest is None or latest.request_id != record.request_id:
            # The first request failed before Graph made anything and released the key: start over.
            return await _with_key(client, checked)
        record = latest


# --- waiting on the orchestration -------------------------------------------------------------------


async def _await_orchestration(
    client: df.DurableOrchestrationClient, request_id: str, wait: float, success_status: int
) -> func.HttpResponse:
    """The orchestration's outcome if it ends within `wait` seconds, else 202 to follow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = 0.05
    while True:
        status = await client.get_status(request_id)
        if not _running(status):
            return _orchestration_answer(request_id, status, success_status)
        remaining = deadline - loop.time()
        if remaining <= 0:
            return running_answer(request_id, status)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)


def _orchestration_answer(
    request_id: str, status: DurableOrchestrationStatus, success_status: int
) -> func.HttpResponse:
    output = json.loads(status.output) if isinstance(status.output, str) else status.output
    if status.runtime_status is not None and status.runtime_status.value == "Completed" and output:
        return outcome_response(OUTCOME.validate_python(output), success_status)
    log.error("request %s: its orchestration ended %s", request_id, status.runtime_status)
    return problem_response(
        problems.INTERNAL_ERROR.problem(
            f"The request ended in an unexpected state; quote request id {request_id} to support."
        )
    )


def running_answer(request_id: str, status: DurableOrchestrationStatus) -> func.HttpResponse:
    """202 for a running orchestration: its Retry-After is when Graph is next asked."""
    progress = Progress.model_validate(status.custom_status) if status.custom_status else None
    if progress is None:  # not started yet: the first poll is one interval after the start
        first_poll = math.ceil(get_settings().poll_interval_seconds)
        return _accepted(request_id, stage="starting", retry_after=max(1, first_poll))
    retry_after = 1
    if progress.nextPollAt is not None:
        retry_after = max(1, math.ceil((progress.nextPollAt - _now()).total_seconds()))
    return _accepted(request_id, stage=progress.stage, retry_after=retry_after, polls=progress.polls)


def _accepted(request_id: str, *, stage: str, retry_after: int, polls: int = 0) -> func.HttpResponse:
    status_url = f"{_public_origin()}{contract.status_path(request_id)}"
    body = RunningRequest(
        requestId=request_id, status="running", statusUrl=status_url, stage=stage, polls=polls
    )
    headers = {contract.LOCATION_HEADER: status_url, contract.RETRY_AFTER_HEADER: str(retry_after)}
    return _json_response(body.model_dump(mode="json"), 202, headers=headers)


# --- checks ---------------------------------------------------------------------------------------


def _checked_request(req: func.HttpRequest, settings: Settings) -> Problem | CheckedRequest:
    """The checked request, or the problem that stops it here."""
    try:
        caller = caller_of(req.headers, settings.caller_auth)
    except CallerRefused as refused:
        return refused.problem_type.problem(refused.detail)
    body = req.get_body()
    if len(body) > contract.MAX_BODY_BYTES:
        return problems.BODY_TOO_LARGE.problem(f"At most {contract.MAX_BODY_BYTES} bytes.")
    content_type = req.headers.get("Content-Type", contract.JSON).split(";")[0].strip().lower()
    if content_type != contract.JSON and not content_type.endswith("+json"):
        return problems.UNSUPPORTED_MEDIA_TYPE.problem(f"Send Content-Type: {contract.JSON}.")
    errors: list[FieldError] = []
    key = req.headers.get(contract.IDEMPOTENCY_KEY_HEADER)
    if key is not None and "," in key:  # Azure joins a repeated header with commas
        errors.append(FieldError(contract.IDEMPOTENCY_KEY_HEADER, "give the header once, without commas"))
    elif key is not None and not contract.IDEMPOTENCY_KEY.fullmatch(key):
        errors.append(
            FieldError(contract.IDEMPOTENCY_KEY_HEADER, "must be 1 to 200 visible ASCII characters")
        )
    try:
        spec = parse_chat_request(parse_json_body(body))
    except InvalidRequest as exc:
        errors.extend(exc.errors)
    if errors:
        return invalid_request(errors)
    wait = wait_seconds(req.headers.get(contract.PREFER_HEADER), settings.sync_wait_seconds)
    return CheckedRequest(spec, caller, key, wait)


def wait_seconds(prefer: str | None, default: float) -> float:
    """How long to wait for Graph's operation (RFC 7240): `respond-async` alone answers at once,
    `wait=N` (delta-seconds, digits only; parameters after `;` ignored) waits up to N (capped)."""
    wait: float | None = None
    respond_async = False
    for preference in (prefer or "").split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        name, value = name.strip().lower(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "respond-async":
            respond_async = True
        elif name == "wait" and _DELTA_SECONDS.fullmatch(value):
            wait = float(value)
    if wait is None:
        wait = 0.0 if respond_async else default
    return max(0.0, min(wait, contract.MAX_PREFER_WAIT))


# --- small parts ----------------------------------------------------------------------------------


def _public_origin() -> str:
    """The origin callers reach the app at (`CHATFN_PUBLIC_ORIGIN`), never the request's Host header;
    without one, status URLs are relative to wherever the caller called."""
    return get_settings().public_origin or ""


def _running(status: DurableOrchestrationStatus) -> bool:
    return status.runtime_status is not None and status.runtime_status.value in _RUNNING


def _new_request_id() -> str:
    """128 random bits, whatever the idempotency key: a status URL is never guessable from a key."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers={**_NO_STORE, **(headers or {})}, mimetype=contract.JSON
    )


_ABANDONED = problems.OUTCOME_UNKNOWN.problem(
    "The request stopped before it ended. Send the same request with the same Idempotency-Key: chatfn "
    "looks for the chat this request may have made before it makes one."
)
