"""Settings: defaults equal cdk.json, and every bad value stops synth with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, GeneratorConfig, ReasonerConfig, context_defaults
from stacks.constructs.key_proxy import MEMORY_RESERVATION_MIB as PROXY_MEMORY_MIB

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


def test_g5_xlarge_is_below_the_nims_host_memory_floor_even_for_edge() -> None:
    # 16 GiB nominal is about 15.2 GiB to the OS: the NIM refuses it; g5.2xlarge is the smallest g5.
    with pytest.raises(
        ConfigError, match=r"g5\.xlarge cannot run the edge reasoner.*below 16 GiB.*g5\.2xlarge"
    ):
        ReasonerConfig.read(Ctx(instanceType="g5.xlarge", reasonerVariant="edge"))
    r = ReasonerConfig.read(Ctx(instanceType="g5.2xlarge", reasonerVariant="edge"))
    assert r.fit.ok and r.shm_size_mib == 16 * 1024


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


# ---------------------------------------------------------------------------- placement


def _allowed_reasoner_deployments() -> list[tuple[str, str, str, bool, int]]:
    """(instance, variant, precision, unified image, maxTasks) for every host the config accepts.

    maxTasks is set so one host can be filled; the config refuses the rest (idle GPUs).
    """
    from stacks import gpu_catalog as cat

    allowed = []
    for name, inst in cat.INSTANCES.items():
        for variant in ("edge", "nano", "super"):
            for precision in ("auto", "bf16", "fp8", "nvfp4"):
                for image in (
                    "nvcr.io/nim/nvidia/cosmos3:2.1.0",
                    "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0",
                ):
                    ctx = Ctx(
                        instanceType=name,
                        reasonerVariant=variant,
                        reasonerPrecision=precision,
                        reasonerImage=image,
                        maxTasks=min(20, inst.gpus),
                    )
                    try:
                        r = ReasonerConfig.read(ctx)
                    except ConfigError:
                        continue
                    allowed.append((name, variant, precision, r.unified_image, r.max_tasks))
    return allowed


def test_every_allowed_host_registers_enough_memory_for_its_tasks() -> None:
    """ECS registers MemTotal (nominal x OS factor) minus ECS_RESERVED_MEMORY; every task must fit."""
    from stacks import gpu_catalog as cat

    allowed = _allowed_reasoner_deployments()
    assert {a[0] for a in allowed} >= {
        "g5.2xlarge",
        "g6e.xlarge",
        "p5.4xlarge",
        "p5.48xlarge",
        "g6e.48xlarge",
    }
    for name, variant, precision, unified, max_tasks in allowed:
        image = "nvcr.io/nim/nvidia/cosmos3:2.1.0" if unified else "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0"
        r = ReasonerConfig.read(
            Ctx(
                instanceType=name,
                reasonerVariant=variant,
                reasonerPrecision=precision,
                reasonerImage=image,
                maxTasks=max_tasks,
            )
        )
        inst = cat.INSTANCES[name]
        registered = int(inst.memory_gib * cat.OS_MEMORY_FACTOR * 1024) - cat.ECS_RESERVED_MEMORY_MIB
        assert registered == inst.registered_memory_mib
        # Each task is the NIM's reservation plus the key proxy's next to it.
        need = r.tasks_per_instance * (r.task_memory_mib + PROXY_MEMORY_MIB)
        assert registered >= need, (
            f"{name} {variant} {precision}: registers {registered} MiB, tasks need {need}"
        )
        # NVIDIA's floor is what each task reserves, and it is all the NIM's admission check reads.
        assert r.task_memory_mib == 16 * 1024
    # The old 94 %-of-nominal reservation would not have fitted: that was the bug.
    g6e = cat.INSTANCES["g6e.xlarge"]
    assert int(g6e.memory_gib * 1024 * 0.94) > g6e.registered_memory_mib


def test_a_16_gib_host_could_not_register_the_nims_floor() -> None:
    from stacks import gpu_catalog as cat

    assert cat.INSTANCES["g5.xlarge"].registered_memory_mib < 16 * 1024
    assert not any(cat.reasoner_fit_ok("g5.xlarge", v, "auto", True) for v in ("edge", "nano", "super"))


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        # super FP8 needs one H100: a p5.48xlarge with maxTasks=2 leaves 6 of 8 idle.
        (
            {"instanceType": "p5.48xlarge", "reasonerVariant": "super", "reasonerPrecision": "fp8"},
            r"^instanceType=p5\.48xlarge would leave 6 of its 8 GPUs idle: each super fp8 task uses 1 GPU and "
            r"maxTasks=2 allows 2 tasks; use p5\.4xlarge \(1 GPU per host\), or set maxTasks >= 8 to fill one host$",
        ),
        (
            {"instanceType": "p5.48xlarge", "reasonerVariant": "super", "maxTasks": 1},
            r"leave 7 of its 8 GPUs idle.*use p5\.4xlarge",
        ),
        (
            {"instanceType": "g6e.48xlarge"},
            r"leave 6 of its 8 GPUs idle: each nano fp8 task.*use g6e\.xlarge",
        ),
        # g5.48xlarge: 7 network interfaces = 6 awsvpc tasks, so 2 A10Gs idle whatever maxTasks says.
        (
            {"instanceType": "g5.48xlarge", "reasonerVariant": "edge", "maxTasks": 8},
            r"leave 2 of its 8 GPUs idle: .*its 7 network interfaces leave room for 6 awsvpc tasks; use g5\.2xlarge",
        ),
        # super BF16 TP2: two tasks fill only 4 of 8 GPUs.
        (
            {"instanceType": "p5.48xlarge", "reasonerVariant": "super", "reasonerPrecision": "bf16"},
            r"leave 4 of its 8 GPUs idle: each super bf16 task uses 2 GPUs .*maxTasks >= 4",
        ),
    ],
)
def test_hosts_with_gpus_that_never_serve_are_refused(ctx: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        ReasonerConfig.read(Ctx(ctx))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("ctx", "tasks"),
    [
        ({"instanceType": "p5.48xlarge", "reasonerVariant": "super", "maxTasks": 8}, 8),
        ({"instanceType": "g6e.48xlarge", "maxTasks": 8}, 8),
        ({"instanceType": "g6e.12xlarge", "maxTasks": 4}, 4),
        (
            {
                "instanceType": "p5.48xlarge",
                "reasonerVariant": "super",
                "reasonerPrecision": "bf16",
                "maxTasks": 4,
            },
            4,
        ),
        ({"instanceType": "g6e.xlarge"}, 1),
    ],
)
def test_a_full_host_runs_one_task_per_gpu_group(ctx: dict[str, Any], tasks: int) -> None:
    r = ReasonerConfig.read(Ctx(ctx))
    assert r.tasks_per_instance == tasks
    assert r.tasks_per_instance * r.fit.tensor_parallel == r.instance.gpus
    assert r.tasks_per_instance <= r.instance.max_network_interfaces - 1


# ---------------------------------------------------------------------------- settings users get wrong


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["instancetype"], r"^unknown setting 'instancetype': did you mean 'instanceType'\?"),
        (["instanceTyp"], r"unknown setting 'instanceTyp': did you mean 'instanceType'\?"),
        (["allowedCIDRs"], r"did you mean 'allowedCidrs'\?"),
        (["maxtask"], r"did you mean 'maxTasks'\?"),
        (["reasonerVarient"], r"did you mean 'reasonerVariant'\?"),
    ],
)
def test_context_key_typos_are_refused_with_the_right_name(keys: list[str], message: str) -> None:
    from stacks.config import check_context_keys

    with pytest.raises(ConfigError, match=message) as err:
        check_context_keys(keys)
    assert "\n" not in str(err.value)


def test_cdk_keys_and_unrelated_keys_pass() -> None:
    from stacks.config import check_context_keys

    check_context_keys(
        [
            *context_defaults(),
            "@aws-cdk/aws-ecs:removeDefaultDeploymentAlarm",
            "@aws-cdk/core:target-partitions",
            "aws:cdk:bundling-stacks",
            "aws:cdk:enable-path-metadata",
            "availability-zones:account=123456789012:region=us-east-1",
            "acknowledged-issue-numbers",
            "myTeamTag",
        ]
    )


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (
            {"reasonerImage": "docker.io/someone/cosmos3:2.1.0"},
            r"reasonerImage docker\.io/someone/cosmos3:2\.1\.0 is not on nvcr\.io, and the NGC key is only ever "
            r"sent to nvcr\.io.*reasonerImageMirror=true",
        ),
        ({"reasonerImage": "someone/cosmos3:2.1.0"}, r"is not on nvcr\.io"),
        (
            {"reasonerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cosmos3:2.1.0"},
            r"is not on nvcr\.io",
        ),
        (
            {"reasonerImageMirror": True},
            r"reasonerImageMirror=true is for a copy outside nvcr\.io.*set reasonerImageMirror=false",
        ),
        (
            {"allowedCidrs": ["2001:db8::/32"]},
            r"allowedCidrs: '2001:db8::/32' is an IPv6 range, but the load balancer is IPv4-only",
        ),
        ({"allowedCidrs": ["203.0.113.7/32", "::/0"]}, r"'::/0' is an IPv6 range"),
    ],
)
def test_images_and_cidrs_users_get_wrong(ctx: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        ReasonerConfig.read(Ctx(ctx))
    assert "\n" not in str(err.value)


def test_a_mirrored_image_keeps_its_family() -> None:
    unified = ReasonerConfig.read(
        Ctx(
            reasonerImage="123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/cosmos3:2.1.0",
            reasonerImageMirror="true",
        )
    )
    assert unified.image_mirror and unified.unified_image
    vlm = ReasonerConfig.read(
        Ctx(reasonerImage="registry.example.com/nim/cosmos3-reasoner:1.7.0", reasonerImageMirror=True)
    )
    assert not vlm.unified_image
