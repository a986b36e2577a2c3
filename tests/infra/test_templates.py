"""The deployment's promises, checked on pycep-parser's reading of infra/*.bicep.

A locked-down function app (HTTPS only, TLS 1.2, FTP off), on Flex Consumption with Python 3.11,
deployed the way azd expects (subscription scope, its outputs and service tag), whose one
user-assigned identity reaches storage without keys, holds only the roles it needs, and can be
granted the Graph app roles the code uses; every app setting the code reads is wired.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatfn.contract import MAX_BODY_BYTES

from .conftest import GRAPH_MODULE, INFRA, ROOT, BicepDoc
from .documented import (
    BUILT_IN_ROLE_IDS,
    FLEX_DURABLE_ALWAYS_READY,
    FLEX_MAX_QUEUE_POLLING_SECONDS,
    GRAPH_APP_ROLE_IDS,
    PLATFORM_SETTINGS,
)
from .expressions import evaluate

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# The Microsoft Graph application permissions of docs/graph.md (Identity) and docs/api.md.
GRAPH_APP_ROLES = ["Chat.Create", "Chat.ReadBasic.All", "User.Read.All"]

# The built-in Azure roles the identity holds (documented.py names the source of the ids):
# host storage, leases and the package; Durable queues; Durable history and idempotency records;
# Application Insights with Entra auth.
NEEDED_ROLES = {
    "Storage Blob Data Owner",
    "Storage Queue Data Contributor",
    "Storage Table Data Contributor",
    "Monitoring Metrics Publisher",
}
# Roles far broader than the app needs (Blob Data Contributor is redundant beside Owner); none may
# appear anywhere in infra/.
BROAD_ROLES = {
    "Owner",
    "Contributor",
    "User Access Administrator",
    "Storage Account Contributor",
    "Storage Account Key Operator Service Role",
    "Storage Blob Data Contributor",
}

# docs/api.md (Settings): every app setting the code reads, with its default.
DOCUMENTED_SETTINGS = {
    "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0",
    "AZURE_CLIENT_ID": None,
    "CHATFN_SYNC_WAIT_SECONDS": 20,
    "CHATFN_POLL_INTERVAL_SECONDS": 5,
    "CHATFN_OPERATION_DEADLINE_SECONDS": 600,
    "CHATFN_PUBLIC_ORIGIN": "",
    "CHATFN_CALLER_AUTH": "key",
    "CHATFN_IDEMPOTENCY_TTL_HOURS": 24,
    "CHATFN_HISTORY_RETENTION_DAYS": 7,
}
# main.bicep's parameter for each tunable setting.
SETTING_PARAMETERS = {
    "GRAPH_BASE_URL": "graphBaseUrl",
    "CHATFN_SYNC_WAIT_SECONDS": "syncWaitSeconds",
    "CHATFN_POLL_INTERVAL_SECONDS": "pollIntervalSeconds",
    "CHATFN_OPERATION_DEADLINE_SECONDS": "operationDeadlineSeconds",
    "CHATFN_PUBLIC_ORIGIN": "publicOrigin",
    "CHATFN_CALLER_AUTH": "callerAuth",
    "CHATFN_IDEMPOTENCY_TTL_HOURS": "idempotencyTtlHours",
    "CHATFN_HISTORY_RETENTION_DAYS": "historyRetentionDays",
}
NUMERIC_SETTINGS = {
    "CHATFN_SYNC_WAIT_SECONDS",
    "CHATFN_POLL_INTERVAL_SECONDS",
    "CHATFN_OPERATION_DEADLINE_SECONDS",
    "CHATFN_IDEMPOTENCY_TTL_HOURS",
    "CHATFN_HISTORY_RETENTION_DAYS",
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
        "modules/api-registration.bicep",
    }
    assert expected <= set(parsed)
    for file, doc in parsed.items():
        assert doc.get("resources") or doc.get("modules"), f"{file} declares nothing"


def test_main_is_subscription_scoped_and_creates_the_resource_group(parsed: dict[str, BicepDoc]) -> None:
    """As the official Flex Consumption azd templates do: azd's resource-group scope is still beta."""
    main = parsed["main.bicep"]
    assert main["globals"]["scope"]["value"] == "subscription"
    group = main["resources"]["rg"]
    assert group["type"] == "Microsoft.Resources/resourceGroups"
    assert group["config"]["condition"] == "createResourceGroup"
    assert module_body(group)["name"] == "groupName"
    assert module_body(group)["tags"] == "tags"
    for name, module in main["modules"].items():
        assert module["type"] == "local", f"{name}: registry modules cannot be checked here"
        assert (INFRA / module["detail"]["path"]).is_file(), name
        scope = module_body(module)["scope"]["function"]
        assert scope["type"] == "resource_group", name
        assert scope["parameters"]["resource_group_name"] == "groupName", (
            f"{name} is not deployed into the group"
        )
        assert "rg" in module_body(module)["dependsOn"], f"{name} may start before its group exists"


