"""The Graph surface under /v1.0: chats, their async operations and users, with Graph's checks;
the chat lists are in chat_lists, a chat's installed apps in installed_apps, their JSON in
chat_json. Graph authorizes by the token's roles.

Validation follows docs/graph.md: the body's shape first (400), then member counts and
topic (400), then directory and catalog lookups (404), then the role rules and duplicates (400).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from chatfn.emulator import chat_lists, installed_apps
from chatfn.emulator.chat_json import (
    GRAPH_V1,
    MEMBER_TYPE,
    chat_entity,
    chat_resource,
    installed_app_json,
    member_json,
)
from chatfn.emulator.directory import HOME_TENANT, User, catalog_app
from chatfn.emulator.messages import (
    Request,
    Response,
    graph_error,
    graph_headers,
    iso_millis,
    json_response,
    utc_now,
)
from chatfn.emulator.odata_path import SQUOTE, odata_literal, segments
from chatfn.emulator.refusals import GraphError, bad_request
from chatfn.emulator.state import Chat, InstalledApp, Member, Operation, State, Token
from chatfn.emulator.user_filter import FilterRefused, parse_user_filter

GRAPH_RESOURCE = "https://graph.microsoft.com"
MAX_GROUP_MEMBERS = 250

CREATE_CHAT_ROLES = ("Chat.Create", "Chat.ReadWrite.All")
READ_CHAT_ROLES = ("Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All")
READ_USER_ROLES = ("User.Read.All", "Directory.Read.All")

USER_FIELDS = ("id", "displayName", "userPrincipalName", "mail", "userType")

_USER_BIND = re.compile(
    rf"https://graph\.microsoft\.com/v1\.0/users\({SQUOTE}(?P<key>(?:{SQUOTE}{SQUOTE}|(?!{SQUOTE})[^()])*){SQUOTE}\)",
    re.IGNORECASE,
)
_APP_BIND = re.compile(
    r"https://graph\.microsoft\.com/v1\.0/appCatalogs/teamsApps/(?P<id>[^/?#]+)", re.IGNORECASE
)


def handle(state: State, request: Request) -> Response:
    """Answer one request under /v1.0; every answer carries Graph's correlation headers."""
    try:
        with state.lock:
            response = _dispatch(state, request)
    except GraphError as refusal:
        return graph_error(request, refusal.status, refusal.message, refusal.code)
    response.headers.update(graph_headers(request))
    return response


# --- routing and auth --------------------------------------------------------------------------

Handler = Callable[[State, Request, list[str]], Response]


@dataclass(frozen=True)
class _Route:
    shape: tuple[tuple[str, bool], ...]  # (segment name, has a key)
    method: str
    roles: tuple[str, ...]
    handler: Handler


