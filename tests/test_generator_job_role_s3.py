"""The job's real S3 calls under the synthesized job-role policy, with IAM enforced.

moto's access-control mode (`set_initial_no_auth_action_count`) signs every call with an IAM user
that holds exactly the policy CDK synthesized for the job role, and refuses actions and resources
the policy does not allow. Two things moto does not model are added by `S3AsAws` below, as the S3
API reference documents them:

- a HEAD or GET of a missing key answers 404 only when the caller may `s3:ListBucket` the bucket,
  else 403 (docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, "Permissions");
- policy conditions (moto ignores `StringLike`): ListBucket is evaluated with the request's
  `s3:prefix` (a listing's Prefix parameter), and a HEAD or GET of an object carries none, so a
  plain `StringLike s3:prefix` condition cannot match it (Service Authorization Reference, Amazon S3
  condition keys: docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).

The evaluator is checked against the policy this stack used before (ListBucket under a
`StringLike s3:prefix` condition): there a HEAD of a missing output answers 403, as on AWS.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws, settings
from moto.core.authorization import ActionAuthenticatorMixin
from template_utils import ROOT, template_of

sys.path.insert(0, str(ROOT / "container" / "generator"))
from cosmos_generator.io import S3
from cosmos_generator.spec import SpecError

STACK = "GeneratorBatchStack"
BUCKET = "cosmos3-jobs-test"
REGION = "us-east-1"
# Calls made with moto's root credentials before IAM is enforced: the setup in `_setup`.
SETUP_CALLS = 8


# ------------------------------------------------------------------- the synthesized policy


def _resolve(value: Any, bucket_id: str) -> Any:
    """CloudFormation intrinsics -> plain strings: the job bucket by name, anything else a placeholder."""
    if isinstance(value, dict):
        if "Ref" in value:
            return BUCKET if value["Ref"] == bucket_id else f"placeholder-{value['Ref']}"
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            if logical == bucket_id and attr == "Arn":
                return f"arn:aws:s3:::{BUCKET}"
            return f"arn:aws:placeholder:::{logical}/{attr}"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_resolve(p, bucket_id)) for p in parts)
        return {k: _resolve(v, bucket_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, bucket_id) for v in value]
    return value


def job_role_policy(template: dict[str, Any]) -> dict[str, Any]:
    """Every statement of every policy attached to the job role, bucket name substituted."""
    res = template["Resources"]
    role = next(k for k, v in res.items() if v["Type"] == "AWS::IAM::Role" and k.startswith("JobRole"))
    bucket_id = next(k for k, v in res.items() if v["Type"] == "AWS::S3::Bucket" and "JobBucketData" in k)
    statements = [
        s
        for v in res.values()
        if v["Type"] == "AWS::IAM::Policy" and {"Ref": role} in v["Properties"]["Roles"]
        for s in v["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements, "no policy attached to the job role"
    return {"Version": "2012-10-17", "Statement": _resolve(statements, bucket_id)}


# ------------------------------------------------------------------- IAM conditions, S3 semantics


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """IAM condition operators the job role may use; an unknown one fails the test, not passes it."""
    for operator, keys in condition.items():
        base, if_exists = (
            (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
        )
        for key, expected in keys.items():
            if key not in context:
                if if_exists:
                    continue
                return False  # a missing key never matches a plain operator
            actual = context[key]
            if base == "StringLike":
                ok = any(fnmatch.fnmatchcase(actual, pattern) for pattern in _as_list(expected))
            elif base == "StringEquals":
                ok = actual in _as_list(expected)
            else:
                raise AssertionError(f"the test's evaluator does not know the condition operator {operator}")
            if not ok:
                return False
    return True


def allowed(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """Identity-policy evaluation: an explicit Deny wins, else any matching Allow."""
    verdict = False
    for statement in policy["Statement"]:
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"])):
            continue
        if not _condition_holds(statement.get("Condition", {}), context):
            continue
        if statement["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


def _denied(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, operation)


class S3AsAws:
    """A boto3 S3 client (against moto, IAM enforced) plus what moto leaves out (module docstring)."""

    def __init__(self, client: Any, policy: dict[str, Any]) -> None:
        self._client = client
        self._policy = policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _may_list(self, bucket: str, prefix: str | None) -> bool:
        context = {} if prefix is None else {"s3:prefix": prefix}
        return allowed(self._policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}", context)

    def _missing_key(self, err: ClientError, bucket: str, operation: str) -> ClientError:
        code = err.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound") and not self._may_list(bucket, None):
            return _denied(operation)
        return err

    def head_object(self, **kwargs: Any) -> Any:
        try:
            return self._client.head_object(**kwargs)
        except ClientError as err:
            raise self._missing_key(err, kwargs["Bucket"], "HeadObject") from None

    def get_object(self, **kwargs: Any) -> Any:
        try:
            return self._client.get_object(**kwargs)
        except ClientError as err:
            raise self._missing_key(err, kwargs["Bucket"], "GetObject") from None

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.head_object(Bucket=bucket, Key=key)  # what boto3's transfer manager does first
        self._client.download_file(bucket, key, filename)

    def list_objects_v2(self, **kwargs: Any) -> Any:
        if not self._may_list(kwargs["Bucket"], kwargs.get("Prefix")):
            raise _denied("ListObjectsV2")
        return self._client.list_objects_v2(**kwargs)


# ------------------------------------------------------------------- moto with IAM enforced


@pytest.fixture(scope="module")
def template(synth: Any) -> dict[str, Any]:
    return template_of(synth(), STACK)


def _setup(policy: dict[str, Any]) -> tuple[str, str]:
    """SETUP_CALLS calls with root credentials: the bucket, seed objects and the job-role user."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="inputs/spec.json", Body=b'{"prompt": "a robot"}')
    s3.put_object(Bucket=BUCKET, Key="outputs/job-1/0.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="private/notes.txt", Body=b"not for jobs")
    s3.put_object(Bucket=BUCKET, Key="weights/model_index.json", Body=b"{}")
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="job-role")
    iam.put_user_policy(UserName="job-role", PolicyName="job", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="job-role")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def enforced(policy: dict[str, Any]) -> Iterator[S3AsAws]:
    """moto with IAM enforced after the setup calls, as `set_initial_no_auth_action_count` does it
    (moto docs, "IAM-like Access Control"), around a whole test body rather than one function."""
    with mock_aws():
        previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
        settings.INITIAL_NO_AUTH_ACTION_COUNT = SETUP_CALLS
        ActionAuthenticatorMixin.request_count = 0
        try:
            key_id, secret = _setup(policy)
            client = boto3.client(
                "s3", region_name=REGION, aws_access_key_id=key_id, aws_secret_access_key=secret
            )
            # IAM is enforced from here on: a key outside every allowed prefix is refused.
            with pytest.raises(ClientError) as refused:
                client.get_object(Bucket=BUCKET, Key="private/notes.txt")
            assert refused.value.response["Error"]["Code"] == "AccessDenied"
            yield S3AsAws(client, policy)
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