@pytest.mark.parametrize(
    ("named", "created", "group"),
    [("", True, "rg-${environmentName}"), ("rg-shared", False, "rg-shared")],
)
def test_a_named_resource_group_is_used_as_it_is(
    parsed: dict[str, BicepDoc], named: str, created: bool, group: str
) -> None:
    """Declaring an existing group would replace its tags, and fail when it lives in another region
    (InvalidResourceGroupLocation): a named group is only deployed into."""
    variables = parsed["main.bicep"]["variables"]
    scope: dict[str, Any] = {"resourceGroupName": named}
    scope["createResourceGroup"] = evaluate(variables["createResourceGroup"]["value"], scope)
    assert scope["createResourceGroup"] is created
    assert evaluate(variables["groupName"]["value"], scope) == group
    assert parsed["main.bicep"]["outputs"]["AZURE_RESOURCE_GROUP"]["value"] == "groupName"


def test_azd_finds_the_app_by_its_service_tag(parsed: dict[str, BicepDoc]) -> None:
    """azd deploys a service's code to the resource tagged azd-service-name: <service>."""
    site = only_resource(parsed, "Microsoft.Web/sites")
    tags = site["tags"]["function"]
    assert tags["type"] == "union"
    assert tags["parameters"]["arg_1"] == "tags"
    assert tags["parameters"]["arg_2"] == {"'azd-service-name'": "azdServiceName"}
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    service = re.search(r"^services:\n  (\w+):$", text, re.MULTILINE)
    assert service
    tag_default = parsed["modules/function-app.bicep"]["parameters"]["azdServiceName"]["default"]
    assert service.group(1) == tag_default
    assert "azdServiceName" not in function_app_module_params(parsed), "main.bicep must keep the default"
    # azd-env-name on the group and everything in it, for `azd down` and for people.
    assert parsed["main.bicep"]["variables"]["tags"]["value"]["'azd-env-name'"] == "environmentName"


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


def test_no_instrumentation_key_setting(parsed: dict[str, BicepDoc]) -> None:
    # Local auth is off on Application Insights: only the connection string and an Entra token work.
    assert "APPINSIGHTS_INSTRUMENTATIONKEY" not in app_settings(parsed)


