"""`cosmosctl bench`: a bounded load test of the reasoner endpoint (latency, TTFT, tokens/s, errors)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cosmosctl import client as cclient
from cosmosctl.ask import DEFAULT_MAX_IMAGES, DEFAULT_MAX_PAYLOAD_MIB, build_messages
from cosmosctl.aws import REASONER_STACK
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.endpoint import resolve_endpoint
from cosmosctl.errors import CosmosError
from cosmosctl.media import DEFAULT_MAX_FRAMES, DEFAULT_MAX_SIDE, check_limits
from cosmosctl.options import (
    ApiKeyOpt,
    EndpointOpt,
    MaxFramesOpt,
    MaxVideoSideOpt,
    RegionOpt,
    ServerSideSamplingOpt,
    StackOpt,
    VideoFpsOpt,
)
from cosmosctl.shared import BENCH_FORMAT, catalog_instance

MAX_CONCURRENCY = 256
MAX_REQUESTS = 10_000
DEFAULT_PROMPT = "Describe what you see in detail."
DEFAULT_TEXT_PROMPT = "Explain, step by step, how to find and fix a slow leak under a kitchen sink."


@dataclass
class Sample:
    """One request's measurements."""

    ok: bool
    latency_s: float
    ttft_s: float | None = None
    output_tokens: int = 0
    error: str | None = None


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _stats(values: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "mean": r(sum(values) / len(values)) if values else None,
        "max": r(max(values)) if values else None,
    }


def one_request(oai: Any, model: str, messages: list[dict[str, Any]], max_tokens: int) -> Sample:
    """Send one streamed chat completion; time to first token, latency and output tokens."""
    started = time.perf_counter()
    ttft: float | None = None
    pieces = 0
    usage_tokens: int | None = None
    try:
        for chunk in cclient.chat_completion(oai, model, messages, max_tokens=max_tokens, stream=True):
            if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                usage_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    if ttft is None:
                        ttft = time.perf_counter() - started
                    pieces += 1
    except CosmosError as exc:
        return Sample(ok=False, latency_s=time.perf_counter() - started, error=exc.message)
    latency = time.perf_counter() - started
    # Usage from the server is exact; without it each streamed delta is about one token.
    return Sample(ok=True, latency_s=latency, ttft_s=ttft, output_tokens=usage_tokens or pieces)


def run_bench(
    oai: Any,
    model: str,
    messages: list[dict[str, Any]],
    *,
    concurrency: int,
    requests: int,
    max_tokens: int,
    warmup: int = 0,
    on_done: Any = None,
) -> tuple[list[Sample], float]:
    """Run ``requests`` requests with at most ``concurrency`` in flight; returns samples and wall time."""
    for _ in range(warmup):
        one_request(oai, model, messages, max_tokens)
    lock = threading.Lock()

    def task(_: int) -> Sample:
        sample = one_request(oai, model, messages, max_tokens)
        if on_done is not None:
            with lock:
                on_done(sample)
        return sample

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        samples = list(pool.map(task, range(requests)))
    return samples, time.perf_counter() - started


def summarize(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    """Aggregate samples into the bench result's measurement fields."""
    ok = [s for s in samples if s.ok]
    tokens = sum(s.output_tokens for s in ok)
    decode_rates = [
        s.output_tokens / (s.latency_s - s.ttft_s)
        for s in ok
        if s.ttft_s is not None and s.output_tokens > 1 and s.latency_s > s.ttft_s
    ]
    return {
        "ok": len(ok),
        "errors": len(samples) - len(ok),
        "error_messages": dict(Counter(s.error for s in samples if not s.ok and s.error)),
        "wall_s": round(wall_s, 4),
        "requests_per_s": round(len(ok) / wall_s, 4) if wall_s > 0 else None,
        "latency_s": _stats([s.latency_s for s in ok]),
        "ttft_s": _stats([s.ttft_s for s in ok if s.ttft_s is not None]),
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / wall_s, 2) if wall_s > 0 else None,
        "mean_output_tokens": round(tokens / len(ok), 1) if ok else None,
        "per_request_decode_tokens_per_s": _stats(decode_rates),
    }


