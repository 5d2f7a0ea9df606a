"""GeneratorBatchStack: what must hold in the synthesized template (Batch, S3, IAM, EFS, secrets)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from template_utils import (
    BASE_CONTEXT,
    ROOT,
    assert_efs_requires_tls_and_iam,
    cfn_lint_findings,
    normalized,
    only,
    resources,
    template_of,
)

from stacks import gpu_catalog as catalog
from stacks.config import ConfigError, GeneratorConfig
from stacks.generator_batch_stack import BAD_SPEC_EXIT_CODE, HF_HOME, WEIGHTS_HOST_DIR

STACK = "GeneratorBatchStack"
JOB_SOURCE = ROOT / "container" / "generator" / "cosmos_generator"
# One synth with every switch flipped away from its default, so the variants cost one synth.
VARIANT = {
    "generatorSpot": True,
    "generatorImage": "123456789012.dkr.ecr.us-west-2.amazonaws.com/cosmos3-generator:1.4.0",
    "hfTokenSecretArn": "arn:aws:secretsmanager:us-west-2:123456789012:secret:cosmos/hf-token-AbC123",
    "outputRetentionDays": 90,
    "generatorInstanceTypes": ["g6e.2xlarge", "g6e.12xlarge"],
    "generatorMaxVcpus": 96,
    "generatorJobTimeoutMinutes": 45,
    "generatorRootVolumeGiB": 300,
    "generatorPrecision": "fp8",
}


class _Context:
    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def try_get_context(self, key: str) -> Any:
        return self._values.get(key)


def config_for(**overrides: Any) -> GeneratorConfig:
    return GeneratorConfig.read(_Context({**BASE_CONTEXT, **overrides}))


@pytest.fixture(scope="module")
def assembly(synth: Any) -> Any:
    return synth()


@pytest.fixture(scope="module")
def template(assembly: Any) -> dict[str, Any]:
    return template_of(assembly, STACK)


@pytest.fixture(scope="module")
def variant(synth: Any) -> dict[str, Any]:
    return template_of(synth(**VARIANT), STACK)


def job_container(template: dict[str, Any]) -> dict[str, Any]:
    return only(template, "AWS::Batch::JobDefinition")["ContainerProperties"]


def logical_id(template: dict[str, Any], rtype: str, path_part: str) -> str:
    found = [k for k in resources(template, rtype) if path_part in k]
    assert len(found) == 1, f"expected one {rtype} with {path_part!r} in its id, found {found}"
    return found[0]


def policy_statements(template: dict[str, Any], role_part: str) -> list[dict[str, Any]]:
    role = logical_id(template, "AWS::IAM::Role", role_part)
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


# ------------------------------------------------------------------------------ snapshot


def test_snapshot(template: dict[str, Any], snapshot: Any) -> None:
    assert normalized(template) == snapshot


# ------------------------------------------------------------------------------ compute


def test_compute_environment_scales_to_zero_on_the_gpu_ami(template: dict[str, Any]) -> None:
    ce = only(template, "AWS::Batch::ComputeEnvironment")
    res = ce["ComputeResources"]
    assert ce["Type"] == "managed"
    assert res["Type"] == "EC2"
    assert res["MinvCpus"] == 0
    assert res["MaxvCpus"] == BASE_CONTEXT["generatorMaxVcpus"]
    assert res["InstanceTypes"] == BASE_CONTEXT["generatorInstanceTypes"]
    assert res["Ec2Configuration"] == [{"ImageType": "ECS_AL2023_NVIDIA"}]
    assert res["AllocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    assert res["UpdateToLatestImageVersion"] is True
    # In-place updates: no replacement (which would drop queued jobs), running jobs finish.
    assert ce["ReplaceComputeEnvironment"] is False
    assert ce["UpdatePolicy"] == {"JobExecutionTimeoutMinutes": 30, "TerminateJobsOnUpdate": False}
    # The Batch service-linked role (required for in-place infrastructure updates).
    assert "ServiceRole" not in ce


def test_compute_environment_in_private_subnets(template: dict[str, Any]) -> None:
    res = only(template, "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    private = {
        k
        for k, v in resources(template, "AWS::EC2::Subnet").items()
        if {"Key": "aws-cdk:subnet-type", "Value": "Private"} in v["Properties"]["Tags"]
    }
    assert len(private) == 2
    assert {s["Ref"] for s in res["Subnets"]} == private
    sg = logical_id(template, "AWS::EC2::SecurityGroup", "Compute")
    assert res["SecurityGroupIds"] == [{"Fn::GetAtt": [sg, "GroupId"]}]
    assert "SecurityGroupIngress" not in template["Resources"][sg]["Properties"]


def test_launch_template_pinned_with_encrypted_root_volume_and_imdsv2(template: dict[str, Any]) -> None:
    res = only(template, "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    lt_id = logical_id(template, "AWS::EC2::LaunchTemplate", "Compute")
    # Batch copies the template on create/update only: a concrete version, never $Latest/$Default.
    assert res["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": lt_id},
        "Version": {"Fn::GetAtt": [lt_id, "LatestVersionNumber"]},
    }
    assert "$Latest" not in json.dumps(template)
    data = template["Resources"][lt_id]["Properties"]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {
                "DeleteOnTermination": True,
                "Encrypted": True,
                "VolumeSize": BASE_CONTEXT["generatorRootVolumeGiB"],
                "VolumeType": "gp3",
                # the host's weights cache is read from this volume: above gp3's 125 MiB/s baseline
                "Throughput": BASE_CONTEXT["generatorRootVolumeThroughput"],
                "Iops": BASE_CONTEXT["generatorRootVolumeIops"],
            },
        }
    ]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}


def _user_data(template: dict[str, Any]) -> str:
    lt_id = logical_id(template, "AWS::EC2::LaunchTemplate", "Compute")
    user_data = template["Resources"][lt_id]["Properties"]["LaunchTemplateData"]["UserData"]
    parts = user_data["Fn::Base64"]
    return parts if isinstance(parts, str) else "".join(p for p in parts["Fn::Join"][1] if isinstance(p, str))


def test_user_data_is_mime_multipart_reserving_ecs_memory_and_creating_the_weights_dir(
    template: dict[str, Any],
) -> None:
    text = _user_data(template)
    # Batch merges its own part into launch template user data, so it must be MIME multi-part.
    assert text.startswith("Content-Type: multipart/mixed; boundary=")
    assert 'Content-Type: text/x-shellscript; charset="us-ascii"' in text
    # the memory the jobs are sized around (catalog) is what the ECS agent keeps back
    assert "total_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)" in text
    percent = catalog.ECS_RESERVED_MEMORY_PERCENT
    assert f'echo "ECS_RESERVED_MEMORY=$((total_mib * {percent} / 100))" >> /etc/ecs/ecs.config' in text
    uid = BASE_CONTEXT["generatorContainerUid"]
    assert f"mkdir -p {WEIGHTS_HOST_DIR}" in text
    assert f"chown {uid}:{uid} {WEIGHTS_HOST_DIR}" in text


def test_instance_role_has_ecs_and_ssm(template: dict[str, Any]) -> None:
    role = template["Resources"][logical_id(template, "AWS::IAM::Role", "ComputeInstanceRole")]["Properties"]
    arns = json.dumps(role["ManagedPolicyArns"])
    assert "service-role/AmazonEC2ContainerServiceforEC2Role" in arns
    assert "AmazonSSMManagedInstanceCore" in arns
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_job_queue_uses_the_compute_environment(template: dict[str, Any]) -> None:
    queue = only(template, "AWS::Batch::JobQueue")
    ce = logical_id(template, "AWS::Batch::ComputeEnvironment", "Compute")
    assert queue["ComputeEnvironmentOrder"] == [
        {"ComputeEnvironment": {"Fn::GetAtt": [ce, "ComputeEnvironmentArn"]}, "Order": 1}
    ]
    reasons = {a["Reason"] for a in queue["JobStateTimeLimitActions"]}
    assert reasons == {
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    }


# ------------------------------------------------------------------------------ job definition


def test_job_resources_one_gpu_memory_vcpus_shm(template: dict[str, Any]) -> None:
    config = config_for()
    container = job_container(template)
    assert {r["Type"]: r["Value"] for r in container["ResourceRequirements"]} == {
        "GPU": "1",
        "MEMORY": str(config.job_memory_mib),
        "VCPU": str(config.job_vcpus),
    }
    # g6e.2xlarge has one GPU: the job takes its 8 vCPUs and what ECS registers, minus the reserve
    g6e_2xl = catalog.INSTANCES["g6e.2xlarge"]
    assert config.job_vcpus == 8
    assert config.job_memory_mib == catalog.ecs_registered_memory_mib(g6e_2xl)
    # 14 GiB of /dev/shm (a quarter of the job's memory; Docker's 64 MB default breaks PyTorch workers)
    assert container["LinuxParameters"] == {"SharedMemorySize": 14 * 1024, "InitProcessEnabled": True}
    assert container["LinuxParameters"]["SharedMemorySize"] < config.job_memory_mib // 2


@pytest.mark.parametrize(("instance_type", "gpus"), [("g6e.12xlarge", 4), ("p5.48xlarge", 8)])
def test_multi_gpu_hosts_run_one_job_per_gpu(instance_type: str, gpus: int) -> None:
    """A job asks for one GPU's share, so ECS places one job per GPU on the registered resources."""
    config = config_for(generatorInstanceTypes=[instance_type], generatorMaxVcpus=192)
    inst = catalog.INSTANCES[instance_type]
    registered_mib = catalog.ecs_registered_memory_mib(inst)
    assert config.job_vcpus * gpus <= inst.vcpus
    assert config.job_memory_mib * gpus <= registered_mib
    assert config.job_vcpus == inst.vcpus // gpus
    # one more job would not fit: the GPU is the binding resource, and no GPU idles
    assert catalog.jobs_per_host(instance_type, config.job_size) == gpus
    # the job still has the host RAM the model needs to stage its weights
    assert config.job_memory_mib >= config.profile.min_host_ram_gib * 1024


