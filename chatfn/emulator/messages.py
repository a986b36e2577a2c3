"""Requests and answers as plain values, so the surfaces never touch sockets; and Graph's error shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

# Graph's error codes for the statuses a fault or a rule answers with.
GRAPH_ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, str]  # decoded; a repeated name keeps its last value
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The path as it came on the wire, still percent-encoded (a raw `#` kept): OData keys are cut out
    # of it before they are decoded, as Graph does.
    raw_path: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_body(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_millis(moment: datetime) -> str:
    """Graph's timestamp form, e.g. 2020-12-04T23:10:28.510Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_micros(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def graph_headers(request: Request) -> dict[str, str]:
    """Graph's correlation headers; like Graph, client-request-id falls back to request-id."""
    return {
        "Content-Type": "application/json",
        "request-id": request.request_id,
        "client-request-id": request.header("client-request-id") or request.request_id,
    }


def graph_error(
    request: Request,
    status: int,
    message: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An answer in Graph's error shape, correlated with the request as Graph does."""
    correlation = graph_headers(request)
    payload = {
        "error": {
            "code": code or GRAPH_ERROR_CODES.get(status) or HTTPStatus(status).phrase.replace(" ", ""),
            "message": message,
            "innerError": {
                "date": utc_now().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": correlation["request-id"],
                "client-request-id": correlation["client-request-id"],
            },
        }
    }
    return json_response(status, payload, {**correlation, **(headers or {})})
