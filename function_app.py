"""chatfn's Azure Functions app: routes, triggers and the durable client. Bindings only; the logic
is in `chatfn.endpoints` (HTTP answers) and `chatfn.workflow` (the orchestration and its steps)."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from chatfn import endpoints, workflow

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="chats", methods=["POST"])
@app.durable_client_input(client_name="client")
async def post_chats(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await endpoints.post_chats(req, client)


# Anonymous on purpose: Power Automate follows Location without the function key. The request id in
# the URL is unguessable, so the URL itself is the capability (as the Durable extension's own are).
@app.route(route="chats/requests/{requestId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def get_chat_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await endpoints.get_chat_request(req, client)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.health(req)


# Anonymous like health: the documents hold nothing secret, and importing a connector needs no key.
@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.openapi_json(req)


@app.route(route="swagger.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def swagger_json(req: func.HttpRequest) -> func.HttpResponse:
    return endpoints.swagger_json(req)


@app.orchestration_trigger(context_name="context")
def create_chat(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return workflow.create_chat(context)


@app.activity_trigger(input_name="spec")
async def resolve_members(spec: dict[str, Any]) -> dict[str, Any]:
    return await workflow.resolve_members_activity(spec)


@app.activity_trigger(input_name="body")
async def send_chat(body: dict[str, Any]) -> dict[str, Any]:
    return await workflow.send_chat_activity(body)


@app.activity_trigger(input_name="location")
async def read_operation(location: str) -> dict[str, Any]:
    return await workflow.read_operation_activity(location)


@app.activity_trigger(input_name="chatId")
async def read_chat(chatId: str) -> dict[str, Any]:  # the binding's name
    return await workflow.read_chat_activity(chatId)
