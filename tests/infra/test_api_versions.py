"""Every resource of infra/ at an API version Azure publishes for its type, and every property of the Flex
Consumption site named as that version's schema names it: what Azure would refuse at deployment (an API
version that does not exist, one that predates functionAppConfig, a misspelt property) and pycep-parser
lets through. The published versions and the schema are data, with their sources, in
azure_api_versions.json.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import BicepDoc

DATA = json.loads(Path(__file__).with_name("azure_api_versions.json").read_text(encoding="utf-8"))
SITE = "Microsoft.Web/sites"
# Bicep's own keywords, allowed in every resource body beside the type's properties.
BICEP_KEYWORDS = {"parent", "scope", "dependsOn"}


def _resources(parsed: dict[str, BicepDoc]) -> Iterator[tuple[str, dict[str, Any]]]:
    for file, doc in parsed.items():
        for name, resource in doc.get("resources", {}).items():
            yield f"{file}:{name}", resource


def _body(resource: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = resource["config"]
    return config["config"] if "condition" in config or "loop_type" in config else config


def version_violations(parsed: dict[str, BicepDoc]) -> list[str]:
    """Each resource whose type or API version the data does not list as published."""
    found = []
    for where, resource in _resources(parsed):
        published = DATA["types"].get(resource["type"])
        if published is None:
            found.append(
                f"{where}: {resource['type']} is not in azure_api_versions.json (add it, with its source)"
            )
        elif resource["api_version"] not in published["versions"]:
            found.append(
                f"{where}: {resource['type']}@{resource['api_version']} is not a published API version"
            )
    return found


def site_violations(parsed: dict[str, BicepDoc]) -> list[str]:
    """Each Flex site at a version without functionAppConfig or without a schema here, and each of its
    property names that the version's schema does not have."""
    found = []
    since = DATA["functionAppConfigSince"]["version"]
    for where, resource in _resources(parsed):
        if resource["type"] != SITE or resource["existing"]:
            continue
        version = resource["api_version"]
        if version < since:
            found.append(f"{where}: {SITE}@{version} predates functionAppConfig (Flex Consumption, {since})")
        schema = DATA["schemas"].get(f"{SITE}@{version}")
        if schema is None:
            found.append(f"{where}: no schema of {SITE}@{version} in azure_api_versions.json")
            continue
        found += [f"{where}: {name}" for name in _unknown_names(_body(resource), "", schema["objects"])]
    return found


def _unknown_names(node: dict[str, Any], path: str, objects: dict[str, list[str]]) -> Iterator[str]:
    """The property names under `path` that the schema's object there lacks, at every depth it describes."""
    allowed = set(objects[path]) | (BICEP_KEYWORDS if path == "" else set())
    for key, value in node.items():
        name = str(key).strip("'")
        child = f"{path}.{name}" if path else name
        if name not in allowed:
            yield child
        elif isinstance(value, dict) and child in objects:
            yield from _unknown_names(value, child, objects)
        elif isinstance(value, list) and f"{child}[]" in objects:
            for item in value:
                if isinstance(item, dict):
                    yield from _unknown_names(item, f"{child}[]", objects)


def test_every_resource_is_at_a_published_api_version(parsed: dict[str, BicepDoc]) -> None:
    assert version_violations(parsed) == []


def test_the_flex_site_names_only_properties_of_its_api_version(parsed: dict[str, BicepDoc]) -> None:
    assert site_violations(parsed) == []


def test_the_always_ready_entries_are_named_as_the_schema_names_them(parsed: dict[str, BicepDoc]) -> None:
    """scaleAndConcurrency.alwaysReady is a variable of the module: its entries are checked here."""
    objects = DATA["schemas"][f"{SITE}@2024-04-01"]["objects"]
    allowed = set(objects["properties.functionAppConfig.scaleAndConcurrency.alwaysReady[]"])
    choice = parsed["modules/function-app.bicep"]["variables"]["alwaysReady"]["value"]["operator"]["operands"]
    entries = [entry for branch in ("true_value", "false_value") for entry in choice[branch]]
    assert entries
    for entry in entries:
        assert set(entry) <= allowed, entry


def _site(parsed: dict[str, BicepDoc]) -> dict[str, Any]:
    site: dict[str, Any] = parsed["modules/function-app.bicep"]["resources"]["functionApp"]
    return site


BREAKS: dict[str, tuple[str, Any]] = {
    # Azure answers "No registered resource provider found for location ... and API version".
    "an API version that does not exist": ("api_version", "2024-13-01"),
    # Accepted, but without functionAppConfig the site is no Flex Consumption app.
    "an API version before functionAppConfig": ("api_version", "2023-01-01"),
}


@pytest.mark.parametrize("name", BREAKS)
def test_each_wrong_version_is_caught(parsed: dict[str, BicepDoc], name: str) -> None:
    broken = copy.deepcopy(parsed)
    key, value = BREAKS[name]
    _site(broken)[key] = value
    assert version_violations(broken) + site_violations(broken)


@pytest.mark.parametrize(
    ("where", "misspelt"),
    [
        ("", "identiy"),
        ("properties", "httpOnly"),
        ("properties.siteConfig", "minTLSVersion"),
        ("properties.functionAppConfig.scaleAndConcurrency", "maximumInstances"),
        ("properties.functionAppConfig.deployment.storage.authentication", "userAssignedIdentityId"),
    ],
)
def test_a_misspelt_property_of_the_site_is_caught(
    parsed: dict[str, BicepDoc], where: str, misspelt: str
) -> None:
    broken = copy.deepcopy(parsed)
    node = _body(_site(broken))
    for part in filter(None, where.split(".")):
        node = node[part]
    node[misspelt] = True
    assert site_violations(broken) == [
        f"modules/function-app.bicep:functionApp: {where + '.' if where else ''}{misspelt}"
    ]


def test_the_data_names_its_source_for_every_type() -> None:
    for type_, published in DATA["types"].items():
        source = published["source"]
        assert {"repository", "path", "commit", "how"} <= set(source), type_
        assert len(source["commit"]) == 40, type_
