#!/usr/bin/env python3
"""Job throughput on one GPU: the real entrypoint over a manifest vs the benchmark's s/video.

Starts a local S3 (local_s3.py), uploads a manifest of N identical-size prompts, runs
``python -m cosmos_generator`` as one worker in a fresh process (cold: empty compile cache) with the
stack's default environment and the full-size random-weight pipeline, timed from process start to
exit (the worker exits after its last upload). Then runs ``bench.py run --paths job-default`` in a
fresh process (its own empty compile cache) for the same resolution, frames and path, and writes
``{"kind": "job-throughput", ...}`` with efficiency = videos * per_video_s / wall_s, where
per_video_s = steps * (bench s/step) + (bench decode s): the benchmark's seconds per video for the
same number of steps.

Usage (GPU machine): python devtools/job_throughput.py --videos 16 --steps 10 --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = HERE.parent
RES = {"256p": (256, 448), "480p": (480, 832), "720p": (720, 1280)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument("--frames", type=int, default=189)
    ap.add_argument("--resolution", default="480p")
    ap.add_argument("--port", type=int, default=9555)
    ap.add_argument("--loader", default="cosmos_generator.random_pipeline:load_full")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-bench", action="store_true")
    ap.add_argument("--compile", default="regional", help="GENERATOR_COMPILE (the stack's default: regional)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="job-throughput-"))
    height, width = RES.get(args.resolution) or tuple(int(v) for v in args.resolution.split("x"))

    config = work / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\nrequest_checksum_calculation = when_required\n"
        "response_checksum_validation = when_required\ns3 =\n    addressing_style = path\n"
    )
    aws_env = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{args.port}",
    }
    os.environ.update(aws_env)
    server = subprocess.Popen([sys.executable, str(HERE / "local_s3.py"), str(args.port)])
    try:
        import boto3

        s3 = boto3.client("s3")
        for _ in range(50):
            try:
                s3.create_bucket(Bucket="jobs")
                break
            except Exception:
                time.sleep(0.1)
        prompts = [
            f"A robot arm in a bright kitchen picks up cup number {i} from a white table; static camera."
            for i in range(args.videos)
        ]
        manifest = "".join(
            json.dumps({"prompt": p, "height": height, "width": width, "num_frames": args.frames,
                        "steps": args.steps, "guidance": 6.0, "seed": i}) + "\n"
            for i, p in enumerate(prompts)
        )  # fmt: skip
        s3.put_object(Bucket="jobs", Key="inputs/t/manifest.jsonl", Body=manifest.encode())
        job_env = {
            **os.environ,
            **aws_env,
            # what the stack's job definition sets (generator_batch_stack.py), guardrail off: the
            # random weights have no guardrail checkpoints
            "OUTPUT_BUCKET": "jobs",
            "OUTPUT_PREFIX": "outputs/",
            "MODEL_REVISION": "main",
            "SAFETY_CHECKER": "off",
            "GENERATOR_MODEL": "nano",
            "GENERATOR_PRECISION": "bf16",
            "GENERATOR_OFFLOAD": "none",
            "GENERATOR_COMPILE": args.compile,
            "GENERATOR_COMPILE_CACHE_DIR": str(work / "compile-cache-job"),
            "PIPELINE_LOADER": args.loader,
            "JOB_SPEC_URI": "s3://jobs/inputs/t/manifest.jsonl",
            "AWS_BATCH_JOB_ID": "throughput:0",
            "AWS_BATCH_JOB_ARRAY_INDEX": "0",
            "WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        log_path = out / "job.log"
        started = time.perf_counter()
        with log_path.open("w") as log:
            code = subprocess.run(
                [sys.executable, "-m", "cosmos_generator"],
                env=job_env,
                cwd=GENERATOR,
                stdout=log,
                stderr=subprocess.STDOUT,
            ).returncode
        wall = time.perf_counter() - started
        listed = s3.list_objects_v2(Bucket="jobs", Prefix="outputs/throughput/").get("Contents", [])
        videos = sum(1 for o in listed if o["Key"].endswith(".mp4"))
        metas = sum(1 for o in listed if o["Key"].endswith(".json") and not o["Key"].endswith("error.json"))
        stats = json.loads(s3.get_object(Bucket="jobs", Key="__stats__")["Body"].read())
        records = []
        for line in log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        phases: dict[str, list[float]] = {}
        for r in records:
            if r.get("event") == "phase":
                phases.setdefault(r["phase"], []).append(r["seconds"])
        job = {
            "exit_code": code,
            "wall_s": round(wall, 1),
            "videos_uploaded": videos,
            "metadata_uploaded": metas,
            "s3_requests": stats,
            "phases": {
                k: {"n": len(v), "sum_s": round(sum(v), 2), "first_s": v[0], "last_s": v[-1]}
                for k, v in phases.items()
            },
            "generate_steady": {
                key: sorted(
                    r[key]
                    for r in records
                    if r.get("phase") == "generate" and r.get("index", 0) > 0 and key in r
                )[(args.videos - 1) // 2]
                if args.videos > 1
                else None
                for key in ("seconds", "denoise_seconds", "first_step_seconds", "step_seconds_median")
            },
            "worker_done": next((r for r in records if r.get("event") == "worker_done"), None),
            "optimize": next((r for r in records if r.get("phase") == "optimize"), None),
        }
        print("[job]", json.dumps(job), flush=True)
        (out / "job-summary.json").write_text(json.dumps(job, indent=2))
    finally:
        server.terminate()

    if args.skip_bench:
        return 0
    bench_out = out / "bench-job-default.json"
    bench = subprocess.run(
        [sys.executable, str(GENERATOR / "bench.py"), "run", "--resolutions", args.resolution, "--paths", "job-default",
         "--frames", str(args.frames), "--cache-dir", str(work / "compile-cache-bench"), "--out", str(bench_out)],
        cwd=GENERATOR,
    )  # fmt: skip
    result = json.loads(bench_out.read_text())["results"][0]
    per_video = args.steps * result["s_per_step"] + (result["decode_s"] or 0.0)
    import torch

    record = {
        "kind": "job-throughput",
        "gpu": torch.cuda.get_device_name(0),
        "path": "job-default (stack defaults: bf16, regional compile, attention auto, offload none; guardrail off)",
        "resolution": f"{args.resolution} ({height}x{width}, {args.frames} frames)",
        "videos": videos,
        "steps": args.steps,
        "wall_s": round(wall, 1),
        "per_video_s": round(per_video, 2),
        "efficiency": round(videos * per_video / wall, 3),
        "bench": {k: result.get(k) for k in ("s_per_step", "decode_s", "first_call_overhead_s", "apply_s", "peak_gib_total")},
        "bench_exit_code": bench.returncode,
        "job": job,
    }  # fmt: skip
    (out / "job-throughput.json").write_text(json.dumps(record, indent=2))
    print("[result]", json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
