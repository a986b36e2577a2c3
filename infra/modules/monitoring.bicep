// Log Analytics workspace and a workspace-based Application Insights, both with local auth off:
// telemetry is accepted only with a Microsoft Entra token (the app authenticates with its managed
// identity, APPLICATIONINSIGHTS_AUTHENTICATION_STRING), so the connection string alone cannot
// ingest, and the workspace's shared keys cannot read or write it
// (https://learn.microsoft.com/azure/azure-monitor/logs/azure-ad-authentication-logs).

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for both resources.')
param tags object = {}

@description('Days the workspace keeps logs.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name

@description('Not a secret: with local auth off it only says where to send telemetry, and sending needs a token.')
output connectionString string = applicationInsights.properties.ConnectionString
