"""infra/scripts/wait-for-deployment-storage.sh, azd's postprovision hook: lint-clean, wired in azure.yaml,
and bounded against a stand-in `az` whose function app can use its storage only after a few tries.

The stand-in answers `az account show` and `az functionapp keys list` from a small state file and
records every call, as tests/infra/test_grant_script.py does for the grant script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import INFRA, ROOT, infra_tool

SCRIPT = INFRA / "scripts" / "wait-for-deployment-storage.sh"
AZD_ENV = {
    "AZURE_RESOURCE_GROUP": "rg-chatfn",
    "AZURE_FUNCTION_NAME": "func-chatfn-x",
    "AZURE_SUBSCRIPTION_ID": "8b081ef6-4792-4def-b2c9-c363a1bf41d5",
}

FAKE_AZ = r"""#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state_file = os.environ["FAKE_AZ_STATE"]
state = json.load(open(state_file))
if args[:2] == ["account", "show"]:
    sys.exit(0 if state["signed_in"] else 1)
if args[:3] == ["functionapp", "keys", "list"]:
    state["tries"] += 1
    json.dump(state, open(state_file, "w"))
    if state["tries"] <= state["refusals"]:
        sys.exit("ERROR: Operation returned an invalid status 'Bad Request'")
    sys.exit(0)
sys.exit("unexpected az call: %s" % args)
"""

Run = tuple[subprocess.CompletedProcess[str], list[list[str]]]


@pytest.fixture
def fake_az(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.replace("{python}", sys.executable), encoding="utf-8")
    az.chmod(0o755)
    sleep = shutil.which("sleep")
    assert sleep, "sleep is needed to run the hook"
    (bin_dir / "sleep").symlink_to(sleep)
    return {"bin": bin_dir, "log": tmp_path / "az.log", "state": tmp_path / "state.json"}


def run_hook(
    fake_az: dict[str, Path],
    *,
    refusals: int = 0,
    signed_in: bool = True,
    with_az: bool = True,
    env: dict[str, str] | None = None,
) -> Run:
    """Run the hook as azd would, with only the stand-in `az` (and `sleep`) on PATH."""
    fake_az["state"].write_text(json.dumps({"signed_in": signed_in, "refusals": refusals, "tries": 0}))
    fake_az["log"].write_text("", encoding="utf-8")
    if not with_az:
        (fake_az["bin"] / "az").unlink()
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the hook"
    completed = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [bash, str(SCRIPT)],
        capture_output=True,
        text=True,
        env={
            "PATH": str(fake_az["bin"]),
            "FAKE_AZ_LOG": str(fake_az["log"]),
            "FAKE_AZ_STATE": str(fake_az["state"]),
            "CHATFN_STORAGE_WAIT_INTERVAL": "1",
            **AZD_ENV,
            **(env or {}),
        },
        timeout=60,
        check=False,
    )
    calls = [json.loads(line) for line in fake_az["log"].read_text(encoding="utf-8").splitlines()]
    return completed, calls


def key_listings(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if call[:3] == ["functionapp", "keys", "list"]]


@pytest.mark.infra  # shellcheck comes with .venv-infra, which `make unit` does not set up
def test_shellcheck_is_clean() -> None:
    completed = subprocess.run(  # noqa: S603 - our own tool and script
        [str(infra_tool("shellcheck")), str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_azd_runs_it_after_provisioning() -> None:
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    hook = re.search(
        r"^hooks:\n(?:  #.*\n)*  postprovision:\n    shell: sh\n    run: (\S+)$", text, re.MULTILINE
    )
    assert hook, "azure.yaml runs no sh postprovision hook"
    assert hook.group(1) == SCRIPT.relative_to(ROOT).as_posix()
    assert os.access(SCRIPT, os.X_OK), "azd runs a sh hook's file directly on Linux and macOS"


def test_waits_until_the_app_can_use_its_storage(fake_az: dict[str, Path]) -> None:
    completed, calls = run_hook(fake_az, refusals=2)
    assert completed.returncode == 0, completed.stderr
    listings = key_listings(calls)
    assert len(listings) == 3, "two refusals, then the role has arrived"
    for call in listings:
        assert call[call.index("--resource-group") + 1] == AZD_ENV["AZURE_RESOURCE_GROUP"]
        assert call[call.index("--name") + 1] == AZD_ENV["AZURE_FUNCTION_NAME"]
        assert call[call.index("--subscription") + 1] == AZD_ENV["AZURE_SUBSCRIPTION_ID"]
    assert "can write to its storage account" in completed.stdout


def test_gives_up_within_its_bound_with_what_to_do(fake_az: dict[str, Path]) -> None:
    completed, calls = run_hook(fake_az, refusals=1000, env={"CHATFN_STORAGE_WAIT_SECONDS": "3"})
    assert completed.returncode == 1
    assert 2 <= len(key_listings(calls)) <= 4, "tries once a second for three seconds"
    assert "run 'azd deploy' in a few minutes" in completed.stderr
    assert "docs/deploy.md" in completed.stderr


@pytest.mark.parametrize(("with_az", "signed_in"), [(False, False), (True, False)])
def test_without_a_signed_in_azure_cli_it_says_so_and_lets_azd_go_on(
    fake_az: dict[str, Path], with_az: bool, signed_in: bool
) -> None:
    completed, calls = run_hook(fake_az, with_az=with_az, signed_in=signed_in)
    assert completed.returncode == 0, completed.stderr
    assert key_listings(calls) == []
    assert "not waiting for the storage role" in completed.stdout
    assert "run it again a few minutes later" in completed.stdout


def test_outside_azd_it_explains_itself(fake_az: dict[str, Path]) -> None:
    completed, calls = run_hook(fake_az, env={"AZURE_FUNCTION_NAME": ""})
    assert completed.returncode == 2
    assert "postprovision hook" in completed.stderr
    assert calls == []
