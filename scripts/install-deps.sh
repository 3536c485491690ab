#!/usr/bin/env bash
# Installs what the test suite needs, skipping whatever is already there:
#   apt:  fuse3 (fusermount3), s3fs and rclone (differential oracles)
#   pip:  boto3 and moto[server] (into a venv when the default python3 lacks them)
#   cargo install garage@2.5.0 --locked (unless GARAGE_BIN or a garage binary exists)
# MOUNTD_DEPS selects a subset (default "fuse oracles python garage"); the quickstart
# needs only "fuse python".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEPS=${MOUNTD_DEPS:-fuse oracles python garage}
need() { [[ " $DEPS " == *" $1 "* ]]; }

# --- Debian packages ---------------------------------------------------------
missing=()
if need fuse; then
    command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
fi
if need oracles; then
    command -v s3fs >/dev/null 2>&1 || missing+=(s3fs)
    command -v rclone >/dev/null 2>&1 || missing+=(rclone)
fi
[ -e /dev/fuse ] || log "warning: /dev/fuse does not exist; mount tests will fail"
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    log "apt packages: already installed"
fi

# --- Python: boto3 + moto server ---------------------------------------------
if ! need python; then
    :
elif py=$(find_python); then
    log "python with boto3 and moto: $py"
else
    log "creating venv $MOUNTD_VENV with boto3 and moto[server]"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
    fi
    rm -rf "$MOUNTD_VENV"
    python3 -m venv "$MOUNTD_VENV"
    "$MOUNTD_VENV/bin/python" -m pip install -q --upgrade pip
    "$MOUNTD_VENV/bin/python" -m pip install -q 'moto[server]' boto3
    python_ok "$MOUNTD_VENV/bin/python" || die "the venv $MOUNTD_VENV cannot import boto3 and moto.server"
fi

# --- Garage --------------------------------------------------------------------
if ! need garage; then
    :
elif g=$(find_garage); then
    log "garage: $g ($("$g" --version 2>/dev/null | head -1))"
else
    [ -z "${GARAGE_BIN:-}" ] || die "GARAGE_BIN=$GARAGE_BIN is not an executable"
    log "cargo install garage@$GARAGE_VERSION --locked (about 10 minutes on 2 cores)"
    cargo install "garage@$GARAGE_VERSION" --locked
    find_garage >/dev/null || die "garage is still missing after cargo install"
fi
