"""The checks of `POST /api/chats` that need only the request: here RFC 7240's Prefer. The rest run over
HTTP in test_function_app.py."""

from __future__ import annotations

import pytest

from chatfn.api.checks import wait_seconds


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, 20.0),
        ("", 20.0),
        ("respond-async", 0.0),
        ("RESPOND-ASYNC", 0.0),
        ("respond-async, wait=5", 5.0),
        ("wait=2;foo", 2.0),
        ('wait="3"', 3.0),
        ("wait=0", 0.0),
        ("wait=600", 60.0),
        ("wait=1e1", 20.0),
        ("wait=-1", 20.0),
        ("wait=2.5", 20.0),
        ("wait=", 20.0),
        # Quotes count only in pairs around the value.
        ('wait=15"', 20.0),
        ('wait="15', 20.0),
        ("handling=lenient", 20.0),
    ],
)
def test_prefer_as_rfc_7240_says(prefer: str | None, wait: float) -> None:
    assert wait_seconds(prefer, default=20.0) == wait


def test_a_wait_is_never_negative() -> None:
    assert wait_seconds(None, default=-1.0) == 0.0
