"""chatfn's Azure Functions app: routes, triggers and the durable client, bound to the functions that
do the work. Bindings only: the worker's `Services` are built here, once, and handed to each of them."""

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from chatfn import contract, telemetry
from chatfn.api import batches, endpoints
from chatfn.api.unexpected import internal_error_as_problem
from chatfn.durable import batch, chat_job, housekeeping
from chatfn.services import Services
from chatfn.settings import get_settings

# Read once, here: a setting chatfn cannot use stops the worker at start, naming the variable.
services = Services(get_settings())
telemetry.configure(services.settings)

# With Entra ID, App Service authentication signs callers in: a function key on top would make
# callers need both, so the functions are anonymous to the Functions host (docs/api.md, Signing in).
CALLER_AUTH = services.settings.caller_auth
logging.getLogger(__name__).info(
    "chatfn: callers sign in with %s", "Microsoft Entra ID" if CALLER_AUTH == "entra" else "function keys"
)
app = df.DFApp(
    http_auth_level=func.AuthLevel.ANONYMOUS if CALLER_AUTH == "entra" else func.AuthLevel.FUNCTION
)


@app.route(route=contract.CHATS_ROUTE, methods=["POST"])
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def post_chats(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await endpoints.post_chats(req, client, services)


# Anonymous on purpose: Power Automate follows Location without the caller's credentials. The request
# id in the URL is 128 random bits, so the URL itself is the capability (as the Durable extension's are).
@app.route(route=contract.REQUEST_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def get_chat_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await endpoints.get_chat_request(req, client, services)


@app.route(route=contract.BATCHES_ROUTE, methods=["POST"])
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def post_chat_batches(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await batches.post_batches(req, client, services)


# Anonymous for the same reason as a request's status URL: the batch id is the capability.
@app.route(route=contract.BATCH_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def get_chat_batch(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await batches.get_batch(req, client, services)


# Cancelling is the caller's: signed in like POST.
@app.route(route=contract.BATCH_ROUTE, methods=["DELETE"])
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def delete_chat_batch(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await batches.delete_batch(req, client, services)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def health(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.health(req)


# Anonymous like health: the documents hold nothing secret, and importing a connector needs no key.
@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.openapi_json(req, services)


@app.route(route="swagger.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def swagger_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.swagger_json(req, services)


# A request the HTTP trigger could not finish within its caller's wait: Graph's 202, a search for what a
# send made, or a wait for Graph's budget; one step per activity, durable timers between them.
@app.orchestration_trigger(context_name="context")
def run_chat_job(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return chat_job.run_chat_job(context)


@app.activity_trigger(input_name="job")
async def take_chat_step(job: dict[str, Any]) -> dict[str, Any]:
    return await chat_job.take_chat_step(job, services)


# A batch: its addresses looked up once, its items made chunk by chunk through the worker's budget.
@app.orchestration_trigger(context_name="context")
def run_chat_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return batch.run_chat_batch(context)


@app.orchestration_trigger(context_name="context")
def run_chat_batch_chunk(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    return batch.run_chat_batch_chunk(context)


@app.activity_trigger(input_name="lookup")
async def look_up_addresses(lookup: dict[str, Any]) -> dict[str, Any]:
    return await batch.look_up_addresses(lookup, services)


# Daily at 03:17 UTC: finished orchestrations and expired idempotency records past their retention.
@app.timer_trigger(schedule="0 17 3 * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def purge_history(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await housekeeping.purge(client, services)
