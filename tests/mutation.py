"""Mutation testing of chatfn's pure core: does each module's own test file fail when its code is wrong?

Each mutant changes one thing in one module: a comparison swapped at its boundary (`<` and `<=`, `==`
and `!=`, `is`, `in`), `and` and `or` exchanged, a `not` dropped, a boolean flipped, a number moved by
one, a simple statement of a function deleted, a returned value replaced by `None`. The module's tests
(`pytest -x`) then run against it; a mutant they pass "survived", and says which behaviour no test pins.

    make mutation                      # every module below (python -m tests.mutation)
    make mutation MODULES="graph/retry chats/text"

Why not mutmut 3 or cosmic-ray: mutmut 3 mutates only undecorated top-level functions and methods,
so the dataclass defaults, pydantic validators and module constants this core is made of are never
mutated; cosmic-ray needs a session database and a run per mutant of a fresh interpreter. Here one
process imports pytest and the libraries once and forks a child per mutant, which imports the mutant
through an import hook (no file is written) and runs the module's tests: a mutant costs the tests'
own time, not the 4 s of starting pytest. Two children run at a time, each in its own process group,
killed past a timeout (a mutant that loops is counted as killed by timeout).

Not mutated: docstrings, annotations, strings, logging calls (`log.info(...)`: only logs see them), and
`frozen=True` (immutability guards against misuse; it changes no answer a test could compare).
Mutants that are equivalent (no test can tell them from the code) are listed, with why, in
`tests/mutation_equivalents.toml`; they are skipped and left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import signal
import sys
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.toml")
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=")


@dataclass(frozen=True)
class Target:
    """A module of chatfn/ and the fast tests that answer for it; `only`: mutate just these functions."""

    tests: tuple[str, ...]
    only: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "chats/request": Target(("tests/chats/test_spec.py", "tests/api/test_openapi.py")),  # schema rules
    "chats/spec": Target(("tests/chats/test_spec.py",)),
    "chats/text": Target(("tests/chats/test_text.py", "tests/chats/test_spec.py")),  # the typed strings
    "chats/field_errors": Target(("tests/chats/test_spec.py",)),
    "api/json_body": Target(("tests/api/test_json_body.py",)),
    "chats/translate": Target(("tests/chats/test_translate.py",)),
    "graph/retry": Target(("tests/graph/test_retry.py",)),
    "settings": Target(("tests/test_settings.py",)),
    "problems": Target(("tests/test_problems.py",)),
    "failures": Target(("tests/test_failures.py",)),
    # the lists existing.py reads
    "graph/client": Target(("tests/graph/test_client.py", "tests/chats/test_existing.py")),
    "graph/verdict": Target(("tests/graph/test_verdict.py",)),
    "requests/store": Target(("tests/requests/test_store.py",)),
    "chats/members": Target(("tests/chats/test_members.py",)),
    "chats/existing": Target(("tests/chats/test_existing.py",)),
    "api/callers": Target(("tests/api/test_callers.py",)),
    "outcome": Target(("tests/test_outcome.py",)),
    "api/checks": Target(("tests/api/test_checks.py",), only=("wait_seconds",)),
    "chats/batch": Target(("tests/chats/test_batch.py",)),
    "requests/polling": Target(("tests/requests/test_polling.py",)),
    "durable/batch": Target(("tests/durable/test_batch.py",)),  # the orchestrators, on a mocked context
    # Not here: chats/job, whose tests run the job's steps against the emulator for about 25 s, too long
    # to run once per mutant; graph/models, which is data only.
}

_SWAPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_DELETABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.Continue, ast.Break)
_LOGGERS = {"log", "logger", "logging"}

Change = Callable[[ast.AST], ast.AST]
Key = tuple[str, str, str, str]  # module file, function, line as written, change


@dataclass(frozen=True)
class Mutant:
    module: str
    site: int  # the node's place in a pre-order walk of the module's tree
    choice: int  # which of that node's changes
    line: int
    function: str  # the innermost function or class around it; "" at module level
    description: str
    source: str  # the line as written, stripped

    def label(self) -> str:
        where = f" in {self.function}" if self.function else ""
        return f"chatfn/{self.module}.py:{self.line}{where}  [{self.description}]  {self.source}"

    def key(self) -> Key:
        """What an entry of the equivalence list names: no line number, which moves with every edit."""
        return (f"{self.module}.py", self.function, self.source, self.description)


@dataclass
class Outcome:
    killed: list[Mutant] = field(default_factory=list)
    timed_out: list[Mutant] = field(default_factory=list)
    survived: list[Mutant] = field(default_factory=list)
    equivalent: list[Mutant] = field(default_factory=list)

    def score(self) -> float:
        scored = len(self.killed) + len(self.timed_out) + len(self.survived)
        return 100.0 * (len(self.killed) + len(self.timed_out)) / scored if scored else 100.0


def _changes(node: ast.AST, in_function: bool) -> list[tuple[str, Change]]:
    """The ways one node can be wrong; each change edits the node (or gives its replacement)."""
    changes: list[tuple[str, Change]] = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swapped = _SWAPPED.get(type(op))
            if swapped is not None:
                changes.append((f"{_op(op)} -> {_op(swapped())}", _swap_at(i, swapped)))
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        changes.append((f"{_op(node.op)} -> {_op(other())}", lambda n: _set(n, op=other())))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        changes.append(("not x -> x", lambda n: n.operand if isinstance(n, ast.UnaryOp) else n))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        changes.append((f"{node.value} -> {not node.value}", lambda n: _set(n, value=not _value(n))))
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        for step in (1, -1):
            moved = node.value + step
            changes.append((f"{node.value!r} -> {moved!r}", _setting(value=moved)))
    elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        changes.append(("return None", lambda n: _set(n, value=ast.Constant(None))))
    if in_function and isinstance(node, _DELETABLE):
        changes.append(("statement deleted", lambda n: ast.Pass()))
    return changes


def _op(op: ast.AST) -> str:
    """`<=`, `is not`, `and`: the operator as written."""
    if isinstance(op, ast.cmpop):
        return ast.unparse(ast.Compare(ast.Name("a"), [op], [ast.Name("b")]))[2:-2]
    return type(op).__name__.lower()


def _swap_at(i: int, swapped: type[ast.cmpop]) -> Change:
    def change(node: ast.AST) -> ast.AST:
        assert isinstance(node, ast.Compare)
        node.ops[i] = swapped()
        return node

    return change


def _setting(**fields: object) -> Change:
    return lambda node: _set(node, **fields)


def _set(node: ast.AST, **fields: object) -> ast.AST:
    for name, value in fields.items():
        setattr(node, name, value)
    return node


def _value(node: ast.AST) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _untouchable(tree: ast.Module) -> set[int]:
    """Nodes no change may touch: docstrings, annotations, logging calls, `frozen=True`, and all beneath
    them."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "frozen":
            roots.append(node)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(_value(first.value), str):
                roots.append(first)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            roots.append(node.returns)
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        if isinstance(node, ast.Expr) and _is_logging(node.value):
            roots.append(node)
    return {id(n) for root in roots for n in ast.walk(root)}


