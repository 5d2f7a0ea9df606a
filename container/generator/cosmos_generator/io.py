"""S3 reads and writes for the job, and atomic local file writes."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .spec import SpecError

_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_DENIED_CODES = {"403", "AccessDenied", "Forbidden"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise SpecError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise SpecError(f"S3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class OutputKeys:
    """Where one item's results go: ``<prefix><job id>/<index>.{mp4,json,error.json}``."""

    bucket: str
    prefix: str
    job_id: str
    index: int

    @property
    def folder(self) -> str:
        return f"{self.prefix}{self.job_id}/"

    @property
    def video(self) -> str:
        return f"{self.folder}{self.index}.mp4"

    @property
    def metadata(self) -> str:
        return f"{self.folder}{self.index}.json"

    @property
    def error(self) -> str:
        return f"{self.folder}{self.index}.error.json"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class S3:
    """The few S3 operations the job needs, with input problems turned into SpecError."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if _error_code(err) in _MISSING_CODES:
                return False
            raise
        return True

    def check_input(self, uri: str, what: str) -> None:
        """Fail fast (before loading the model) when an input object is missing or unreadable."""
        bucket, key = parse_s3_uri(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as err:
            code = _error_code(err)
            if code in _MISSING_CODES:
                raise SpecError(f"{what} {uri} does not exist") from None
            if code in _DENIED_CODES:
                raise SpecError(f"{what} {uri} is not readable by the job role (access denied)") from None
            raise

    def read_text(self, uri: str, what: str) -> str:
        bucket, key = parse_s3_uri(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            code = _error_code(err)
            if code in _MISSING_CODES:
                raise SpecError(f"{what} {uri} does not exist") from None
            if code in _DENIED_CODES:
                raise SpecError(f"{what} {uri} is not readable by the job role (access denied)") from None
            raise
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError(f"{what} {uri} is not UTF-8 text") from None

    def download(self, uri: str, directory: Path) -> Path:
        bucket, key = parse_s3_uri(uri)
        target = directory / (Path(key).name or "input")
        self.client.download_file(bucket, key, str(target))
        return target

    def put_file(self, bucket: str, key: str, path: Path, content_type: str) -> None:
        # One PUT (or one multipart upload) is atomic: readers see the whole object or none.
        self.client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
