"""The API's descriptions, generated from the pydantic models that the code validates and answers with,
so that the documents and the code cannot drift apart:

- OpenAPI 3.1 (`GET /api/openapi.json`) for any caller: JSON Schema 2020-12 straight from pydantic,
  unions included, and every status of docs/api.md;
- Swagger 2.0 (`GET /api/swagger.json`, and `connector/apiDefinition.swagger.json` with
  `connector/apiProperties.json`) as Power Platform custom connectors import it. Swagger 2.0 has no
  unions, so the connector takes the form simplest in a flow: `emails` and `guests` as strings
  separated by `;`, next to `members`, `topic`, `chatType` and `apps`, a subset the model accepts.

The documents are built on first use and cached; only the host changes between callers.

    python -m chatfn.openapi --write connector [--host myapp.azurewebsites.net]
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatfn import __version__
from chatfn.answers import ChatResult, Health, ProblemDetails, RunningRequest
from chatfn.models import ChatRequest

# The host of the committed connector: whoever imports it puts their function app's host here.
PLACEHOLDER_HOST = "your-function-app.azurewebsites.net"
API_KEY_HEADER = "x-functions-key"
REQUEST_ID_PATTERN = "^[0-9a-f]{32}$"
IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,200}$"  # 1 to 200 visible ASCII characters

_PROBLEM_JSON = "application/problem+json"

# What each document describes: the request as callers send it, the answers as chatfn sends them.
_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (ChatRequest, "validation"),
    (ChatResult, "serialization"),
    (RunningRequest, "serialization"),
    (ProblemDetails, "serialization"),
    (Health, "serialization"),
]

# Swagger 2.0 cannot say "a list or a string": the connector sends the string Power Automate makes.
_CONNECTOR_FORMS = {("ChatRequest", "emails"): "string", ("ChatRequest", "guests"): "string"}
# Not in a connector's definitions: the fields (converted one by one), the model's title (its class
# name) and the rules between fields, which Swagger 2.0 cannot state (the descriptions say them).
_NOT_IN_CONNECTOR = ("properties", "title", "oneOf", "not", "if", "then")
# What a flow builder sees first; every other field is under "advanced".
_IMPORTANT = {
    "ChatRequest": {"topic", "emails", "guests"},
    "Member": {"email", "userId"},
    "TeamsApp": {"teamsAppId"},
    "AppPermission": {"value"},
    "ChatResult": {"chatId", "webUrl", "topic"},
    "ProblemDetails": {"title", "detail"},
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
address that is not in the directory (any made-up one) is a 422, not a 400."""

_FAILURES = {
    "400": (
        "The request is invalid and nothing was sent to Graph; `errors` names each field and what is "
        "wrong. Besides each field's own rules: `members` or `emails`/`guests`, not both; 2 to 250 "
        "members in all; no member twice (emails compared case-insensitively); exactly one of `email` "
        "or `userId` per member; no `guest` with `tenantId`; `oneOnOne` only with two members and no "
        "topic; an `Idempotency-Key` of 1 to 200 visible ASCII characters; a body that is JSON."
    ),
    "404": "No chat request has this id.",
    "409": "The `Idempotency-Key` was used before with another body; use a new key.",
    "413": "The body is over 64 KiB.",
    "415": "The body is not JSON: send `Content-Type: application/json`.",
    "422": (
        "Graph refused the members: a user or guest that is not in the directory, or a role it does "
        "not allow. `graphError` (or `errors`, for a guest) names what Graph refused."
    ),
    "500": "chatfn failed unexpectedly; quote the request id to support.",
    "502": (
        "Graph failed, or refused the function app's identity (a missing application permission: "
        "Chat.Create, Chat.ReadBasic.All, User.Read.All)."
    ),
    "503": "Graph kept throttling past chatfn's retries; try again after `Retry-After` seconds.",
    "504": "Graph accepted the chat but Teams did not finish before the operation's deadline.",
}
_CREATE_FAILURES = ["400", "409", "413", "415", "422", "500", "502", "503", "504"]
_STATUS_FAILURES = ["404", "422", "500", "502", "503", "504"]

