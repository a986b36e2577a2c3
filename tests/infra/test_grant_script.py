"""infra/scripts/grant-graph-permissions.sh: lint-clean, and idempotent against a stand-in `az`.

The stand-in answers the few `az` calls the script makes from a small directory of its own and
records every call, so the tests see which grants the script would POST to Microsoft Graph.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import INFRA, infra_tool
from .documented import GRAPH_APP_ROLE_IDS

pytestmark = pytest.mark.infra

SCRIPT = INFRA / "scripts" / "grant-graph-permissions.sh"
PRINCIPAL = "2b7c3a0e-1111-4c4c-9d9d-000000000001"
GRAPH_SP = "5f1e0c1d-2222-4b4b-8e8e-000000000002"
# Graph publishes its app roles with the documented ids; the stand-in `az` answers with them.
ROLE_IDS = GRAPH_APP_ROLE_IDS

# A stand-in for the Azure CLI: enough of `az rest` and `az identity show` for the script.
FAKE_AZ = r"""#!{python}
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
def arg(name):
    return args[args.index(name) + 1] if name in args else ""
state = json.load(open(os.environ["FAKE_AZ_STATE"]))
url, query = arg("--url"), arg("--query")
if args[:2] == ["identity", "show"]:
    print(state["principal"])
elif args[:1] == ["rest"] and arg("--method") == "get":
    if url.endswith("servicePrincipals(appId='00000003-0000-0000-c000-000000000000')"):
        print(state["graph_sp"])
    elif url.endswith("/appRoleAssignments"):
        print("\n".join(state["granted"]))
    elif "$select=appRoles" in url:
        value = re.search(r"value=='([^']+)'", query).group(1)
        print(state["roles"].get(value, "None"))
    else:
        sys.exit("unexpected GET " + url)
elif args[:1] == ["rest"] and arg("--method") == "post":
    assert url.endswith("/servicePrincipals/%s/appRoleAssignedTo" % state["graph_sp"]), url
else:
    sys.exit("unexpected az call: %s" % args)
"""


@pytest.fixture
def fake_az(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.replace("{python}", sys.executable), encoding="utf-8")
    az.chmod(0o755)
    return {"bin": bin_dir, "log": tmp_path / "az.log", "state": tmp_path / "state.json"}


Run = tuple[subprocess.CompletedProcess[str], list[list[str]]]


def run_script(
    fake_az: dict[str, Path], granted: list[str], *args: str, roles: dict[str, str] = ROLE_IDS
) -> Run:
    """Run the script against the stand-in `az`: its answer and the `az` calls it made."""
    state = {"principal": PRINCIPAL, "graph_sp": GRAPH_SP, "roles": roles, "granted": granted}
    fake_az["state"].write_text(json.dumps(state), encoding="utf-8")
    fake_az["log"].write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{fake_az['bin']}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AZ_LOG": str(fake_az["log"]),
        "FAKE_AZ_STATE": str(fake_az["state"]),
    }
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the script"
    completed = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [bash, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    calls = [json.loads(line) for line in fake_az["log"].read_text(encoding="utf-8").splitlines()]
    return completed, calls


def posted_role_ids(calls: list[list[str]]) -> list[str]:
    bodies = [json.loads(call[call.index("--body") + 1]) for call in calls if "post" in call]
    for body in bodies:
        assert body["principalId"] == PRINCIPAL
        assert body["resourceId"] == GRAPH_SP
    return [body["appRoleId"] for body in bodies]


def test_shellcheck_is_clean() -> None:
    completed = subprocess.run(  # noqa: S603 - our own tool and script
        [str(infra_tool("shellcheck")), str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_grants_each_missing_role_once(fake_az: dict[str, Path]) -> None:
    completed, calls = run_script(fake_az, [], "--principal-id", PRINCIPAL)
    assert completed.returncode == 0, completed.stderr
    assert posted_role_ids(calls) == list(ROLE_IDS.values())
    assert completed.stdout.splitlines() == [f"{value}: granted" for value in ROLE_IDS]


def test_running_again_grants_nothing(fake_az: dict[str, Path]) -> None:
    completed, calls = run_script(fake_az, list(ROLE_IDS.values()), "--principal-id", PRINCIPAL)
    assert completed.returncode == 0, completed.stderr
    assert posted_role_ids(calls) == []
    assert completed.stdout.splitlines() == [f"{value}: already granted" for value in ROLE_IDS]


def test_grants_only_what_is_missing(fake_az: dict[str, Path]) -> None:
    completed, calls = run_script(fake_az, [ROLE_IDS["Chat.Create"]], "--principal-id", PRINCIPAL)
    assert completed.returncode == 0, completed.stderr
    assert posted_role_ids(calls) == [ROLE_IDS["Chat.ReadBasic.All"], ROLE_IDS["User.Read.All"]]


def test_finds_the_identity_by_name_and_dry_run_grants_nothing(fake_az: dict[str, Path]) -> None:
    completed, calls = run_script(
        fake_az, [], "--resource-group", "rg-chatfn", "--identity-name", "id-chatfn-x", "--dry-run"
    )
    assert completed.returncode == 0, completed.stderr
    assert calls[0][:2] == ["identity", "show"]
    assert posted_role_ids(calls) == []
    assert all("would grant" in line for line in completed.stdout.splitlines())


def test_usage_and_bad_arguments(fake_az: dict[str, Path]) -> None:
    completed, _ = run_script(fake_az, [], "--help")
    assert completed.returncode == 0
    assert "Usage:" in completed.stdout
    completed, calls = run_script(fake_az, [])
    assert completed.returncode == 2
    assert "Usage:" in completed.stderr
    assert calls == []
    completed, calls = run_script(fake_az, [], "--principal-id", "not-a-guid")
    assert completed.returncode == 2
    assert "not an object id" in completed.stderr


def test_an_unknown_role_stops_the_script(fake_az: dict[str, Path]) -> None:
    roles = {value: role_id for value, role_id in ROLE_IDS.items() if value != "User.Read.All"}
    completed, _ = run_script(fake_az, [], "--principal-id", PRINCIPAL, roles=roles)
    assert completed.returncode == 2
    assert "no application permission 'User.Read.All'" in completed.stderr
