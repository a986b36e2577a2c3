"""An orchestrator that breaks the replay rules on purpose: it branches on a module-level counter,
so its second replay schedules a different activity than its first run did."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
REPLAYS = [0]


@app.orchestration_trigger(context_name="context")
def wobbly(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    REPLAYS[0] += 1
    first = "left" if REPLAYS[0] % 2 else "right"
    yield context.call_activity(first, None)
    return str((yield context.call_activity("left", None)))


@app.activity_trigger(input_name="payload")
async def left(payload: None) -> str:
    return "left"


@app.activity_trigger(input_name="payload")
async def right(payload: None) -> str:
    return "right"


@app.route(route="start", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return func.HttpResponse(await client.start_new("wobbly"))
