// The API's own Microsoft Entra application, for callerAuth=entra: callers ask Entra for a token
// for its application id URI, and App Service authentication (function-app.bicep) validates it.
// Deployed with the Microsoft Graph Bicep extension, so like graph-permissions.bicep it lives in
// a module of its own (the checks' checkov cannot read the `extension` statement).
//
// Only principals holding the app role Chats.Create get through, and Entra itself enforces it:
// with appRoleAssignmentRequired on the service principal, Entra refuses to issue a token for
// this API to any user or application not assigned a role of it
// (https://learn.microsoft.com/entra/identity-platform/howto-restrict-your-app-to-a-set-of-users).
//
// The deployer needs the right to register applications (by default every member user has it;
// otherwise Application Developer), and becomes an owner of the registration and its service
// principal: a deployer who relies on "users can register applications" may create a service
// principal only for an application they own, and the Graph extension does not make the creator an
// owner by itself, so later deployments fail with "Insufficient privileges" when nobody made it one
// (microsoftgraph/msgraph-bicep-types#154, Azure/bicep#14868). Owners are only ever added, never
// removed, by a deployment.

extension microsoftGraphV1

@description('Client-provided key of the application, unique in the tenant: redeploying updates the same one.')
param uniqueName string

@description('Display name shown in Enterprise applications and in consent prompts.')
param displayName string

@description('Application id URI callers ask tokens for; empty: none (callers ask tokens for the client id). api://<tenant id>/<name> is one of the forms Entra accepts without a verified domain (https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions).')
param identifierUri string

// Whoever deploys: the registration's and the service principal's owner (see above).
var owners = [
  deployer().objectId
]

// The app role's value is what the token's `roles` claim carries and what docs/deploy.md names.
var chatsCreateRole = 'Chats.Create'
// A role id must be a GUID, fixed for the life of the role: derived from the app's unique name.
var chatsCreateRoleId = guid(uniqueName, chatsCreateRole)

// The delegated permission a flow's OAuth connection signs its user in with: a client app can only be
// granted (and consent to) a scope the API exposes. It admits no one by itself: Entra still issues a
// token only to a user assigned Chats.Create (appRoleAssignmentRequired below), and the app checks the
// role (chatfn/api/callers.py). Admin consent only, so no user grants it on a whim.
var userImpersonationScope = 'user_impersonation'
var userImpersonationScopeId = guid(uniqueName, userImpersonationScope)

resource application 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  identifierUris: empty(identifierUri) ? [] : [
    identifierUri
  ]
  owners: {
    relationships: owners
  }
  api: {
    // v2 tokens: issuer https://login.microsoftonline.com/<tenant>/v2.0, audience the client id.
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: userImpersonationScopeId
        value: userImpersonationScope
        type: 'Admin'
        adminConsentDisplayName: 'Create Teams chats through chatfn as the signed-in user'
        adminConsentDescription: 'Lets a Power Automate connection call chatfn for its signed-in user, who must hold the app role Chats.Create.'
        isEnabled: true
      }
    ]
  }
  appRoles: [
    {
      id: chatsCreateRoleId
      value: chatsCreateRole
      displayName: 'Create Teams chats'
      description: 'Call POST /api/chats of chatfn.'
      // Applications: services with a managed identity. Users: a flow's OAuth connection.
      allowedMemberTypes: [
        'Application'
        'User'
      ]
      isEnabled: true
    }
  ]
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: application.appId
  appRoleAssignmentRequired: true
  owners: {
    relationships: owners
  }
}

@description('Client (application) id: the audience of v2 tokens and App Service authentication\'s clientId.')
output clientId string = application.appId

output identifierUri string = identifierUri

@description('Object id of the service principal: the resourceId of an appRoleAssignedTo grant.')
output servicePrincipalId string = servicePrincipal.id

output chatsCreateRole string = chatsCreateRole
output chatsCreateRoleId string = chatsCreateRoleId

@description('The delegated permission (scope) a client app is granted to sign users in for this API.')
output userImpersonationScope string = userImpersonationScope
