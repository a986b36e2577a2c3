"""Every site, siteConfig and app setting in infra/ against what Flex Consumption refuses or
deprecates (documented.py cites Microsoft's list): such a template passes every structural check
and then fails `azd up`, as `ftpsState` did."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .conftest import BicepDoc
from .documented import FLEX_DEPRECATED_APP_SETTINGS, FLEX_DEPRECATED_SITE_PROPERTIES


def sites(parsed: dict[str, BicepDoc]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for file, doc in parsed.items():
        for name, resource in doc.get("resources", {}).items():
            if resource["type"] == "Microsoft.Web/sites" and not resource["existing"]:
                config = resource["config"]
                found.append(
                    (f"{file}:{name}", config.get("config", config) if "condition" in config else config)
                )
    assert found, "no Microsoft.Web/sites in infra/"
    return found


def keys(node: object) -> set[str]:
    """Every property name in a resource body, at any depth, without Bicep's quotes."""
    if isinstance(node, dict):
        return {str(key).strip("'") for key in node} | {k for value in node.values() for k in keys(value)}
    if isinstance(node, list):
        return {k for item in node for k in keys(item)}
    return set()


def refused_site_properties(parsed: dict[str, BicepDoc]) -> list[str]:
    """Each site property, at any depth, that Flex Consumption refuses or ignores, with the reason."""
    return [
        f"{where} sets {name}: {FLEX_DEPRECATED_SITE_PROPERTIES[name]}"
        for where, site in sites(parsed)
        for name in sorted(FLEX_DEPRECATED_SITE_PROPERTIES)
        if name.lower() in {key.lower() for key in keys(site["properties"])}
    ]


def test_no_site_property_flex_consumption_refuses(parsed: dict[str, BicepDoc]) -> None:
    assert refused_site_properties(parsed) == []


@pytest.mark.parametrize("flex_rule", sorted(FLEX_DEPRECATED_SITE_PROPERTIES))
def test_each_refused_property_is_caught(parsed: dict[str, BicepDoc], flex_rule: str) -> None:
    broken = copy.deepcopy(parsed)
    site = broken["modules/function-app.bicep"]["resources"]["functionApp"]["config"]
    site["properties"]["siteConfig"][flex_rule] = True
    reason = FLEX_DEPRECATED_SITE_PROPERTIES[flex_rule]
    assert refused_site_properties(broken) == [
        f"modules/function-app.bicep:functionApp sets {flex_rule}: {reason}"
    ]


def test_no_app_setting_flex_consumption_refuses(parsed: dict[str, BicepDoc]) -> None:
    for where, site in sites(parsed):
        names = {entry["name"].upper() for entry in site["properties"]["siteConfig"]["appSettings"]}
        refused = {
            name: FLEX_DEPRECATED_APP_SETTINGS[name] for name in names & set(FLEX_DEPRECATED_APP_SETTINGS)
        }
        assert not refused, f"{where}: {refused}"
    # Nor through a sites/config appsettings resource, which would bypass the list above.
    for doc in parsed.values():
        for resource in doc.get("resources", {}).values():
            if resource["type"] == "Microsoft.Web/sites/config":
                body = resource["config"].get("config", resource["config"])
                assert body["name"] != "appsettings", "set app settings in siteConfig.appSettings"


def test_the_runtime_lives_in_function_app_config(parsed: dict[str, BicepDoc]) -> None:
    for where, site in sites(parsed):
        assert site["properties"]["functionAppConfig"]["runtime"]["name"] == "python", where
