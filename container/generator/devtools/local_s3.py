#!/usr/bin/env python3
"""A tiny in-memory S3 for measuring the job on a machine without AWS (GPU benchmark only).

Path-style requests, no auth, the calls the job makes: create bucket, put/get/head/delete object,
multipart upload, ListObjectsV2 (prefix only). Start it, then point boto3 at it with
``AWS_ENDPOINT_URL_S3=http://127.0.0.1:<port>`` and a config file that sets
``addressing_style = path`` and ``request_checksum_calculation = when_required``.

Usage: python local_s3.py PORT
"""

from __future__ import annotations

import hashlib
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

OBJECTS: dict[tuple[str, str], tuple[bytes, str]] = {}
BUCKETS: set[str] = set()
UPLOADS: dict[str, dict[int, bytes]] = {}
LOCK = threading.Lock()
STATS = {"PUT": 0, "GET": 0, "HEAD": 0, "DELETE": 0, "POST": 0, "bytes_in": 0, "bytes_out": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urlparse(self.path)
        bucket, _, key = url.path.lstrip("/").partition("/")
        return bucket, unquote(key), parse_qs(url.query, keep_blank_values=True)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, code: int, body: bytes = b"", ctype: str = "application/xml", extra: dict | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        STATS["bytes_out"] += len(body) if self.command == "GET" else 0

    def _missing(self) -> None:
        self._send(404, b"<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>")

    def do_PUT(self) -> None:
        STATS["PUT"] += 1
        bucket, key, q = self._target()
        body = self._body()
        STATS["bytes_in"] += len(body)
        if not key:
            BUCKETS.add(bucket)
            return self._send(200)
        if "uploadId" in q:
            with LOCK:
                UPLOADS[q["uploadId"][0]][int(q["partNumber"][0])] = body
            return self._send(200, extra={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        with LOCK:
            OBJECTS[(bucket, key)] = (body, self.headers.get("Content-Type", "binary/octet-stream"))
        self._send(200, extra={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def do_POST(self) -> None:
        STATS["POST"] += 1
        bucket, key, q = self._target()
        self._body()
        if "uploads" in q:
            upload = uuid.uuid4().hex
            UPLOADS[upload] = {}
            xml = f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{escape(key)}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>"
            return self._send(200, xml.encode())
        if "uploadId" in q:
            parts = UPLOADS.pop(q["uploadId"][0])
            data = b"".join(parts[n] for n in sorted(parts))
            with LOCK:
                OBJECTS[(bucket, key)] = (data, "binary/octet-stream")
            xml = f'<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{escape(key)}</Key><ETag>"x"</ETag></CompleteMultipartUploadResult>'
            return self._send(200, xml.encode())
        self._send(400)

    def do_GET(self) -> None:
        STATS["GET"] += 1
        bucket, key, q = self._target()
        if not key:
            prefix = q.get("prefix", [""])[0]
            items = sorted(k for (b, k) in OBJECTS if b == bucket and k.startswith(prefix))
            contents = "".join(
                f"<Contents><Key>{escape(k)}</Key><Size>{len(OBJECTS[(bucket, k)][0])}</Size></Contents>"
                for k in items
            )
            xml = f"<ListBucketResult><Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(items)}</KeyCount><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
            return self._send(200, xml.encode())
        if key == "__stats__":
            import json

            return self._send(
                200, json.dumps({**STATS, "objects": len(OBJECTS)}).encode(), "application/json"
            )
        found = OBJECTS.get((bucket, key))
        if found is None:
            return self._missing()
        body, ctype = found
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start, _, end = rng[6:].partition("-")
            s, e = int(start), int(end) if end else len(body) - 1
            part = body[s : e + 1]
            return self._send(206, part, ctype, {"Content-Range": f"bytes {s}-{e}/{len(body)}"})
        self._send(200, body, ctype)

    def do_HEAD(self) -> None:
        STATS["HEAD"] += 1
        bucket, key, _ = self._target()
        found = OBJECTS.get((bucket, key))
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(found[0])))
        self.send_header("Content-Type", found[1])
        self.send_header("ETag", '"x"')
        self.end_headers()

    def do_DELETE(self) -> None:
        STATS["DELETE"] += 1
        bucket, key, _ = self._target()
        with LOCK:
            OBJECTS.pop((bucket, key), None)
        self._send(204)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
