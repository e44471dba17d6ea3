#!/usr/bin/env bash
# A real MLflow tracking server for tests and benchmarks, on loopback, with a throwaway sqlite store.
#
#   scripts/mlflow-server.sh install                 # create/reuse .venv with the pinned mlflow
#   scripts/mlflow-server.sh start [--basic-auth]    # prints KEY=VALUE lines, last one the URL
#   scripts/mlflow-server.sh stop DIR                # DIR = the MLFLOW_SERVER_DIR that start printed
#   scripts/mlflow-server.sh python ARGS...          # the venv's python (for helper scripts)
#
# `start` prints MLFLOW_SERVER_DIR, MLFLOW_SERVER_PID, (with --basic-auth: MLFLOW_TRACKING_USERNAME,
# MLFLOW_TRACKING_PASSWORD) and finally MLFLOW_TRACKING_URI=http://127.0.0.1:<port>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLFLOW_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
PIN="$(grep -E '^mlflow(\[[a-z,]+\])?==' "$ROOT/requirements-mlflow.txt" | head -n1 | sed 's/.*==//')"
# The index this project can reach has mlflow 3.18.0 but not mlflow-skinny/mlflow-tracing 3.18.0,
# which mlflow 3.18.0 pins exactly. The mlflow wheel itself holds the whole `mlflow` package, so we
# take the third-party dependencies from the newest release whose set resolves, then lay the pinned
# wheel over it with --no-deps. Only used when the plain install fails.
MLFLOW_DEPS_FALLBACK="${MLFLOW_DEPS_FALLBACK:-3.17.2}"
START_TIMEOUT_S="${MLFLOW_START_TIMEOUT_S:-180}"

log() { echo "mlflow-server: $*" >&2; }

installed_version() {
  [ -x "$PY" ] || return 1
  # flask_wtf: the [auth] extra, so a venv made before it was required is completed.
  "$PY" -c 'import importlib.metadata as m, flask_wtf; print(m.version("mlflow"))' 2>/dev/null
}

install() {
  if [ "$(installed_version || true)" = "$PIN" ]; then return 0; fi
  log "installing mlflow==$PIN into $VENV (one time)"
  if [ ! -x "$PY" ] && ! python3 -m venv "$VENV" >&2; then
    # Debian and Ubuntu ship venv apart from python3.
    rm -rf "$VENV"
    if [ "$(id -u)" != 0 ]; then log "python3 cannot make a venv: install python3-venv (as root: apt-get install python3-venv)"; exit 1; fi
    log "installing python3-venv (one time)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    python3 -m venv "$VENV"
  fi
  local pip=("$PY" -m pip install --quiet --disable-pip-version-check)
  if "${pip[@]}" -r "$ROOT/requirements-mlflow.txt" >&2; then return 0; fi
  log "plain install failed; installing mlflow==$PIN over the dependencies of mlflow==$MLFLOW_DEPS_FALLBACK"
  "${pip[@]}" "mlflow[auth]==$MLFLOW_DEPS_FALLBACK" >&2
  # Remove the fallback's own files (keeping its dependencies) so only the pinned code remains.
  "$PY" -m pip uninstall --quiet -y mlflow mlflow-skinny mlflow-tracing >&2
  "${pip[@]}" --no-deps "mlflow==$PIN" >&2
  [ "$(installed_version)" = "$PIN" ] || { log "install failed: mlflow is $(installed_version || echo missing)"; exit 1; }
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local basic_auth=0
  for arg in "$@"; do
    case "$arg" in
      --basic-auth) basic_auth=1 ;;
      *) log "unknown option $arg"; exit 2 ;;
    esac
  done
  install
  local dir port url pid
  dir="$(mktemp -d "${TMPDIR:-/tmp}/mlflow-edge-server.XXXXXX")"
  port="$(free_port)"
  url="http://127.0.0.1:$port"
  local args=(server --host 127.0.0.1 --port "$port"
    --backend-store-uri "sqlite:///$dir/mlflow.db"
    --artifacts-destination "$dir/mlartifacts"
    # One worker: sqlite serialises writes anyway, and the machine has two cores to share.
    --workers 1)
  if [ "$basic_auth" = 1 ]; then
    export MLFLOW_AUTH_ADMIN_PASSWORD="${MLFLOW_AUTH_ADMIN_PASSWORD:-edge-Test-pw-1234}"
    export MLFLOW_FLASK_SERVER_SECRET_KEY="${MLFLOW_FLASK_SERVER_SECRET_KEY:-mlflow-edge-test-secret}"
    cat >"$dir/basic_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = sqlite:///$dir/basic_auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
    export MLFLOW_AUTH_CONFIG_PATH="$dir/basic_auth.ini"
    args+=(--app-name basic-auth)
  fi
  local started
  started="$(date +%s%3N)"
  # setsid: the server and its uvicorn workers share one process group, which stop kills as a whole.
  (
    cd "$dir"
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
      exec setsid "$VENV/bin/mlflow" "${args[@]}" >"$dir/server.log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$dir/server.pid"
  echo "$url" >"$dir/server.url"
  local deadline=$(( $(date +%s) + START_TIMEOUT_S ))
  # The venv's Python polls, so a minimal image needs no curl.
  until "$PY" -c 'import sys, urllib.request as u; u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=2)' "$url/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "server exited during start; last log lines:"; tail -n 30 "$dir/server.log" >&2; rm -rf "$dir"; exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "no /health answer after ${START_TIMEOUT_S}s; log: $dir/server.log"; stop "$dir"; exit 1
    fi
    sleep 0.3
  done
  log "mlflow $PIN up at $url in $(( $(date +%s%3N) - started )) ms (pid $pid, dir $dir)"
  echo "MLFLOW_SERVER_DIR=$dir"
  echo "MLFLOW_SERVER_PID=$pid"
  if [ "$basic_auth" = 1 ]; then
    echo "MLFLOW_TRACKING_USERNAME=admin"
    echo "MLFLOW_TRACKING_PASSWORD=$MLFLOW_AUTH_ADMIN_PASSWORD"
  fi
  echo "MLFLOW_TRACKING_URI=$url"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] && [ -f "$dir/server.pid" ] || { log "usage: stop DIR (the MLFLOW_SERVER_DIR printed by start)"; exit 2; }
  local pid
  pid="$(cat "$dir/server.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  case "$dir" in */mlflow-edge-server.*) rm -rf "$dir" ;; esac
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  python) install; exec "$PY" "$@" ;;
  *) echo "usage: $0 install | start [--basic-auth] | stop DIR | python ARGS..." >&2; exit 2 ;;
esac
