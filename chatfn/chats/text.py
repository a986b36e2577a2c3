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
# Unicode's Default_Ignorable_Code_Point property: what renderers show as nothing. Python's unicodedata
# does not have it, so these are its ranges as DerivedCoreProperties.txt lists them (Unicode 14.0, the
# Unicode of Python 3.11's unicodedata: https://www.unicode.org/Public/14.0.0/ucd/DerivedCoreProperties.txt).
# Those of category Cf are refused anywhere already; the others (the combining grapheme joiner, Khmer
# inherent vowels, Hangul fillers, variation selectors, unassigned ones) are allowed beside visible
# text, where a variation selector shapes an emoji, and refused when they are all there is.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER..HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ..KHMER VOWEL INHERENT AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, MONGOLIAN VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE
    (0x2060, 0x206F),  # WORD JOINER..NOMINAL DIGIT SHAPES (U+2065 unassigned)
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1..VARIATION SELECTOR-16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # unassigned
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT LETTER OVERLAP..SHORTHAND FORMAT UP STEP
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN BEAM..MUSICAL SYMBOL END PHRASE
    (0xE0000, 0xE0FFF),  # LANGUAGE TAG, TAG SPACE..CANCEL TAG, VARIATION SELECTOR-17..256, unassigned
)
# Not default-ignorable, yet rendered as blank as a space: the blank Braille pattern.
_BLANK_LETTERS = frozenset("\u2800")
# A topic is one line: C0's and C1's line breaks are controls, and these two separators break it too.
_LINE_SEPARATORS = frozenset("\u2028\u2029")


def is_default_ignorable(ch: str) -> bool:
    """Whether `ch` has Unicode's Default_Ignorable_Code_Point property (the ranges above)."""
    code = ord(ch)
    return any(first <= code <= last for first, last in _DEFAULT_IGNORABLE)


def is_noncharacter(ch: str) -> bool:
    """One of Unicode's 66 noncharacters (U+FDD0..U+FDEF, and the last two code points of every plane):
    reserved for a program's internal use, never for text it exchanges (The Unicode Standard, section
    23.7, "Noncharacters")."""
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def escaped(text: str) -> str:
    """Text safe to show in an answer or a log: anything unprintable or default-ignorable as its
    escape (`\\u202e`, `\\U000e0041`)."""
    return "".join(ch if ch.isprintable() and not is_default_ignorable(ch) else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _hidden_characters(value: str) -> list[str]:
    return [ch for ch in value if _CONTROL.match(ch) or unicodedata.category(ch) == "Cf"]


def _named(characters: list[str]) -> str:
    """The first few of `characters`, by their escapes."""
    return ", ".join(dict.fromkeys(escaped(ch) for ch in characters[:5]))


def check_visible(value: str) -> str:
    """Refuse control and format characters and noncharacters anywhere, naming the first few by their
    escapes, and text that is blank or only invisible characters."""
    hidden = _hidden_characters(value)
    if hidden:
        raise ValueError(f"must not hold control or invisible formatting characters (found {_named(hidden)})")
    noncharacters = [ch for ch in value if is_noncharacter(ch)]
    if noncharacters:
        raise ValueError(f"must not hold Unicode noncharacters (found {_named(noncharacters)})")
    if value and all(ch.isspace() or ch in _BLANK_LETTERS or is_default_ignorable(ch) for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


def check_one_line(value: str) -> str:
    """`check_visible`, and no line or paragraph separator (U+2028, U+2029) inside."""
    check_visible(value)
    separators = [ch for ch in value if ch in _LINE_SEPARATORS]
    if separators:
        raise ValueError(
            f"must be one line, without line or paragraph separators (found {_named(separators)})"
        )
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
