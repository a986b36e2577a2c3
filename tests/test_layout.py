"""The layout the README's code map promises: nothing imports upward, only the HTTP edge knows
azure.functions, and nothing deployed imports a tool. Read from the source (every import, deferred ones
inside functions too), so a new import that breaks a rule fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chatfn"
NEVER_DEPLOYED = ("tools", "emulator", "devhost")
# The core's top-level modules (chatfn/*.py): what every layer may use.
CORE = tuple(sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__")))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, and for `from m import n`, `m.n` too (n may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


IMPORTS = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def _importers(modules: str, of: tuple[str, ...]) -> list[str]:
    """The modules under `modules` (a dotted prefix) that import anything under one of `of`."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items()
        if module == modules or module.startswith(f"{modules}.")
        for target in targets
        if any(target == name or target.startswith(f"{name}.") for name in of)
    )


@pytest.mark.parametrize(
    ("layer", "below_it_never"),
    [
        ("chatfn.graph", ("chatfn.chats", "chatfn.requests", "chatfn.durable", "chatfn.api")),
        ("chatfn.chats", ("chatfn.requests", "chatfn.api")),
        ("chatfn.requests", ("chatfn.api",)),
        ("chatfn.durable", ("chatfn.api",)),
        *((f"chatfn.{module}", ("chatfn.api",)) for module in CORE),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_nothing_imports_upward(layer: str, below_it_never: tuple[str, ...]) -> None:
    assert _importers(layer, below_it_never) == []


def test_the_http_edge_never_touches_the_idempotency_store() -> None:
    """Claiming, following and settling a key is the request driver's (chatfn/requests), which the
    endpoints call with plain data: nothing that knows azure.functions reads or writes a record."""
    assert _importers("chatfn.api", ("chatfn.requests.store",)) == []


def test_only_the_http_edge_and_the_local_host_know_azure_functions() -> None:
    """The driver, the chat job and the orchestrations take plain data; `azure.functions` types stay in
    chatfn/api (and the local host, which stands in for the Functions host)."""
    knowing = {line.split(" imports ")[0] for line in _importers("chatfn", ("azure.functions",))}
    edge = ("chatfn.api.", "chatfn.devhost.")
    assert {module for module in knowing if not module.startswith(edge)} == set()
    assert knowing, "the rule reads the imports it means to"


def test_nothing_deployed_imports_a_tool_the_emulator_or_the_local_host() -> None:
    tools = tuple(f"chatfn.{name}" for name in NEVER_DEPLOYED)
    deployed = [
        line
        for line in _importers("chatfn", tools)
        if not line.startswith((*(f"{tool} " for tool in tools), *(f"{tool}." for tool in tools)))
        and not line.startswith("chatfn.__main__ ")  # `python -m chatfn` is the command-line tool
    ]
    assert deployed == []
