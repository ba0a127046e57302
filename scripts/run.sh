#!/usr/bin/env bash
# Sets up and runs the whole system on this machine: installs into .venv, uses the stores it finds at the
# configured URLs or starts local ones, applies migrations, starts the API, the worker and the dashboard. Ctrl-C stops it all.
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
source "$ROOT/scripts/lib/stores.sh"
source "$ROOT/scripts/lib/secrets.sh"

setup_all
ensure_secret JWT_SECRET "$ROOT/.env"   # signs access tokens
ensure_secret SECRETS_KEY "$ROOT/.env"  # encrypts stored webhook signing secrets
set -a; source "$ROOT/.env"; set +a
ensure_stores
"$PY" -m aiops_contracts.db.migrate

children=()
shutdown() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_started_stores
}
trap shutdown INT TERM EXIT

DASHBOARD="http://127.0.0.1:${FRONTEND_PORT:-3000}"
export FRONTEND_URL="${FRONTEND_URL:-$DASHBOARD}"  # the API allows the dashboard's origin (CORS)
"$VENV/bin/aiops-api" & children+=($!)
"$VENV/bin/aiops-worker" & children+=($!)

API="http://${API_HOST:-127.0.0.1}:${API_PORT:-8080}"
# The dashboard (built by setup_all when its sources changed); browsers call the API at API_URL.
(cd "$ROOT/services/frontend" && API_URL="${PUBLIC_API_URL:-$API}" NEXT_TELEMETRY_DISABLED=1 \
  exec node_modules/.bin/next start -H 127.0.0.1 -p "${FRONTEND_PORT:-3000}") & children+=($!)
wait_for api 60 curl -sf "$API/health"
wait_for dashboard 60 curl -sf "$DASHBOARD/login"
cat <<MSG

  Dashboard  $DASHBOARD     (sign in as FIRST_ADMIN_USERNAME, or: .venv/bin/python -m aiops_api.auth create-admin)
  API        $API           (OpenAPI docs: $API/docs)
  Live       ${API/http/ws}/ws?token=<access token>
  Readiness  $API/ready       Metrics: $API/metrics (viewer token), worker http://127.0.0.1:${WORKER_METRICS_PORT:-9101}/metrics
  Token      .venv/bin/python -m aiops_api.auth token <you> admin
  Stores     Redis $REDIS_URL · PostgreSQL ${DATABASE_URL} · InfluxDB $INFLUX_URL · ChromaDB $CHROMA_URL

Ctrl-C stops everything this started.
MSG
wait -n "${children[@]}"
