# Installs everything the services and tests need into .venv (sourced by run.sh and test_all.sh).
# Re-running is cheap: a stamp of the requirement files' hash skips pip when nothing changed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

install_system_packages() {
  # InfluxDB 1.x (v1 HTTP API, the same one 2.x/3.x serve), Chromium for browser tests and the real
  # Alertmanager that notifies our webhook in its test, snmpd (the SNMP agent the SNMP poller is tested
  # against) and net-snmp's tools (snmptrap sends the trap receiver's test traps), from Debian.
  local missing=()
  command -v influxd >/dev/null || missing+=(influxdb)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v snmpd >/dev/null || missing+=(snmpd)
  command -v snmptrap >/dev/null || missing+=(snmp)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing system packages: ${missing[*]} (install them with apt-get as root)"; return 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_python() {
  local stamp="$VENV/.installed" want
  want="$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" "$ROOT"/services/*/pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "installing Python packages into .venv"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
  # CPU torch first: anything that pulls torch later would otherwise fetch a multi-GB CUDA build.
  "$PY" -m pip install -q torch==2.13.0
  # One command for everything: the services with their own dependencies (their pyproject) and the tools of
  # requirements.txt resolve together (chromadb and prophet only resolve together).
  "$PY" -m pip install -q -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt" \
    -e "$ROOT/services/contracts" -e "$ROOT/services/api" -e "$ROOT/services/worker"
  echo "$want" > "$stamp"
}

build_miner() {
  # The worker's editable install compiles the log template miner's hot modules beside their sources
  # (services/worker/setup.py). Rebuild when they run uncompiled, or when importing them fails: the package's
  # check (aiops_worker/logs/miner_build.py) refuses a build whose sources' sha256 differ from its stamp.
  "$PY" -c 'import sys, aiops_worker.logs.mining as m; sys.exit(not m.__file__.endswith(".so"))' 2>/dev/null && return 0
  log "compiling the log template miner (mypyc)"
  "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT/services/worker"
}

install_node_packages() {
  # The Sentry JavaScript SDK the e2e tests send with (package-lock.json pins it).
  local dir="$ROOT/tests/e2e/sentry_js"
  [ -d "$dir/node_modules" ] && return 0
  log "installing the Sentry JavaScript SDK for the tests (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

install_frontend() {
  # The dashboard: `npm ci` when the lockfile changed, `next build` when its sources changed (stamps like
  # install_python's, in node_modules/ and .next/, which both stay out of git).
  local dir="$ROOT/services/frontend" want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$dir/node_modules/.installed" 2>/dev/null)" != "$want" ]; then
    log "installing the dashboard's packages (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
    echo "$want" > "$dir/node_modules/.installed"
  fi
  want="$(cd "$dir" && find app components lib package-lock.json next.config.mjs tsconfig.json -type f -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$dir/.next/.built" 2>/dev/null)" != "$want" ]; then
    log "building the dashboard (next build)"
    (cd "$dir" && NEXT_TELEMETRY_DISABLED=1 npm run build --silent >/dev/null) || return 1
    echo "$want" > "$dir/.next/.built"
  fi
}

setup_all() {
  install_system_packages
  install_python
  build_miner
  install_frontend
}
