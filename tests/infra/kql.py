"""Just enough reading of KQL to hold a query to chatfn's telemetry names: its string literals, the
attributes it reads from customDimensions, and the tables it starts from. No Kusto engine runs
here, so the structure the engine would reject (unbalanced brackets, a stray quote) is checked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .monitoring_names import PLACEHOLDER, TABLES, VOCABULARY

# A double-quoted KQL string literal (backslash escapes allowed). Queries here use no single-quoted
# or verbatim (@"...") strings, which keeps this the whole list of their literals.
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
CUSTOM_DIMENSION = re.compile(r'customDimensions\["([^"]*)"\]')
DOTTED_DIMENSION = re.compile(r"customDimensions\s*\.")
LET = re.compile(r"^\s*let\s+\w+\s*=\s*", re.DOTALL)
COMMENT = re.compile(r"//[^\n]*")
PAIRS = {")": "(", "]": "[", "}": "{"}


def strip_comments(query: str) -> str:
    """The query without // comments (none of the queries here has // inside a string)."""
    return COMMENT.sub("", query)


def literals(query: str) -> list[str]:
    return STRING.findall(strip_comments(query))


def dimensions(query: str) -> list[str]:
    return CUSTOM_DIMENSION.findall(strip_comments(query))


def structural_errors(query: str) -> list[str]:
    """Unbalanced brackets, odd quotes, single-quoted or dotted customDimensions access."""
    errors = []
    text = strip_comments(query)
    without_strings = STRING.sub('""', text)
    if "'" in without_strings:
        errors.append("single-quoted string (use double quotes)")
    if '"' in without_strings.replace('""', ""):
        errors.append("unterminated string")
    if DOTTED_DIMENSION.search(text):
        errors.append('customDimensions.x: attribute names hold dots, use customDimensions["x"]')
    stack: list[str] = []
    for char in without_strings:
        if char in "([{":
            stack.append(char)
        elif char in PAIRS and (not stack or stack.pop() != PAIRS[char]):
            errors.append(f"unbalanced {char!r}")
            return errors
    if stack:
        errors.append(f"unclosed {stack[-1]!r}")
    return errors


def statements(query: str) -> Iterator[str]:
    """Each statement of the query (split on ;), let bindings reduced to their expression."""
    for statement in strip_comments(STRING.sub('""', query)).split(";"):
        statement = statement.strip()
        if statement:
            yield LET.sub("", statement)


def tables(query: str) -> set[str]:
    """The tables the query's tabular statements start from (`union a, b` names several)."""
    found: set[str] = set()
    for statement in statements(query):
        head = re.match(r"[A-Za-z_]\w*", statement)
        if head is None or head.group() in {"datetime", "ago", "now", "dynamic", "toscalar"}:
            continue  # a scalar binding: "...", 10, ago(1d)
        if head.group() == "union":
            operands = re.match(r"union\s+(?:\w+=\S+\s+)*([\w\s,]+?)(?:\||$)", statement)
            assert operands, statement
            found.update(name.strip() for name in operands.group(1).split(",") if name.strip())
        else:
            found.add(head.group())  # a table, or an unknown shape the caller then reports
    return found


def vocabulary_errors(query: str, *, placeholders: bool = False) -> list[str]:
    """Everything in a query that is not one of chatfn's telemetry names or a table it may read
    (with `placeholders`, also "<requestId>" and the like, which a reader replaces)."""
    errors = structural_errors(query)
    errors += [
        f"unknown name {text!r}"
        for text in literals(query)
        if text not in VOCABULARY and not (placeholders and PLACEHOLDER.fullmatch(text))
    ]
    errors += [f"unknown attribute {key!r}" for key in dimensions(query) if key not in VOCABULARY]
    errors += [f"unknown table {table!r}" for table in sorted(tables(query) - TABLES)]
    if not tables(query):
        errors.append("reads no table")
    return errors
