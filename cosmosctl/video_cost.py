"""Cost of one generated video, in parts: GPU time, the worker's start amortized, storage reads, S3 requests.

A generation job is an array of workers; each loads the model once and renders its share of the
manifest (container/generator/cosmos_generator/main.py). So a video pays its own GPU seconds plus
1/N of its worker's fixed start (N videos per worker), plus the S3 requests of its outputs and its
share of the worker's storage reads (weights from the S3 mirror into the host's disk, the compile
cache from EFS).

Prices: Amazon S3 Standard requests in us-east-1, $0.005 per 1,000 PUT/COPY/POST/LIST and $0.0004
per 1,000 GET and all other requests (HEAD); data from S3 to EC2 in the same region is free
(https://aws.amazon.com/s3/pricing/). EFS Elastic throughput reads $0.03 per GB
(https://aws.amazon.com/efs/pricing/).
"""

from __future__ import annotations

import math
from typing import Any

from cosmosctl.prices import EFS_ELASTIC_READ_GB_USD

S3_PUT_PER_1000_USD = 0.005
S3_GET_PER_1000_USD = 0.0004
GB = 1e9
GIB = 2**30

# Measured, H200, the job's default path from process start, cold compile cache
# (docs/benchmarks/h200-job-throughput-2026-11-29.json: phases_s).
WORKER_START_S = 8.9  # interpreter, torch and diffusers imports
MODEL_LOAD_S = 20.7  # pipeline built and placed on the GPU, optimizations applied
COMPILE_COLD_S = 22.7  # first video's extra time: regional torch.compile with an empty cache
JOB_OVERHEAD_PER_VIDEO_S = 1.5  # prompt encoding and set-up the benchmark's s/video leaves out
# Nano's weights (~30 GiB in bf16, measured as GPU memory after load) copied once per host from the
# S3 mirror (weights.py: 16 files in flight, 8 parts each). Throughput assumed (a g6e.2xlarge has up
# to 20 Gbit/s); only a deploy measures it: the job logs it ("weights" event, mb_per_s).
WEIGHTS_GIB = 30.0
S3_COPY_GB_PER_S = 1.0
S3_PART_BYTES = 64 * 2**20  # weights.py's multipart chunk: one GET per part
# Compiled kernels and FlashAttention 4's cache, read from EFS by each worker (assumed).
COMPILE_CACHE_GB = 0.5
# Per video: the MP4 (~11 MB at 480p in the measured run: multipart above boto3's 8 MB threshold,
# create + 2 parts + complete) and the metadata JSON are PUT-priced; the skip check and the stale
# error check are HEADs. The measured run made 50 PUT + 32 POST + 32 HEAD for 16 videos.
PUT_REQUESTS_PER_VIDEO = 5
GET_REQUESTS_PER_VIDEO = 2
DEFAULT_VIDEOS_PER_WORKER = 50


def worker_start_s(*, warm_host: bool = False) -> float:
    """Seconds a worker spends before its first video renders at full speed.

    Upper bound by default: a cold host (the worker waits for the weight copy from S3) and a cold
    compile cache. On a warm host the copy is skipped.
    """
    copy_s = 0.0 if warm_host else WEIGHTS_GIB * GIB / GB / S3_COPY_GB_PER_S
    return WORKER_START_S + copy_s + MODEL_LOAD_S + COMPILE_COLD_S


def per_video(
    *, gpu_hour_usd: float, seconds: float, videos_per_worker: int, worker_start: float | None = None
) -> dict[str, Any]:
    """USD per video and its parts for a GPU costing ``gpu_hour_usd`` (one GPU per worker)."""
    if videos_per_worker < 1:
        raise ValueError("videos_per_worker must be >= 1")
    start_s = worker_start_s() if worker_start is None else worker_start
    gpu_per_s = gpu_hour_usd / 3600
    weight_gets = math.ceil(WEIGHTS_GIB * GIB / S3_PART_BYTES)
    worker_reads = weight_gets * S3_GET_PER_1000_USD / 1000 + COMPILE_CACHE_GB * EFS_ELASTIC_READ_GB_USD
    parts = {
        "gpu_usd": seconds * gpu_per_s,
        "job_overhead_usd": JOB_OVERHEAD_PER_VIDEO_S * gpu_per_s,
        "worker_start_usd": start_s * gpu_per_s / videos_per_worker,
        "storage_reads_usd": worker_reads / videos_per_worker,
        "requests_usd": (
            PUT_REQUESTS_PER_VIDEO * S3_PUT_PER_1000_USD + GET_REQUESTS_PER_VIDEO * S3_GET_PER_1000_USD
        )
        / 1000,
    }
    return {
        "seconds": seconds,
        "job_overhead_s": JOB_OVERHEAD_PER_VIDEO_S,
        "worker_start_s": round(start_s, 1),
        "videos_per_worker": videos_per_worker,
        "parts_usd": {k: round(v, 6) for k, v in parts.items()},
        "total_usd": sum(parts.values()),
    }


def efs_reload_usd_per_container() -> float:
    """What the old design paid per container: every container read the weights from EFS Elastic."""
    return WEIGHTS_GIB * GIB / GB * EFS_ELASTIC_READ_GB_USD
