"""Every way a request can fail, as the RFC 9457 problem the caller gets (docs/api.md).

Each kind of problem is written once, in the catalogue below: its slug (the end of the `type` URI),
HTTP status, title, what it means and what to do. Code makes an answer from a type
(`KEY_REUSED.problem()`, `MEMBER_NOT_FOUND.problem(detail, errors=...)`); the API descriptions
(`chatfn.api.openapi`, `chatfn.api.swagger`) describe each status from it, and a test holds docs/api.md's
problem table to it.

A `chatfn.failures.Failure` is what a step records when it fails (plain data, so it survives the trip
through durable history); `problem_for` turns it into the answer. Problems never carry a stack
trace, a token or a key: only what the caller can act on, and Graph's ids for support.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chatfn.contract import MAX_BODY_BYTES
from chatfn.errors import FieldError
from chatfn.failures import Failure
from chatfn.schemas import ProblemDetails

TYPE_ROOT = "urn:chatfn:problem:"


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: the same slug, status and title for every occurrence (RFC 9457, 3.1), what it
    means and what the caller does about it. `retry_after` is the Retry-After an occurrence sends unless
    it knows better (None: the caller should not simply send it again)."""

    slug: str
    status: int
    title: str
    meaning: str
    action: str
    retry_after: float | None = None

    @property
    def uri(self) -> str:
        return f"{TYPE_ROOT}{self.slug}"

    def problem(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        graph_error: dict[str, str | None] | None = None,
        retry_after: float | None = None,
    ) -> Problem:
        """An occurrence of this type; without a detail of its own, it says what the type means."""
        return Problem(
            self,
            f"{self.meaning} {self.action}" if detail is None else detail,
            list(errors),
            graph_error,
            self.retry_after if retry_after is None else retry_after,
        )


@dataclass(frozen=True)
class Problem:
    """One answer: its type, and what this case adds (the detail, the fields, Graph's error)."""

    type: ProblemType
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    graph_error: dict[str, str | None] | None = None
    retry_after: float | None = None  # sent as the Retry-After header, not in the body

    @property
    def status(self) -> int:
        return self.type.status

    @property
    def slug(self) -> str:
        return self.type.slug

    @property
    def title(self) -> str:
        return self.type.title

    def body(self) -> dict[str, Any]:
        """The answer's JSON; `errors` and `graphError` only where they apply."""
        optional: dict[str, Any] = {}
        if self.errors:
            optional["errors"] = [error.to_dict() for error in self.errors]
        if self.graph_error is not None:
            optional["graphError"] = self.graph_error
        details = ProblemDetails(
            type=self.type.uri, title=self.title, status=self.status, detail=self.detail, **optional
        )
        return details.model_dump(mode="json", exclude_unset=True)


# --- the catalogue: plain sentences, shown to flow builders too (no markup, no product names) ------