def authenticate(state: State, request: Request) -> Token:
    """The issued token the request carries; GraphError 401 when there is none Graph would accept."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "Access token is empty.")
    issued = state.token_of(request)
    if issued is None:
        raise GraphError(401, "Access token validation failure.")
    if issued.resource.rstrip("/").lower() != GRAPH_RESOURCE:
        raise GraphError(401, "Access token validation failure. Invalid audience.")
    if issued.expires_on <= utc_now().timestamp():
        raise GraphError(401, "Lifetime validation failed, the token is expired.")
    if issued.revoked:
        raise GraphError(401, "Access token has been revoked.")
    return issued


def _authorize(token: Token, needed: tuple[str, ...]) -> None:
    """Graph reads the roles from the token, so a role granted or removed later needs a new token."""
    if not set(needed) & set(token.roles):
        raise GraphError(
            403,
            f"Missing role permissions on the request. API requires one of '{', '.join(needed)}'. "
            f"Roles on the request '{', '.join(token.roles)}'.",
        )


def _dispatch(state: State, request: Request) -> Response:
    token = authenticate(state, request)
    found = segments(request)
    shape = tuple((name, key is not None) for name, key in found)
    routes = [route for route in ROUTES if route.shape == shape]
    if not routes:
        raise GraphError(404, f"Resource not found for the segment '{request.path.removeprefix('/v1.0')}'.")
    route = next((route for route in routes if route.method == request.method), None)
    if route is None:
        raise GraphError(405, f"The method {request.method} is not allowed on this resource.")
    _authorize(token, route.roles)
    return route.handler(state, request, [key for _, key in found if key is not None])


# --- POST /chats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MemberSpec:
    key: str
    tenant_id: str
    roles: list[str]


@dataclass(frozen=True)
class _AppSpec:
    app_id: str
    consented_permission_set: dict[str, Any] | None


def _object(value: Any, what: str, allowed: set[str], odata_type: str | None) -> dict[str, Any]:
    """A JSON object with only the declared properties and, if it names one, the right @odata.type."""
    if not isinstance(value, dict):
        raise bad_request(f"Invalid {what}: a JSON object is expected.")
    for name in value:
        if name not in allowed:
            raise bad_request(
                f"The property '{name}' does not exist on type 'microsoft.graph.{what}'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )
    declared = value.get("@odata.type")
    if "@odata.type" in value and declared != odata_type:
        raise bad_request(
            f"A type named '{declared}' could not be resolved by the model. When a model is available, "
            "each type name must resolve to a valid type."
        )
    return value


def _member_spec(value: Any) -> _MemberSpec:
    member = _object(
        value,
        "aadUserConversationMember",
        {"@odata.type", "roles", "user@odata.bind", "tenantId"},
        MEMBER_TYPE,
    )
    if "@odata.type" not in member:
        raise bad_request(f"Each member must have '@odata.type': '{MEMBER_TYPE}'.")
    roles = member.get("roles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise bad_request("A member's roles must be a list of strings.")
    for role in roles:
        if role not in ("owner", "guest"):
            raise bad_request(f"The role '{role}' is not valid; a member's roles are 'owner' or 'guest'.")
    bind = member.get("user@odata.bind")
    if isinstance(bind, str) and "#" in bind:
        odata_literal(bind)  # refuses it: a raw '#' cuts the bind's URL short, as Graph reads it
    match = _USER_BIND.fullmatch(bind) if isinstance(bind, str) else None
    if match is None or not match.group("key"):
        raise bad_request(f"Invalid user@odata.bind '{bind}': expected '{GRAPH_V1}/users('<id or UPN>')'.")
    tenant = member.get("tenantId", HOME_TENANT)
    if not isinstance(tenant, str) or not tenant:
        raise bad_request("A member's tenantId must be a non-empty string.")
    return _MemberSpec(odata_literal(match.group("key")), tenant, roles)


def _permission_set(value: Any) -> dict[str, Any]:
    permission_set = _object(
        value,
        "teamsAppPermissionSet",
        {"@odata.type", "resourceSpecificPermissions"},
        "#microsoft.graph.teamsAppPermissionSet",
    )
    permissions = permission_set.get("resourceSpecificPermissions", [])
    if not isinstance(permissions, list):
        raise bad_request("resourceSpecificPermissions must be a list.")
    for item in permissions:
        permission = _object(
            item,
            "teamsAppResourceSpecificPermission",
            {"@odata.type", "permissionValue", "permissionType"},
            "#microsoft.graph.teamsAppResourceSpecificPermission",
        )
        if not isinstance(permission.get("permissionValue"), str) or not permission["permissionValue"]:
            raise bad_request("A resource-specific permission needs a permissionValue.")
        if permission.get("permissionType") not in ("application", "delegated"):
            raise bad_request(
                "A resource-specific permission's permissionType is 'application' or 'delegated'."
            )
    return permission_set


def _app_spec(value: Any) -> _AppSpec:
    app = _object(
        value,
        "teamsAppInstallation",
        {"@odata.type", "teamsApp@odata.bind", "consentedPermissionSet"},
        "#microsoft.graph.teamsAppInstallation",
    )
    bind = app.get("teamsApp@odata.bind")
    match = _APP_BIND.fullmatch(unquote(bind)) if isinstance(bind, str) else None
    if match is None:
        raise bad_request(
            f"Invalid teamsApp@odata.bind '{bind}': expected '{GRAPH_V1}/appCatalogs/teamsApps/<id>'."
        )
    permissions = app.get("consentedPermissionSet")
    return _AppSpec(match.group("id"), None if permissions is None else _permission_set(permissions))


def _chat_request(request: Request) -> tuple[str, str | None, list[_MemberSpec], list[_AppSpec]]:
    """The body's shape and the rules that need no lookup; GraphError 400 on the first broken one."""
    try:
        body = request.json_body()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
            "is of valid JSON format."
        )
    chat = _object(
        body,
        "chat",
        {"@odata.type", "chatType", "topic", "members", "installedApps"},
        "#microsoft.graph.chat",
    )
    chat_type = chat.get("chatType")
    if chat_type not in ("oneOnOne", "group"):
        raise bad_request(f"chatType must be 'oneOnOne' or 'group', not {chat_type!r}.")
    topic = chat.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise bad_request("topic must be a string.")
    raw_members = chat.get("members")
    if not raw_members:
        raise bad_request("Chat members cannot be null.")
    if not isinstance(raw_members, list):
        raise bad_request("members must be a list.")
    members = [_member_spec(member) for member in raw_members]
    raw_apps = chat.get("installedApps") or []
    if not isinstance(raw_apps, list):
        raise bad_request("installedApps must be a list.")
    apps = [_app_spec(app) for app in raw_apps]

    if chat_type == "oneOnOne" and len(members) != 2:
        raise bad_request(f"A oneOnOne chat must have exactly 2 members, not {len(members)}.")
    if chat_type == "group" and not 2 <= len(members) <= MAX_GROUP_MEMBERS:
        raise bad_request(f"A group chat must have 2 to {MAX_GROUP_MEMBERS} members, not {len(members)}.")
    if chat_type == "oneOnOne" and topic is not None:
        raise bad_request("A topic can only be set on a group chat.")
    if len(apps) > 1:
        raise bad_request("Only one app can be installed when a chat is created.")
    return chat_type, topic, members, apps


