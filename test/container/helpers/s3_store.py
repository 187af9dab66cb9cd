"""
The object store box's own client (see test/container/object_store.py): run
with the moto venv's python, which has boto3, inside the store box.

    s3_store.py wait BUCKET            until the server answers, then make BUCKET
    s3_store.py ls BUCKET [PREFIX]     one JSON object a line: key, size
    s3_store.py get BUCKET KEY         the object's bytes, base64, on stdout

Endpoint, region, keys and CA come from the environment: S3_ENDPOINT,
S3_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_CA_FILE.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import boto3
import botocore.config
import botocore.exceptions


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        verify=os.environ.get("S3_CA_FILE") or True,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def wait(bucket: str, timeout: str = "60") -> None:
    s3 = client()
    deadline = time.monotonic() + float(timeout)
    while True:
        try:
            s3.list_buckets()
            break
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):  # refused, 502
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    region = os.environ.get("S3_REGION", "us-east-1")
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def ls(bucket: str, prefix: str = "") -> None:
    s3 = client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            print(json.dumps({"key": obj["Key"], "size": obj["Size"]}))


def get(bucket: str, key: str) -> None:
    body = client().get_object(Bucket=bucket, Key=key)["Body"].read()
    sys.stdout.write(base64.b64encode(body).decode())


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"wait": wait, "ls": ls, "get": get}[command](*args)