@pytest.fixture
def job_s3(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[S3AsAws]:
    """An S3 client holding exactly the synthesized job-role policy, with IAM enforced."""
    _fake_credentials(monkeypatch)
    with enforced(job_role_policy(template)) as client:
        yield client


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


# ------------------------------------------------------------------- the job's calls


def test_retry_skip_check_sees_a_missing_output_as_not_done(job_s3: S3AsAws) -> None:
    io = S3(job_s3)
    # the HEAD the job makes before rendering an item: 404 -> not done yet (was 403 -> job failed)
    assert io.exists(BUCKET, "outputs/job-2/0.json") is False
    assert io.exists(BUCKET, "outputs/job-1/0.json") is True
    # a stale error document of an earlier attempt: absent, so nothing to delete
    assert io.exists(BUCKET, "outputs/job-2/0.error.json") is False


def test_job_reads_inputs_and_writes_outputs(job_s3: S3AsAws, tmp_path: Path) -> None:
    io = S3(job_s3)
    assert "robot" in io.read_text(f"s3://{BUCKET}/inputs/spec.json", "job spec")
    io.check_input(f"s3://{BUCKET}/inputs/spec.json", "conditioning image")
    assert io.download(f"s3://{BUCKET}/inputs/spec.json", tmp_path).read_bytes().startswith(b"{")
    # a missing input is named as missing, not as access denied
    with pytest.raises(SpecError, match="does not exist"):
        io.check_input(f"s3://{BUCKET}/inputs/nope.png", "conditioning image")
    with pytest.raises(SpecError, match="does not exist"):
        io.read_text(f"s3://{BUCKET}/inputs/nope.json", "job spec")
    video = tmp_path / "0.mp4"
    video.write_bytes(b"\x00" * 1024)
    io.put_file(BUCKET, "outputs/job-2/0.mp4", video, "video/mp4")
    io.put_json(BUCKET, "outputs/job-2/0.json", {"ok": True})
    io.put_json(BUCKET, "outputs/job-2/1.error.json", {"error": "x"})
    io.delete(BUCKET, "outputs/job-2/1.error.json")
    assert io.exists(BUCKET, "outputs/job-2/0.json") is True
    assert io.exists(BUCKET, "outputs/job-2/1.error.json") is False


def test_job_reads_lists_and_fills_the_weights_mirror(job_s3: S3AsAws, tmp_path: Path) -> None:
    listed = job_s3.list_objects_v2(Bucket=BUCKET, Prefix="weights/")
    assert [o["Key"] for o in listed["Contents"]] == ["weights/model_index.json"]
    job_s3.put_object(Bucket=BUCKET, Key="weights/transformer/model.safetensors", Body=b"w")
    body = job_s3.get_object(Bucket=BUCKET, Key="weights/transformer/model.safetensors")["Body"].read()
    assert body == b"w"
    io = S3(job_s3)
    assert io.exists(BUCKET, "weights/not-mirrored-yet.json") is False


def test_job_role_is_refused_outside_its_prefixes(job_s3: S3AsAws) -> None:
    refusals = [
        lambda: job_s3.put_object(Bucket=BUCKET, Key="inputs/spec.json", Body=b"overwrite"),
        lambda: job_s3.delete_object(Bucket=BUCKET, Key="inputs/spec.json"),
        lambda: job_s3.get_object(Bucket=BUCKET, Key="private/notes.txt"),
        lambda: job_s3.put_object(Bucket=BUCKET, Key="private/new.txt", Body=b"x"),
        lambda: job_s3.delete_object(Bucket=BUCKET, Key="weights/model_index.json"),
        lambda: job_s3.delete_bucket(Bucket=BUCKET),
        lambda: job_s3.put_bucket_policy(Bucket=BUCKET, Policy="{}"),
    ]
    for call in refusals:
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] in ("AccessDenied", "403")


def test_the_evaluator_reproduces_the_403_of_a_prefix_conditioned_list_permission(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy this stack had before: the same HEAD answers 403 and the job's check raises."""
    policy = job_role_policy(template)
    for statement in policy["Statement"]:
        if statement["Action"] == "s3:ListBucket":
            statement["Condition"] = {"StringLike": {"s3:prefix": ["inputs/*", "outputs/*"]}}
    _fake_credentials(monkeypatch)
    with enforced(policy) as client:
        with pytest.raises(ClientError) as err:
            S3(client).exists(BUCKET, "outputs/job-2/0.json")
        assert err.value.response["Error"]["Code"] == "403"
        # and a prefixed listing outside the condition is refused by the same evaluator
        with pytest.raises(ClientError):
            client.list_objects_v2(Bucket=BUCKET, Prefix="private/")
