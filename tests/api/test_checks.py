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
        # RFC 5234's DIGIT is 0-9: other scripts' digits are no delta-seconds, though float() reads them.
        ("wait=\u0663", 20.0),  # ARABIC-INDIC DIGIT THREE
        ("wait=\uff15", 20.0),  # FULLWIDTH DIGIT FIVE
        ("wait=\u00b2", 20.0),  # SUPERSCRIPT TWO
        # RFC 7240 section 2: of a preference given twice, only the first counts.
        ("wait=5, wait=30", 5.0),
        ("wait=30, respond-async, WAIT=5", 30.0),
        ("wait=x, wait=5", 20.0),
        ("wait=\u0663, wait=5", 20.0),
        ("respond-async, wait=soon, wait=5", 0.0),
    ],
)
def test_prefer_as_rfc_7240_says(prefer: str | None, wait: float) -> None:
    assert wait_seconds(prefer, default=20.0) == wait


def test_a_wait_is_never_negative() -> None:
    assert wait_seconds(None, default=-1.0) == 0.0
