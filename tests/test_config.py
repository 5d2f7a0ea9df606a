"""Settings: defaults equal cdk.json, and every bad value stops synth with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, GeneratorConfig, ReasonerConfig, context_defaults

ROOT = Path(__file__).resolve().parent.parent


class Ctx(dict):
    def try_get_context(self, key: str) -> Any:
        return self.get(key)


def test_cdk_json_carries_every_default() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for key, default in context_defaults().items():
        assert key in context, f"cdk.json lacks {key}"
        assert context[key] == default, f"cdk.json {key}={context[key]!r}, config default {default!r}"


def test_defaults() -> None:
    r = ReasonerConfig.read(Ctx())
    assert r.instance_type == "g6e.xlarge" and r.variant == "nano" and r.unified_image
    assert r.fit.ok and r.fit.precision == "fp8"
    assert r.allowed_cidrs == []  # closed unless the user opens it
    assert r.health_check_grace_minutes >= 30 and r.idle_timeout_seconds >= 600
    assert r.shm_size_mib == 16 * 1024
    g = GeneratorConfig.read(Ctx())
    assert g.instance_types == ["g6e.2xlarge"] and g.model == "nano" and g.precision == "bf16"
    assert g.job_memory_mib < 64 * 1024 and g.job_vcpus == 8


def test_strings_from_the_command_line_are_parsed() -> None:
    r = ReasonerConfig.read(
        Ctx(
            minTasks="0",
            maxTasks="3",
            internetFacing="false",
            allowedCidrs='["10.0.0.0/8", "192.0.2.1/32"]',
            gpuMemoryUtilization="0.9",
            videoPruningRate="0.5",
            maxModelLen="32768",
        )
    )
    assert (r.min_tasks, r.max_tasks, r.internet_facing) == (0, 3, False)
    assert r.allowed_cidrs == ["10.0.0.0/8", "192.0.2.1/32"]
    assert (r.gpu_memory_utilization, r.video_pruning_rate, r.max_model_len) == (0.9, 0.5, 32768)
    assert ReasonerConfig.read(Ctx(allowedCidrs="10.0.0.0/8,192.0.2.0/24")).allowed_cidrs == [
        "10.0.0.0/8",
        "192.0.2.0/24",
    ]


def test_small_hosts_get_half_their_ram_as_shm() -> None:
    r = ReasonerConfig.read(Ctx(instanceType="g5.xlarge", reasonerVariant="edge"))
    assert r.shm_size_mib == 8 * 1024


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (
            {"instanceType": "g5.xlarge"},
            r"g5\.xlarge cannot run the nano reasoner.*g6e\.xlarge.*reasonerVariant=edge",
        ),
        ({"instanceType": "g5.48xlarge"}, r"no tensor-parallel profile"),
        ({"instanceType": "m5.large"}, r"unknown instance type 'm5.large'"),
        ({"instanceType": "g6e.12xlarge", "reasonerVariant": "super"}, r"smallest that fits: p5\.4xlarge"),
        ({"reasonerVariant": "huge"}, r"reasonerVariant must be one of edge, nano, super"),
        ({"reasonerPrecision": "fp16"}, r"reasonerPrecision must be one of auto, bf16, fp8, nvfp4"),
        ({"reasonerPrecision": "nvfp4"}, r"nvfp4 needs compute capability >= 10"),
        ({"reasonerImage": "nvcr.io/nim/nvidia/cosmos3:latest"}, r"not ':latest'"),
        ({"reasonerImage": "nvcr.io/nim/nvidia/cosmos3"}, r"pinned tag or digest"),
        (
            {"reasonerImage": "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0", "reasonerVariant": "edge"},
            r"edge needs the unified image",
        ),
        ({"allowedCidrs": ["10.0.0.1/8"]}, r"not a valid CIDR block"),
        ({"allowedCidrs": ["300.1.1.1/32"]}, r"not a valid CIDR block"),
        ({"allowedCidrs": "[not json"}, r"must be a JSON list"),
        ({"vpcCidr": "10.0.0.0/28"}, r"vpcCidr must be between /16 and /18"),
        # /19 to /24 parse as CIDRs but cannot hold the four subnets CDK lays out.
        ({"vpcCidr": "10.0.0.0/19"}, r"vpcCidr must be between /16 and /18 to hold two /24 public"),
        ({"vpcId": "my-vpc"}, r"vpcId must look like vpc-"),
        ({"minTasks": -1}, r"minTasks must be >= 0"),
        ({"maxTasks": 0}, r"maxTasks must be >= 1"),
        ({"minTasks": 3, "maxTasks": 2}, r"maxTasks \(2\) must be >= minTasks \(3\)"),
        ({"minTasks": "two"}, r"minTasks must be a whole number"),
        ({"natGateways": 0}, r"natGateways must be >= 1"),
        ({"logRetentionDays": 10}, r"logRetentionDays must be one CloudWatch accepts"),
        ({"internetFacing": "maybe"}, r"internetFacing must be true or false"),
        (
            {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
            r"certificateArn must be an ACM",
        ),
        ({"ngcSecretArn": "my-secret"}, r"ngcSecretArn must be a Secrets Manager secret ARN"),
        ({"gpuMemoryUtilization": 1.5}, r"gpuMemoryUtilization must be > 0.0 and <= 1.0"),
        ({"videoPruningRate": 1}, r"videoPruningRate must be >= 0.0 and <= 0.99"),
        ({"idleTimeoutSeconds": 10}, r"idleTimeoutSeconds must be >= 60"),
        ({"healthCheckGraceMinutes": 0}, r"healthCheckGraceMinutes must be >= 5"),
        ({"shmSizeGiB": 30}, r"shmSizeGiB=30 is more than half"),
        ({"alarmEmail": "ops"}, r"alarmEmail must be an email address"),
        ({"rootVolumeGiB": 30}, r"rootVolumeGiB must be >= 100"),
        (
            {"reasonerPrecision": "nvfp4", "instanceType": "p5.48xlarge"},
            r"no g5, g6e or p5 instance runs this combination",
        ),
    ],
)
def test_reasoner_bad_settings(ctx: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        ReasonerConfig.read(Ctx(ctx))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (
            {"generatorInstanceTypes": ["g5.2xlarge"]},
            r"g5\.2xlarge cannot render nano bf16.*smallest that fits: g6e\.2xlarge",
        ),
        ({"generatorInstanceTypes": ["g6e.xlarge"]}, r"host RAM"),
        ({"generatorInstanceTypes": []}, r"must name at least one"),
        ({"generatorInstanceTypes": ["p4d.24xlarge"]}, r"unknown instance type"),
        (
            {"generatorPrecision": "fp8", "generatorInstanceTypes": ["g5.8xlarge"]},
            r"fp8 needs compute capability >= 8\.9",
        ),
        ({"generatorModel": "ultra"}, r"generatorModel must be one of nano, super"),
        ({"generatorModel": "super"}, r"generator super has no bf16 profile"),
        (
            {"generatorModel": "super", "generatorPrecision": "fp8"},
            r"cannot render super fp8: .*no g5, g6e or p5 GPU holds it: set generatorOffload=true",
        ),
        ({"generatorImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gen:latest"}, r"not ':latest'"),
        ({"hfTokenSecretArn": "hf_abc"}, r"hfTokenSecretArn must be a Secrets Manager secret ARN"),
        ({"generatorMaxVcpus": 4}, r"generatorMaxVcpus=4 is below the 8 vCPUs"),
        ({"generatorSpot": "sometimes"}, r"generatorSpot must be true or false"),
        ({"generatorModelRevision": "bad rev"}, r"generatorModelRevision must be"),
    ],
)
def test_generator_bad_settings(ctx: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GeneratorConfig.read(Ctx(ctx))


def test_generator_super_with_offload_on_h100() -> None:
    g = GeneratorConfig.read(
        Ctx(
            generatorModel="super",
            generatorPrecision="fp8",
            generatorOffload=True,
            generatorInstanceTypes=["p5.4xlarge"],
        )
    )
    assert g.profile.offload and g.job_vcpus == 16


def test_smallest_allowed_vpc_cidr_holds_the_subnets() -> None:
    # The bound in config.py must match what stacks/constructs/network.py lays out.
    from aws_cdk import App, Stack
    from aws_cdk.assertions import Template

    from stacks.config import LARGEST_VPC_PREFIX, NetworkConfig
    from stacks.constructs.network import Network

    cidr = f"10.40.0.0/{LARGEST_VPC_PREFIX}"
    stack = Stack(App(), "Probe")
    Network(stack, "Network", config=NetworkConfig.read(Ctx(vpcCidr=cidr)))
    subnets = Template.from_stack(stack).find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 4
