#!/usr/bin/env python3
"""Independent S3 oracle for the tests: seeds buckets and reports what a bucket holds.

Uses boto3 (botocore's own SigV4 and XML), never our client, so a bug in our client cannot
hide itself. Path-style addressing, region us-east-1 unless --region.

Credentials: --access-key/--secret-key, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.

Commands:
  create-bucket BUCKET                      create (ok if it exists and is ours)
  delete-bucket BUCKET                      delete every object, then the bucket
  put BUCKET KEY (--file F | --data S) [--content-type CT] [--meta k=v ...]
  seed-model-repo BUCKET [--prefix P] [--large-mb 48] [--many 1500]
                                            a Triton-style model repository (see below)
  manifest BUCKET [--prefix P]              one JSON object per line, sorted by key:
                                            {"key", "size", "sha256", "content_type"}
  head BUCKET KEY...                        one JSON object per key, in the order given:
                                            {"key", "exists", "size", "content_type",
                                             "etag", "metadata"} (metadata: the x-amz-meta-*
                                            headers without prefix; only "key" and
                                            "exists": false when the key does not exist)
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config


def _no_expect_on_empty_body(request, **_):
    """Drop `Expect: 100-continue` from requests without a body.

    With it, a boto3 PUT of an empty object to Garage 2.5.0 leaves the keep-alive connection
    in a state where the next request on it gets no answer until botocore's 60 s read timeout
    (then the retry on a new connection succeeds): seeding a model repository took a minute
    per empty marker. `Expect` is not a signed header, so removing it keeps the signature."""
    body = request.body
    if body is None or isinstance(body, (bytes, bytearray, str)):
        empty = not body
    else:  # a seekable stream (botocore wraps bytes in BytesIO)
        pos = body.tell()
        empty = body.seek(0, os.SEEK_END) == pos
        body.seek(pos)
    if empty and "Expect" in request.headers:
        del request.headers["Expect"]


def client(args):
    kw = {}
    ak = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
    sk = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if ak and sk:
        kw = {"aws_access_key_id": ak, "aws_secret_access_key": sk}
    c = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=args.region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5},
            max_pool_connections=32,
            # Plain bodies with a signed SHA-256, as s3fs sends; no aws-chunked, no CRC trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
        **kw,
    )
    c.meta.events.register("before-send.s3", _no_expect_on_empty_body)
    return c


def model_repo_objects(large_mb, many):
    """(key, body, extra) triples of a Triton-style model repository.

    Covers: config.pbtxt and labels, a large model.onnx, numbered version directories, a
    `dir/` marker object, an empty-directory marker, a directory with `many` files, keys with
    space, `+`, `%` and non-ASCII, and a zero-byte object."""
    d = "application/x-directory"
    objs = []
    for model in ("resnet50", "bert-base"):
        objs.append((f"{model}/config.pbtxt", f'name: "{model}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'.encode(), {}))
        objs.append((f"{model}/labels.txt", "\n".join(f"label-{i}" for i in range(1000)).encode(), {}))
    # The big model: deterministic pseudo-random bytes (not compressible, not all zeros).
    big = bytearray()
    seed = hashlib.sha256(b"mountd-model").digest()
    block = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(2048))  # 64 KiB
    while len(big) < large_mb * 1024 * 1024:
        big += block
        block = hashlib.sha256(block[:64]).digest() + block[32:]
    objs.append(("resnet50/1/model.onnx", bytes(big[: large_mb * 1024 * 1024]), {}))
    objs.append(("resnet50/2/model.onnx", b"onnx-v2-small" * 100, {}))
    objs.append(("bert-base/1/", b"", {"ContentType": d}))  # marker of a version dir with content
    objs.append(("bert-base/1/model.onnx", os.urandom(0) + b"bert" * 4096, {}))
    objs.append(("bert-base/3/", b"", {"ContentType": d}))  # empty directory: marker only
    for i in range(many):
        objs.append((f"static/many/file-{i:05d}.txt", f"file number {i}\n".encode(), {}))
    objs.append(("static/odd names/a b.txt", b"space", {}))
    objs.append(("static/odd names/a+b.txt", b"plus", {}))
    objs.append(("static/odd names/100%.txt", b"percent", {}))
    objs.append(("static/odd names/caf\u00e9-\u6a21\u578b.txt", "non-ascii".encode(), {}))
    objs.append(("static/empty.bin", b"", {}))
    return objs


def cmd_create_bucket(args):
    s3 = client(args)
    try:
        s3.create_bucket(Bucket=args.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def cmd_delete_bucket(args):
    s3 = client(args)
    for page in s3.get_paginator("list_objects").paginate(Bucket=args.bucket):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objs:
            s3.delete_objects(Bucket=args.bucket, Delete={"Objects": objs})
    s3.delete_bucket(Bucket=args.bucket)


def put_all(s3, bucket, items):
    def one(item):
        key, body, extra = item
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(one, items))


def cmd_put(args):
    body = open(args.file, "rb").read() if args.file is not None else args.data.encode()
    extra = {}
    if args.content_type:
        extra["ContentType"] = args.content_type
    if args.meta:
        extra["Metadata"] = dict(m.split("=", 1) for m in args.meta)
    put_all(client(args), args.bucket, [(args.key, body, extra)])


def cmd_seed_model_repo(args):
    p = args.prefix
    items = [(p + k, b, e) for k, b, e in model_repo_objects(args.large_mb, args.many)]
    put_all(client(args), args.bucket, items)


def cmd_manifest(args):
    s3 = client(args)
    keys = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=args.bucket, Prefix=args.prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]

    def one(key):
        r = s3.get_object(Bucket=args.bucket, Key=key)
        h = hashlib.sha256()
        n = 0
        for chunk in iter(lambda: r["Body"].read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
        return {"key": key, "size": n, "sha256": h.hexdigest(), "content_type": r.get("ContentType")}
    with cf.ThreadPoolExecutor(16) as ex:
        rows = list(ex.map(one, sorted(keys)))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def cmd_head(args):
    s3 = client(args)

    def one(key):
        try:
            r = s3.head_object(Bucket=args.bucket, Key=key)
        except s3.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return {"key": key, "exists": False}
            raise
        return {
            "key": key,
            "exists": True,
            "size": r["ContentLength"],
            "content_type": r.get("ContentType"),
            "etag": r.get("ETag"),
            "metadata": r.get("Metadata", {}),
        }
    with cf.ThreadPoolExecutor(16) as ex:
        rows = list(ex.map(one, args.keys))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("create-bucket"); sp.add_argument("bucket")
    sp = sub.add_parser("delete-bucket"); sp.add_argument("bucket")
    sp = sub.add_parser("put"); sp.add_argument("bucket"); sp.add_argument("key")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--file"); g.add_argument("--data")
    sp.add_argument("--content-type"); sp.add_argument("--meta", action="append")
    sp = sub.add_parser("seed-model-repo"); sp.add_argument("bucket")
    sp.add_argument("--prefix", default=""); sp.add_argument("--large-mb", type=int, default=48)
    sp.add_argument("--many", type=int, default=1500)
    sp = sub.add_parser("manifest"); sp.add_argument("bucket"); sp.add_argument("--prefix", default="")
    sp = sub.add_parser("head"); sp.add_argument("bucket"); sp.add_argument("keys", nargs="+")
    args = ap.parse_args()
    globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    sys.exit(main())
