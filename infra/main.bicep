// chatfn: an Azure Functions app (Flex Consumption, Linux, Python 3.11, Durable Functions) that
// creates Microsoft Teams chats through Microsoft Graph with its user-assigned managed identity.
//
// Scope: subscription, as the official Flex Consumption azd templates deploy: this file creates
// the resource group, so `azd up` needs no resource-group-scope (beta) support. Without azd:
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters environmentName=<name> location=<region>
// See docs/deploy.md for both paths, the Graph grant an administrator makes, and teardown.
//
// Resources, each from a module with one job:
//   modules/identity.bicep          user-assigned managed identity (the app's only identity)
//   modules/monitoring.bicep        Log Analytics + Application Insights (Entra ID auth only)
//   modules/storage.bicep           storage account (no shared keys) + deployment container
//   modules/rbac.bicep              the identity's storage and telemetry roles, nothing broader
//   modules/api-registration.bicep  callerAuth=entra only: the API's Entra app and its Chats.Create role
//   modules/function-app.bicep      Flex Consumption plan + function app, every app setting, auth
//   modules/graph-permissions.bicep opt-in: the identity's Microsoft Graph app roles
//   modules/alerts.bicep            action group, availability test of /api/health, alert rules
//   modules/workbook.bicep          the operations dashboard (docs/operations.md)

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd: AZURE_ENV_NAME). Seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of the resource group and every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of an existing resource group to deploy into, left as it is (its region and tags). Empty: rg-<environmentName>, created in location with the tags below.')
param resourceGroupName string = ''

@description('Grant the identity its Microsoft Graph app roles in this deployment. Off by default: it needs Privileged Role Administrator, which a Contributor lacks; an administrator runs infra/scripts/grant-graph-permissions.sh instead (docs/deploy.md).')
param grantGraphPermissions bool = false

@description('How callers authenticate: key (a function key) or entra (a Microsoft Entra token holding the app role Chats.Create). entra creates an app registration, so the deployer must be allowed to register applications.')
@allowed([
  'key'
  'entra'
])
param callerAuth string = 'key'

@description('callerAuth=entra: the Application ID URI of the API registration. Empty: api://<tenant id>/chatfn-<suffix>. A tenant whose app management policy blocks other than default URIs (nonDefaultUriAddition) accepts only api://<client id>: deploy once with none (no URI yet), then with api://<the CHATFN_API_CLIENT_ID output> (docs/deploy.md).')
param apiIdentifierUri string = ''

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

@description('CHATFN_PUBLIC_ORIGIN app setting: the origin callers reach the app at, behind a gateway (https://chats.contoso.com). Empty: the app\'s own https://<WEBSITE_HOSTNAME>.')
param publicOrigin string = ''

@description('CHATFN_IDEMPOTENCY_TTL_HOURS app setting: how long an Idempotency-Key is remembered.')
@minValue(1)
@maxValue(720)
param idempotencyTtlHours int = 24

@description('CHATFN_HISTORY_RETENTION_DAYS app setting: finished orchestrations and expired idempotency records older than this are purged daily.')
@minValue(1)
@maxValue(365)
param historyRetentionDays int = 7

@description('CHATFN_THROTTLE_PATIENCE_SECONDS app setting: how long a request waits its turn while Graph throttles before it ends with 503 graph-throttled.')
@minValue(0)
@maxValue(86400)
param throttlePatienceSeconds int = 3600

@description('CHATFN_BATCH_MAX_BYTES app setting: the largest body of POST /api/chat-batches, in bytes; the host\'s request limit is twice this.')
@minValue(1024)
@maxValue(67108864)
param batchMaxBytes int = 4194304

@description('CHATFN_BATCH_MAX_ITEMS app setting: the most items one POST /api/chat-batches may hold.')
@minValue(1)
@maxValue(10000)
param batchMaxItems int = 1000

@description('CHATFN_DIRECTORY_CACHE_SECONDS app setting: how long an address\'s object id is remembered; a changed address may resolve to its old owner that long.')
@minValue(0)
@maxValue(86400)
param directoryCacheSeconds int = 300

@description('CHATFN_GRAPH_DIRECTORY_RPS app setting: the worker\'s budget for user lookups, in calls a second; Microsoft documents 3,500 resource units per 10 s for a small tenant.')
@minValue(1)
@maxValue(10000)
param graphDirectoryRps int = 350

