"""What callers send to `POST /api/chat-batches`: many chat requests at once, each checked exactly as
`POST /api/chats` checks one, before anything starts. Every broken rule of every item is named with its
item (`chats[7].members[1].gust`), so one answer says all that must be fixed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from chatfn.chats.request import ChatRequest, StrictModel
from chatfn.chats.spec import ChatSpec, parse_chat_request
from chatfn.chats.text import escaped
from chatfn.errors import FieldError, InvalidRequest


class BatchRequest(StrictModel):
    """Many chat requests at once: one chat per item, each checked as POST /api/chats checks one."""

    chats: list[ChatRequest] = Field(
        min_length=1,
        title="Chats",
        description="The chats to open, each a body of POST /api/chats; at most CHATFN_BATCH_MAX_ITEMS.",
    )


def parse_batch_request(payload: Any, max_items: int) -> tuple[ChatSpec, ...]:
    """Each item normalised, in order; `InvalidRequest` naming every broken rule of every item."""
    if not isinstance(payload, dict):
        raise InvalidRequest([FieldError("body", "must be a JSON object with a list of chats")])
    errors = [
        FieldError(escaped(str(name)), "unknown field; the body holds only chats")
        for name in payload
        if name != "chats"
    ]
    chats = payload.get("chats")
    if not isinstance(chats, list):
        raise InvalidRequest([*errors, FieldError("chats", "must be a list of chat requests")])
    if not chats:
        errors.append(FieldError("chats", "give at least one chat"))
    if len(chats) > max_items:
        errors.append(FieldError("chats", f"a batch holds at most {max_items} chats, got {len(chats)}"))
    specs: list[ChatSpec] = []
    for index, item in enumerate(chats):
        try:
            specs.append(parse_chat_request(item))
        except InvalidRequest as invalid:
            errors.extend(_within(index, error) for error in invalid.errors)
    if errors:
        raise InvalidRequest(errors)
    return tuple(specs)


def batch_fingerprint(specs: Sequence[ChatSpec]) -> str:
    """Same chats in the same order, same fingerprint (each item's as `POST /api/chats` computes it)."""
    return hashlib.sha256("\n".join(spec.fingerprint() for spec in specs).encode()).hexdigest()


def _within(index: int, error: FieldError) -> FieldError:
    field = f"chats[{index}]" if error.field == "body" else f"chats[{index}].{error.field}"
    return FieldError(field, error.message)
