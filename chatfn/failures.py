"""How a step of a request failed, as plain data: what the direct path and the orchestration record,
store (idempotency records, durable history) and hand to the HTTP edge, which renders it as a problem
(`chatfn.problems`). Nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from chatfn.errors import ChatfnError, FieldError, GraphError, IdentityError, MembersNotFound, StorageError

Step = Literal["resolve", "create", "poll", "read"]


class Failure(BaseModel):
    """What went wrong in one step of a request, as data: it is stored (idempotency records, durable
    history) and rendered as a problem only at the HTTP edge.

    `createdNothing` is the verdict of `chatfn.graph.verdict` (or of the search for the chat): true when Graph
    surely made no chat, so the request may start over under the same idempotency key.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal[
        "member_not_found",
        "graph",
        "identity",
        "operation_failed",
        "deadline",
        "abandoned",
        "storage",
        "cancelled",
    ]
    step: Step
    createdNothing: bool
    message: str = ""
    status: int | None = None
    code: str | None = None
    requestId: str | None = None
    retryAfter: float | None = None
    # member_not_found: one entry per member that could not be bound (field path and address).
    members: tuple[FieldError, ...] = ()


def failure_from(error: ChatfnError, step: Step, *, created_nothing: bool) -> Failure:
    """The failure an error of chatfn's stands for."""
    if isinstance(error, MembersNotFound):
        return Failure(kind="member_not_found", step=step, createdNothing=True, members=tuple(error.errors))
    if isinstance(error, IdentityError):
        return Failure(kind="identity", step=step, createdNothing=created_nothing, message=str(error))
    if isinstance(error, StorageError):
        return Failure(kind="storage", step=step, createdNothing=created_nothing, message=str(error))
    if isinstance(error, GraphError):
        return Failure(
            kind="graph",
            step=step,
            createdNothing=created_nothing,
            status=error.status,
            code=error.code or None,
            message=error.message,
            requestId=error.request_id,
            retryAfter=error.retry_after,
        )
    return Failure(kind="graph", step=step, createdNothing=created_nothing, message=str(error))
