"""The HTTP answers of `POST /api/chat-batches`, `GET` and `DELETE /api/chat-batches/{batchId}`
(docs/api.md, "Many chats in one request"), as plain functions that `function_app.py` binds to routes.
A batch always runs in its orchestration: 202 and `Location` while items remain, 200 with every item's
result once all have ended."""

from __future__ import annotations

import logging
import math

import azure.durable_functions as df
import azure.functions as func

from chatfn import contract, problems
from chatfn.api.checks import batch_order
from chatfn.api.responses import json_response, problem_response
from chatfn.durable.batch import ItemResult
from chatfn.durable.client import DurableOrchestrations
from chatfn.errors import IdempotencyKeyReused, StorageError
from chatfn.outcome import Failed
from chatfn.problems import Problem
from chatfn.requests.batches import BatchState, batch_status, cancel_batch, submit_batch
from chatfn.schemas import BatchItemResult, BatchStatus, ProblemDetails
from chatfn.services import Services

log = logging.getLogger(__name__)

# Graph makes about 30 chats a second for an app: a caller need not ask much more often than that pace.
CHATS_PER_SECOND = 30
LONGEST_RETRY_AFTER = 30


async def post_batches(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, services: Services
) -> func.HttpResponse:
    order = batch_order(req, services.settings)
    if isinstance(order, Problem):
        return problem_response(order)
    try:
        state = await submit_batch(order, services, DurableOrchestrations(client))
    except IdempotencyKeyReused:
        return problem_response(problems.KEY_REUSED.problem())
    except StorageError as exc:
        log.error("a batch: %s", exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())
    return _render(state, services)


async def get_batch(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, services: Services
) -> func.HttpResponse:
    batch_id = _batch_id(req)
    state = await batch_status(batch_id, services, DurableOrchestrations(client)) if batch_id else None
    return _render(state, services) if state is not None else problem_response(_UNKNOWN_BATCH)


async def delete_batch(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, services: Services
) -> func.HttpResponse:
    batch_id = _batch_id(req)
    try:
        state = await cancel_batch(batch_id, services, DurableOrchestrations(client)) if batch_id else None
    except StorageError as exc:
        log.error("batch %s: %s", batch_id, exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())
    return _render(state, services) if state is not None else problem_response(_UNKNOWN_BATCH)


def _render(state: BatchState, services: Services) -> func.HttpResponse:
    if state.broken:
        return problem_response(
            problems.INTERNAL_ERROR.problem(
                f"The batch ended in an unexpected state; quote batch id {state.batch_id} to support."
            )
        )
    counts = state.counts
    body = BatchStatus(
        batchId=state.batch_id,
        status="running",
        total=counts.total,
        succeeded=counts.succeeded,
        failed=counts.failed,
        cancelled=counts.cancelled,
        pending=counts.pending,
    )
    status_url = f"{services.settings.public_origin or ''}{contract.batch_path(state.batch_id)}"
    if state.outcome is None:
        retry_after = max(1, min(LONGEST_RETRY_AFTER, math.ceil(counts.pending / CHATS_PER_SECOND)))
        headers = {contract.LOCATION_HEADER: status_url, contract.RETRY_AFTER_HEADER: str(retry_after)}
        return json_response(body.model_dump(mode="json", exclude_none=True), 202, headers=headers)
    if state.outcome.cancelled:
        ended = "cancelled"
    elif counts.succeeded == counts.total:
        ended = "succeeded"
    else:
        ended = "completedWithErrors"
    results = [_item(result) for result in state.outcome.results]
    final = body.model_copy(update={"status": ended, "results": results})
    return json_response(
        final.model_dump(mode="json", exclude_none=True), 200, headers={contract.LOCATION_HEADER: status_url}
    )


def _item(result: ItemResult) -> BatchItemResult:
    """What the item alone would have answered, as one entry of the results."""
    outcome = result.outcome
    if isinstance(outcome, Failed):
        problem = problems.problem_for(outcome.failure)
        return BatchItemResult(
            index=result.index,
            status=problem.status,
            outcome="cancelled" if outcome.failure.kind == "cancelled" else "failed",
            problem=ProblemDetails.model_validate(problem.body()),
        )
    chat = outcome.result
    return BatchItemResult(
        index=result.index,
        status=200 if chat.reused else 201,
        outcome="reused" if chat.reused else "created",
        chatId=chat.chatId,
        webUrl=chat.webUrl,
        reused=chat.reused,
    )


def _batch_id(req: func.HttpRequest) -> str:
    """The route's batch id, when it has the shape of one (anything else is no batch)."""
    batch_id = req.route_params.get("batchId", "")
    return batch_id if contract.REQUEST_ID.fullmatch(batch_id) else ""


_UNKNOWN_BATCH = problems.UNKNOWN_REQUEST.problem("No chat batch has this id.")
