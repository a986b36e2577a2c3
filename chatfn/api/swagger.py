"""The Swagger 2.0 document of the API, as Power Platform custom connectors import it (served at
`GET /api/swagger.json`, and written into `connector/` by `chatfn.tools.connector`), generated from the
same models the app validates with.

Swagger 2.0 has no unions, so the document offers two actions with required inputs, both sent to
`POST /api/chats`: "Create a chat" (members as emails,
the string a flow joins with `;`) and "Create a chat with members" (the full form: user ids, members of
other organisations, a Teams app), which the connector's `routerequesttoendpoint` policy sends to the
same path. Every success of an action that ends with a chat carries the result's schema, because the
flow designer takes an action's outputs from its `200`, else `201`, else `default` response
(Azure/LogicAppsUX, `OutputsProcessor._getResponse`); `400` and `422` carry the problem's schema, so a
flow can read `errors` after a failure.

"Create chats in bulk" posts to `POST /api/chat-batches`, each item in the emails form; its `200` is the
batch with typed `results`, the outputs the designer shows once the platform has followed the `202`'s
`Location` to the end (the asynchronous pattern, a setting that custom connector actions have too:
Azure/LogicAppsUX, libs/designer/src/lib/core/actions/bjsworkflow/settings.ts,
`isDisableAsyncPatternSupported`, which lists OpenApiConnection, at commit
dce5a0dec68c5d7485751308af8362b3b4b62b99).
"Get a chat batch" and "Cancel a chat batch" are advanced: for a run that turned that pattern off, or
stored the batch ID, to read or stop the batch later. Rules the certification review checks are in
tests/tools/connector_rules.py; see docs/power-automate.md.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from chatfn import __version__
from chatfn.api import openapi
from chatfn.contract import (
    API_PREFIX,
    BATCH_MAX_ITEMS,
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    JSON,
    LOCATION_HEADER,
    PREFER_HEADER,
    PROBLEM_JSON,
    REQUEST_ID_PATTERN,
    RETRY_AFTER_HEADER,
)

TITLE = "chatfn"
# Only a placeholder: every connection names its own function app (the hostName parameter).
PLACEHOLDER_HOST = "your-function-app.azurewebsites.net"
EMAILS_FORM = "ChatByEmails"
MEMBERS_FORM = "ChatWithMembers"
CREATE_BY_EMAILS = "CreateChat"
CREATE_WITH_MEMBERS = "CreateChatWithMembers"
GET_REQUEST = "GetChatRequest"
CREATE_BATCH = "CreateChatBatch"
GET_BATCH = "GetChatBatch"
CANCEL_BATCH = "CancelChatBatch"
# The body of "Create chats in bulk": a list of "Create a chat" bodies, as a table's rows give them.
BATCH_FORM = "ChatBatch"
# The path "Create a chat with members" has in the definition; the policy sends it to /chats.
MEMBERS_PATH = "/chats/members"


@dataclass(frozen=True)
class Publisher:
    """Who publishes the connector: certification shows these to every maker."""

    name: str
    email: str
    website: str
    privacy_policy: str
    categories: tuple[str, ...] = ("Collaboration", "Communication")


# What the repository's files say until a publisher writes their own (connector/readme.md, Deployment
# Instructions: `make connector PUBLISHER=<file>`); chatfn.tools.connector finds any left behind.
PLACEHOLDER_PUBLISHER = Publisher(
    name="chatfn maintainers",
    email="publisher@chatfn.example",
    website="https://chatfn.example/",
    privacy_policy="https://chatfn.example/privacy",
)

# Which fields of the request each action offers: together, every field of ChatRequest.
FORMS: dict[str, tuple[str, ...]] = {
    EMAILS_FORM: ("emails", "guests", "topic", "chatType", "reuseExisting"),
    MEMBERS_FORM: ("members", "topic", "chatType", "apps", "reuseExisting"),
}
REQUIRED = {EMAILS_FORM: ["emails"], MEMBERS_FORM: ["members"]}
_FORM_TITLES = {
    EMAILS_FORM: ("Chat by emails", "The members as email addresses, with the chat's topic."),
    MEMBERS_FORM: ("Chat with members", "The members one by one, with the chat's topic and a Teams app."),
}
# Where the model's description speaks of forms the connector does not offer, or of raw values.
_DESCRIPTIONS = {
    "emails": "Email addresses of the members, separated by semicolons.",
    "guests": "Email addresses of guests of your organization, separated by semicolons.",
    "chatType": "One-on-one takes exactly two members and no topic. Left empty, two members without a "
    "topic make a one-on-one chat, anything else a group chat.",
}
# Swagger 2.0 cannot say "a list or a string": the emails form takes the string a flow makes.
_STRING_FORMS = {"emails", "guests"}
_NOT_IN_CONNECTOR = ("properties", "title", "oneOf", "not", "if", "then", "$defs")
_IMPORTANT = {
    EMAILS_FORM: {"emails", "topic"},
    MEMBERS_FORM: {"members", "topic"},
    "Member": {"email", "userId"},
    "TeamsApp": {"teamsAppId"},
    "AppPermission": {"value"},
    "ChatResult": {"chatId", "webUrl", "topic", "reused"},
    "ProblemDetails": {"title", "detail", "errors"},
    BATCH_FORM: {"chats"},
    "BatchStatus": {"batchId", "status", "succeeded", "failed", "results"},
    "BatchItemResult": {"index", "outcome", "chatId", "webUrl", "problem"},
}
_ENUM_NAMES = {
    "oneOnOne": "One-on-one",
    "group": "Group",
    "application": "Application",
    "delegated": "Delegated",
    "succeeded": "Succeeded",
    "running": "Running",
    "completedWithErrors": "Completed with errors",
    "cancelled": "Cancelled",
    "created": "Created",
    "reused": "Reused",
    "failed": "Failed",
    "respond-async": "Answer at once and follow the status",
}

_DESCRIPTION = (
    "Open Microsoft Teams chats through Microsoft Graph with one action. Give the members as email "
    "addresses, or in full with user IDs, guests, people of other organizations and a Teams app, and "
    "get the chat ID and link back. The service runs as a function app in your own Azure subscription "
    "and creates chats with its managed identity, so no user account or license is used for it."
)
_BY_EMAILS = (
    "Opens a group or one-on-one chat between the people whose email addresses you give, "
    "separated by semicolons. Set Reuse an existing chat to get an existing group chat of the same "
    "people back instead of a new one."
)
_WITH_MEMBERS = (
    "Opens a chat with members given one by one: by email or user ID, as guests, or from another "
    "organization with their tenant ID, and optionally installs a Teams app in it."
)
_GET_REQUEST = (
    "Reads the outcome of a chat request that is still running. The create actions follow it by "
    "themselves; use it only for a status URL stored earlier."
)
_IN_BULK = (
    "Opens many chats at once, one for each item of Chats: the members' email addresses separated by "
    "semicolons and a topic, as the rows of a table give them. The action waits until every chat has "
    "been made or has failed, then returns each one's result in the order given; one chat failing does "
    "not stop the others."
)
_GET_BATCH = (
    "Reads where a batch of chats stands: how many chats were made, failed or are still to come, and "
    "once all have ended, each one's result. Create chats in bulk waits for this by itself; use it with "
    "the batch ID of a run whose asynchronous pattern is turned off, or one stored earlier."
)
_CANCEL_BATCH = (
    "Stops a batch of chats: the chats not sent yet are not made and end as cancelled, those already "
    "sent finish. Returns the batch's results once it has stopped."
)
_BATCH_ENDED = "Every chat of the batch has ended: each one's result, in the order given."
_BATCH_ACCEPTED = "Chats remain; the action follows the Location header until every chat has ended."
_BATCH_CANCELLING = "Cancelling; the action follows the Location header until the chats already sent end."
_SUCCESS = "The chat exists: a new chat, or the existing one-on-one chat of these two people."
_REUSED = "An existing group chat of exactly these members was reused; same result as a new chat."
_ACCEPTED = "Still running; the action follows the Location header until the chat is ready."
_CREATE_FAILURES = ("400", "409", "413", "415", "422", "500", "502", "503", "504")
# The failures whose problem a flow reads field by field: the inputs it must fix (`errors`).
_PROBLEMS_WITH_SCHEMA = ("400", "422")
_STATUS_FAILURES = ("404", "422", "500", "502", "503", "504")
_BATCH_FAILURES = ("400", "409", "413", "415", "500", "503")
_BATCH_STATUS_FAILURES = ("404", "500")
_CANCEL_FAILURES = ("404", "500", "503")


# --- apiDefinition.swagger.json ---------------------------------------------------------------------


def swagger_document(
    host: str = PLACEHOLDER_HOST, scheme: str = "https", publisher: Publisher = PLACEHOLDER_PUBLISHER
) -> dict[str, Any]:
    """The Swagger 2.0 document of the connector, naming `host` (the connection overrides it)."""
    document = copy.deepcopy(_swagger_template(publisher))
    document["host"] = host
    document["schemes"] = [scheme]
    return document


@functools.cache
def _swagger_template(publisher: Publisher) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {
            "title": TITLE,
            "version": __version__,
            "description": _DESCRIPTION,
            "contact": {"name": publisher.name, "url": publisher.website, "email": publisher.email},
        },
        "host": PLACEHOLDER_HOST,
        "basePath": API_PREFIX,
        "schemes": ["https"],
        "consumes": [JSON],
        "produces": [JSON, PROBLEM_JSON],
        "paths": {
            "/chats": {"post": _create(CREATE_BY_EMAILS, "Create a chat", _BY_EMAILS, EMAILS_FORM)},
            MEMBERS_PATH: {
                "post": _create(
                    CREATE_WITH_MEMBERS, "Create a chat with members", _WITH_MEMBERS, MEMBERS_FORM
                )
            },
            "/chats/requests/{requestId}": {"get": _get_request()},
            "/chat-batches": {"post": _create_batch()},
            "/chat-batches/{batchId}": {
                "get": _batch_operation(GET_BATCH, "Get a chat batch", _GET_BATCH, _BATCH_ACCEPTED),
                "delete": _batch_operation(
                    CANCEL_BATCH, "Cancel a chat batch", _CANCEL_BATCH, _BATCH_CANCELLING
                ),
            },
        },
        "definitions": _definitions(),
        "securityDefinitions": {},
        "security": [],
        "tags": [],
        "x-ms-connector-metadata": [
            {"propertyName": "Website", "propertyValue": publisher.website},
            {"propertyName": "Privacy policy", "propertyValue": publisher.privacy_policy},
            {"propertyName": "Categories", "propertyValue": ";".join(publisher.categories)},
        ],
    }


def _create(operation_id: str, summary: str, description: str, form: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "x-ms-visibility": "important",
        "parameters": [
            {
                "name": "body",
                "in": "body",
                "required": True,
                "x-ms-summary": "Chat",
                "description": "Who is in the chat and what it is called.",
                "schema": {"$ref": f"#/definitions/{form}"},
            },
            _idempotency_key(
                "A new GUID per intended chat: a retry with the same key returns the same chat instead "
                "of a second one."
            ),
            {
                "name": PREFER_HEADER,
                "in": "header",
                "required": False,
                "type": "string",
                "enum": list(openapi.PREFER_VALUES),
                "x-ms-enum-values": [
                    {"value": value, "displayName": _prefer_name(value)} for value in openapi.PREFER_VALUES
                ],
                "x-ms-summary": "Answer mode",
                "x-ms-visibility": "advanced",
                "description": "How long the service holds the request before it answers that the chat "
                "is still being created. By default it waits 20 seconds.",
            },
        ],
        "responses": {
            "201": {"description": _SUCCESS, "schema": {"$ref": "#/definitions/ChatResult"}},
            "200": {"description": _REUSED, "schema": {"$ref": "#/definitions/ChatResult"}},
            "202": _accepted(),
            **{status: _problem(status) for status in _CREATE_FAILURES},
        },
    }


def _idempotency_key(description: str) -> dict[str, Any]:
    """The optional Idempotency-Key header, shown among the action's advanced parameters."""
    return {
        "name": IDEMPOTENCY_KEY_HEADER,
        "in": "header",
        "required": False,
        "type": "string",
        "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$",
        "x-ms-summary": "Idempotency key",
        "x-ms-visibility": "advanced",
        "description": description,
    }


