"""What callers get back (docs/api.md): the result, the 202 body, the problem and health.

The code builds each answer through these models and `chatfn.api.openapi` documents them from the same
models, so what the documents say and what the app sends cannot drift apart. Schemas are built on
first use (`defer_build`), so importing the app stays as quick as before.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ChatResultMember(_Answer):
    """One member of the chat as Graph created it."""

    email: str | None = Field(title="Email", description="The member's email, when Graph reports one.")
    userId: str | None = Field(title="User ID", description="The member's Entra object id.")
    role: str = Field(title="Role", description="owner or guest.")


class ChatResult(_Answer):
    """The chat exists: its id and link, for the next steps of a flow."""

    requestId: str = Field(title="Request ID", description="chatfn's id of this request.")
    status: Literal["succeeded"] = Field(title="Status", description="Always succeeded.")
    reused: bool = Field(
        default=False,
        title="Reused",
        description="True when reuseExisting found an existing group chat instead of creating one.",
    )
    chatId: str = Field(
        title="Chat ID", description="Id of the Teams chat, to post to it (for example 19:...@thread.v2)."
    )
    chatType: str = Field(title="Chat type", description="oneOnOne or group.")
    topic: str | None = Field(title="Topic", description="Title of the chat; null for a one-on-one chat.")
    webUrl: str | None = Field(title="Chat link", description="Link that opens the chat in Teams.")
    createdDateTime: str | None = Field(
        title="Created", description="When Teams created the chat (ISO 8601, UTC)."
    )
    members: list[ChatResultMember] = Field(title="Members", description="Who is in the chat.")


class RunningRequest(_Answer):
    """Still running: follow `statusUrl` (the `Location` header) until it answers 200 or a problem."""

    requestId: str = Field(title="Request ID", description="chatfn's id of this request.")
    status: Literal["running"] = Field(title="Status", description="Always running.")
    statusUrl: str = Field(title="Status URL", description="Where to ask for the outcome (as Location).")
    stage: str = Field(title="Stage", description="What chatfn is doing, for example waiting for Teams.")
    polls: int = Field(title="Polls", description="How often Graph's operation was checked so far.")


class FieldErrorDetail(_Answer):
    """One broken rule of the request."""

    field: str = Field(title="Field", description="Path of the field, for example members[2].email.")
    message: str = Field(title="Message", description="What is wrong and what to do.")


class GraphErrorDetail(_Answer):
    """What Microsoft Graph answered, with its ids for support."""

    code: str | None = Field(title="Graph error code", description="Graph's error code.")
    message: str | None = Field(title="Graph error message", description="Graph's error message.")
    requestId: str | None = Field(title="Graph request ID", description="Graph's request-id, for support.")


class ProblemDetails(_Answer):
    """An RFC 9457 problem (application/problem+json): what went wrong and what to do about it."""

    type: str = Field(title="Problem type", description="URI naming the kind of problem.")
    title: str = Field(title="Title", description="Short summary of the kind of problem.")
    status: int = Field(title="Status", description="The HTTP status of this answer.")
    detail: str = Field(title="Detail", description="What happened in this case and what to do.")
    errors: list[FieldErrorDetail] | None = Field(
        default=None, title="Errors", description="Each broken rule of the request (absent when none)."
    )
    graphError: GraphErrorDetail | None = Field(
        default=None,
        title="Graph error",
        description="What Graph answered (absent when Graph is not involved).",
    )


class Health(_Answer):
    """The app is up."""

    status: Literal["ok"] = Field(title="Status", description="Always ok.")
    version: str = Field(title="Version", description="chatfn's version.")


class BatchItemResult(_Answer):
    """How one item of a batch ended: what it alone would have answered."""

    index: int = Field(title="Index", description="The item's place in the list sent, from 0.")
    status: int = Field(title="Status", description="The HTTP status the item alone would have answered.")
    outcome: Literal["created", "reused", "failed", "cancelled"] = Field(
        title="Outcome", description="created, reused, failed, or cancelled (never sent)."
    )
    chatId: str | None = Field(default=None, title="Chat ID", description="Id of the Teams chat, when made.")
    webUrl: str | None = Field(
        default=None, title="Chat link", description="Link that opens the chat in Teams."
    )
    reused: bool = Field(default=False, title="Reused", description="True when reuseExisting found the chat.")
    problem: ProblemDetails | None = Field(
        default=None, title="Problem", description="What went wrong, when the item failed or was cancelled."
    )


class BatchStatus(_Answer):
    """A batch: how many items stand where and, once every item has ended, each item's result."""

    batchId: str = Field(title="Batch ID", description="chatfn's id of this batch.")
    status: Literal["running", "succeeded", "completedWithErrors", "cancelled"] = Field(
        title="Status",
        description="running until every item has ended; then succeeded, completedWithErrors or cancelled.",
    )
    total: int = Field(title="Total", description="Items in the batch.")
    succeeded: int = Field(title="Succeeded", description="Items whose chat exists.")
    failed: int = Field(title="Failed", description="Items that failed.")
    cancelled: int = Field(title="Cancelled", description="Items never sent because the batch was cancelled.")
    pending: int = Field(title="Pending", description="Items not ended yet.")
    results: list[BatchItemResult] | None = Field(
        default=None, title="Results", description="Each item's result in index order, once every item ended."
    )