def bench_command(
    concurrency: Annotated[
        int, typer.Option(min=1, max=MAX_CONCURRENCY, help="Requests in flight at once.")
    ] = 4,
    requests: Annotated[int, typer.Option(min=1, max=MAX_REQUESTS, help="Requests to send in total.")] = 32,
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="Image to send with every request.")
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", "-v", help="MP4 video to send with every request.")
    ] = None,
    fps: VideoFpsOpt = None,
    max_frames: MaxFramesOpt = DEFAULT_MAX_FRAMES,
    max_video_side: MaxVideoSideOpt = DEFAULT_MAX_SIDE,
    server_side_sampling: ServerSideSamplingOpt = False,
    prompt: Annotated[
        str | None, typer.Option(help="Question to ask (default depends on the media).")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per answer.")] = 256,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed requests sent first.")] = 1,
    instance: Annotated[
        str | None, typer.Option(help="Instance type the endpoint runs on, recorded for `cosmosctl cost`.")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the JSON result (default: bench-<time>.json)."),
    ] = None,
    endpoint: EndpointOpt = None,
    api_key: ApiKeyOpt = None,
    model: Annotated[str | None, typer.Option(help="Model id (default: from GET /v1/models).")] = None,
    timeout: Annotated[
        float, typer.Option(help="Per-request timeout in seconds.")
    ] = cclient.DEFAULT_TIMEOUT_S,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Client retries per request (0 so errors are counted, not hidden).")
    ] = 0,
    max_images: Annotated[
        int, typer.Option(min=0, help="Most images per prompt (NIM_MAX_IMAGES_PER_PROMPT).")
    ] = DEFAULT_MAX_IMAGES,
    max_payload_mib: Annotated[
        float, typer.Option(min=0.0, help="Request size limit in MiB.")
    ] = DEFAULT_MAX_PAYLOAD_MIB,
    stack: StackOpt = REASONER_STACK,
    region: RegionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON on stdout too.")] = False,
) -> None:
    """Load-test the endpoint with a bounded number of requests and write a JSON result."""
    _bench(
        concurrency=concurrency, requests=requests, images=image or [], video=video, fps=fps, prompt=prompt,
        max_frames=max_frames, max_video_side=max_video_side, server_side_sampling=server_side_sampling,
        max_tokens=max_tokens, warmup=warmup, instance=instance, out_file=out_file, endpoint=endpoint,
        api_key=api_key, model=model, timeout=timeout, max_retries=max_retries, max_images=max_images,
        max_payload_mib=max_payload_mib, stack=stack, region=region, as_json=as_json,
    )  # fmt: skip


@handle_errors
def _bench(
    *,
    concurrency: int,
    requests: int,
    images: list[str],
    video: str | None,
    fps: float | None,
    max_frames: int,
    max_video_side: int,
    server_side_sampling: bool,
    prompt: str | None,
    max_tokens: int,
    warmup: int,
    instance: str | None,
    out_file: Path | None,
    endpoint: str | None,
    api_key: str | None,
    model: str | None,
    timeout: float,
    max_retries: int,
    max_images: int,
    max_payload_mib: float,
    stack: str,
    region: str | None,
    as_json: bool,
) -> None:
    if instance is not None:
        catalog_instance(instance)  # fail early on a typo
    question = prompt or (DEFAULT_PROMPT if images or video else DEFAULT_TEXT_PROMPT)
    messages = build_messages(
        question, images, video, fps, server_side_sampling=server_side_sampling, max_frames=max_frames,
        max_video_side=max_video_side,
    )  # fmt: skip
    check_limits(messages, max_images=max_images, max_payload_mib=max_payload_mib)
    url, key = resolve_endpoint(endpoint, api_key, stack, region)
    oai = cclient.make_client(url, key, timeout=timeout, max_retries=max_retries)
    model_id = cclient.pick_model(oai, model)
    started_at = datetime.now(UTC)

    with Progress(
        TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[errors]} errors"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("bench", total=requests, errors=0)
        failures = 0

        def on_done(sample: Sample) -> None:
            nonlocal failures
            failures += 0 if sample.ok else 1
            progress.update(task, advance=1, errors=failures)

        samples, wall = run_bench(
            oai, model_id, messages, concurrency=concurrency, requests=requests, max_tokens=max_tokens,
            warmup=warmup, on_done=on_done,
        )  # fmt: skip

    result: dict[str, Any] = {
        "cosmosctl_bench": BENCH_FORMAT,
        "started_at": started_at.isoformat(timespec="seconds"),
        "endpoint": cclient.normalize_base_url(url),
        "model": model_id,
        "instance": instance,
        "concurrency": concurrency,
        "requests": requests,
        "max_tokens": max_tokens,
        "warmup": warmup,
        "media": {
            "images": len(images),
            "video": video is not None,
            "fps": fps,
            "sampling": None if video is None else ("server" if server_side_sampling else "client"),
        },
        **summarize(samples, wall),
    }
    path = out_file or Path(f"bench-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    if as_json:
        print_json(result)
    else:
        _print_result(result)
        err.print(f"Wrote {path}")
    if result["ok"] == 0:
        first = next(iter(result["error_messages"]), "unknown error")
        raise CosmosError(f"All {requests} requests failed: {first}")


def _print_result(result: dict[str, Any]) -> None:
    def fmt(v: Any, unit: str = "s") -> str:
        return "-" if v is None else f"{v:.3f} {unit}"

    table = Table(
        title=f"{result['model']}  concurrency {result['concurrency']}, {result['requests']} requests"
    )
    table.add_column("metric")
    for col in ("p50", "p95", "p99", "mean"):
        table.add_column(col, justify="right")
    for label, key in (("latency", "latency_s"), ("time to first token", "ttft_s")):
        table.add_row(label, *(fmt(result[key][c]) for c in ("p50", "p95", "p99", "mean")))
    decode = result["per_request_decode_tokens_per_s"]
    table.add_row("decode tokens/s per request", *(fmt(decode[c], "") for c in ("p50", "p95", "p99", "mean")))
    out.print(table)
    out.print(
        f"ok {result['ok']}, errors {result['errors']}, {result['requests_per_s'] or 0:.3f} requests/s, "
        f"{result['output_tokens_per_s'] or 0:.1f} output tokens/s overall, wall {result['wall_s']:.2f} s"
    )
    for message, count in result["error_messages"].items():
        err.print(f"[red]{count} x[/] {escape(message)}")
