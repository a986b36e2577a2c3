// What tells an operator that chatfn is in trouble: an action group (e-mail optional), a standard
// availability test of GET /api/health from five regions with a metric alert on it, and log search
// alerts (scheduled query rules) over the app's OpenTelemetry metrics in Application Insights, each
// with its threshold a parameter. docs/operations.md says, for each alert, what it means, how to
// confirm it with a query and what to do.
//
// API versions, each a stable version published in Azure/azure-rest-api-specs:
//   actionGroups@2023-01-01         specification/monitor/resource-manager/Microsoft.Insights/stable/2023-01-01/actionGroups_API.json
//   webtests@2022-06-15             specification/applicationinsights/resource-manager/Microsoft.Insights/stable/2022-06-15/webTests_API.json
//   metricAlerts@2018-03-01         specification/monitor/resource-manager/Microsoft.Insights/stable/2018-03-01/metricAlert_API.json
//   scheduledQueryRules@2023-12-01  specification/monitor/resource-manager/Microsoft.Insights/stable/2023-12-01/scheduledQueryRule_API.json
//   components@2020-02-02           specification/applicationinsights/resource-manager/Microsoft.Insights/stable/2020-02-02/components_API.json

@description('Name of the Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Azure region of the component; the availability test and the log alerts live there.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Suffix of the resource names (main.bicep\'s resource token).')
param nameSuffix string

@description('URL the availability test requests: the app\'s anonymous GET /api/health.')
param healthUrl string

@description('Where alerts are e-mailed. Empty: the action group has no receiver, and alerts show only in the portal (Monitor > Alerts).')
param alertEmailAddress string = ''

@description('Whether the alert rules evaluate. The availability test runs either way.')
param alertsEnabled bool = true

@description('Server errors: alert when more than this percentage of the answers of a 5-minute bin (GET /api/health left out) were 5xx.')
@minValue(1)
@maxValue(100)
param serverErrorPercentThreshold int = 5

@description('Server errors: a 5-minute bin with fewer answers than this is not judged (one failure of two is not an outage).')
@minValue(1)
param serverErrorMinimumAnswers int = 10

@description('Graph permission: alert when there were more refusals than this in 15 minutes (0: any): requests answered graph-refused-identity plus Graph\'s 403 answers to any call, those of a batch\'s items included.')
@minValue(0)
param graphPermissionRefusalsThreshold int = 0

@description('Graph throttling: alert when Graph answered 429 more often than this in each of three consecutive 5-minute windows.')
@minValue(0)
param graphThrottledThreshold int = 20

@description('Graph budget: alert when calls waited for the shared Graph budget (in the worker, or on durable timers for calls it could not serve in time) more than this many seconds in total in each of three consecutive 5-minute windows.')
@minValue(0)
param graphBudgetWaitSecondsThreshold int = 60

@description('Storage: alert when more requests than this were answered storage-unavailable in 5 minutes (0: any).')
@minValue(0)
param storageUnavailableThreshold int = 0

@description('Availability: alert when at least this many of the test locations fail at once. Microsoft recommends the number of locations minus two.')
@minValue(1)
param availabilityFailedLocationsThreshold int = 3

@description('Where the availability test runs from: Application Insights population names (https://learn.microsoft.com/azure/azure-monitor/app/availability#location-population-tags). Microsoft recommends at least five.')
@minLength(5)
@maxLength(16)
param availabilityTestLocations array = [
  'us-va-ash-azr' // East US
  'us-ca-sjc-azr' // West US
  'emea-nl-ams-azr' // West Europe
  'emea-gb-db3-azr' // North Europe
  'apac-sg-sin-azr' // Southeast Asia
]

var availabilityTestName = 'avail-chatfn-health-${nameSuffix}'
var documentation = 'See docs/operations.md, Alerts.'