INVALID_REQUEST = ProblemType(
    "invalid-request",
    400,
    "The request is invalid",
    "The request breaks a rule of the API, and errors names each field and what is wrong. Nothing was "
    "sent to Microsoft Graph.",
    "Fix the fields listed in errors and send it again.",
)
SIGN_IN_REQUIRED = ProblemType(
    "sign-in-required",
    401,
    "Sign-in required",
    "The app signs callers in with Microsoft Entra ID, and the request carried no token that names a caller.",
    "Send a bearer token for the app's API registration.",
)
CALLER_REFUSED = ProblemType(
    "caller-refused",
    403,
    "Not allowed to create chats",
    "The caller signed in but does not hold the app role Chats.Create.",
    "Ask an administrator to assign the role to the caller.",
)
UNKNOWN_REQUEST = ProblemType(
    "unknown-request",
    404,
    "No such request",
    "No chat request has this ID, or it ended longer ago than the history is kept "
    "(CHATFN_HISTORY_RETENTION_DAYS).",
    "Check the status URL.",
)
KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    409,
    "The idempotency key was used for another request",
    "This Idempotency-Key already belongs to a request with another body.",
    "Use a new key for each chat.",
)
BODY_TOO_LARGE = ProblemType(
    "body-too-large",
    413,
    "The body is too large",
    f"The body is over the route's limit: {MAX_BODY_BYTES // 1024} KiB for a chat, "
    "CHATFN_BATCH_MAX_BYTES (4 MiB) for a batch.",
    "Send fewer or shorter fields, or split a batch in two.",
)
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type",
    415,
    "The body must be JSON",
    "The request's Content-Type is not JSON.",
    "Send Content-Type: application/json.",
)
MEMBER_NOT_FOUND = ProblemType(
    "member-not-found",
    422,
    "Members could not be found",
    "A member given by email matches no user of the directory, more than one, or a user of the other "
    "kind (member or guest), or one user is named twice (by email and by user ID, say); errors names "
    "each such member. Nothing was created.",
    "Correct the address, give the member's user ID instead, invite the guest first, or name each "
    "member once.",
)
MEMBERS_REFUSED = ProblemType(
    "members-refused",
    422,
    "Microsoft Graph refused the chat's members",
    "Graph refused the chat as asked (400 or 404), usually a member or Teams app it does not know; "
    "graphError holds its reason. Nothing was created.",
    "Correct what graphError names and send it again.",
)
INTERNAL_ERROR = ProblemType(
    "internal-error",
    500,
    "chatfn failed unexpectedly",
    "chatfn met an error it did not expect; the answer holds nothing of it, the app's logs do.",
    "Tell whoever runs chatfn the time of the request and its request ID, if the answer names one.",
)
GRAPH_FAILED = ProblemType(
    "graph-failed",
    502,
    "Microsoft Graph failed",
    "Graph answered with an error, or did not answer, and the chat was surely not made.",
    "Send it again later; if it keeps failing, look at the app's Application Insights.",
)
GRAPH_REFUSED_IDENTITY = ProblemType(
    "graph-refused-identity",
    502,
    "Microsoft Graph refused the function's identity",
    "The function app's managed identity lacks an application permission of Graph (Chat.Create, "
    "Chat.ReadBasic.All, User.Read.All).",
    "An administrator grants it (docs/deploy.md); the app sees it with its next token, which can take hours.",
)
IDENTITY_FAILED = ProblemType(
    "identity-failed",
    502,
    "The function's identity could not sign in to Microsoft Graph",
    "The function app's managed identity got no token for Graph.",
    "An administrator checks the AZURE_CLIENT_ID setting (the client ID of a user-assigned identity of "
    "the app, or unset for the system-assigned one) and that the identity is enabled.",
)
OPERATION_FAILED = ProblemType(
    "operation-failed",
    502,
    "Teams could not finish creating the chat",
    "Graph's asynchronous operation ended without success, usually installing the Teams app; graphError "
    "holds Teams' reason.",
    "Check the Teams app ID and the permissions asked for it.",
)
OUTCOME_UNKNOWN = ProblemType(
    "outcome-unknown",
    502,
    "The chat may exist",
    "The request failed after the chat was sent to Graph, and chatfn could not find out whether it was made.",
    "Send the same request with the same Idempotency-Key: chatfn looks for the chat first. Without a key, "
    "look in Teams before sending it again.",
)
GRAPH_THROTTLED = ProblemType(
    "graph-throttled",
    503,
    "Microsoft Graph is throttling requests",
    "Graph kept asking chatfn to slow down for longer than chatfn waits its turn "
    "(CHATFN_THROTTLE_PATIENCE_SECONDS), or stayed unavailable past the request's deadline.",
    "Send it again after Retry-After seconds.",
    retry_after=30.0,
)
STORAGE_UNAVAILABLE = ProblemType(
    "storage-unavailable",
    503,
    "chatfn's storage is unavailable",
    "The idempotency record could not be read or written, so nothing was sent to Graph.",
    "Send it again after Retry-After seconds.",
    retry_after=5.0,
)
BATCH_CANCELLED = ProblemType(
    "cancelled",
    409,
    "The batch was cancelled",
    "The batch this chat belonged to was cancelled before the chat was sent, so nothing was made for it.",
    "Send the chat again, alone or in a new batch, if it is still wanted.",
)
OPERATION_TIMEOUT = ProblemType(
    "operation-timeout",
    504,
    "Teams did not finish in time",
    "Graph accepted the chat, but its operation did not finish before the deadline "
    "(CHATFN_OPERATION_DEADLINE_SECONDS).",
    "The chat may still appear: look for it in Teams before sending the request again with a new key.",
)

