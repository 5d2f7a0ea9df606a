"""Prices and month conventions the cost modules share (cost.py, idle_cost.py, video_cost.py).

us-east-1 list prices from AWS's pricing pages as of 2026-11: EBS gp3 storage
(https://aws.amazon.com/ebs/pricing/) and EFS Elastic throughput reads
(https://aws.amazon.com/efs/pricing/). One place, so the always-on vs scale-to-zero comparison,
the per-video cost and the per-request cost can never disagree on a price.
"""

from __future__ import annotations

from stacks import gpu_catalog as catalog

HOURS_PER_MONTH = 730.0  # AWS's own convention for monthly estimates (8,760 h / 12)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
EBS_GP3_GB_MONTH_USD = 0.08
EFS_ELASTIC_READ_GB_USD = 0.03


def instance_hour_usd(instance_type: str, root_volume_gib: int) -> float:
    """Catalog on-demand price of a GPU host plus its gp3 root volume, per hour."""
    inst = catalog.get_instance(instance_type)
    return inst.price_per_hour_usd + root_volume_gib * EBS_GP3_GB_MONTH_USD / HOURS_PER_MONTH
