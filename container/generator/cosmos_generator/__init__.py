"""Cosmos 3 video generation as an AWS Batch job: spec in, MP4 and metadata out to S3."""
