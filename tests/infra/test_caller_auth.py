"""Both renderings of callerAuth, by evaluating the templates' conditions: `key` deploys no app
registration and no App Service authentication; `entra` deploys both, wired to each other, and
requires a token everywhere but the anonymous paths."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chatfn.tools import connector

from .conftest import API_REGISTRATION_MODULE, INFRA, ROOT, BicepDoc
from .expressions import accessor, evaluate

ANONYMOUS_PATHS = ["/api/chats/requests/*", "/api/health", "/api/openapi.json", "/api/swagger.json"]


def main_scope(parsed: dict[str, BicepDoc], caller_auth: str) -> dict[str, Any]:
    main = parsed["main.bicep"]
    scope: dict[str, Any] = {name: param.get("default") for name, param in main["parameters"].items()}
    scope["callerAuth"] = caller_auth
    scope["entraCallers"] = evaluate(main["variables"]["entraCallers"]["value"], scope)
    return scope


def deployed(module: dict[str, Any], scope: dict[str, Any]) -> bool:
    condition = module["config"].get("condition")
    return condition is None or bool(evaluate(condition, scope))


@pytest.mark.parametrize("caller_auth", ["key", "entra"])
def test_each_rendering_deploys_what_it_needs(parsed: dict[str, BicepDoc], caller_auth: str) -> None:
    main = parsed["main.bicep"]
    assert main["parameters"]["callerAuth"]["default"] == "key"
    scope = main_scope(parsed, caller_auth)
    entra = caller_auth == "entra"

    registration = main["modules"]["apiRegistration"]
    assert registration["detail"]["path"] == API_REGISTRATION_MODULE.relative_to(INFRA).as_posix()
    assert deployed(registration, scope) is entra

    app_params = main["modules"]["functionApp"]["config"]["params"]
    assert evaluate(app_params["callerAuth"], scope) == caller_auth
    # Each from its own output: swapped, App Service would check the URI as the client id.
    client_id = evaluate(app_params["apiClientId"], scope)
    assert client_id == ("<apiRegistration.outputs.clientId>" if entra else "")
    identifier_uri = evaluate(app_params["apiIdentifierUri"], scope)
    assert identifier_uri == ("<apiRegistration.outputs.identifierUri>" if entra else "")

    function_app = parsed["modules/function-app.bicep"]
    module_scope = {name: param.get("default") for name, param in function_app["parameters"].items()}
    module_scope["callerAuth"] = caller_auth
    authentication = function_app["resources"]["authentication"]
    assert authentication["type"] == "Microsoft.Web/sites/config"
    assert deployed(authentication, module_scope) is entra
    settings = {
        entry["name"]: entry["value"]
        for entry in function_app["resources"]["functionApp"]["config"]["properties"]["siteConfig"][
            "appSettings"
        ]
    }
    assert evaluate(settings["CHATFN_CALLER_AUTH"], module_scope) == caller_auth


def test_entra_mode_requires_a_token_for_the_api_and_only_the_api(parsed: dict[str, BicepDoc]) -> None:
    function_app = parsed["modules/function-app.bicep"]
    body = function_app["resources"]["authentication"]["config"]["config"]
    assert body["name"] == "authsettingsV2"
    assert body["parent"] == "functionApp"
    properties = body["properties"]
    assert properties["platform"]["enabled"] is True
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    assert function_app["variables"][validation["excludedPaths"]]["value"] == ANONYMOUS_PATHS
    aad = properties["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["registration"]["clientId"] == "apiClientId"
    assert aad["registration"]["openIdIssuer"].endswith("${tenant().tenantId}/v2.0")
    assert aad["validation"]["allowedAudiences"] == ["apiClientId", "apiIdentifierUri"]
    assert properties["login"]["tokenStore"]["enabled"] is False


def test_the_registration_offers_chats_create_and_entra_enforces_it(parsed: dict[str, BicepDoc]) -> None:
    registration = parsed[API_REGISTRATION_MODULE.relative_to(INFRA).as_posix()]
    assert "microsoftGraphV1" in registration["extensions"]
    application = registration["resources"]["application"]
    assert application["type"] == "Microsoft.Graph/applications"
    body = application["config"]
    assert body["signInAudience"] == "AzureADMyOrg"
    [role] = body["appRoles"]
    assert registration["variables"][role["value"]]["value"] == "Chats.Create"
    assert role["allowedMemberTypes"] == ["Application", "User"]
    assert role["isEnabled"] is True
    principal = registration["resources"]["servicePrincipal"]["config"]
    # Without it Entra would issue a token for the API to any principal of the tenant.
    assert principal["appRoleAssignmentRequired"] is True
    assert accessor(principal["appId"]) == "application.appId"
    outputs = registration["outputs"]
    assert accessor(outputs["clientId"]["value"]) == "application.appId"
    assert outputs["identifierUri"]["value"] == "identifierUri"


def test_the_deployer_owns_the_registration_and_its_service_principal(parsed: dict[str, BicepDoc]) -> None:
    """A deployer relying on "users can register applications" may create a service principal only for
    an application they own; the Graph extension makes nobody owner by itself (msgraph-bicep-types#154)."""
    registration = parsed[API_REGISTRATION_MODULE.relative_to(INFRA).as_posix()]
    owners = registration["variables"]["owners"]["value"]
    assert [accessor(owner) for owner in owners] == ["deployer().objectId"]
    for resource in ("application", "servicePrincipal"):
        assert registration["resources"][resource]["config"]["owners"] == {"relationships": "owners"}, (
            resource
        )


@pytest.mark.parametrize(
    ("chosen", "identifier_uris"),
    [
        ("", ["api://${tenant().tenantId}/chatfn-${resourceToken}"]),  # a form needing no verified domain
        ("none", []),  # first of two deployments where only api://<client id> is accepted
        ("api://8b081ef6-4792-4def-b2c9-c363a1bf41d5", ["api://8b081ef6-4792-4def-b2c9-c363a1bf41d5"]),
    ],
)
def test_the_identifier_uri_is_a_parameter(
    parsed: dict[str, BicepDoc], chosen: str, identifier_uris: list[str]
) -> None:
    """Tenants with the nonDefaultUriAddition policy accept only api://<client id>
    (https://learn.microsoft.com/graph/api/resources/identifieruriconfiguration)."""
    scope = main_scope(parsed, "entra") | {"apiIdentifierUri": chosen}
    main = parsed["main.bicep"]
    uri = evaluate(main["variables"]["apiIdentifierUriChosen"]["value"], scope)
    assert main["modules"]["apiRegistration"]["config"]["config"]["params"]["identifierUri"] == (
        "apiIdentifierUriChosen"
    )
    registration = parsed[API_REGISTRATION_MODULE.relative_to(INFRA).as_posix()]
    uris = registration["resources"]["application"]["config"]["identifierUris"]
    assert evaluate(uris, {"identifierUri": uri}) == identifier_uris


def test_a_flows_user_can_sign_in_for_the_api_and_still_needs_the_role(parsed: dict[str, BicepDoc]) -> None:
    """A client app can be granted only a scope the API exposes: without one, a connection's sign-in has
    nothing to consent to. The scope admits nobody by itself: the role and assignment requirement stay."""
    registration = parsed[API_REGISTRATION_MODULE.relative_to(INFRA).as_posix()]
    variables = registration["variables"]
    [scope] = registration["resources"]["application"]["config"]["api"]["oauth2PermissionScopes"]
    value = variables[scope["value"]]["value"]
    assert value == "user_impersonation"
    scope_id = variables[scope["id"]]["value"]["function"]
    assert scope_id["type"] == "guid", "a fixed id: a new one on each deployment would orphan every grant"
    assert set(scope_id["parameters"].values()) == {"uniqueName", scope["value"]}
    assert (scope["type"], scope["isEnabled"]) == ("Admin", True)
    assert registration["resources"]["servicePrincipal"]["config"]["appRoleAssignmentRequired"] is True
    steps = (ROOT / "docs" / "power-automate.md").read_text(encoding="utf-8")
    assert f"tick `{value}`" in steps, "the steps name the permission to grant"
    assert "role `Chats.Create`" in steps


def test_the_steps_register_the_redirect_url_the_connector_asks_for() -> None:
    """The connector asks Power Platform for a redirect URL of its own; the steps register that one, never
    the generic URL, which Entra then refuses (AADSTS50011)."""
    oauth = connector.connector_properties()["properties"]["connectionParameterSets"]["values"][1][
        "parameters"
    ]["token"]["oAuthSettings"]
    assert oauth["redirectMode"] == "GlobalPerConnector"
    assert "redirectUrl" not in oauth, "the platform makes the per-connector URL and ignores a given one"
    for doc in ("docs/power-automate.md", "docs/deploy.md", "connector/readme.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert "`https://global.consent.azure-apim.net/redirect`" not in text, f"{doc} names the generic URL"
    steps = (ROOT / "docs" / "power-automate.md").read_text(encoding="utf-8")
    assert re.search(rf"`redirectMode`\s+`{oauth['redirectMode']}`", steps), "the steps say which mode"
    assert "Security**: paste the secret" in steps
    assert "shows the connector's **Redirect URL**" in steps


def test_a_connection_asks_for_the_identifier_uri_the_deployment_outputs(parsed: dict[str, BicepDoc]) -> None:
    """The connector's field, its readme and the steps send the maker to the output that holds the URI,
    with an example of the form the deployment makes: not api://chatfn-<suffix>, which none does."""
    main = parsed["main.bicep"]
    scope = main_scope(parsed, "entra")
    output = main["outputs"][connector.IDENTIFIER_URI_OUTPUT]["value"]
    assert evaluate(output, scope) == "<apiRegistration.outputs.identifierUri>"
    default = evaluate(main["variables"]["apiIdentifierUriChosen"]["value"], scope | {"apiIdentifierUri": ""})
    assert default == "api://${tenant().tenantId}/chatfn-${resourceToken}"
    guid = r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
    form = re.escape(default).replace(re.escape("${tenant().tenantId}"), guid)
    form = form.replace(re.escape("${resourceToken}"), "[0-9a-z]+")
    assert re.fullmatch(form, connector.EXAMPLE_IDENTIFIER_URI)
    entra_set = connector.connector_properties()["properties"]["connectionParameterSets"]["values"][1]
    field = entra_set["parameters"][connector.RESOURCE_PARAMETER]["uiDefinition"]["description"]
    assert connector.IDENTIFIER_URI_OUTPUT in field
    assert connector.EXAMPLE_IDENTIFIER_URI in field
    for doc in ("docs/power-automate.md", "connector/readme.md", "Makefile"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert connector.IDENTIFIER_URI_OUTPUT in text, doc
        assert "api://<tenant id>/chatfn-<suffix>" in text, doc


def test_the_steps_make_the_connector_sign_in_through_the_tenant_of_the_deployment(
    parsed: dict[str, BicepDoc],
) -> None:
    """The client app the steps register is single-tenant, in the tenant the API registration lives in:
    `make connector` gets that tenant from the deployment's output, since /common refuses the app."""
    output = parsed["main.bicep"]["outputs"]["AZURE_TENANT_ID"]["value"]
    assert accessor(output) == "tenant().tenantId"
    steps = (ROOT / "docs" / "power-automate.md").read_text(encoding="utf-8")
    assert "*Accounts in this organizational directory only*" in steps
    made = re.search(r"make connector CLIENT_ID=<[^>]+> \\\n\s+TENANT_ID=(.+)$", steps, re.MULTILINE)
    assert made, "the steps run make connector with TENANT_ID"
    assert made.group(1) == "$(azd env get-value AZURE_TENANT_ID)"
    assert "az account show --query tenantId -o tsv" in steps
    assert "AADSTS50194" in steps
