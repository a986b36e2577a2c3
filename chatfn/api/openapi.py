"""The API's descriptions, generated from the pydantic models that the code validates and answers with,
so that the documents and the code cannot drift apart:

- OpenAPI 3.1 (`GET /api/openapi.json`) for any caller: JSON Schema 2020-12 straight from pydantic,
  unions included, and every status of docs/api.md;
- Swagger 2.0 (`GET /api/swagger.json`, and the files of `connector/`) as Power Platform custom
  connectors import it: `chatfn.api.swagger` builds it from the same models.

The documents are built on first use and cached. Their servers and host come from the public origin
the caller of these functions passes (the app's configured one), never from a request's Host.

"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatfn import __version__, problems
from chatfn.chats.batch import BatchRequest
from chatfn.chats.request import ChatRequest
from chatfn.contract import (
    API_PREFIX,
    BATCH_MAX_ITEMS,
    FUNCTION_KEY_HEADER,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    JSON,
    LOCATION_HEADER,
    MAX_PREFER_WAIT,
    PREFER_HEADER,
    PROBLEM_JSON,
    REQUEST_ID_PATTERN,
    RETRY_AFTER_HEADER,
)
from chatfn.schemas import BatchStatus, ChatResult, Health, ProblemDetails, RunningRequest

# RFC 7240 preferences the app reads: answer 202 at once, or wait up to N seconds (capped).
PREFER_VALUES = (
    "respond-async",
    *(f"wait={seconds}" for seconds in (5, 10, 20, 30, 60, 90) if seconds <= MAX_PREFER_WAIT),
)

# What each document describes: the request as callers send it, the answers as chatfn sends them.
_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (ChatRequest, "validation"),
    (BatchRequest, "validation"),
    (ChatResult, "serialization"),
    (BatchStatus, "serialization"),
    (RunningRequest, "serialization"),
    (ProblemDetails, "serialization"),
    (Health, "serialization"),
]

# What the answers' strings are, which the models leave as plain strings.
_FORMATS = {
    ("ChatResult", "createdDateTime"): "date-time",
    ("ChatResult", "webUrl"): "uri",
    ("BatchItemResult", "webUrl"): "uri",
    ("RunningRequest", "statusUrl"): "uri",
}

_DESCRIPTION = """\
Open Microsoft Teams chats through Microsoft Graph with one call. `POST /chats` validates the request \
(nothing reaches Graph when it is invalid), creates the chat as the function app's managed identity \
and answers `201` with the chat's id and link. When Teams needs longer (installing an app), it answers \
`202` with `Location` and `Retry-After`: Power Automate's asynchronous pattern follows `Location` \
(`GET /chats/requests/{requestId}`) until the final answer. Errors are RFC 9457 problems.

In Azure every call but the status URL and health needs a function key (`x-functions-key` header or \
`code` query parameter); the local host (`make run`) does not check keys, as Core Tools does not."""

_CHATS_DESCRIPTION = """\
Send the members as `emails`/`guests` (lists, or one string separated by `;` or `,`) or as \
`members`, with an optional `topic`, `chatType` and at most one app. Graph checks the members: an \
address that is not in the directory (any made-up one) is a 422, not a 400. With `reuseExisting`, \
an existing group chat of exactly these members (and this topic) is answered 200 instead."""

_BATCH_DESCRIPTION = f"""\
Open many chats with one call: `chats` holds 1 to CHATFN_BATCH_MAX_ITEMS ({BATCH_MAX_ITEMS} by default) \
bodies of `POST /chats`, each checked as `POST /chats` checks one before anything starts (any invalid \
item is a 400 whose `errors` name it, for example `chats[7].members[1].gust`). An accepted batch is \
always answered `202` with `Location` (`GET /chat-batches/{{batchId}}`) and `Retry-After`; following it \
ends with `200` and every item's result in the order sent. An item that fails does not fail the batch: \
its result holds the status and problem that it alone would have been answered."""

_CREATE_FAILURES = ["400", "409", "413", "415", "422", "500", "502", "503", "504"]
_STATUS_FAILURES = ["404", "422", "500", "502", "503", "504"]
_BATCH_FAILURES = ["400", "409", "413", "415", "500", "503"]
_BATCH_STATUS_FAILURES = ["404", "500"]
_CANCEL_FAILURES = ["404", "500", "503"]

