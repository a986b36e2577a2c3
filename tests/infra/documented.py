"""Values Microsoft documents, copied here with their source, so the templates are held to them
rather than to a copy of themselves."""

from __future__ import annotations

# Microsoft Graph application permissions (app roles of Graph's service principal), by value:
# https://learn.microsoft.com/graph/permissions-reference (the "Application" identifier of each).
GRAPH_APP_ROLE_IDS = {
    "Chat.Create": "d9c48af6-9ad9-47ad-82c3-63757137b9af",
    "Chat.ReadBasic.All": "b2e060da-3baf-4687-9611-f4ebc0f0cbde",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
}

# Azure built-in role definition ids, by role name:
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
BUILT_IN_ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Storage Account Contributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
    "Storage Account Key Operator Service Role": "81a9662b-bebf-436f-a333-f67b29880f12",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}

# "Flex Consumption plan deprecations": site properties and app settings that a Flex Consumption
# app refuses (deployment fails, e.g. "The following list of ... site configuration properties
# (Site.SiteConfig.FtpsState, ...) for Flex Consumption sites is invalid") or ignores, with the
# reason Microsoft gives.
# https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
# functionsRuntimeScaleMonitoringEnabled is missing from that list, but Azure refuses it all the same:
# "The following list of 5 site configuration properties (Site.SiteConfig.FtpsState,
# Site.SiteConfig.Use32BitWorkerProcess, Site.SiteConfig.PreWarmedInstanceCount,
# Site.SiteConfig.NetFrameworkVersion, Site.SiteConfig.FunctionsRuntimeScaleMonitoringEnabled) for Flex
# Consumption sites is invalid. Please remove or rename them before retrying." (Microsoft Q&A 2277522,
# quoted in Azure/terraform-azurerm-avm-res-web-site#360; older regional stamps ignore it, newer refuse it).
FLEX_DEPRECATED_SITE_PROPERTIES = {
    "alwaysOn": "not valid",
    "containerSize": "renamed instanceMemoryMB (functionAppConfig.scaleAndConcurrency)",
    "ftpsState": "FTPS not supported",
    "isReserved": "not valid",
    "isXenon": "not valid",
    "javaVersion": "replaced by functionAppConfig.runtime.version",
    "linuxFxVersion": "replaced by functionAppConfig.runtime",
    "netFrameworkVersion": "replaced by functionAppConfig.runtime.version",
    "powerShellVersion": "replaced by functionAppConfig.runtime.version",
    "functionAppScaleLimit": "renamed maximumInstanceCount",
    "functionsRuntimeScaleMonitoringEnabled": "scaling is the platform's; Azure refuses the property",
    "preWarmedInstanceCount": "renamed alwaysReady (functionAppConfig.scaleAndConcurrency)",
    "use32BitWorkerProcess": "32-bit not supported",
    "windowsFxVersion": "not valid",
}
FLEX_DEPRECATED_APP_SETTINGS = {
    "ENABLE_ORYX_BUILD": "remote build is chosen at deployment",
    "FUNCTIONS_EXTENSION_VERSION": "set by the backend",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by scaleAndConcurrency's trigger section",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
    "FUNCTIONS_WORKER_RUNTIME": "replaced by functionAppConfig.runtime.name",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "replaced by functionAppConfig.runtime.version",
    "FUNCTIONS_WORKER_SHARED_MEMORY_DATA_TRANSFER_ENABLED": "not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "remote build is chosen at deployment",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by functionAppConfig.deployment",
    "WEBSITE_CONTENTOVERVNET": "not valid",
    "WEBSITE_CONTENTSHARE": "replaced by functionAppConfig.deployment",
    "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "replaced by functionAppConfig.runtime.version",
    "WEBSITE_RUN_FROM_PACKAGE": "replaced by functionAppConfig.deployment",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "no content share",
    "WEBSITE_VNET_ROUTE_ALL": "replaced by the site's vnetRouteAllEnabled",
}

# Set by the platform in every function app, never by a template: chatfn/settings.py reads it to
# build https://<host> when CHATFN_PUBLIC_ORIGIN is empty.
# https://learn.microsoft.com/azure/app-service/reference-app-settings#app-environment
PLATFORM_SETTINGS = {"WEBSITE_HOSTNAME"}

# The Durable Functions docs' Flex Consumption advice: keep maxQueuePollingInterval short (at most
# 10 seconds) so an idle task hub picks up new work quickly.
# https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
FLEX_MAX_QUEUE_POLLING_SECONDS = 10

# The same section's other advice: "Set the always ready instance count for the durable group to 1".
FLEX_DURABLE_ALWAYS_READY = 1