CATALOGUE: dict[str, ProblemType] = {
    problem_type.slug: problem_type
    for problem_type in (
        INVALID_REQUEST,
        SIGN_IN_REQUIRED,
        CALLER_REFUSED,
        UNKNOWN_REQUEST,
        KEY_REUSED,
        BODY_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        MEMBER_NOT_FOUND,
        MEMBERS_REFUSED,
        INTERNAL_ERROR,
        GRAPH_FAILED,
        GRAPH_REFUSED_IDENTITY,
        IDENTITY_FAILED,
        OPERATION_FAILED,
        OUTCOME_UNKNOWN,
        GRAPH_THROTTLED,
        STORAGE_UNAVAILABLE,
        OPERATION_TIMEOUT,
        BATCH_CANCELLED,
    )
}


def of_status(status: int) -> list[ProblemType]:
    """The problem types answered with this status, in catalogue order."""
    return [problem_type for problem_type in CATALOGUE.values() if problem_type.status == status]


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
    return INVALID_REQUEST.problem(
        "Nothing was sent to Microsoft Graph. Fix the fields listed in errors and send it again.",
        errors=errors,
    )


def problem_for(failure: Failure) -> Problem:
    """The answer for a failed workflow, by what failed and where."""
    graph_error = {"code": failure.code, "message": failure.message, "requestId": failure.requestId}
    if failure.kind == "member_not_found":
        return MEMBER_NOT_FOUND.problem(
            f"{len(failure.members)} member(s) cannot be bound: an address that matches no user of the "
            "directory, more than one, or a user of the other kind (member or guest), or a user named "
            "twice. Nothing was created; see errors.",
            errors=list(failure.members),
        )
    if failure.kind == "identity":
        return IDENTITY_FAILED.problem()
    if failure.kind == "deadline":
        return OPERATION_TIMEOUT.problem(
            f"Graph accepted the chat but its operation did not finish: {failure.message}.",
        )
    if failure.kind == "cancelled":
        return BATCH_CANCELLED.problem()
    if failure.kind == "storage":
        return STORAGE_UNAVAILABLE.problem()
    if failure.kind == "abandoned":
        return OUTCOME_UNKNOWN.problem(
            "The request stopped before it ended. Send the same request with the same Idempotency-Key: "
            "chatfn looks for the chat this request may have made before it makes one."
        )
    if failure.kind == "operation_failed":
        return OPERATION_FAILED.problem(
            f"Graph's asynchronous operation ended without success: {failure.message}",
            graph_error=graph_error,
        )
    if not failure.createdNothing and failure.step == "create":
        # Never "try again" while the chat may exist: without an idempotency key, a retry could
        # make a second chat. With the key, a repeat looks for this attempt's chat first.
        return OUTCOME_UNKNOWN.problem(
            "Graph failed after the chat was sent and chatfn could not find out whether it was made. "
            "Send the same request with the same Idempotency-Key to find out; without one, check Teams "
            f"before sending it again. Graph said: {failure.message}",
            graph_error=graph_error,
        )
    return _graph_problem(failure, graph_error)


def _graph_problem(failure: Failure, graph_error: dict[str, str | None]) -> Problem:
    status = failure.status
    if failure.step == "create" and status in (400, 404):
        return MEMBERS_REFUSED.problem(
            f"Graph answered {status}: {failure.message}",
            graph_error=graph_error,
        )
    if status in (429, 503):
        return GRAPH_THROTTLED.problem(
            "Graph kept asking chatfn to slow down for longer than it waits its turn; try again later.",
            graph_error=graph_error,
            retry_after=failure.retryAfter or GRAPH_THROTTLED.retry_after,
        )
    if status in (401, 403, 412):
        return GRAPH_REFUSED_IDENTITY.problem(
            "The managed identity lacks an application permission (Chat.Create, Chat.ReadBasic.All, "
            f"User.Read.All); an administrator must grant it. Graph said: {failure.message}",
            graph_error=graph_error,
        )
    return GRAPH_FAILED.problem(
        f"Graph {'answered ' + str(status) if status else 'did not answer'}: {failure.message}",
        graph_error=graph_error,
    )
