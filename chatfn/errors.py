"""Every failure chatfn raises, as one small hierarchy that callers catch at the level they need: each
class is raised somewhere and caught (or told apart with `isinstance`) by its type somewhere else.

ChatfnError
├── InvalidRequest          the caller's request breaks a rule; nothing was sent to Graph
├── MembersNotFound         emails that match no user, several, or a user of the other kind
├── IdentityError           the function's own identity could not get a token for Graph
├── StorageError            the idempotency records could not be read or written
├── IdempotencyKeyReused    the key belongs to a request with another body
├── BudgetSpent             the worker's Graph budget cannot serve a call before its caller's deadline
├── LeaseEnded              a send would outlive the idempotency lease: another worker may take over
├── BatchCancelled          a batch's item was about to be sent after its batch was cancelled
└── GraphError              Graph answered with an error, or not at all
    ├── GraphClientError    4xx but 408 and 429: Graph refused before acting; retrying cannot help
    │   └── GraphUnauthorized (401)  GraphForbidden (403): one fresh token may help
    ├── GraphServiceError   408 and other 5xx: Graph failed, and may have acted, so it is not retried
    └── GraphTransientError what Graph asks callers to retry
        ├── GraphThrottled (429)   GraphUnavailable (503, 504)
        └── GraphConnectionError   no answer: refused, dropped, timed out
"""

from __future__ import annotations

from dataclasses import dataclass


class ChatfnError(Exception):
    """Base of every error chatfn raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule of a request: `field` is a path such as `members[2].email`."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidRequest(ChatfnError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class MembersNotFound(ChatfnError):
    """Members given by email that cannot be bound: every one of them, each with its field.

    The message counts them and names no address, so logging the error leaks no one's email."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} member(s) could not be found as given")


class IdentityError(ChatfnError):
    """The credential failed: the managed identity is missing, misconfigured or refused."""


class StorageError(ChatfnError):
    """Azure Table storage failed under the idempotency records: nothing is sent to Graph without them."""


class IdempotencyKeyReused(ChatfnError):
    """An `Idempotency-Key` came again with another body: the caller reused a key by mistake."""


class BudgetSpent(ChatfnError):
    """A call to Graph was not sent: the worker's budget for its kind serves it only in `retry_in`
    seconds, after its caller's deadline (`chatfn.graph.budget`)."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class LeaseEnded(ChatfnError):
    """A `POST /chats` was withdrawn before it went out: it could still be under way when the request's
    idempotency lease ends and another worker may take the key over."""


class BatchCancelled(ChatfnError):
    """A `POST /chats` of a batch's item was withdrawn before it went out: the batch was cancelled."""


class GraphError(ChatfnError):
    """Graph's error answer, keeping what support needs: status, code, message and request-id."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        request_id: str | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.attempts = attempts
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{where} {self.code or 'error'}: {self.message} (attempts: {self.attempts})"


class GraphClientError(GraphError):
    """Graph refused the request itself (4xx): the same request will be refused again."""


class GraphUnauthorized(GraphClientError):
    """401: the token was refused (revoked or expired)."""


class GraphForbidden(GraphClientError):
    """403: the token lacks an application permission (it may predate the grant)."""


class GraphServiceError(GraphError):
    """Graph failed or timed out in a way it does not ask us to retry (408, 500, 502, ...)."""


class GraphTransientError(GraphError):
    """A failure that may pass: worth retrying after `retry_after` seconds or a backoff."""


class GraphThrottled(GraphTransientError):
    """429: over the app's limit; `retry_after` says when to call again."""


class GraphUnavailable(GraphTransientError):
    """503 or 504: Graph is down or its gateway timed out (and may have acted)."""


class GraphConnectionError(GraphTransientError):
    """No answer. `sent` says whether the request may have reached Graph: a connection that was never
    made (refused, connect timeout) carried nothing; one that broke after sending may have."""

    def __init__(self, message: str, *, sent: bool, attempts: int = 1) -> None:
        super().__init__(message, attempts=attempts)
        self.sent = sent


_BY_STATUS: dict[int, type[GraphError]] = {
    401: GraphUnauthorized,
    403: GraphForbidden,
    408: GraphServiceError,
    429: GraphThrottled,
    503: GraphUnavailable,
    504: GraphUnavailable,
}


def graph_error_class(status: int) -> type[GraphError]:
    """The class for an error status of Graph's."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return GraphServiceError if status >= 500 else GraphClientError