_CREATED = "The chat exists (new, or the existing one-on-one chat of these two people)."
_REUSED = "`reuseExisting` found a group chat with these members (and topic): `reused` is true."
_SUCCEEDED = "The request succeeded: the chat exists."
_ACCEPTED = (
    "Still running. Follow `Location` (honouring `Retry-After`) until it answers 200 or a problem: "
    "Power Automate's asynchronous pattern does this by itself."
)
_LOCATION = "Absolute URL of `GET /api/chats/requests/{requestId}`, to follow."
_RETRY_AFTER = "Seconds to wait before asking again."
_REQUEST_ID = "The request id of the 202 answer (the end of its `Location`)."
_BATCH_ENDED = (
    "Every item has ended: `status` is succeeded, completedWithErrors or cancelled, and `results` holds "
    "each item's result in the order sent."
)
_BATCH_REPEATED = (
    "This `Idempotency-Key` and these chats were sent before and that batch has ended: its results, "
    "as `GET /chat-batches/{batchId}` answers them."
)
_BATCH_ACCEPTED = (
    "Items remain: the counts so far. Follow `Location` (honouring `Retry-After`) until it answers 200: "
    "Power Automate's asynchronous pattern does this by itself."
)
_BATCH_CANCELLING = (
    "No item is sent from now on; items already sent finish. Follow `Location` until it answers 200 "
    "with the results, the items never sent ending cancelled."
)
_BATCH_LOCATION = "Absolute URL of `GET /api/chat-batches/{batchId}`, to follow."
_BATCH_ID = "The batch id of the 202 answer (the end of its `Location`)."
_BATCH_KEY = (
    "Makes the batch safe to retry: the same key with the same chats in the same order answers the same "
    "batch and `Location`, and creates nothing again; with other chats it is a 409. Use a new GUID per "
    "intended batch."
)
_IDEMPOTENCY_KEY = (
    "Makes the request safe to retry: the same key with the same chat returns the first request's "
    "result and creates nothing; with another body it is a 409. Use a new GUID per intended chat."
)
_PREFER = (
    f"`respond-async` answers 202 at once; `wait=N` waits up to N seconds (at most {MAX_PREFER_WAIT:g}) "
    "before answering 202. Without it chatfn waits CHATFN_SYNC_WAIT_SECONDS (20 by default)."
)

_EXAMPLES = {
    "members": {
        "summary": "Members, a guest, a user of another tenant and an app",
        "value": {
            "topic": "Incident 4711",
            "members": [
                {"email": "alex@contoso.com"},
                {"userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5"},
                {"email": "ana@fabrikam.com", "guest": True},
                {
                    "userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d",
                    "tenantId": "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1",
                },
            ],
            "apps": [
                {
                    "teamsAppId": "8e55a7b1-6766-4f0a-8610-ecacfe3d569a",
                    "permissions": [{"value": "ChatMessage.Read.Chat", "type": "application"}],
                }
            ],
        },
    },
    "emails": {
        "summary": "Emails as Power Automate joins them",
        "value": {
            "emails": "alex@contoso.com;jacob@contoso.com",
            "guests": ["ana@fabrikam.com"],
            "topic": "Incident 4711",
        },
    },
}


# --- OpenAPI 3.1 ----------------------------------------------------------------------------------