def test_log_analytics_accepts_only_entra_identities(parsed: dict[str, BicepDoc]) -> None:
    workspace = only_resource(parsed, "Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["features"]["disableLocalAuth"] is True


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


def test_the_python_worker_exports_the_apps_telemetry_without_httpxs_spans(
    parsed: dict[str, BicepDoc],
) -> None:
    """The worker sets Azure Monitor up before the app (chatfn/telemetry.py then sets nothing up), with
    httpx's instrumentation off: its spans would keep Graph's URLs, $filter addresses included
    (tests/test_telemetry.py shows the distribution instruments httpx without this setting)."""
    settings = app_settings(parsed)
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert settings["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] == "httpx"
    assert settings["CHATFN_TELEMETRY"] == "azure-monitor"
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["telemetryMode"] == "OpenTelemetry"


# --- app settings the code reads -------------------------------------------------------------------


def test_every_contract_setting_is_wired_with_its_default(parsed: dict[str, BicepDoc]) -> None:
    settings = app_settings(parsed)
    assert set(DOCUMENTED_SETTINGS) <= set(settings)
    params = main_params(parsed)
    module = function_app_module_params(parsed)
    for setting, param in SETTING_PARAMETERS.items():
        assert params[param]["default"] == DOCUMENTED_SETTINGS[setting], setting
        assert module[param] == param, f"main.bicep does not pass {param} to the function app"
        value = settings[setting]
        if setting in NUMERIC_SETTINGS:
            function = value["function"]
            assert function["type"] == "string"
            value = function["parameters"]["value_to_convert"]
        assert value == param, f"{setting} is not set from {param}"
    assert settings["CHATFN_CREDENTIAL"] == "managed_identity"
    table = parsed["modules/function-app.bicep"]["variables"]["idempotencyTableName"]["value"]
    assert settings["CHATFN_IDEMPOTENCY_TABLE"] == "idempotencyTableName"
    assert table == "chatfnrequests"


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
    settings = set(app_settings(parsed))
    assert PLATFORM_SETTINGS.isdisjoint(settings), "the platform sets these; a template must not"
    missing = names - settings - PLATFORM_SETTINGS
    assert not missing, f"not set by the template: {missing}"


def test_the_host_refuses_oversized_bodies_before_buffering_them(parsed: dict[str, BicepDoc]) -> None:
    """The Functions host buffers a body before the app sees it: its own limit (one for the whole app)
    is twice the largest body a route accepts, the batch's."""
    settings = app_settings(parsed)
    assert settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]["function"]["parameters"] == {
        "value_to_convert": "requestBodySizeLimitBytes"
    }
    limit = parsed["modules/function-app.bicep"]["variables"]["requestBodySizeLimitBytes"]["value"]
    assert "batchMaxBytes" in json.dumps(limit), "the limit follows the batch's"
    main = parsed["main.bicep"]["parameters"]["batchMaxBytes"]
    assert MAX_BODY_BYTES < int(main["default"]) <= 8 * 1024 * 1024, "far below the default 100 MB"


def test_make_run_holds_bodies_to_the_deployments_limit(parsed: dict[str, BicepDoc]) -> None:
    """`make run` starts from local.settings.json.example: the local host holds a body to the limit a
    deployment sets, not to its own default of 100 MB (four such uploads took 400 MB)."""
    example = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))["Values"]
    batch_max_bytes = int(parsed["main.bicep"]["parameters"]["batchMaxBytes"]["default"])
    assert int(example["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]) == 2 * batch_max_bytes


def test_durable_queues_are_polled_often_enough_for_flex(parsed: dict[str, BicepDoc]) -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    durable = host["extensions"]["durableTask"]
    interval = durable["storageProvider"]["maxQueuePollingInterval"]
    hours, minutes, seconds = (int(part) for part in interval.split(":"))
    assert 0 < hours * 3600 + minutes * 60 + seconds <= FLEX_MAX_QUEUE_POLLING_SECONDS
    assert durable["hubName"] == "chatfn", "the task hub keeps its name: renaming orphans instances"


def test_always_ready_durable_instances_follow_microsofts_advice(parsed: dict[str, BicepDoc]) -> None:
    """One by default, as the Durable docs advise for Flex Consumption (documented.py); 0 can turn it off."""
    main = main_params(parsed)
    assert main["durableAlwaysReadyInstances"]["default"] == FLEX_DURABLE_ALWAYS_READY
    assert {"type": "min_value", "argument": 0} in main["durableAlwaysReadyInstances"]["decorators"]
    module_default = parsed["modules/function-app.bicep"]["parameters"]["durableAlwaysReadyInstances"][
        "default"
    ]
    assert module_default == FLEX_DURABLE_ALWAYS_READY
    assert function_app_module_params(parsed)["durableAlwaysReadyInstances"] == "durableAlwaysReadyInstances"
    module = parsed["modules/function-app.bicep"]
    scale = only_resource(parsed, "Microsoft.Web/sites")["properties"]["functionAppConfig"][
        "scaleAndConcurrency"
    ]
    assert scale["alwaysReady"] == "alwaysReady"
    choice = module["variables"]["alwaysReady"]["value"]["operator"]
    assert choice["type"] == "conditional"
    assert choice["operands"]["condition"]["operator"] == {
        "type": "greater_than",
        "operands": {"operand_1": "durableAlwaysReadyInstances", "operand_2": 0},
    }
    assert choice["operands"]["true_value"] == [
        {"name": "durable", "instanceCount": "durableAlwaysReadyInstances"}
    ]
    assert choice["operands"]["false_value"] == []


def test_storage_redundancy_defaults_to_what_every_region_offers(parsed: dict[str, BicepDoc]) -> None:
    main = main_params(parsed)
    assert main["storageSkuName"]["default"] == "Standard_LRS"
    storage = parsed["modules/storage.bicep"]["parameters"]["skuName"]
    assert storage["default"] == "Standard_LRS"
    assert only_resource(parsed, "Microsoft.Storage/storageAccounts")["sku"]["name"] == "skuName"
    assert module_body(parsed["main.bicep"]["modules"]["storage"])["params"]["skuName"] == "storageSkuName"


# --- Azure role assignments ------------------------------------------------------------------------


def test_role_assignments_are_exactly_the_needed_data_roles(parsed: dict[str, BicepDoc]) -> None:
    assignments = resources_of_type(parsed, "Microsoft.Authorization/roleAssignments")
    assert {file for file, _, _ in assignments} == {"modules/rbac.bicep"}
    role_ids = {
        value.lower()
        for value in walk_strings(parsed["modules/rbac.bicep"]["variables"])
        if GUID.fullmatch(value)
    }
    assert role_ids == {BUILT_IN_ROLE_IDS[role] for role in NEEDED_ROLES}
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
        for name in BROAD_ROLES:
            assert BUILT_IN_ROLE_IDS[name] not in text.lower(), f"{path} names {name}"


def test_role_assignments_precede_the_function_app(parsed: dict[str, BicepDoc]) -> None:
    module = parsed["main.bicep"]["modules"]["functionApp"]
    assert "rbac" in module_body(module)["dependsOn"]


# --- Microsoft Graph app roles ---------------------------------------------------------------------


def test_the_graph_grant_is_an_explicit_opt_in(parsed: dict[str, BicepDoc]) -> None:
    """A Contributor's `azd up` must not fail in the Graph module: the grant is off unless asked for."""
    main = parsed["main.bicep"]
    assert main["variables"]["graphAppRoleValues"]["value"] == GRAPH_APP_ROLES
    assert main["parameters"]["grantGraphPermissions"]["type"] == "bool"
    assert main["parameters"]["grantGraphPermissions"]["default"] is False
    azd = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert azd["grantGraphPermissions"]["value"] == "${CHATFN_GRANT_GRAPH=false}"
    module = main["modules"]["graphPermissions"]
    assert module["detail"]["path"] == GRAPH_MODULE.relative_to(INFRA).as_posix()
    assert module["config"]["condition"] == "grantGraphPermissions"
    params = module_body(module)["params"]
    assert params["appRoleValues"] == "graphAppRoleValues"
    assert params["principalId"]["operator"]["operands"]["operand_1"] == "identity"
    assert main["outputs"]["CHATFN_GRAPH_APP_ROLES"]["value"] == "graphAppRoleValues"


def test_the_graph_app_roles_are_the_documented_application_permissions() -> None:
    """Each value names an application permission Microsoft documents (documented.py)."""
    assert set(GRAPH_APP_ROLES) <= set(GRAPH_APP_ROLE_IDS)


def test_graph_module_builds_the_role_map_once_and_indexes_it(parsed: dict[str, BicepDoc]) -> None:
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

    # applicationRoleIds = toObject(filter(microsoftGraph.appRoles, r => contains(r.allowedMemberTypes,
    #   'Application')), r => r.value, r => r.id)
    role_map = graph["variables"]["applicationRoleIds"]["value"]["function"]
    assert role_map["type"] == "toObject"
    keyed = role_map["parameters"]
    source = keyed["arg_1"]["function"]
    assert source["type"] == "filter"
    assert source["parameters"]["input_array"]["operator"]["operands"] == {
        "operand_1": "microsoftGraph",
        "operand_2": "appRoles",
    }
    application_only = source["parameters"]["expression"]["detail"]["expression"]["function"]
    assert application_only["type"] == "contains"
    assert application_only["parameters"]["item_to_find"] == "Application"
    assert keyed["arg_2"]["detail"]["expression"]["operator"]["operands"]["operand_2"] == "value"
    assert keyed["arg_3"]["detail"]["expression"]["operator"]["operands"]["operand_2"] == "id"

    grants = resources["appRoleAssignments"]
    assert grants["type"] == "Microsoft.Graph/appRoleAssignedTo"
    assert grants["config"]["loop_type"]["detail"] == {
        "item_name": "appRoleValue",
        "array_name": "appRoleValues",
    }
    body = resource_body(grants)
    assert body["principalId"] == "principalId"
    assert body["resourceId"]["operator"]["operands"] == {"operand_1": "microsoftGraph", "operand_2": "id"}
    assert body["appRoleId"]["operator"] == {
        "type": "index_accessor",
        "operands": {"operand_1": "applicationRoleIds", "operand_2": "appRoleValue"},
    }


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
    ):
        assert outputs[name]["type"] == "string", name
    api_url = parsed["modules/function-app.bicep"]["outputs"]["apiBaseUrl"]["value"]
    assert api_url == "https://${functionApp.properties.defaultHostName}/api"


def test_azd_conventional_outputs(parsed: dict[str, BicepDoc]) -> None:
    """The names the official Flex Consumption azd templates output, which azd and its hooks read."""
    outputs = parsed["main.bicep"]["outputs"]
    app_name = {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": "functionApp",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "outputs", "operand_2": "name"},
                    }
                },
            },
        }
    }
    assert outputs["AZURE_FUNCTION_NAME"]["value"] == app_name
    assert outputs["SERVICE_API_NAME"]["value"] == app_name
    assert outputs["AZURE_RESOURCE_GROUP"]["value"] == "groupName"
    assert outputs["AZURE_LOCATION"]["value"] == "location"
    assert outputs["AZURE_TENANT_ID"]["type"] == "string"


def test_region_safe_choices_have_azd_variables() -> None:
    azd = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert azd["storageSkuName"]["value"] == "${CHATFN_STORAGE_SKU=Standard_LRS}"
    assert azd["durableAlwaysReadyInstances"]["value"] == "${CHATFN_DURABLE_ALWAYS_READY=1}"
    assert azd["callerAuth"]["value"] == "${CHATFN_CALLER_AUTH=key}"
    assert azd["location"]["value"] == "${AZURE_LOCATION}"
    assert azd["resourceGroupName"]["value"] == "${AZURE_RESOURCE_GROUP}"


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


@pytest.mark.parametrize("entry", ["function_app.py", "host.json", "requirements.txt"])
def test_the_project_root_is_a_function_app(entry: str) -> None:
    if not (ROOT / entry).exists():
        pytest.skip(f"{entry} is not in this checkout yet")
    assert (ROOT / entry).is_file()
