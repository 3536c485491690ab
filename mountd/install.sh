#!/usr/bin/env bash
# Install mountd and the `s3fs` name for it.
#
#   mountd/install.sh [PREFIX]        (default PREFIX: /usr/local; binaries go to PREFIX/bin)
#
# Builds target/release/mountd if it is missing (cargo build --release -p mountd), copies it
# to PREFIX/bin/mountd and makes PREFIX/bin/s3fs a symlink to it: run as `s3fs`, mountd
# behaves the same and names itself `s3fs` in messages. Set NO_S3FS_LINK=1 to skip the link
# (e.g. when the real s3fs is installed there). Mounting needs fusermount3 (package fuse3)
# for non-root users, and /dev/fuse.
set -euo pipefail
prefix="${1:-/usr/local}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/mountd"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p mountd)
fi
install -d "$prefix/bin"
install -m 0755 "$bin" "$prefix/bin/mountd"
if [ "${NO_S3FS_LINK:-0}" != 1 ]; then
  ln -sfn mountd "$prefix/bin/s3fs"
fi
echo "installed $prefix/bin/mountd$([ "${NO_S3FS_LINK:-0}" != 1 ] && echo " and $prefix/bin/s3fs -> mountd")"
