#!/usr/bin/env bash
# Grant chatfn's managed identity the Microsoft Graph application permissions it needs:
# Chat.Create, Chat.ReadBasic.All and User.Read.All (the same list as graphAppRoleValues in
# infra/main.bicep). For an administrator to run after a deployment without the opt-in grant
# (CHATFN_GRANT_GRAPH, the default path). Idempotent: roles already granted are left as they are.
#
# Needs the Azure CLI, signed in (`az login`) to the tenant as a user with a directory role that
# may grant app roles of Microsoft Graph: Privileged Role Administrator or Global Administrator.
set -euo pipefail

readonly GRAPH_URL="https://graph.microsoft.com/v1.0"
readonly GRAPH_APP_ID="00000003-0000-0000-c000-000000000000" # Microsoft Graph, in every tenant
readonly APP_ROLES=("Chat.Create" "Chat.ReadBasic.All" "User.Read.All")

usage() {
  cat <<'USAGE'
Usage:
  grant-graph-permissions.sh --principal-id OBJECT_ID [--dry-run]
  grant-graph-permissions.sh --resource-group RG --identity-name NAME [--dry-run]

Grants the Microsoft Graph application permissions Chat.Create, Chat.ReadBasic.All and
User.Read.All to chatfn's user-assigned managed identity. Running it again changes nothing.

  --principal-id ID     object id of the identity's service principal
                        (deployment output CHATFN_IDENTITY_PRINCIPAL_ID)
  --resource-group RG   resource group of the deployment, with --identity-name
  --identity-name NAME  name of the user-assigned identity (id-chatfn-...)
  --dry-run             show what would be granted, grant nothing
  -h, --help            this text

Requires `az login` as a Privileged Role Administrator or Global Administrator of the tenant.
USAGE
}

die() {
  echo "error: $*" >&2
  exit 2
}

principal_id=""
resource_group=""
identity_name=""
dry_run=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --principal-id) principal_id="${2:-}"; shift 2 || die "--principal-id needs a value" ;;
    --resource-group) resource_group="${2:-}"; shift 2 || die "--resource-group needs a value" ;;
    --identity-name) identity_name="${2:-}"; shift 2 || die "--identity-name needs a value" ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

if [[ -z "$principal_id" ]]; then
  if [[ -z "$resource_group" || -z "$identity_name" ]]; then
    usage >&2
    die "give --principal-id, or --resource-group and --identity-name"
  fi
  principal_id="$(az identity show --resource-group "$resource_group" --name "$identity_name" \
    --query principalId --output tsv)"
fi
guid='^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
[[ "$principal_id" =~ $guid ]] || die "not an object id: '$principal_id'"

# Microsoft Graph's service principal in this tenant, found by its well-known app id.
graph_sp_id="$(az rest --method get --url "$GRAPH_URL/servicePrincipals(appId='$GRAPH_APP_ID')" \
  --query id --output tsv)"
[[ "$graph_sp_id" =~ $guid ]] || die "Microsoft Graph's service principal not found"

# App role ids the identity already holds on Microsoft Graph.
granted="$(az rest --method get \
  --url "$GRAPH_URL/servicePrincipals/$principal_id/appRoleAssignments" \
  --query "value[?resourceId=='$graph_sp_id'].appRoleId" --output tsv)"

for value in "${APP_ROLES[@]}"; do
  # The application permission with this value (not a delegated scope of the same name).
  role_id="$(az rest --method get --url "$GRAPH_URL/servicePrincipals/$graph_sp_id?\$select=appRoles" \
    --query "appRoles[?value=='$value' && contains(allowedMemberTypes, 'Application')].id | [0]" \
    --output tsv)"
  [[ "$role_id" =~ $guid ]] || die "Microsoft Graph has no application permission '$value'"

  if grep -qix -- "$role_id" <<<"$granted"; then
    echo "$value: already granted"
  elif [[ "$dry_run" == true ]]; then
    echo "$value: would grant (app role $role_id)"
  else
    az rest --method post --url "$GRAPH_URL/servicePrincipals/$graph_sp_id/appRoleAssignedTo" \
      --headers "Content-Type=application/json" \
      --body "{\"principalId\": \"$principal_id\", \"resourceId\": \"$graph_sp_id\", \"appRoleId\": \"$role_id\"}" \
      --output none
    echo "$value: granted"
  fi
done
