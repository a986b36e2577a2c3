"""The rules every string of a request keeps, and the typed strings built on them: nothing a person
cannot see (control and format characters, invisible-only text) reaches Graph, and addresses look like
addresses. The JSON Schema patterns of the API descriptions come from the same expressions."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema

from chatfn.contract import GUID_PATTERN, MAX_EMAIL

_ADDRESS = r'[^@\s;,<>()\[\]"]+@[^@\s;,<>()\[\]"]+\.[^@\s;,<>()\[\]".]+'
_EMAIL = re.compile(f"^{_ADDRESS}$")
_SEPARATORS = re.compile(r"[;,]")
# The same rules as JSON Schema patterns, for the OpenAPI documents (chatfn.api.openapi).
EMAIL_PATTERN = _EMAIL.pattern
ADDRESSES_PATTERN = rf"^[\s;,]*{_ADDRESS}(?:\s*[;,][\s;,]*{_ADDRESS})*[\s;,]*$"

Guid = Annotated[str, StringConstraints(pattern=f"^{GUID_PATTERN}$")]


# JSON's "\ud800" decodes to a lone surrogate, which no UTF-8 body (Graph's, the orchestrator's) can carry.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


# Characters nobody sees but Graph and Teams keep: control characters (C0, DEL, C1) and format
# characters (Unicode category Cf: zero-width spaces and joiners, bidi overrides such as U+202E).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Letters that render as nothing (Hangul fillers, the blank Braille pattern): text of only these,
# format characters and spaces is as blank as an empty string.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def escaped(text: str) -> str:
    """Text safe to show in an answer or a log: anything unprintable as its `\\uXXXX` escape."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _hidden_characters(value: str) -> list[str]:
    return [ch for ch in value if _CONTROL.match(ch) or unicodedata.category(ch) == "Cf"]


def check_visible(value: str) -> str:
    """Refuse control and format characters anywhere, naming the first few by their escapes."""
    hidden = _hidden_characters(value)
    if hidden:
        shown = ", ".join(dict.fromkeys(escaped(ch) for ch in hidden[:5]))
        raise ValueError(f"must not hold control or invisible formatting characters (found {shown})")
    if value and all(ch.isspace() or ch in _BLANK_LETTERS for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


def _check_email(value: str) -> str:
    value = check_visible(value).strip()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value) or _SURROGATE.search(value):
        raise ValueError("must be an email address such as alex@contoso.com")
    return value


Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "maxLength": MAX_EMAIL, "pattern": EMAIL_PATTERN}),
]


def _split_addresses(value: object) -> object:
    """Power Automate joins addresses into one string: accept `a@x.com; b@x.com,` as a list."""
    if isinstance(value, str):
        # Only plain spaces and line breaks around an address are layout; anything else stays in
        # the entry, for the entry's own check to refuse.
        return [part.strip(_LAYOUT) for part in _SEPARATORS.split(value) if part.strip(_LAYOUT)]
    return value


_LAYOUT = "".join(
    ch for ch in map(chr, range(0x3001)) if ch.isspace() and (ch in " \t\r\n" or not _CONTROL.match(ch))
)


AddressList = Annotated[
    list[Email],
    BeforeValidator(
        _split_addresses,
        json_schema_input_type=list[Email]
        | Annotated[str, WithJsonSchema({"type": "string", "pattern": ADDRESSES_PATTERN})],
    ),
]