def _prefer_name(value: str) -> str:
    seconds = value.removeprefix("wait=")
    return _ENUM_NAMES.get(value) or f"Wait up to {seconds} seconds"


def _get_request() -> dict[str, Any]:
    return {
        "operationId": GET_REQUEST,
        "summary": "Get the outcome of a chat request",
        "description": _GET_REQUEST,
        "x-ms-visibility": "internal",
        "parameters": [
            {
                "name": "requestId",
                "in": "path",
                "required": True,
                "type": "string",
                "pattern": f"^{REQUEST_ID_PATTERN}$",
                "x-ms-summary": "Request ID",
                "x-ms-url-encoding": "single",
                "description": "The request ID at the end of the status URL.",
            }
        ],
        "responses": {
            "200": {"description": _SUCCESS, "schema": {"$ref": "#/definitions/ChatResult"}},
            "202": _accepted(),
            **{status: _problem(status) for status in _STATUS_FAILURES},
        },
    }


def _problem(status: str) -> dict[str, Any]:
    """A failure, described from the problem catalogue in plain sentences."""
    answer: dict[str, Any] = {
        "description": openapi.problems_described(int(status), "{title}: {meaning} {action}", " ")
    }
    if status in _PROBLEMS_WITH_SCHEMA:
        answer["schema"] = {"$ref": "#/definitions/ProblemDetails"}
    return answer


