#!/usr/bin/env bash
# Local development orchestration for Zavod (called by `make dev`).
#
#   deploy/dev/run.sh            install, ensure PostgreSQL + Redis, bootstrap, migrate, seed demo
#                                data, then run web + worker on http://localhost:8000 (Ctrl-C stops
#                                both, and the private PostgreSQL/Redis this script started)
#   deploy/dev/run.sh --check    only say which PostgreSQL / Redis would be used; starts nothing
#   deploy/dev/run.sh --services ensure PostgreSQL + Redis (starting private ones if needed), print
#                                the URLs as `export` lines, and leave them running
#   deploy/dev/run.sh --stop     stop the private PostgreSQL / Redis under ./var
#   deploy/dev/run.sh --exec CMD...  run CMD with .env loaded (used by make web/worker/...)
#
# PostgreSQL, in this order:
#   1. DATABASE_URL set (environment or .env): used as it is; bootstrap runs only when
#      DATABASE_ADMIN_URL is set too.
#   2. A server answering on 127.0.0.1:5432 (PG_PROBE_PORT overrides the port): used with
#      DATABASE_ADMIN_URL=postgresql://postgres@127.0.0.1:PORT/postgres (trust auth expected;
#      set DATABASE_ADMIN_URL in .env if yours needs a password).
#   3. initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin: a private cluster in ./var/postgres
#      on a free port (trust auth, 127.0.0.1 only; run as the `postgres` user when we are root).
#   4. Otherwise: stop and say what to install.
# Redis likewise: REDIS_URL, then 127.0.0.1:6379 (REDIS_PROBE_PORT), then a private redis-server
# in ./var/redis, then stop.
#
# Environment knobs: PG_PROBE_PORT, REDIS_PROBE_PORT (ports probed for running servers),
# ZAVOD_DEV_KEEP_SERVICES=1 (leave private servers running when `make dev` exits).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

export PATH="$(python3 -m site --user-base 2>/dev/null)/bin:$HOME/.local/bin:$PATH"

PG_PROBE_HOST=127.0.0.1
PG_PROBE_PORT="${PG_PROBE_PORT:-5432}"
REDIS_PROBE_HOST=127.0.0.1
REDIS_PROBE_PORT="${REDIS_PROBE_PORT:-6379}"
WEB_PORT=8000

STARTED_PG=""      # data dir of a private cluster started by this run
STARTED_REDIS=""   # pid file of a private redis started by this run
CHILD_PIDS=()

