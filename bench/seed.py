#!/usr/bin/env python3
"""Seed the benchmark buckets on an S3 server (bench-only helper; boto3 with threads).

Each bucket's name encodes what it holds, and a `.seeded` object written last marks it
complete, so a second run with the same sizes seeds nothing:

  mb-big-<N>m            big.bin: N MiB of random bytes (one PUT)
  mb-ls-<N>              d/f-00000.txt ... : N objects of 64 bytes
  mb-files-<N>x<K>k      d/f-000.bin ... : N objects of K KiB random bytes
  mb-model-<L>m-<M>      repo/: `s3tool.py seed-model-repo --large-mb L --many M --prefix repo/`
  mb-write               scratch bucket for the write workload (emptied, never marked)

Usage: seed.py --endpoint URL --access-key K --secret-key S --work DIR
               [--big-mb 1024] [--ls-count 10000] [--files 500] [--file-kb 256]
               [--model-mb 256] [--model-many 200]
Prints one JSON object: {"buckets": {role: name}, "model_bytes": N}.
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
S3TOOL = os.path.join(HERE, "..", "integration", "tools", "s3tool.py")
sys.path.insert(0, os.path.dirname(S3TOOL))
import s3tool  # noqa: E402  (its boto3 client: path style, no Expect on empty bodies)


def log(msg):
    print(f"[seed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def seeded(s3, bucket):
    try:
        s3.head_object(Bucket=bucket, Key=".seeded")
        return True
    except Exception:
        return False


def ensure_bucket(s3, bucket):
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except s3.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
            raise


def mark(s3, bucket, params):
    s3.put_object(Bucket=bucket, Key=".seeded", Body=json.dumps(params).encode())


def put_many(s3, bucket, items, threads=24):
    def one(it):
        key, body = it
        s3.put_object(Bucket=bucket, Key=key, Body=body() if callable(body) else body)
    with cf.ThreadPoolExecutor(threads) as ex:
        for _ in ex.map(one, items):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--work", required=True)
    ap.add_argument("--big-mb", type=int, default=1024)
    ap.add_argument("--ls-count", type=int, default=10000)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--file-kb", type=int, default=256)
    ap.add_argument("--model-mb", type=int, default=256)
    ap.add_argument("--model-many", type=int, default=200)
    a, _ = ap.parse_known_args()  # bench.sh passes all its size options; the others are not ours
    s3 = s3tool.client(a)
    names = {
        "big": f"mb-big-{a.big_mb}m",
        "ls": f"mb-ls-{a.ls_count}",
        "files": f"mb-files-{a.files}x{a.file_kb}k",
        "model": f"mb-model-{a.model_mb}m-{a.model_many}",
        "write": "mb-write",
    }

    b = names["big"]
    if not seeded(s3, b):
        ensure_bucket(s3, b)
        path = os.path.join(a.work, "seed-big.bin")
        log(f"{b}: writing {a.big_mb} MiB of random bytes")
        with open(path, "wb") as f:
            for _ in range(a.big_mb):
                f.write(os.urandom(1 << 20))
        with open(path, "rb") as f:
            s3.put_object(Bucket=b, Key="big.bin", Body=f)
        os.unlink(path)
        mark(s3, b, {"big_mb": a.big_mb})
    log(f"{b}: ready")

    b = names["ls"]
    if not seeded(s3, b):
        ensure_bucket(s3, b)
        log(f"{b}: putting {a.ls_count} objects")
        put_many(s3, b, [(f"d/f-{i:05d}.txt", f"object {i:05d} of the listing benchmark\n".encode()) for i in range(a.ls_count)])
        mark(s3, b, {"ls_count": a.ls_count})
    log(f"{b}: ready")

    b = names["files"]
    if not seeded(s3, b):
        ensure_bucket(s3, b)
        log(f"{b}: putting {a.files} objects of {a.file_kb} KiB")
        put_many(s3, b, [(f"d/f-{i:03d}.bin", (lambda: os.urandom(a.file_kb * 1024))) for i in range(a.files)])
        mark(s3, b, {"files": a.files, "file_kb": a.file_kb})
    log(f"{b}: ready")

    b = names["model"]
    if not seeded(s3, b):
        ensure_bucket(s3, b)
        log(f"{b}: seed-model-repo --large-mb {a.model_mb} --many {a.model_many}")
        subprocess.run(
            [sys.executable, S3TOOL, "--endpoint", a.endpoint, "--access-key", a.access_key,
             "--secret-key", a.secret_key, "seed-model-repo", b, "--prefix", "repo/",
             "--large-mb", str(a.model_mb), "--many", str(a.model_many)],
            check=True, timeout=1800)
        mark(s3, b, {"model_mb": a.model_mb, "model_many": a.model_many})
    log(f"{b}: ready")

    ensure_bucket(s3, names["write"])
    # What `find repo -type f | xargs cat` must read: every object but the `dir/` markers.
    total = 0
    for page in s3.get_paginator("list_objects").paginate(Bucket=names["model"], Prefix="repo/"):
        total += sum(o["Size"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    print(json.dumps({"buckets": names, "model_bytes": total}))


if __name__ == "__main__":
    main()
