"""A request's body as JSON, or the reason it is not: what a gateway and chatfn must read alike."""

from __future__ import annotations

import json
from typing import Any

from chatfn.chats.text import escaped
from chatfn.errors import FieldError, InvalidRequest

# Deeper than any body of docs/api.md needs; Python's decoder would recurse into a RecursionError.
MAX_JSON_DEPTH = 32


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON, or `InvalidRequest`: not JSON, nested too deeply, or a key given twice in
    one object (a gateway keeping the first value and chatfn the last would disagree on the request)."""

    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise InvalidRequest(
                    [FieldError("body", f"the key '{escaped(key)}' appears twice in one object")]
                )
            seen[key] = value
        return seen

    try:
        payload = json.loads(raw, object_pairs_hook=no_repeats)
    except ValueError as exc:  # json.JSONDecodeError and undecodable bytes
        raise InvalidRequest([FieldError("body", f"is not valid JSON: {escaped(str(exc))}")]) from None
    except RecursionError:  # the decoder recurses: 64 KiB of `[` fit within the size limit
        raise InvalidRequest([FieldError("body", "is not valid JSON: nested too deeply")]) from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise InvalidRequest([FieldError("body", f"is nested deeper than {MAX_JSON_DEPTH} levels")])
    return payload


def _depth(value: Any) -> int:
    """How deeply lists and objects nest, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
