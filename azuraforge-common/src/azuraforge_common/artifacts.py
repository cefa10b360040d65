"""Where runs keep their files: a directory on this machine (the default) or an S3-compatible bucket
(AZURAFORGE_ARTIFACT_STORE=s3://bucket/prefix). Every read and write of an artifact goes through an ArtifactStore,
so the API, the workers and the tools never need a shared disk.

A key is a "/"-separated relative path. A run's files live under `run_key(experiment_id)`:
experiments/<id>/report.md, experiments/<id>/images/loss.png, ... The local store keeps key K at DATA_DIR/K
(the layout of a single machine); the S3 store at s3://bucket/prefix/K.

The S3 store uses boto3 as configured by its usual variables: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (MinIO,
Ceph, ...), AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile, or an instance role).
Uploads carry a SHA-256 checksum the server verifies; downloads are verified against it; a failed request is
retried by boto3 (standard mode) before an error reaches the caller.
"""

import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_BYTES = 1 << 20
S3_RETRIES = 5
S3_SCHEME = "s3://"
RUNS_PREFIX = "experiments"


def run_key(experiment_id: str, relative: str = "") -> str:
    """The key of a run's file (`relative` to its folder), or with no `relative` the prefix of all its files."""
    return f"{RUNS_PREFIX}/{experiment_id}/{relative}"


def valid_key(key: str) -> bool:
    """A relative "/"-separated path without empty, "." or ".." parts, backslashes or NUL: a name that stays
    inside the store whatever it is joined to."""
    parts = key.split("/")
    return bool(key) and "\\" not in key and "\0" not in key and all(part not in ("", ".", "..") for part in parts)


@dataclass(frozen=True)
class StoredFile:
    """An artifact being read: its size, and its bytes in chunks (the source is closed once they are consumed)."""

    size: int
    chunks: Iterator[bytes]


class ArtifactStore(ABC):
    """The operations every store offers. Reads of a missing or invalid key answer None (a caller answers 404);
    writes of an invalid key raise ValueError."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Stores `data` at `key`: a reader sees the old content or all of the new, never part."""

    @abstractmethod
    def upload(self, key: str, source: Path) -> None:
        """Stores the local file `source` at `key`, whole or not at all."""

    @abstractmethod
    def copy(self, source_key: str, target_key: str) -> bool:
        """Copies one stored file to another key inside the store (no download); False if `source_key` is
        missing."""

    @abstractmethod
    def open(self, key: str) -> StoredFile | None:
        """The stored file for streaming, or None."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix` (a folder: "" or ending with "/"), sorted."""

    @abstractmethod
    def delete(self, prefix: str) -> None:
        """Removes every key under the folder `prefix` (ending with "/")."""

    def local_dir(self, prefix: str) -> Path | None:
        """The directory holding the folder `prefix` when the store is a local directory (write there directly),
        else None."""
        return None

    def exists(self, key: str) -> bool:
        stored = self.open(key)
        if stored is None:
            return False
        _close(stored.chunks)
        return True

    def read(self, key: str) -> bytes | None:
        stored = self.open(key)
        return None if stored is None else b"".join(stored.chunks)

    @contextlib.contextmanager
    def checkout(self, prefix: str) -> Iterator[Path]:
        """A local directory holding every file of the folder `prefix` for the block: the folder itself in a
        local store, else a temporary download removed afterwards."""
        local = self.local_dir(prefix)
        if local is not None:
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="azuraforge-checkout-") as temporary:
            root = Path(temporary)
            for key in self.keys(prefix):
                stored = self.open(key)
                if stored is None:
                    continue  # deleted while listing
                target = root / key.removeprefix(prefix)
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as handle:
                    for chunk in stored.chunks:
                        handle.write(chunk)
            yield root


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _check_writable(key: str) -> None:
    if not valid_key(key):
        raise ValueError(f"artifact key {key!r} is not a relative path of plain names")


def _check_prefix(prefix: str) -> None:
    if prefix and not (prefix.endswith("/") and valid_key(prefix[:-1])):
        raise ValueError(f"artifact folder {prefix!r} must be empty or a relative path ending with '/'")


