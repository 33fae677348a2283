#!/bin/sh
# Creates the Grafana org of every tenant in orgs.txt (idempotent) and checks
# that each got the id the datasource provisioning uses. Runs as the Job
# grafana-orgs with the Grafana admin credentials.
set -eu
api="${GRAFANA_URL:?}"
auth="${GF_ADMIN_USER:?}:${GF_ADMIN_PASSWORD:?}"
until curl -fsS -o /dev/null "$api/api/health"; do echo "waiting for $api"; sleep 5; done
grep -v '^#' /orgs/orgs.txt | while read -r want name; do
  [ -n "${want:-}" ] || continue
  got=$(curl -fsS -u "$auth" "$api/api/orgs/name/$name" 2>/dev/null | sed -n 's/^{"id":\([0-9]*\).*/\1/p') || got=""
  if [ -z "$got" ]; then
    got=$(curl -fsS -u "$auth" -H 'Content-Type: application/json' \
      -d "{\"name\":\"$name\"}" "$api/api/orgs" | sed -n 's/.*"orgId":"\{0,1\}\([0-9]*\).*/\1/p')
    echo "created org $name: id $got"
  fi
  if [ "$got" != "$want" ]; then
    echo "org $name has id $got, but the datasources expect $want: fix orgs.txt and tenants/datasources.yaml" >&2
    exit 1
  fi
done
curl -fsS -u "$auth" -X POST "$api/api/admin/provisioning/datasources/reload"
echo
