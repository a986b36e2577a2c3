// The user-assigned managed identity that the function app uses for everything: host storage,
// the deployment package, Application Insights and Microsoft Graph. User-assigned rather than
// system-assigned so that its Graph app roles survive the app being deleted and recreated.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the app\'s identity block and the deployment storage authentication.')
output resourceId string = identity.id

@description('Client (application) id: AZURE_CLIENT_ID and AzureWebJobsStorage__clientId.')
output clientId string = identity.properties.clientId

@description('Object id of its service principal: the principal of role assignments and Graph app roles.')
output principalId string = identity.properties.principalId

output name string = identity.name
