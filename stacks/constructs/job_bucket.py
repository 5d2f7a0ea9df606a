"""The generator's S3 bucket: job inputs under inputs/, results under outputs/, access-logged."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

INPUT_PREFIX = "inputs/"
OUTPUT_PREFIX = "outputs/"
# The S3 mirror of the Hugging Face weights: the first job fills it from the Hub, every later job
# (on any host) copies the weights from here into its host's local cache.
WEIGHTS_PREFIX = "weights/"


class JobBucket(Construct):
    """Private, TLS-only, encrypted bucket with expiring inputs and server access logs.

    Object grants are prefix-scoped: `grant_job` lets a job read only `inputs/`, write only
    `outputs/` and read/write the weights mirror `weights/`, so a job (or a leaked job
    credential) cannot overwrite inputs.
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
        """Read inputs/*, write outputs/*, read and fill the weights mirror, list the bucket."""
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
                # AbortMultipartUpload: boto3's upload_file cleans up a failed multipart upload.
                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="MirrorWeights",
                # The first job copies the weights from the Hub into weights/, later jobs read them.
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{WEIGHTS_PREFIX}*")],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListJobBucket",
                # Without ListBucket a HEAD or GET of a missing key answers 403, not 404 (S3 API
                # reference, HeadObject "Permissions": docs.aws.amazon.com/AmazonS3/latest/API/
                # API_HeadObject.html), and the job could not tell "not done yet" from "access
                # denied". No s3:prefix condition: a HEAD carries no prefix, so a `StringLike
                # s3:prefix` condition never matches it and every HEAD of a missing output would
                # answer 403; an `...IfExists` variant would still allow an unprefixed listing.
                # Listing shows key names of this stack's own job bucket only, never contents.
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
            )
        )
