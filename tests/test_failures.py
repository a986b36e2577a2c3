"""A step's failure as data: what an error of chatfn's keeps for the answer, and the exception that
carries it."""

from __future__ import annotations

import pytest

from chatfn.errors import (
    ChatfnError,
    FieldError,
    GraphConnectionError,
    GraphError,
    GraphThrottled,
    IdentityError,
    MembersNotFound,
    StorageError,
)
from chatfn.failures import Step, failure_from


@pytest.mark.parametrize(
    ("error", "step", "kind"),
    [
        (
            MembersNotFound([FieldError("guests[0]", "a@b.com matches no user")]),
            "resolve",
            "member_not_found",
        ),
        (IdentityError("no token"), "create", "identity"),
        (
            GraphThrottled("slow", status=429, code="TooManyRequests", request_id="r", retry_after=2.5),
            "create",
            "graph",
        ),
        (GraphConnectionError("dropped", sent=True), "create", "graph"),
        (ChatfnError("anything else"), "read", "graph"),
    ],
)
def test_failure_from_keeps_what_the_answer_needs(error: ChatfnError, step: Step, kind: str) -> None:
    failure = failure_from(error, step, created_nothing=False)
    assert (failure.kind, failure.step) == (kind, step)
    if isinstance(error, GraphError):
        assert (failure.status, failure.code, failure.requestId, failure.retryAfter) == (
            error.status,
            error.code or None,
            error.request_id,
            error.retry_after,
        )
    assert failure.createdNothing is isinstance(error, MembersNotFound), "members not found: nothing was sent"


def test_storage_that_failed_under_a_step_is_a_storage_failure() -> None:
    """A send's fence or a batch's cancel flag could not be read or written: 503, try again."""
    failure = failure_from(
        StorageError("the idempotency store did not answer"), "create", created_nothing=True
    )
    assert (failure.kind, failure.step, failure.createdNothing) == ("storage", "create", True)
