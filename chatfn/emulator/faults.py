"""What an injected fault answers: Graph's error JSON, the identity endpoint's own shape, or raw text
(a gateway's HTML page, which a client that expects JSON must survive)."""

from __future__ import annotations

from chatfn.emulator import identity
from chatfn.emulator.messages import Request, Response, graph_error
from chatfn.emulator.state import FaultRule


def _raw(status: int, body: str, headers: dict[str, str]) -> Response:
    media_type = "text/html" if body.lstrip().startswith("<") else "text/plain"
    return Response(status, body.encode(), {"Content-Type": f"{media_type}; charset=utf-8", **headers})


def fault_response(request: Request, rule: FaultRule, status: int) -> Response:
    headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
    if rule.body is not None:
        return _raw(status, rule.body, headers)
    message = rule.message or f"Injected fault: {status} for {request.method} {request.path}."
    if request.path == identity.PATH:
        answer = identity.refusal(status, message)
        answer.headers.update(headers)
        return answer
    return graph_error(request, status, message, rule.code, headers)
