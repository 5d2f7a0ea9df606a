"""ReasonerStack: what it deploys, asserted property by property, plus one snapshot of the defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from template_utils import (
    BASE_CONTEXT,
    assert_efs_requires_tls_and_iam,
    normalized,
    only,
    resources,
    template_of,
)

NGC_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ngc/cosmos3-AbC123"
MIRROR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/cosmos3:2.1.0"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"

# One synth per instance family, the last one also turning every endpoint knob away from default.
G5_EDGE: dict[str, Any] = {
    # The smallest g5 the NIM accepts: a 16 GiB g5.xlarge is below its host-memory floor.
    "instanceType": "g5.2xlarge",
    "reasonerVariant": "edge",
    "allowedCidrs": ["0.0.0.0/0"],
    # The user's own copy of the unified image in ECR: pulled without the NGC key.
    "reasonerImage": MIRROR_IMAGE,
    "reasonerImageMirror": True,
}
P5_SUPER: dict[str, Any] = {
    "instanceType": "p5.4xlarge",
    "reasonerVariant": "super",
    "reasonerImage": "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0",
    "reasonerPrecision": "fp8",
    "nimModelProfile": "vllm-fp8-tp1",
    "maxModelLen": 32768,
    "maxNumSeqs": 8,
    "gpuMemoryUtilization": 0.9,
    "videoPruningRate": 0.5,
    "certificateArn": CERT_ARN,
    "allowedCidrs": ["203.0.113.7/32", "198.51.100.0/24"],
    "internetFacing": False,
    "ngcSecretArn": NGC_ARN,
    "alarmEmail": "ops@example.com",
    "minTasks": 0,
    "maxTasks": 3,
    "requestsPerTarget": 7,
    "healthCheckGraceMinutes": 60,
    "idleTimeoutSeconds": 1200,
    "deregistrationDelaySeconds": 45,
    "rootVolumeGiB": 300,
    "containerUid": 2001,
}
P5_SUPER_BF16: dict[str, Any] = {
    "instanceType": "p5.48xlarge",
    "reasonerVariant": "super",
    "reasonerPrecision": "bf16",
    # Four TP2 tasks fill the host's 8 GPUs; fewer would leave GPUs idle and synth refuses it.
    "maxTasks": 4,
}


@pytest.fixture(scope="module")
def default(synth: Any) -> dict[str, Any]:
    return template_of(synth(), "ReasonerStack")


@pytest.fixture(scope="module")
def g5_edge(synth: Any) -> dict[str, Any]:
    return template_of(synth(**G5_EDGE), "ReasonerStack")


@pytest.fixture(scope="module")
def p5_super(synth: Any) -> dict[str, Any]:
    return template_of(synth(**P5_SUPER), "ReasonerStack")


@pytest.fixture(scope="module")
def p5_super_bf16(synth: Any) -> dict[str, Any]:
    return template_of(synth(**P5_SUPER_BF16), "ReasonerStack")


def serving_task(template: dict[str, Any]) -> dict[str, Any]:
    """The service's task definition (the stack also defines the one-off prefetch task)."""
    (task,) = [
        t["Properties"]
        for t in resources(template, "AWS::ECS::TaskDefinition").values()
        if "Nim" in [c["Name"] for c in t["Properties"]["ContainerDefinitions"]]
        and "KeyProxy" in [c["Name"] for c in t["Properties"]["ContainerDefinitions"]]
    ]
    return task


def containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["Name"]: d for d in serving_task(template)["ContainerDefinitions"]}


def container(template: dict[str, Any]) -> dict[str, Any]:
    """The NIM's container definition."""
    return containers(template)["Nim"]


def proxy(template: dict[str, Any]) -> dict[str, Any]:
    return containers(template)["KeyProxy"]


def proxy_env(template: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in proxy(template)["Environment"]}


def env(template: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container(template)["Environment"]}


def gpus(template: dict[str, Any]) -> int:
    (gpu,) = [r for r in container(template)["ResourceRequirements"] if r["Type"] == "GPU"]
    return int(gpu["Value"])


def ingress(template: dict[str, Any], group_id_fragment: str) -> list[dict[str, Any]]:
    """Inbound rules of the security group whose logical id starts with `group_id_fragment`."""
    rules = []
    for rid, res in resources(template, "AWS::EC2::SecurityGroup").items():
        if rid.startswith(group_id_fragment):
            rules += res["Properties"].get("SecurityGroupIngress", [])
    for res in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        group = res["Properties"]["GroupId"]
        if isinstance(group, dict) and group.get("Fn::GetAtt", [""])[0].startswith(group_id_fragment):
            rules.append(res["Properties"])
    return rules


