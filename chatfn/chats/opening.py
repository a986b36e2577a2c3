"""The direct path of a request: resolve the members, create the chat, read it.

Graph's 201 ends here, in the HTTP trigger, with no orchestration; Graph's 202 (an app is installed) is
handed back as `Accepted`, for the orchestration to poll. For a group chat, a `POST /chats` whose
outcome is unknown (`chatfn.chats.verdict`) is never sent again blindly: the chat that attempt may have
made is looked for first and adopted when found (`chatfn.chats.existing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from chatfn.chats.existing import Wanted, find_latest, find_made_since
from chatfn.chats.members import resolve_members
from chatfn.chats.spec import ChatSpec
from chatfn.chats.translate import ResolvedMember, chat_body
from chatfn.chats.verdict import SendVerdict, verdict_of
from chatfn.errors import ChatfnError, GraphError
from chatfn.failures import Failure, Step, StepFailed, failure_from
from chatfn.graph.client import GraphClient
from chatfn.graph.models import AcceptedOperation, Chat, ChatMemberInfo, CreatedChat

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# How often a group chat is sent in all, when each send's outcome was unknown and no chat was found.
MAX_SENDS = 3


@dataclass(frozen=True)
class Made:
    """The chat exists: made now, adopted from an attempt that failed, or reused on request."""

    chat: Chat
    reused: bool = False


@dataclass(frozen=True)
class Accepted:
    """Graph answered 202: the chat is being set up; its operation is at `location`."""

    location: str


async def open_chat(
    spec: ChatSpec,
    graph: GraphClient,
    *,
    attempt_started: datetime,
    look_first: bool = False,
    sleep: Sleep = asyncio.sleep,
) -> Made | Accepted:
    """Make the chat `spec` asks for. `look_first`: an earlier attempt that began at `attempt_started`
    may have made it (its worker died), so look for that chat before sending anything. `sleep` waits
    between looks at Graph's lists.

    Raises `StepFailed`, whose failure says whether Graph surely made nothing (`createdNothing`).
    """
    members = await _as_step("resolve", resolve_members(spec, graph), created_nothing=True)
    wanted = Wanted.of(members, spec.topic) if spec.chatType == "group" else None
    if wanted is not None and spec.reuseExisting:
        found = await _as_step("create", find_latest(graph, wanted), created_nothing=not look_first)
        if found is not None:
            return Made(await _as_step("read", graph.get_chat(found.id), created_nothing=False), reused=True)
    if look_first and spec.chatType == "group":
        if wanted is None:  # nothing to search, and sending again could make a second chat
            raise StepFailed(_unknown("the earlier attempt's chat cannot be looked for"))
        search = find_made_since(graph, wanted, attempt_started, sleep)
        found = await _as_step("create", search, created_nothing=False)
        if found is not None:
            log.info("adopted the chat an earlier attempt made")
            return Made(await _as_step("read", graph.get_chat(found.id), created_nothing=False))
    created = await _create(chat_body(spec, members), spec, wanted, graph, attempt_started, sleep)
    if isinstance(created, AcceptedOperation):
        return Accepted(created.location)
    if isinstance(created, Chat):
        return Made(await _as_step("read", graph.get_chat(created.id), created_nothing=False))
    return Made(await _read_new(graph, created, members))


async def _create(
    body: dict[str, object],
    spec: ChatSpec,
    wanted: Wanted | None,
    graph: GraphClient,
    attempt_started: datetime,
    sleep: Sleep,
) -> CreatedChat | AcceptedOperation | Chat:
    """Send `POST /chats`; after a failure whose outcome is unknown, the chat found (adopted) or
    another send, up to `MAX_SENDS`."""
    one_on_one = spec.chatType == "oneOnOne"
    for send in range(1, MAX_SENDS + 1):
        try:
            return await graph.create_chat(body, replay_safe=one_on_one)
        except ChatfnError as exc:
            if verdict_of(exc) is SendVerdict.NOT_CREATED or one_on_one:
                # Refused, or a one-on-one (sending it again returns the same chat): nothing to find.
                raise StepFailed(failure_from(exc, "create", created_nothing=True)) from None
            if wanted is None:  # every member is of another tenant: no list to search
                raise StepFailed(failure_from(exc, "create", created_nothing=False)) from None
            log.warning("POST /chats failed after sending (%s): looking for its chat", exc)
            search = find_made_since(graph, wanted, attempt_started, sleep)
            found = await _as_step("create", search, created_nothing=False)
            if found is not None:
                log.info("adopted the chat that send %d made", send)
                return found
            if send == MAX_SENDS:
                # Looked for and not found: nothing was made, so the request may start over.
                raise StepFailed(failure_from(exc, "create", created_nothing=True)) from None
    raise AssertionError("unreachable: the last send returns or raises")


async def _read_new(graph: GraphClient, created: CreatedChat, members: list[ResolvedMember]) -> Chat:
    """The new chat with its link. If Graph fails to read it, what `POST /chats` answered stands in
    (no link): the chat exists, so the request has succeeded all the same."""
    try:
        return await graph.get_chat(created.id)
    except GraphError as exc:
        log.warning("the new chat could not be read (%s): answering without its link", exc)
        return Chat(
            id=created.id,
            chatType=created.chatType,
            topic=created.topic,
            createdDateTime=created.createdDateTime,
            members=[
                ChatMemberInfo(userId=m.key, roles=["guest" if m.guest else "owner"], tenantId=m.tenant_id)
                for m in members
            ],
        )


def _unknown(message: str) -> Failure:
    return Failure(kind="graph", step="create", createdNothing=False, message=message)


async def _as_step(step: Step, work: Awaitable[T], *, created_nothing: bool) -> T:
    """Await `work`; a failure of chatfn's becomes `StepFailed` for `step`."""
    try:
        return await work
    except ChatfnError as exc:
        raise StepFailed(failure_from(exc, step, created_nothing=created_nothing)) from None
