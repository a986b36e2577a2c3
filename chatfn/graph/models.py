"""What Graph answers, as typed models: only the fields chatfn reads, any others ignored (Graph adds
properties over time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _GraphModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreatedChat(_GraphModel):
    """Graph's 201 answer to `POST /chats`."""

    id: str
    chatType: str
    topic: str | None = None
    createdDateTime: str | None = None


@dataclass(frozen=True)
class AcceptedOperation:
    """Graph's 202 answer to `POST /chats`: the absolute URL of the `teamsAsyncOperation` to poll."""

    location: str


class OperationError(_GraphModel):
    code: str | None = None
    message: str | None = None


class AsyncOperation(_GraphModel):
    """A `teamsAsyncOperation`, with the `Retry-After` Graph sent along, if any."""

    id: str
    status: Literal["invalid", "notStarted", "inProgress", "succeeded", "failed"] | str
    targetResourceId: str | None = None
    attemptsCount: int | None = None
    error: OperationError | None = None
    retryAfter: float | None = None


class ChatMemberInfo(_GraphModel):
    userId: str | None = None
    email: str | None = None
    roles: list[str] = []
    tenantId: str | None = None


class DirectoryUser(_GraphModel):
    """A user as `GET /users?$select=id,mail,userPrincipalName,userType` returns it."""

    id: str
    mail: str | None = None
    userPrincipalName: str | None = None
    userType: str | None = None


class Chat(_GraphModel):
    """The full chat, as `GET /chats/{id}?$expand=members` returns it."""

    id: str
    chatType: str
    topic: str | None = None
    webUrl: str | None = None
    tenantId: str | None = None
    createdDateTime: str | None = None
    members: list[ChatMemberInfo] = []


class ChatPage(_GraphModel):
    value: list[Chat] = []
    nextLink: str | None = Field(default=None, alias="@odata.nextLink")


class MemberPage(_GraphModel):
    value: list[ChatMemberInfo] = []
    nextLink: str | None = Field(default=None, alias="@odata.nextLink")


class InstalledApp(_GraphModel):
    id: str


class InstalledApps(_GraphModel):
    """`GET /chats/{id}/installedApps`: the apps installed in a chat."""

    value: list[InstalledApp] = []
