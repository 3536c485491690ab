# Shared helpers of scripts/*.sh (sourced, not run).

MOUNTD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOUNTD_VENV=${MOUNTD_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mountd-test-venv}
GARAGE_VERSION=2.5.0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run as root, or through sudo when there is one (GitHub runners).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The environment variables that could send test traffic anywhere but 127.0.0.1.
PROXY_VARS=(http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY)

# `"${NO_PROXY_ENV[@]}" cmd ...` runs cmd without them (and without the EC2 metadata lookup).
NO_PROXY_ENV=(env)
for _v in "${PROXY_VARS[@]}"; do NO_PROXY_ENV+=(-u "$_v"); done
NO_PROXY_ENV+=(NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost AWS_EC2_METADATA_DISABLED=true)
unset _v
without_proxies() { "${NO_PROXY_ENV[@]}" "$@"; }

# A python that can run moto's server and boto3: MOUNTD_TEST_PYTHON, python3, or our venv.
python_ok() { "$1" -c 'import boto3, moto.server' >/dev/null 2>&1; }
find_python() {
    local p
    for p in "${MOUNTD_TEST_PYTHON:-}" python3 "$MOUNTD_VENV/bin/python"; do
        [ -n "$p" ] || continue
        if command -v "$p" >/dev/null 2>&1 && python_ok "$p"; then
            command -v "$p"
            return 0
        fi
    done
    return 1
}

# The garage binary: GARAGE_BIN, garage on PATH, or ~/.cargo/bin/garage.
find_garage() {
    local p
    for p in "${GARAGE_BIN:-}" "$(command -v garage 2>/dev/null || true)" "$HOME/.cargo/bin/garage"; do
        if [ -n "$p" ] && [ -x "$p" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Mounts and mount daemons left behind by test processes that died without cleaning up
# (killed by a timeout or ^C: no destructors run). The harness works in
# ${TMPDIR:-/tmp}/mountd-it-<pid>-*; only directories whose test process <pid> is gone are
# touched, so concurrent test runs are safe.
cleanup_stale_test_mounts() {
    local tmp=${TMPDIR:-/tmp} d pid p mp
    tmp=${tmp%/}
    for d in "$tmp"/mountd-it-*; do
        [ -d "$d" ] || continue
        pid=${d#"$tmp"/mountd-it-}
        pid=${pid%%-*}
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        kill -0 "$pid" 2>/dev/null && continue
        # The mount programs run with their working directory there.
        for p in /proc/[0-9]*; do
            if [ "$(readlink "$p/cwd" 2>/dev/null)" = "$d" ]; then
                kill -KILL "${p#/proc/}" 2>/dev/null || true
            fi
        done
        while read -r mp; do
            fusermount3 -uz "$mp" 2>/dev/null || as_root umount -l "$mp" 2>/dev/null || true
        done < <(awk -v d="$d/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
        if awk -v d="$d/" 'index($5, d) == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; then
            log "warning: $d is still mounted; leaving it"
        else
            rm -rf --one-file-system "$d"
            log "cleaned up after dead test process $pid: $d"
        fi
    done
}
