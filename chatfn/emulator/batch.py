"""JSON batching, `POST /v1.0/$batch` (https://learn.microsoft.com/graph/json-batching): up to 20
requests in one round trip, each routed, authorized (by the outer request's token) and throttled as
if it had come alone.

A batch saves round trips, not budget: each request inside takes from its own kind's bucket and may
get its own 429 while the others go ahead. Faults stand for the network, so they match the outer
request only. A malformed batch is refused whole (400) before any request inside is carried out.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from chatfn.emulator import front_door, graph
from chatfn.emulator.messages import Request, Response, graph_error, graph_headers, json_response
from chatfn.emulator.refusals import GraphError, bad_request
from chatfn.emulator.state import State

PATH = "/v1.0/$batch"
MAX_REQUESTS = 20
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_WRITES = ("POST", "PATCH", "PUT")
_FIELDS = ("id", "method", "url", "headers", "body", "dependsOn")

_random = random.SystemRandom()


@dataclass(frozen=True)
class _Item:
    """One request of the batch, checked."""

    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    depends_on: tuple[str, ...]  # keys of other items

    @property
    def key(self) -> str:
        """Ids are not case-sensitive (json-batching: "id ... Not case-sensitive. Must be unique")."""
        return self.id.lower()


def _headers(request_id: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    ):
        raise bad_request(f"The headers of request '{request_id}' must be an object of strings.")
    return value


def _body(request_id: str, value: Any) -> bytes:
    """A JSON value as JSON text; a string is base64, as json-batching allows for binary bodies."""
    if not isinstance(value, str):
        return json.dumps(value).encode()
    try:
        return base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raise bad_request(f"The body of request '{request_id}' is a string but not base64.") from None


def _item(value: Any) -> _Item:
    if not isinstance(value, dict):
        raise bad_request("Invalid batch payload format: each request must be a JSON object.")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise bad_request(f"Invalid batch payload format: unknown property '{unknown[0]}' in a request.")
    request_id, method, url = value.get("id"), value.get("method"), value.get("url")
    if not isinstance(request_id, str) or not request_id:
        raise bad_request("Invalid batch payload format: every request needs an 'id' string.")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise bad_request(f"Request '{request_id}' needs a 'method' among {', '.join(METHODS)}.")
    if not isinstance(url, str) or not url:
        raise bad_request(f"Request '{request_id}' needs a 'url'.")
    if urlsplit(url).scheme or url.startswith("//"):
        raise bad_request(f"The url of request '{request_id}' must be relative to the version, like /users.")
    headers = _headers(request_id, value.get("headers", {}))
    has_body = value.get("body") is not None
    if (has_body or method.upper() in _WRITES) and not (
        has_body and any(name.lower() == "content-type" for name in headers)
    ):
        # Graph's own words for a body without Content-Type, or a write without a body.
        raise bad_request(f"Write request id : {request_id} does not contain Content-Type header or body.")
    depends_on = value.get("dependsOn", [])
    if not isinstance(depends_on, list) or not all(isinstance(other, str) for other in depends_on):
        raise bad_request(f"The dependsOn of request '{request_id}' must be a list of request ids.")
    return _Item(
        request_id,
        method.upper(),
        url,
        headers,
        _body(request_id, value["body"]) if has_body else b"",
        tuple(other.lower() for other in depends_on),
    )


def _items(request: Request) -> list[_Item]:
    """The batch's requests, checked as a whole; GraphError 400 for the first thing wrong."""
    try:
        body = request.json_body()
    except ValueError:
        body = None
    if not isinstance(body, dict) or set(body) != {"requests"} or not isinstance(body["requests"], list):
        raise bad_request('Invalid batch payload format: expected {"requests": [...]}.')
    if not body["requests"]:
        raise bad_request("Invalid batch payload format: the batch holds no requests.")
    if len(body["requests"]) > MAX_REQUESTS:
        # Graph's words; the limit is documented in json-batching's "Batch size limitations".
        raise bad_request(
            f"Number of requests inside batch exceeds the limit. A batch holds at most {MAX_REQUESTS}."
        )
    items = [_item(value) for value in body["requests"]]
    keys = [item.key for item in items]
    for item in items:
        if keys.count(item.key) > 1:
            raise bad_request(f"Batch request ids must be unique, whatever their case: '{item.id}' repeats.")
        for other in item.depends_on:
            if other not in keys or other == item.key:
                raise bad_request(f"Request '{item.id}' depends on '{other}', not another request here.")
    return items


def _in_dependency_order(items: list[_Item]) -> list[_Item]:
    """Each request after those it depends on, else in the batch's order; a cycle is a 400."""
    ordered: list[_Item] = []
    placed: set[str] = set()
    while len(ordered) < len(items):
        ready = [i for i in items if i.key not in placed and all(o in placed for o in i.depends_on)]
        if not ready:
            raise bad_request("The dependsOn of the batch's requests form a cycle.")
        ordered.extend(ready)
        placed.update(item.key for item in ready)
    return ordered


def _inner_request(outer: Request, item: _Item) -> Request:
    """The request as if it came alone: its url under /v1.0, the outer request's token and host."""
    parts = urlsplit(item.url)
    raw_path = "/v1.0" + ("" if parts.path.startswith("/") else "/") + parts.path
    headers = {name.lower(): text for name, text in item.headers.items()}
    headers.update(host=outer.header("Host") or "", authorization=outer.header("Authorization") or "")
    return Request(
        method=item.method,
        path=unquote(raw_path),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=item.body,
        raw_path=raw_path,
    )


def _answer(request_id: str, response: Response) -> dict[str, Any]:
    return {
        "id": request_id,
        "status": response.status,
        "headers": dict(response.headers),
        "body": json.loads(response.body) if response.body else None,
    }


def _run(state: State, outer: Request, item: _Item, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Carry one request out, logged as Graph calls are; one whose dependency failed is not sent (424)."""
    inner = _inner_request(outer, item)
    failed = next((other for other in item.depends_on if not 200 <= done[other]["status"] < 300), None)
    if failed is not None:
        message = f"Request '{item.id}' was not run: request '{failed}', which it depends on, failed."
        return _answer(item.id, graph_error(inner, 424, message, "FailedDependency"))
    entry = state.log_request(inner, batch_request_id=item.id)
    response = front_door.serve(state, inner)
    state.settle_request(entry, response.status)
    return _answer(item.id, response)


def handle(state: State, request: Request) -> Response:
    """200 with every request's answer once the batch is well formed and its token valid."""
    if request.method != "POST":
        return graph_error(request, 405, f"The method {request.method} is not allowed on $batch; use POST.")
    try:
        graph.authenticate(state, request)
        items = _in_dependency_order(_items(request))
    except GraphError as refusal:
        return graph_error(request, refusal.status, refusal.message, refusal.code)
    done: dict[str, dict[str, Any]] = {}
    for item in items:
        done[item.key] = _run(state, request, item, done)
    answers = list(done.values())
    # "Individual responses might appear in a different order than the requests": clients use `id`.
    _random.shuffle(answers)
    return json_response(200, {"responses": answers}, graph_headers(request))
