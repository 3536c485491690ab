#!/usr/bin/env bash
# Benchmarks: mountd vs s3fs (Debian 1.90) vs rclone mount (Debian 1.60), side by side, on one
# Garage server on 127.0.0.1. See bench/README.md for the workloads and how to read the table.
#
#   scripts/bench.sh                 everything: build, servers, seed, 8 workloads x 3 tools x 3 runs
#   BENCH_QUICK=1 scripts/bench.sh   small sizes, 1 run each (a few minutes): checks the machinery
#
# Knobs (environment):
#   BENCH_QUICK=1          sizes 64 MiB big object, 1,000-object listing, 50 files, 32 MiB write,
#                          32 MiB model + 50 files; BENCH_REPS defaults to 1. Results file gets -quick.
#   BENCH_REPS=N           runs per (workload, tool); the table shows the median (default 3)
#   BENCH_WORKLOADS=a,b    subset of: seqread,ttfb,ls,files,random,write,model,wan (default all)
#   BENCH_TOOLS=a,b        subset of: mountd,s3fs,rclone (default all)
#   BENCH_DELAY_MS=10      latency added per client-to-server chunk in the latency workloads
#   BENCH_RATE_MIB=64      per-connection cap (MiB/s) of the server-to-client bytes in workload wan
#   BENCH_STEP_TIMEOUT=600 seconds for one workload step (one ls, one cat ...)
#   BENCH_TIMEOUT=10800    seconds for the whole measuring phase
#   BENCH_OUT=bench/results   where the .md and .json go (YYYY-MM-DD-<host>[-quick].{md,json})
#   BENCH_WORK=/tmp/mountd-bench   mountpoints, logs (runs/: mountd -d logs, proxy request lists)
#   BENCH_SERVERS_DIR=/dev/shm/mountd-bench-servers   Garage state (tmpfs: dropping the page cache
#                          must make the client cold, not the server's disk the bottleneck)
#   BENCH_GARAGE_URL, BENCH_GARAGE_KEY_ID, BENCH_GARAGE_SECRET   use this Garage instead of starting one
#   BENCH_STOP_SERVERS=1   stop the Garage this script started at the end (default: keep it, so the
#                          seeded buckets, cached by name, serve the next run)
#   BENCH_NO_BUILD=1       skip `cargo build --release -p mountd`; MOUNTD_BIN overrides the binary
#   S3FS_BIN, RCLONE_BIN   peers (default /usr/bin/s3fs, rclone on PATH)
#
# Needs root (drop_caches, FUSE), fuse3, s3fs, rclone, garage and python3 with boto3
# (scripts/install-deps.sh installs them; `apt-get install s3fs rclone` for the peers).
# Everything talks to 127.0.0.1 only. Every mount is detached on exit, failure or ^C.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MOUNTD_ROOT"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    REPS=${BENCH_REPS:-1}
    SIZES=(--big-mb 64 --ls-count 1000 --files 50 --file-kb 256 --random-ops 200 --write-mb 32
        --model-mb 32 --model-many 50)
    SUFFIX=-quick
else
    REPS=${BENCH_REPS:-3}
    SIZES=(--big-mb 1024 --ls-count 10000 --files 500 --file-kb 256 --random-ops 200 --write-mb 256
        --model-mb 256 --model-many 200)
    SUFFIX=