def _create_batch() -> dict[str, Any]:
    return {
        "operationId": CREATE_BATCH,
        "summary": "Create chats in bulk",
        "description": _IN_BULK,
        "x-ms-visibility": "important",
        "parameters": [
            {
                "name": "body",
                "in": "body",
                "required": True,
                "x-ms-summary": "Chats",
                "description": "The chats to open, for example the output of a Select over a table's rows.",
                "schema": {"$ref": f"#/definitions/{BATCH_FORM}"},
            },
            _idempotency_key(
                "A new GUID per intended batch: a retry with the same key and the same chats returns the "
                "same batch instead of making its chats again."
            ),
        ],
        "responses": {
            "200": {"description": _BATCH_ENDED, "schema": {"$ref": "#/definitions/BatchStatus"}},
            "202": _accepted(_BATCH_ACCEPTED, "Where the batch's results are read."),
            **{status: _problem(status) for status in _BATCH_FAILURES},
        },
    }


def _batch_operation(operation_id: str, summary: str, description: str, accepted: str) -> dict[str, Any]:
    """Get or cancel a batch by its ID: advanced, for runs that store the ID and act on it later."""
    failures = _CANCEL_FAILURES if operation_id == CANCEL_BATCH else _BATCH_STATUS_FAILURES
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "x-ms-visibility": "advanced",
        "parameters": [
            {
                "name": "batchId",
                "in": "path",
                "required": True,
                "type": "string",
                "pattern": f"^{REQUEST_ID_PATTERN}$",
                "x-ms-summary": "Batch ID",
                "x-ms-url-encoding": "single",
                "description": "The Batch ID that Create chats in bulk returned.",
            }
        ],
        "responses": {
            "200": {"description": _BATCH_ENDED, "schema": {"$ref": "#/definitions/BatchStatus"}},
            "202": _accepted(accepted, "Where the batch's results are read."),
            **{status: _problem(status) for status in failures},
        },
    }


