"""Set-up of the S3 server the storage tests start (moto in server mode, IAM enforced after the
first actions): two users and their keys, and buckets. Independent of OrgVault's own client
(boto3, AWS's SDK). Prints JSON on stdout.

  s3-admin.py users ENDPOINT           -> {"full": [id, secret], "no_delete": [id, secret]}
  s3-admin.py bucket ENDPOINT NAME ID SECRET
  s3-admin.py objects ENDPOINT BUCKET PREFIX   -> {"count": n, "bytes": total}
      (the keys from S3_KEY_ID and S3_SECRET in the environment)
"""
import os
import json
import sys

import boto3

NO_DELETE = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:AbortMultipartUpload",
             "s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts"]


def client(service, endpoint, key_id="setup", secret="setup"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def users(endpoint):
    iam = client("iam", endpoint)
    out = {}
    # Six actions: the server enforces IAM after them (INITIAL_NO_AUTH_ACTION_COUNT=6).
    for name, actions in [("full", ["s3:*"]), ("no_delete", NO_DELETE)]:
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="orgvault-test", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        out[name] = [key["AccessKeyId"], key["SecretAccessKey"]]
    return out


def main():
    cmd, endpoint = sys.argv[1], sys.argv[2]
    if cmd == "users":
        print(json.dumps(users(endpoint)))
    elif cmd == "bucket":
        name, key_id, secret = sys.argv[3:6]
        client("s3", endpoint, key_id, secret).create_bucket(Bucket=name)
        print(json.dumps({"bucket": name}))
    elif cmd == "objects":
        bucket, prefix = sys.argv[3:5]
        s3 = client("s3", endpoint, os.environ["S3_KEY_ID"], os.environ["S3_SECRET"])
        count = size = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                count += 1
                size += obj["Size"]
        print(json.dumps({"count": count, "bytes": size}))
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
