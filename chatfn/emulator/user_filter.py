"""The `$filter` expressions on `/users` that Graph serves without advanced queries, and only those:
`mail` or `userPrincipalName` with `eq` or `in`, joined by `or`.

Graph caps `in` at 15 values by default and answers more with
"Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max
allowed: 15." (https://learn.microsoft.com/graph/filter-query-parameter, reported in
microsoftgraph/microsoft-graph-docs#21098). Anything else chatfn never sends is refused, so a client
that drifts from those shapes fails here first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_IN_VALUES = 15
PROPERTIES = {"mail": "mail", "userprincipalname": "userPrincipalName"}

_TOKEN = re.compile(r"\s*(?:(?P<literal>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)|(?P<punct>[(),]))")


@dataclass(frozen=True)
class Clause:
    """`prop eq 'a'` or `prop in ('a', 'b')`: the user matches when its prop is one of the values."""

    prop: str  # Graph's spelling: "mail" or "userPrincipalName"
    values: tuple[str, ...]


class FilterRefused(Exception):
    """Graph's 400 for a filter: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _syntax(expression: str) -> FilterRefused:
    return FilterRefused("BadRequest", f"Invalid filter clause: {expression}")


def _unsupported(prop: str) -> FilterRefused:
    return FilterRefused(
        "Request_UnsupportedQuery",
        f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'.",
    )


def _tokens(expression: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise _syntax(expression)
        kind = match.lastgroup or ""  # every alternative of _TOKEN is a named group
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _literal(token: tuple[str, str], expression: str) -> str:
    kind, text = token
    if kind != "literal":
        raise _syntax(expression)
    return text[1:-1].replace("''", "'")


def parse_user_filter(expression: str) -> list[Clause]:
    """The clauses of a filter, or `FilterRefused` with what Graph would answer."""
    tokens = _tokens(expression)
    clauses: list[Clause] = []
    position = 0
    while True:
        if position >= len(tokens):
            raise _syntax(expression)
        kind, name = tokens[position]
        if kind != "word":
            raise _syntax(expression)
        prop = PROPERTIES.get(name.lower())
        if prop is None:
            raise _unsupported(name)
        if position + 1 >= len(tokens):
            raise _syntax(expression)
        operator = tokens[position + 1][1].lower()
        position += 2
        if operator == "eq":
            if position >= len(tokens):
                raise _syntax(expression)
            clauses.append(Clause(prop, (_literal(tokens[position], expression),)))
            position += 1
        elif operator == "in":
            values, position = _in_list(tokens, position, expression)
            if len(values) > MAX_IN_VALUES:
                raise FilterRefused(
                    "Request_UnsupportedQuery",
                    "Too many child clauses specified in search filter expression containing 'OR' "
                    f"operators: {len(values)}. Max allowed: {MAX_IN_VALUES}.",
                )
            clauses.append(Clause(prop, values))
        else:
            raise _unsupported(prop)
        if position == len(tokens):
            return clauses
        if tokens[position][0] != "word" or tokens[position][1].lower() != "or":
            raise _unsupported(prop)  # `and` and the rest: chatfn never sends them
        position += 1


def _in_list(tokens: list[tuple[str, str]], position: int, expression: str) -> tuple[tuple[str, ...], int]:
    """`('a', 'b')` from `position`: the values and the position after the `)`."""
    if position >= len(tokens) or tokens[position] != ("punct", "("):
        raise _syntax(expression)
    values: list[str] = []
    position += 1
    while True:
        if position >= len(tokens):
            raise _syntax(expression)
        values.append(_literal(tokens[position], expression))
        position += 1
        if position >= len(tokens):
            raise _syntax(expression)
        if tokens[position] == ("punct", ")"):
            return tuple(values), position + 1
        if tokens[position] != ("punct", ","):
            raise _syntax(expression)
        position += 1
