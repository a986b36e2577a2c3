"""Graph's front door for one call: the app's bucket for the kind of call, then the surface's answer.

Shared by calls that come alone and calls inside a `$batch`, because Graph counts each request of a
batch against its own limit (https://learn.microsoft.com/graph/json-batching#batch-size-limitations).
"""

from __future__ import annotations

from chatfn.emulator import graph
from chatfn.emulator.messages import Request, Response, graph_error
from chatfn.emulator.odata_path import segments
from chatfn.emulator.refusals import GraphError
from chatfn.emulator.state import State
from chatfn.emulator.throttle import CHATS_READ, CHATS_WRITE, DIRECTORY, Call, header_value, resource_units


def call_kind(request: Request) -> Call:
    """Teams calls (`/chats...`, `/users/{id}/chats`) by method, and user lookups; nothing else is limited."""
    try:
        found = segments(request)
    except GraphError:
        return Call(None)  # no resource at all: Graph refuses it before a service counts it
    names = [name for name, _ in found]
    if names[:1] == ["chats"] or names[:2] == ["users", "chats"]:
        bucket = CHATS_READ if request.method == "GET" else CHATS_WRITE
        return Call(bucket, chat_id=found[0][1] if names[0] == "chats" else None)
    if names[:1] == ["users"]:
        listing = len(found) == 1 and found[0][1] is None and request.method == "GET"
        return Call(DIRECTORY, resource_units=resource_units(request, listing=listing))
    return Call(None)


def _wait(state: State, request: Request, call: Call) -> float | None:
    with state.lock:
        if state.throttle is None:
            return None
        token = state.token_of(request)
        return state.throttle.take(token.client_id if token is not None else "", call)


def serve(state: State, request: Request) -> Response:
    """429 when the app's bucket for this kind of call is empty, saying in Retry-After when a token is
    free again; else Graph's answer. Graph throttles per app (the token's client) and tenant."""
    call = call_kind(request)
    wait = _wait(state, request, call)
    if wait is not None:
        return graph_error(
            request,
            429,
            "Too many requests: the application's request rate for this tenant is over its limit.",
            "TooManyRequests",
            {"Retry-After": header_value(wait)},
        )
    response = graph.handle(state, request)
    if call.bucket == DIRECTORY:
        # The identity service says what an answered call cost (throttling-limits, "Regular responses").
        response.headers["x-ms-resource-unit"] = str(call.resource_units)
    return response
