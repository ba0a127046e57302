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
# Coverage of the three packages, the API and worker processes the e2e tests start included (pyproject.toml's
# [tool.coverage]); the report lists the files not fully covered and the total, and the 25 slowest tests (the
# suite must stay under 30 minutes). `--no-cov` skips coverage: tracing makes Python code slower (Python 3.11
# has no cheaper hook), see the README's test section for the figure.
set +e
"$PY" -m pytest --durations=25 --cov=aiops_contracts --cov=aiops_api --cov=aiops_worker --cov-report=term:skip-covered "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
[ "$status" -eq 5 ] && log "no tests ran"
exit "$status"
