// chatfn: an Azure Functions app (Flex Consumption, Linux, Python 3.11, Durable Functions) that
// creates Microsoft Teams chats through Microsoft Graph with its user-assigned managed identity.
//
// Scope: resource group. `azd up` asks for (or creates) the resource group; without azd:
//   az deployment group create --resource-group <rg> --template-file infra/main.bicep \
//     --parameters environmentName=<name>
// See docs/deploy.md for both paths, the directory role the Graph grants need, and teardown.
//
// Resources, each from a module with one job:
//   modules/identity.bicep          user-assigned managed identity (the app's only identity)
//   modules/monitoring.bicep        Log Analytics + Application Insights (Entra ID auth only)
//   modules/storage.bicep           storage account (no shared keys) + deployment container
//   modules/rbac.bicep              the identity's storage and telemetry roles, nothing broader
//   modules/function-app.bicep      Flex Consumption plan + function app, every app setting
//   modules/graph-permissions.bicep the identity's Microsoft Graph app roles (optional)

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd: AZURE_ENV_NAME). Seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer Flex Consumption.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Grant the identity its Microsoft Graph app roles in this deployment. Needs a directory role that may grant them (Privileged Role Administrator or Global Administrator); set false otherwise and have an administrator run infra/scripts/grant-graph-permissions.sh.')
param grantGraphPermissions bool = true

@description('GRAPH_BASE_URL app setting: where Graph requests go.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('CHATFN_SYNC_WAIT_SECONDS app setting: how long POST /api/chats waits for the result before answering 202.')
@minValue(0)
param syncWaitSeconds int = 20

@description('CHATFN_POLL_INTERVAL_SECONDS app setting: first wait between polls of a Graph async operation without Retry-After.')
@minValue(1)
param pollIntervalSeconds int = 5

@description('CHATFN_OPERATION_DEADLINE_SECONDS app setting: when an unfinished async operation becomes a 504.')
@minValue(1)
param operationDeadlineSeconds int = 600

@description('Memory of each function instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the function app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Redundancy of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_ZRS'

// The Microsoft Graph application permissions the code needs (docs/graph.md, Identity):
// Chat.Create to create chats, Chat.ReadBasic.All to poll the async operation of a chat created
// with installedApps, User.Read.All to resolve guests' emails to object ids.
var graphAppRoleValues = [
  'Chat.Create'
  'Chat.ReadBasic.All'
  'User.Read.All'
]

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'chatfn'
}
var functionAppName = 'func-chatfn-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-chatfn-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-chatfn-${resourceToken}'
    applicationInsightsName: 'appi-chatfn-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'stchatfn${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    skuName: storageSkuName
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  // The host starts as soon as the app exists: give it its storage roles first.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: 'plan-chatfn-${resourceToken}'
    location: location
    tags: tags
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    graphBaseUrl: graphBaseUrl
    syncWaitSeconds: syncWaitSeconds
    pollIntervalSeconds: pollIntervalSeconds
    operationDeadlineSeconds: operationDeadlineSeconds
  }
}

module graphPermissions 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  params: {
    principalId: identity.outputs.principalId
    appRoleValues: graphAppRoleValues
  }
}

// Outputs: azd stores them in the environment (.azure/<env>/.env); the CLI shows them in
// `az deployment group show --query properties.outputs`.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output CHATFN_API_URL string = functionApp.outputs.apiBaseUrl
output CHATFN_IDENTITY_RESOURCE_ID string = identity.outputs.resourceId
output CHATFN_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output CHATFN_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output CHATFN_GRAPH_APP_ROLES array = graphAppRoleValues
output CHATFN_GRAPH_PERMISSIONS_GRANTED bool = grantGraphPermissions
