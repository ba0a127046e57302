#!/usr/bin/env bash
# Sets up and runs every test: installs into .venv, starts the stores the tests need (or uses the ones at
# the configured URLs), then runs pytest over every package's tests and the cross-service tests.
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
source "$ROOT/scripts/lib/stores.sh"

setup_all
install_node_packages
ensure_stores
trap stop_started_stores EXIT

cd "$ROOT"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
[ "$status" -eq 5 ] && log "no tests ran"
exit "$status"