// Log search alerts. Each query is a file of its own under infra/monitoring/alerts (tests read the
// same files) and returns a timestamp and one measure; the rule aggregates the measure over each
// window and compares it with the threshold. Names are those the app emits (docs/operations.md,
// Telemetry names): counters arrive as deltas, so summing valueSum counts events.
var logAlerts = [
  {
    name: 'server-errors'
    displayName: 'chatfn: server errors above ${serverErrorPercentThreshold}%'
    description: 'More than ${serverErrorPercentThreshold}% of chatfn\'s answers in a 5-minute bin were 5xx (bins of at least ${serverErrorMinimumAnswers} answers, health checks left out). ${documentation}'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    evaluationPeriods: 1
    query: format('let minimumAnswers = {0};\n{1}', serverErrorMinimumAnswers, loadTextContent('../monitoring/alerts/server-errors.kql'))
    measure: 'serverErrorPercent'
    aggregation: 'Maximum'
    threshold: serverErrorPercentThreshold
  }
  {
    name: 'graph-permission'
    displayName: 'chatfn: Graph refuses the app\'s identity'
    description: 'Microsoft Graph answered 403 to the function\'s own identity (requests answered graph-refused-identity, or Graph\'s 403s to any call, a batch\'s and the orchestration\'s included): an application permission is missing or was revoked. ${documentation}'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    evaluationPeriods: 1
    query: loadTextContent('../monitoring/alerts/graph-permission.kql')
    measure: 'refusals'
    aggregation: 'Total'
    threshold: graphPermissionRefusalsThreshold
  }
  {
    name: 'graph-throttled'
    displayName: 'chatfn: Graph throttling sustained'
    description: 'Microsoft Graph answered 429 more than ${graphThrottledThreshold} times in each of the last three 5-minute windows. ${documentation}'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    evaluationPeriods: 3
    query: loadTextContent('../monitoring/alerts/graph-throttled.kql')
    measure: 'throttled'
    aggregation: 'Total'
    threshold: graphThrottledThreshold
  }
  {
    name: 'graph-budget-wait'
    displayName: 'chatfn: Graph budget waits sustained'
    description: 'Calls waited more than ${graphBudgetWaitSecondsThreshold} s in total for the shared Graph budget (in the worker, or on durable timers) in each of the last three 5-minute windows. ${documentation}'
    severity: 3
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    evaluationPeriods: 3
    query: loadTextContent('../monitoring/alerts/graph-budget-wait.kql')
    measure: 'waitedSeconds'
    aggregation: 'Total'
    threshold: graphBudgetWaitSecondsThreshold
  }
  {
    name: 'storage-unavailable'
    displayName: 'chatfn: storage unavailable'
    description: 'Requests were answered 503 storage-unavailable: the idempotency records (Table storage) could not be read or written. ${documentation}'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    evaluationPeriods: 1
    query: loadTextContent('../monitoring/alerts/storage-unavailable.kql')
    measure: 'refusals'
    aggregation: 'Total'
    threshold: storageUnavailableThreshold
  }
]

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Always deployed, so every alert has somewhere to go; a receiver only when an address is given.
// Receivers added by hand are replaced on the next deployment: set alertEmailAddress instead.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-chatfn-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'chatfn' // at most 12 characters: it names the sender of SMS and voice calls
    enabled: true
    emailReceivers: empty(alertEmailAddress) ? [] : [
      {
        name: 'operators'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

// A standard test (the URL ping test retires on 30 September 2026):
// https://learn.microsoft.com/azure/azure-monitor/app/availability. The hidden-link tag ties it to
// the component, where the portal lists it under Availability.
resource availabilityTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: availabilityTestName
  location: location
  tags: union(tags, {
    'hidden-link:${applicationInsights.id}': 'Resource'
  })
  properties: {
    SyntheticMonitorId: availabilityTestName
    Name: 'chatfn GET /api/health'
    Description: 'GET /api/health answers 200 over TLS with a certificate valid for at least 7 more days.'
    Enabled: true
    Kind: 'standard'
    Frequency: 300
    Timeout: 30
    RetryEnabled: true // a location fails only after three failed attempts in a row
    Locations: [for populationName in availabilityTestLocations: {
      Id: populationName
    }]
    Request: {
      RequestUrl: healthUrl
      HttpVerb: 'GET'
      ParseDependentRequests: false
      FollowRedirects: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

// The availability test's own alert: X of Y locations failing
// (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-metric-create-templates#template-for-an-availability-test-along-with-a-metric-alert).
resource availabilityAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-chatfn-availability-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'GET /api/health failed from at least ${availabilityFailedLocationsThreshold} of ${length(availabilityTestLocations)} locations: the app is down or unreachable, or its certificate is about to expire. ${documentation}'
    severity: 0
    enabled: alertsEnabled
    scopes: [
      availabilityTest.id
      applicationInsights.id
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: availabilityTest.id
      componentId: applicationInsights.id
      failedLocationCount: availabilityFailedLocationsThreshold
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// skipQueryValidation: the component's tables are resolved only once data flows, so validating the
// queries in the first deployment fails ("Failed to resolve table or column expression"); the Azure
// Monitor team's advice is to skip it (https://github.com/mspnp/aks-baseline/pull/422). The queries
// are checked by tests/infra/test_monitoring.py instead.
resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in logAlerts: {
  name: 'alert-chatfn-${rule.name}-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: alertsEnabled
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: rule.evaluationFrequency
    windowSize: rule.windowSize
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: rule.aggregation
          metricMeasureColumn: rule.measure
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: rule.evaluationPeriods
            minFailingPeriodsToAlert: rule.evaluationPeriods
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

output actionGroupName string = actionGroup.name
output availabilityTestName string = availabilityTest.name
