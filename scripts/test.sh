#!/usr/bin/env bash
# The project's test command (what README documents and .ci/run calls on a fresh machine).
#
#   scripts/test.sh [ARGS...]        ARGS go to `cargo test` after its own arguments
#
# Phases, each timed, in this order:
#   deps    scripts/install-deps.sh: fuse3, s3fs, rclone, boto3 + moto, garage (skips what is there)
#   fmt     cargo fmt --all -- --check
#   clippy  cargo clippy --workspace --all-targets --all-features -- -D warnings
#   build   cargo build --workspace --all-features --bins, and the test binaries
#   test    start moto and Garage on 127.0.0.1 (scripts/servers.sh, state in a temp dir),
#           then cargo test --workspace --all-features --no-fail-fast with MOUNTD_REQUIRE_SERVERS=1
# A failing fmt, clippy, build or test phase does not stop the later ones (you see every
# failure at once); the exit status is non-zero if any phase failed. The servers are
# stopped on exit, whatever happens.
#
# Knobs: MOUNTD_TEST_PHASES="fmt clippy test" (a subset), MOUNTD_TEST_TIMEOUT (seconds for
# the test phase, default 1800), MOUNTD_CARGO_TEST_ARGS (default "--workspace --all-features"),
# GARAGE_BIN (use this garage), MOUNTD_REQUIRE_SERVERS (kept if it lists servers, e.g.
# "moto,garage,minio" in the MinIO job; otherwise 1).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MOUNTD_ROOT" || exit 1

PHASES=${MOUNTD_TEST_PHASES:-deps fmt clippy build test}
wants() { [[ " $PHASES " == *" $1 "* ]]; }
# A misspelt or comma-separated list would otherwise run nothing and pass.
for p in $PHASES; do
    case $p in
    deps | fmt | clippy | build | test) ;;
    *)
        echo "scripts/test.sh: unknown phase '$p' in MOUNTD_TEST_PHASES (space-separated: deps fmt clippy build test)" >&2
        exit 2
        ;;
    esac
done

SUMMARY=()
FAILED=0
START=$SECONDS

# phase NAME CMD...: runs CMD, records its time and result. CMD runs as a background job
# that we `wait` for, so a TERM or INT sent to this script is handled at once (forwarded to
# CMD, then the servers are stopped) instead of after CMD finishes.
CHILD=
phase() {
    local name=$1 t0=$SECONDS rc
    shift
    log "=== phase $name: $*"
    "$@" &
    CHILD=$!
    wait "$CHILD"
    rc=$?
    CHILD=
    local verdict="ok"
    [ $rc = 0 ] || verdict="FAILED (exit $rc)"
    SUMMARY+=("$(printf '  %-12s %5ss  %s' "$name" $((SECONDS - t0)) "$verdict")")
    log "=== phase $name: $verdict after $((SECONDS - t0))s"
    return $rc
}

summary() {
    log "=== summary (total $((SECONDS - START))s)"
    local l
    for l in "${SUMMARY[@]}"; do printf '%s\n' "$l" >&2; done
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mountd-test.XXXXXX")
export MOUNTD_SERVERS_DIR="$TMP/servers"
cleanup() {
    local rc=$?
    cleanup_stale_test_mounts
    if [ -f "$MOUNTD_SERVERS_DIR/env" ] || [ -d "$MOUNTD_SERVERS_DIR" ]; then
        "$MOUNTD_ROOT/scripts/servers.sh" stop || true
    fi
    rm -rf "$TMP"
    exit $rc
}
descendants() { # all processes below PID (cargo, test binaries, the mounts they started)
    local c
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}
on_signal() {
    log "interrupted by SIG$1"
    if [ -n "$CHILD" ]; then
        local pids i
        pids="$CHILD $(descendants "$CHILD")"
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null
        for i in $(seq 100); do
            # shellcheck disable=SC2086
            kill -0 $pids 2>/dev/null || break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
    fi
    exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# --- deps: without them nothing else can run. ---------------------------------------------
if wants deps; then
    phase deps "$MOUNTD_ROOT/scripts/install-deps.sh" || { summary; exit 1; }
fi

# --- static checks and build -------------------------------------------------------------
if wants fmt; then
    phase fmt cargo fmt --all -- --check || FAILED=1
fi
if wants clippy; then
    phase clippy cargo clippy --workspace --all-targets --all-features -- -D warnings || FAILED=1
fi
read -r -a TEST_ARGS <<<"${MOUNTD_CARGO_TEST_ARGS:---workspace --all-features}"
BUILD_OK=1
if wants build; then
    phase build cargo build --workspace --all-features --bins || { FAILED=1; BUILD_OK=0; }
    if [ $BUILD_OK = 1 ]; then
        phase build-tests cargo test "${TEST_ARGS[@]}" --no-run || { FAILED=1; BUILD_OK=0; }
    fi
fi

# --- servers and tests -------------------------------------------------------------------
run_tests() {
    local target=${CARGO_TARGET_DIR:-$MOUNTD_ROOT/target}
    if wants build && [ -x "$target/debug/mountd" ]; then
        export MOUNTD_BIN="$target/debug/mountd"
    fi
    case "${MOUNTD_REQUIRE_SERVERS:-}" in
        *[a-z]*) ;;
        *) MOUNTD_REQUIRE_SERVERS=1 ;;
    esac
    export MOUNTD_REQUIRE_SERVERS
    # Tests that run `python3` directly must get the one with boto3 (our venv, if used).
    local py
    if py=$(find_python); then
        export MOUNTD_TEST_PYTHON="$py"
        case "$py" in "$MOUNTD_VENV"/*) export PATH="$MOUNTD_VENV/bin:$PATH" ;; esac
    fi
    log "MOUNTD_REQUIRE_SERVERS=$MOUNTD_REQUIRE_SERVERS MOUNTD_BIN=${MOUNTD_BIN:-(harness default)}"
    # Tests talk only to 127.0.0.1: no proxies, no EC2 metadata lookups.
    without_proxies timeout -k 30 "${MOUNTD_TEST_TIMEOUT:-1800}" cargo test "${TEST_ARGS[@]}" --no-fail-fast "$@"
}

if wants test; then
    cleanup_stale_test_mounts
    if [ $BUILD_OK = 0 ]; then
        log "skipping the test phase: the build failed"
    else
        envfile="$TMP/servers.env"
        if phase servers bash -c '"$1" start >"$2"' _ "$MOUNTD_ROOT/scripts/servers.sh" "$envfile"; then
            # shellcheck disable=SC1090
            . "$envfile"
            if ! phase test run_tests "$@"; then
                FAILED=1
                for f in "$MOUNTD_SERVERS_DIR"/*.log; do
                    [ -s "$f" ] || continue
                    log "--- last lines of $f"
                    tail -n 20 "$f" >&2
                done
            fi
        else
            FAILED=1
        fi
    fi
fi

summary
exit $FAILED
