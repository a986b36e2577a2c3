"""Every check of `POST /api/chats` and `POST /api/chat-batches` that needs nothing but the request
itself: who calls, the body's size, type and rules, the idempotency key, and `Prefer`. A request that
fails one is answered here, and reaches neither Graph nor storage."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import azure.functions as func

from chatfn import contract, problems
from chatfn.api.callers import CallerRefused, caller_of
from chatfn.api.json_body import parse_json_body
from chatfn.chats.batch import parse_batch_request
from chatfn.chats.spec import parse_chat_request
from chatfn.errors import FieldError, InvalidRequest
from chatfn.problems import Problem, invalid_request
from chatfn.requests.batches import BatchOrder
from chatfn.requests.driver import ChatOrder
from chatfn.settings import Settings

T = TypeVar("T")

# RFC 7240's wait is delta-seconds: 1*DIGIT, and RFC 5234's DIGIT is 0-9 alone (`\d` and `str.isdigit`
# also take other scripts' digits, such as Arabic-Indic U+0663, which `float` reads as 3).
_DELTA_SECONDS = re.compile(r"[0-9]{1,9}")


def chat_order(req: func.HttpRequest, settings: Settings) -> Problem | ChatOrder:
    """The checked `POST /api/chats`, or the problem that stops it here."""
    checked = _checked(req, settings, contract.MAX_BODY_BYTES, parse_chat_request)
    if isinstance(checked, Problem):
        return checked
    wait = wait_seconds(req.headers.get(contract.PREFER_HEADER), settings.sync_wait_seconds)
    return ChatOrder(checked.body, checked.scope, checked.key, wait)


def batch_order(req: func.HttpRequest, settings: Settings) -> Problem | BatchOrder:
    """The checked `POST /api/chat-batches`: every item checked as `POST /api/chats` checks one."""
    checked = _checked(
        req,
        settings,
        settings.batch_max_bytes,
        lambda payload: parse_batch_request(payload, settings.batch_max_items),
    )
    if isinstance(checked, Problem):
        return checked
    return BatchOrder(checked.body, checked.scope, checked.key)


@dataclass(frozen=True)
class _Checked(Generic[T]):
    body: T
    scope: str
    key: str | None


def _checked(
    req: func.HttpRequest, settings: Settings, max_bytes: int, parse: Callable[[Any], T]
) -> Problem | _Checked[T]:
    """Who calls, the body's size and type, the idempotency key, and the body's own rules (`parse`)."""
    try:
        caller = caller_of(req.headers, settings.caller_auth)
    except CallerRefused as refused:
        return refused.problem_type.problem(refused.detail)
    body = req.get_body()
    if len(body) > max_bytes:
        return problems.BODY_TOO_LARGE.problem(f"At most {max_bytes} bytes.")
    content_type = req.headers.get("Content-Type", contract.JSON).split(";")[0].strip().lower()
    if content_type != contract.JSON and not content_type.endswith("+json"):
        return problems.UNSUPPORTED_MEDIA_TYPE.problem(f"Send Content-Type: {contract.JSON}.")
    errors: list[FieldError] = []
    key = req.headers.get(contract.IDEMPOTENCY_KEY_HEADER)
    if key is not None and "," in key:  # Azure joins a repeated header with commas
        errors.append(FieldError(contract.IDEMPOTENCY_KEY_HEADER, "give the header once, without commas"))
    elif key is not None and not contract.IDEMPOTENCY_KEY.fullmatch(key):
        errors.append(
            FieldError(contract.IDEMPOTENCY_KEY_HEADER, "must be 1 to 200 visible ASCII characters")
        )
    try:
        parsed = parse(parse_json_body(body))
    except InvalidRequest as exc:
        errors.extend(exc.errors)
    if errors:
        return invalid_request(errors)
    return _Checked(parsed, caller.scope, key)


def wait_seconds(prefer: str | None, default: float) -> float:
    """How long to wait for Graph's operation (RFC 7240): `respond-async` alone answers at once,
    `wait=N` (delta-seconds, ASCII digits only; parameters after `;` ignored) waits up to N (capped).
    Of two `wait`s only the first counts (RFC 7240 section 2: "If a particular preference is specified
    more than once, only the first instance is to be considered"), even when it cannot be read."""
    wait: float | None = None
    respond_async = False
    wait_named = False
    for preference in (prefer or "").split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        name, value = name.strip().lower(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "respond-async":
            respond_async = True
        elif name == "wait" and not wait_named:
            wait_named = True
            if _DELTA_SECONDS.fullmatch(value):
                wait = float(value)
    if wait is None:
        wait = 0.0 if respond_async else default
    return max(0.0, min(wait, contract.MAX_PREFER_WAIT))
