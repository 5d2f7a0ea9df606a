"""What every GPU host of both stacks shares, whatever schedules it (ECS capacity provider or Batch)."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2

# The root device of the ECS-optimised Amazon Linux 2023 AMIs.
ROOT_DEVICE = "/dev/xvda"


def root_volume(size_gib: int, *, throughput: int | None = None, iops: int | None = None) -> ec2.BlockDevice:
    """An encrypted gp3 root volume sized for multi-GB GPU container images.

    The ECS AMI's default 30 GB cannot hold a NIM or CUDA PyTorch image plus its extracted layers
    ("no space left on device"); the volume goes away with the instance. `throughput` (MiB/s) and
    `iops` raise gp3 above its 125 MiB/s / 3000 IOPS baseline; None keeps the baseline.
    """
    return ec2.BlockDevice(
        device_name=ROOT_DEVICE,
        volume=ec2.BlockDeviceVolume.ebs(
            size_gib,
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            throughput=throughput,
            iops=iops,
            encrypted=True,
            delete_on_termination=True,
        ),
    )
