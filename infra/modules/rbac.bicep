// Azure role assignments of the function app's managed identity, each at the narrowest scope that
// works: the storage account (data-plane roles only, never Owner/Contributor) and the Application
// Insights component. Role definition ids are the built-in roles' fixed GUIDs.

@description('Storage account used by the Functions host, Durable Functions and the deployment package.')
param storageAccountName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Object id of the managed identity\'s service principal.')
param principalId string

var storageRoles = {
  // Storage Blob Data Owner. The Functions host's identity-based AzureWebJobsStorage connection
  // needs Owner rather than Contributor on blobs (Microsoft's "Connecting to host storage with an
  // identity"): the host manages containers and blob leases (singleton and Durable partition
  // leases). Flex Consumption also reads the deployment package from a container of this account.
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Storage Queue Data Contributor. Durable Functions' Azure Storage backend drives
  // orchestrations through control and work-item queues.
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Storage Table Data Contributor. Durable Functions keeps orchestration history and instance
  // state in tables.
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// Monitoring Metrics Publisher. With local auth off, Application Insights accepts telemetry
// only from an identity holding this role (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(storageRoles): {
  name: guid(storage.id, principalId, role.value)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource telemetryRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
