"""Graph's resource paths read as OData reads them: `/chats('19:x')/operations/y` into named segments
and their keys. Graph's surfaces route by it, and the front door tells kinds of calls apart by it."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from chatfn.emulator.messages import Request
from chatfn.emulator.refusals import GraphError, bad_request

# A path segment on the still-encoded path: `/name`, then `('literal')` or `/plain`. A quote is `'`
# or `%27` (OData's SQUOTE), and two of them inside a literal stand for one quote.
SQUOTE = r"(?:'|%27)"
_SEGMENT = re.compile(
    rf"/(?P<name>[A-Za-z]+)(?:\({SQUOTE}(?P<quoted>(?:{SQUOTE}{SQUOTE}|(?!{SQUOTE})[^()])*){SQUOTE}\)"
    r"|/(?P<plain>[^/()]+))?",
    re.IGNORECASE,
)


def odata_literal(encoded: str) -> str:
    """A key literal cut out of a still-encoded URL: quotes un-doubled, then percent-decoded.

    A raw `#` never belongs there: in a URL it starts the fragment, so a client that sends one loses
    the rest of the key. Graph wants `%23` (https://learn.microsoft.com/graph/query-parameters#encoding-query-parameters).
    """
    if "#" in encoded:
        raise bad_request(
            "Bad Request - Error in query syntax: a '#' in a key starts the URL's fragment; "
            "percent-encode it as %23."
        )
    return unquote(re.sub(rf"{SQUOTE}{SQUOTE}", "'", encoded, flags=re.IGNORECASE))


def segments(request: Request) -> list[tuple[str, str | None]]:
    """`/chats('x')/operations/y` -> [("chats", "x"), ("operations", "y")]; keys decoded.

    GraphError 400 for a key literal left open or cut by a raw `#`, 404 for a path that is no resource.
    """
    raw = request.raw_path or quote(request.path, safe="/'()@:")
    rest = raw.removeprefix("/v1.0").rstrip("/")
    found: list[tuple[str, str | None]] = []
    position = 0
    while position < len(rest):
        match = _SEGMENT.match(rest, position)
        if match is None:
            if "#" in rest or rest.startswith("(", position):
                raise bad_request(
                    "Bad Request - Error in query syntax: a key literal is not closed, or holds a raw "
                    "'#' (which starts the URL's fragment; send %23)."
                )
            raise GraphError(404, f"Resource not found for the segment '{unquote(rest[position:])}'.")
        quoted, plain = match.group("quoted"), match.group("plain")
        if quoted is not None:
            key: str | None = odata_literal(quoted)
        else:
            key = None if plain is None else unquote(plain)
        found.append((match.group("name"), key))
        position = match.end()
    return found
