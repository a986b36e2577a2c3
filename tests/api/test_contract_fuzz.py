"""Contract fuzzing: schemathesis sends what the app's documents allow, and much they do not, to the
local host and its Graph emulator, over every operation (100 generated examples each, besides the
documents' examples and schemathesis's coverage cases), with its default checks: no 5xx, answers that
match their schema, documented statuses, headers and content types. Each chat or batch
accepted (202) is followed to its outcome.

Batches are bounded: the app runs here with CHATFN_BATCH_MAX_ITEMS=5 and the documents say so
(`maxItems`), so generated batches stay small (the coverage phase sends exactly the limit, and one item
over it, which the app must refuse) instead of making up to a thousand chats per example.

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
from tests.apphost import AppHost, start_app_host

pytestmark = [pytest.mark.fuzz, pytest.mark.apphost]

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
BATCH_LIMIT = 5


def _batch_limited(chats: dict[str, Any]) -> None:
    """The documents' list of a batch's chats, with the limit of the app under test."""
    chats["maxItems"] = BATCH_LIMIT


api_document = openapi.openapi_document(ANY_ORIGIN)
_batch_limited(api_document["components"]["schemas"]["BatchRequest"]["properties"]["chats"])
openapi_contract = schemathesis.openapi.from_dict(api_document, config=SchemathesisConfig.from_dict(SETTINGS))
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
_batch_limited(connector_document["definitions"][swagger.BATCH_FORM]["properties"]["chats"])
connector_contract = schemathesis.openapi.from_dict(
    connector_document, config=SchemathesisConfig.from_dict(SETTINGS)
).exclude(operation_id="CreateChatWithMembers")


# `running_app` is set up once per operation on purpose: an operation's examples share the reset emulator.
once_per_operation = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def batch_limited_host(azurite: str) -> Iterator[AppHost]:
    """The function app with the batch limit the fuzzed documents state, for this module only."""
    host = start_app_host(settings={"CHATFN_BATCH_MAX_ITEMS": str(BATCH_LIMIT)}, storage=azurite)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def running_app(batch_limited_host: AppHost) -> Iterator[str]:
    """The app's base URL, its emulator reset; what the fuzzing left running is ended after each
    operation, so that later examples start clean."""
    httpx.post(f"{batch_limited_host.emulator_url}/_emulator/reset", timeout=10).raise_for_status()
    yield batch_limited_host.api
    batch_limited_host.terminate_running()


@openapi_contract.parametrize()
@once_per_operation
def test_the_app_keeps_its_openapi_contract(case: Case[Any], running_app: str) -> None:
    _call_and_follow(openapi_contract, case, running_app)


@connector_contract.parametrize()
@once_per_operation
def test_the_app_keeps_its_connector_contract(case: Case[Any], running_app: str) -> None:
    _call_and_follow(connector_contract, case, running_app)


# What a 202 of each operation is followed with: the status URL's operation and its id in the body.
_STATUS_URLS = {
    "POST /chats": ("/chats/requests/{requestId}", "requestId"),
    "POST /chat-batches": ("/chat-batches/{batchId}", "batchId"),
    "DELETE /chat-batches/{batchId}": ("/chat-batches/{batchId}", "batchId"),
}


def _call_and_follow(contract: BaseSchema, case: Case[Any], base_url: str) -> None:
    answer = case.call_and_validate(base_url=base_url)
    if case.operation.label in _STATUS_URLS and answer.status_code == 202:
        path, parameter = _STATUS_URLS[case.operation.label]
        _follow_to_the_outcome(contract, path, {parameter: answer.json()[parameter]}, base_url)


def _follow_to_the_outcome(contract: BaseSchema, path: str, ids: dict[str, str], base_url: str) -> None:
    """Ask for an accepted request's or batch's outcome, as a caller following `Location` does, until
    it ends: each answer on the way (202, then 200 or a problem) must keep the contract too."""
    status = contract[path]["GET"]
    for _ in range(100):
        answer = status.Case(path_parameters=ids).call_and_validate(base_url=base_url)
        if answer.status_code != 202:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} {ids} was still running after 100 looks")
