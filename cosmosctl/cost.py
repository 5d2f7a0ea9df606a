"""`cosmosctl cost`: cost per 1,000 reasoner requests and per generated video, with every assumption shown."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import botocore.exceptions
import typer
from rich.table import Table

from cosmosctl import idle_cost, video_cost
from cosmosctl.aws import session
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.errors import CosmosError
from cosmosctl.prices import (
    DAYS_PER_MONTH,
    EBS_GP3_GB_MONTH_USD,
    EFS_ELASTIC_READ_GB_USD,
    HOURS_PER_MONTH,
    instance_hour_usd,
)
from cosmosctl.shared import catalog_instance, load_bench
from stacks import gpu_catalog as catalog

# Defaults that mirror cdk.json (instanceType, generatorInstanceTypes[0], rootVolumeGiB, natGateways).
DEFAULT_REASONER_INSTANCE = "g6e.xlarge"
DEFAULT_GENERATOR_INSTANCE = "g6e.2xlarge"
DEFAULT_ROOT_VOLUME_GIB = 200
DEFAULT_MAX_TASKS = 2  # cdk.json maxTasks
# The generator's height and width must be multiples of 16 (Wan VAE 8x spatial compression, then the
# transformer's 2x2 patches); stacks/gpu_catalog.py estimates its seconds on that grid.
VIDEO_SIZE_MULTIPLE = 16

# Without a bench file the throughput is an assumption, printed as such: one NIM replica answering
# ~256-token questions about one image at a few requests in flight. Measure yours: cosmosctl bench.
DEFAULT_ASSUMED_RPS = 0.5

# A generation job is an array of workers that each load the model once and render their share of
# the manifest: the worker's start (weights, load, compile) is shared by its videos
# (cosmosctl/video_cost.py has the measured parts).
DEFAULT_GENERATOR_OVERHEAD_S = round(video_cost.worker_start_s(), 1)
DEFAULT_VIDEOS_PER_WORKER = video_cost.DEFAULT_VIDEOS_PER_WORKER

# us-east-1 list prices for the stacks' fixed parts (AWS pricing pages for Elastic Load Balancing,
# VPC NAT gateways, EFS, CloudWatch Logs, Secrets Manager, EBS gp3 and S3, as listed in 2026).
FIXED_PRICE_SOURCE = "AWS pricing pages, us-east-1 list prices shipped with cosmosctl (2026-11)"
ALB_HOUR_USD = 0.0225
ALB_LCU_HOUR_USD = 0.008
NAT_HOUR_USD = 0.045
NAT_GB_USD = 0.045
EFS_STANDARD_GB_MONTH_USD = 0.30
LOGS_INGEST_GB_USD = 0.50
LOGS_STORE_GB_MONTH_USD = 0.03
SECRET_MONTH_USD = 0.40
S3_STANDARD_GB_MONTH_USD = 0.023

PriceSource = Literal["auto", "aws", "catalog"]


def check_generator_instance(name: str, path: str = catalog.DEFAULT_GENERATOR_PATH) -> None:
    """Refuse a generator instance that cannot render the videos being priced.

    The per-video figure is for Nano on the chosen path. Pricing a GPU that cannot run it (a g5
    without offload, FP8 on an A10G, a g6e too small in host RAM) would print a cost for videos
    that never render, so say why and name the cheapest instances that can.
    """
    if path not in catalog.GENERATOR_PATHS:
        raise CosmosError(
            f"Unknown --generator-path {path!r}.", f"Use one of: {', '.join(catalog.GENERATOR_PATHS)}."
        )
    precision, _, offload = catalog.GENERATOR_PATHS[path]
    fit = catalog.generator_fit(catalog_instance(name).name, "nano", precision, offload=offload)
    if not fit.ok:
        raise CosmosError(
            f"{name} cannot run the Nano generator on path {path}: {fit.reason}.",
            f"Price one that can: --generator-instance {' or '.join(fit.alternatives)}."
            if fit.alternatives
            else None,
        )


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    region: str


def _pricing_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def _on_demand_usd(price_list_item: str) -> float | None:
    product = json.loads(price_list_item)
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                return float(usd)
    return None


def instance_price(
    instance_type: str, region: str | None, source: PriceSource = "auto", *, sess: Any = None
) -> tuple[Price, str | None]:
    """On-demand USD/hour: the AWS Pricing API when credentials exist (or ``source='aws'``), else the
    catalog. Returns the price and, when the API was wanted but not used, why."""
    inst = catalog_instance(instance_type)
    fallback = Price(inst.price_per_hour_usd, f"catalog: {catalog.PRICE_SOURCE}", catalog.PRICE_REGION)
    if source == "catalog":
        return fallback, None
    sess = sess or session(region, require_region=False)
    want_region = region or sess.region_name or catalog.PRICE_REGION
    if sess.get_credentials() is None:
        if source == "aws":
            raise CosmosError(
                "No AWS credentials for the Pricing API.",
                "Configure credentials or use --price-source catalog.",
            )
        return fallback, "no AWS credentials"
    try:
        # The Pricing API has endpoints in us-east-1 (and a few others) only; it covers every region.
        pricing = sess.client("pricing", region_name="us-east-1")
        items = pricing.get_products(
            ServiceCode="AmazonEC2", Filters=_pricing_filters(instance_type, want_region), MaxResults=10
        ).get("PriceList", [])
        usd = next((p for p in (_on_demand_usd(i) for i in items) if p is not None), None)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        if source == "aws":
            raise CosmosError(f"AWS Pricing API failed: {exc}", "Use --price-source catalog.") from exc
        return fallback, f"Pricing API failed ({type(exc).__name__})"
    if usd is None:
        if source == "aws":
            raise CosmosError(
                f"The Pricing API has no on-demand Linux price for {instance_type} in {want_region}."
            )
        return fallback, f"Pricing API has no price for {instance_type} in {want_region}"
    return Price(usd, f"AWS Pricing API (on-demand Linux, {want_region})", want_region), None


def check_priced_region(price: Price, wanted: str | None, *, explicit: bool, note: str | None) -> str | None:
    """Refuse to pass off the shipped price list's region as another one.

    The catalog ships list prices for one region only. When the region asked for (``--region``) got
    catalog prices, that is an error naming what to change; when it only came from the profile, the
    estimate goes on for the shipped region and the returned note says so.
    """
    if not wanted or price.region == wanted:
        return None
    why = f" (Pricing API not used: {note})" if note else ""
    if explicit:
        raise CosmosError(
            f"No prices for {wanted}: cosmosctl ships {catalog.PRICE_REGION} list prices only{why}.",
            f"Let the AWS Pricing API price {wanted} (configure AWS credentials; --price-source aws), "
            f"or price {catalog.PRICE_REGION} with --region {catalog.PRICE_REGION}.",
        )
    return (
        f"Your profile's region is {wanted}, but these are {price.region} prices{why}; "
        f"prices differ by region (pass --region {wanted} with AWS credentials for the Pricing API)."
    )


def fixed_monthly_costs(
    *, nat_gateways: int, nat_gb: float, cache_gib: float, task_starts: int, log_gb: float, alb_lcu: float
) -> dict[str, float]:
    """Monthly USD of the ReasonerStack parts that run whatever the load (ALB, NAT, EFS, logs, secrets)."""
    return {
        "alb": HOURS_PER_MONTH * (ALB_HOUR_USD + alb_lcu * ALB_LCU_HOUR_USD),
        "nat": nat_gateways * HOURS_PER_MONTH * NAT_HOUR_USD + nat_gb * NAT_GB_USD,
        "efs": cache_gib * EFS_STANDARD_GB_MONTH_USD + task_starts * cache_gib * EFS_ELASTIC_READ_GB_USD,
        "logs": log_gb * (LOGS_INGEST_GB_USD + LOGS_STORE_GB_MONTH_USD),
        "secrets": 2 * SECRET_MONTH_USD,  # the API key and the NGC key
    }


def idle_endpoint_costs(
    instance: str = DEFAULT_REASONER_INSTANCE,
    *,
    nat_gateways: int = 1,
    cache_gib: float = 60.0,
    root_volume_gib: int = DEFAULT_ROOT_VOLUME_GIB,
) -> dict[str, Any]:
    """What a deployed ReasonerStack costs with no requests at all, at the shipped (us-east-1) prices.

    ``per_hour``/``per_month``: one GPU instance (minTasks 1) with its gp3 root volume, the ALB hour,
    the NAT gateway hour(s), the weight cache on EFS and the two secrets (no LCUs, NAT data or logs,
    since nothing is used). ``scaled_to_zero_per_month``: the same without the instance (minTasks 0).
    """
    inst = catalog_instance(instance)
    fixed = fixed_monthly_costs(
        nat_gateways=nat_gateways, nat_gb=0.0, cache_gib=cache_gib, task_starts=0, log_gb=0.0, alb_lcu=0.0
    )
    fixed_month = fixed["alb"] + fixed["nat"] + fixed["efs"] + fixed["secrets"]
    instance_hour = instance_hour_usd(inst.name, root_volume_gib)
    return {
        "region": catalog.PRICE_REGION,
        "instance_per_hour": round(inst.price_per_hour_usd, 3),
        "per_hour": round(instance_hour + fixed_month / HOURS_PER_MONTH, 2),
        "per_month": round(instance_hour * HOURS_PER_MONTH + fixed_month),
        "scaled_to_zero_per_month": round(fixed_month),
    }


def estimate(
    *,
    instance: str,
    price: Price,
    price_note: str | None,
    throughput_rps: float,
    throughput_source: str,
    requests_per_hour: float | None,
    hours_per_day: float,
    min_tasks: int,
    root_volume_gib: int,
    fixed: dict[str, float],
    generator_instance: str,
    generator_price: Price,
    video_height: int,
    video_width: int,
    generator_overhead_s: float,
    generator_nat_gateways: int,
    generator_path: str = catalog.DEFAULT_GENERATOR_PATH,
    max_tasks: int | None = None,
    videos_per_worker: int = DEFAULT_VIDEOS_PER_WORKER,
) -> dict[str, Any]:
    """Every number `cosmosctl cost` shows, with the assumptions behind them.

    ``max_tasks`` (cdk maxTasks) caps the instances the service scales out to: a load that needs more
    is refused with what to change, rather than priced on instances the stack never starts.
    """
    if throughput_rps <= 0:
        raise CosmosError("Throughput must be positive.")
    inst = catalog_instance(instance)
    ebs_hour = root_volume_gib * EBS_GP3_GB_MONTH_USD / HOURS_PER_MONTH
    instance_hour = price.usd_per_hour + ebs_hour
    per_1000_full = instance_hour / (throughput_rps * 3600) * 1000
    fixed_total = sum(fixed.values())

    load: dict[str, Any] | None = None
    if requests_per_hour is not None:
        if requests_per_hour <= 0:
            raise CosmosError("--requests-per-hour must be positive.")
        needed = math.ceil(requests_per_hour / (throughput_rps * 3600))
        if max_tasks is not None and needed > max_tasks:
            capacity = max_tasks * throughput_rps * 3600
            raise CosmosError(
                f"--requests-per-hour {requests_per_hour:g} needs {needed} instances at "
                f"{throughput_rps:g} requests/s each, but the service scales out to at most "
                f"{max_tasks} (maxTasks), which serve about {capacity:,.0f} requests/hour.",
                f"Deploy with a higher maxTasks (cdk deploy -c maxTasks={needed}) and pass "
                f"--max-tasks {needed}, or lower --requests-per-hour.",
            )
        instances = max(min_tasks, needed)
        busy_hours = hours_per_day * DAYS_PER_MONTH
        # Outside the busy hours the service keeps min_tasks instances (0 stops the GPU bill).
        idle_hours = HOURS_PER_MONTH - busy_hours
        gpu_monthly = instance_hour * (instances * busy_hours + min_tasks * idle_hours)
        monthly_requests = requests_per_hour * busy_hours
        total = gpu_monthly + fixed_total
        load = {
            "requests_per_hour": requests_per_hour,
            "hours_per_day": hours_per_day,
            "min_tasks": min_tasks,
            "instances_when_busy": instances,
            "utilization": round(requests_per_hour / (instances * throughput_rps * 3600), 4),
            "monthly_requests": round(monthly_requests),
            "gpu_monthly_usd": round(gpu_monthly, 2),
            "fixed_monthly_usd": round(fixed_total, 2),
            "total_monthly_usd": round(total, 2),
            "cost_per_1000_requests_usd": round(total / monthly_requests * 1000, 4),
        }

    precision, compiled, offload = catalog.GENERATOR_PATHS[generator_path]
    seconds, is_estimate = catalog.estimated_generator_seconds(
        generator_instance, video_height, video_width, precision, compiled, offload
    )
    gen_inst = catalog_instance(generator_instance)
    gen_gpu_hour = generator_price.usd_per_hour / gen_inst.gpus  # one GPU per job
    video = video_cost.per_video(
        gpu_hour_usd=gen_gpu_hour, seconds=seconds, videos_per_worker=videos_per_worker,
        worker_start=generator_overhead_s,
    )  # fmt: skip
    per_video = video["total_usd"]
    gen_fixed = generator_nat_gateways * HOURS_PER_MONTH * NAT_HOUR_USD + 2 * LOGS_STORE_GB_MONTH_USD

    assumptions = [
        f"Instance prices: {price.source}"
        + (f" (Pricing API not used: {price_note})" if price_note else "")
        + ".",
        f"Throughput {throughput_rps:g} requests/s per {instance} instance: {throughput_source}.",
        f"Each GPU instance carries a {root_volume_gib} GiB gp3 root volume "
        f"at ${EBS_GP3_GB_MONTH_USD}/GB-month.",
        "Cost per 1,000 requests at full load assumes the instance is busy every hour it runs.",
        f"Fixed costs: {FIXED_PRICE_SOURCE}; {HOURS_PER_MONTH:g} hours a month; "
        "ALB at the stated LCUs, NAT data and log volume as given; two Secrets Manager secrets.",
        f"Generator: {seconds:.0f} s per {video_height}x{video_width} Nano video "
        f"(189 frames, 35 steps, VAE decode included, path {generator_path}) "
        + ("estimated by scaling the H100 measurement" if is_estimate else "measured on one H100")
        + f"; each worker loads the model once and renders {videos_per_worker} videos, so each carries "
        f"1/{videos_per_worker} of the worker's {generator_overhead_s:g} s start (S3 weight copy on a new "
        f"host, load, cold compile) and {video_cost.JOB_OVERHEAD_PER_VIDEO_S:g} s of prompt encoding "
        "(measured on an H200); one GPU per job; Batch scales instances to zero between jobs.",
        f"Per video also: {video_cost.PUT_REQUESTS_PER_VIDEO} PUT-priced and {video_cost.GET_REQUESTS_PER_VIDEO} "
        "GET-priced S3 requests, and 1/N of the worker's storage reads (weights from the S3 mirror: "
        f"GETs only, same-region transfer free; {video_cost.COMPILE_CACHE_GB:g} GB of compile cache from "
        f"EFS Elastic at ${EFS_ELASTIC_READ_GB_USD}/GB).",
        "Data transfer out of AWS and taxes are not included.",
    ]
    if load is not None and hours_per_day < 24:
        assumptions.append(
            f"Outside the {hours_per_day:g} busy hours a day the service runs {min_tasks} "
            "instance(s) (minTasks)."
        )
    return {
        "region": price.region,
        "reasoner": {
            "instance": instance,
            "gpus": inst.gpus,
            "gpu_model": inst.gpu_model,
            "price_per_hour_usd": round(price.usd_per_hour, 4),
            "price_source": price.source,
            "ebs_per_hour_usd": round(ebs_hour, 4),
            "throughput_rps": throughput_rps,
            "throughput_source": throughput_source,
            "cost_per_1000_requests_full_load_usd": round(per_1000_full, 4),
            "load": load,
        },
        "fixed_monthly_usd": {**{k: round(v, 2) for k, v in fixed.items()}, "total": round(fixed_total, 2)},
        "generator": {
            "instance": generator_instance,
            "price_per_hour_usd": round(generator_price.usd_per_hour, 4),
            "price_source": generator_price.source,
            "resolution": f"{video_height}x{video_width}",
            "path": generator_path,
            "seconds_per_video": round(seconds, 1),
            "seconds_estimated": is_estimate,
            "overhead_s_per_video": round(
                generator_overhead_s / videos_per_worker + video_cost.JOB_OVERHEAD_PER_VIDEO_S, 1
            ),
            "worker_start_s": generator_overhead_s,
            "videos_per_worker": videos_per_worker,
            "parts_usd": video["parts_usd"],
            "cost_per_video_usd": round(per_video, 4),
            "cost_per_1000_videos_usd": round(per_video * 1000, 2),
            "fixed_monthly_usd": round(gen_fixed, 2),
        },
        "videos_by_instance": videos_by_instance(
            video_height, video_width, generator_overhead_s, videos_per_worker
        ),
        "assumptions": assumptions,
    }


# The cheapest size of each family that renders Nano, and the paths worth comparing on it.
COMPARED_GENERATORS = ("g5.4xlarge", "g6e.2xlarge", "p5.4xlarge")


def videos_by_instance(
    height: int, width: int, overhead_s: float, videos_per_worker: int = DEFAULT_VIDEOS_PER_WORKER
) -> list[dict[str, Any]]:
    """Cost per video on each family's cheapest fitting instance, for every path it can run.

    Catalog prices (not the Pricing API) so the comparison stays one consistent table; offload
    only where nothing resident fits (it is always slower).
    """
    rows = []
    for name in COMPARED_GENERATORS:
        inst = catalog.INSTANCES[name]
        resident = catalog.generator_fit_ok(name, "nano", "bf16", False)
        for path, (precision, compiled, offload) in catalog.GENERATOR_PATHS.items():
            if offload == resident or not catalog.generator_fit_ok(name, "nano", precision, offload):
                continue
            seconds, estimate = catalog.estimated_generator_seconds(
                name, height, width, precision, compiled, offload
            )
            usd = video_cost.per_video(
                gpu_hour_usd=inst.price_per_hour_usd / inst.gpus, seconds=seconds,
                videos_per_worker=videos_per_worker, worker_start=overhead_s,
            )["total_usd"]  # fmt: skip
            rows.append(
                {
                    "instance": name,
                    "gpu_model": inst.gpu_model,
                    "path": path,
                    "seconds_per_video": round(seconds, 1),
                    "seconds_estimated": estimate,
                    "price_per_hour_usd": inst.price_per_hour_usd,
                    "cost_per_video_usd": round(usd, 4),
                }
            )
    return sorted(rows, key=lambda r: r["cost_per_video_usd"])


def cost_command(
    instance: Annotated[
        str | None,
        typer.Option(
            help=f"Reasoner instance type (default: the bench file's, else {DEFAULT_REASONER_INSTANCE})."
        ),
    ] = None,
    bench: Annotated[
        Path | None, typer.Option(help="Result of `cosmosctl bench` for measured throughput.")
    ] = None,
    throughput: Annotated[
        float | None,
        typer.Option(
            min=0.0001,
            help=f"Requests/s one instance serves (assumed {DEFAULT_ASSUMED_RPS} without --bench).",
        ),
    ] = None,
    requests_per_hour: Annotated[float | None, typer.Option(min=0.0001, help="Your load while busy.")] = None,
    hours_per_day: Annotated[float, typer.Option(min=0.0, max=24.0, help="Busy hours a day.")] = 24.0,
    min_tasks: Annotated[
        int, typer.Option(min=0, help="Instances kept outside busy hours (cdk minTasks).")
    ] = 1,
    max_tasks: Annotated[
        int, typer.Option(min=1, help="Most instances the service scales out to (cdk maxTasks).")
    ] = DEFAULT_MAX_TASKS,
    generator_instance: Annotated[
        str, typer.Option(help="Batch instance type for videos.")
    ] = DEFAULT_GENERATOR_INSTANCE,
    video_height: Annotated[
        int, typer.Option(help="Generated video height (a positive multiple of 16).")
    ] = 480,
    video_width: Annotated[
        int, typer.Option(help="Generated video width (a positive multiple of 16).")
    ] = 832,
    generator_path: Annotated[
        str,
        typer.Option(
            help=f"Generator path: {', '.join(catalog.GENERATOR_PATHS)} (the stack deploys "
            f"{catalog.DEFAULT_GENERATOR_PATH}; see docs/performance.md)."
        ),
    ] = catalog.DEFAULT_GENERATOR_PATH,
    generator_overhead_s: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds a worker spends before its first video (weights copy, load, compile)."
        ),
    ] = DEFAULT_GENERATOR_OVERHEAD_S,
    videos_per_worker: Annotated[
        int, typer.Option(min=1, help="Videos each worker renders after loading the model once.")
    ] = DEFAULT_VIDEOS_PER_WORKER,
    nat_gateways: Annotated[
        int, typer.Option(min=0, help="NAT gateways per stack (cdk natGateways; 0 with vpcId).")
    ] = 1,
    nat_gb: Annotated[
        float, typer.Option(min=0.0, help="GB a month through NAT (image pulls, weights).")
    ] = 100.0,
    cache_gib: Annotated[float, typer.Option(min=0.0, help="GiB of model cache on EFS.")] = 60.0,
    task_starts: Annotated[
        int, typer.Option(min=0, help="NIM task starts a month (each reads the cache).")
    ] = 4,
    log_gb: Annotated[float, typer.Option(min=0.0, help="GB of logs a month.")] = 2.0,
    alb_lcu: Annotated[float, typer.Option(min=0.0, help="Average ALB load balancer capacity units.")] = 1.0,
    root_volume_gib: Annotated[
        int, typer.Option(min=1, help="Root volume per GPU instance (cdk rootVolumeGiB).")
    ] = DEFAULT_ROOT_VOLUME_GIB,
    price_source: Annotated[
        str, typer.Option(help="auto (Pricing API when credentials exist, else catalog), aws or catalog.")
    ] = "auto",
    region: Annotated[
        str | None,
        typer.Option(
            help=f"Region to price (default: your profile's). Without the Pricing API only "
            f"{catalog.PRICE_REGION} has prices."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    active_hours_per_day: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=24.0, help="Hours a day the endpoint is used: compare always-on with scale-to-zero."
        ),
    ] = None,
    wakes_per_day: Annotated[
        float,
        typer.Option(min=0.0, help="Times a day a sleeping endpoint is woken (with --active-hours-per-day)."),
    ] = 2.0,
    idle_minutes: Annotated[
        int, typer.Option(min=10, help="cdk idleMinutes for the scale-to-zero comparison.")
    ] = 30,
) -> None:
    """Estimate cost per 1,000 reasoner requests and per generated video."""
    usage = (
        None
        if active_hours_per_day is None
        else idle_cost.UsagePattern(active_hours_per_day, wakes_per_day, idle_minutes)
    )
    _cost(
        instance=instance, bench=bench, throughput=throughput, requests_per_hour=requests_per_hour,
        hours_per_day=hours_per_day, min_tasks=min_tasks, max_tasks=max_tasks,
        generator_instance=generator_instance, video_height=video_height, video_width=video_width, generator_overhead_s=generator_overhead_s,
        videos_per_worker=videos_per_worker,
        generator_path=generator_path, nat_gateways=nat_gateways, nat_gb=nat_gb, cache_gib=cache_gib, task_starts=task_starts, log_gb=log_gb,
        alb_lcu=alb_lcu, root_volume_gib=root_volume_gib, price_source=price_source, region=region,
        as_json=as_json, usage=usage,
    )  # fmt: skip


@handle_errors
def _cost(
    *,
    instance: str | None,
    bench: Path | None,
    throughput: float | None,
    requests_per_hour: float | None,
    hours_per_day: float,
    min_tasks: int,
    max_tasks: int = DEFAULT_MAX_TASKS,
    generator_instance: str,
    video_height: int,
    video_width: int,
    generator_overhead_s: float,
    videos_per_worker: int,
    generator_path: str,
    nat_gateways: int,
    nat_gb: float,
    cache_gib: float,
    task_starts: int,
    log_gb: float,
    alb_lcu: float,
    root_volume_gib: int,
    price_source: str,
    region: str | None,
    as_json: bool,
    usage: idle_cost.UsagePattern | None = None,
) -> None:
    if price_source not in ("auto", "aws", "catalog"):
        raise CosmosError(f"--price-source must be auto, aws or catalog, got {price_source!r}.")
    if bench is not None and throughput is not None:
        raise CosmosError("Give --bench or --throughput, not both.")
    if requests_per_hour is not None and hours_per_day == 0:
        raise CosmosError("--hours-per-day must be above 0 with --requests-per-hour.")
    if min_tasks > max_tasks:
        raise CosmosError(f"--min-tasks ({min_tasks}) must not exceed --max-tasks ({max_tasks}).")
    for flag, value in (("--video-height", video_height), ("--video-width", video_width)):
        if value <= 0 or value % VIDEO_SIZE_MULTIPLE:
            raise CosmosError(
                f"{flag} must be a positive multiple of {VIDEO_SIZE_MULTIPLE}, got {value}.",
                "The generator renders e.g. 480x832 or 720x1280 (height x width).",
            )
    if bench is not None:
        result = load_bench(bench)
        rps = float(result["requests_per_s"])
        source = (
            f"measured by cosmosctl bench ({bench.name}: {result['requests']} requests at concurrency "
            f"{result['concurrency']}, model {result.get('model')})"
        )
        bench_instance = result.get("instance")
        if instance is None:
            instance = bench_instance
        elif bench_instance and bench_instance != instance:
            err.print(f"[yellow]Note:[/] the bench ran on {bench_instance}, pricing {instance}.")
    else:
        rps = throughput if throughput is not None else DEFAULT_ASSUMED_RPS
        source = (
            "given with --throughput"
            if throughput is not None
            else "assumed (no --bench); measure with cosmosctl bench"
        )
    instance = instance or DEFAULT_REASONER_INSTANCE
    catalog_instance(instance)
    check_generator_instance(generator_instance, generator_path)

    sess = session(region, require_region=False)
    # The region being priced: --region, else the profile's; None prices the shipped list's region.
    want_region = region or sess.region_name
    src: PriceSource = price_source  # type: ignore[assignment]
    price, note = instance_price(instance, region, src, sess=sess)
    gen_price, _ = instance_price(generator_instance, region, src, sess=sess)
    region_note = check_priced_region(price, want_region, explicit=region is not None, note=note)
    fixed = fixed_monthly_costs(
        nat_gateways=nat_gateways, nat_gb=nat_gb, cache_gib=cache_gib, task_starts=task_starts, log_gb=log_gb,
        alb_lcu=alb_lcu,
    )  # fmt: skip
    report = estimate(
        instance=instance, price=price, price_note=note, throughput_rps=rps, throughput_source=source,
        requests_per_hour=requests_per_hour, hours_per_day=hours_per_day, min_tasks=min_tasks,
        root_volume_gib=root_volume_gib, fixed=fixed, generator_instance=generator_instance,
        generator_price=gen_price, video_height=video_height, video_width=video_width,
        generator_overhead_s=generator_overhead_s, generator_nat_gateways=nat_gateways,
        generator_path=generator_path, max_tasks=max_tasks, videos_per_worker=videos_per_worker,
    )  # fmt: skip
    if usage is not None:
        report["scale_to_zero"] = idle_cost.compare(
            instance_type=instance, root_volume_gib=root_volume_gib, cache_gib=cache_gib, usage=usage
        )
    if region_note:
        report["assumptions"].append(region_note)
        if not as_json:
            err.print(f"[yellow]Note:[/] {region_note}")
    if as_json:
        print_json(report)
    else:
        print_report(report)
        if usage is not None:
            out.print(idle_cost.comparison_table(report["scale_to_zero"]))


def print_report(report: dict[str, Any]) -> None:
    """The human-readable cost table."""
    r, g, f = report["reasoner"], report["generator"], report["fixed_monthly_usd"]
    table = Table(title=f"Cosmos 3 on AWS: cost estimate ({report['region']})", show_lines=False)
    table.add_column("item")
    table.add_column("USD", justify="right")
    table.add_column("basis")
    table.add_row(
        f"{r['instance']} per hour", f"{r['price_per_hour_usd']:.3f}",
        f"{r['gpus']} x {r['gpu_model']}; {r['price_source']}",
    )  # fmt: skip
    table.add_row("root volume per hour", f"{r['ebs_per_hour_usd']:.3f}", "gp3")
    table.add_row(
        "[bold]per 1,000 requests[/], full load", f"[bold]{r['cost_per_1000_requests_full_load_usd']:.3f}[/]",
        f"{r['throughput_rps']:g} req/s, {r['throughput_source']}",
    )  # fmt: skip
    if r["load"]:
        load = r["load"]
        table.add_row(
            "[bold]per 1,000 requests[/], your load", f"[bold]{load['cost_per_1000_requests_usd']:.3f}[/]",
            f"{load['requests_per_hour']:g} req/h for {load['hours_per_day']:g} h/day on "
            f"{load['instances_when_busy']} instance(s), {load['utilization']:.0%} busy, "
            "fixed costs included",
        )  # fmt: skip
        table.add_row(
            "monthly total, your load",
            f"{load['total_monthly_usd']:.2f}",
            f"{load['monthly_requests']:,} requests",
        )
    for key, label in (
        ("alb", "ALB"),
        ("nat", "NAT gateway"),
        ("efs", "EFS model cache"),
        ("logs", "CloudWatch Logs"),
        ("secrets", "Secrets Manager"),
    ):
        table.add_row(f"{label} per month", f"{f[key]:.2f}", "fixed")
    table.add_row("fixed per month", f"{f['total']:.2f}", "ReasonerStack, whatever the load")
    table.add_row(
        f"[bold]per video[/] ({g['instance']})", f"[bold]{g['cost_per_video_usd']:.3f}[/]",
        f"{g['resolution']}: {g['seconds_per_video']:g} s "
        f"{'(estimate)' if g['seconds_estimated'] else '(measured)'} + {g['overhead_s_per_video']:g} s "
        f"(1/{g['videos_per_worker']} of the worker's {g['worker_start_s']:g} s start, prompt encoding) "
        f"at {g['price_per_hour_usd']:.3f}/h",
    )  # fmt: skip
    for key, label in (
        ("gpu_usd", "GPU seconds"),
        ("job_overhead_usd", "prompt encoding"),
        ("worker_start_usd", "worker start, amortized"),
        ("storage_reads_usd", "storage reads (S3 weights GETs, EFS compile cache)"),
        ("requests_usd", "S3 requests (outputs)"),
    ):
        table.add_row(f"  per video: {label}", f"{g['parts_usd'][key]:.5f}", "")
    table.add_row(
        "generator fixed per month",
        f"{g['fixed_monthly_usd']:.2f}",
        "GeneratorBatchStack NAT + logs; GPUs scale to zero",
    )
    out.print(table)
    videos = Table(title=f"Per video by instance and path ({g['resolution']}, catalog prices)")
    for column in ("instance", "path", "seconds", "USD per video"):
        videos.add_column(column, justify="right" if column in ("seconds", "USD per video") else "left")
    for row in report["videos_by_instance"]:
        videos.add_row(
            f"{row['instance']} ({row['gpu_model']})",
            row["path"] + (" (deployed default)" if row["path"] == catalog.DEFAULT_GENERATOR_PATH else ""),
            f"{row['seconds_per_video']:g}{' est.' if row['seconds_estimated'] else ''}",
            f"{row['cost_per_video_usd']:.3f}",
        )
    out.print(videos)
    for line in report["assumptions"]:
        out.print(f"- {line}", markup=False)
