#!/usr/bin/env bash
# Local S3 servers for the tests: moto (no signature checks) and Garage (checks SigV4),
# both on 127.0.0.1 on free ports.
#
#   scripts/servers.sh start    start both in the background, print `export ...` lines
#   scripts/servers.sh env      print the `export ...` lines of the running servers
#   scripts/servers.sh status   say what runs
#   scripts/servers.sh stop     stop both, delete their state
#
#   eval "$(scripts/servers.sh start)" && cargo test -p integration
#
# State (configs, data, logs, pids) lives in $MOUNTD_SERVERS_DIR (default
# /tmp/mountd-test-servers). MOUNTD_SERVERS="moto garage" selects the servers.
# Needs what scripts/install-deps.sh installs; GARAGE_BIN overrides the garage binary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STATE=${MOUNTD_SERVERS_DIR:-/tmp/mountd-test-servers}
WANT=${MOUNTD_SERVERS:-moto garage}
START_TIMEOUT=${MOUNTD_SERVER_START_TIMEOUT:-60}

wants() { [[ " $WANT " == *" $1 "* ]]; }

# pid of a server we started, if it is still that server.
alive_pid() {
    local name=$1 pidf="$STATE/$1.pid" pid
    [ -f "$pidf" ] || return 1
    pid=$(cat "$pidf")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cat "$STATE/$name.match")" || return 1
    echo "$pid"
}

free_ports() { # N distinct free TCP ports on 127.0.0.1
    "$PY" - "$1" <<'PYEOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PYEOF
}

wait_http() { # URL NAME: until the port answers HTTP at all
    local url=$1 name=$2 deadline=$((SECONDS + START_TIMEOUT))
    until "$PY" -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass' "$url" >/dev/null 2>&1; do
        alive_pid "$name" >/dev/null || { tail -n 30 "$STATE/$name.log" >&2; die "$name exited during start"; }
        [ $SECONDS -lt $deadline ] || die "$name did not answer on $url within ${START_TIMEOUT}s"
        sleep 0.2
    done
}

start_moto() {
    local port
    port=$(free_ports 1)
    echo "moto.server" >"$STATE/moto.match"
    setsid "${NO_PROXY_ENV[@]}" "$PY" -m moto.server -H 127.0.0.1 -p "$port" \
        </dev/null >"$STATE/moto.log" 2>&1 &
    echo $! >"$STATE/moto.pid"
    wait_http "http://127.0.0.1:$port/" moto
    {
        echo "export MOUNTD_TEST_MOTO_URL=http://127.0.0.1:$port"
    } >>"$STATE/env"
    log "moto on http://127.0.0.1:$port (pid $(cat "$STATE/moto.pid"))"
}

start_garage() {
    local garage dir cfg s3 rpc admin node out key_id secret deadline
    garage=$(find_garage) || die "no garage binary (run scripts/install-deps.sh or set GARAGE_BIN)"
    dir="$STATE/garage"
    mkdir -p "$dir/meta" "$dir/data"
    read -r s3 rpc admin <<<"$(free_ports 3)"
    cfg="$dir/garage.toml"
    (
        umask 077
        cat >"$cfg" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TOML
    )
    chmod 600 "$cfg"
    echo "$cfg" >"$STATE/garage.match"
    setsid "${NO_PROXY_ENV[@]}" RUST_LOG="${GARAGE_LOG:-warn}" "$garage" -c "$cfg" server \
        </dev/null >"$STATE/garage.log" 2>&1 &
    echo $! >"$STATE/garage.pid"
    G() { without_proxies "$garage" -c "$cfg" "$@"; }

    # `node id` reads the node's key from metadata_dir and can answer before the server
    # listens; `status` goes through the RPC port, which `layout assign` needs.
    deadline=$((SECONDS + START_TIMEOUT))
    until node=$(G node id -q 2>/dev/null) && [ -n "$node" ] && G status >/dev/null 2>&1; do
        alive_pid garage >/dev/null || { tail -n 30 "$STATE/garage.log" >&2; die "garage exited during start"; }
        [ $SECONDS -lt $deadline ] || die "garage did not answer 'node id' and 'status' within ${START_TIMEOUT}s"
        sleep 0.2
    done
    node=${node%%@*}
    G layout assign -z dc1 -c 10G "$node" >/dev/null
    G layout apply --version 1 >/dev/null
    out=$(G key create mountd-test)
    key_id=$(awk -F: '/Key ID/ {gsub(/ /, "", $2); print $2}' <<<"$out")
    secret=$(awk -F: '/Secret key/ {gsub(/ /, "", $2); print $2}' <<<"$out")
    [ -n "$key_id" ] && [ -n "$secret" ] || die "could not read the key from 'garage key create': $out"
    G key allow --create-bucket "$key_id" >/dev/null

    # Ready when the new key can create and delete a bucket through the S3 API.
    local probe="mountd-ready-$$" url="http://127.0.0.1:$s3"
    deadline=$((SECONDS + START_TIMEOUT))
    until AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret without_proxies "$PY" \
        "$MOUNTD_ROOT/integration/tools/s3tool.py" --endpoint "$url" create-bucket "$probe" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "garage S3 API not ready on $url within ${START_TIMEOUT}s"
        sleep 0.5
    done
    AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret without_proxies "$PY" \
        "$MOUNTD_ROOT/integration/tools/s3tool.py" --endpoint "$url" delete-bucket "$probe" >/dev/null
    {
        echo "export MOUNTD_TEST_GARAGE_URL=$url"
        echo "export MOUNTD_TEST_GARAGE_KEY_ID=$key_id"
        echo "export MOUNTD_TEST_GARAGE_SECRET=$secret"
    } >>"$STATE/env"
    log "garage on $url (pid $(cat "$STATE/garage.pid"), key $key_id)"
}

cmd_stop() {
    local name pid i
    for name in moto garage; do
        if pid=$(alive_pid "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            log "stopped $name (pid $pid)"
        fi
    done
    rm -rf "$STATE"
}

cmd_env() {
    [ -f "$STATE/env" ] || die "no servers running with state in $STATE (scripts/servers.sh start)"
    cat "$STATE/env"
}

cmd_status() {
    local name pid
    for name in moto garage; do
        if pid=$(alive_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
    done
}

cmd_start() {
    umask 077
    if [ -f "$STATE/env" ]; then
        local ok=1 name
        for name in $WANT; do alive_pid "$name" >/dev/null || ok=0; done
        if [ $ok = 1 ]; then
            log "servers already running (state in $STATE)"
            cmd_env
            return 0
        fi
        log "stale state in $STATE: stopping what is left"
        cmd_stop
    fi
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    : >"$STATE/env"
    if [ "$PY" != "$(command -v python3 2>/dev/null)" ]; then
        echo "export MOUNTD_TEST_PYTHON=$PY" >>"$STATE/env"
    fi
    echo "export AWS_EC2_METADATA_DISABLED=true" >>"$STATE/env"
    # A failed start leaves nothing running.
    trap 'rc=$?; if [ $rc != 0 ]; then cmd_stop; fi' EXIT
    wants moto && start_moto
    wants garage && start_garage
    trap - EXIT
    cmd_env
}

case "${1:-}" in
start) PY=$(find_python) || die "no python3 with boto3 and moto (run scripts/install-deps.sh)"; cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
