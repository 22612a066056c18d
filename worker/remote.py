"""Where the store's files live beyond this machine: nowhere (one machine, or a shared volume) or an
S3-compatible object store (``FITQ_STORE=s3://bucket/prefix``), so workers on other machines need
only Redis and the object store.

The store keeps writing each file atomically under its local root, then puts it here (one PUT: an
object is whole or absent); a machine that lacks a file fetches it into its local root, which is
then a cache. Keys are the files' paths relative to the root, under the URL's prefix.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse


class NoRemote:
    """The local root is the whole store (the default)."""

    enabled = False

    def ensure(self) -> None:
        return None

    def put(self, key: str, path: Path) -> None:
        return None

    def fetch(self, key: str, target: Path) -> bool:
        return False

    def exists(self, key: str) -> bool:
        return False

    def keys(self, prefix: str) -> list[str]:
        return []

    def delete(self, prefix: str) -> None:
        return None


class S3Remote:
    """Objects in ``bucket`` under ``prefix`` of an S3-compatible server (boto3's client)."""

    enabled = True

    def __init__(self, url: str, endpoint_url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, region: str = "us-east-1"):
        import boto3  # noqa: PLC0415 - only an object-store deployment needs boto3
        from botocore.config import Config  # noqa: PLC0415

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"FITQ_STORE must look like s3://bucket/prefix, got {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
                                   aws_secret_access_key=secret_key, region_name=region,
                                   config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    def ensure(self) -> None:
        """Creates the bucket when the server has none of that name (a fresh object store)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        return str(PurePosixPath(self.prefix, key)) if self.prefix else key

    def put(self, key: str, path: Path) -> None:
        """Uploads ``path`` as ``key`` (multipart for large files; the object appears whole)."""
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def fetch(self, key: str, target: Path) -> bool:
        """Downloads ``key`` to ``target`` atomically; False when there is no such object."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        tmp = target.with_name(f".fetch-{os.getpid()}-{target.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self._key(key), str(tmp))
        except ClientError as exc:
            tmp.unlink(missing_ok=True)
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        os.replace(tmp, target)
        return True

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (relative to the store's prefix), sorted."""
        out = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                            Prefix=self._key(prefix)):
            out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(out)

    def delete(self, prefix: str) -> None:
        """Deletes every object under ``prefix``."""
        keys = self.keys(prefix)
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self._key(k)} for k in keys[i:i + 1000]], "Quiet": True})


def remote_for(url: str | None, endpoint_url: str | None = None, access_key: str | None = None,
               secret_key: str | None = None):
    """The remote for a ``FITQ_STORE`` value (None or empty: :class:`NoRemote`)."""
    if not url:
        return NoRemote()
    return S3Remote(url, endpoint_url, access_key, secret_key)
