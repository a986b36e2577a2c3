"""docs/deploy.md names only parameters, outputs, variables and scripts that exist."""

from __future__ import annotations

import json
import re

from .conftest import INFRA, ROOT, BicepDoc

DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_outputs_the_doc_reads_exist(parsed: dict[str, BicepDoc]) -> None:
    outputs = set(parsed["main.bicep"]["outputs"])
    named = set(re.findall(r"azd env get-value (\w+)", DOC)) | set(re.findall(r"outputs\.(\w+)\.value", DOC))
    named |= set(re.findall(r"the (\w+) output", DOC))
    assert named, "the doc reads no output"
    assert named <= outputs, f"not outputs of main.bicep: {named - outputs}"


def test_parameters_and_azd_variables_in_the_doc_exist(parsed: dict[str, BicepDoc]) -> None:
    params = set(parsed["main.bicep"]["parameters"])
    azd_values = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    azd_variables = {}
    for name, entry in azd_values.items():
        match = re.fullmatch(r"\$\{(\w+)(=.*)?\}", entry["value"])
        assert match, f"{name}: not an azd environment variable"
        azd_variables[name] = match.group(1)
    rows = re.findall(r"^\| `?([\w()]+| *\(none\))`? \| `(\w+)` \| `([^`]+)` \|", DOC, re.MULTILINE)
    assert len(rows) >= 8, "the settings table is missing"
    for variable, param, default in rows:
        assert param in params, param
        expected = parsed["main.bicep"]["parameters"][param]["default"]
        assert default == (str(expected).lower() if isinstance(expected, bool) else str(expected)), param
        if variable.strip() != "(none)":
            assert azd_variables.get(param) == variable, f"{param} is not read from {variable}"
    start = DOC.index("## Deploy with the Azure CLI only")
    end = DOC.index("`main.parameters.json` is for azd")
    cli_section = DOC[start:end]
    cli_params = set(re.findall(r"\b([a-z]\w*)=[\w-]+", cli_section))
    assert "environmentName" in cli_params
    assert cli_params <= params, f"not parameters of main.bicep: {cli_params - params}"


def test_scripts_and_files_the_doc_names_exist() -> None:
    for path in set(re.findall(r"(?<![\w/])((?:infra|docs)/[\w./-]+\.(?:sh|bicep|json|md))", DOC)):
        assert (ROOT / path).is_file(), path
    assert "infra/scripts/grant-graph-permissions.sh" in DOC


def test_the_doc_says_the_group_it_creates_cannot_move_to_another_region(parsed: dict[str, BicepDoc]) -> None:
    """With no group named, main.bicep declares rg-<environmentName> in `location`; ARM refuses that for
    a group that exists in another region (InvalidResourceGroupLocation), and every name's suffix
    derives from the region. The doc says so, and the two ways out."""
    main = parsed["main.bicep"]
    group = main["resources"]["rg"]["config"]
    assert group["condition"] == "createResourceGroup"
    assert group["config"]["location"] == "location"
    assert "location" in json.dumps(main["variables"]["resourceToken"]["value"])
    start, end = DOC.index("### An existing resource group"), DOC.index("## Deploy with the Azure CLI only")
    section = DOC[start:end]
    assert "`rg-<environment name>`" in section
    assert "`InvalidResourceGroupLocation`" in section
    assert "azd env set AZURE_LOCATION <that region>" in section, "the same region"
    assert "azd env new <new name>" in section, "or a new environment name"
    assert group["config"]["tags"], "the group is declared with tags of its own"
    assert "**replaces its tags**" in section, "a group of that name in the same region loses its other tags"
