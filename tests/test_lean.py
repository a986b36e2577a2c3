"""What is deployed stays lean: importing function_app loads none of the local tools, and .funcignore
keeps them (and tests, docs, Node's packages) out of the package that Core Tools or azd uploads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[1]
LOCAL_ONLY_MODULES = ("chatfn.emulator", "chatfn.devhost", "chatfn.tools", "chatfn.__main__", "bench")
# Deployed, but loaded on first use, so a cold start does not pay for them: the table client (only
# requests with an idempotency key need it), the API descriptions, and the telemetry that only
# CHATFN_TELEMETRY=console or azure-monitor needs (the SDK, its logging bridge, Azure Monitor's
# distribution: the worker imports that itself when it exports telemetry).
DEFERRED_MODULES = (
    "azure.data.tables",
    "chatfn.api.openapi",
    "chatfn.api.swagger",
    "opentelemetry.sdk",
    "opentelemetry.instrumentation",
    "azure.monitor",
)
# What a deployment needs: the app's entry point, its host settings, its requirements and its modules.
DEPLOYED = re.compile(r"function_app\.py|host\.json|requirements\.txt|chatfn/([a-z_]+/)?[a-z_]+\.py")
REQUIRED = {
    "function_app.py",
    "host.json",
    "requirements.txt",
    "chatfn/__init__.py",
    "chatfn/api/endpoints.py",
}
NEVER_DEPLOYED = [
    "chatfn/tools/cli.py",
    "chatfn/tools/connector.py",
    "chatfn/__main__.py",
    "chatfn/emulator/server.py",
    "chatfn/devhost/azurite.py",
    "bench/throughput.py",
    "tests/conftest.py",
    "docs/local-host.md",
    "node_modules/azurite/package.json",
    "node_modules/.installed",
    "package.json",
    "package-lock.json",
    "local.settings.json",
    "local.settings.json.example",
    "requirements-dev.txt",
    ".venv/bin/python",
    "README.md",
]


def _is_local_only(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in LOCAL_ONLY_MODULES)


def _funcignore() -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())


def test_importing_the_app_loads_no_local_tool() -> None:
    script = "import json, sys, function_app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fresh process
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    assert "function_app" in loaded
    assert [m for m in loaded if _is_local_only(m)] == []
    assert [m for m in loaded if m.startswith(DEFERRED_MODULES)] == []


def test_the_local_only_check_recognises_the_tools() -> None:
    assert _is_local_only("chatfn.devhost.server")
    assert _is_local_only("bench")
    assert _is_local_only("chatfn.tools.connector")
    assert not _is_local_only("chatfn.api.endpoints")
    assert not _is_local_only("benchmark")


def test_funcignore_keeps_local_tools_out_of_the_package() -> None:
    ignored = _funcignore()
    assert [path for path in NEVER_DEPLOYED if not ignored.match_file(path)] == []


def test_the_package_holds_only_what_the_app_needs() -> None:
    git = ["git", "ls-files"]
    tracked = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    packaged = {path for path in tracked.stdout.split() if not _funcignore().match_file(path)}
    assert packaged >= REQUIRED
    assert sorted(path for path in packaged if not DEPLOYED.fullmatch(path)) == []
