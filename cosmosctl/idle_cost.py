"""What an always-on reasoner costs against one that scales to zero (idleMinutes), for a daily usage pattern.

Only the parts that differ are compared: GPU instance hours (with their root volumes), the warm
pool's stopped host, and the EFS reads of each wake. The stack's fixed parts (ALB, NAT gateway,
logs, secrets, the EFS storage) are the same either way; `cosmosctl cost` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from cosmosctl.prices import (
    DAYS_PER_MONTH,
    EBS_GP3_GB_MONTH_USD,
    EFS_ELASTIC_READ_GB_USD,
    HOURS_PER_MONTH,
    instance_hour_usd,
)

# ECS managed scaling removes an empty host after 15 minutes below its target
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/managed-scaling-behavior.html).
HOST_SCALE_IN_MINUTES = 15.0
# Expected wake: warm host + cached image + weights on EFS (docs/deploy-reasoner.md, "Scale to zero").
DEFAULT_WAKE_MINUTES = 8.0
# After each sleep the warm pool launches a fresh host that pulls the NIM image and stops: billed
# minutes of GPU instance per refill (boot + pull of a ~20 GB image, docs/deploy-reasoner.md).
WARM_POOL_REFILL_MINUTES = 10.0


@dataclass(frozen=True)
class UsagePattern:
    active_hours_per_day: float
    wakes_per_day: float
    idle_minutes: float
    wake_minutes: float = DEFAULT_WAKE_MINUTES


def state_monthly_usd(
    instance_type: str, running_hosts: int, stopped_hosts: int, root_volume_gib: int
) -> float:
    """Monthly GPU cost if the endpoint stayed as it is now: running hosts plus stopped warm-pool volumes."""
    stopped = stopped_hosts * root_volume_gib * EBS_GP3_GB_MONTH_USD
    return running_hosts * instance_hour_usd(instance_type, root_volume_gib) * HOURS_PER_MONTH + stopped


def compare(
    *, instance_type: str, root_volume_gib: int, cache_gib: float, usage: UsagePattern
) -> dict[str, Any]:
    """Monthly USD of the GPU side of an always-on endpoint and of a scale-to-zero one, with the basis."""
    if usage.wakes_per_day < 0 or not 0 <= usage.active_hours_per_day <= 24:
        raise ValueError("active hours must be within 0-24 and wakes per day >= 0")
    hour = instance_hour_usd(instance_type, root_volume_gib)
    always_on = hour * HOURS_PER_MONTH
    # Each active burst ends with idle_minutes of waiting and a host that lingers before scale-in;
    # each wake bills its own minutes before the first answer.
    tail_hours = usage.wakes_per_day * (usage.idle_minutes + HOST_SCALE_IN_MINUTES + usage.wake_minutes) / 60
    awake_hours_per_day = min(24.0, usage.active_hours_per_day + tail_hours)
    refill_hours_per_day = usage.wakes_per_day * WARM_POOL_REFILL_MINUTES / 60
    gpu = hour * (awake_hours_per_day + refill_hours_per_day) * DAYS_PER_MONTH
    warm_pool_volume = root_volume_gib * EBS_GP3_GB_MONTH_USD  # one stopped host, all month
    efs_reads = usage.wakes_per_day * DAYS_PER_MONTH * cache_gib * EFS_ELASTIC_READ_GB_USD
    scale_to_zero = gpu + warm_pool_volume + efs_reads
    return {
        "instance": instance_type,
        "instance_hour_usd": round(hour, 4),
        "active_hours_per_day": usage.active_hours_per_day,
        "wakes_per_day": usage.wakes_per_day,
        "idle_minutes": usage.idle_minutes,
        "wake_minutes": usage.wake_minutes,
        "awake_hours_per_day": round(awake_hours_per_day, 2),
        "always_on_monthly_usd": round(always_on, 2),
        "scale_to_zero_monthly_usd": round(scale_to_zero, 2),
        "scale_to_zero_parts_usd": {
            "gpu_hours": round(gpu, 2),
            "warm_pool_volume": round(warm_pool_volume, 2),
            "efs_reads": round(efs_reads, 2),
        },
        "monthly_savings_usd": round(always_on - scale_to_zero, 2),
        "cheaper": "scale-to-zero" if scale_to_zero < always_on else "always-on",
        "basis": (
            f"Catalog price of {instance_type} plus its {root_volume_gib} GiB gp3 root volume; awake = active "
            f"hours + per wake {usage.idle_minutes:g} idle min + {HOST_SCALE_IN_MINUTES:g} min host scale-in + "
            f"{usage.wake_minutes:g} min wake; per wake a {WARM_POOL_REFILL_MINUTES:g} min warm-pool refill and "
            f"{cache_gib:g} GiB of EFS reads; one stopped warm-pool volume all month. Fixed stack costs are "
            "the same either way."
        ),
    }


def comparison_table(result: dict[str, Any]) -> Table:
    """The always-on vs scale-to-zero table `cosmosctl cost` prints."""
    table = Table(
        title=(
            f"Always-on vs scale-to-zero ({result['instance']}: {result['active_hours_per_day']:g} active h/day, "
            f"{result['wakes_per_day']:g} wakes/day, idleMinutes={result['idle_minutes']:g})"
        )
    )
    table.add_column("mode")
    table.add_column("USD per month", justify="right")
    table.add_column("basis")
    table.add_row("always-on (default)", f"{result['always_on_monthly_usd']:.2f}", "one warm task, 730 h")
    parts = result["scale_to_zero_parts_usd"]
    table.add_row(
        "scale-to-zero",
        f"{result['scale_to_zero_monthly_usd']:.2f}",
        f"awake {result['awake_hours_per_day']:g} h/day: GPU {parts['gpu_hours']:.2f} + warm-pool volume "
        f"{parts['warm_pool_volume']:.2f} + EFS reads {parts['efs_reads']:.2f}",
    )
    table.add_row(
        f"[bold]{result['cheaper']} saves[/]",
        f"[bold]{abs(result['monthly_savings_usd']):.2f}[/]",
        "per month",
    )
    return table
