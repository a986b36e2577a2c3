"""Did Graph create the chat? Every failure of `POST /chats` classified once, by one rule.

Graph can carry out a request and still answer 504, or drop the connection after acting
(docs/graph.md, "Real directories and real failures"). So a failure says one of two things:

- NOT_CREATED: Graph surely made nothing. The request never left (no token, a connection that was
  never made), or Graph refused it before acting (429, and the other 4xx but 408). Sending it again
  is safe, and a caller's retry under the same idempotency key starts it over.
- UNKNOWN: Graph may have made the chat (no answer after sending, a timeout, 408, any 5xx). A group
  chat is looked for before anything is sent again (`chatfn.chats.existing`); a one-on-one needs no search,
  as Graph returns the existing one-on-one chat for the same two members.
"""

from __future__ import annotations

from enum import StrEnum

from chatfn.errors import ChatfnError, GraphClientError, GraphConnectionError, GraphError, GraphThrottled


class SendVerdict(StrEnum):
    NOT_CREATED = "not_created"
    UNKNOWN = "unknown"


def verdict_of(error: ChatfnError) -> SendVerdict:
    """What a failure of `POST /chats` says about the chat."""
    if isinstance(error, GraphConnectionError):
        return SendVerdict.UNKNOWN if error.sent else SendVerdict.NOT_CREATED
    if isinstance(error, GraphClientError | GraphThrottled):
        return SendVerdict.NOT_CREATED  # refused before acting
    if isinstance(error, GraphError):  # a 5xx, a timeout, or an answer chatfn cannot read
        return SendVerdict.UNKNOWN
    return SendVerdict.NOT_CREATED  # chatfn's own errors (member lookups, identity) come before the POST