say()  { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die()  { printf '\033[31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# --- .env ---------------------------------------------------------------------------------------
# KEY=VALUE lines (optional `export `, optional surrounding quotes); the environment wins.
load_dotenv() {
    [ -f "$ROOT/.env" ] || return 0
    local line key value
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line%$'\r'}"
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        line="${line#"${line%%[![:space:]]*}"}"
        line="${line#export }"
        [[ "$line" == *=* ]] || continue
        key="${line%%=*}"
        key="${key%"${key##*[![:space:]]}"}"
        value="${line#*=}"
        value="${value#"${value%%[![:space:]]*}"}"
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
        if [[ "$value" =~ ^\"(.*)\"$ ]] || [[ "$value" =~ ^\'(.*)\'$ ]]; then
            value="${BASH_REMATCH[1]}"
        fi
        if [ -z "${!key+x}" ]; then
            export "$key=$value"
        fi
    done < "$ROOT/.env"
}

# --- probes -------------------------------------------------------------------------------------
tcp_open() {  # host port
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

pg_answers() {  # host port
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$1" -p "$2" -t 2
    else
        tcp_open "$1" "$2"
    fi
}

redis_answers() {  # host port
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0) as s:
        s.sendall(b"PING\r\n")
        reply = s.recv(64)
except OSError:
    sys.exit(1)
# "+PONG" or "-NOAUTH ..." both mean a Redis server is there.
sys.exit(0 if reply[:1] in (b"+", b"-") else 1)
PY
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- where private servers live -----------------------------------------------------------------
# ./var normally. PostgreSQL, run as `postgres` when we are root, must be able to reach it, and its
# socket path must stay short: otherwise fall back to a per-checkout directory under /tmp.
VAR_DIR=""
pick_var_dir() {
    [ -n "$VAR_DIR" ] && return 0
    VAR_DIR="$ROOT/var"
    mkdir -p "$VAR_DIR"
    local ok=1
    if is_root && id postgres >/dev/null 2>&1; then
        as_postgres test -x "$VAR_DIR" 2>/dev/null || ok=0
    fi
    [ "${#VAR_DIR}" -le 70 ] || ok=0
    if [ "$ok" = 0 ]; then
        local tag
        tag="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
        VAR_DIR="${TMPDIR:-/tmp}/zavod-dev-$tag"
        mkdir -p "$VAR_DIR"
        chmod 755 "$VAR_DIR"
        info "private servers live in $VAR_DIR ($ROOT/var is not reachable by the postgres user or too long a path)"
    fi
}

# Run a command as the `postgres` OS user when we are root (PostgreSQL refuses to run as root).
as_postgres() {
    if ! is_root; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")")
    fi
}

pg_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

PG_MODE=""; PG_DESC=""
REDIS_MODE=""; REDIS_DESC=""

# Decide which PostgreSQL to use; sets PG_MODE: env | local | private | missing
detect_pg() {
    if [ -n "${DATABASE_URL:-}" ]; then
        PG_MODE=env; PG_DESC="DATABASE_URL from the environment/.env"
    elif pg_answers "$PG_PROBE_HOST" "$PG_PROBE_PORT"; then
        PG_MODE=local; PG_DESC="PostgreSQL answering on $PG_PROBE_HOST:$PG_PROBE_PORT"
    elif PG_BIN="$(pg_bindir)"; then
        PG_MODE=private; PG_DESC="private cluster (binaries in $PG_BIN)"
    else
        PG_MODE=missing; PG_DESC="none"
    fi
}

detect_redis() {
    if [ -n "${REDIS_URL:-}" ]; then
        REDIS_MODE=env; REDIS_DESC="REDIS_URL from the environment/.env"
    elif redis_answers "$REDIS_PROBE_HOST" "$REDIS_PROBE_PORT"; then
        REDIS_MODE=local; REDIS_DESC="Redis answering on $REDIS_PROBE_HOST:$REDIS_PROBE_PORT"
    elif command -v redis-server >/dev/null 2>&1; then
        REDIS_MODE=private; REDIS_DESC="private redis-server ($(command -v redis-server))"
    else
        REDIS_MODE=missing; REDIS_DESC="none"
    fi
}

missing_help() {  # what
    local pkgs="$1"
    cat >&2 <<EOF

$2 is not running and its server binaries are not installed. Either:
  - install them (Debian/Ubuntu):   sudo apt-get install -y $pkgs
    (then re-run \`make dev\`: it starts a private instance under ./var by itself), or
  - start the containers:           docker compose up -d postgres redis
    (DATABASE_ADMIN_URL must then carry the password: put
     DATABASE_ADMIN_URL=postgresql://postgres:postgres@127.0.0.1:5432/postgres in .env), or
  - point DATABASE_URL / DATABASE_ADMIN_URL / REDIS_URL in .env at servers of your own.
EOF
    exit 1
}

# --- private PostgreSQL -------------------------------------------------------------------------
start_private_pg() {
    pick_var_dir
    local base="$VAR_DIR/postgres" data port
    data="$base/data"
    mkdir -p "$base/run"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as (create one: useradd --system --home /var/lib/postgresql postgres), or run make dev as a normal user."
        chown postgres: "$base" "$base/run"
        [ -d "$data" ] && chown -R postgres: "$data"
    fi
    if [ ! -s "$data/PG_VERSION" ]; then
        say "Creating a private PostgreSQL cluster in $data"
        as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
            || as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
                --no-locale >"$base/initdb.log" 2>&1 \
            || { cat "$base/initdb.log" >&2; die "initdb failed (log: $base/initdb.log)"; }
    fi
    if as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1 && [ -s "$base/port" ] \
        && pg_answers 127.0.0.1 "$(cat "$base/port")"; then
        port="$(cat "$base/port")"
        info "private PostgreSQL already running on 127.0.0.1:$port"
    else
        port="$(free_port)"
        say "Starting private PostgreSQL on 127.0.0.1:$port"
        as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$base/postgres.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k '$base/run'" start >/dev/null \
            || { tail -n 30 "$base/postgres.log" >&2 || true; die "pg_ctl start failed (log: $base/postgres.log)"; }
        echo "$port" > "$base/port"
    fi
    STARTED_PG="$data"
    PG_PORT="$port"
}

stop_private_pg() {  # data dir
    local data="$1" bin
    [ -d "$data" ] || return 0
    bin="$(pg_bindir)" || return 0
    if as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        say "Stopping private PostgreSQL ($data)"
        as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
    fi
}

# --- private Redis ------------------------------------------------------------------------------
start_private_redis() {
    pick_var_dir
    local base="$VAR_DIR/redis" port pid
    mkdir -p "$base"
    if [ -s "$base/redis.pid" ] && [ -s "$base/port" ] && kill -0 "$(cat "$base/redis.pid")" 2>/dev/null \
        && redis_answers 127.0.0.1 "$(cat "$base/port")"; then
        port="$(cat "$base/port")"
        info "private Redis already running on 127.0.0.1:$port"
    else
        port="$(free_port)"
        say "Starting private Redis on 127.0.0.1:$port"
        rm -f "$base/redis.pid"
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
            --dir "$base" --pidfile "$base/redis.pid" --logfile "$base/redis.log" \
            || die "redis-server failed to start (log: $base/redis.log)"
        for _ in $(seq 50); do
            redis_answers 127.0.0.1 "$port" && break
            sleep 0.1
        done
        redis_answers 127.0.0.1 "$port" || die "Redis did not answer on port $port (log: $base/redis.log)"
        echo "$port" > "$base/port"
    fi
    STARTED_REDIS="$base/redis.pid"
    REDIS_PORT="$port"
}

stop_private_redis() {  # pid file
    local pidfile="$1" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        say "Stopping private Redis (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}

stop_all_private() {
    local d
    for d in "$ROOT/var" "${TMPDIR:-/tmp}/zavod-dev-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"; do
        stop_private_pg "$d/postgres/data"
        stop_private_redis "$d/redis/redis.pid"
    done
}

# --- ensure services and export URLs ------------------------------------------------------------
RUN_BOOTSTRAP=1
ensure_services() {
    detect_pg
    case "$PG_MODE" in
        env)
            if [ -z "${DATABASE_ADMIN_URL:-}" ]; then
                RUN_BOOTSTRAP=0
                info "DATABASE_URL is set without DATABASE_ADMIN_URL: assuming its role and database exist (bootstrap skipped)"
            fi ;;
        local)
            export DATABASE_ADMIN_URL="${DATABASE_ADMIN_URL:-postgresql://postgres@127.0.0.1:$PG_PROBE_PORT/postgres}"
            export DATABASE_URL="postgresql+asyncpg://zavod:zavod@127.0.0.1:$PG_PROBE_PORT/zavod" ;;
        private)
            start_private_pg
            export DATABASE_ADMIN_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
            export DATABASE_URL="postgresql+asyncpg://zavod:zavod@127.0.0.1:$PG_PORT/zavod" ;;
        missing)
            missing_help "postgresql redis-server" "PostgreSQL (127.0.0.1:$PG_PROBE_PORT)" ;;
    esac
    say "PostgreSQL: $PG_DESC"

    detect_redis
    case "$REDIS_MODE" in
        env) ;;
        local) export REDIS_URL="redis://127.0.0.1:$REDIS_PROBE_PORT/0" ;;
        private)
            start_private_redis
            export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" ;;
        missing)
            missing_help "redis-server" "Redis (127.0.0.1:$REDIS_PROBE_PORT)" ;;
    esac
    say "Redis: $REDIS_DESC"
}

redact() { sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#'; }

print_urls() {
    info "DATABASE_URL=$(printf '%s' "${DATABASE_URL:-}" | redact)"
    info "DATABASE_ADMIN_URL=$(printf '%s' "${DATABASE_ADMIN_URL:-(unset)}" | redact)"
    info "REDIS_URL=$(printf '%s' "${REDIS_URL:-}" | redact)"
}

# --- modes --------------------------------------------------------------------------------------
mode_check() {
    load_dotenv
    detect_pg
    detect_redis
    echo "PostgreSQL: $PG_MODE — $PG_DESC"
    case "$PG_MODE" in
        local)   echo "  would use DATABASE_URL=postgresql+asyncpg://zavod:zavod@127.0.0.1:$PG_PROBE_PORT/zavod" ;;
        private) pick_var_dir; echo "  would start a private cluster in $VAR_DIR/postgres on a free port" ;;
        env)     echo "  would use DATABASE_URL=$(printf '%s' "$DATABASE_URL" | redact)" ;;
        missing) echo "  install: apt-get install postgresql   (or: docker compose up -d postgres redis)" ;;
    esac
    echo "Redis: $REDIS_MODE — $REDIS_DESC"
    case "$REDIS_MODE" in
        local)   echo "  would use REDIS_URL=redis://127.0.0.1:$REDIS_PROBE_PORT/0" ;;
        private) pick_var_dir; echo "  would start a private redis-server in $VAR_DIR/redis on a free port" ;;
        env)     echo "  would use REDIS_URL=$(printf '%s' "$REDIS_URL" | redact)" ;;
        missing) echo "  install: apt-get install redis-server   (or: docker compose up -d postgres redis)" ;;
    esac
    [ "$PG_MODE" != missing ] && [ "$REDIS_MODE" != missing ]
}

mode_services() {
    load_dotenv
    ensure_services
    printf 'export DATABASE_URL=%q\n' "${DATABASE_URL:-}"
    [ -n "${DATABASE_ADMIN_URL:-}" ] && printf 'export DATABASE_ADMIN_URL=%q\n' "$DATABASE_ADMIN_URL"
    printf 'export REDIS_URL=%q\n' "${REDIS_URL:-}"
    if [ -n "$STARTED_PG$STARTED_REDIS" ]; then
        info "private servers left running; stop them with: deploy/dev/run.sh --stop"
    fi
}

mode_exec() {
    load_dotenv
    [ "$#" -gt 0 ] || die "--exec needs a command"
    exec "$@"
}

ensure_uv() {
    command -v uv >/dev/null 2>&1 && return 0
    say "Installing uv"
    python3 -m pip install --user uv || pip install uv \
        || python3 -m pip install --user --break-system-packages uv \
        || die "could not install uv; see https://docs.astral.sh/uv/ and re-run"
    if ! command -v uv >/dev/null 2>&1; then
        # Installed as a package whose scripts directory is not on PATH: link its binary.
        local bin
        bin="$(python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" \
            && mkdir -p "$HOME/.local/bin" && ln -sf "$bin" "$HOME/.local/bin/uv" || true
    fi
    command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH (add $(python3 -m site --user-base)/bin to PATH)"
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${CHILD_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${CHILD_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${ZAVOD_DEV_KEEP_SERVICES:-}" = 1 ]; then
        [ -n "$STARTED_PG$STARTED_REDIS" ] && info "private servers left running (deploy/dev/run.sh --stop stops them)"
    else
        [ -n "$STARTED_PG" ] && stop_private_pg "$STARTED_PG"
        [ -n "$STARTED_REDIS" ] && stop_private_redis "$STARTED_REDIS"
    fi
    exit "$rc"
}

mode_dev() {
    load_dotenv
    export APP_ENV=development
    export FETCH_ALLOW_PRIVATE="${FETCH_ALLOW_PRIVATE:-true}"

    if tcp_open 127.0.0.1 "$WEB_PORT"; then
        die "port $WEB_PORT is already in use (another \`make dev\`?). Stop that process first."
    fi

    ensure_uv
    say "Installing dependencies (uv sync --frozen)"
    uv sync --frozen

    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    ensure_services
    print_urls

    if [ "$RUN_BOOTSTRAP" = 1 ]; then
        say "Creating the database role and database (app.db.bootstrap)"
        uv run python -m app.db.bootstrap \
            || die "bootstrap failed. If your PostgreSQL needs a password, set DATABASE_ADMIN_URL in .env."
    fi
    say "Migrating"
    uv run litestar --app app.main:create_app database upgrade --no-prompt
    say "Demo data"
    uv run litestar --app app.main:create_app zavod seed-demo

    say "Starting web (http://localhost:$WEB_PORT) and worker — Ctrl-C stops both"
    uv run uvicorn app.main:create_app --factory --host 0.0.0.0 --port "$WEB_PORT" &
    CHILD_PIDS+=("$!")
    uv run saq tasks.worker.settings &
    CHILD_PIDS+=("$!")

    for _ in $(seq 100); do
        tcp_open 127.0.0.1 "$WEB_PORT" && break
        sleep 0.2
    done
    cat >&2 <<EOF

  Zavod is running on http://localhost:$WEB_PORT
  Demo accounts: printed by seed-demo above, and listed in README.md.
  Ctrl-C stops web and worker$( [ -n "$STARTED_PG$STARTED_REDIS" ] && [ "${ZAVOD_DEV_KEEP_SERVICES:-}" != 1 ] && printf ' and the private PostgreSQL/Redis' ).

EOF
    # Whichever process ends first ends the session (cleanup stops the other).
    set +e
    wait -n "${CHILD_PIDS[@]}"
    local rc=$?
    set -e
    say "a process exited (status $rc); stopping"
    exit "$rc"
}

case "${1:-}" in
    --check)    mode_check ;;
    --services) mode_services ;;
    --stop)     stop_all_private ;;
    --exec)     shift; mode_exec "$@" ;;
    ""|--run)   mode_dev ;;
    -h|--help)  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)          die "unknown option: $1 (try --help)" ;;
esac
