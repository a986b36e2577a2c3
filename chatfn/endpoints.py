"""The HTTP answers of docs/api.md, as plain functions that `function_app.py` binds to routes.

`POST /api/chats` checks everything before it starts anything: a 400 (or 409, 413, 415) never starts
an orchestration and never reaches Graph. It then waits a little for the result, and answers 201, the
problem, or 202 with a `Location` to `GET /api/chats/requests/{requestId}` that callers follow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import uuid
import weakref
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from chatfn import __version__
from chatfn.answers import Health, RunningRequest
from chatfn.errors import FieldError, InvalidRequest
from chatfn.models import ChatSpec, parse_chat_request, parse_json_body
from chatfn.problems import PROBLEM_JSON, Problem, invalid_request
from chatfn.settings import get_settings
from chatfn.workflow import ORCHESTRATOR, WorkflowInput

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Power Automate gives up on a synchronous answer after 120 s: never hold a caller near that.
MAX_PREFER_WAIT = 60.0
RUNNING_RETRY_AFTER = 2
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
_RUNNING = {"Pending", "Running", "ContinuedAsNew", "Suspended"}

# Requests that share an idempotency key wait for each other within a worker, so that one starts the
# orchestration and the others find it; across workers the Durable extension refuses the second start.
_key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


async def post_chats(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    checked = _checked_request(req)
    if isinstance(checked, Problem):
        return problem_response(checked)
    spec, key, wait = checked
    request_id = request_id_for(key)
    lock = _key_locks.setdefault(request_id, asyncio.Lock())
    async with lock:
        conflict = await _start_once(client, request_id, spec)
    if conflict is not None:
        return problem_response(conflict)
    return await _answer(req, client, request_id, wait, success_status=201)


async def get_chat_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    request_id = req.route_params.get("requestId", "")
    if not _REQUEST_ID.match(request_id) or not _exists(await client.get_status(request_id)):
        return problem_response(
            Problem(404, "unknown-request", "No such request", "No chat request has this id.")
        )
    return await _answer(req, client, request_id, 0.0, success_status=200)


def health(req: func.HttpRequest) -> func.HttpResponse:
    return _json_response(Health(status="ok", version=__version__).model_dump(mode="json"), 200)


def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3.1 document, its server the URL this request came to."""
    from chatfn import openapi  # imported on first use: a cold start does not pay for it

    return func.HttpResponse(openapi.openapi_json(_origin(req)), mimetype="application/json")


def swagger_json(req: func.HttpRequest) -> func.HttpResponse:
    """The Swagger 2.0 document, for a Power Platform custom connector of this very host."""
    from chatfn import openapi

    return func.HttpResponse(openapi.swagger_json(_origin(req)), mimetype="application/json")


def request_id_for(idempotency_key: str | None) -> str:
    """The orchestration's id: derived from the idempotency key, else new. Unguessable either way
    (when keys are random, as they should be), since it is also the status URL callers hold."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"chatfn-idempotency:{idempotency_key}".encode()).hexdigest()[:32]


def problem_response(problem: Problem) -> func.HttpResponse:
    headers = {}
    if problem.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(problem.retry_after)))
    return func.HttpResponse(
        json.dumps(problem.body()), status_code=problem.status, headers=headers, mimetype=PROBLEM_JSON
    )


def _checked_request(req: func.HttpRequest) -> Problem | tuple[ChatSpec, str | None, float]:
    """The request's spec, idempotency key and wait, or the problem that stops it here."""
    body = req.get_body()
    if len(body) > MAX_BODY_BYTES:
        return Problem(413, "body-too-large", "The body is too large", f"At most {MAX_BODY_BYTES} bytes.")
    content_type = req.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return Problem(
            415, "unsupported-media-type", "The body must be JSON", "Send Content-Type: application/json."
        )
    errors: list[FieldError] = []
    key = req.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        errors.append(FieldError("Idempotency-Key", "must be 1 to 200 visible ASCII characters"))
    try:
        spec = parse_chat_request(parse_json_body(body))
    except InvalidRequest as exc:
        errors.extend(exc.errors)
    if errors:
        return invalid_request(errors)
    return spec, key, _wait_seconds(req.headers.get("Prefer"))


def _wait_seconds(prefer: str | None) -> float:
    """RFC 7240: `respond-async` answers at once, `wait=N` waits up to N seconds (capped)."""
    wait = get_settings().sync_wait_seconds
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.lower() == "respond-async":
            return 0.0
        if name.lower() == "wait":
            try:
                wait = float(value.strip().strip('"'))
            except ValueError:
                continue
    return max(0.0, min(wait, MAX_PREFER_WAIT))