def test_multi_gpu_host_job_definition_asks_for_one_gpus_share(synth: Any) -> None:
    template = template_of(synth(generatorInstanceTypes=["g6e.12xlarge"], generatorMaxVcpus=96), STACK)
    requirements = {r["Type"]: r["Value"] for r in job_container(template)["ResourceRequirements"]}
    g6e_12xl = catalog.INSTANCES["g6e.12xlarge"]
    registered_mib = catalog.ecs_registered_memory_mib(g6e_12xl)
    assert requirements == {"GPU": "1", "VCPU": "12", "MEMORY": str(registered_mib // 4)}
    # four jobs fill the 48 vCPUs and the registered memory of one host
    assert 4 * int(requirements["VCPU"]) == g6e_12xl.vcpus
    assert 4 * int(requirements["MEMORY"]) <= registered_mib < 5 * int(requirements["MEMORY"])


def test_job_definition_timeout_and_security(template: dict[str, Any]) -> None:
    jobdef = only(template, "AWS::Batch::JobDefinition")
    container = jobdef["ContainerProperties"]
    assert jobdef["Timeout"] == {"AttemptDurationSeconds": BASE_CONTEXT["generatorJobTimeoutMinutes"] * 60}
    # the attempt outlasts the slowest single video: 720p with offload on the slowest GPU + cold start
    slowest_s, _ = catalog.slowest_generator_video_seconds(config_for().compute_instance_types)
    assert jobdef["Timeout"]["AttemptDurationSeconds"] >= slowest_s + catalog.JOB_SETUP_ALLOWANCE_S
    assert jobdef["PlatformCapabilities"] == ["EC2"]
    assert container["Privileged"] is False
    assert "Devices" not in container.get("LinuxParameters", {})
    uid = BASE_CONTEXT["generatorContainerUid"]
    assert container["User"] == f"{uid}:{uid}"


def test_retry_strategy_retries_host_loss_only(template: dict[str, Any]) -> None:
    strategy = only(template, "AWS::Batch::JobDefinition")["RetryStrategy"]
    assert strategy["Attempts"] == 3
    assert strategy["EvaluateOnExit"] == [
        # Host terminated (EC2 health, scale-in, Spot reclaim "Host EC2 (instance i-...) terminated.").
        {"Action": "RETRY", "OnStatusReason": "Host EC2*"},
        {"Action": "EXIT", "OnExitCode": str(BAD_SPEC_EXIT_CODE)},
        {"Action": "EXIT", "OnReason": "*"},
    ]


def test_job_environment_and_logs(template: dict[str, Any]) -> None:
    container = job_container(template)
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    bucket = logical_id(template, "AWS::S3::Bucket", "JobBucketData")
    assert env == {
        "AWS_REGION": {"Ref": "AWS::Region"},
        "WEIGHTS_S3_URI": {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/weights/"]]},
        "WEIGHTS_DIR": "/weights",
        "HF_HOME": "/weights/hf-home",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "MODEL_REVISION": catalog.GENERATOR_MODEL_REVISIONS["nano"],
        "OUTPUT_BUCKET": {"Ref": bucket},
        "OUTPUT_PREFIX": "outputs/",
        "SAFETY_CHECKER": "on",
        "GENERATOR_MODEL": "nano",
        "GENERATOR_PRECISION": "bf16",
        "GENERATOR_OFFLOAD": "none",
        "GENERATOR_COMPILE": "regional",
        "GENERATOR_COMPILE_CACHE_DIR": "/cache/torch-compile",
    }
    assert env["HF_HOME"] == HF_HOME
    log_group = logical_id(template, "AWS::Logs::LogGroup", "JobLogs")
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": log_group}
    assert (
        template["Resources"][log_group]["Properties"]["RetentionInDays"] == BASE_CONTEXT["logRetentionDays"]
    )


def test_job_image_is_the_container_asset(template: dict[str, Any], assembly: Any) -> None:
    image = json.dumps(job_container(template)["Image"])
    assert "cdk-hnb659fds-container-assets" in image
    manifest = json.loads(Path(assembly.directory, f"{STACK}.assets.json").read_text())
    (docker,) = manifest["dockerImages"].values()
    assert docker["source"]["platform"] == "linux/amd64"
    staged = Path(assembly.directory, docker["source"]["directory"])
    assert (staged / "cosmos_generator" / "__main__.py").is_file()
    # The staged build context is what the Dockerfile needs, not caches or rendered videos.
    assert not list(staged.rglob("__pycache__")) and not list(staged.rglob("*.mp4"))
    size = sum(p.stat().st_size for p in staged.rglob("*") if p.is_file())
    assert size < 20 * 1024 * 1024, f"staged job image context is {size / 1e6:.1f} MB"
    # Whatever the Dockerfile COPYs must survive the excludes, or the deploy-time build fails.
    dockerfile = (staged / "Dockerfile").read_text()
    sources = [
        word
        for line in dockerfile.splitlines()
        if line.strip().upper().startswith(("COPY ", "ADD "))
        for word in line.split()[1:-1]
        if not word.startswith("--")
    ]
    assert sources, "the Dockerfile copies nothing?"
    missing = [s for s in sources if not (staged / s).exists()]
    assert missing == [], f"Dockerfile COPY sources excluded from the staged context: {missing}"


# ------------------------------------------------------------------------------ alignment with the job


def _job_constant(name: str) -> int:
    tree = ast.parse((JOB_SOURCE / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in cosmos_generator/main.py")


def test_bad_spec_exit_code_matches_the_job() -> None:
    assert _job_constant("EXIT_INVALID_SPEC") == BAD_SPEC_EXIT_CODE


def test_every_job_variable_is_read_by_the_job(template: dict[str, Any]) -> None:
    container = job_container(template)
    names = {e["Name"] for e in container["Environment"]} | {s["Name"] for s in container["Secrets"]}
    source = "\n".join(p.read_text() for p in JOB_SOURCE.glob("*.py"))
    # Read by libraries, not by our code: huggingface_hub (HF_HOME, HF_HUB_DISABLE_TELEMETRY) and
    # boto3 (AWS_REGION).
    by_libraries = {"HF_HOME", "HF_HUB_DISABLE_TELEMETRY", "AWS_REGION"}
    unread = sorted(n for n in names - by_libraries if f'"{n}"' not in source)
    assert unread == [], f"job definition sets variables the job never reads: {unread}"


def test_submit_example_spec_is_valid_for_the_job(template: dict[str, Any]) -> None:
    parts = template["Outputs"]["SubmitJobExample"]["Value"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "<ref>" for p in parts)
    argv = shlex.split(text)
    assert argv[:3] == ["aws", "batch", "submit-job"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert set(options) == {"--job-name", "--job-queue", "--job-definition", "--container-overrides"}
    overrides = json.loads(options["--container-overrides"])
    (variable,) = overrides["environment"]
    assert variable["name"] == "JOB_SPEC"
    sys.path.insert(0, str(JOB_SOURCE.parent))
    try:
        from cosmos_generator.spec import parse_spec
    finally:
        sys.path.remove(str(JOB_SOURCE.parent))
    spec = parse_spec(json.loads(variable["value"]))
    assert spec.prompt


# ------------------------------------------------------------------------------ storage


def test_bucket_private_encrypted_tls_logged(template: dict[str, Any]) -> None:
    bucket_id = logical_id(template, "AWS::S3::Bucket", "JobBucketData")
    logs_id = logical_id(template, "AWS::S3::Bucket", "JobBucketAccessLogs")
    bucket = template["Resources"][bucket_id]
    props = bucket["Properties"]
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": "job-bucket/",
    }
    assert bucket["DeletionPolicy"] == "Retain"
    policies = [
        p["Properties"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (policy,) = policies
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [
            {"Fn::GetAtt": [bucket_id, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
        ],
    } in policy["PolicyDocument"]["Statement"]


def _lifecycle(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    bucket_id = logical_id(template, "AWS::S3::Bucket", "JobBucketData")
    rules = template["Resources"][bucket_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    return {r["Id"]: r for r in rules}


def test_lifecycle_expires_inputs_and_aborts_uploads(
    template: dict[str, Any], variant: dict[str, Any]
) -> None:
    rules = _lifecycle(template)
    assert rules["ExpireInputs"] == {
        "Id": "ExpireInputs",
        "Prefix": "inputs/",
        "ExpirationInDays": BASE_CONTEXT["inputRetentionDays"],
        "Status": "Enabled",
    }
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert "ExpireOutputs" not in rules  # outputRetentionDays unset: keep results
    assert _lifecycle(variant)["ExpireOutputs"] == {
        "Id": "ExpireOutputs",
        "Prefix": "outputs/",
        "ExpirationInDays": 90,
        "Status": "Enabled",
    }


def test_job_role_scoped_to_prefixes(template: dict[str, Any]) -> None:
    bucket_id = logical_id(template, "AWS::S3::Bucket", "JobBucketData")
    arn = {"Fn::GetAtt": [bucket_id, "Arn"]}
    statements = policy_statements(template, "JobRole")
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert sorted(s3, key=lambda s: s["Sid"]) == [
        {
            # No s3:prefix condition: a HEAD carries no prefix, so it would answer 403, not 404.
            "Sid": "ListJobBucket",
            "Action": "s3:ListBucket",
            "Effect": "Allow",
            "Resource": arn,
        },
        {
            "Sid": "MirrorWeights",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [arn, "/weights/*"]]},
        },
        {
            "Sid": "ReadJobInputs",
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [arn, "/inputs/*"]]},
        },
        {
            "Sid": "WriteJobOutputs",
            "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [arn, "/outputs/*"]]},
        },
    ]
    # Nothing else: no secret, no ECR, no wildcard resource on the job role.
    others = [s for s in statements if s not in s3]
    assert [sorted(_actions(s)) for s in others] == [
        ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    ]
    assert all(s["Resource"] != "*" for s in statements)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_weights_on_the_host_cache_and_compile_cache_on_efs(template: dict[str, Any]) -> None:
    container = job_container(template)
    fs = logical_id(template, "AWS::EFS::FileSystem", "ModelCache")
    ap = logical_id(template, "AWS::EFS::AccessPoint", "ModelCache")
    assert container["Volumes"] == [
        # weights: the host's cache on its root volume, shared by the jobs on that host
        {"Name": "weights", "Host": {"SourcePath": WEIGHTS_HOST_DIR}},
        # EFS only for the small compile caches, TLS + IAM through the access point
        {
            "Name": "compile-cache",
            "EfsVolumeConfiguration": {
                "FileSystemId": {"Ref": fs},
                "TransitEncryption": "ENABLED",
                "AuthorizationConfig": {"AccessPointId": {"Ref": ap}, "Iam": "ENABLED"},
            },
        },
    ]
    assert container["MountPoints"] == [
        {"ContainerPath": "/weights", "ReadOnly": False, "SourceVolume": "weights"},
        {"ContainerPath": "/cache", "SourceVolume": "compile-cache"},
    ]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    # every cache the job writes lives on a mounted volume
    assert env["HF_HOME"].startswith("/weights/") and env["WEIGHTS_DIR"] == "/weights"
    assert env["GENERATOR_COMPILE_CACHE_DIR"].startswith("/cache/")
    access_point = template["Resources"][ap]["Properties"]
    uid = str(BASE_CONTEXT["generatorContainerUid"])
    assert access_point["PosixUser"] == {"Uid": uid, "Gid": uid}
    assert access_point["RootDirectory"]["CreationInfo"]["OwnerUid"] == uid
    assert template["Resources"][fs]["Properties"]["Encrypted"] is True
    assert_efs_requires_tls_and_iam(template["Resources"][fs]["Properties"])
    # The job role may mount only through that access point.
    efs = [
        s for s in policy_statements(template, "JobRole") if "elasticfilesystem:ClientMount" in _actions(s)
    ]
    assert efs[0]["Resource"] == {"Fn::GetAtt": [fs, "Arn"]}
    assert "elasticfilesystem:AccessPointArn" in efs[0]["Condition"]["StringEquals"]


def test_nfs_open_only_from_the_compute_hosts(template: dict[str, Any]) -> None:
    compute_sg = logical_id(template, "AWS::EC2::SecurityGroup", "ComputeSecurityGroup")
    cache_sg = logical_id(template, "AWS::EC2::SecurityGroup", "ModelCacheSecurityGroup")
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [cache_sg, "GroupId"]}
    ]
    assert ingress == [
        {
            "Description": "NFS from the GPU hosts",
            "FromPort": 2049,
            "GroupId": {"Fn::GetAtt": [cache_sg, "GroupId"]},
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": {"Fn::GetAtt": [compute_sg, "GroupId"]},
            "ToPort": 2049,
        }
    ]
    assert "SecurityGroupIngress" not in template["Resources"][cache_sg]["Properties"]


# ------------------------------------------------------------------------------ secrets


def test_hf_token_from_noecho_parameter_never_in_template(template: dict[str, Any]) -> None:
    param = template["Parameters"]["HfToken"]
    assert param["NoEcho"] is True
    assert "Default" not in param
    secret_id = logical_id(template, "AWS::SecretsManager::Secret", "HfTokenSecret")
    assert template["Resources"][secret_id]["Properties"]["SecretString"] == {"Ref": "HfToken"}
    container = job_container(template)
    assert container["Secrets"] == [{"Name": "HF_TOKEN", "ValueFrom": {"Ref": secret_id}}]
    assert "HF_TOKEN" not in {e["Name"] for e in container["Environment"]}
    exec_secret = [
        s
        for s in policy_statements(template, "ExecutionRole")
        if "secretsmanager:GetSecretValue" in _actions(s)
    ]
    assert [s["Resource"] for s in exec_secret] == [{"Ref": secret_id}]
    assert not [s for s in policy_statements(template, "JobRole") if "secretsmanager" in json.dumps(s)]


def test_existing_hf_secret_is_referenced_not_created(variant: dict[str, Any]) -> None:
    arn = VARIANT["hfTokenSecretArn"]
    assert "HfToken" not in variant.get("Parameters", {})
    assert resources(variant, "AWS::SecretsManager::Secret") == {}
    assert job_container(variant)["Secrets"] == [{"Name": "HF_TOKEN", "ValueFrom": arn}]
    exec_secret = [
        s
        for s in policy_statements(variant, "ExecutionRole")
        if "secretsmanager:GetSecretValue" in _actions(s)
    ]
    assert [s["Resource"] for s in exec_secret] == [arn]


def test_canary_token_appears_nowhere_in_cdk_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import build_app

    canary = "hf_" + "CanaryTokenThatMustNeverBeWritten0123456789"  # split: no secret-scanner hit
    # Where a careless synth could pick a token up: the process environment.
    monkeypatch.setenv("HF_TOKEN", canary)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", canary)
    outdir = tmp_path / "cdk.out"
    build_app(
        {**BASE_CONTEXT, "generatorImage": "ghcr.io/example/cosmos3-generator:1.2.0"}, outdir=str(outdir)
    ).synth()
    leaks = [p for p in outdir.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert leaks == []
    # The same synth checks the public prebuilt image path: used as-is, no asset, no ECR grants.
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    assert job_container(template)["Image"] == "ghcr.io/example/cosmos3-generator:1.2.0"
    exec_actions = [a for s in policy_statements(template, "ExecutionRole") for a in _actions(s)]
    assert not [a for a in exec_actions if a.startswith("ecr:")]
    assert json.loads((outdir / f"{STACK}.assets.json").read_text()).get("dockerImages", {}) == {}


# ------------------------------------------------------------------------------ variants


def test_spot_uses_price_capacity_optimized_over_several_instance_types(variant: dict[str, Any]) -> None:
    res = only(variant, "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    assert res["Type"] == "SPOT"
    assert res["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    # the chosen types first, then the family's other sizes that fit the model and the job size
    config = config_for(**VARIANT)
    assert res["InstanceTypes"][:2] == VARIANT["generatorInstanceTypes"]
    assert res["InstanceTypes"] == config.compute_instance_types
    assert set(res["InstanceTypes"]) >= {"g6e.4xlarge", "g6e.8xlarge", "g6e.24xlarge"}
    for name in res["InstanceTypes"]:
        assert catalog.generator_fit_ok(name, "nano", "fp8", False)
        assert catalog.INSTANCES[name].vcpus <= VARIANT["generatorMaxVcpus"]
        assert catalog.jobs_per_host(name, config.job_size) == catalog.INSTANCES[name].gpus
    assert "g6e.xlarge" not in res["InstanceTypes"]  # 32 GiB host RAM: too small for nano
    assert "g6e.48xlarge" not in res["InstanceTypes"]  # 192 vCPUs: above generatorMaxVcpus
    assert res["MaxvCpus"] == VARIANT["generatorMaxVcpus"]
    lt = only(variant, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert lt["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == VARIANT["generatorRootVolumeGiB"]
    jobdef = only(variant, "AWS::Batch::JobDefinition")
    assert jobdef["Timeout"] == {"AttemptDurationSeconds": 45 * 60}
    # Mixed sizes: a job asks for the smallest per-GPU share of any type it may land on.
    requirements = {r["Type"]: r["Value"] for r in jobdef["ContainerProperties"]["ResourceRequirements"]}
    assert requirements == {"GPU": "1", "MEMORY": str(config.job_memory_mib), "VCPU": "8"}


def test_on_demand_launches_only_the_chosen_types(template: dict[str, Any]) -> None:
    res = only(template, "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    assert res["InstanceTypes"] == BASE_CONTEXT["generatorInstanceTypes"]


def test_prebuilt_ecr_image_instead_of_asset(synth: Any, variant: dict[str, Any]) -> None:
    image = json.dumps(job_container(variant)["Image"])
    assert "123456789012.dkr.ecr.us-west-2." in image and "cosmos3-generator:1.4.0" in image
    assert "container-assets" not in image
    manifest = json.loads(Path(synth(**VARIANT).directory, f"{STACK}.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}
    pulls = [s for s in policy_statements(variant, "ExecutionRole") if "ecr:BatchGetImage" in _actions(s)]
    assert json.dumps(pulls[0]["Resource"]).endswith(
        ':ecr:us-west-2:123456789012:repository/cosmos3-generator"]]}'
    )


# ------------------------------------------------------------------------------ outputs


def test_outputs_the_cli_relies_on(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "BucketName",
        "JobQueueArn",
        "JobDefinitionArn",
        "InputPrefix",
        "OutputPrefix",
        "SubmitJobExample",
        "LogGroupName",
    } <= set(outputs)
    assert outputs["BucketName"]["Value"] == {"Ref": logical_id(template, "AWS::S3::Bucket", "JobBucketData")}
    queue = logical_id(template, "AWS::Batch::JobQueue", "Compute")
    assert outputs["JobQueueArn"]["Value"] == {"Fn::GetAtt": [queue, "JobQueueArn"]}
    assert outputs["JobDefinitionArn"]["Value"] == {
        "Ref": logical_id(template, "AWS::Batch::JobDefinition", "Job")
    }
    # default: 32 vCPUs of g6e.2xlarge (8 vCPUs, 1 GPU) = 4 instances = 4 one-GPU jobs at once
    assert outputs["MaxConcurrentJobs"]["Value"] == "4"
    assert config_for(generatorInstanceTypes=["g6e.12xlarge"], generatorMaxVcpus=96).max_gpus == 8
    assert config_for(generatorInstanceTypes=["p5.48xlarge"], generatorMaxVcpus=192).max_gpus == 8
    assert outputs["InputPrefix"]["Value"] == "inputs/"
    assert outputs["OutputPrefix"]["Value"] == "outputs/"
    assert outputs["LogGroupName"]["Value"] == {"Ref": logical_id(template, "AWS::Logs::LogGroup", "JobLogs")}
    example = outputs["SubmitJobExample"]["Value"]["Fn::Join"][1]
    assert {"Fn::GetAtt": [queue, "JobQueueArn"]} in example


# ------------------------------------------------------------------------------ checks


def test_cdk_nag_has_no_unacknowledged_findings(assembly: Any, synth: Any) -> None:
    # app.synth() raises ValidationFailed on any finding, so reaching here means zero; the report
    # (when written) must also say so for both variants.
    for directory in (assembly.directory, synth(**VARIANT).directory):
        report = Path(directory, "validation-report.json")
        if report.exists():
            data = json.loads(report.read_text())
            failing = [r for r in data.get("pluginReports", []) if r.get("conclusion") != "success"]
            assert failing == []


@pytest.mark.parametrize("which", ["default", "variant"])
def test_cfn_lint_clean(which: str, template: dict[str, Any], variant: dict[str, Any]) -> None:
    assert cfn_lint_findings(template if which == "default" else variant) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"generatorInstanceTypes": ["g5.2xlarge"]},
            r"g5\.2xlarge cannot render nano bf16: .*A10G.*; smallest that fits: g6e\.2xlarge",
        ),
        (
            {"generatorInstanceTypes": ["g6e.xlarge"]},
            r"g6e\.xlarge cannot render nano bf16: needs >= 48 GiB host RAM.*"
            r"; smallest that fits: g6e\.2xlarge",
        ),
        (
            {"generatorInstanceTypes": ["g5.4xlarge"], "generatorPrecision": "fp8"},
            r"g5\.4xlarge cannot render nano fp8: fp8 needs compute capability >= 8\.9, NVIDIA A10G has 8\.6",
        ),
        ({"generatorModel": "ultra"}, r"generatorModel must be one of nano, super, got 'ultra'"),
        (
            {"generatorInstanceTypes": ["p4d.24xlarge"]},
            r"generatorInstanceTypes: unknown instance type 'p4d\.24xlarge'",
        ),
        (
            {"generatorImage": "ghcr.io/example/cosmos3-generator:latest"},
            r"generatorImage must pin a version tag, not ':latest'",
        ),
        (
            {"generatorImage": "ghcr.io/example/cosmos3-generator"},
            r"generatorImage must be a container image with a pinned tag",
        ),
        ({"hfTokenSecretArn": "hf_abcdefgh"}, r"hfTokenSecretArn must be a Secrets Manager secret ARN"),
        ({"generatorMaxVcpus": 4}, r"generatorMaxVcpus=4 is below the 8 vCPUs of one g6e\.2xlarge"),
        (
            {"generatorInstanceTypes": ["g6e.12xlarge"], "generatorMaxVcpus": 32},
            r"generatorMaxVcpus=32 is below the 48 vCPUs of one g6e\.12xlarge \(4 GPUs, one job per GPU\)"
            r".*; set it to >= 48$",
        ),
        (
            {"generatorInstanceTypes": ["g5.12xlarge"], "generatorOffload": True, "generatorMaxVcpus": 48},
            r"g5\.12xlarge cannot render nano bf16: needs >= 64 GiB host RAM per GPU .* has 48 per GPU "
            r"\(192 GiB for 4 GPUs, one job each\)",
        ),
        (
            {
                "generatorInstanceTypes": ["g5.8xlarge"],
                "generatorOffload": True,
                "generatorJobTimeoutMinutes": 120,
            },
            r"generatorJobTimeoutMinutes=120 is below the ~136 minutes one 720p video with offload can take "
            r"on g5\.8xlarge \(116 min estimated \+ 20 min cold start\); set it to >= 136$",
        ),
        (
            {
                "generatorModel": "super",
                "generatorPrecision": "fp8",
                "generatorOffload": True,
                "generatorInstanceTypes": ["p5.4xlarge"],
                "generatorRootVolumeGiB": 200,
            },
            r"generatorRootVolumeGiB=200 cannot hold the job image, the super weights and the guardrail on "
            r"each host; set it to >= 222$",
        ),
        (
            {"generatorRootVolumeThroughput": 1000, "generatorRootVolumeIops": 3000},
            r"generatorRootVolumeThroughput=1000 MiB/s needs generatorRootVolumeIops >= 4000",
        ),
    ],
)
def test_bad_settings_fail_with_a_clear_message(overrides: dict[str, Any], message: str) -> None:
    from app import build_app

    with pytest.raises(ConfigError, match=message):
        build_app({**BASE_CONTEXT, **overrides})


def test_no_secret_like_value_in_any_template(template: dict[str, Any], variant: dict[str, Any]) -> None:
    for t in (template, variant):
        assert not re.search(r"hf_[A-Za-z0-9]{20,}", json.dumps(t))


def test_deployment_model_settings_reach_the_job(variant: dict[str, Any]) -> None:
    env = {e["Name"]: e["Value"] for e in job_container(variant)["Environment"]}
    assert (env["GENERATOR_MODEL"], env["GENERATOR_PRECISION"], env["GENERATOR_OFFLOAD"]) == (
        "nano",
        "fp8",
        "none",
    )


def test_a10g_with_group_offload_synthesizes_without_compile(synth: Any) -> None:
    template = template_of(synth(generatorInstanceTypes=["g5.4xlarge"], generatorOffload=True), STACK)
    env = {e["Name"]: e["Value"] for e in job_container(template)["Environment"]}
    assert (env["GENERATOR_OFFLOAD"], env["GENERATOR_COMPILE"]) == ("group", "none")
    assert only(template, "AWS::Batch::ComputeEnvironment")["ComputeResources"]["InstanceTypes"] == [
        "g5.4xlarge"
    ]


def test_weights_mirror_reaches_hosts_through_the_s3_gateway_endpoint(template: dict[str, Any]) -> None:
    """The per-host copy from s3://<bucket>/weights/ must not run through the NAT gateway ($0.045/GB)."""
    endpoints = resources(template, "AWS::EC2::VPCEndpoint")
    s3 = [e for e in endpoints.values() if e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"]
    assert len(s3) == 1
    assert "s3" in json.dumps(s3[0]["Properties"]["ServiceName"])
    private_tables = {
        r["Properties"]["RouteTableId"]["Ref"]
        for r in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if "private" in json.dumps(r["Properties"]["SubnetId"]).lower()
    }
    assert private_tables and private_tables <= {t["Ref"] for t in s3[0]["Properties"]["RouteTableIds"]}


def test_model_revision_defaults_to_a_pinned_commit_for_nano() -> None:
    assert re.fullmatch(r"[0-9a-f]{40}", config_for().model_revision)
    assert (
        config_for(
            generatorModel="super",
            generatorPrecision="fp8",
            generatorOffload=True,
            generatorInstanceTypes=["p5.4xlarge"],
        ).model_revision
        == "main"
    )
    assert config_for(generatorModelRevision="v1.0").model_revision == "v1.0"