def _resolve_member(state: State, spec: _MemberSpec) -> tuple[User, list[str]]:
    user = state.directory.find(spec.tenant_id, spec.key)
    if user is None:
        raise GraphError(404, f"User '{spec.key}' was not found in tenant '{spec.tenant_id}'.")
    return user, spec.roles


def _check_roles(user: User, roles: list[str]) -> None:
    if user.tenant_id.lower() != HOME_TENANT:
        if roles != ["owner"]:
            raise bad_request(f"User '{user.id}' of tenant '{user.tenant_id}' must have the roles ['owner'].")
    elif user.is_guest and roles != ["guest"]:
        raise bad_request(f"User '{user.id}' is a guest of the tenant and must have the roles ['guest'].")
    elif not user.is_guest and "guest" in roles:
        raise bad_request(f"User '{user.id}' is not a guest user; the role 'guest' is for guest users only.")


def _membership_id(chat_id: str, user: User) -> str:
    return base64.b64encode(f"0#1#{user.tenant_id}##{chat_id}##{user.id}".encode()).decode()


def _installation_id(chat_id: str, app_id: str) -> str:
    """Graph's teamsAppInstallation id in a chat: base64 of `<chat id>##<app id>`, as the examples of
    https://learn.microsoft.com/graph/api/chat-list-installedapps decode; not the app's id."""
    return base64.b64encode(f"{chat_id}##{app_id}".encode()).decode()