@description('CHATFN_GRAPH_READ_RPS app setting: the worker\'s budget for Graph\'s Teams reads, in calls a second; Microsoft documents 30 per app per tenant.')
@minValue(1)
@maxValue(1500)
param graphReadRps int = 30

@description('CHATFN_GRAPH_WRITE_RPS app setting: the worker\'s budget for Graph\'s Teams writes (POST /chats), in calls a second; Microsoft documents 30 per app per tenant.')
@minValue(1)
@maxValue(300)
param graphWriteRps int = 30

@description('CHATFN_LIST_LAG_SECONDS app setting: how late a new chat may appear in Graph\'s lists; a search for what a send made covers at least this much.')
@minValue(0)
@maxValue(3600)
param listLagSeconds int = 30

@description('CHATFN_SEND_LIFETIME_SECONDS app setting: how long a POST /chats that got no answer may still be carried out by Graph; no search concludes before it passes.')
@minValue(0)
@maxValue(3600)
param sendLifetimeSeconds int = 120

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

@description('Always-ready instances of the durable group (orchestrators, activities). 1, as Microsoft advises for Durable Functions on Flex Consumption: no cold start before each poll of a Graph operation, at the price of one instance billed around the clock. 0: scale from zero.')
@minValue(0)
@maxValue(3)
param durableAlwaysReadyInstances int = 1

@description('Redundancy of the storage account. Standard_LRS works in every region; Standard_ZRS and Standard_GZRS only where the region has availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

// Alerts (modules/alerts.bicep; docs/operations.md says what each one means and what to do).

@description('E-mail address the alerts go to. Empty: no receiver, alerts show only in the portal.')
param alertEmailAddress string = ''

@description('Whether the alert rules evaluate (false for a test environment). The availability test runs either way.')
param alertsEnabled bool = true

@description('Server errors: alert when more than this percentage of a 5-minute bin\'s answers were 5xx.')
@minValue(1)
@maxValue(100)
param alertServerErrorPercent int = 5

@description('Server errors: 5-minute bins with fewer answers than this are not judged.')
@minValue(1)
param alertServerErrorMinimumAnswers int = 10

@description('Graph permission: alert when there were more refusals than this in 15 minutes: requests answered graph-refused-identity plus Graph\'s 403 answers.')
@minValue(0)
param alertGraphPermissionRefusals int = 0

@description('Graph throttling: alert when Graph answered 429 more often than this in each of three 5-minute windows.')
@minValue(0)
param alertGraphThrottled int = 20

@description('Graph budget: alert when calls waited more than this many seconds for the budget (in the worker, or on durable timers) in each of three 5-minute windows.')
@minValue(0)
param alertGraphBudgetWaitSeconds int = 60

@description('Storage: alert when more requests than this were answered storage-unavailable in 5 minutes.')
@minValue(0)
param alertStorageUnavailable int = 0

@description('Availability: alert when at least this many of the five test locations fail.')
@minValue(1)
@maxValue(5)
param alertAvailabilityFailedLocations int = 3

// The Microsoft Graph application permissions the code needs (docs/graph.md, Identity):
// Chat.Create to create chats, Chat.ReadBasic.All to poll the async operation of a chat created
// with installedApps, User.Read.All to resolve members' emails to object ids.
var graphAppRoleValues = [
  'Chat.Create'
  'Chat.ReadBasic.All'
  'User.Read.All'
]

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'chatfn'
}
var functionAppName = 'func-chatfn-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var entraCallers = (callerAuth == 'entra')
// none: the registration has no identifier URI yet (the first of two deployments, above).
var apiIdentifierUriChosen = (apiIdentifierUri == 'none') ? '' : (empty(apiIdentifierUri) ? 'api://${tenant().tenantId}/chatfn-${resourceToken}' : apiIdentifierUri)

// The group is created only when none is named. A named group is used as it is: declaring it here
// would replace its tags with these and fail where it lives in another region than `location`
// (InvalidResourceGroupLocation); resources in it may live in any region.
var createResourceGroup = empty(resourceGroupName)
var groupName = createResourceGroup ? 'rg-${environmentName}' : resourceGroupName

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (createResourceGroup) {
  name: groupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    name: 'id-chatfn-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    logAnalyticsName: 'log-chatfn-${resourceToken}'
    applicationInsightsName: 'appi-chatfn-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
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
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    principalId: identity.outputs.principalId
  }
}

