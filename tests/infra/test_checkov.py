"""checkov's Bicep checks over infra/: none fails, and each suppression is justified where it is made.

The Graph extension's modules are left out (their `extension` statement is beyond checkov's bundled
parser) and are held to their promises by test_templates.py and test_caller_auth.py instead.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import INFRA

pytestmark = pytest.mark.infra

# Every suppression made in infra/, by check and resource. A new one must be added here too,
# so that a reviewer reads its reason.
EXPECTED_SUPPRESSIONS = {
    ("CKV_AZURE_35", "Microsoft.Storage/storageAccounts.storage"),  # firewall: no VNet integration
    ("CKV_AZURE_59", "Microsoft.Storage/storageAccounts.storage"),  # public endpoint: same reason
    ("CKV_AZURE_206", "Microsoft.Storage/storageAccounts.storage"),  # LRS by default: every region
    ("CKV_AZURE_225", "Microsoft.Web/serverfarms.plan"),  # zone redundancy is regional
    ("CKV_AZURE_222", "Microsoft.Web/sites.functionApp"),  # a public API with function keys
    ("CKV_AZURE_17", "Microsoft.Web/sites.functionApp"),  # callers use keys, not client certs
    ("CKV_AZURE_212", "Microsoft.Web/sites.functionApp"),  # Flex scales from zero
    ("CKV_AZURE_213", "Microsoft.Web/sites.functionApp"),  # health check is for fixed pools
    ("CKV_AZURE_78", "Microsoft.Web/sites.functionApp"),  # Flex refuses ftpsState; FTP policy off
    # Site checks that checkov misapplies to the authsettingsV2 child resource.
    *(
        (check, "Microsoft.Web/sites/config.authentication")
        for check in (
            "CKV_AZURE_13",
            "CKV_AZURE_222",
            "CKV_AZURE_63",
            "CKV_AZURE_65",
            "CKV_AZURE_66",
            "CKV_AZURE_80",
            "CKV_AZURE_88",
        )
    ),
}

# Checks that carry the promises; each must run and pass.
MUST_PASS = {
    ("CKV_AZURE_70", "Microsoft.Web/sites.functionApp"),  # HTTPS only
    ("CKV_AZURE_145", "Microsoft.Web/sites.functionApp"),  # function app minimum TLS 1.2
    ("CKV_AZURE_56", "Microsoft.Web/sites/config.authentication"),  # Entra ID authentication
    ("CKV_AZURE_71", "Microsoft.Web/sites.functionApp"),  # managed identity
    ("CKV_AZURE_3", "Microsoft.Storage/storageAccounts.storage"),  # secure transfer
    ("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage"),  # storage minimum TLS 1.2
}

SKIP_COMMENT = re.compile(r"checkov:skip=(?P<check>[A-Z0-9_]+):(?P<reason>.*)$")


def checks(report: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    return {(check["check_id"], check["resource"]) for check in report["results"].get(kind, [])}


def test_no_check_fails_and_every_file_is_read(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = checks(checkov_report, "failed_checks")
    assert summary["failed"] == 0, f"failed checks: {sorted(failed)}"
    assert summary["parsing_errors"] == 0, checkov_report["results"].get("parsing_errors")
    assert summary["passed"] > 0
    scanned = {
        check["file_path"]
        for kind in ("passed_checks", "skipped_checks")
        for check in checkov_report["results"].get(kind, [])
    }
    assert {"/modules/function-app.bicep", "/modules/storage.bicep"} <= scanned


def test_the_checks_that_matter_pass(checkov_report: dict[str, Any]) -> None:
    missing = MUST_PASS - checks(checkov_report, "passed_checks")
    assert not missing, f"did not pass: {sorted(missing)}"


def test_suppressions_are_the_reviewed_ones_with_reasons(checkov_report: dict[str, Any]) -> None:
    assert checks(checkov_report, "skipped_checks") == EXPECTED_SUPPRESSIONS
    for check in checkov_report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= 60, f"{check['check_id']} needs a real reason, not {reason!r}"


def test_every_skip_comment_in_infra_has_a_reason() -> None:
    found = []
    for path in sorted(INFRA.rglob("*.bicep")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" not in line:
                continue
            match = SKIP_COMMENT.search(line)
            assert match, f"{path.name}: malformed suppression {line.strip()!r}"
            assert len(match["reason"].strip()) >= 60, f"{path.name}: {match['check']} lacks a reason"
            found.append(match["check"])
    assert sorted(found) == sorted(check for check, _ in EXPECTED_SUPPRESSIONS)
