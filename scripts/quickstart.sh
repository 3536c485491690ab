#!/usr/bin/env bash
# Quickstart, one command on a fresh machine: builds mountd, starts a local S3 server (moto,
# on 127.0.0.1) holding a sample Triton-style model repository, mounts it with exactly the
# s3fs command line used against Oracle Cloud, and shows the tree and a file.
#
#   scripts/quickstart.sh          build, serve, mount (the mount stays up)
#   scripts/quickstart.sh stop     unmount and stop the server
#
# Everything lives in $MOUNTD_QUICKSTART_DIR (default /tmp/mountd-quickstart): the `s3fs`
# name (a symlink to the mountd binary), the passwd file, the mountpoint `mnt`, the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MOUNTD_ROOT"

QS=${MOUNTD_QUICKSTART_DIR:-/tmp/mountd-quickstart}
MNT="$QS/mnt"
export MOUNTD_SERVERS_DIR="$QS/server" MOUNTD_SERVERS=moto

stop() {
    if grep -qs " $MNT " /proc/self/mountinfo; then
        log "unmounting $MNT"
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    fi
    pkill -f "s3fs models $MNT" 2>/dev/null || true
    if [ -d "$MOUNTD_SERVERS_DIR" ]; then
        scripts/servers.sh stop >/dev/null 2>&1 || true
    fi
}

if [ "${1:-}" = stop ]; then
    stop
    log "stopped"
    exit 0
fi
stop

log "installing what is missing (fuse3, boto3, moto)"
MOUNTD_DEPS="fuse python" scripts/install-deps.sh
py=$(find_python) || die "no python with boto3 and moto"
case "$py" in "$MOUNTD_VENV"/*) export PATH="$MOUNTD_VENV/bin:$PATH" ;; esac

log "building mountd (release)"
cargo build --release -q -p mountd
mkdir -p "$QS/bin" "$MNT"
ln -sf "${CARGO_TARGET_DIR:-$MOUNTD_ROOT/target}/release/mountd" "$QS/bin/s3fs"

log "starting moto on 127.0.0.1 and seeding bucket 'models'"
servers_env=$(without_proxies scripts/servers.sh start) || die "the S3 server did not start"
eval "$servers_env"
URL=$MOUNTD_TEST_MOTO_URL
s3tool() { without_proxies "$py" integration/tools/s3tool.py --endpoint "$URL" --access-key test --secret-key test "$@"; }
s3tool create-bucket models
s3tool seed-model-repo models --large-mb 16 --many 20

# The command line of the s3fs container, unchanged (moto accepts any key pair).
cd "$QS"
echo "test:test" > passwd && chmod 600 passwd
log "s3fs models $MNT -o endpoint=us-east-1 -o passwd_file=passwd -o url=$URL -o nomultipart -o use_path_request_style"
without_proxies "$QS/bin/s3fs" models "$MNT" -o endpoint=us-east-1 -o passwd_file=passwd \
    -o url="$URL" -o nomultipart -o use_path_request_style

echo
echo "== the tree (find $MNT -maxdepth 3, first 30 entries)"
find "$MNT" -maxdepth 3 | sort | head -n 30
echo
echo "== $MNT/resnet50/config.pbtxt"
cat "$MNT/resnet50/config.pbtxt"
echo
echo "== sha256 of the 16 MiB model, read through the mount"
sha256sum "$MNT/resnet50/1/model.onnx"
echo
echo "Mounted at $MNT (bucket 'models' on $URL). Try: ls -l $MNT/static/many; echo hi > $MNT/hello.txt"
echo "Stop with: scripts/quickstart.sh stop"
