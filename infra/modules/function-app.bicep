// The Flex Consumption plan and the function app on it (Linux, Python 3.11), locked down: HTTPS
// only, TLS 1.2 at least, FTP and basic-auth publishing off. Its one identity is the user-assigned
// managed identity, used for host storage, the deployment package and Application Insights; the
// app code uses it for Microsoft Graph through AZURE_CLIENT_ID.

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

@description('GRAPH_BASE_URL: where the app sends Microsoft Graph requests.')
param graphBaseUrl string

@description('CHATFN_SYNC_WAIT_SECONDS: how long POST /api/chats waits before answering 202.')
param syncWaitSeconds int

@description('CHATFN_POLL_INTERVAL_SECONDS: first wait between polls of a Graph async operation.')
param pollIntervalSeconds int

@description('CHATFN_OPERATION_DEADLINE_SECONDS: when an unfinished async operation becomes a 504.')
param operationDeadlineSeconds int

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
  // checkov:skip=CKV_AZURE_222:A public API by design: Power Automate flows and other callers reach it over the internet, and every route but /api/health requires a function key.
  // checkov:skip=CKV_AZURE_17:Callers (Power Automate's HTTP action, scripts) authenticate with function keys; requiring client certificates would shut them out.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on demand and has no fixed worker count to set; a minimum would need paid always-ready instances for no gain in correctness (Durable state lives in storage).
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
      ftpsState: 'Disabled'
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

output name string = functionApp.name

@description('Base URL of the HTTP API (docs/api.md).')
output apiBaseUrl string = 'https://${functionApp.properties.defaultHostName}/api'
