"""The OpenAPI documents: valid by their specifications, generated from the models the code uses (so
no field can be missing), and served as generated for the configured origin."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV31SpecValidator, validate
from pydantic import BaseModel

from chatfn import problems
from chatfn.api import openapi, swagger
from chatfn.chats.batch import BatchRequest, parse_batch_request
from chatfn.chats.request import AppPermission, ChatRequest, Member, TeamsApp
from chatfn.chats.spec import parse_chat_request
from chatfn.contract import BATCH_MAX_ITEMS, MAX_PREFER_WAIT
from chatfn.schemas import (
    BatchItemResult,
    BatchStatus,
    ChatResult,
    ChatResultMember,
    Health,
    ProblemDetails,
    RunningRequest,
)
from tests.apphost import AppHost

ORIGIN = "https://chatfn-test.azurewebsites.net"

REQUEST_MODELS: list[type[BaseModel]] = [ChatRequest, Member, TeamsApp, AppPermission, BatchRequest]
ANSWER_MODELS: list[type[BaseModel]] = [
    ChatResult,
    ChatResultMember,
    RunningRequest,
    ProblemDetails,
    Health,
    BatchStatus,
    BatchItemResult,
]
# docs/api.md: every status each operation can answer.
CREATE_STATUSES = {"200", "201", "202", "400", "409", "413", "415", "422", "500", "502", "503", "504"}
STATUS_STATUSES = {"200", "202", "404", "422", "500", "502", "503", "504"}
# A batch's items fail inside its results: the batch itself is refused whole (400, 409, 413, 415), or
# storage is down (503); a repeat of its key once it has ended answers its results (200).
BATCH_OPERATIONS = {
    ("/chat-batches", "post"): {"200", "202", "400", "409", "413", "415", "500", "503"},
    ("/chat-batches/{batchId}", "get"): {"200", "202", "404", "500"},
    ("/chat-batches/{batchId}", "delete"): {"200", "202", "404", "500", "503"},
}


@pytest.fixture(scope="module")
def openapi_doc() -> dict[str, Any]:
    return openapi.openapi_document(ORIGIN)


@pytest.fixture(scope="module")
def swagger_doc() -> dict[str, Any]:
    return swagger.swagger_document()


def test_the_swagger_document_is_valid_swagger_2(swagger_doc: dict[str, Any]) -> None:
    validate(swagger_doc, cls=OpenAPIV2SpecValidator)


def test_the_openapi_document_is_valid_openapi_3_1(openapi_doc: dict[str, Any]) -> None:
    validate(openapi_doc, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("model", REQUEST_MODELS + ANSWER_MODELS, ids=lambda model: model.__name__)
def test_every_field_of_every_model_is_in_the_openapi_document(
    model: type[BaseModel], openapi_doc: dict[str, Any]
) -> None:
    assert set(openapi_doc["components"]["schemas"][model.__name__]["properties"]) == set(model.model_fields)


@pytest.mark.parametrize(
    "model",
    [Member, TeamsApp, AppPermission, ChatResult, ChatResultMember, BatchStatus, BatchItemResult],
    ids=lambda model: model.__name__,
)
def test_every_field_of_the_connectors_models_is_in_the_swagger_document(
    model: type[BaseModel], swagger_doc: dict[str, Any]
) -> None:
    assert set(swagger_doc["definitions"][model.__name__]["properties"]) == set(model.model_fields)


def test_reuse_existing_and_reused_are_documented(
    openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]
) -> None:
    schemas = openapi_doc["components"]["schemas"]
    assert schemas["ChatRequest"]["properties"]["reuseExisting"]["type"] == "boolean"
    assert schemas["ChatResult"]["properties"]["reused"]["type"] == "boolean"
    for form in swagger.FORMS:
        assert swagger_doc["definitions"][form]["properties"]["reuseExisting"]["type"] == "boolean"
    assert swagger_doc["definitions"]["ChatResult"]["properties"]["reused"]["type"] == "boolean"


def test_prefer_shows_the_forms_the_app_reads(openapi_doc: dict[str, Any]) -> None:
    [prefer] = [p for p in openapi_doc["paths"]["/chats"]["post"]["parameters"] if p["name"] == "Prefer"]
    assert "enum" not in prefer["schema"], "the app ignores preferences it does not know (RFC 7240)"
    values = prefer["schema"]["examples"]
    assert values[0] == "respond-async"
    waits = [float(value.removeprefix("wait=")) for value in values[1:]]
    assert waits
    assert max(waits) <= MAX_PREFER_WAIT


def test_every_connector_field_reads_well_in_a_flow(swagger_doc: dict[str, Any]) -> None:
    for name, definition in swagger_doc["definitions"].items():
        for field, schema in definition["properties"].items():
            where = f"{name}.{field}"
            assert schema["x-ms-summary"], where
            assert schema["description"], where
            assert schema["x-ms-visibility"] in ("important", "advanced"), where


def test_the_connector_sends_a_form_the_model_accepts(
    openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]
) -> None:
    full = openapi_doc["components"]["schemas"]["ChatRequest"]["properties"]
    for form in swagger.FORMS:
        for field, schema in swagger_doc["definitions"][form]["properties"].items():
            accepted = {alternative.get("type") for alternative in full[field].get("anyOf", [full[field]])}
            assert schema["type"] in accepted, f"{form}.{field}"
    assert swagger_doc["definitions"][swagger.EMAILS_FORM]["properties"]["emails"]["type"] == "string"
    parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com", "guests": "ana@fabrikam.com"})


def test_each_status_of_the_contract_is_documented(
    openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]
) -> None:
    for document in (openapi_doc, swagger_doc):
        assert set(document["paths"]["/chats"]["post"]["responses"]) == CREATE_STATUSES
        assert set(document["paths"]["/chats/requests/{requestId}"]["get"]["responses"]) == STATUS_STATUSES
    assert set(swagger_doc["paths"][swagger.MEMBERS_PATH]["post"]["responses"]) == CREATE_STATUSES


@pytest.mark.parametrize(("path", "method"), BATCH_OPERATIONS)
def test_each_status_of_a_batch_operation_is_documented(
    path: str, method: str, openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]
) -> None:
    for document in (openapi_doc, swagger_doc):
        responses = document["paths"][path][method]["responses"]
        assert set(responses) == BATCH_OPERATIONS[path, method]
    answers = openapi_doc["paths"][path][method]["responses"]
    for status in ("200", "202"):
        schema = answers[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/BatchStatus"}, status


def test_the_202_tells_where_to_follow(openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]) -> None:
    for path, method in (("/chats", "post"), ("/chats/requests/{requestId}", "get"), *BATCH_OPERATIONS):
        accepted_v3 = openapi_doc["paths"][path][method]["responses"]["202"]["headers"]
        accepted_v2 = swagger_doc["paths"][path][method]["responses"]["202"]["headers"]
        assert set(accepted_v3) == set(accepted_v2) == {"Location", "Retry-After"}
        assert all(header["required"] for header in accepted_v3.values())
        assert "schema" not in swagger_doc["paths"][path][method]["responses"]["202"], (
            "a 202 is followed to the end, its body is never the action's outputs"
        )
    throttled = openapi_doc["paths"]["/chats"]["post"]["responses"]["503"]["headers"]
    assert set(throttled) == {"Retry-After"}


def test_the_request_headers_are_documented(openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]) -> None:
    for document in (openapi_doc, swagger_doc):
        parameters = document["paths"]["/chats"]["post"]["parameters"]
        assert {p["name"] for p in parameters if p["in"] == "header"} == {"Idempotency-Key", "Prefer"}


def test_the_flow_uses_the_result_directly(swagger_doc: dict[str, Any]) -> None:
    create = swagger_doc["paths"]["/chats"]["post"]
    assert create["operationId"] == "CreateChat"
    result = swagger_doc["definitions"]["ChatResult"]
    for field in ("chatId", "webUrl"):
        assert result["properties"][field]["type"] == "string"
        assert result["properties"][field]["x-ms-visibility"] == "important"
    get = swagger_doc["paths"]["/chats/requests/{requestId}"]["get"]
    assert get["operationId"] == "GetChatRequest"


@pytest.mark.parametrize("name", ["members", "emails"])
def test_the_documented_examples_are_valid_requests(name: str, openapi_doc: dict[str, Any]) -> None:
    content = openapi_doc["paths"]["/chats"]["post"]["requestBody"]["content"]["application/json"]
    parse_chat_request(content["examples"][name]["value"])


def test_the_documented_batch_example_is_a_valid_batch(openapi_doc: dict[str, Any]) -> None:
    content = openapi_doc["paths"]["/chat-batches"]["post"]["requestBody"]["content"]["application/json"]
    [example] = content["examples"].values()
    assert len(parse_batch_request(example["value"], BATCH_MAX_ITEMS)) == 2


def test_a_batchs_202_links_to_its_status(openapi_doc: dict[str, Any]) -> None:
    """OpenAPI links say what Location says: the batch id of the answer names its status URL."""
    for status in ("200", "202"):
        links = openapi_doc["paths"]["/chat-batches"]["post"]["responses"][status]["links"]
        assert links["GetChatBatch"]["parameters"] == {"batchId": "$response.body#/batchId"}
    result = openapi_doc["components"]["schemas"]["BatchItemResult"]["properties"]["webUrl"]
    assert {"type": "string", "format": "uri"} in result["anyOf"]


def test_the_served_documents_are_the_generated_ones(app_host: AppHost) -> None:
    with httpx.Client(base_url=app_host.api, timeout=10) as client:
        served_v3 = client.get("/openapi.json")
        served_v2 = client.get("/swagger.json")
    assert served_v3.headers["Content-Type"].startswith("application/json")
    assert served_v3.json() == openapi.openapi_document(app_host.url)
    assert served_v2.json() == swagger.swagger_document(app_host.url.removeprefix("http://"), "http")


def test_a_caller_key_in_the_query_never_reaches_the_document(app_host: AppHost) -> None:
    served = httpx.get(f"{app_host.api}/openapi.json", params={"code": "secret-key"}, timeout=10)
    assert "secret-key" not in served.text
    assert json.loads(served.text)["servers"] == [{"url": app_host.api}]


@pytest.mark.parametrize(
    ("path", "method"), [("/chats", "post"), ("/chats/requests/{requestId}", "get"), *BATCH_OPERATIONS]
)
def test_each_failure_is_described_from_the_problem_catalogue(
    path: str, method: str, openapi_doc: dict[str, Any], swagger_doc: dict[str, Any]
) -> None:
    for document in (openapi_doc, swagger_doc):
        for status, answer in document["paths"][path][method]["responses"].items():
            if int(status) < 400:
                continue
            kinds = problems.of_status(int(status))
            assert kinds, f"{status} answers no problem type of the catalogue"
            for kind in kinds:
                assert kind.title in answer["description"], f"{path} {status} does not describe {kind.slug}"
                assert kind.action in answer["description"], f"{path} {status}: what to do about {kind.slug}"
