// Grants Microsoft Graph application permissions (app roles) to the function app's managed
// identity, with the Microsoft Graph Bicep extension. Kept in a module of its own: only this file
// needs the extension (declared in ../bicepconfig.json), main.bicep deploys it only when
// grantGraphPermissions is true, and the checks can lint every other file with tools that do not
// know the `extension` statement.
//
// Whoever deploys this needs a directory role that may grant app roles of Microsoft Graph
// (Privileged Role Administrator or Global Administrator). Without one, deploy with
// grantGraphPermissions=false and have an administrator run scripts/grant-graph-permissions.sh.

extension microsoftGraphV1

@description('Object id of the service principal (the managed identity) that receives the app roles.')
param principalId string

@description('Values of the Microsoft Graph application permissions to grant, such as Chat.Create.')
param appRoleValues array

// Microsoft Graph's well-known application id, the same in every tenant. Its service principal's
// object id differs per tenant, so it is looked up.
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

// Each app role is found by its value among the application (not delegated) roles that Graph's
// service principal publishes, never by a hard-coded id.
resource appRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleValue in appRoleValues: {
  principalId: principalId
  resourceId: microsoftGraph.id
  appRoleId: filter(microsoftGraph.appRoles, appRole => (appRoleValue == appRole.value) && contains(appRole.allowedMemberTypes, 'Application'))[0].id
}]

@description('The app role values granted.')
output grantedAppRoles array = appRoleValues
