"""Strict reading of /_emulator bodies: unknown fields and wrong types are a 400 naming the field,
so that a misspelt test setup fails loudly instead of silently testing the defaults."""

from __future__ import annotations

from typing import Any


class ControlError(ValueError):
    """Invalid control input, answered 400 with its message."""


def one_or_many(body: Any, what: str) -> list[dict[str, Any]]:
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ControlError(f"expected a {what} object or a non-empty list of them")
    return items


def an_object(body: Any, what: str, allowed: set[str]) -> dict[str, Any]:
    """The body as one JSON object holding only `allowed` fields."""
    if not isinstance(body, dict):
        raise ControlError(f"expected a {what} object with fields among: {', '.join(sorted(allowed))}")
    only(body, allowed, what)
    return body


def only(item: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ControlError(
            f"unknown {what} field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def text(item: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"'{name}' must be a non-empty string")
    return value


def number(item: dict[str, Any], name: str, default: float | None) -> float | None:
    value = item.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"'{name}' must be a number >= 0")
    return value


def flag(item: dict[str, Any], name: str) -> bool:
    value = item.get(name, False)
    if not isinstance(value, bool):
        raise ControlError(f"'{name}' must be true or false")
    return value


def strings(item: dict[str, Any], name: str) -> tuple[str, ...]:
    value = item.get(name)
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ControlError(f"'{name}' must be a list of strings")
    return tuple(value)
