"""Fixtures for cosmosctl tests: no AWS, no network past 127.0.0.1, and a fake reasoner NIM over HTTP.

The fake NIM is a real HTTP server speaking the OpenAI protocol (GET /v1/models, POST
/v1/chat/completions, streamed as server-sent events or not), so `ask` and `bench` run through the
real OpenAI SDK. It records each request (path, headers, JSON body) and can be switched to fail.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from media_utils import tiny_png
from typer.testing import CliRunner

API_KEY = "test-key-0123456789abcdef"
MODEL_ID = "nvidia/cosmos3-nano-reasoner"


# ----------------------------------------------------------------------------------------------
# Isolation
# ----------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake AWS credentials, no AWS config files, no COSMOS_* leakage, loopback-only sockets."""
    for name in ("COSMOS_ENDPOINT", "COSMOS_API_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise OSError(f"test tried to reach {address!r}; only 127.0.0.1 is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# ----------------------------------------------------------------------------------------------
# Media files
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "sink.png"
    path.write_bytes(tiny_png(rgb=b"\xff\x00\x00"))
    return path


@pytest.fixture
def jpeg_file(tmp_path: Path) -> Path:
    # Only the magic bytes matter to cosmosctl; the NIM decodes the image.
    path = tmp_path / "sink.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9")
    return path


@pytest.fixture
def mp4_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    ftyp = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2"
    path.write_bytes(ftyp + struct.pack(">I", 8) + b"mdat")
    return path


# ----------------------------------------------------------------------------------------------
# Fake reasoner NIM
# ----------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeNim:
    """State of the fake server; tests flip ``mode`` to make it fail."""

    url: str = ""
    api_key: str = API_KEY
    models: list[str] = field(default_factory=lambda: [MODEL_ID])
    answer: str = "The P-trap slip nut is leaking; tighten it by hand."
    # ok | 401 | 500 | 400 | slow | flaky (fails `failures` times with 503, then ok)
    mode: str = "ok"
    failures: int = 1
    slow_s: float = 2.0
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/chat/completions"]


def _handler(nim: FakeNim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _json(self, status: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self, body: Any) -> None:
            with nim.lock:
                nim.requests.append(
                    Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )

        def _failure(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {nim.api_key}" or nim.mode == "401":
                self._json(
                    401, {"error": {"message": "Invalid API key", "type": "Unauthorized", "code": 401}}
                )
                return True
            if nim.mode == "500":
                self._json(500, {"object": "error", "message": "CUDA error: out of memory", "code": 500})
                return True
            if nim.mode == "400":
                self._json(
                    400,
                    {
                        "object": "error",
                        "message": "At most 4 image(s) may be provided in one prompt.",
                        "code": 400,
                    },
                )
                return True
            if nim.mode == "slow":
                time.sleep(nim.slow_s)
            if nim.mode == "flaky":
                with nim.lock:
                    fail = nim.failures > 0
                    nim.failures -= 1
                if fail:
                    self._json(503, {"message": "Service Unavailable"})
                    return True
            return False

        def do_GET(self) -> None:
            self._record(None)
            if self.path != "/v1/models":
                self._json(404, {"detail": "Not Found"})
                return
            if self._failure():
                return
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "nvidia"} for m in nim.models]
            self._json(200, {"object": "list", "data": data})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            self._record(body)
            if self.path != "/v1/chat/completions":
                self._json(404, {"detail": "Not Found"})
                return
            if self._failure():
                return
            words = nim.answer.split(" ")
            limit = int(body.get("max_tokens") or len(words))
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)][:limit]
            finish = "stop" if len(pieces) == len(words) else "length"
            usage = {"prompt_tokens": 42, "completion_tokens": len(pieces), "total_tokens": 42 + len(pieces)}
            base = {"id": "chatcmpl-test", "created": 0, "model": body.get("model")}
            if not body.get("stream"):
                self._json(
                    200,
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "".join(pieces)},
                                "finish_reason": finish,
                            }
                        ],
                        "usage": usage,
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()

            def event(data: Any) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            chunk = {**base, "object": "chat.completion.chunk"}
            event(
                {
                    **chunk,
                    "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    ],
                }
            )
            for piece in pieces:
                event(
                    {**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                )
            event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                event({**chunk, "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def fake_nim() -> Iterator[FakeNim]:
    nim = FakeNim()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(nim))
    server.daemon_threads = True
    nim.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield nim
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def nim_env(fake_nim: FakeNim, monkeypatch: pytest.MonkeyPatch) -> FakeNim:
    """The fake NIM, with COSMOS_ENDPOINT / COSMOS_API_KEY pointing at it."""
    monkeypatch.setenv("COSMOS_ENDPOINT", fake_nim.url)
    monkeypatch.setenv("COSMOS_API_KEY", fake_nim.api_key)
    return fake_nim


# ----------------------------------------------------------------------------------------------
# moto: the two stacks' outputs and the resources behind them
# ----------------------------------------------------------------------------------------------

REASONER_URL = "http://cosmos-alb-123.us-east-1.elb.amazonaws.com"
STORED_KEY = "stored-key-abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class Aws:
    """Handles on the moto-backed resources a test can inspect."""

    region: str = "us-east-1"
    secret_arn: str = ""
    bucket: str = "cosmos-generator-bucket-test"
    job_queue: str = ""
    job_definition: str = ""

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)


def _create_stack(aws: Aws, name: str, outputs: dict[str, str], bucket: str) -> None:
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def aws() -> Iterator[Aws]:
    """moto for every AWS call in the test; Batch jobs 'run' without Docker (they succeed at once)."""
    from moto import mock_aws

    with mock_aws(config={"batch": {"use_docker": False}}):
        yield Aws()


@pytest.fixture
def reasoner_stack(aws: Aws) -> Aws:
    sm = aws.client("secretsmanager")
    aws.secret_arn = sm.create_secret(Name="cosmos-reasoner-api-key", SecretString=STORED_KEY)["ARN"]
    ngc = sm.create_secret(Name="cosmos-ngc", SecretString='{"username": "$oauthtoken", "password": "x"}')[
        "ARN"
    ]
    _create_stack(
        aws,
        "ReasonerStack",
        {
            "EndpointUrl": REASONER_URL,
            "ApiKeySecretArn": aws.secret_arn,
            "NgcSecretArn": ngc,
            "LogGroupName": "/cosmos/reasoner",
            "CurlExample": f"curl {REASONER_URL}/v1/models",
        },
        "reasoner-stack-marker-bucket",
    )
    return aws


@pytest.fixture
def generator_stack(aws: Aws) -> Aws:
    iam = aws.client("iam")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = aws.client("batch")
    ce = batch.create_compute_environment(
        computeEnvironmentName="cosmos-gpu", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    aws.job_queue = batch.create_job_queue(
        jobQueueName="cosmos-generator",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )["jobQueueArn"]
    aws.job_definition = batch.register_job_definition(
        jobDefinitionName="cosmos-generator",
        type="container",
        containerProperties={"image": "cosmos-generator:test", "vcpus": 1, "memory": 128},
    )["jobDefinitionArn"]
    _create_stack(
        aws,
        "GeneratorBatchStack",
        {
            "BucketName": aws.bucket,
            "JobQueueArn": aws.job_queue,
            "JobDefinitionArn": aws.job_definition,
            "InputPrefix": "inputs/",
            "OutputPrefix": "outputs/",
            "SubmitJobExample": "aws batch submit-job ...",
        },
        aws.bucket,
    )
    return aws
