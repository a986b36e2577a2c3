// The Flex Consumption plan and the function app on it (Linux, Python 3.11), locked down: HTTPS
// only, TLS 1.2 at least, FTP and basic-auth publishing off. Its one identity is the user-assigned
// managed identity, used for host storage, the deployment package and Application Insights; the
// app code uses it for Microsoft Graph through AZURE_CLIENT_ID. With callerAuth=entra, App Service
// authentication requires a Microsoft Entra token for the API.
//
// Flex Consumption refuses or ignores many site properties and app settings of the other plans
// (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations):
// none is set here, and tests/infra/test_flex_rules.py holds the templates to that list.

@description('Name of the function app (at most 32 characters, so that its host id stays unique).')
@maxLength(32)
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (one that offers Flex Consumption).')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('Name of the azd service this app hosts (azure.yaml), for azd to find it by tag.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned managed identity.')
param identityResourceId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Blob container URL that holds the deployment package.')
param deploymentContainerUrl string

@description('Blob service endpoint of the host storage account.')
param blobEndpoint string

@description('Queue service endpoint of the host storage account.')
param queueEndpoint string

@description('Table service endpoint of the host storage account.')
param tableEndpoint string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Memory of each instance, in MB (Flex Consumption offers these sizes).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to. Graph allows about 30 chat creations per second per app and tenant, so a low ceiling loses nothing.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances of the durable group (0: none). Microsoft advises 1 for Durable Functions on Flex Consumption: https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan')
@minValue(0)
@maxValue(3)
param durableAlwaysReadyInstances int = 1

@description('GRAPH_BASE_URL: where the app sends Microsoft Graph requests.')
param graphBaseUrl string

@description('CHATFN_SYNC_WAIT_SECONDS: how long POST /api/chats waits before answering 202.')
param syncWaitSeconds int

@description('CHATFN_POLL_INTERVAL_SECONDS: first wait between polls of a Graph async operation.')
param pollIntervalSeconds int

@description('CHATFN_OPERATION_DEADLINE_SECONDS: when an unfinished async operation becomes a 504.')
param operationDeadlineSeconds int

@description('CHATFN_PUBLIC_ORIGIN: the origin callers reach the app at; empty means https://<WEBSITE_HOSTNAME>.')
param publicOrigin string = ''

@description('CHATFN_IDEMPOTENCY_TTL_HOURS: how long an Idempotency-Key is remembered.')
param idempotencyTtlHours int

@description('CHATFN_HISTORY_RETENTION_DAYS: age at which finished orchestrations and expired records are purged.')
param historyRetentionDays int

@description('CHATFN_THROTTLE_PATIENCE_SECONDS: how long a request waits its turn while Graph throttles before it ends with 503 graph-throttled.')
param throttlePatienceSeconds int

@description('CHATFN_BATCH_MAX_BYTES: the largest body of POST /api/chat-batches, in bytes; the host\'s request limit is twice this.')
param batchMaxBytes int

@description('CHATFN_BATCH_MAX_ITEMS: the most items one POST /api/chat-batches may hold.')
param batchMaxItems int

@description('CHATFN_DIRECTORY_CACHE_SECONDS: how long an address\'s object id is remembered; a changed address may resolve to its old owner that long.')
param directoryCacheSeconds int

@description('CHATFN_GRAPH_DIRECTORY_RPS: the worker\'s budget for user lookups, in calls a second; Microsoft documents 3,500 resource units per 10 s for a small tenant.')
param graphDirectoryRps int

@description('CHATFN_GRAPH_READ_RPS: the worker\'s budget for Graph\'s Teams reads, in calls a second; Microsoft documents 30 per app per tenant.')
param graphReadRps int

@description('CHATFN_GRAPH_WRITE_RPS: the worker\'s budget for Graph\'s Teams writes (POST /chats), in calls a second; Microsoft documents 30 per app per tenant.')
param graphWriteRps int

@description('CHATFN_LIST_LAG_SECONDS: how late a new chat may appear in Graph\'s lists; a search for what a send made covers at least this much.')
param listLagSeconds int

@description('CHATFN_SEND_LIFETIME_SECONDS: how long a POST /chats that got no answer may still be carried out by Graph; no search concludes before it passes.')
param sendLifetimeSeconds int

@description('CHATFN_CALLER_AUTH: key (function keys) or entra (App Service authentication, below).')
@allowed([
  'key'
  'entra'
])
param callerAuth string

@description('callerAuth=entra: client id of the API\'s app registration (modules/api-registration.bicep).')
param apiClientId string = ''