module apiRegistration 'modules/api-registration.bicep' = if (entraCallers) {
  name: 'api-registration'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    uniqueName: 'chatfn-api-${resourceToken}'
    displayName: 'chatfn API (${environmentName})'
    identifierUri: apiIdentifierUriChosen
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: resourceGroup(groupName)
  // The host starts as soon as the app exists: give it its storage roles first.
  dependsOn: [
    rg
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
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    graphBaseUrl: graphBaseUrl
    syncWaitSeconds: syncWaitSeconds
    pollIntervalSeconds: pollIntervalSeconds
    operationDeadlineSeconds: operationDeadlineSeconds
    publicOrigin: publicOrigin
    idempotencyTtlHours: idempotencyTtlHours
    historyRetentionDays: historyRetentionDays
    throttlePatienceSeconds: throttlePatienceSeconds
    batchMaxBytes: batchMaxBytes
    batchMaxItems: batchMaxItems
    directoryCacheSeconds: directoryCacheSeconds
    graphDirectoryRps: graphDirectoryRps
    graphReadRps: graphReadRps
    graphWriteRps: graphWriteRps
    listLagSeconds: listLagSeconds
    sendLifetimeSeconds: sendLifetimeSeconds
    callerAuth: callerAuth
    apiClientId: entraCallers ? apiRegistration.outputs.clientId : ''
    apiIdentifierUri: entraCallers ? apiRegistration.outputs.identifierUri : ''
  }
}

module graphPermissions 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    principalId: identity.outputs.principalId
    appRoleValues: graphAppRoleValues
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    nameSuffix: resourceToken
    healthUrl: '${functionApp.outputs.apiBaseUrl}/health'
    alertEmailAddress: alertEmailAddress
    alertsEnabled: alertsEnabled
    serverErrorPercentThreshold: alertServerErrorPercent
    serverErrorMinimumAnswers: alertServerErrorMinimumAnswers
    graphPermissionRefusalsThreshold: alertGraphPermissionRefusals
    graphThrottledThreshold: alertGraphThrottled
    graphBudgetWaitSecondsThreshold: alertGraphBudgetWaitSeconds
    storageUnavailableThreshold: alertStorageUnavailable
    availabilityFailedLocationsThreshold: alertAvailabilityFailedLocations
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: resourceGroup(groupName)
  dependsOn: [
    rg
  ]
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    displayName: 'chatfn operations (${environmentName})'
  }
}

// Outputs: azd stores them in the environment (.azure/<env>/.env) and prints none of them; read
// them with `azd env get-value NAME`. AZURE_FUNCTION_NAME and SERVICE_API_NAME are the names the
// official Flex Consumption azd templates give the app.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = groupName
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output CHATFN_API_URL string = functionApp.outputs.apiBaseUrl
output CHATFN_IDENTITY_RESOURCE_ID string = identity.outputs.resourceId
output CHATFN_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output CHATFN_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output CHATFN_GRAPH_APP_ROLES array = graphAppRoleValues
output CHATFN_GRAPH_PERMISSIONS_GRANTED bool = grantGraphPermissions
output CHATFN_CALLER_AUTH string = callerAuth
@description('callerAuth=entra: the application id URI callers ask tokens for (empty with keys).')
output CHATFN_API_IDENTIFIER_URI string = entraCallers ? apiRegistration.outputs.identifierUri : ''
@description('callerAuth=entra: object id of the API\'s service principal, the resourceId of an app role assignment (empty with keys).')
output CHATFN_API_PRINCIPAL_ID string = entraCallers ? apiRegistration.outputs.servicePrincipalId : ''
@description('callerAuth=entra: id of the app role Chats.Create (empty with keys).')
output CHATFN_API_APP_ROLE_ID string = entraCallers ? apiRegistration.outputs.chatsCreateRoleId : ''
@description('callerAuth=entra: client (application) id of the API registration (empty with keys).')
output CHATFN_API_CLIENT_ID string = entraCallers ? apiRegistration.outputs.clientId : ''
@description('callerAuth=entra: the delegated permission a Power Automate connection\'s client app is granted (empty with keys).')
output CHATFN_API_SCOPE string = entraCallers ? apiRegistration.outputs.userImpersonationScope : ''
