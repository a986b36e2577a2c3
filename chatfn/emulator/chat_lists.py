"""Graph's chat lists: `GET /users/{id}/chats` and `GET /chats/{id}/members`.

As https://learn.microsoft.com/en-us/graph/api/chat-list documents them: only the chats the user is a
member of; `$filter` on `chatType` and on members' `userId` only; `$top` at most 50; `$orderby` only
`lastMessagePreview/createdDateTime desc`; `@odata.nextLink` paging; and the known issue that
`$expand=members` returns at most 25 members per chat (all of them: chat-list-members). Lists are
eventually consistent: a new chat appears only after the consistency knob's delay.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from chatfn.emulator.chat_json import GRAPH_V1, chat_resource, member_json
from chatfn.emulator.directory import HOME_TENANT, User
from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.refusals import GraphError, bad_request
from chatfn.emulator.state import Chat, State

# https://learn.microsoft.com/en-us/graph/api/chat-list-members: application permissions.
MEMBER_ROLES = (
    "ChatMember.Read.All",
    "ChatMember.ReadWrite.All",
    "Chat.ReadBasic.All",
    "Chat.Read.All",
    "Chat.ReadWrite.All",
)
MAX_TOP = 50
DEFAULT_TOP = 20  # not documented; what Graph is seen to answer without $top
EXPANDED_MEMBERS_CAP = 25
ORDER_BY = "lastMessagePreview/createdDateTime desc"
CHAT_TYPES = ("oneOnOne", "group", "meeting")
_QUERY_OPTIONS = ("$filter", "$top", "$expand", "$orderby", "$skiptoken")

_CHAT_TYPE_CLAUSE = re.compile(r"chatType\s+eq\s+'(?P<value>[^']*)'", re.IGNORECASE)
_MEMBER_CLAUSE = re.compile(
    r"members/any\(\s*(?P<var>\w+)\s*:\s*(?P=var)/microsoft\.graph\.aadUserConversationMember/userId"
    r"\s+eq\s+'(?P<value>[^']*)'\s*\)",
    re.IGNORECASE,
)

ChatTest = Callable[[Chat], bool]


def _clause(text: str) -> ChatTest:
    chat_type = _CHAT_TYPE_CLAUSE.fullmatch(text)
    if chat_type is not None:
        wanted = chat_type["value"]
        if wanted not in CHAT_TYPES:
            raise bad_request(f"The value '{wanted}' is not valid for chatType.")
        return lambda chat: chat.chat_type == wanted
    member = _MEMBER_CLAUSE.fullmatch(text)
    if member is not None:
        user_id = member["value"].lower()
        return lambda chat: any(m.user.id.lower() == user_id for m in chat.members)
    raise bad_request(
        f"Unsupported filter clause '{text}': filter on chatType eq '...' or on members/any(o: "
        "o/microsoft.graph.aadUserConversationMember/userId eq '...'), joined by 'and'."
    )


def _filter(expression: str | None) -> list[ChatTest]:
    if expression is None:
        return []
    clauses = re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE)
    return [_clause(clause.strip()) for clause in clauses]


def _top(value: str | None) -> int:
    if value is None:
        return DEFAULT_TOP
    if not value.isdigit() or not 1 <= int(value) <= MAX_TOP:
        raise bad_request(f"Invalid page size '{value}': $top must be between 1 and {MAX_TOP}.")
    return int(value)


def _expand_members(value: str | None) -> bool:
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    for name in names:
        if name not in ("members", "lastMessagePreview"):
            raise bad_request(f"Expanding '{name}' is not supported; only members and lastMessagePreview.")
    return "members" in names


def _skip_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request("The $skiptoken is not valid.") from None
    if not isinstance(offset, int) or offset < 0:
        raise bad_request("The $skiptoken is not valid.")
    return offset


def _next_link(request: Request, offset: int) -> str:
    """An absolute URL under the same base the request came to; a client follows it as is."""
    query = {name: value for name, value in request.query.items() if name != "$skiptoken"}
    query["$skiptoken"] = _skip_token(offset)
    path = quote(request.path, safe="/()'@:!,;=")
    return f"http://{request.header('Host')}{path}?{urlencode(query, quote_via=quote)}"


def _refuse_other_options(request: Request, allowed: tuple[str, ...]) -> None:
    for name in request.query:
        if name.startswith("$") and name not in allowed:
            raise bad_request(f"The query parameter '{name}' is not supported on this resource.")


def _user(state: State, key: str) -> User:
    user = state.directory.find(HOME_TENANT, key)
    if user is None:
        raise GraphError(
            404,
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
            "Request_ResourceNotFound",
        )
    return user


def user_chats(state: State, request: Request, keys: list[str]) -> Response:
    _refuse_other_options(request, _QUERY_OPTIONS)
    user = _user(state, keys[0])
    tests = _filter(request.query.get("$filter"))
    top = _top(request.query.get("$top"))
    with_members = _expand_members(request.query.get("$expand"))
    order = request.query.get("$orderby")
    if order is not None and " ".join(order.split()) != ORDER_BY:
        raise bad_request(f"$orderby supports only '{ORDER_BY}'.")
    offset = _offset(request.query.get("$skiptoken"))

    now = time.monotonic()
    chats = sorted(
        (
            chat
            for chat in state.chats.values()
            if chat.listed_from <= now
            and any(member.user.key == user.key for member in chat.members)
            and all(test(chat) for test in tests)
        ),
        key=lambda chat: (chat.last_updated, chat.id),
        reverse=True,
    )
    page = chats[offset : offset + top]
    values = []
    for chat in page:
        value = chat_resource(chat)
        if with_members:
            value["members"] = [member_json(member) for member in chat.members[:EXPANDED_MEMBERS_CAP]]
        values.append(value)
    body: dict[str, Any] = {"@odata.context": f"{GRAPH_V1}/$metadata#users('{user.id}')/chats"}
    if offset + top < len(chats):
        body["@odata.nextLink"] = _next_link(request, offset + top)
    body["value"] = values
    return json_response(200, body)


def chat_members(state: State, request: Request, keys: list[str]) -> Response:
    """Every member, however many: the way to read chats over the 25 that $expand returns."""
    _refuse_other_options(request, ())
    chat = state.chats.get(keys[0])
    if chat is None:
        raise GraphError(404, f"Chat '{keys[0]}' was not found.")
    members = [member_json(member) for member in chat.members]
    return json_response(
        200,
        {
            "@odata.context": f"{GRAPH_V1}/$metadata#chats('{quote(chat.id, safe='')}')/members",
            "@odata.count": len(members),
            "value": members,
        },
    )
