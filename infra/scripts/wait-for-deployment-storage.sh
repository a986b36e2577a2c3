#!/usr/bin/env bash
# azd postprovision hook (azure.yaml): wait until the function app's identity can write to its
# storage account before `azd up` deploys the code.
#
# On Flex Consumption the platform uploads the package into the deployment container as the app's
# user-assigned identity, whose Storage Blob Data Owner role the same provisioning just created. Until
# the role has reached storage, the upload fails with 403 (InaccessibleStorageException) and the first
# `azd up` stops at the code (Azure/azure-dev#8026). The identity cannot be asked directly from here,
# so the function app's host is: listing its keys makes it read and write its secrets in the same
# account as the same identity, under the same role assignment (account scope) as the container.
#
# Bounded: CHATFN_STORAGE_WAIT_SECONDS (default 600) in all, a try every
# CHATFN_STORAGE_WAIT_INTERVAL seconds (default 15). Needs the Azure CLI signed in (`az login`);
# without it the wait is skipped with a note. docs/deploy.md says what to do if it still fails.
set -euo pipefail

readonly WAIT_SECONDS="${CHATFN_STORAGE_WAIT_SECONDS:-600}"
readonly INTERVAL="${CHATFN_STORAGE_WAIT_INTERVAL:-15}"
readonly AFTERWARDS="if 'azd deploy' then fails with 403, run it again a few minutes later (docs/deploy.md)"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
Usage: wait-for-deployment-storage.sh   (run by azd after provisioning, with its environment)

Waits until chatfn's function app can write to its storage account as its identity, so that the
deployment that follows does not fail with 403. Reads AZURE_RESOURCE_GROUP, AZURE_FUNCTION_NAME and
AZURE_SUBSCRIPTION_ID; CHATFN_STORAGE_WAIT_SECONDS and CHATFN_STORAGE_WAIT_INTERVAL bound the wait.
USAGE
  exit 0
fi

die() {
  echo "error: $*" >&2
  exit 2
}

resource_group="${AZURE_RESOURCE_GROUP:-}"
app="${AZURE_FUNCTION_NAME:-}"
[[ -n "$resource_group" && -n "$app" ]] ||
  die "AZURE_RESOURCE_GROUP and AZURE_FUNCTION_NAME are not set: run it as azd's postprovision hook"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ && "$INTERVAL" =~ ^[1-9][0-9]*$ ]] ||
  die "CHATFN_STORAGE_WAIT_SECONDS and CHATFN_STORAGE_WAIT_INTERVAL must be whole seconds"

subscription=()
if [[ -n "${AZURE_SUBSCRIPTION_ID:-}" ]]; then
  subscription=(--subscription "$AZURE_SUBSCRIPTION_ID")
fi

if ! command -v az >/dev/null 2>&1; then
  echo "chatfn: no Azure CLI (az), so not waiting for the storage role; $AFTERWARDS."
  exit 0
fi
if ! az account show ${subscription[@]+"${subscription[@]}"} --output none 2>/dev/null; then
  echo "chatfn: the Azure CLI is not signed in (az login), so not waiting for the storage role; $AFTERWARDS."
  exit 0
fi

echo "chatfn: waiting until $app can write to its storage account (at most $WAIT_SECONDS s)..."
started=$SECONDS
until az functionapp keys list --resource-group "$resource_group" --name "$app" \
  ${subscription[@]+"${subscription[@]}"} --output none 2>/dev/null; do
  if ((SECONDS - started + INTERVAL > WAIT_SECONDS)); then
    echo "chatfn: after $((SECONDS - started)) s, $app still cannot use its storage account: the" \
      "identity's Storage Blob Data Owner role has not reached it yet. Everything is provisioned;" \
      "run 'azd deploy' in a few minutes (docs/deploy.md, 'The first deployment stops at the code')." >&2
    exit 1
  fi
  sleep "$INTERVAL"
done
echo "chatfn: $app can write to its storage account after $((SECONDS - started)) s."
