#!/usr/bin/env bash
# Runs the acceptance cases of ../shared/cases (reproductions of public bug reports) against a
# mountd mount: starts a server on 127.0.0.1, creates a bucket, mounts it with mountd, runs
# run-all.sh, then unmounts and stops the server.
#
#   scripts/cases.sh [FILTER...]       FILTER goes to run-all.sh (case numbers or substrings)
#
# Knobs: CASES_DIR (default ../shared/cases next to the repository), CASES_SERVER (moto, the
# default, or garage), MOUNTD_BIN (default target/release/mountd, built if missing),
# RESULTS_DIR (each case's full output), and run-all.sh's own (CASE_TIMEOUT, LARGE_MB ...).
# Needs what scripts/install-deps.sh installs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MOUNTD_ROOT"

CASES_DIR=${CASES_DIR:-$MOUNTD_ROOT/../shared/cases}
[ -x "$CASES_DIR/run-all.sh" ] || [ -f "$CASES_DIR/run-all.sh" ] || die "no run-all.sh in $CASES_DIR (set CASES_DIR)"
SERVER=${CASES_SERVER:-moto}
case "$SERVER" in moto | garage) ;; *) die "CASES_SERVER must be moto or garage" ;; esac

MOUNTD_BIN=${MOUNTD_BIN:-${CARGO_TARGET_DIR:-$MOUNTD_ROOT/target}/release/mountd}
if [ ! -x "$MOUNTD_BIN" ]; then
    log "building mountd (release)"
    cargo build --release -q -p mountd
fi
py=$(find_python) || die "no python with boto3 and moto (run scripts/install-deps.sh)"
case "$py" in "$MOUNTD_VENV"/*) export PATH="$MOUNTD_VENV/bin:$PATH" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mountd-cases.XXXXXX")
export MOUNTD_SERVERS_DIR="$WORK/servers" MOUNTD_SERVERS=$SERVER
MNT="$WORK/mnt"
mkdir -p "$MNT" "$WORK/bin"
# The cases find the daemon by its mount path on the command line; run it under our own name.
ln -s "$MOUNTD_BIN" "$WORK/bin/mountd"

finish() {
    local rc=$?
    if grep -qs " $MNT " /proc/self/mountinfo; then
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    fi
    pkill -f -- "mountd cases $MNT" 2>/dev/null || true
    scripts/servers.sh stop >/dev/null 2>&1 || true
    rm -rf --one-file-system "$WORK"
    exit $rc
}
trap finish EXIT

servers_env=$(without_proxies scripts/servers.sh start) || die "the $SERVER server did not start"
eval "$servers_env"
if [ "$SERVER" = moto ]; then
    URL=$MOUNTD_TEST_MOTO_URL AK=test SK=test
else
    URL=$MOUNTD_TEST_GARAGE_URL AK=$MOUNTD_TEST_GARAGE_KEY_ID SK=$MOUNTD_TEST_GARAGE_SECRET
fi
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK
without_proxies "$py" integration/tools/s3tool.py --endpoint "$URL" create-bucket cases

(umask 077 && echo "$AK:$SK" >"$WORK/passwd")
log "mounting bucket 'cases' of $URL at $MNT"
without_proxies "$WORK/bin/mountd" cases "$MNT" -o passwd_file="$WORK/passwd" -o url="$URL" \
    -o use_path_request_style -o endpoint=us-east-1

export S3_ENDPOINT=$URL S3_BUCKET=cases MNT PATH="$WORK/bin:$PATH"
export MOUNT_CMD="mountd {bucket} {mnt} -o passwd_file={passwd} -o url={url} -o use_path_request_style -o endpoint=us-east-1"
without_proxies bash "$CASES_DIR/run-all.sh" "$@"
