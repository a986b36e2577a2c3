"""Azure Functions route templates (`chats/{id}`, `{name?}`, `{n:int}`, `{*rest}`) as regular expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The constraints ASP.NET routing offers that change what a segment matches; others match any segment.
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}
_PARAMETER = re.compile(r"\{(?P<star>\*)?(?P<name>\w+)(?P<constraints>(?::[^{}?=]+)*)(?P<optional>\?)?\}")


@dataclass(frozen=True)
class RouteTemplate:
    """One compiled template; `literal_segments` orders routes so that literals win over parameters."""

    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    literal_segments: int

    def match(self, path: str) -> dict[str, str] | None:
        """The route parameters when `path` (without `/api/`) matches, else None."""
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        return {
            name: value for name, value in zip(self.names, found.groups(), strict=True) if value is not None
        }


def compile_route(template: str) -> RouteTemplate:
    """Compile a template; literals compare case-insensitively, as in ASP.NET routing."""
    names: list[str] = []
    pieces: list[str] = []
    literals = 0
    for index, segment in enumerate(template.strip("/").split("/")):
        separator = "/" if index else ""
        whole = _PARAMETER.fullmatch(segment)
        if whole and whole["optional"]:
            names.append(whole["name"])
            pieces.append(f"(?:{separator}({_segment_pattern(whole)}))?")
            continue
        if whole and whole["star"]:
            names.append(whole["name"])
            pieces.append(f"(?:{separator}(.*))?")
            continue
        parts: list[str] = []
        position = 0
        for parameter in _PARAMETER.finditer(segment):
            parts.append(re.escape(segment[position : parameter.start()]))
            names.append(parameter["name"])
            parts.append(f"({_segment_pattern(parameter)})")
            position = parameter.end()
        parts.append(re.escape(segment[position:]))
        if position == 0:
            literals += 1
        pieces.append(separator + "".join(parts))
    pattern = re.compile("".join(pieces), re.IGNORECASE)
    return RouteTemplate(template, pattern, tuple(names), literals)


def _segment_pattern(parameter: re.Match[str]) -> str:
    constraints = [c for c in parameter["constraints"].split(":") if c]
    for constraint in constraints:
        if constraint.lower() in _CONSTRAINTS:
            return _CONSTRAINTS[constraint.lower()]
    return r"[^/]+"
