"""GeneratorBatchStack: Cosmos 3 video generation as scale-to-zero AWS Batch GPU jobs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from stacks.config import GeneratorConfig


class GeneratorBatchStack(Stack):
    """Work in progress (skeleton)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: GeneratorConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