def openapi_document(origin: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the app at `origin` (`https://myapp.azurewebsites.net`)."""
    document = copy.deepcopy(_openapi_template())
    document["servers"] = [{"url": f"{origin}{API_PREFIX}"}]
    return document


@functools.cache
def _openapi_template() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatfn", "version": __version__, "description": _DESCRIPTION},
        "paths": {
            "/chats": {"post": _create_chat_v3()},
            "/chats/requests/{requestId}": {"get": _get_chat_request_v3()},
            "/chat-batches": {"post": _create_chat_batch_v3()},
            "/chat-batches/{batchId}": {"get": _get_chat_batch_v3(), "delete": _cancel_chat_batch_v3()},
            "/health": {"get": _health_v3()},
            "/openapi.json": {
                "get": _document_v3("GetOpenApiDocument", "Get this document", "This document, OpenAPI 3.1.")
            },
            "/swagger.json": {
                "get": _document_v3(
                    "GetSwaggerDocument",
                    "Get the connector's document",
                    "The Swagger 2.0 document that a Power Platform custom connector imports.",
                )
            },
        },
        "components": {
            "schemas": component_schemas("#/components/schemas/{model}"),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": FUNCTION_KEY_HEADER},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
                "entraId": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "When the app signs callers in with Microsoft Entra ID: a token for "
                    "the app's own api:// registration, with the app role Chats.Create.",
                },
            },
        },
    }


def _create_chat_v3() -> dict[str, Any]:
    return {
        "operationId": "CreateChat",
        "summary": "Create a chat",
        "description": _CHATS_DESCRIPTION,
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"entraId": []}],
        "parameters": [
            _idempotency_key(_IDEMPOTENCY_KEY),
            {
                "name": PREFER_HEADER,
                "in": "header",
                "required": False,
                "description": _PREFER,
                # Examples, not an enum: as RFC 7240 says, the app ignores preferences it does not
                # know. The connector offers these values as a choice (chatfn.tools.connector).
                "schema": {"type": "string", "examples": list(PREFER_VALUES)},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {"$ref": "#/components/schemas/ChatRequest"},
                    "examples": _EXAMPLES,
                }
            },
        },
        "responses": {
            "200": _json_v3(_REUSED, {"$ref": "#/components/schemas/ChatResult"}),
            "201": _followed(_json_v3(_CREATED, {"$ref": "#/components/schemas/ChatResult"})),
            "202": _followed(_accepted_v3()),
            **{status: _problem_v3(status) for status in _CREATE_FAILURES},
        },
    }


def _get_chat_request_v3() -> dict[str, Any]:
    return {
        "operationId": "GetChatRequest",
        "summary": "Get the outcome of a chat request",
        "description": (
            "Where `Location` points. Needs no key: the request id is 128 random bits, so the URL "
            "itself is the capability. A failed request answers the status and problem that the "
            "synchronous answer would have had."
        ),
        "security": [],
        "parameters": [
            {
                "name": "requestId",
                "in": "path",
                "required": True,
                "description": _REQUEST_ID,
                "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
            }
        ],
        "responses": {
            "200": _json_v3(_SUCCEEDED, {"$ref": "#/components/schemas/ChatResult"}),
            "202": _followed(_accepted_v3()),
            **{status: _problem_v3(status) for status in _STATUS_FAILURES},
        },
    }


def _health_v3() -> dict[str, Any]:
    return {
        "operationId": "GetHealth",
        "summary": "Check that the app is up",
        "security": [],
        "responses": {"200": _json_v3("The app is up.", {"$ref": "#/components/schemas/Health"})},
    }


def _document_v3(operation_id: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [],
        "responses": {"200": _json_v3(description, {"type": "object"})},
    }


def _json_v3(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _followed(
    answer: dict[str, Any], operation_id: str = "GetChatRequest", parameter: str = "requestId"
) -> dict[str, Any]:
    """The answer, with the link to its status URL (what `Location` says, as OpenAPI links)."""
    answer["links"] = {
        operation_id: {
            "operationId": operation_id,
            "parameters": {parameter: f"$response.body#/{parameter}"},
            "description": "The outcome; `Location` holds the same URL.",
        }
    }
    return answer


def _accepted_v3(
    description: str = _ACCEPTED, model: str = "RunningRequest", location: str = _LOCATION
) -> dict[str, Any]:
    answer = _json_v3(description, {"$ref": f"#/components/schemas/{model}"})
    answer["headers"] = {
        LOCATION_HEADER: {
            "description": location,
            "required": True,
            "schema": {"type": "string", "format": "uri"},
        },
        **_retry_after_v3(),
    }
    return answer


def _create_chat_batch_v3() -> dict[str, Any]:
    return {
        "operationId": "CreateChatBatch",
        "summary": "Create chats in bulk",
        "description": _BATCH_DESCRIPTION,
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"entraId": []}],
        "parameters": [_idempotency_key(_BATCH_KEY)],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {"$ref": "#/components/schemas/BatchRequest"},
                    "examples": {
                        "chats": {
                            "summary": "Two chats, one by emails and one with members",
                            "value": {"chats": [example["value"] for example in _EXAMPLES.values()]},
                        }
                    },
                }
            },
        },
        "responses": {
            "200": _batch_followed(_json_v3(_BATCH_REPEATED, _BATCH_STATUS)),
            "202": _batch_followed(_batch_accepted_v3(_BATCH_ACCEPTED)),
            **{status: _problem_v3(status) for status in _BATCH_FAILURES},
        },
    }


def _get_chat_batch_v3() -> dict[str, Any]:
    return {
        "operationId": "GetChatBatch",
        "summary": "Get a chat batch",
        "description": (
            "Where `Location` points. Needs no key: the batch id is 128 random bits, so the URL itself is "
            "the capability."
        ),
        "security": [],
        "parameters": [_batch_id_v3()],
        "responses": {
            "200": _json_v3(_BATCH_ENDED, _BATCH_STATUS),
            "202": _batch_accepted_v3(_BATCH_ACCEPTED),
            **{status: _problem_v3(status) for status in _BATCH_STATUS_FAILURES},
        },
    }


def _cancel_chat_batch_v3() -> dict[str, Any]:
    return {
        "operationId": "CancelChatBatch",
        "summary": "Cancel a chat batch",
        "description": (
            "Stops sending the batch's chats: items not sent yet end cancelled (their problem type is "
            "`cancelled`), items already sent finish. Asked for a batch that has ended, it answers its "
            "results and changes nothing."
        ),
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"entraId": []}],
        "parameters": [_batch_id_v3()],
        "responses": {
            "200": _json_v3(_BATCH_ENDED, _BATCH_STATUS),
            "202": _batch_accepted_v3(_BATCH_CANCELLING),
            **{status: _problem_v3(status) for status in _CANCEL_FAILURES},
        },
    }


_BATCH_STATUS = {"$ref": "#/components/schemas/BatchStatus"}


def _batch_id_v3() -> dict[str, Any]:
    return {
        "name": "batchId",
        "in": "path",
        "required": True,
        "description": _BATCH_ID,
        "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
    }


def _batch_accepted_v3(description: str) -> dict[str, Any]:
    return _accepted_v3(description, "BatchStatus", _BATCH_LOCATION)


def _batch_followed(answer: dict[str, Any]) -> dict[str, Any]:
    return _followed(answer, "GetChatBatch", "batchId")


def _problem_v3(status: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    answer: dict[str, Any] = {
        "description": problems_described(int(status), "- `{slug}`: {title}. {meaning} {action}", "\n"),
        "content": {PROBLEM_JSON: {"schema": schema}},
    }
    if status == "503":
        answer["headers"] = _retry_after_v3()
    return answer


def _retry_after_v3() -> dict[str, Any]:
    return {
        RETRY_AFTER_HEADER: {
            "description": _RETRY_AFTER,
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    }


def problems_described(status: int, line: str, separator: str) -> str:
    """What an answer with this status can mean: one `line` per problem type of the catalogue
    (`chatfn.problems`), formatted with its slug, title, meaning and action."""
    return separator.join(
        line.format(slug=kind.slug, title=kind.title, meaning=kind.meaning, action=kind.action)
        for kind in problems.of_status(status)
    )


def component_schemas(ref_template: str) -> dict[str, Any]:
    """The models' JSON Schemas, each named by its class, refs made with `ref_template`."""
    _, top = models_json_schema(_MODELS, ref_template=ref_template)
    schemas: dict[str, Any] = top["$defs"]
    for (model, field), string_format in _FORMATS.items():
        node = schemas[model]["properties"][field]
        for alternative in node.get("anyOf", [node]):
            if alternative.get("type") == "string":
                alternative["format"] = string_format
    return schemas


# --- served, and written for the connector --------------------------------------------------------


@functools.lru_cache(maxsize=8)
def openapi_json(origin: str) -> str:
    """The OpenAPI 3.1 document as served at `origin`; a few origins are kept, callers use one or two."""
    return dumps(openapi_document(origin))


def dumps(document: dict[str, Any]) -> str:
    """A document as the files and the app write it: indented, UTF-8 as is, one newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _idempotency_key(description: str) -> dict[str, Any]:
    """The optional Idempotency-Key header of both POST routes."""
    return {
        "name": IDEMPOTENCY_KEY_HEADER,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
    }
