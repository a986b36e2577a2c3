"""How a request ended, as stored data: the result, or the failure. It is kept in the idempotency
record and returned by the orchestration, and becomes an HTTP answer only at the edge
(`chatfn.api.endpoints`), so what is stored never holds a pre-rendered answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chatfn.failures import Failure
from chatfn.graph.models import Chat
from chatfn.schemas import ChatResult, ChatResultMember


class Succeeded(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["succeeded"] = "succeeded"
    result: ChatResult


class Failed(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["failed"] = "failed"
    failure: Failure


Outcome = Succeeded | Failed
OUTCOME = TypeAdapter[Outcome](Annotated[Outcome, Field(discriminator="kind")])


def chat_result(request_id: str, chat: Chat, reused: bool = False) -> ChatResult:
    """The result callers get, from the chat as Graph reads it."""
    return ChatResult(
        requestId=request_id,
        status="succeeded",
        reused=reused,
        chatId=chat.id,
        chatType=chat.chatType,
        topic=chat.topic,
        webUrl=chat.webUrl,
        createdDateTime=chat.createdDateTime,
        members=[
            ChatResultMember(email=m.email, userId=m.userId, role=m.roles[0] if m.roles else "owner")
            for m in chat.members
        ],
    )