async def _start_once(
    client: df.DurableOrchestrationClient, request_id: str, spec: ChatSpec
) -> Problem | None:
    """Start the orchestration unless this id has one to follow; a 409 problem if it holds another body.

    A repeat of a request that failed before Graph created anything starts it over: that is what a
    caller's retry policy (Power Automate's, on a 503) expects of the same idempotency key.
    """
    fingerprint = spec.fingerprint()
    status = await client.get_status(request_id, show_input=True)
    if _exists(status):
        if _input_of(status).get("fingerprint") != fingerprint:
            return _KEY_REUSED
        if not _created_nothing(status):
            log.info("request %s repeated with its idempotency key", request_id)
            return None
        log.info("request %s failed before Graph created a chat: starting it over", request_id)
    settings = get_settings()
    workflow_input = WorkflowInput(
        requestId=request_id,
        fingerprint=fingerprint,
        spec=spec,
        pollIntervalSeconds=settings.poll_interval_seconds,
        operationDeadlineSeconds=settings.operation_deadline_seconds,
    )
    try:
        await client.start_new(ORCHESTRATOR, request_id, workflow_input.model_dump(mode="json"))
    except Exception:
        # Another worker started it between our look and our start: follow that one.
        status = await client.get_status(request_id, show_input=True)
        if not _exists(status):
            raise
        return _KEY_REUSED if _input_of(status).get("fingerprint") != fingerprint else None
    log.info("request %s started", request_id)
    return None


_KEY_REUSED = Problem(
    409,
    "idempotency-key-reused",
    "The idempotency key was used for another request",
    "This Idempotency-Key already belongs to a request with another body; use a new key.",
)


async def _answer(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    request_id: str,
    wait: float,
    success_status: int,
) -> func.HttpResponse:
    """The final answer if the request ends within `wait` seconds, else 202 to follow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = 0.05
    while True:
        status = await client.get_status(request_id)
        runtime_status = _runtime_status(status)
        if runtime_status not in _RUNNING:
            return _final_answer(request_id, status, success_status)
        remaining = deadline - loop.time()
        if remaining <= 0:
            return _accepted(req, request_id, status.custom_status)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)


def _final_answer(
    request_id: str, status: DurableOrchestrationStatus, success_status: int
) -> func.HttpResponse:
    outcome = _outcome_of(status)
    if outcome is not None:
        if outcome["status"] == "succeeded":
            return _json_response(outcome["result"], success_status)
        return problem_response(Problem.from_dict(outcome["problem"]))
    log.error("request %s ended %s", request_id, _runtime_status(status))
    return problem_response(
        Problem(
            500,
            "internal-error",
            "chatfn failed unexpectedly",
            f"The request ended in an unexpected state; quote request id {request_id} to support.",
        )
    )


def _accepted(req: func.HttpRequest, request_id: str, custom_status: Any) -> func.HttpResponse:
    status_url = f"{_origin(req)}/api/chats/requests/{request_id}"
    progress = custom_status if isinstance(custom_status, dict) else {}
    body = RunningRequest(
        requestId=request_id,
        status="running",
        statusUrl=status_url,
        stage=progress.get("stage", "starting"),
        polls=progress.get("polls", 0),
    )
    return _json_response(
        body.model_dump(mode="json"),
        202,
        headers={"Location": status_url, "Retry-After": str(RUNNING_RETRY_AFTER)},
    )


def _origin(req: func.HttpRequest) -> str:
    """Scheme and host the request came to; never its query, which may hold the `code` key."""
    url = urlsplit(req.url)
    return f"{url.scheme}://{url.netloc}"


def _json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers or {}, mimetype="application/json"
    )


def _runtime_status(status: DurableOrchestrationStatus) -> str:
    runtime_status = status.runtime_status
    return runtime_status.value if runtime_status is not None else ""


def _exists(status: DurableOrchestrationStatus) -> bool:
    return status.runtime_status is not None


def _outcome_of(status: DurableOrchestrationStatus) -> dict[str, Any] | None:
    """What `workflow.create_chat` returned, once it completed; None for any other ending."""
    if _runtime_status(status) != "Completed":
        return None
    output = json.loads(status.output) if isinstance(status.output, str) else status.output
    return output if isinstance(output, dict) else None


def _created_nothing(status: DurableOrchestrationStatus) -> bool:
    """A request that ended in a failure before Graph created anything (see `Failure.created_nothing`)."""
    outcome = _outcome_of(status)
    return outcome is not None and outcome.get("createdNothing") is True


def _input_of(status: DurableOrchestrationStatus) -> dict[str, Any]:
    data = status.input_
    if isinstance(data, str):
        data = json.loads(data)
    return data if isinstance(data, dict) else {}
