"""Every bad ReasonerStack setting stops `build_app` with one clear line naming the fix."""

from __future__ import annotations

import re
from typing import Any

import pytest
from template_utils import BASE_CONTEXT

from stacks.config import ConfigError


def build(**overrides: Any) -> None:
    from app import build_app

    build_app({**BASE_CONTEXT, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # The g5 question: one A10G cannot hold nano, so name the instance that can and the variant g5 runs.
        (
            {"instanceType": "g5.xlarge"},
            r"instanceType=g5\.xlarge cannot run the nano reasoner.*smallest that fits: g6e\.xlarge.*"
            r"reasonerVariant=edge",
        ),
        (
            {"instanceType": "g5.48xlarge"},
            r"g5\.48xlarge cannot run the nano reasoner.*no tensor-parallel profile.*g6e\.xlarge",
        ),
        (
            {"instanceType": "g6e.xlarge", "reasonerVariant": "super"},
            r"cannot run the super reasoner.*p5\.4xlarge",
        ),
        ({"instanceType": "m5.large"}, r"instanceType: unknown instance type 'm5\.large'.*g6e\.xlarge"),
        ({"reasonerPrecision": "fp4"}, r"reasonerPrecision must be one of auto, bf16, fp8, nvfp4, got 'fp4'"),
        ({"reasonerPrecision": "nvfp4"}, r"nvfp4 needs compute capability >= 10\.0"),
        ({"reasonerVariant": "large"}, r"reasonerVariant must be one of edge, nano, super"),
        (
            {"reasonerVariant": "edge", "reasonerImage": "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0"},
            r"reasonerVariant=edge needs the unified image nvcr\.io/nim/nvidia/cosmos3",
        ),
        ({"allowedCidrs": ["203.0.113.7/33"]}, r"allowedCidrs: '203\.0\.113\.7/33' is not a valid CIDR"),
        (
            {"allowedCidrs": ["203.0.113.7/24"]},
            r"allowedCidrs: '203\.0\.113\.7/24' is not a valid CIDR.*host bits",
        ),
        ({"allowedCidrs": "[not json"}, r"allowedCidrs must be a JSON list"),
        ({"minTasks": -1}, r"minTasks must be >= 0, got -1"),
        ({"maxTasks": 0}, r"maxTasks must be >= 1, got 0"),
        ({"minTasks": 3, "maxTasks": 2}, r"maxTasks \(2\) must be >= minTasks \(3\)"),
        ({"maxTasks": "two"}, r"maxTasks must be a whole number, got 'two'"),
        ({"requestsPerTarget": 0}, r"requestsPerTarget must be >= 1"),
        ({"idleTimeoutSeconds": 30}, r"idleTimeoutSeconds must be >= 60, got 30"),
        ({"deregistrationDelaySeconds": -5}, r"deregistrationDelaySeconds must be >= 0, got -5"),
        ({"healthCheckGraceMinutes": 1}, r"healthCheckGraceMinutes must be >= 5, got 1"),
        ({"rootVolumeGiB": 30}, r"rootVolumeGiB must be >= 100, got 30"),
        ({"containerUid": 0}, r"containerUid must be >= 1, got 0"),
        ({"shmSizeGiB": 64}, r"shmSizeGiB=64 is more than half of g6e\.xlarge's 32 GiB RAM; use <= 16"),
        ({"gpuMemoryUtilization": 1.5}, r"gpuMemoryUtilization must be > 0\.0 and <= 1\.0, got 1\.5"),
        ({"videoPruningRate": 1}, r"videoPruningRate must be >= 0\.0 and <= 0\.99"),
        ({"reasonerImage": "nvcr.io/nim/nvidia/cosmos3:latest"}, r"must pin a version tag, not ':latest'"),
        (
            {"reasonerImage": "nvcr.io/nim/nvidia/cosmos3"},
            r"reasonerImage must be a container image with a pinned tag",
        ),
        (
            {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
            r"certificateArn must be an ACM certificate ARN",
        ),
        ({"ngcSecretArn": "my-ngc-secret"}, r"ngcSecretArn must be a Secrets Manager secret ARN"),
        ({"alarmEmail": "ops"}, r"alarmEmail must be an email address, got 'ops'"),
        ({"vpcId": "vpc-xyz"}, r"vpcId must look like vpc-0123456789abcdef0"),
        # No CDK_DEFAULT_ACCOUNT/REGION (no credentials): the VPC lookup cannot run.
        ({"vpcId": "vpc-0123456789abcdef0"}, r"vpcId needs AWS credentials and a region"),
        ({"internetFacing": "maybe"}, r"internetFacing must be true or false, got 'maybe'"),
        ({"logRetentionDays": 10}, r"logRetentionDays must be one CloudWatch accepts"),
    ],
    ids=lambda v: re.sub(r"\W+", "-", str(v))[:60] if isinstance(v, dict) else "",
)
def test_invalid_setting_is_refused_with_a_clear_message(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(**overrides)
    text = str(err.value)
    assert re.search(message, text), text
    assert "\n" not in text


def test_settings_arrive_as_strings_from_the_cdk_cli() -> None:
    # `cdk -c minTasks=0 -c internetFacing=false -c allowedCidrs=...` passes strings.
    from app import build_app

    app = build_app(
        {
            **BASE_CONTEXT,
            "minTasks": "0",
            "maxTasks": "4",
            "internetFacing": "false",
            "allowedCidrs": '["203.0.113.7/32"]',
            "ngcSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ngc",
        }
    )
    stack = app.node.find_child("ReasonerStack")
    assert (stack.config.min_tasks, stack.config.max_tasks) == (0, 4)
    assert stack.config.internet_facing is False
    assert stack.config.allowed_cidrs == ["203.0.113.7/32"]
