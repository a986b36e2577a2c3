"""The /_emulator control API: tests reset the emulator, shape its directory, inject faults, read
the request log, and set the knobs of settings_control. Input is validated strictly (control_input)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from chatfn.emulator import settings_control
from chatfn.emulator.control_input import ControlError, flag, number, one_or_many, only, text
from chatfn.emulator.directory import HOME_TENANT, User, display_name_for
from chatfn.emulator.faults import HTTP_DATE_FORMS
from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.state import FaultRule, State

PREFIX = "/_emulator"


def _parse_user(item: dict[str, Any]) -> User:
    only(item, {"id", "userPrincipalName", "mail", "userType", "tenantId", "displayName"}, "user")
    user_id = text(item, "id") or ""
    upn = text(item, "userPrincipalName") or ""
    mail = text(item, "mail", required=False)
    user_type = item.get("userType", "Member")
    if user_type not in ("Member", "Guest"):
        raise ControlError("'userType' must be 'Member' or 'Guest'")
    tenant = text(item, "tenantId", required=False) or HOME_TENANT
    display_name = text(item, "displayName", required=False) or display_name_for(upn, mail)
    return User(user_id, upn, mail, user_type, tenant, display_name)


def _parse_fault(item: dict[str, Any]) -> FaultRule:
    only(
        item,
        {
            "method", "path", "status", "retryAfter", "retryAfterDate", "count", "probability",
            "delay", "drop", "after", "code", "message", "body",
        },
        "fault",
    )  # fmt: skip
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
        retry_after = number(item, "retryAfter", None)
    retry_after_date = text(item, "retryAfterDate", required=False)
    if retry_after_date is not None and retry_after_date not in HTTP_DATE_FORMS:
        raise ControlError(f"'retryAfterDate' must be one of {', '.join(HTTP_DATE_FORMS)}")
    if retry_after_date is not None and (retry_after is None or isinstance(retry_after, str)):
        raise ControlError("'retryAfterDate' sends 'retryAfter' seconds as a date: give them as a number")
    probability = number(item, "probability", 1.0)
    if probability is None or probability > 1:
        raise ControlError("'probability' must be between 0 and 1")
    drop = flag(item, "drop")
    if drop and status is not None:
        raise ControlError("a rule either drops the connection or answers with a status, not both")
    delay = number(item, "delay", 0.0) or 0.0
    if status is None and not drop and not delay:
        raise ControlError("a rule needs 'status', 'drop' or 'delay'")
    after = flag(item, "after")
    if after and status is None and not drop:
        raise ControlError("an 'after' rule needs 'status' or 'drop': what the client gets instead")
    answer = {name: text(item, name, required=False) for name in ("code", "message", "body")}
    if status is None and any(answer.values()):
        raise ControlError("'code', 'message' and 'body' shape the answer of a rule with a 'status'")
    if answer["body"] is not None and (answer["code"] or answer["message"]):
        raise ControlError("'body' replaces the error JSON: give it or 'code'/'message', not both")
    method = text(item, "method", required=False)
    return FaultRule(
        method=method.upper() if method else None,
        path=text(item, "path", required=False) or "",
        status=status,
        retry_after=retry_after,
        retry_after_date=retry_after_date,
        count=count,
        probability=probability,
        delay=delay,
        drop=drop,
        after=after,
        code=answer["code"],
        message=answer["message"],
        body=answer["body"],
    )


def _fault_json(rule: FaultRule) -> dict[str, Any]:
    fields = asdict(rule)
    fields["retryAfter"] = fields.pop("retry_after")
    fields["retryAfterDate"] = fields.pop("retry_after_date")
    return fields


def _reset(state: State, _body: Any) -> Response:
    state.reset()
    return json_response(200, {"reset": True})


def _list_users(state: State, _body: Any) -> Response:
    return json_response(200, [user.control_json() for user in state.directory.all()])


def _add_users(state: State, body: Any) -> Response:
    users = [_parse_user(item) for item in one_or_many(body, "user")]
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
    rules = [_parse_fault(item) for item in one_or_many(body, "fault rule")]
    state.faults.extend(rules)
    return json_response(201, [_fault_json(rule) for rule in state.faults])


def _clear_faults(state: State, _body: Any) -> Response:
    state.faults.clear()
    return json_response(200, [])


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
    "/identity": {"POST": settings_control.set_identity},
    "/operations": {"POST": settings_control.set_operations},
    "/throttle": {"GET": settings_control.show_throttle, "POST": settings_control.set_throttle},
    "/consistency": {"POST": settings_control.set_consistency},
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
