"""The rules every string of a request keeps (chatfn/chats/text.py): what counts as invisible, what is
never a character to exchange, and how a caller's text is shown back."""

from __future__ import annotations

import sys

import pytest
import regex

from chatfn.chats.text import (
    _DEFAULT_IGNORABLE,
    check_one_line,
    check_visible,
    escaped,
    is_default_ignorable,
    is_noncharacter,
)

# The ranges of Default_Ignorable_Code_Point in DerivedCoreProperties.txt (Unicode 14.0), ends included.
EVERY_RANGE_END = sorted({chr(code) for first, last in _DEFAULT_IGNORABLE for code in (first, last)})


@pytest.mark.parametrize("invisible", EVERY_RANGE_END, ids=[f"U+{ord(ch):04X}" for ch in EVERY_RANGE_END])
def test_text_of_only_default_ignorable_characters_is_refused(invisible: str) -> None:
    with pytest.raises(ValueError, match="invisible"):
        check_visible(f"{invisible} {invisible}")


@pytest.mark.parametrize(
    "text",
    [
        "Launch \U0001f680\ufe0f",  # VARIATION SELECTOR-16 asks for the emoji's colour form
        "\u2764\ufe0f",
        "Ba\u034fsel",  # a COMBINING GRAPHEME JOINER between letters
        "\u1100\u1161 \u3164x",  # a Hangul filler beside visible letters
    ],
)
def test_invisible_characters_beside_visible_ones_are_text(text: str) -> None:
    assert check_one_line(text) == text


@pytest.mark.parametrize(
    "code",
    [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF],
    ids=lambda code: f"U+{code:04X}",
)
def test_noncharacters_are_refused_anywhere(code: int) -> None:
    """The Unicode Standard, section 23.7: noncharacters are for a program's internal use only."""
    assert is_noncharacter(chr(code))
    with pytest.raises(ValueError, match="noncharacters") as refused:
        check_visible(f"Incident {chr(code)} 4711")
    assert escaped(chr(code)) in str(refused.value), "named by its escape, never raw"


@pytest.mark.parametrize("code", [0xFDCF, 0xFDF0, 0xFFFD, 0x1FFFD, 0x20000], ids=lambda code: f"U+{code:04X}")
def test_their_neighbours_are_characters(code: int) -> None:
    assert not is_noncharacter(chr(code))


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_a_topic_is_one_line(separator: str) -> None:
    """C0's and C1's line breaks are refused as controls; Unicode's own separators break a line too."""
    with pytest.raises(ValueError, match="one line"):
        check_one_line(f"Incident{separator}4711")
    assert check_visible(f"Incident{separator}4711"), "a separator alone is not invisible"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("gu\u202eest", "gu\\u202eest"),
        ("\uffff", "\\uffff"),  # the last code point of the BMP: four hex digits still hold it
        ("\U0001fffe", "\\U0001fffe"),  # past the BMP: eight
        ("\x1b[2Jtopic", "\\u001b[2Jtopic"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("fill\u3164er", "fill\\u3164er"),  # printable to Python, yet nothing shows
        ("Zürich ✓", "Zürich ✓"),
    ],
)
def test_text_is_shown_with_what_cannot_be_seen_escaped(text: str, shown: str) -> None:
    assert escaped(text) == shown


def test_default_ignorable_is_unicodes_property_at_every_code_point() -> None:
    """The table transcribes DerivedCoreProperties.txt by hand; the regex module derives the property
    from its own copy of the Unicode Character Database (a newer Unicode than 14.0, whose
    Default_Ignorable_Code_Point is the same 4174 code points). A range one too wide or too narrow at
    either end, or a range missing, answers one code point wrongly."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    unicodes = {
        code
        for match in regex.finditer(r"\p{Default_Ignorable_Code_Point}+", every)
        for code in range(*match.span())
    }
    ours = {code for code in range(sys.maxunicode + 1) if is_default_ignorable(chr(code))}
    assert ours == unicodes, [f"U+{code:04X}" for code in sorted(ours ^ unicodes)]
