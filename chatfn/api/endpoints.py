"""The HTTP answers of docs/api.md, as plain functions that `function_app.py` binds to routes.

`POST /api/chats` checks the request (`chatfn.api.checks`), hands it to the request driver
(`chatfn.requests.driver`), and renders what the driver returns (`chatfn.api.responses`);
`GET /api/chats/requests/{requestId}` does the same for a status URL. Nothing here touches Graph or
the idempotency records.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from chatfn import __version__, contract, problems
from chatfn.api.checks import chat_order
from chatfn.api.responses import json_response, outcome_response, problem_response, running_response
from chatfn.durable.client import DurableOrchestrations
from chatfn.errors import IdempotencyKeyReused, StorageError
from chatfn.problems import Problem
from chatfn.requests import driver
from chatfn.requests.driver import Abandoned, Answered, Broken, Running
from chatfn.schemas import Health
from chatfn.services import Services

log = logging.getLogger(__name__)


async def post_chats(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, services: Services
) -> func.HttpResponse:
    order = chat_order(req, services.settings)
    if isinstance(order, Problem):
        return problem_response(order)
    try:
        progress = await driver.submit(order, services, DurableOrchestrations(client))
    except IdempotencyKeyReused:
        return problem_response(problems.KEY_REUSED.problem())
    except StorageError as exc:
        log.error("a request with a key: %s", exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())
    return _render(progress, services)


async def get_chat_request(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, services: Services
) -> func.HttpResponse:
    request_id = req.route_params.get("requestId", "")
    if not contract.REQUEST_ID.fullmatch(request_id):
        return problem_response(problems.UNKNOWN_REQUEST.problem())
    try:
        progress = await driver.status(request_id, services, DurableOrchestrations(client))
    except StorageError as exc:
        log.error("request %s: %s", request_id, exc)
        return problem_response(problems.STORAGE_UNAVAILABLE.problem())
    if progress is None:
        return problem_response(problems.UNKNOWN_REQUEST.problem())
    return _render(progress, services)


def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(Health(status="ok", version=__version__).model_dump(mode="json"), 200)


def openapi_json(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The OpenAPI 3.1 document, its server the app's public origin."""
    from chatfn.api import openapi  # imported on first use: a cold start does not pay for it

    return func.HttpResponse(openapi.openapi_json(_public_origin(services)), mimetype=contract.JSON)


def swagger_json(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The Swagger 2.0 document, for a Power Platform custom connector of this very app."""
    from chatfn.api import swagger

    return func.HttpResponse(swagger.swagger_json(_public_origin(services)), mimetype=contract.JSON)


def _render(progress: Answered | Running | Abandoned | Broken, services: Services) -> func.HttpResponse:
    if isinstance(progress, Answered):
        return outcome_response(progress.outcome, progress.success_status)
    if isinstance(progress, Running):
        return running_response(
            _public_origin(services),
            progress.request_id,
            stage=progress.stage,
            retry_after=progress.retry_after,
            polls=progress.polls,
        )
    if isinstance(progress, Abandoned):
        return problem_response(_ABANDONED)
    return problem_response(
        problems.INTERNAL_ERROR.problem(
            f"The request ended in an unexpected state; quote request id {progress.request_id} to support."
        )
    )


def _public_origin(services: Services) -> str:
    """The origin callers reach the app at (`CHATFN_PUBLIC_ORIGIN`), never the request's Host header;
    without one, status URLs are relative to wherever the caller called."""
    return services.settings.public_origin or ""


_ABANDONED = problems.OUTCOME_UNKNOWN.problem(
    "The request stopped before it ended. Send the same request with the same Idempotency-Key: chatfn "
    "looks for the chat this request may have made before it makes one."
)