def _is_logging(node: ast.AST) -> bool:
    """`log.info(...)` and the like."""
    func = node.func if isinstance(node, ast.Call) else None
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _LOGGERS


class _Walker(ast.NodeTransformer):
    """Numbers the nodes in pre-order; lists their changes, or applies the one at `target`."""

    def __init__(self, tree: ast.Module, only: Sequence[str], target: tuple[int, int] | None = None) -> None:
        self.skip = _untouchable(tree)
        self.only = tuple(only)
        self.target = target
        self.index = -1
        self.scopes: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = []
        self.found: list[tuple[int, int, int, str, str]] = []  # site, choice, line, scope, change

    def visit(self, node: ast.AST) -> ast.AST:
        self.index += 1
        site = self.index
        scope = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.scopes.append(node)
        node = self.generic_visit(node)
        if scope:
            self.scopes.pop()
        functions = {s.name for s in self.scopes if not isinstance(s, ast.ClassDef)}
        if id(node) in self.skip or (self.only and not functions & set(self.only)):
            return node
        for choice, (description, change) in enumerate(_changes(node, bool(functions))):
            where = self.scopes[-1].name if self.scopes else ""
            self.found.append((site, choice, getattr(node, "lineno", 0), where, description))
            if self.target == (site, choice):
                return change(node)
        return node


def mutants_of(module: str, target: Target) -> list[Mutant]:
    source = (ROOT / "chatfn" / f"{module}.py").read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    walker = _Walker(tree, target.only)
    walker.visit(tree)
    return [
        Mutant(module, site, choice, line, function, description, lines[line - 1].strip())
        for site, choice, line, function, description in walker.found
    ]


def compiled(mutant: Mutant, target: Target) -> CodeType:
    path = ROOT / "chatfn" / f"{mutant.module}.py"
    tree = ast.parse(path.read_text())
    mutated = _Walker(tree, target.only, (mutant.site, mutant.choice)).visit(tree)
    assert isinstance(mutated, ast.Module)
    return compile(ast.fix_missing_locations(mutated), str(path), "exec")


class _MutantLoader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module of chatfn from the mutant's code instead of its file."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)  # noqa: S102 - the project's own code, one change made


