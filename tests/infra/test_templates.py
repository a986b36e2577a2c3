"""The deployment's promises, checked on pycep-parser's reading of infra/*.bicep.

A locked-down function app (HTTPS only, TLS 1.2, FTP off), on Flex Consumption with Python 3.11,
whose one user-assigned identity reaches storage without keys, holds only the roles it needs,
and is granted the Graph app roles the code uses; every app setting the code reads is wired.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import GRAPH_MODULE, INFRA, ROOT, BicepDoc

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# The Microsoft Graph application permissions of docs/graph.md (Identity) and docs/api.md.
GRAPH_APP_ROLES = ["Chat.Create", "Chat.ReadBasic.All", "User.Read.All"]

# Built-in Azure roles the identity holds, by their fixed role definition ids.
EXPECTED_ROLE_DEFINITIONS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner (host storage, leases, package)
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor (Durable queues)
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor (Durable history)
    "3913510d-42f4-4e42-8a64-420c390055eb",  # Monitoring Metrics Publisher (App Insights, Entra auth)
}
# Roles far broader than the app needs; none may appear anywhere in infra/.
BROAD_ROLE_DEFINITIONS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor (redundant beside Owner)",
}

# docs/api.md (Settings): every app setting the code reads, with its default.
DOCUMENTED_SETTINGS = {
    "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0",
    "AZURE_CLIENT_ID": None,
    "CHATFN_SYNC_WAIT_SECONDS": 20,
    "CHATFN_POLL_INTERVAL_SECONDS": 5,
    "CHATFN_OPERATION_DEADLINE_SECONDS": 600,
}
# main.bicep's parameter for each tunable setting.
SETTING_PARAMETERS = {
    "GRAPH_BASE_URL": "graphBaseUrl",
    "CHATFN_SYNC_WAIT_SECONDS": "syncWaitSeconds",
    "CHATFN_POLL_INTERVAL_SECONDS": "pollIntervalSeconds",
    "CHATFN_OPERATION_DEADLINE_SECONDS": "operationDeadlineSeconds",
}


# --- helpers over pycep-parser's JSON -------------------------------------------------------------


def resource_body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's declared body, the same for a plain resource and a `[for ...]` loop."""
    config: dict[str, Any] = resource["config"]
    return config["config"] if "loop_type" in config else config