_CREATED = "The chat exists (new, or the existing one-on-one chat of these two people)."
_SUCCEEDED = "The request succeeded: the chat exists."
_ACCEPTED = (
    "Still running. Follow `Location` (honouring `Retry-After`) until it answers 200 or a problem: "
    "Power Automate's asynchronous pattern does this by itself."
)
_LOCATION = "Absolute URL of `GET /api/chats/requests/{requestId}`, to follow."
_RETRY_AFTER = "Seconds to wait before asking again."
_REQUEST_ID = "The request id of the 202 answer (the end of its `Location`)."
_IDEMPOTENCY_KEY = (
    "Makes the request safe to retry: the same key with the same chat returns the first request's "
    "result and creates nothing; with another body it is a 409. Use a new GUID per intended chat."
)
_PREFER = (
    "`respond-async` answers 202 at once; `wait=N` waits up to N seconds (at most 60) before answering "
    "202. Without it chatfn waits CHATFN_SYNC_WAIT_SECONDS (20 by default)."
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
    document["servers"] = [{"url": f"{origin}/api"}]
    return document


@functools.cache
def _openapi_template() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatfn", "version": __version__, "description": _DESCRIPTION},
        "paths": {
            "/chats": {"post": _create_chat_v3()},
            "/chats/requests/{requestId}": {"get": _get_chat_request_v3()},
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
            "schemas": _component_schemas("#/components/schemas/{model}"),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


def _create_chat_v3() -> dict[str, Any]:
    return {
        "operationId": "CreateChat",
        "summary": "Create a chat",
        "description": _CHATS_DESCRIPTION,
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": _IDEMPOTENCY_KEY,
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
            },
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": _PREFER,
                "schema": {"type": "string", "examples": ["respond-async", "wait=10"]},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatRequest"},
                    "examples": _EXAMPLES,
                }
            },
        },
        "responses": {
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
                "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
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
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _followed(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer, with the link to the request's status URL (what `Location` says, as OpenAPI links)."""
    answer["links"] = {
        "GetChatRequest": {
            "operationId": "GetChatRequest",
            "parameters": {"requestId": "$response.body#/requestId"},
            "description": "The outcome of this request; `Location` holds the same URL.",
        }
    }
    return answer


def _accepted_v3() -> dict[str, Any]:
    answer = _json_v3(_ACCEPTED, {"$ref": "#/components/schemas/RunningRequest"})
    answer["headers"] = {
        "Location": {
            "description": _LOCATION,
            "required": True,
            "schema": {"type": "string", "format": "uri"},
        },
        **_retry_after_v3(),
    }
    return answer


def _problem_v3(status: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    answer: dict[str, Any] = {
        "description": _FAILURES[status],
        "content": {_PROBLEM_JSON: {"schema": schema}},
    }
    if status == "503":
        answer["headers"] = _retry_after_v3()
    return answer


def _retry_after_v3() -> dict[str, Any]:
    return {
        "Retry-After": {
            "description": _RETRY_AFTER,
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    }


def _component_schemas(ref_template: str) -> dict[str, Any]:
    _, top = models_json_schema(_MODELS, ref_template=ref_template)
    schemas: dict[str, Any] = top["$defs"]
    return schemas


# --- Swagger 2.0, for the Power Platform connector ------------------------------------------------


def swagger_document(host: str, scheme: str = "https") -> dict[str, Any]:
    """The Swagger 2.0 document for a custom connector of the app at `host` (`myapp.azurewebsites.net`)."""
    document = copy.deepcopy(_swagger_template())
    document["host"] = host
    document["schemes"] = [scheme]
    return document


@functools.cache
def _swagger_template() -> dict[str, Any]:
    definitions = {
        name: _connector_schema(name, schema)
        for name, schema in _component_schemas("#/definitions/{model}").items()
    }
    return {
        "swagger": "2.0",
        "info": {"title": "chatfn", "version": __version__, "description": _DESCRIPTION},
        "host": PLACEHOLDER_HOST,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json", _PROBLEM_JSON],
        "paths": {
            "/chats": {"post": _create_chat_v2()},
            "/chats/requests/{requestId}": {"get": _get_chat_request_v2()},
            "/health": {"get": _health_v2()},
        },
        "definitions": definitions,
        "securityDefinitions": {
            "api_key": {
                "type": "apiKey",
                "in": "header",
                "name": API_KEY_HEADER,
                "description": "A function key of the chatfn function app.",
            }
        },
        "security": [{"api_key": []}],
    }


def _create_chat_v2() -> dict[str, Any]:
    return {
        "operationId": "CreateChat",
        "summary": "Create a chat",
        "description": _CHATS_DESCRIPTION,
        "x-ms-visibility": "important",
        "parameters": [
            {
                "name": "body",
                "in": "body",
                "required": True,
                "x-ms-summary": "Chat",
                "description": "Who is in the chat, its topic and an optional Teams app.",
                "schema": {"$ref": "#/definitions/ChatRequest"},
            },
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "type": "string",
                "pattern": IDEMPOTENCY_KEY_PATTERN,
                "x-ms-summary": "Idempotency key",
                "x-ms-visibility": "advanced",
                "description": _IDEMPOTENCY_KEY,
            },
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "type": "string",
                "x-ms-summary": "Prefer",
                "x-ms-visibility": "advanced",
                "description": _PREFER,
            },
        ],
        "responses": {
            "201": {"description": _CREATED, "schema": {"$ref": "#/definitions/ChatResult"}},
            "202": _accepted_v2(),
            **{status: _problem_v2(status) for status in _CREATE_FAILURES},
        },
    }


def _get_chat_request_v2() -> dict[str, Any]:
    return {
        "operationId": "GetChatRequest",
        "summary": "Get the outcome of a chat request",
        "description": "Where Location points; a flow rarely needs it, the asynchronous pattern follows it.",
        "x-ms-visibility": "advanced",
        "security": [],
        "parameters": [
            {
                "name": "requestId",
                "in": "path",
                "required": True,
                "type": "string",
                "pattern": REQUEST_ID_PATTERN,
                "x-ms-summary": "Request ID",
                "x-ms-url-encoding": "single",
                "description": _REQUEST_ID,
            }
        ],
        "responses": {
            "200": {"description": _SUCCEEDED, "schema": {"$ref": "#/definitions/ChatResult"}},
            "202": _accepted_v2(),
            **{status: _problem_v2(status) for status in _STATUS_FAILURES},
        },
    }


def _health_v2() -> dict[str, Any]:
    return {
        "operationId": "GetHealth",
        "summary": "Check that the app is up",
        "description": "Answers when the function app runs.",
        "x-ms-visibility": "internal",
        "security": [],
        "responses": {"200": {"description": "The app is up.", "schema": {"$ref": "#/definitions/Health"}}},
    }


def _accepted_v2() -> dict[str, Any]:
    return {
        "description": _ACCEPTED,
        "schema": {"$ref": "#/definitions/RunningRequest"},
        "headers": {
            "Location": {"type": "string", "format": "uri", "description": _LOCATION},
            "Retry-After": {"type": "integer", "minimum": 1, "description": _RETRY_AFTER},
        },
    }


def _problem_v2(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _FAILURES[status],
        "schema": {"$ref": "#/definitions/ProblemDetails"},
    }
    if status == "503":
        answer["headers"] = {"Retry-After": {"type": "integer", "minimum": 1, "description": _RETRY_AFTER}}
    return answer


def _connector_schema(model: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON Schema as a Swagger 2.0 definition, each field with its summary and visibility."""
    fields = schema.get("properties", {})
    definition = _swagger_node({key: value for key, value in schema.items() if key not in _NOT_IN_CONNECTOR})
    definition["properties"] = {name: _connector_field(model, name, field) for name, field in fields.items()}
    return definition


def _connector_field(model: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    form = _CONNECTOR_FORMS.get((model, name))
    if form is not None:
        schema = {**schema, "anyOf": [alt for alt in schema["anyOf"] if alt.get("type") in (form, "null")]}
    field = _swagger_node(schema)
    if "x-ms-summary" not in field or "description" not in field:
        raise ValueError(f"{model}.{name} needs a title and a description for flow builders")
    field["x-ms-visibility"] = "important" if name in _IMPORTANT.get(model, ()) else "advanced"
    return field


def _swagger_node(schema: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema 2020-12 node in Swagger 2.0's dialect: no unions, no null type."""
    node = dict(schema)
    alternatives = node.pop("anyOf", None)
    if alternatives is not None:
        kinds = [alt for alt in alternatives if alt.get("type") != "null"]
        if len(kinds) != 1:
            raise ValueError(f"Swagger 2.0 has no unions; give {node.get('title')} a connector form")
        if len(kinds) < len(alternatives):
            node["x-nullable"] = True
        node = {**kinds[0], **node}
    if "title" in node:
        node["x-ms-summary"] = node.pop("title")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node:
        node["example"] = node.pop("examples")[0]
    if node.get("default", 0) is None:
        del node["default"]
    if "items" in node:
        node["items"] = _swagger_node(node["items"])
    if "properties" in node:
        node["properties"] = {name: _swagger_node(field) for name, field in node["properties"].items()}
    return node


def connector_properties() -> dict[str, Any]:
    """`apiProperties.json`: the connection asks for a function key, sent as `x-functions-key`."""
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key of the chatfn function app (App keys in the portal).",
                        "tooltip": f"Sent as the {API_KEY_HEADER} header.",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": "#5b5fc7",
            "capabilities": [],
            "publisher": "chatfn",
            "stackOwner": "chatfn",
        }
    }


# --- served, and written for the connector --------------------------------------------------------


@functools.lru_cache(maxsize=8)
def openapi_json(origin: str) -> str:
    """The OpenAPI 3.1 document as served at `origin`; a few origins are kept, callers use one or two."""
    return _dumps(openapi_document(origin))


@functools.lru_cache(maxsize=8)
def swagger_json(origin: str) -> str:
    """The Swagger 2.0 document as served at `origin`, with that host and scheme."""
    scheme, _, host = origin.partition("://")
    return _dumps(swagger_document(host, scheme))


def write_connector(directory: Path, host: str = PLACEHOLDER_HOST) -> list[Path]:
    """Write `apiDefinition.swagger.json` and `apiProperties.json` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        directory / "apiDefinition.swagger.json": swagger_document(host),
        directory / "apiProperties.json": connector_properties(),
    }
    for path, document in files.items():
        path.write_text(_dumps(document))
    return list(files)


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the Power Platform connector files.")
    parser.add_argument("--write", type=Path, required=True, metavar="DIR", help="for example connector")
    parser.add_argument("--host", default=PLACEHOLDER_HOST, help="the function app's host name")
    args = parser.parse_args(argv)
    for path in write_connector(args.write, args.host):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