def _child(tests: Sequence[str], mutant: tuple[Mutant, Target] | None) -> None:
    """In a forked child: run the tests, against the mutant if one is given; exits with pytest's code."""
    code = 70
    try:
        os.setpgid(0, 0)
        sink = os.open(os.devnull, os.O_WRONLY)
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        import hypothesis
        import pytest

        hypothesis.settings.register_profile("mutation", database=None)
        hypothesis.settings.load_profile("mutation")
        if mutant is not None:
            name = "chatfn." + mutant[0].module.replace("/", ".")
            sys.meta_path.insert(
                0, _MutantLoader(name, ROOT / "chatfn" / f"{mutant[0].module}.py", compiled(*mutant))
            )
        code = int(pytest.main([*PYTEST_ARGS, *tests]))
    finally:
        os._exit(code)


def _fork(tests: Sequence[str], mutant: tuple[Mutant, Target] | None) -> int:
    pid = os.fork()
    if pid == 0:
        _child(tests, mutant)
    return pid


def _end(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def preload(tests: Sequence[str]) -> None:
    """Import in this process what the tests import but chatfn's own modules, so each fork has pytest,
    pydantic, azure and the rest ready. A first child runs every test once and says what it imported."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            sink = os.open(os.devnull, os.O_WRONLY)
            os.dup2(sink, 1)
            os.dup2(sink, 2)
            import pytest

            code = int(pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]))
            os.write(write, "\n".join(sorted(sys.modules)).encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        names = pipe.read().split()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("the tests fail without any mutant: fix them first")
    own = {"chatfn", "tests", "function_app", "bench", "__main__", "__mp_main__"}
    for name in names:
        # Packages only, as their users import them: importing every submodule by name, in any order,
        # leaves asyncio without its current task.
        if "." in name or name.startswith("_") or name in own:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - a module that only imports in its own context is skipped
            continue
    if threading.active_count() > 1:
        sys.exit("an import started a thread; forking would copy it: cannot run")


def equivalents() -> dict[Key, str]:
    entries = tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    return {(e["module"], e["function"], e["line"], e["mutation"]): e["why"] for e in entries}


def run(module: str, target: Target, workers: int, known: dict[Key, str]) -> Outcome:
    outcome = Outcome()
    started = time.monotonic()
    _, status = os.waitpid(_fork(target.tests, None), 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(target.tests)} fail without any mutant")
    timeout = 10.0 + 5 * (time.monotonic() - started)
    pending: deque[Mutant] = deque()
    for mutant in mutants_of(module, target):
        if mutant.key() in known:
            outcome.equivalent.append(mutant)
        else:
            pending.append(mutant)
    running: dict[int, tuple[Mutant, float]] = {}
    while pending or running:
        while pending and len(running) < workers:
            mutant = pending.popleft()
            running[_fork(target.tests, (mutant, target))] = (mutant, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            mutant, _ = running.pop(pid)
            (outcome.killed if os.waitstatus_to_exitcode(status) else outcome.survived).append(mutant)
            done = len(outcome.killed) + len(outcome.timed_out) + len(outcome.survived)
            print(f"\r{module}.py {done}/{done + len(running) + len(pending)}", end="", file=sys.stderr)
            continue
        for pid, (mutant, began) in list(running.items()):
            if time.monotonic() - began > timeout:
                _end(pid)
                del running[pid]
                outcome.timed_out.append(mutant)
        time.sleep(0.02)
    print("\r", end="", file=sys.stderr)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules of chatfn/ (all): {' '.join(TARGETS)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fail-under", type=float, default=90.0, help="lowest score per module (%%)")
    args = parser.parse_args(argv)
    modules = args.modules or list(TARGETS)
    if unknown := set(modules) - set(TARGETS):
        parser.error(f"not a covered module: {' '.join(sorted(unknown))}")
    known = equivalents()
    started = time.monotonic()
    preload(sorted({test for module in modules for test in TARGETS[module].tests}))
    outcomes: dict[str, Outcome] = {}
    print(f"{'module':<20}{'mutants':>8}{'killed':>8}{'timeout':>8}{'equiv.':>8}{'survived':>9}{'score':>8}")
    for module in modules:
        o = outcomes[module] = run(module, TARGETS[module], args.workers, known)
        total = len(o.killed) + len(o.timed_out) + len(o.survived) + len(o.equivalent)
        print(
            f"{module + '.py':<20}{total:>8}{len(o.killed):>8}{len(o.timed_out):>8}"
            f"{len(o.equivalent):>8}{len(o.survived):>9}{o.score():>7.0f}%",
            flush=True,
        )
    for o in outcomes.values():
        for mutant in o.survived:
            print(f"survived: {mutant.label()}")
    seen = {m.key() for o in outcomes.values() for m in o.equivalent}
    for key in known:
        if key[0].removesuffix(".py") in modules and key not in seen:
            print(f"stale equivalent (no such mutant any more): {key[0]} in {key[1]}  [{key[3]}]  {key[2]}")
    print(f"{time.monotonic() - started:.0f} s")
    low = [m for m, o in outcomes.items() if o.score() < args.fail_under]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
