"""What an injected fault answers: Graph's error JSON, the identity endpoint's own shape, or raw text
(a gateway's HTML page, which a client that expects JSON must survive)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from chatfn.emulator import identity
from chatfn.emulator.messages import Request, Response, graph_error
from chatfn.emulator.state import FaultRule


def _raw(status: int, body: str, headers: dict[str, str]) -> Response:
    media_type = "text/html" if body.lstrip().startswith("<") else "text/plain"
    return Response(status, body.encode(), {"Content-Type": f"{media_type}; charset=utf-8", **headers})


# The forms of HTTP-date a recipient must accept (RFC 9110 section 5.6.7), and IMF-fixdate with RFC 5322's
# "-0000" zone, as senders write them: English names, whatever the machine's locale.
HTTP_DATE_FORMS = ("IMF-fixdate", "rfc850", "asctime", "-0000")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: datetime, form: str) -> str:
    """`when` (UTC) as an HTTP date of `form`: Sun, 06 Nov 1994 08:49:37 GMT; Sunday, 06-Nov-94
    08:49:37 GMT; Sun Nov  6 08:49:37 1994; Sun, 06 Nov 1994 08:49:37 -0000."""
    day, month, time = _DAYS[when.weekday()], _MONTHS[when.month - 1], when.strftime("%H:%M:%S")
    if form == "rfc850":
        return f"{day}, {when.day:02d}-{month}-{when.year % 100:02d} {time} GMT"
    if form == "asctime":
        return f"{day[:3]} {month} {when.day:2d} {time} {when.year}"
    zone = "-0000" if form == "-0000" else "GMT"
    return f"{day[:3]}, {when.day:02d} {month} {when.year} {time} {zone}"


def _retry_after(rule: FaultRule) -> dict[str, str]:
    """The rule's `Retry-After`: as given, or its seconds from now as a date (rounded up to a second)."""
    if rule.retry_after is None:
        return {}
    if rule.retry_after_date is None or isinstance(rule.retry_after, str):
        return {"Retry-After": str(rule.retry_after)}
    now = datetime.now(UTC)
    when = datetime.fromtimestamp(math.ceil(now.timestamp() + rule.retry_after), UTC)
    return {"Retry-After": http_date(when, rule.retry_after_date)}


def fault_response(request: Request, rule: FaultRule, status: int) -> Response:
    headers = _retry_after(rule)
    if rule.body is not None:
        return _raw(status, rule.body, headers)
    message = rule.message or f"Injected fault: {status} for {request.method} {request.path}."
    if request.path == identity.PATH:
        answer = identity.refusal(status, message)
        answer.headers.update(headers)
        return answer
    return graph_error(request, status, message, rule.code, headers)