def listeners(template: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {
        r["Properties"]["Port"]: r
        for r in resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    }


def rules(template: dict[str, Any]) -> dict[int, dict[str, Any]]:
    found = resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    return {r["Properties"]["Priority"]: r["Properties"] for r in found}


def lb_attributes(template: dict[str, Any]) -> dict[str, Any]:
    attrs = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["LoadBalancerAttributes"]
    return {a["Key"]: a["Value"] for a in attrs}


def outputs(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v["Value"] for k, v in template["Outputs"].items()}


# ---------------------------------------------------------------------------- snapshot


def test_default_template_snapshot(default: dict[str, Any], snapshot: Any) -> None:
    assert normalized(default) == snapshot


# ---------------------------------------------------------------------------- network


def test_created_vpc_has_two_azs_one_nat_and_flow_logs(default: dict[str, Any]) -> None:
    subnets = resources(default, "AWS::EC2::Subnet").values()
    kinds = sorted(
        next(t["Value"] for t in s["Properties"]["Tags"] if t["Key"] == "aws-cdk:subnet-type")
        for s in subnets
    )
    assert kinds == ["Private", "Private", "Public", "Public"]
    azs = {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets}
    assert len(azs) == 2
    assert len(resources(default, "AWS::EC2::NatGateway")) == 1
    assert only(default, "AWS::EC2::FlowLog")["ResourceType"] == "VPC"


VPC_ID = "vpc-0123456789abcdef0"


def _looked_up_vpc(account: str, region: str) -> dict[str, Any]:
    """What `cdk` caches in cdk.context.json for `-c vpcId=...`: two public, two private subnets."""

    def subnet(group: str, n: int, cidr: str) -> dict[str, str]:
        return {
            "subnetId": f"subnet-0{group}{n}{'0' * 14}",
            "cidr": cidr,
            "availabilityZone": f"{region}{'ab'[n - 1]}",
            "routeTableId": f"rtb-0{group}{n}{'0' * 14}",
        }

    return {
        f"vpc-provider:account={account}:filter.vpc-id={VPC_ID}:region={region}:returnAsymmetricSubnets=true": {
            "vpcId": VPC_ID,
            "vpcCidrBlock": "10.1.0.0/16",
            "ownerAccountId": account,
            "availabilityZones": [],
            "subnetGroups": [
                {
                    "name": "Public",
                    "type": "Public",
                    "subnets": [subnet("a", 1, "10.1.0.0/24"), subnet("a", 2, "10.1.1.0/24")],
                },
                {
                    "name": "Private",
                    "type": "Private",
                    "subnets": [subnet("b", 1, "10.1.16.0/20"), subnet("b", 2, "10.1.32.0/20")],
                },
            ],
        }
    }


def test_vpc_id_reuses_an_existing_vpc(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import build_app

    # `cdk` sets these from the profile; the lookup result comes from cdk.context.json.
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-east-1")
    context = {
        **BASE_CONTEXT,
        **_looked_up_vpc("123456789012", "us-east-1"),
        "vpcId": VPC_ID,
        "allowedCidrs": ["203.0.113.7/32"],
    }
    assembly = build_app(context, outdir=str(tmp_path / "cdk.out")).synth()
    private = ["subnet-0b1" + "0" * 14, "subnet-0b2" + "0" * 14]
    public = ["subnet-0a1" + "0" * 14, "subnet-0a2" + "0" * 14]
    reasoner = template_of(assembly, "ReasonerStack")
    generator = template_of(assembly, "GeneratorBatchStack")
    for template in (reasoner, generator):
        assert resources(template, "AWS::EC2::VPC") == {}
        assert resources(template, "AWS::EC2::NatGateway") == {}
        mounts = sorted(
            r["Properties"]["SubnetId"] for r in resources(template, "AWS::EFS::MountTarget").values()
        )
        assert mounts == private
    assert only(reasoner, "AWS::AutoScaling::AutoScalingGroup")["VPCZoneIdentifier"] == private
    assert (
        only(reasoner, "AWS::ECS::Service")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
        == private
    )
    assert only(reasoner, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Subnets"] == public
    assert only(generator, "AWS::Batch::ComputeEnvironment")["ComputeResources"]["Subnets"] == private


# ---------------------------------------------------------------------------- cluster and GPU hosts


def test_cluster_has_enhanced_container_insights(default: dict[str, Any]) -> None:
    settings = only(default, "AWS::ECS::Cluster")["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enhanced"} in settings


def test_gpu_hosts_use_the_ecs_gpu_al2023_ami_with_a_large_encrypted_root_volume(
    default: dict[str, Any],
) -> None:
    data = only(default, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    ami_param = data["ImageId"]["Ref"]
    assert default["Parameters"][ami_param]["Default"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    )
    assert data["InstanceType"] == "g6e.xlarge"
    assert data["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"DeleteOnTermination": True, "Encrypted": True, "VolumeSize": 200, "VolumeType": "gp3"},
        }
    ]


def test_gpu_hosts_require_imdsv2_have_no_ssh_key_and_use_ssm(default: dict[str, Any]) -> None:
    data = only(default, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert "KeyName" not in data
    assert ingress(default, "GpuCapacitySecurityGroup") == []
    Template.from_json(default).has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSSMManagedInstanceCore"],
                    ]
                }
            ],
        },
    )
    user_data = json.dumps(data["UserData"])
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in user_data
    assert "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached" in user_data


def test_hosts_live_in_private_subnets(default: dict[str, Any]) -> None:
    subnets = only(default, "AWS::AutoScaling::AutoScalingGroup")["VPCZoneIdentifier"]
    assert subnets and all("private" in s["Ref"] for s in subnets)