def _accepted(
    description: str = _ACCEPTED, location: str = "Where the outcome of the request is read."
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            LOCATION_HEADER: {
                "type": "string",
                "format": "uri",
                "x-ms-summary": "Status URL",
                "description": location,
            },
            RETRY_AFTER_HEADER: {
                "type": "integer",
                "x-ms-summary": "Retry after",
                "description": "Seconds to wait before reading the status URL.",
            },
        },
    }


def _definitions() -> dict[str, Any]:
    schemas = openapi.component_schemas("#/definitions/{model}")
    request = schemas["ChatRequest"]
    definitions = {form: _form(form, request) for form in FORMS}
    for name in (
        "Member",
        "TeamsApp",
        "AppPermission",
        "ChatResult",
        "ChatResultMember",
        "ProblemDetails",
        "FieldErrorDetail",
        "GraphErrorDetail",
        "BatchStatus",
        "BatchItemResult",
    ):
        definitions[name] = _definition(name, schemas[name])
    definitions[BATCH_FORM] = _batch_form(schemas["BatchRequest"])
    return definitions


def _batch_form(batch: dict[str, Any]) -> dict[str, Any]:
    """The bulk action's body: BatchRequest, each item in the emails form of "Create a chat"."""
    chats = {**batch["properties"]["chats"], "items": {"$ref": f"#/definitions/{EMAILS_FORM}"}}
    definition = _definition(BATCH_FORM, {**batch, "properties": {"chats": chats}})
    definition["x-ms-summary"] = "Chats in bulk"
    definition["description"] = "The chats to open, each with its members' emails and its topic."
    definition["properties"]["chats"]["description"] = (
        "One item per chat, each with emails (separated by semicolons) and optionally topic, guests, "
        f"chatType and reuseExisting; at most {BATCH_MAX_ITEMS} items unless the app is set otherwise."
    )
    return definition


