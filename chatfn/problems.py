"""Every way a request can fail, as the RFC 9457 problem the caller gets (docs/api.md).

A `chatfn.failures.Failure` is what a step records when it fails (plain data, so it survives the trip
through durable history); `problem_for` turns it into the answer. Problems never carry a stack
trace, a token or a key: only what the caller can act on, and Graph's ids for support.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatfn.api.schemas import ProblemDetails
from chatfn.errors import FieldError
from chatfn.failures import Failure

PROBLEM_JSON = "application/problem+json"
_TYPE_ROOT = "urn:chatfn:problem:"


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
            f"Graph's asynchronous operation ended without success: {failure.message}",
            graph_error=graph_error,
        )
    if not failure.createdNothing and failure.step == "create":
        # Never "try again" while the chat may exist: without an idempotency key, a retry could
        # make a second chat. With the key, a repeat looks for this attempt's chat first.
        return Problem(
            502,
            "outcome-unknown",
            "Microsoft Graph failed, and the chat may exist",
            "Graph failed after the chat was sent and chatfn could not find out whether it was made. "
            "Send the same request with the same Idempotency-Key to find out; without one, check Teams "
            f"before sending it again. Graph said: {failure.message}",
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