@description('callerAuth=entra: its application id URI, the audience callers ask tokens for.')
param apiIdentifierUri string = ''

// The API refuses a chat over 64 KiB and a batch over batchMaxBytes (docs/api.md), but only after the
// Functions host has buffered the body. The host's own limit (default 100 MB) is one for the whole app
// (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, in bytes:
// https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_request_body_size_limit):
// it is set to twice the largest body a route accepts, the batch's, so a bigger body is refused at the
// door with 413 before it fills memory; POST /api/chats refuses anything over 64 KiB itself.
var requestBodySizeLimitBytes = 2 * batchMaxBytes

// The Durable docs' Flex Consumption advice: "Set the always ready instance count for the durable
// group to 1", so that an instance is always ready for Durable work (orchestrators, activities,
// entities) without a cold start. It is billed even when idle; 0 leaves the group to scale from zero.
var alwaysReady = (durableAlwaysReadyInstances > 0) ? [ { name: 'durable', instanceCount: durableAlwaysReadyInstances } ] : []

// The idempotency records' table in the host storage account (Table service, same identity and
// Storage Table Data Contributor role as Durable Functions' history).
var idempotencyTableName = 'chatfnrequests'

// Paths that stay anonymous in entra mode (docs/api.md): the status URL (unguessable, followed by
// Power Automate without credentials), health, and the API descriptions. A trailing /* matches
// every path below (https://learn.microsoft.com/azure/app-service/configure-authentication-file-based).
var anonymousPaths = [
  '/api/chats/requests/*'
  '/api/health'
  '/api/openapi.json'
  '/api/swagger.json'
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy of a Flex Consumption plan is offered only in some regions and fails the deployment elsewhere; a region-independent template leaves it off.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:A public API by design: Power Automate flows and other callers reach it over the internet, and POST /api/chats requires a function key or (callerAuth=entra) an Entra token with the Chats.Create role.
  // checkov:skip=CKV_AZURE_17:Callers (Power Automate's HTTP action, scripts, services) authenticate with function keys or Entra tokens; requiring client certificates would shut them out.
  // checkov:skip=CKV_AZURE_78:Flex Consumption refuses siteConfig.ftpsState (deprecations list: FTPS not supported, deployment fails); FTP is off through the ftp basicPublishingCredentialsPolicies resource (allow false) below.
  // checkov:skip=CKV_AZURE_212:Flex Consumption has no fixed worker count to set: its equivalent is always-ready instances, one for the durable group by default (durableAlwaysReadyInstances), while HTTP requests scale from zero on demand.
  // checkov:skip=CKV_AZURE_213:App Service health check manages a fixed pool of instances; on Flex Consumption the platform adds and removes instances with demand. GET /api/health exists for probes from outside (docs/deploy.md).
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: Flex Consumption refuses it ("FTPS not supported"); FTP is off through the
      // ftp basicPublishingCredentialsPolicies below.
      http20Enabled: true
      remoteDebuggingEnabled: false
      // On Flex Consumption the language and its version live in functionAppConfig.runtime: the
      // FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION app settings are not allowed.
      appSettings: [
        // Read by the chatfn code (docs/api.md, Settings).
        {
          name: 'AZURE_CLIENT_ID' // azure-identity's ManagedIdentityCredential picks the user-assigned identity
          value: identityClientId
        }
        {
          name: 'GRAPH_BASE_URL'
          value: graphBaseUrl
        }
        {
          name: 'CHATFN_SYNC_WAIT_SECONDS'
          value: string(syncWaitSeconds)
        }
        {
          name: 'CHATFN_POLL_INTERVAL_SECONDS'
          value: string(pollIntervalSeconds)
        }
        {
          name: 'CHATFN_OPERATION_DEADLINE_SECONDS'
          value: string(operationDeadlineSeconds)
        }
        {
          name: 'CHATFN_CREDENTIAL' // chatfn/settings.py: Graph tokens from the managed identity, never a developer login
          value: 'managed_identity'
        }
        {
          name: 'CHATFN_PUBLIC_ORIGIN'
          value: publicOrigin
        }
        {
          name: 'CHATFN_CALLER_AUTH' // the app makes its HTTP functions anonymous behind App Service authentication only in entra mode
          value: callerAuth
        }
        {
          name: 'CHATFN_IDEMPOTENCY_TABLE'
          value: idempotencyTableName
        }
        {
          name: 'CHATFN_IDEMPOTENCY_TTL_HOURS'
          value: string(idempotencyTtlHours)
        }
        {
          name: 'CHATFN_HISTORY_RETENTION_DAYS'
          value: string(historyRetentionDays)
        }
        {
          name: 'CHATFN_THROTTLE_PATIENCE_SECONDS'
          value: string(throttlePatienceSeconds)
        }
        {
          name: 'CHATFN_BATCH_MAX_BYTES'
          value: string(batchMaxBytes)
        }
        {
          name: 'CHATFN_BATCH_MAX_ITEMS'
          value: string(batchMaxItems)
        }
        {
          name: 'CHATFN_DIRECTORY_CACHE_SECONDS'
          value: string(directoryCacheSeconds)
        }
        {
          name: 'CHATFN_GRAPH_DIRECTORY_RPS'
          value: string(graphDirectoryRps)
        }
        {
          name: 'CHATFN_GRAPH_READ_RPS'
          value: string(graphReadRps)
        }
        {
          name: 'CHATFN_GRAPH_WRITE_RPS'
          value: string(graphWriteRps)
        }
        {
          name: 'CHATFN_LIST_LAG_SECONDS'
          value: string(listLagSeconds)
        }
        {
          name: 'CHATFN_SEND_LIFETIME_SECONDS'
          value: string(sendLifetimeSeconds)
        }
        {
          name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT'
          value: string(requestBodySizeLimitBytes)
        }
        // Identity-based host storage, also used by Durable Functions' Azure Storage backend: no
        // connection string, only the service URIs and which identity to use.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: queueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: tableEndpoint
        }
        // Telemetry with a Microsoft Entra token (local auth is off on the component).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // chatfn/telemetry.py records into Application Insights (its default wherever a connection string is set).
        {
          name: 'CHATFN_TELEMETRY'
          value: 'azure-monitor'
        }
        // The Python worker sets up Azure Monitor's OpenTelemetry distribution before it imports the app,
        // and joins each invocation to the host's trace (host.json telemetryMode: OpenTelemetry).
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
        // The distribution instruments httpx by default: its spans would keep Graph's URLs, $filter
        // email addresses and all. chatfn records each Graph call as a span of its own, without a URL.
        {
          name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS'
          value: 'httpx'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth (publishing profile) deployments: azd and the Azure CLI deploy with a
// Microsoft Entra token. (Top-level with `parent` rather than nested: the checks' Bicep parser
// keeps only one nested resource per parent.)
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// callerAuth=entra: a Microsoft Entra token for the API is required on every path but the
// anonymous ones; Entra issues one only to principals assigned the app role Chats.Create
// (api-registration.bicep). The app trusts X-MS-CLIENT-PRINCIPAL only in this mode.
resource authentication 'Microsoft.Web/sites/config@2024-04-01' = if (callerAuth == 'entra') {
  // checkov applies its Microsoft.Web/sites checks to this sites/config child as if it were a site; the site itself (functionApp) is checked for each of them, so they are skipped here:
  // checkov:skip=CKV_AZURE_13:This resource IS the App Service authentication (authsettingsV2, requireAuthentication true); checkov looks for the older siteConfig form on it.
  // checkov:skip=CKV_AZURE_222:A site check misapplied to this authsettingsV2 child; public network access is a property of the site, suppressed and justified on functionApp.
  // checkov:skip=CKV_AZURE_63:A site check misapplied to this authsettingsV2 child; HTTP logging does not exist on Flex Consumption, where Application Insights collects request telemetry.
  // checkov:skip=CKV_AZURE_65:A site check misapplied to this authsettingsV2 child; detailed error pages would show callers internals, and the API answers RFC 9457 problems.
  // checkov:skip=CKV_AZURE_66:A site check misapplied to this authsettingsV2 child; failed request tracing is an IIS feature, absent on Linux Flex Consumption (Application Insights instead).
  // checkov:skip=CKV_AZURE_80:A site check misapplied to this authsettingsV2 child; the app runs Python 3.11 (functionAppConfig.runtime), no .NET Framework.
  // checkov:skip=CKV_AZURE_88:A site check misapplied to this authsettingsV2 child; Flex Consumption has no Azure Files content share (the package is in a blob container).
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: anonymousPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          // v2 tokens carry the client id as audience; the URI is kept for v1 callers.
          allowedAudiences: [
            apiClientId
            apiIdentifierUri
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false // bearer tokens only: no sessions, nothing stored
      }
    }
  }
}

output name string = functionApp.name

@description('Base URL of the HTTP API (docs/api.md).')
output apiBaseUrl string = 'https://${functionApp.properties.defaultHostName}/api'
