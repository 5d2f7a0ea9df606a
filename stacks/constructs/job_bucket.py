"""The generator's S3 bucket: job inputs under inputs/, results under outputs/, access-logged."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

INPUT_PREFIX = "inputs/"
OUTPUT_PREFIX = "outputs/"


class JobBucket(Construct):
    """Private, TLS-only, encrypted bucket with expiring inputs and server access logs.

    Grants are prefix-scoped: `grant_job` lets a job read only `inputs/` and write only
    `outputs/`, so a job (or a leaked job credential) cannot overwrite inputs or read other data.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        input_retention_days: int,
        output_retention_days: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket of the job bucket; logging it into itself or a "
            "further bucket would only log the log deliveries.",
        )

        rules = [
            s3.LifecycleRule(
                id="ExpireInputs", prefix=INPUT_PREFIX, expiration=Duration.days(input_retention_days)
            ),
            # Interrupted uploads of large conditioning videos or MP4s are billed until aborted.
            s3.LifecycleRule(
                id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(7)
            ),
        ]
        if output_retention_days is not None:
            rules.append(
                s3.LifecycleRule(
                    id="ExpireOutputs", prefix=OUTPUT_PREFIX, expiration=Duration.days(output_retention_days)
                )
            )
        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="job-bucket/",
            lifecycle_rules=rules,
            # Generated videos are the user's results: keep them if the stack is deleted.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_job(self, role: iam.IGrantable) -> None:
        """Read inputs/*, write outputs/* (and read them back for the skip-if-done check)."""
        bucket = self.bucket
        principal = role.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadJobInputs",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{INPUT_PREFIX}*")],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteJobOutputs",
                # GetObject/HEAD: a retried or re-submitted item skips work already uploaded.
                # DeleteObject: a success removes the item's stale <index>.error.json.
                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                resources=[bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListJobPrefixes",
                # Without ListBucket a HEAD on a missing key answers 403 instead of 404, and the
                # job could not tell "not done yet" / "input missing" from "access denied".
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{INPUT_PREFIX}*", f"{OUTPUT_PREFIX}*"]}},
            )
        )
