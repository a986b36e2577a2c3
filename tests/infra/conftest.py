"""Fixtures for the deployment checks: every Bicep file parsed once, checkov run once per session."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
INFRA_VENV_BIN = ROOT / ".venv-infra" / "bin"

# checkov bundles pycep-parser 0.5.1, which cannot read the `extension` statement; these modules
# are the only files that have one, and the other tests read them with pycep-parser 0.7.
GRAPH_MODULE = INFRA / "modules" / "graph-permissions.bicep"
API_REGISTRATION_MODULE = INFRA / "modules" / "api-registration.bicep"
GRAPH_EXTENSION_MODULES = (GRAPH_MODULE, API_REGISTRATION_MODULE)

BicepDoc = dict[str, Any]


def infra_tool(name: str) -> Path:
    """A tool of .venv-infra (requirements-infra.txt), which `make test` installs."""
    tool = INFRA_VENV_BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run `make test` (or `make .venv-infra/.installed`) to install it")
    return tool


@pytest.fixture(scope="session")
def bicep_files() -> list[Path]:
    files = sorted(INFRA.rglob("*.bicep"))
    assert files, "no .bicep files under infra/"
    return files


@pytest.fixture(scope="session")
def parsed(bicep_files: list[Path]) -> dict[str, BicepDoc]:
    """pycep-parser's JSON of every .bicep file, keyed by its path relative to infra/."""
    try:
        from pycep import BicepParser
    except ImportError:
        pytest.fail("pycep-parser is missing from .venv: run `make test` (tests/infra/requirements.txt)")
    parser = BicepParser()
    documents: dict[str, BicepDoc] = {}
    for path in bicep_files:
        # A TypedDict of pycep's; the tests read it as plain JSON.
        documents[path.relative_to(INFRA).as_posix()] = dict(parser.parse(file_path=path))
    return documents


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    """checkov's Bicep checks over infra/, once: the JSON report (results and summary)."""
    checkov = infra_tool("checkov")
    completed = subprocess.run(  # noqa: S603 - fixed arguments, our own tool
        [
            str(checkov),
            "--directory",
            str(INFRA),
            "--framework",
            "bicep",
            "--skip-download",  # no network to Prisma Cloud here, and nothing to fetch from it
            *(
                arg
                for module in GRAPH_EXTENSION_MODULES
                for arg in ("--skip-path", module.relative_to(ROOT).as_posix())
            ),
            "--output",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    # checkov exits 1 when a check fails; the report says which, so parse it either way.
    assert completed.stdout.strip(), (
        f"checkov printed no report (exit {completed.returncode}):\n{completed.stderr}"
    )
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report.get("check_type") == "bicep", report
    return report
