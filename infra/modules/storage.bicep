// The storage account behind the function app: the Functions host and Durable Functions
// (AzureWebJobsStorage: blobs, queues, tables) and the Flex Consumption deployment package
// (a blob container). Reached only with Microsoft Entra identities: shared keys are off, so no
// connection string or account key exists anywhere in this deployment.

@description('Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Redundancy of the account. Standard_LRS by default: it exists in every region, while zone-redundant SKUs fail where the region has no availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:The app has no virtual network integration, so it reaches this account over the public endpoint; a deny-by-default firewall would lock the Functions host out. Access needs an Entra identity holding a data role (shared keys are off), which is the control here.
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public network access is needed without a virtual network; anonymous blob access and shared keys are both off.
  // checkov:skip=CKV_AZURE_206:Locally redundant by default so the first deployment succeeds in every region (storageSkuName selects ZRS/GZRS where zones exist). The account holds only Durable working state, idempotency records and the deployment package; geo-replication would not keep the app running in another region.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

output name string = storage.name

@description('Where the deployment package goes: functionAppConfig.deployment.storage.value.')
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'

output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
