"""Contract fuzzing: schemathesis sends what the app's documents allow, and much they do not, to the
local host and its Graph emulator, over every operation (100 generated examples each, besides the
documents' examples and schemathesis's coverage cases), with its default checks: no 5xx, answers that
match their schema, documented statuses, headers and content types. Each chat
accepted (202) is followed to its outcome.

The documents are the ones the app serves (`openapi.openapi_document` and `swagger_document`, which
tests/test_openapi.py checks against what the running app serves); they are loaded when the tests are
collected, before the app runs, because schemathesis's fixture loader (`schemathesis.pytest.
from_fixture`) reads `Node._nodeid`, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema

from chatfn.api import openapi, swagger
from tests.apphost import AppHost

pytestmark = pytest.mark.fuzz

SETTINGS = {
    "generation": {"max-examples": 100},
    "checks": {
        # The contract (docs/api.md), not a lapse: function keys are checked by the Azure Functions
        # host, and the local host, as Core Tools, does not check them.
        "ignored_auth": {"enabled": False},
        # Schema-valid requests that the app must still refuse, each documented in the documents:
        # 400 for the rules JSON Schema cannot state (members across emails and guests, no member
        # twice), 404 for a made-up request id, 409 for an idempotency key met before with another
        # body, 413 over 64 KiB, 422 for made-up members, which Graph refuses.
        "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409", "413", "422"]},
    },
}
# Where the documents are served does not matter here: each call goes to the running app.
ANY_ORIGIN = "http://127.0.0.1"

openapi_contract = schemathesis.openapi.from_dict(
    openapi.openapi_document(ANY_ORIGIN), config=SchemathesisConfig.from_dict(SETTINGS)
)
# "Create a chat with members" has a path of its own in the connector, which the connector platform's
# routing policy sends to POST /api/chats: the app never sees it, and "Create a chat" covers the route.
# Its Prefer is a choice for the flow designer; the app reads Prefer as RFC 7240 says, ignoring what it
# does not know, so a value outside the choice is no request the app must refuse.
connector_document = swagger.swagger_document(ANY_ORIGIN.removeprefix("http://"), "http")
for operation in connector_document["paths"]["/chats"].values():
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "Prefer":
            parameter.pop("enum")
            parameter.pop("x-ms-enum-values", None)
connector_contract = schemathesis.openapi.from_dict(
    connector_document, config=SchemathesisConfig.from_dict(SETTINGS)
).exclude(operation_id="CreateChatWithMembers")


# `running_app` is set up once per operation on purpose: an operation's examples share the reset emulator.
once_per_operation = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def running_app(app_host: AppHost, api: httpx.Client) -> Iterator[str]:
    """The app's base URL, its emulator reset (`api`); what the fuzzing left running is ended after
    each operation, so that later tests start clean."""
    yield app_host.api
    app_host.terminate_running()


@openapi_contract.parametrize()
@once_per_operation
def test_the_app_keeps_its_openapi_contract(case: Case[Any], running_app: str) -> None:
    answer = case.call_and_validate(base_url=running_app)
    if case.operation.label == "POST /chats" and answer.status_code == 202:
        _follow_to_the_outcome(openapi_contract, answer.json()["requestId"], running_app)


@connector_contract.parametrize()
@once_per_operation
def test_the_app_keeps_its_connector_contract(case: Case[Any], running_app: str) -> None:
    answer = case.call_and_validate(base_url=running_app)
    if case.operation.label == "POST /chats" and answer.status_code == 202:
        _follow_to_the_outcome(connector_contract, answer.json()["requestId"], running_app)


def _follow_to_the_outcome(contract: BaseSchema, request_id: str, base_url: str) -> None:
    """Ask for a created or accepted request's outcome, as a caller following `Location` does, until it
    ends: each answer on the way (202, then 200 or a problem) must keep the contract too."""
    status = contract["/chats/requests/{requestId}"]["GET"]
    for _ in range(100):
        answer = status.Case(path_parameters={"requestId": request_id}).call_and_validate(base_url=base_url)
        if answer.status_code != 202:
            return
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} was still running after 100 looks")
