// The operations dashboard: an Azure Monitor workbook bound to the Application Insights component
// (it appears under the component's Workbooks), with charts of chats by outcome, request latency,
// Graph calls and 429s, problems by type and batches. Its content is infra/monitoring/workbook.json,
// loaded at compile time so that tests read the very JSON that is deployed; docs/operations.md
// (Dashboard) explains each chart.
//
// API versions, each a stable version published in Azure/azure-rest-api-specs:
//   workbooks@2023-06-01   specification/applicationinsights/resource-manager/Microsoft.Insights/stable/2023-06-01/workbooks_API.json
//   components@2020-02-02  specification/applicationinsights/resource-manager/Microsoft.Insights/stable/2020-02-02/components_API.json
// The serializedData format (Notebook/1.0, KqlItem/1.0) is Azure Workbooks' own
// (https://learn.microsoft.com/azure/azure-monitor/visualize/workbooks-automate).

@description('Name of the Application Insights component whose telemetry the workbook charts.')
param applicationInsightsName string

@description('Azure region of the workbook.')
param location string

@description('Tags for the workbook.')
param tags object = {}

@description('Title of the workbook in the portal.')
param displayName string

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The queries run against the component: the workbook's own fallback resource is set here, not in
// the JSON, which holds nothing specific to one deployment.
var content = union(loadJsonContent('../monitoring/workbook.json'), {
  fallbackResourceIds: [
    applicationInsights.id
  ]
})

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'chatfn-operations-workbook') // a workbook's name must be a GUID
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsights.id
    version: 'Notebook/1.0'
    serializedData: string(content)
  }
}

output workbookName string = workbook.name