def resources_of_type(parsed: dict[str, BicepDoc], type_: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(file, symbolic name, resource) of every resource of this type, `existing` ones excluded."""
    return [
        (file, name, resource)
        for file, doc in parsed.items()
        for name, resource in doc.get("resources", {}).items()
        if resource["type"] == type_ and not resource["existing"]
    ]


def only_resource(parsed: dict[str, BicepDoc], type_: str) -> dict[str, Any]:
    found = resources_of_type(parsed, type_)
    assert len(found) == 1, f"expected one {type_}, found {[(f, n) for f, n, _ in found]}"
    return resource_body(found[0][2])


def app_settings(parsed: dict[str, BicepDoc]) -> dict[str, Any]:
    site = only_resource(parsed, "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"an app setting is set twice: {names}"
    return {entry["name"]: entry["value"] for entry in entries}


def main_params(parsed: dict[str, BicepDoc]) -> dict[str, Any]:
    params: dict[str, Any] = parsed["main.bicep"]["parameters"]
    return params


def module_body(module: dict[str, Any]) -> dict[str, Any]:
    """A module's declared body, the same with and without an `if (...)` condition."""
    config: dict[str, Any] = module["config"]
    return config["config"] if "condition" in config else config


def function_app_module_params(parsed: dict[str, BicepDoc]) -> dict[str, Any]:
    module = parsed["main.bicep"]["modules"]["functionApp"]
    assert module["detail"]["path"] == "modules/function-app.bicep"
    params: dict[str, Any] = module_body(module)["params"]
    return params


def bicep_literal(value: object) -> str:
    """How a parameter default is written in main.parameters.json's ${NAME=default}."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def walk_strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def infra_texts() -> Iterator[tuple[Path, str]]:
    for path in sorted(INFRA.rglob("*")):
        if path.is_file():
            yield path, path.read_text(encoding="utf-8")
    yield ROOT / "azure.yaml", (ROOT / "azure.yaml").read_text(encoding="utf-8")


# --- every file parses ----------------------------------------------------------------------------


def test_every_bicep_file_parses(parsed: dict[str, BicepDoc]) -> None:
    expected = {
        "main.bicep",
        "modules/identity.bicep",
        "modules/monitoring.bicep",
        "modules/storage.bicep",
        "modules/rbac.bicep",
        "modules/function-app.bicep",
        "modules/graph-permissions.bicep",
    }
    assert expected <= set(parsed)
    for file, doc in parsed.items():
        assert doc.get("resources") or doc.get("modules"), f"{file} declares nothing"


def test_main_is_resource_group_scoped_and_modules_exist(parsed: dict[str, BicepDoc]) -> None:
    main = parsed["main.bicep"]
    assert main["globals"]["scope"]["value"] == "resourceGroup"
    for name, module in main["modules"].items():
        assert module["type"] == "local", f"{name}: registry modules cannot be checked here"
        assert (INFRA / module["detail"]["path"]).is_file(), name


# --- storage: keys off, TLS 1.2, HTTPS only ------------------------------------------------------


def test_storage_account_accepts_only_entra_identities_over_tls12(parsed: dict[str, BicepDoc]) -> None:
    account = only_resource(parsed, "Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["defaultToOAuthAuthentication"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["allowBlobPublicAccess"] is False


def test_deployment_container_is_private(parsed: dict[str, BicepDoc]) -> None:
    container = only_resource(parsed, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["name"] == "deploymentContainerName"
    assert container["properties"]["publicAccess"] == "None"


def test_no_storage_key_or_connection_string_anywhere() -> None:
    forbidden = ["listkeys(", "accountkey=", "defaultendpointsprotocol=", "sharedaccesssignature="]
    for path, text in infra_texts():
        lowered = text.lower()
        for needle in forbidden:
            assert needle not in lowered, f"{path} contains {needle!r}"


# --- the function app ------------------------------------------------------------------------------


def test_site_is_https_only_with_tls12_and_no_ftp(parsed: dict[str, BicepDoc]) -> None:
    site = only_resource(parsed, "Microsoft.Web/sites")
    properties = site["properties"]
    assert properties["httpsOnly"] is True
    site_config = properties["siteConfig"]
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["scmMinTlsVersion"] == "1.2"
    assert site_config["ftpsState"] == "Disabled"
    assert site_config["remoteDebuggingEnabled"] is False


def test_basic_auth_publishing_is_off_for_ftp_and_scm(parsed: dict[str, BicepDoc]) -> None:
    policies = {
        resource_body(policy)["name"]: resource_body(policy)["properties"]["allow"]
        for _, _, policy in resources_of_type(
            parsed, "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
        )
    }
    assert policies == {"ftp": False, "scm": False}


def test_flex_consumption_plan_on_linux(parsed: dict[str, BicepDoc]) -> None:
    plan = only_resource(parsed, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    site = only_resource(parsed, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"


def test_function_app_config_runs_python_311_with_scale_limits(parsed: dict[str, BicepDoc]) -> None:
    config = only_resource(parsed, "Microsoft.Web/sites")["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    scale = config["scaleAndConcurrency"]
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    # Sensible defaults, in main.bicep and passed through to the module.
    params = main_params(parsed)
    assert params["instanceMemoryMB"]["default"] == 2048
    assert 40 <= params["maximumInstanceCount"]["default"] <= 100
    module = function_app_module_params(parsed)
    assert module["instanceMemoryMB"] == "instanceMemoryMB"
    assert module["maximumInstanceCount"] == "maximumInstanceCount"


def test_deployment_package_is_read_with_the_user_assigned_identity(parsed: dict[str, BicepDoc]) -> None:
    storage = only_resource(parsed, "Microsoft.Web/sites")["properties"]["functionAppConfig"]["deployment"][
        "storage"
    ]
    assert storage["type"] == "blobContainer"
    assert storage["value"] == "deploymentContainerUrl"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityResourceId",
    }


def test_the_app_has_only_the_user_assigned_identity(parsed: dict[str, BicepDoc]) -> None:
    identity = only_resource(parsed, "Microsoft.Web/sites")["identity"]
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == ["'${identityResourceId}'"]
    only_resource(parsed, "Microsoft.ManagedIdentity/userAssignedIdentities")
    module = function_app_module_params(parsed)
    for param, output in [("identityResourceId", "resourceId"), ("identityClientId", "clientId")]:
        assert module[param]["operator"]["operands"]["operand_1"] == "identity"
        assert (
            module[param]["operator"]["operands"]["operand_2"]["operator"]["operands"]["operand_2"] == output
        )


def test_host_storage_is_identity_based(parsed: dict[str, BicepDoc]) -> None:
    settings = app_settings(parsed)
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AzureWebJobsStorage__blobServiceUri"] == "blobEndpoint"
    assert settings["AzureWebJobsStorage__queueServiceUri"] == "queueEndpoint"
    assert settings["AzureWebJobsStorage__tableServiceUri"] == "tableEndpoint"
    assert "AzureWebJobsStorage" not in settings, "a connection string would need the account key"


def test_no_settings_that_flex_consumption_rejects(parsed: dict[str, BicepDoc]) -> None:
    # The runtime and its version live in functionAppConfig.runtime on Flex Consumption.
    rejected = {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "APPINSIGHTS_INSTRUMENTATIONKEY",
    }
    assert rejected.isdisjoint(app_settings(parsed))


def test_telemetry_uses_entra_auth(parsed: dict[str, BicepDoc]) -> None:
    component = only_resource(parsed, "Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert component["properties"]["WorkspaceResourceId"]["operator"]["operands"] == {
        "operand_1": "logAnalytics",
        "operand_2": "id",
    }
    only_resource(parsed, "Microsoft.OperationalInsights/workspaces")
    settings = app_settings(parsed)
    assert (
        settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "ClientId=${identityClientId};Authorization=AAD"
    )
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"


# --- app settings the code reads -------------------------------------------------------------------


def test_every_contract_setting_is_wired_with_its_default(parsed: dict[str, BicepDoc]) -> None:
    settings = app_settings(parsed)
    assert set(DOCUMENTED_SETTINGS) <= set(settings)
    params = main_params(parsed)
    module = function_app_module_params(parsed)
    for setting, param in SETTING_PARAMETERS.items():
        assert params[param]["default"] == DOCUMENTED_SETTINGS[setting], setting
        assert module[param] == param, f"main.bicep does not pass {param} to the function app"
    for setting in (
        "CHATFN_SYNC_WAIT_SECONDS",
        "CHATFN_POLL_INTERVAL_SECONDS",
        "CHATFN_OPERATION_DEADLINE_SECONDS",
    ):
        function = settings[setting]["function"]
        assert function["type"] == "string"
        assert function["parameters"]["value_to_convert"] in SETTING_PARAMETERS.values()


def test_every_setting_chatfn_settings_reads_is_set(parsed: dict[str, BicepDoc]) -> None:
    """Names read by chatfn/settings.py (string constants that look like environment variables)."""
    tree = ast.parse((ROOT / "chatfn" / "settings.py").read_text(encoding="utf-8"))
    names = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", node.value)
    }
    assert set(DOCUMENTED_SETTINGS) <= names, "chatfn/settings.py no longer reads what docs/api.md names"
    assert names <= set(app_settings(parsed)), f"not set by the template: {names - set(app_settings(parsed))}"


# --- Azure role assignments ------------------------------------------------------------------------


def test_role_assignments_are_exactly_the_needed_data_roles(parsed: dict[str, BicepDoc]) -> None:
    assignments = resources_of_type(parsed, "Microsoft.Authorization/roleAssignments")
    assert {file for file, _, _ in assignments} == {"modules/rbac.bicep"}
    role_ids = {
        value.lower()
        for value in walk_strings(parsed["modules/rbac.bicep"]["variables"])
        if GUID.fullmatch(value)
    }
    assert role_ids == EXPECTED_ROLE_DEFINITIONS
    scopes = set()
    for _, _, assignment in assignments:
        body = resource_body(assignment)
        scopes.add(body["scope"])
        assert body["properties"]["principalId"] == "principalId"
        assert body["properties"]["principalType"] == "ServicePrincipal"
        role = body["properties"]["roleDefinitionId"]["function"]
        assert role["type"] == "subscription_resource_id"
        assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    # Scoped to the storage account and the Application Insights component, never wider.
    assert scopes == {"storage", "applicationInsights"}
    rbac = parsed["modules/rbac.bicep"]["resources"]
    assert rbac["storage"]["existing"] is True
    assert rbac["storage"]["type"] == "Microsoft.Storage/storageAccounts"
    assert rbac["applicationInsights"]["existing"] is True
    assert rbac["applicationInsights"]["type"] == "Microsoft.Insights/components"


def test_no_broad_role_is_named_anywhere() -> None:
    for path, text in infra_texts():
        for guid, name in BROAD_ROLE_DEFINITIONS.items():
            assert guid not in text.lower(), f"{path} names {name}"


def test_role_assignments_precede_the_function_app(parsed: dict[str, BicepDoc]) -> None:
    module = parsed["main.bicep"]["modules"]["functionApp"]
    assert module_body(module)["dependsOn"] == ["rbac"]


# --- Microsoft Graph app roles ---------------------------------------------------------------------


def test_main_grants_the_three_graph_app_roles_behind_a_parameter(parsed: dict[str, BicepDoc]) -> None:
    main = parsed["main.bicep"]
    assert main["variables"]["graphAppRoleValues"]["value"] == GRAPH_APP_ROLES
    assert main["parameters"]["grantGraphPermissions"]["type"] == "bool"
    assert main["parameters"]["grantGraphPermissions"]["default"] is True
    module = main["modules"]["graphPermissions"]
    assert module["detail"]["path"] == GRAPH_MODULE.relative_to(INFRA).as_posix()
    assert module["config"]["condition"] == "grantGraphPermissions"
    params = module_body(module)["params"]
    assert params["appRoleValues"] == "graphAppRoleValues"
    assert params["principalId"]["operator"]["operands"]["operand_1"] == "identity"
    assert main["outputs"]["CHATFN_GRAPH_APP_ROLES"]["value"] == "graphAppRoleValues"


def test_graph_module_uses_the_extension_and_looks_roles_up_by_value(parsed: dict[str, BicepDoc]) -> None:
    graph = parsed[GRAPH_MODULE.relative_to(INFRA).as_posix()]
    assert "microsoftGraphV1" in graph["extensions"]
    config = json.loads((INFRA / "bicepconfig.json").read_text(encoding="utf-8"))
    assert config["extensions"]["microsoftGraphV1"].startswith(
        "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:"
    )

    resources = graph["resources"]
    service_principal = resources["microsoftGraph"]
    assert service_principal["type"] == "Microsoft.Graph/servicePrincipals"
    assert service_principal["existing"] is True
    app_id = resource_body(service_principal)["appId"]
    assert graph["variables"][app_id]["value"] == GRAPH_APP_ID

    grants = resources["appRoleAssignments"]
    assert grants["type"] == "Microsoft.Graph/appRoleAssignedTo"
    assert grants["config"]["loop_type"]["detail"] == {
        "item_name": "appRoleValue",
        "array_name": "appRoleValues",
    }
    body = resource_body(grants)
    assert body["principalId"] == "principalId"
    assert body["resourceId"]["operator"]["operands"] == {"operand_1": "microsoftGraph", "operand_2": "id"}
    # appRoleId: filter(microsoftGraph.appRoles, appRole => (appRoleValue == appRole.value) && ...)[0].id
    lookup = body["appRoleId"]["operator"]["operands"]
    assert lookup["operand_2"] == "id"
    filter_call = lookup["operand_1"]["operator"]["operands"]["operand_1"]["function"]
    assert filter_call["type"] == "filter"
    assert filter_call["parameters"]["input_array"]["operator"]["operands"] == {
        "operand_1": "microsoftGraph",
        "operand_2": "appRoles",
    }
    condition = filter_call["parameters"]["expression"]["detail"]["expression"]["operator"]
    assert condition["type"] == "and"
    match = condition["operands"]["operand_1"]["operator"]
    assert match["type"] == "equals"
    assert match["operands"]["operand_1"] == "appRoleValue"
    assert match["operands"]["operand_2"]["operator"]["operands"] == {
        "operand_1": "appRole",
        "operand_2": "value",
    }
    application_only = condition["operands"]["operand_2"]["function"]
    assert application_only["type"] == "contains"
    assert application_only["parameters"]["item_to_find"] == "Application"


def test_graph_module_hard_codes_no_role_id() -> None:
    guids = {guid.lower() for guid in GUID.findall(GRAPH_MODULE.read_text(encoding="utf-8"))}
    assert guids == {GRAPH_APP_ID}


def test_admin_script_grants_the_same_roles() -> None:
    script = (INFRA / "scripts" / "grant-graph-permissions.sh").read_text(encoding="utf-8")
    match = re.search(r"^readonly APP_ROLES=\(([^)]*)\)$", script, re.MULTILINE)
    assert match, "APP_ROLES not found in the script"
    assert re.findall(r'"([^"]+)"', match.group(1)) == GRAPH_APP_ROLES


# --- outputs, parameters file, azure.yaml ----------------------------------------------------------


def test_outputs_give_the_url_and_the_identity(parsed: dict[str, BicepDoc]) -> None:
    outputs = parsed["main.bicep"]["outputs"]
    for name in (
        "CHATFN_API_URL",
        "CHATFN_IDENTITY_CLIENT_ID",
        "CHATFN_IDENTITY_PRINCIPAL_ID",
        "CHATFN_IDENTITY_RESOURCE_ID",
        "AZURE_FUNCTION_APP_NAME",
    ):
        assert outputs[name]["type"] == "string", name
    api_url = parsed["modules/function-app.bicep"]["outputs"]["apiBaseUrl"]["value"]
    assert api_url == "https://${functionApp.properties.defaultHostName}/api"


def test_parameters_file_matches_main(parsed: dict[str, BicepDoc]) -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    params = main_params(parsed)
    named = set(document["parameters"])
    assert named <= set(params), f"unknown parameters: {named - set(params)}"
    required = {name for name, param in params.items() if "default" not in param}
    assert required <= named
    assert document["parameters"]["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    # azd substitutes ${NAME=default}; each default must equal the template's own.
    for name, entry in document["parameters"].items():
        match = re.fullmatch(r"\$\{[A-Z_]+=(.*)\}", entry["value"])
        if match and "default" in params[name]:
            assert match.group(1) == bicep_literal(params[name]["default"]), name


def test_azure_yaml_deploys_the_root_as_a_python_function_app(parsed: dict[str, BicepDoc]) -> None:
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    for line in (
        "provider: bicep",
        "path: infra",
        "module: main",
        "project: .",
        "language: python",
        "host: function",
    ):
        assert re.search(rf"^\s*{re.escape(line)}\s*$", text, re.MULTILINE), line
    service = re.search(r"^services:\n  (\w+):$", text, re.MULTILINE)
    assert service
    tag_default = parsed["modules/function-app.bicep"]["parameters"]["azdServiceName"]["default"]
    assert service.group(1) == tag_default, "azd finds the app by its azd-service-name tag"


@pytest.mark.parametrize("entry", ["function_app.py", "host.json", "requirements.txt"])
def test_the_project_root_is_a_function_app(entry: str) -> None:
    if not (ROOT / entry).exists():
        pytest.skip(f"{entry} is not in this checkout yet")
    assert (ROOT / entry).is_file()
