# Finds the stores at the configured URLs, or starts local ones from installed packages with their data
# under .data/ (sourced after setup.sh). Whatever this starts is stopped by stop_started_stores.

DATA_DIR="${AIOPS_DATA_DIR:-$ROOT/.data}"
STARTED_PIDS=()

: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${DATABASE_URL:=postgresql+psycopg://postgres@127.0.0.1:5432/aiops}"
: "${INFLUX_URL:=http://127.0.0.1:8086}"
: "${CHROMA_URL:=http://127.0.0.1:8000}"
export REDIS_URL DATABASE_URL INFLUX_URL CHROMA_URL

wait_for() {  # wait_for NAME SECONDS COMMAND...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  log "$name did not come up in ${seconds}s"; return 1
}

url_port() { local hostport="${1#*://}"; hostport="${hostport%%/*}"; echo "${hostport##*:}"; }

redis_up() { "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1]).ping()" "$REDIS_URL"; }
postgres_up() { "$PY" -c "import psycopg,sys; psycopg.connect(sys.argv[1].replace('+psycopg','').rsplit('/',1)[0]+'/postgres').close()" "$DATABASE_URL"; }
influx_up() { curl -sf "$INFLUX_URL/ping" -o /dev/null; }
chroma_up() { curl -sf "$CHROMA_URL/api/v2/heartbeat" -o /dev/null; }

ensure_redis() {
  redis_up && return 0
  log "starting a local Redis (data in $DATA_DIR/redis)"
  mkdir -p "$DATA_DIR/redis"
  redis-server --daemonize no --bind 127.0.0.1 --port "$(url_port "$REDIS_URL")" --dir "$DATA_DIR/redis" \
    --appendonly yes --maxmemory-policy noeviction >"$DATA_DIR/redis.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for redis 20 redis_up
}

ensure_postgres() {
  postgres_up && return 0
  log "starting the local PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for postgres 30 postgres_up
}

ensure_influxdb() {
  influx_up && return 0
  log "starting a local InfluxDB (data in $DATA_DIR/influxdb)"
  local dir="$DATA_DIR/influxdb" port; port="$(url_port "$INFLUX_URL")"
  mkdir -p "$dir"
  cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((port + 2))"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
  influxd -config "$dir/influxdb.conf" >"$DATA_DIR/influxdb.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for influxdb 60 influx_up
}

ensure_chroma() {
  chroma_up && return 0
  log "starting a local ChromaDB (data in $DATA_DIR/chroma)"
  mkdir -p "$DATA_DIR/chroma"
  "$VENV/bin/chroma" run --path "$DATA_DIR/chroma" --host 127.0.0.1 --port "$(url_port "$CHROMA_URL")" \
    >"$DATA_DIR/chroma.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for chromadb 90 chroma_up
}

ensure_stores() {
  mkdir -p "$DATA_DIR"
  ensure_redis && ensure_postgres && ensure_influxdb && ensure_chroma
}

stop_started_stores() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  STARTED_PIDS=()
}
