"""The /_emulator control API: tests reset the emulator, shape its directory and inject faults.

Input is validated strictly (unknown fields are a 400) so that a misspelt test setup fails loudly
instead of silently testing the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from chatfn.emulator.directory import HOME_TENANT, User, display_name_for
from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.state import FaultRule, OperationsConfig, State

PREFIX = "/_emulator"


class ControlError(ValueError):
    """Invalid control input, answered 400 with its message."""


def _one_or_many(body: Any, what: str) -> list[dict[str, Any]]:
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ControlError(f"expected a {what} object or a non-empty list of them")
    return items


def _only(item: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ControlError(
            f"unknown {what} field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _text(item: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"'{name}' must be a non-empty string")
    return value


def _number(item: dict[str, Any], name: str, default: float | None) -> float | None:
    value = item.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"'{name}' must be a number >= 0")
    return value


def _parse_user(item: dict[str, Any]) -> User:
    _only(item, {"id", "userPrincipalName", "mail", "userType", "tenantId", "displayName"}, "user")
    user_id = _text(item, "id") or ""
    upn = _text(item, "userPrincipalName") or ""
    mail = _text(item, "mail", required=False)
    user_type = item.get("userType", "Member")
    if user_type not in ("Member", "Guest"):
        raise ControlError("'userType' must be 'Member' or 'Guest'")
    tenant = _text(item, "tenantId", required=False) or HOME_TENANT
    display_name = _text(item, "displayName", required=False) or display_name_for(upn, mail)
    return User(user_id, upn, mail, user_type, tenant, display_name)


def _parse_fault(item: dict[str, Any]) -> FaultRule:
    _only(item, {"method", "path", "status", "retryAfter", "count", "probability", "delay", "drop"}, "fault")
    status = item.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise ControlError("'status' must be an HTTP error status (400 to 599)")
    count = item.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ControlError("'count' must be an integer >= 1 (leave it out to fire forever)")
    retry_after = item.get("retryAfter")
    if retry_after is not None and not isinstance(retry_after, str):
        retry_after = _number(item, "retryAfter", None)
    probability = _number(item, "probability", 1.0)
    if probability is None or probability > 1:
        raise ControlError("'probability' must be between 0 and 1")
    drop = item.get("drop", False)
    if not isinstance(drop, bool):
        raise ControlError("'drop' must be true or false")
    if drop and status is not None:
        raise ControlError("a rule either drops the connection or answers with a status, not both")
    delay = _number(item, "delay", 0.0) or 0.0
    if status is None and not drop and not delay:
        raise ControlError("a rule needs 'status', 'drop' or 'delay'")
    method = _text(item, "method", required=False)
    return FaultRule(
        method=method.upper() if method else None,
        path=_text(item, "path", required=False) or "",
        status=status,
        retry_after=retry_after,
        count=count,
        probability=probability,
        delay=delay,
        drop=drop,
    )


def _fault_json(rule: FaultRule) -> dict[str, Any]:
    fields = asdict(rule)
    fields["retryAfter"] = fields.pop("retry_after")
    return fields


def _reset(state: State, _body: Any) -> Response:
    state.reset()
    return json_response(200, {"reset": True})


def _list_users(state: State, _body: Any) -> Response:
    return json_response(200, [user.control_json() for user in state.directory.all()])


def _add_users(state: State, body: Any) -> Response:
    users = [_parse_user(item) for item in _one_or_many(body, "user")]
    for user in users:
        try:
            state.directory.put(user)
        except ValueError as clash:
            raise ControlError(str(clash)) from None
    return json_response(201, [user.control_json() for user in users])


def _list_chats(state: State, _body: Any) -> Response:
    return json_response(
        200,
        [
            {
                "id": chat.id,
                "chatType": chat.chat_type,
                "topic": chat.topic,
                "members": [
                    {"userId": member.user.id, "roles": member.roles, "tenantId": member.user.tenant_id}
                    for member in chat.members
                ],
                "installedApps": [
                    {"teamsAppId": app.teams_app_id, "consentedPermissionSet": app.consented_permission_set}
                    for app in chat.installed_apps
                ],
            }
            for chat in state.chats.values()
        ],
    )


def _list_requests(state: State, _body: Any) -> Response:
    return json_response(200, [dict(entry) for entry in state.requests])


def _add_faults(state: State, body: Any) -> Response:
    rules = [_parse_fault(item) for item in _one_or_many(body, "fault rule")]
    state.faults.extend(rules)
    return json_response(201, [_fault_json(rule) for rule in state.faults])


def _clear_faults(state: State, _body: Any) -> Response:
    state.faults.clear()
    return json_response(200, [])


def _set_identity(state: State, body: Any) -> Response:
    if not isinstance(body, dict):
        raise ControlError('expected {"roles": [...]}')
    _only(body, {"roles"}, "identity")
    roles = body.get("roles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise ControlError("'roles' must be a list of strings")
    state.roles = list(roles)
    return json_response(200, {"roles": state.roles})


def _set_operations(state: State, body: Any) -> Response:
    """Fields left out keep their current value; /reset restores the defaults."""
    if not isinstance(body, dict):
        raise ControlError('expected {"polls": N, "result": "succeeded"|"failed", "retryAfter": null}')
    _only(body, {"polls", "result", "retryAfter"}, "operations")
    current = state.operations_config
    polls = body.get("polls", current.polls)
    if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
        raise ControlError("'polls' must be an integer >= 0")
    result = body.get("result", current.result)
    if result not in ("succeeded", "failed"):
        raise ControlError("'result' must be 'succeeded' or 'failed'")
    retry_after = _number(body, "retryAfter", current.retry_after)
    state.operations_config = OperationsConfig(polls, result, retry_after)
    return json_response(200, {"polls": polls, "result": result, "retryAfter": retry_after})


def _stats(state: State, _body: Any) -> Response:
    return json_response(
        200,
        {
            "connections": state.connections,
            "tokenRequests": state.token_requests,
            "graphRequests": state.graph_requests,
        },
    )


_HANDLERS: dict[str, dict[str, Callable[[State, Any], Response]]] = {
    "/reset": {"POST": _reset},
    "/users": {"GET": _list_users, "POST": _add_users},
    "/chats": {"GET": _list_chats},
    "/requests": {"GET": _list_requests},
    "/faults": {"POST": _add_faults, "DELETE": _clear_faults},
    "/identity": {"POST": _set_identity},
    "/operations": {"POST": _set_operations},
    "/stats": {"GET": _stats},
}


def is_control(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def handle(state: State, request: Request) -> Response:
    methods = _HANDLERS.get(request.path.removeprefix(PREFIX).rstrip("/"))
    if methods is None:
        return json_response(404, {"error": f"no control endpoint {request.path}"})
    handler = methods.get(request.method)
    if handler is None:
        return json_response(
            405,
            {"error": f"{request.method} is not allowed on {request.path}"},
            {"Allow": ", ".join(methods)},
        )
    try:
        body = request.json_body() if request.body else None
        with state.lock:
            return handler(state, body)
    except ValueError as invalid:  # ControlError, and a body that is not JSON
        return json_response(400, {"error": str(invalid)})
