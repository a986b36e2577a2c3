"""chatfn's Azure Functions app: routes, triggers and the durable client. Bindings only; the logic is in
`chatfn.api.endpoints` (HTTP answers), `chatfn.durable.operation` (the orchestration for Graph's 202)
and `chatfn.durable.housekeeping` (the daily purge)."""

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from chatfn import contract
from chatfn.api import endpoints
from chatfn.api.unexpected import internal_error_as_problem
from chatfn.durable import housekeeping
from chatfn.durable import operation as workflow
from chatfn.settings import get_settings

# With Entra ID, App Service authentication signs callers in: a function key on top would make
# callers need both, so the functions are anonymous to the Functions host (docs/api.md, Signing in).
CALLER_AUTH = get_settings().caller_auth
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
    return await endpoints.post_chats(req, client)


# Anonymous on purpose: Power Automate follows Location without the caller's credentials. The request
# id in the URL is 128 random bits, so the URL itself is the capability (as the Durable extension's are).
@app.route(route=contract.REQUEST_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
@internal_error_as_problem
async def get_chat_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await endpoints.get_chat_request(req, client)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def health(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.health(req)


# Anonymous like health: the documents hold nothing secret, and importing a connector needs no key.
@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.openapi_json(req)


@app.route(route="swagger.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@internal_error_as_problem
def swagger_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.swagger_json(req)


@app.orchestration_trigger(context_name="context")
def follow_operation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return workflow.follow_operation(context)


@app.activity_trigger(input_name="location")
async def read_operation(location: str) -> dict[str, Any]:
    return await workflow.read_operation_activity(location)


@app.activity_trigger(input_name="chatId")
async def read_chat(chatId: str) -> dict[str, Any]:  # the binding's name
    return await workflow.read_chat_activity(chatId)


# Daily at 03:17 UTC: finished orchestrations and expired idempotency records past their retention.
@app.timer_trigger(schedule="0 17 3 * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def purge_history(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await housekeeping.purge(client)