def _form(form: str, request: dict[str, Any]) -> dict[str, Any]:
    """One action's body: the fields of ChatRequest it offers, with its required ones."""
    fields = {name: request["properties"][name] for name in FORMS[form]}
    definition = _definition(form, {**request, "properties": fields})
    definition["x-ms-summary"], definition["description"] = _FORM_TITLES[form]
    definition["required"] = REQUIRED[form]
    for name in REQUIRED[form]:
        definition["properties"][name].pop("x-nullable", None)
    return definition


def _definition(model: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON Schema as a Swagger 2.0 definition, each field with its summary and visibility."""
    definition = _swagger_node({key: value for key, value in schema.items() if key not in _NOT_IN_CONNECTOR})
    definition["properties"] = {
        name: _field(model, name, field) for name, field in schema.get("properties", {}).items()
    }
    return definition


def _field(model: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if name in _STRING_FORMS and model == EMAILS_FORM:
        schema = {
            **schema,
            "anyOf": [alt for alt in schema["anyOf"] if alt.get("type") in ("string", "null")],
        }
    field = _swagger_node(schema)
    if model in FORMS and name in _DESCRIPTIONS:
        field["description"] = _DESCRIPTIONS[name]
    if "x-ms-summary" not in field or "description" not in field:
        raise ValueError(f"{model}.{name} needs a title and a description for flow builders")
    field["x-ms-visibility"] = "important" if name in _IMPORTANT.get(model, ()) else "advanced"
    return field


def _swagger_node(schema: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema 2020-12 node in Swagger 2.0's dialect: no unions, no null type, named choices."""
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
    if "enum" in node and all(value in _ENUM_NAMES for value in node["enum"]):
        node["x-ms-enum-values"] = [{"value": v, "displayName": _ENUM_NAMES[v]} for v in node["enum"]]
    if "items" in node:
        node["items"] = _swagger_node(node["items"])
    return node


@functools.lru_cache(maxsize=8)
def swagger_json(origin: str) -> str:
    """The Swagger 2.0 document as served at `origin`, with that host and scheme."""
    scheme, _, host = origin.partition("://")
    return openapi.dumps(swagger_document(host, scheme))