class LocalStore(ArtifactStore):
    """Keys as files under `root` (AZURAFORGE_DATA_DIR)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path | None:
        """root/key if it is a regular file reached through no symlink (which could lead anywhere, even to the
        database next to the runs); otherwise None."""
        if not valid_key(key):
            return None
        try:
            base = self.root.resolve()
            file = (base / key).resolve()
            return file if file == base / key and file.is_file() else None
        except (OSError, ValueError):
            return None

    def write(self, key: str, data: bytes) -> None:
        _check_writable(key)
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(target)

    def upload(self, key: str, source: Path) -> None:
        _check_writable(key)
        target = self.root / key
        if target.exists() and target.resolve() == source.resolve():
            return  # the run wrote it in place
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, partial)
        partial.replace(target)

    def copy(self, source_key: str, target_key: str) -> bool:
        source = self._path(source_key)
        if source is None:
            return False
        self.upload(target_key, source)
        return True

    def open(self, key: str) -> StoredFile | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            handle = path.open("rb")
        except OSError:
            return None
        return StoredFile(os.fstat(handle.fileno()).st_size, _file_chunks(handle))

    def keys(self, prefix: str) -> list[str]:
        _check_prefix(prefix)
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(
            f"{prefix}{path.relative_to(folder).as_posix()}"
            for path in folder.rglob("*")
            if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".tmp"))
        )

    def delete(self, prefix: str) -> None:
        _check_prefix(prefix)
        if prefix:
            shutil.rmtree(self.root / prefix, ignore_errors=True)

    def local_dir(self, prefix: str) -> Path | None:
        _check_prefix(prefix)
        return self.root / prefix


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


class S3Store(ArtifactStore):
    """Keys as objects under s3://bucket/prefix/."""

    def __init__(self, bucket: str, prefix: str, client: "S3Client") -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client

    def _object(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def write(self, key: str, data: bytes) -> None:
        _check_writable(key)
        self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data, ChecksumAlgorithm="SHA256")

    def upload(self, key: str, source: Path) -> None:
        _check_writable(key)
        # Multipart above 8 MB, each part checksummed; an object appears only once complete.
        self.client.upload_file(str(source), self.bucket, self._object(key), ExtraArgs={"ChecksumAlgorithm": "SHA256"})

    def copy(self, source_key: str, target_key: str) -> bool:
        _check_writable(target_key)
        if not self.exists(source_key):
            return False
        # A managed copy: done by the server, in parts for large objects.
        self.client.copy(
            {"Bucket": self.bucket, "Key": self._object(source_key)},
            self.bucket,
            self._object(target_key),
            ExtraArgs={"ChecksumAlgorithm": "SHA256"},
        )
        return True

    def open(self, key: str) -> StoredFile | None:
        if not valid_key(key):
            return None
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object(key), ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        body = response["Body"]
        return StoredFile(response["ContentLength"], _body_chunks(body))

    def exists(self, key: str) -> bool:
        if not valid_key(key):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def keys(self, prefix: str) -> list[str]:
        _check_prefix(prefix)
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._object(prefix))
        for page in pages:
            found += [entry["Key"].removeprefix(self.prefix) for entry in page.get("Contents", [])]
        return sorted(found)

    def delete(self, prefix: str) -> None:
        _check_prefix(prefix)
        if not prefix:
            return
        keys = self.keys(prefix)
        for start in range(0, len(keys), 1000):  # the most one request may delete
            batch = [{"Key": self._object(key)} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]


def _body_chunks(body: object) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)  # type: ignore[attr-defined]
    finally:
        body.close()  # type: ignore[attr-defined]


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix; ValueError naming what is wrong otherwise."""
    if not url.startswith(S3_SCHEME):
        raise ValueError(f"AZURAFORGE_ARTIFACT_STORE must look like s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise ValueError(f"AZURAFORGE_ARTIFACT_STORE {url!r} names no bucket; use s3://bucket/prefix")
    if not (prefix.strip("/") == "" or valid_key(prefix.strip("/"))):
        raise ValueError(f"AZURAFORGE_ARTIFACT_STORE {url!r} has a prefix that is not a plain relative path")
    return bucket, prefix


def open_store(url: str | None, data_dir: Path) -> ArtifactStore:
    """The store AZURAFORGE_ARTIFACT_STORE names: s3://bucket/prefix, or None for the directory `data_dir`."""
    if url is None:
        return LocalStore(data_dir)
    bucket, prefix = parse_s3_url(url)
    config = Config(
        retries={"mode": "standard", "max_attempts": S3_RETRIES},
        connect_timeout=5,
        read_timeout=30,
        # Path-style addressing works with every S3-compatible server (MinIO, moto, Ceph) and with AWS.
        s3={"addressing_style": "path"},
    )
    return S3Store(bucket, prefix, boto3.client("s3", config=config))