def test_capacity_provider_has_managed_scaling_and_termination_protection(default: dict[str, Any]) -> None:
    provider = only(default, "AWS::ECS::CapacityProvider")["AutoScalingGroupProvider"]
    assert provider["ManagedScaling"]["Status"] == "ENABLED"
    assert provider["ManagedScaling"]["TargetCapacity"] == 100
    assert provider["ManagedTerminationProtection"] == "ENABLED"
    asg = only(default, "AWS::AutoScaling::AutoScalingGroup")
    assert asg["NewInstancesProtectedFromScaleIn"] is True
    assert (asg["MinSize"], asg["MaxSize"]) == ("0", "3")  # maxTasks 2 + one spare for deploys


def test_root_volume_and_instance_follow_settings(p5_super: dict[str, Any]) -> None:
    data = only(p5_super, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert data["InstanceType"] == "p5.4xlarge"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 300


# ---------------------------------------------------------------------------- the NIM task


def test_task_uses_awsvpc_on_ec2(default: dict[str, Any]) -> None:
    task = serving_task(default)
    assert task["NetworkMode"] == "awsvpc"
    assert task["RequiresCompatibilities"] == ["EC2"]


@pytest.mark.parametrize(
    ("family", "expected"), [("default", 1), ("g5_edge", 1), ("p5_super", 1), ("p5_super_bf16", 2)]
)
def test_gpu_count_is_the_fits_tensor_parallel_size(family: str, expected: int, request: Any) -> None:
    assert gpus(request.getfixturevalue(family)) == expected


def test_shared_memory_and_ulimits_follow_nvidias_launch(default: dict[str, Any]) -> None:
    nim = container(default)
    assert nim["LinuxParameters"]["SharedMemorySize"] == 16 * 1024
    assert sorted(nim["Ulimits"], key=lambda u: u["Name"]) == [
        {"HardLimit": -1, "Name": "memlock", "SoftLimit": -1},
        {"HardLimit": 65536, "Name": "nofile", "SoftLimit": 65536},
        {"HardLimit": 67108864, "Name": "stack", "SoftLimit": 67108864},
    ]


def test_smallest_g5_still_gets_nvidias_16_gib_of_shm(g5_edge: dict[str, Any]) -> None:
    # g5.2xlarge (32 GiB) is the smallest host the NIM accepts: half its RAM is NVIDIA's 16 GiB.
    assert container(g5_edge)["LinuxParameters"]["SharedMemorySize"] == 16 * 1024


def test_container_port_user_image_and_memory(default: dict[str, Any]) -> None:
    nim = container(default)
    assert nim["Image"] == "nvcr.io/nim/nvidia/cosmos3:2.1.0"
    assert nim["PortMappings"] == [{"ContainerPort": 8000, "Protocol": "tcp"}]
    assert nim["User"] == "1000:1000"
    # NVIDIA's 16 GiB host-memory floor, a soft reservation (no hard limit the NIM would read).
    assert nim["MemoryReservation"] == 16 * 1024
    assert "Memory" not in nim
    # g6e.xlarge's 4 vCPUs, less the key proxy's share.
    assert nim["Cpu"] == 4 * 1024 - 256
    assert (proxy(default)["MemoryReservation"], proxy(default)["Cpu"]) == (256, 256)


def test_multi_gpu_host_shares_memory_between_its_tasks(p5_super_bf16: dict[str, Any]) -> None:
    # p5.48xlarge: 8 GPUs, TP2 -> four tasks per host, each with a quarter of the vCPUs and
    # NVIDIA's memory floor; the host registers far more than the four reservations.
    from stacks import gpu_catalog as cat

    nim = container(p5_super_bf16)
    assert nim["MemoryReservation"] == 16 * 1024
    assert 4 * (nim["MemoryReservation"] + 256) <= cat.INSTANCES["p5.48xlarge"].registered_memory_mib
    assert nim["Cpu"] == 192 * 1024 // 4 - 256


def test_default_environment(default: dict[str, Any]) -> None:
    values = env(default)
    assert values == {
        "AWS_REGION": {"Ref": "AWS::Region"},
        "NIM_CACHE_PATH": "/opt/nim/.cache",
        "NIM_LOGGING_JSONL": "true",
        "NIM_LOG_LEVEL": "INFO",
        "NIM_MAX_IMAGES_PER_PROMPT": "4",
        "NIM_MAX_VIDEOS_PER_PROMPT": "1",
        "NIM_MODEL_TYPE": "reasoner",
        "NIM_MODEL_VARIANT": "nano",
    }
    # auto precision = NIM_PRECISION unset; no optional knob leaks a default in.
    assert "NIM_PRECISION" not in values


def test_reasoner_only_image_uses_model_size_and_every_knob(p5_super: dict[str, Any]) -> None:
    values = env(p5_super)
    # The reasoner-only image is a NIM for VLMs: its own names for model and JSON logging.
    assert values["NIM_MODEL_SIZE"] == "super"
    assert values["NIM_JSONL_LOGGING"] == "true"
    assert not {"NIM_MODEL_VARIANT", "NIM_MODEL_TYPE", "NIM_LOGGING_JSONL"} & set(values)
    assert values["NIM_PRECISION"] == "fp8"
    assert values["NIM_MODEL_PROFILE"] == "vllm-fp8-tp1"
    assert values["NIM_MAX_MODEL_LEN"] == "32768"
    assert values["NIM_MAX_NUM_SEQS"] == "8"
    assert values["NIM_GPU_MEMORY_UTILIZATION"] == "0.9"
    assert values["NIM_VIDEO_PRUNING_RATE"] == "0.5"
    assert container(p5_super)["User"] == "2001:2001"
    assert container(p5_super)["Image"] == "nvcr.io/nim/nvidia/cosmos3-reasoner:1.7.0"


def test_edge_on_g5(g5_edge: dict[str, Any]) -> None:
    assert env(g5_edge)["NIM_MODEL_VARIANT"] == "edge"
    assert only(g5_edge, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["InstanceType"] == "g5.2xlarge"


def test_logs_go_to_cloudwatch_with_retention(default: dict[str, Any]) -> None:
    nim = container(default)
    assert nim["LogConfiguration"]["LogDriver"] == "awslogs"
    group = nim["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert default["Resources"][group]["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("family", ["default", "p5_super"])
def test_health_is_the_target_groups_ready_check_not_a_python3_command(family: str, request: Any) -> None:
    # NVIDIA's images have no python3 on PATH (cosmos3 docs use /opt/nim/.venv/bin/python): a
    # container check would fail on every task. The load balancer's readiness check decides.
    template = request.getfixturevalue(family)
    assert "HealthCheck" not in container(template)
    # (the CurlExample output uses a local python3 to read the key; the task must not rely on it)
    assert "python3" not in json.dumps(serving_task(template))
    assert only(template, "AWS::ElasticLoadBalancingV2::TargetGroup")["HealthCheckPath"] == "/v1/health/ready"


# ---------------------------------------------------------------------------- NGC secret


def test_ngc_key_parameter_is_noecho_without_default(default: dict[str, Any]) -> None:
    param = default["Parameters"]["NgcApiKey"]
    assert param["NoEcho"] is True
    assert "Default" not in param


def test_ngc_secret_is_registry_credentials_and_the_api_key_env(default: dict[str, Any]) -> None:
    (secret_id,) = [
        k
        for k, v in resources(default, "AWS::SecretsManager::Secret").items()
        if "SecretString" in v["Properties"]
    ]
    secret_string = default["Resources"][secret_id]["Properties"]["SecretString"]
    assert secret_string == {
        "Fn::Join": ["", ['{"username":"$oauthtoken","password":"', {"Ref": "NgcApiKey"}, '"}']]
    }
    nim = container(default)
    assert nim["RepositoryCredentials"] == {"CredentialsParameter": {"Ref": secret_id}}
    assert nim["Secrets"] == [
        {"Name": "NGC_API_KEY", "ValueFrom": {"Fn::Join": ["", [{"Ref": secret_id}, ":password::"]]}}
    ]
    assert "NGC_API_KEY" not in env(default)


def test_existing_ngc_secret_replaces_the_parameter(p5_super: dict[str, Any]) -> None:
    assert "NgcApiKey" not in p5_super.get("Parameters", {})
    nim = container(p5_super)
    assert nim["RepositoryCredentials"] == {"CredentialsParameter": NGC_ARN}
    assert nim["Secrets"] == [{"Name": "NGC_API_KEY", "ValueFrom": f"{NGC_ARN}:password::"}]
    assert outputs(p5_super)["NgcSecretArn"] == NGC_ARN


# ---------------------------------------------------------------------------- EFS cache


def test_efs_cache_volume_uses_tls_iam_and_the_access_point(default: dict[str, Any]) -> None:
    (volume,) = serving_task(default)["Volumes"]
    config = volume["EFSVolumeConfiguration"]
    assert config["TransitEncryption"] == "ENABLED"
    assert config["AuthorizationConfig"]["IAM"] == "ENABLED"
    (access_point_id,) = resources(default, "AWS::EFS::AccessPoint")
    assert config["AuthorizationConfig"]["AccessPointId"] == {"Ref": access_point_id}
    assert container(default)["MountPoints"] == [
        {"ContainerPath": "/opt/nim/.cache", "ReadOnly": False, "SourceVolume": volume["Name"]}
    ]


def test_efs_is_encrypted_elastic_and_owned_by_the_container_uid(
    default: dict[str, Any], p5_super: dict[str, Any]
) -> None:
    fs = only(default, "AWS::EFS::FileSystem")
    assert fs["Encrypted"] is True
    assert fs["ThroughputMode"] == "elastic"
    assert_efs_requires_tls_and_iam(fs)
    for template, uid in ((default, "1000"), (p5_super, "2001")):
        ap = only(template, "AWS::EFS::AccessPoint")
        assert ap["PosixUser"] == {"Uid": uid, "Gid": uid}
        assert ap["RootDirectory"]["CreationInfo"]["OwnerUid"] == uid


def test_task_role_may_mount_through_the_access_point(default: dict[str, Any]) -> None:
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for rid, p in resources(default, "AWS::IAM::Policy").items()
        if rid.startswith("TaskDefinitionTaskRole")
    ]
    (statements,) = policies
    assert statements[0]["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert "elasticfilesystem:AccessPointArn" in statements[0]["Condition"]["StringEquals"]


def test_nfs_reaches_efs_only_from_tasks_and_hosts(default: dict[str, Any]) -> None:
    sources = {
        r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress(default, "ModelCacheSecurityGroup")
    }
    assert {s.split("SecurityGroup")[0] for s in sources} == {"Task", "GpuCapacity"}
    assert all(r["FromPort"] == r["ToPort"] == 2049 for r in ingress(default, "ModelCacheSecurityGroup"))


# ---------------------------------------------------------------------------- load balancer


def test_target_group_health_check_and_deregistration(
    default: dict[str, Any], p5_super: dict[str, Any]
) -> None:
    tg = only(default, "AWS::ElasticLoadBalancingV2::TargetGroup")
    # The key proxy's port: the ALB never talks to the NIM's 8000 directly.
    assert tg["Port"] == 8080
    assert tg["TargetType"] == "ip"
    assert tg["HealthCheckPath"] == "/v1/health/ready"
    assert tg["HealthCheckPort"] == "8080"
    assert tg["Matcher"] == {"HttpCode": "200"}
    attrs = {a["Key"]: a["Value"] for a in tg["TargetGroupAttributes"]}
    # As long as the idle timeout: a deploy, key change or scale-in lets a 900 s request finish.
    assert attrs["deregistration_delay.timeout_seconds"] == "900"
    assert int(attrs["deregistration_delay.timeout_seconds"]) >= int(
        lb_attributes(default)["idle_timeout.timeout_seconds"]
    )
    attrs = {
        a["Key"]: a["Value"]
        for a in only(p5_super, "AWS::ElasticLoadBalancingV2::TargetGroup")["TargetGroupAttributes"]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "45"


def test_load_balancer_idle_timeout_logs_and_header_hygiene(
    default: dict[str, Any], p5_super: dict[str, Any]
) -> None:
    attrs = lb_attributes(default)
    assert attrs["idle_timeout.timeout_seconds"] == "900"
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attrs["access_logs.s3.enabled"] == "true"
    assert lb_attributes(p5_super)["idle_timeout.timeout_seconds"] == "1200"


def test_access_log_bucket_is_encrypted_private_and_tls_only(default: dict[str, Any]) -> None:
    bucket = only(default, "AWS::S3::Bucket")
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "AES256"}
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    policy = only(default, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    principals = json.dumps([s["Principal"] for s in policy if s["Effect"] == "Allow"])
    assert "logdelivery.elasticloadbalancing.amazonaws.com" in principals
    assert "ElbLogAccounts" in principals


def test_listener_forwards_everything_to_the_key_proxy_and_holds_no_key(default: dict[str, Any]) -> None:
    assert set(listeners(default)) == {80}
    (action,) = listeners(default)[80]["Properties"]["DefaultActions"]
    assert action["Type"] == "forward"
    (tg_id,) = resources(default, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert action["TargetGroupArn"] == {"Ref": tg_id}
    # No listener rule at all: nothing a DescribeRules caller could read a key from.
    assert rules(default) == {}


@pytest.mark.parametrize("family", ["default", "p5_super"])
def test_no_secret_reaches_the_load_balancer_or_any_dynamic_reference(family: str, request: Any) -> None:
    template = request.getfixturevalue(family)
    load_balancing = {
        k: v
        for k, v in template["Resources"].items()
        if v["Type"].startswith("AWS::ElasticLoadBalancingV2::")
    }
    text = json.dumps(load_balancing)
    assert "resolve:secretsmanager" not in text and "SecretsManager" not in text
    assert not any("Secret" in json.dumps(ref) for ref in _refs(load_balancing))
    # CloudFormation never resolves an API key anywhere: ECS does, at task start.
    assert "{{resolve:secretsmanager" not in json.dumps(template)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _refs(node: Any) -> list[Any]:
    """Every Ref / Fn::GetAtt target inside `node`."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Ref", "Fn::GetAtt"):
                found.append(value)
            found += _refs(value)
    elif isinstance(node, list):
        for item in node:
            found += _refs(item)
    return found


def test_named_keys_secret_reaches_only_the_key_proxy(default: dict[str, Any]) -> None:
    (secret_id,) = [
        k
        for k, v in resources(default, "AWS::SecretsManager::Secret").items()
        if "GenerateSecretString" in v["Properties"]
    ]
    generated = default["Resources"][secret_id]["Properties"]["GenerateSecretString"]
    # {"default": "<64 letters and digits>"}: the named-keys JSON that cosmosctl extends.
    assert json.loads(generated["SecretStringTemplate"]) == {}
    assert generated["GenerateStringKey"] == "default"
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True and generated["IncludeSpace"] is False
    holders = {
        name: [s["Name"] for s in c.get("Secrets", []) if s["ValueFrom"] == {"Ref": secret_id}]
        for name, c in containers(default).items()
    }
    assert holders == {"Nim": [], "KeyProxy": ["API_KEYS"]}
    # Only the execution role (which ECS uses to fetch secrets at start) may read it; the task's
    # own role, which the NIM's code runs as, may not.
    execution_role = serving_task(default)["ExecutionRoleArn"]["Fn::GetAtt"][0]
    readers = {
        role["Ref"]
        for policy in resources(default, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if {"Ref": secret_id} in _as_list(statement.get("Resource"))
        for role in policy["Properties"]["Roles"]
    }
    assert readers == {execution_role}
    assert json.dumps(proxy(default)["Environment"]).count(secret_id) == 0


def test_key_proxy_image_is_pinned_from_ecr_public_and_renders_the_template(default: dict[str, Any]) -> None:
    sidecar = proxy(default)
    assert sidecar["Image"] == "public.ecr.aws/nginx/nginx:1.30.0"
    assert sidecar["Essential"] is True
    assert sidecar["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert "RepositoryCredentials" not in sidecar  # the NGC key never goes to another registry
    command = sidecar["Command"]
    assert command[:2] == ["sh", "-c"] and command[-4:] == [
        "/docker-entrypoint.sh",
        "nginx",
        "-g",
        "daemon off;",
    ]
    values = proxy_env(default)
    assert values["NGINX_ENVSUBST_FILTER"] == "^PROXY_"
    assert "map $http_authorization $api_key_name" in values["KEY_PROXY_TEMPLATE"]
    assert values["PROXY_UPSTREAM_PORT"] == "8000"
    assert values["PROXY_MAX_BODY"] == "64m"
    assert sidecar["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "proxy"


@pytest.mark.parametrize(("family", "idle"), [("default", 900), ("p5_super", 1200)])
def test_connection_lifetimes_are_ordered(family: str, idle: int, request: Any) -> None:
    template = request.getfixturevalue(family)
    values = proxy_env(template)
    alb_idle = int(lb_attributes(template)["idle_timeout.timeout_seconds"])
    assert alb_idle == idle

    def seconds(value: str) -> int:
        assert value.endswith("s")
        return int(value[:-1])

    # ALB idle timeout < nginx keep-alive toward the ALB: the ALB closes idle connections first.
    assert seconds(values["PROXY_CLIENT_KEEPALIVE"]) > alb_idle
    # A request may stay quiet as long as the ALB allows before nginx gives up on it.
    assert seconds(values["PROXY_TIMEOUT"]) >= alb_idle
    # nginx -> NIM idle connections end before vLLM's VLLM_HTTP_TIMEOUT_KEEP_ALIVE (5 s default).
    assert seconds(values["PROXY_UPSTREAM_KEEPALIVE"]) < 5
    assert "VLLM_HTTP_TIMEOUT_KEEP_ALIVE" not in env(template)


def test_closed_by_default(default: dict[str, Any]) -> None:
    assert ingress(default, "EndpointSecurityGroup") == []
    assert outputs(default)["AllowedCidrs"].startswith("CLOSED")


def test_allowed_cidrs_open_only_the_listener_ports(p5_super: dict[str, Any]) -> None:
    rules_ = ingress(p5_super, "EndpointSecurityGroup")
    opened = sorted((r["CidrIp"], r["FromPort"]) for r in rules_)
    assert opened == [
        ("198.51.100.0/24", 80),
        ("198.51.100.0/24", 443),
        ("203.0.113.7/32", 80),
        ("203.0.113.7/32", 443),
    ]
    assert outputs(p5_super)["AllowedCidrs"] == "203.0.113.7/32, 198.51.100.0/24"


def test_tasks_accept_only_the_key_proxy_port_from_the_load_balancer(default: dict[str, Any]) -> None:
    # The NIM's 8000 is reachable from nowhere; the ALB reaches nginx on 8080 only.
    (rule,) = ingress(default, "TaskSecurityGroup")
    assert (rule["FromPort"], rule["ToPort"]) == (8080, 8080)
    assert rule["SourceSecurityGroupId"]["Fn::GetAtt"][0].startswith("EndpointSecurityGroup")
    (lb_sg,) = [
        k for k in resources(default, "AWS::EC2::SecurityGroup") if k.startswith("EndpointSecurityGroup")
    ]
    egress = [
        r["Properties"]
        for r in resources(default, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [lb_sg, "GroupId"]}
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in egress] == [(8080, 8080)]


def test_internet_facing_by_default_internal_on_request(
    default: dict[str, Any], p5_super: dict[str, Any]
) -> None:
    assert only(default, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internet-facing"
    internal = only(p5_super, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert internal["Scheme"] == "internal"
    assert all("private" in s["Ref"] for s in internal["Subnets"])


def test_certificate_gives_https_and_redirects_http(p5_super: dict[str, Any]) -> None:
    by_port = listeners(p5_super)
    assert set(by_port) == {80, 443}
    https = by_port[443]["Properties"]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": CERT_ARN}]
    assert https["DefaultActions"][0]["Type"] == "forward"
    (redirect,) = by_port[80]["Properties"]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert rules(p5_super) == {}
    assert outputs(p5_super)["EndpointUrl"]["Fn::Join"][1][0] == "https://"


# ---------------------------------------------------------------------------- service and scaling


def test_service_grace_period_and_circuit_breaker(default: dict[str, Any], p5_super: dict[str, Any]) -> None:
    service = only(default, "AWS::ECS::Service")
    assert service["HealthCheckGracePeriodSeconds"] == 45 * 60
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    assert service["LoadBalancers"] == [
        {
            "ContainerName": "KeyProxy",
            "ContainerPort": 8080,
            "TargetGroupArn": {
                "Ref": next(iter(resources(default, "AWS::ElasticLoadBalancingV2::TargetGroup")))
            },
        }
    ]
    assert only(p5_super, "AWS::ECS::Service")["HealthCheckGracePeriodSeconds"] == 60 * 60


@pytest.mark.parametrize("family", ["default", "p5_super"])
def test_service_has_no_desired_count_so_updates_keep_the_scaled_count(family: str, request: Any) -> None:
    # CloudFormation starts a new service at 1 task and leaves an existing one's count alone; the
    # scalable target's minimum (minTasks) is the floor.
    template = request.getfixturevalue(family)
    assert "DesiredCount" not in only(template, "AWS::ECS::Service")
    assert '"DesiredCount":' not in json.dumps(template)
    # The scalable target (ecs:service:DesiredCount) is what sets the count.
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"


def test_service_uses_the_gpu_capacity_provider_and_is_deleted_first(default: dict[str, Any]) -> None:
    (service_id,) = resources(default, "AWS::ECS::Service")
    service = default["Resources"][service_id]
    (provider_id,) = resources(default, "AWS::ECS::CapacityProvider")
    assert service["Properties"]["CapacityProviderStrategy"] == [
        {"CapacityProvider": {"Ref": provider_id}, "Weight": 1}
    ]
    (association_id,) = resources(default, "AWS::ECS::ClusterCapacityProviderAssociations")
    assert association_id in service["DependsOn"]


def test_scaling_bounds_and_request_tracking(default: dict[str, Any], p5_super: dict[str, Any]) -> None:
    target = only(default, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    policy = only(default, "AWS::ApplicationAutoScaling::ScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"
    ]
    assert policy["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert policy["TargetValue"] == 20
    target = only(p5_super, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)
    assert (
        only(p5_super, "AWS::ApplicationAutoScaling::ScalingPolicy")[
            "TargetTrackingScalingPolicyConfiguration"
        ]["TargetValue"]
        == 7
    )


# ---------------------------------------------------------------------------- alarms


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k.split("Alarms")[1]: v["Properties"]
        for k, v in resources(template, "AWS::CloudWatch::Alarm").items()
    }


def test_alarms_cover_no_healthy_targets_5xx_and_missing_tasks(default: dict[str, Any]) -> None:
    found = alarms(default)
    by_name = {
        next(
            n
            for n in ("NoHealthyTargets", "Target5xxRate", "LoadBalancer5xx", "TasksBelowDesired")
            if k.startswith(n)
        ): v
        for k, v in found.items()
    }
    assert set(by_name) == {"NoHealthyTargets", "Target5xxRate", "LoadBalancer5xx", "TasksBelowDesired"}
    elb = by_name["LoadBalancer5xx"]
    assert (elb["MetricName"], elb["Namespace"], elb["Statistic"]) == (
        "HTTPCode_ELB_5XX_Count",
        "AWS/ApplicationELB",
        "Sum",
    )
    assert (elb["Threshold"], elb["Period"], elb["TreatMissingData"]) == (10, 300, "notBreaching")
    healthy = by_name["NoHealthyTargets"]
    metric_names = {m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in healthy["Metrics"]}
    assert {"HealthyHostCount", "DesiredTaskCount"} <= metric_names
    assert healthy["TreatMissingData"] == "breaching"
    assert healthy["EvaluationPeriods"] == 5
    assert by_name["Target5xxRate"]["TreatMissingData"] == "notBreaching"
    errors = {
        m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
        for m in by_name["Target5xxRate"]["Metrics"]
    }
    assert {"HTTPCode_Target_5XX_Count", "RequestCount"} <= errors
    tasks = {
        m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
        for m in by_name["TasksBelowDesired"]["Metrics"]
    }
    assert {"RunningTaskCount", "DesiredTaskCount"} <= tasks
    (topic_id,) = resources(default, "AWS::SNS::Topic")
    for alarm in by_name.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_alarm_topic_is_encrypted_and_tls_only_with_optional_email(
    default: dict[str, Any], p5_super: dict[str, Any]
) -> None:
    topic = only(default, "AWS::SNS::Topic")
    assert "Fn::GetAtt" in topic["KmsMasterKeyId"]
    policy = only(default, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    assert resources(default, "AWS::SNS::Subscription") == {}
    subscription = only(p5_super, "AWS::SNS::Subscription")
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_stopped_tasks_and_failed_host_launches_reach_the_topic(default: dict[str, Any]) -> None:
    patterns = [
        r["EventPattern"] for r in (v["Properties"] for v in resources(default, "AWS::Events::Rule").values())
    ]
    ecs_rule = next(p for p in patterns if p["source"] == ["aws.ecs"])
    assert ecs_rule["detail"]["lastStatus"] == ["STOPPED"]
    assert {"containers": {"exitCode": [{"anything-but": 0}]}} in ecs_rule["detail"]["$or"]
    asg_rule = next(p for p in patterns if p["source"] == ["aws.autoscaling"])
    assert asg_rule["detail-type"] == ["EC2 Instance Launch Unsuccessful"]
    # Both reach the alarm topic, or nobody hears of them.
    (topic_id,) = resources(default, "AWS::SNS::Topic")
    for rule in resources(default, "AWS::Events::Rule").values():
        assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Ref": topic_id}]


# ---------------------------------------------------------------------------- outputs


def test_outputs_the_cli_relies_on(default: dict[str, Any]) -> None:
    out = outputs(default)
    assert {
        "EndpointUrl",
        "ApiKeySecretArn",
        "NgcSecretArn",
        "LogGroupName",
        "CurlExample",
        "AllowedCidrs",
        "ClusterName",
        "ServiceName",
    } <= set(out)
    url = out["EndpointUrl"]["Fn::Join"][1]
    assert url[0] == "http://" and len(url) == 2 and "DNSName" in json.dumps(url[1])
    curl = json.dumps(out["CurlExample"])
    assert "aws secretsmanager get-secret-value" in curl
    assert "Authorization: Bearer $KEY" in curl
    assert "/v1/models" in curl and "/v1/chat/completions" in curl
    assert "nvidia/cosmos3-nano-reasoner" in curl


# ---------------------------------------------------------------------------- placement, egress, images


def user_data(template: dict[str, Any]) -> str:
    data = only(template, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["UserData"]
    return json.dumps(data)


@pytest.mark.parametrize("family", ["default", "g5_edge", "p5_super_bf16"])
def test_hosts_reserve_memory_for_the_ecs_agent(family: str, request: Any) -> None:
    from stacks import gpu_catalog as cat

    text = user_data(request.getfixturevalue(family))
    assert f"echo ECS_RESERVED_MEMORY={cat.ECS_RESERVED_MEMORY_MIB} >> /etc/ecs/ecs.config" in text
    assert cat.ECS_RESERVED_MEMORY_MIB >= 1024


def task_egress(template: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for rid, res in resources(template, "AWS::EC2::SecurityGroup").items():
        if rid.startswith("TaskSecurityGroup"):
            rules += res["Properties"].get("SecurityGroupEgress", [])
    for res in resources(template, "AWS::EC2::SecurityGroupEgress").values():
        group = res["Properties"]["GroupId"]
        if isinstance(group, dict) and group.get("Fn::GetAtt", [""])[0].startswith("TaskSecurityGroup"):
            rules.append(res["Properties"])
    return rules


@pytest.mark.parametrize("family", ["default", "p5_super"])
def test_task_egress_is_https_out_and_nfs_to_the_cache_only(family: str, request: Any) -> None:
    # A key holder can point image_url at any URL; the task may only reach 443 anywhere and 2049 on
    # the EFS security group, so plain-HTTP or other-port services in the VPC are out of reach.
    template = request.getfixturevalue(family)
    rules = task_egress(template)
    (efs_group,) = [k for k in resources(template, "AWS::EC2::SecurityGroup") if k.startswith("ModelCache")]
    by_target = {
        (r.get("CidrIp") or r.get("DestinationSecurityGroupId", {}).get("Fn::GetAtt", [""])[0]): r
        for r in rules
    }
    assert set(by_target) == {"0.0.0.0/0", efs_group}, rules
    https = by_target["0.0.0.0/0"]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("tcp", 443, 443)
    nfs = by_target[efs_group]
    assert (nfs["IpProtocol"], nfs["FromPort"], nfs["ToPort"]) == ("tcp", 2049, 2049)
    assert not [r for r in rules if r.get("IpProtocol") == "-1" or r.get("CidrIpv6")]


def test_a_mirrored_image_is_pulled_without_the_ngc_key(g5_edge: dict[str, Any]) -> None:
    nim = container(g5_edge)
    assert "RepositoryCredentials" not in nim
    assert "mirror/cosmos3:2.1.0" in json.dumps(nim["Image"])
    # The execution role may pull exactly that repository; the NIM still gets its NGC key to
    # download weights, as an ECS secret.
    policies = json.dumps(resources(g5_edge, "AWS::IAM::Policy"))
    assert "ecr:BatchGetImage" in policies and "repository/mirror/cosmos3" in policies
    assert [s["Name"] for s in nim["Secrets"]] == ["NGC_API_KEY"]


def test_an_endpoint_open_to_the_internet_says_so(g5_edge: dict[str, Any], default: dict[str, Any]) -> None:
    assert outputs(g5_edge)["AllowedCidrs"].startswith("OPEN TO THE WHOLE INTERNET (0.0.0.0/0)")
    assert "WHOLE INTERNET" not in outputs(default)["AllowedCidrs"]
