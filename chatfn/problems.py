"""Every way a request can fail, as the RFC 9457 problem the caller gets (docs/api.md).

A `Failure` is what the workflow records when a step fails (plain data, so it survives the trip
through durable history); `problem_for` turns it into the answer. Problems never carry a stack
trace, a token or a key: only what the caller can act on, and Graph's ids for support.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chatfn.answers import ProblemDetails
from chatfn.errors import FieldError

PROBLEM_JSON = "application/problem+json"
_TYPE_ROOT = "urn:chatfn:problem:"

Step = Literal["resolve", "create", "poll", "read"]


@dataclass(frozen=True)
class Problem:
    status: int
    slug: str
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    graph_error: dict[str, str | None] | None = None
    retry_after: float | None = None  # sent as the Retry-After header, not in the body

    def body(self) -> dict[str, Any]:
        """The answer's JSON; `errors` and `graphError` only where they apply."""
        optional: dict[str, Any] = {}
        if self.errors:
            optional["errors"] = [error.to_dict() for error in self.errors]
        if self.graph_error is not None:
            optional["graphError"] = self.graph_error
        details = ProblemDetails(
            type=f"{_TYPE_ROOT}{self.slug}",
            title=self.title,
            status=self.status,
            detail=self.detail,
            **optional,
        )
        return details.model_dump(mode="json", exclude_unset=True)

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON data, to carry it as an orchestration's output."""
        return {"body": self.body(), "retryAfter": self.retry_after}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        body = data["body"]
        return cls(
            status=body["status"],
            slug=body["type"].removeprefix(_TYPE_ROOT),
            title=body["title"],
            detail=body["detail"],
            errors=[FieldError(**error) for error in body.get("errors", [])],
            graph_error=body.get("graphError"),
            retry_after=data.get("retryAfter"),
        )


class Failure(BaseModel):
    """What went wrong in one step of the workflow, as data."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["member_not_found", "graph", "identity", "operation_failed", "deadline"]
    step: Step
    message: str = ""
    status: int | None = None
    code: str | None = None
    requestId: str | None = None
    retryAfter: float | None = None
    # member_not_found: one entry per member that could not be bound (field path and address).
    members: tuple[FieldError, ...] = ()

    @property
    def created_nothing(self) -> bool:
        """Graph surely made no chat: the members were never sent, or Graph refused the POST (4xx,
        429 included). Such a request may be started over under the same idempotency key."""
        if self.step == "resolve":
            return True
        refused = self.status is not None and 400 <= self.status < 500
        return self.step == "create" and (self.kind == "identity" or refused)


# A 400 lists at most this many errors, the last one counting the rest: a 49 KB body of duplicates
# once made a 489 KB answer.
MAX_LISTED_ERRORS = 50


def invalid_request(errors: list[FieldError]) -> Problem:
    if len(errors) > MAX_LISTED_ERRORS:
        left_out = len(errors) - (MAX_LISTED_ERRORS - 1)
        errors = [
            *errors[: MAX_LISTED_ERRORS - 1],
            FieldError("body", f"{left_out} more errors not listed; fix those above and send it again"),
        ]
    return Problem(
        400,
        "invalid-request",
        "The request is invalid",
        "Nothing was sent to Microsoft Graph. Fix the fields listed in errors and send it again.",
        errors=errors,
    )


def problem_for(failure: Failure) -> Problem:
    """The answer for a failed workflow, by what failed and where."""
    graph_error = {"code": failure.code, "message": failure.message, "requestId": failure.requestId}
    if failure.kind == "member_not_found":
        return Problem(
            422,
            "member-not-found",
            "Members could not be found",
            f"{len(failure.members)} member(s) given by email match no user of the directory, more than "
            "one, or a user of the other kind (member or guest). Nothing was created; see errors.",
            errors=list(failure.members),
        )
    if failure.kind == "identity":
        return Problem(
            502,
            "identity-failed",
            "The function's identity could not sign in to Microsoft Graph",
            "The function app's managed identity got no token for Graph. An administrator should check "
            "the AZURE_CLIENT_ID setting (the client id of a user-assigned identity assigned to the app, "
            "or unset for the system-assigned one) and that the identity is enabled.",
        )
    if failure.kind == "deadline":
        return Problem(
            504,
            "operation-timeout",
            "Teams did not finish in time",
            f"Graph accepted the chat but its operation did not finish: {failure.message}.",
        )
    if failure.kind == "operation_failed":
        return Problem(
            502,
            "operation-failed",
            "Teams could not finish creating the chat",
            f"Graph's asynchronous operation failed: {failure.message}",
            graph_error=graph_error,
        )
    return _graph_problem(failure, graph_error)


def _graph_problem(failure: Failure, graph_error: dict[str, str | None]) -> Problem:
    status = failure.status
    if failure.step == "create" and status in (400, 404):
        return Problem(
            422,
            "members-refused",
            "Microsoft Graph refused the chat's members",
            f"Graph answered {status}: {failure.message}",
            graph_error=graph_error,
        )
    if status in (429, 503):
        return Problem(
            503,
            "graph-throttled",
            "Microsoft Graph is throttling requests",
            "Graph kept asking to slow down after every retry chatfn allows itself; try again later.",
            graph_error=graph_error,
            retry_after=failure.retryAfter or 30.0,
        )
    if status in (401, 403, 412):
        return Problem(
            502,
            "graph-refused-identity",
            "Microsoft Graph refused the function's identity",
            "The managed identity lacks an application permission (Chat.Create, Chat.ReadBasic.All, "
            f"User.Read.All); an administrator must grant it. Graph said: {failure.message}",
            graph_error=graph_error,
        )
    return Problem(
        502,
        "graph-failed",
        "Microsoft Graph failed",
        f"Graph {'answered ' + str(status) if status else 'did not answer'}: {failure.message}",
        graph_error=graph_error,
    )