def _create_chat(state: State, request: Request, _keys: list[str]) -> Response:
    chat_type, topic, member_specs, app_specs = _chat_request(request)
    resolved = [_resolve_member(state, spec) for spec in member_specs]
    apps = []
    for spec in app_specs:
        app = catalog_app(spec.app_id)
        if app is None:
            raise GraphError(404, f"Teams app '{spec.app_id}' was not found in the app catalog.")
        apps.append((app, spec.consented_permission_set))
    seen: set[tuple[str, str]] = set()
    for user, roles in resolved:
        _check_roles(user, roles)
        if user.key in seen:
            raise bad_request(f"User '{user.id}' is listed more than once.")
        seen.add(user.key)

    if chat_type == "oneOnOne":
        # Graph's one-on-one id is made of the two object ids, so the same pair finds the same chat.
        chat_id = "19:" + "_".join(sorted(user.id.lower() for user, _ in resolved)) + "@unq.gbl.spaces"
    else:
        chat_id = f"19:{uuid.uuid4().hex}@thread.v2"
    chat = state.chats.get(chat_id)
    if chat is None:
        now = utc_now()
        members = [Member(_membership_id(chat_id, user), user, list(roles)) for user, roles in resolved]
        chat = Chat(chat_id, chat_type, topic, now, now, members, time.monotonic() + state.list_delay_seconds)
        state.chats[chat_id] = chat

    if not apps:
        return json_response(201, chat_entity(chat))
    now = utc_now()
    operation_id = "-".join(str(uuid.uuid4()) for _ in range(3))
    app, permissions = apps[0]
    installation = InstalledApp(_installation_id(chat_id, app.id), app, permissions)
    state.operations[operation_id] = Operation(
        operation_id, chat_id, installation, state.operations_config, now, now
    )
    return Response(202, headers={"Location": f"/chats('{chat_id}')/operations('{operation_id}')"})


# --- GET chats and operations ------------------------------------------------------------------


def _expansions(request: Request) -> list[str]:
    expand = [name.strip() for name in request.query.get("$expand", "").split(",") if name.strip()]
    for name in expand:
        if name not in ("members", "installedApps"):
            raise bad_request(
                f"Could not find a navigation property named '{name}' on type 'microsoft.graph.chat'."
            )
    return expand


def _find_chat(state: State, chat_id: str) -> Chat:
    chat = state.chats.get(chat_id)
    if chat is None:
        raise GraphError(404, f"Chat '{chat_id}' was not found.")
    return chat


def _get_chat(state: State, request: Request, keys: list[str]) -> Response:
    chat = _find_chat(state, keys[0])
    expand = _expansions(request)
    selection = f"({','.join(f'{name}()' for name in expand)})" if expand else ""
    entity = {"@odata.context": f"{GRAPH_V1}/$metadata#chats{selection}/$entity", **chat_resource(chat)}
    if "members" in expand:
        entity["members"] = [member_json(member) for member in chat.members]
    if "installedApps" in expand:
        entity["installedApps"] = [installed_app_json(app) for app in chat.installed_apps]
    return json_response(200, entity)


def _read_operation(state: State, operation: Operation) -> dict[str, str]:
    """One read moves the operation on, by reads or by the time elapsed; its last status is final.

    Graph's teamsAsyncOperationStatus: invalid, notStarted, inProgress, succeeded, failed
    (https://learn.microsoft.com/en-us/graph/api/resources/teamsasyncoperation).
    """
    config = operation.config
    if operation.finished:
        return {}
    operation.reads += 1
    operation.last_action = utc_now()
    last = len(config.statuses) - 1
    if config.complete_after_seconds is None:
        step = min(operation.reads - 1, last)
    elif config.complete_after_seconds <= 0:
        step = last
    else:
        elapsed = time.monotonic() - operation.started
        step = min(last, int(elapsed * last / config.complete_after_seconds))
    operation.status = config.statuses[step]
    if step < last:
        return {} if config.retry_after is None else {"Retry-After": str(config.retry_after)}
    operation.finished = True
    if operation.status == "succeeded":
        chat = state.chats[operation.chat_id]
        if all(app.teams_app_id != operation.app.teams_app_id for app in chat.installed_apps):
            chat.installed_apps.append(operation.app)
            chat.last_updated = operation.last_action
    return {}


