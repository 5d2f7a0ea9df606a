"""Fixtures for cosmosctl tests: no AWS, no network past 127.0.0.1, and a fake reasoner NIM over HTTP.

The fake NIM is the shared fake OpenAI-compatible server (tests/fake_openai.py), so `ask` and `bench`
run through the real OpenAI SDK. It records each request (path, headers, JSON body) and can be switched
to fail (its `mode`).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI
from media_utils import tiny_mp4, tiny_png
from typer.testing import CliRunner

API_KEY = "test-key-0123456789abcdef"
MODEL_ID = "nvidia/cosmos3-nano-reasoner"
ANSWER = "The P-trap slip nut is leaking; tighten it by hand."


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
    """A real 1-second H.264 MP4, 64x48 at 30 fps (the client decodes and re-samples videos)."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(tiny_mp4(width=64, height=48, frames=30, fps=30))
    return path


# ----------------------------------------------------------------------------------------------
# Fake reasoner NIM
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def fake_nim() -> Iterator[FakeOpenAI]:
    """The fake NIM: one reasoner model, a fixed answer, and 401 for any key but API_KEY."""
    with FakeOpenAI(MODEL_ID, api_key=API_KEY, answer=ANSWER) as nim:
        yield nim


@pytest.fixture
def nim_env(fake_nim: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake NIM, with COSMOS_ENDPOINT / COSMOS_API_KEY pointing at it."""
    monkeypatch.setenv("COSMOS_ENDPOINT", fake_nim.origin)
    monkeypatch.setenv("COSMOS_API_KEY", API_KEY)
    return fake_nim


# ----------------------------------------------------------------------------------------------
# moto: the two stacks' outputs and the resources behind them
# ----------------------------------------------------------------------------------------------

REASONER_URL = "http://cosmos-alb-123.us-east-1.elb.amazonaws.com"
STORED_KEY = "stored-key-abcdefghijklmnopqrstuvwxyz0123456789"
LAPTOP_KEY = "laptop-key-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"


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
    # The named-keys secret as the stack generates it, plus one key added later.
    aws.secret_arn = sm.create_secret(
        Name="cosmos-reasoner-api-keys",
        SecretString=json.dumps({"laptop": LAPTOP_KEY, "default": STORED_KEY}),
    )["ARN"]
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
            "ClusterName": "cosmos-reasoner-cluster",
            "ServiceName": "cosmos-reasoner-service",
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
