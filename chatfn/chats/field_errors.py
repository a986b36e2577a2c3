"""Pydantic's validation errors as the field errors a caller reads: a path they recognise
(`members[2].email`), and a message that says what to do (`unknown field; did you mean 'guest'?`)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from chatfn.chats.text import escaped
from chatfn.errors import FieldError

# A validator's step in pydantic's error path ("function-after[...]"), not a field the caller sent.
_VALIDATOR_STEP = re.compile(r"function-(?:after|before|wrap|plain)\[")


def field_error(error: Any, known_fields: Collection[str]) -> FieldError:
    """Pydantic's error, as a path a caller recognises and a message that says what to do."""
    loc = [part for part in error["loc"] if not (isinstance(part, str) and _VALIDATOR_STEP.match(part))]
    # A key of an unknown field is the caller's own text: shown escaped, as messages show it.
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{escaped(part)}" for part in loc)
    field = field.removeprefix(".")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown field" + _did_you_mean(error["loc"], known_fields)
    elif kind == "string_pattern_mismatch" and str(loc[-1]) in ("userId", "tenantId", "teamsAppId"):
        message = "must be a GUID such as 8b081ef6-4792-4def-b2c9-c363a1bf41d5"
    elif kind == "list_type" and str(loc[-1]) in ("emails", "guests"):
        message = "must be a list of email addresses, or one string of them separated by ';' or ','"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    elif kind == "literal_error":
        message = f"must be one of {error['ctx']['expected']}"
    elif kind in _MESSAGES:
        message = _MESSAGES[kind]
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
    return FieldError(field if loc else "body", message)  # a key may be "" or start with dots


_MESSAGES = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
}


def _did_you_mean(loc: tuple[Any, ...], known_fields: Collection[str]) -> str:
    name = loc[-1]
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(known_fields), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