def _get_operation(state: State, request: Request, keys: list[str]) -> Response:
    chat_id, operation_id = keys
    operation = state.operations.get(operation_id)
    if operation is None or operation.chat_id != chat_id:
        raise GraphError(404, f"Operation '{operation_id}' was not found on chat '{chat_id}'.")
    headers = _read_operation(state, operation)
    failed = operation.status in ("failed", "invalid")
    body = {
        "@odata.context": f"{GRAPH_V1}/$metadata#chats('{quote(chat_id, safe='')}')/operations/$entity",
        "id": operation.id,
        "operationType": "createChat",
        "createdDateTime": iso_millis(operation.created),
        "status": operation.status,
        "lastActionDateTime": iso_millis(operation.last_action),
        "attemptsCount": operation.reads,
        "targetResourceId": chat_id,
        "targetResourceLocation": f"/chats('{chat_id}')",
        "error": {"code": "AppInstallationFailed", "message": "The app could not be installed in the chat."}
        if failed
        else None,
    }
    return json_response(200, body, headers)


# --- users -------------------------------------------------------------------------------------


def _selected(request: Request) -> tuple[str, ...]:
    if "$select" not in request.query:
        return USER_FIELDS
    fields = tuple(name.strip() for name in request.query["$select"].split(",") if name.strip())
    for name in fields:
        if name not in USER_FIELDS:
            raise bad_request(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")
    return fields


def _user_json(user: User, fields: tuple[str, ...]) -> dict[str, Any]:
    values: Mapping[str, Any] = {
        "id": user.id,
        "displayName": user.display_name,
        "userPrincipalName": user.user_principal_name,
        "mail": user.mail,
        "userType": user.user_type,
    }
    return {name: values[name] for name in fields}


def _context(fields: tuple[str, ...], suffix: str) -> str:
    selection = "" if fields == USER_FIELDS else f"({','.join(fields)})"
    return f"{GRAPH_V1}/$metadata#users{selection}{suffix}"


def _get_user(state: State, request: Request, keys: list[str]) -> Response:
    fields = _selected(request)
    user = state.directory.find(HOME_TENANT, keys[0])
    if user is None:
        raise GraphError(
            404,
            f"Resource '{keys[0]}' does not exist or one of its queried reference-property objects "
            "are not present.",
            "Request_ResourceNotFound",
        )
    return json_response(200, {"@odata.context": _context(fields, "/$entity"), **_user_json(user, fields)})


def _list_users(state: State, request: Request, _keys: list[str]) -> Response:
    fields = _selected(request)
    if "$filter" in request.query:
        try:
            clauses = parse_user_filter(request.query["$filter"])
        except FilterRefused as refusal:
            raise GraphError(400, refusal.message, refusal.code) from None
        found = {
            user.key: user
            for clause in clauses
            for user in state.directory.matching(HOME_TENANT, clause.prop, clause.values)
        }
        users = list(found.values())
    else:
        users = [user for user in state.directory.all() if user.tenant_id == HOME_TENANT]
    return json_response(
        200, {"@odata.context": _context(fields, ""), "value": [_user_json(user, fields) for user in users]}
    )


ROUTES = (
    _Route((("chats", False),), "POST", CREATE_CHAT_ROLES, _create_chat),
    _Route((("chats", True),), "GET", READ_CHAT_ROLES, _get_chat),
    _Route((("chats", True), ("members", False)), "GET", chat_lists.MEMBER_ROLES, chat_lists.chat_members),
    _Route((("chats", True), ("operations", True)), "GET", READ_CHAT_ROLES, _get_operation),
    _Route(
        (("chats", True), ("installedApps", False)),
        "GET",
        installed_apps.ROLES,
        installed_apps.chat_installed_apps,
    ),
    _Route((("users", False),), "GET", READ_USER_ROLES, _list_users),
    _Route((("users", True),), "GET", READ_USER_ROLES, _get_user),
    _Route((("users", True), ("chats", False)), "GET", READ_CHAT_ROLES, chat_lists.user_chats),
)