fi
size() { # value of one SIZES option
    local i
    for ((i = 0; i < ${#SIZES[@]}; i += 2)); do
        [ "${SIZES[i]}" = "--$1" ] && { echo "${SIZES[i + 1]}"; return; }
    done
}
WORK=${BENCH_WORK:-/tmp/mountd-bench}
OUT=${BENCH_OUT:-$MOUNTD_ROOT/bench/results}
SERVERS_DIR=${BENCH_SERVERS_DIR:-/dev/shm/mountd-bench-servers}
MOUNTD_BIN=${MOUNTD_BIN:-$MOUNTD_ROOT/target/release/mountd}
S3FS_BIN=${S3FS_BIN:-/usr/bin/s3fs}
RCLONE_BIN=${RCLONE_BIN:-$(command -v rclone || echo rclone)}
STAMP=$(date +%Y-%m-%d)-$(hostname -s)$SUFFIX

[ "$(id -u)" = 0 ] || die "run as root (drop_caches and FUSE mounts)"
for b in "$S3FS_BIN" "$RCLONE_BIN" fusermount3 rustc; do
    command -v "$b" >/dev/null || die "missing $b (scripts/install-deps.sh; apt-get install s3fs rclone fuse3)"
done
PY=$(find_python) || die "no python3 with boto3 (scripts/install-deps.sh)"
mkdir -p "$WORK/runs" "$WORK/mnt" "$OUT"
rm -f "$WORK"/runs/*

# Cleanup on any exit: detach our mounts, stop what still runs in our work folder.
RUN_PID=
cleanup() {
    local rc=$? p mp i
    if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null || true # timeout passes it on; run.py unmounts on TERM
        for i in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.2; done
    fi
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in
        "$WORK" | "$WORK"/*) [ "${p#/proc/}" != $$ ] && kill -TERM "${p#/proc/}" 2>/dev/null || true ;;
        esac
    done
    while read -r mp; do
        fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done < <(awk -v d="$WORK/mnt/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
    if [ "${BENCH_STOP_SERVERS:-0}" = 1 ] && [ -z "${BENCH_GARAGE_URL:-}" ]; then
        MOUNTD_SERVERS_DIR=$SERVERS_DIR scripts/servers.sh stop || true
    fi
    rm -f "$WORK/passwd"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. mountd, release build.
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "building mountd (release)"
    timeout 1800 cargo build --release -p mountd
fi
[ -x "$MOUNTD_BIN" ] || die "no mountd binary at $MOUNTD_BIN"
MOUNTD_COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- sigv4 s3client fs mountd 2>/dev/null || echo "+dirty")

# 2. The proxy (std only: rustc is enough).
PROXY_BIN=$WORK/bench-proxy
if [ ! -x "$PROXY_BIN" ] || [ bench/proxy.rs -nt "$PROXY_BIN" ]; then
    log "compiling bench/proxy.rs"
    timeout 300 rustc -O --edition 2021 bench/proxy.rs -o "$PROXY_BIN"
fi

# 3. Garage.
if [ -n "${BENCH_GARAGE_URL:-}" ]; then
    GARAGE_URL=$BENCH_GARAGE_URL KEY=${BENCH_GARAGE_KEY_ID:?} SECRET=${BENCH_GARAGE_SECRET:?}
else
    env_lines=$(MOUNTD_SERVERS_DIR=$SERVERS_DIR MOUNTD_SERVERS=garage timeout 180 scripts/servers.sh start)
    GARAGE_URL=$(sed -n 's/^export MOUNTD_TEST_GARAGE_URL=//p' <<<"$env_lines")
    KEY=$(sed -n 's/^export MOUNTD_TEST_GARAGE_KEY_ID=//p' <<<"$env_lines")
    SECRET=$(sed -n 's/^export MOUNTD_TEST_GARAGE_SECRET=//p' <<<"$env_lines")
fi
[[ "$GARAGE_URL" == http://127.0.0.1:* ]] || die "Garage URL must be http://127.0.0.1:PORT, got '$GARAGE_URL'"
export AWS_EC2_METADATA_DISABLED=true

# 4. Seed (cached: a bucket named after its sizes with a .seeded marker is reused).
log "seeding (cached by bucket name)"
seeded=$(without_proxies timeout 1800 "$PY" bench/seed.py --endpoint "$GARAGE_URL" --access-key "$KEY" \
    --secret-key "$SECRET" --work "$WORK" "${SIZES[@]}" 2>&1 >"$WORK/seed.json") ||
    { echo "$seeded" >&2; die "seeding failed"; }
BUCKETS=$("$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["buckets"]))' "$WORK/seed.json")
MODEL_BYTES=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_bytes"])' "$WORK/seed.json")

# 5. The file the write workload copies in, and the passwd file of mountd and s3fs.
WRITE_MB=$(size write-mb)
WRITE_SRC=$WORK/src-${WRITE_MB}m.bin
if [ "$(stat -c %s "$WRITE_SRC" 2>/dev/null || echo 0)" != $((WRITE_MB << 20)) ]; then
    head -c $((WRITE_MB << 20)) /dev/urandom >"$WRITE_SRC"
fi
(umask 077 && printf '%s:%s\n' "$KEY" "$SECRET" >"$WORK/passwd")

# 6. Measure.
log "measuring: $REPS run(s) per cell; results -> $OUT/$STAMP.md"
timeout -s TERM -k 60 "${BENCH_TIMEOUT:-10800}" "$PY" bench/run.py \
    --garage-url "$GARAGE_URL" --key "$KEY" --secret "$SECRET" --buckets "$BUCKETS" \
    --work "$WORK" --out-md "$OUT/$STAMP.md" --out-json "$OUT/$STAMP.json" \
    --mountd-bin "$MOUNTD_BIN" --s3fs-bin "$S3FS_BIN" --rclone-bin "$RCLONE_BIN" \
    --proxy-bin "$PROXY_BIN" --passwd "$WORK/passwd" --write-src "$WRITE_SRC" \
    --mountd-commit "$MOUNTD_COMMIT" --reps "$REPS" --delay-ms "${BENCH_DELAY_MS:-10}" --rate-mib "${BENCH_RATE_MIB:-64}" \
    --step-timeout "${BENCH_STEP_TIMEOUT:-600}" \
    --workloads "${BENCH_WORKLOADS:-seqread,ttfb,ls,files,random,write,model,wan}" \
    --tools "${BENCH_TOOLS:-mountd,s3fs,rclone}" \
    --model-bytes "$MODEL_BYTES" "${SIZES[@]}" $([ "$QUICK" = 1 ] && echo --quick) &
RUN_PID=$!
wait "$RUN_PID"
RUN_PID=
log "wrote $OUT/$STAMP.md and $OUT/$STAMP.json"
