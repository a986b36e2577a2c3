"""Just enough reading of KQL to hold a query to chatfn's telemetry names: its string literals, the
attributes it reads from customDimensions, and the tables it starts from. No Kusto engine runs
here, so the structure the engine would reject (unbalanced brackets, a stray quote) is checked too;
and the `where` filters a query starts with can be applied to a row (`keeps`), for the few operators
the alerts' filters use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

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


# --- which rows a query's filters keep ------------------------------------------------------------------

# The tokens `keeps` reads, each a whole token: anything else in a filter is an error, not a guess.
_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>\d+)"""
    r"""|(?P<dimension>customDimensions\["[^"]*"\])|(?P<word>[A-Za-z_]\w*)|(?P<symbol>==|!=|\(|\)))"""
)
_WORDS = {"and": "and", "or": "or", "not": "not", "name": "_name", "tostring": "_tostring", "toint": "_toint"}
_PIPE = re.compile(r"\n\s*\|")


class _Null:
    """Kusto's null (toint of a missing or non-numeric value): no comparison with it holds, so a filter
    that compares it drops the row."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return False


def _tostring(value: object) -> str:
    return "" if value is None or isinstance(value, _Null) else str(value)


def _toint(value: object) -> int | _Null:
    try:
        return int(str(value))
    except ValueError:
        return _Null()


def _python(expression: str) -> str:
    """A filter's expression as Python, token by token from `_TOKEN`'s few."""
    out: list[str] = []
    position = 0
    expression = expression.strip()
    while position < len(expression):
        token = _TOKEN.match(expression, position)
        if token is None or token.end() == position:
            raise ValueError(f"keeps cannot read {expression[position:]!r}")
        position = token.end()
        kind, text = token.lastgroup, token.group(token.lastgroup or 0)
        if kind == "dimension":
            out.append(f"_dimensions.get({text[len('customDimensions[') : -1]})")
        elif kind == "word":
            if text not in _WORDS:
                raise ValueError(f"keeps cannot read {text!r}")
            out.append(_WORDS[text])
        else:
            out.append(text)
    return " ".join(out)


def keeps(query: str, name: str, dimensions: Mapping[str, str]) -> bool:
    """Whether the `where` filters a query starts with keep a customMetrics row of this `name` and these
    `customDimensions` (strings, as Application Insights stores them): `==`, `!=`, `and`, `or`, `not`,
    `tostring` and `toint` evaluated as Kusto would, null included."""
    *_, statement = [part for part in strip_comments(query).split(";") if part.strip()]
    _table, *operators = _PIPE.split("\n" + statement.strip())
    namespace = {"_name": name, "_dimensions": dict(dimensions), "_tostring": _tostring, "_toint": _toint}
    for operator in operators:
        verb, _, expression = operator.strip().partition(" ")
        if verb != "where":
            break
        compiled = compile(_python(expression), "<kql where>", "eval")
        if not eval(compiled, {"__builtins__": {}}, namespace):  # noqa: S307 - made only of _TOKEN's tokens
            return False
    return True
