"""`cosmosctl cost`: catalog and Pricing API prices, bench-measured throughput, fixed costs, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from cosmosctl import cost, video_cost
from cosmosctl.cli import app
from stacks import gpu_catalog as catalog


def _price_item(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "g6e.xlarge"}},
            "terms": {
                "OnDemand": {"T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}
            },
        }
    )


class _FakeSession:
    """A boto3 session whose Pricing client answers from a Stubber (moto has no Pricing API)."""

    def __init__(self, responses: list[dict[str, Any] | Exception], credentials: bool = True) -> None:
        self._session = boto3.session.Session(region_name="eu-west-1")
        self.region_name = "eu-west-1"
        self.pricing = self._session.client("pricing", region_name="us-east-1")
        self.stubber = Stubber(self.pricing)
        for response in responses:
            if isinstance(response, Exception):
                self.stubber.add_client_error("get_products", service_error_code="AccessDeniedException")
            else:
                self.stubber.add_response("get_products", response)
        self.stubber.activate()
        self._credentials = credentials

    def get_credentials(self) -> Any:
        return self._session.get_credentials() if self._credentials else None

    def client(self, service: str, **_: Any) -> Any:
        assert service == "pricing"
        return self.pricing


def test_pricing_api_price_is_used_when_credentials_exist() -> None:
    sess = _FakeSession([{"PriceList": [_price_item("2.0070000000")], "FormatVersion": "aws_v1"}])
    price, note = cost.instance_price("g6e.xlarge", None, "auto", sess=sess)
    assert (price.usd_per_hour, price.region, note) == (2.007, "eu-west-1", None)
    assert "Pricing API" in price.source
    sess.stubber.assert_no_pending_responses()


def test_request_filters_name_the_instance_and_region() -> None:
    sess = _FakeSession([])
    expected = {
        "ServiceCode": "AmazonEC2",
        "Filters": cost._pricing_filters("p5.4xlarge", "us-west-2"),
        "MaxResults": 10,
    }
    sess.stubber.add_response("get_products", {"PriceList": [_price_item("7.1")]}, expected)
    price, _ = cost.instance_price("p5.4xlarge", "us-west-2", "aws", sess=sess)
    assert price.usd_per_hour == 7.1
    filters = {f["Field"]: f["Value"] for f in expected["Filters"]}
    assert filters["instanceType"] == "p5.4xlarge" and filters["regionCode"] == "us-west-2"
    assert filters["operatingSystem"] == "Linux" and filters["tenancy"] == "Shared"


@pytest.mark.parametrize(
    ("responses", "credentials", "note"),
    [
        ([], False, "no AWS credentials"),
        ([RuntimeError()], True, "Pricing API failed (AccessDeniedException)"),
        ([{"PriceList": []}], True, "Pricing API has no price for g5.xlarge"),
    ],
)
def test_catalog_fallback_says_why(responses: list[Any], credentials: bool, note: str) -> None:
    sess = _FakeSession(responses, credentials=credentials)
    price, why = cost.instance_price("g5.xlarge", None, "auto", sess=sess)
    assert price.usd_per_hour == catalog.INSTANCES["g5.xlarge"].price_per_hour_usd
    assert price.source.startswith("catalog:")
    assert why is not None and why.startswith(note)


def test_price_source_aws_fails_loudly() -> None:
    with pytest.raises(cost.CosmosError, match="No AWS credentials"):
        cost.instance_price("g5.xlarge", None, "aws", sess=_FakeSession([], credentials=False))


def _cost_json(runner: CliRunner, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["cost", "--price-source", "catalog", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cost_per_1000_requests_from_catalog_and_assumption(runner: CliRunner) -> None:
    data = _cost_json(runner, "--instance", "g6e.xlarge")
    r = data["reasoner"]
    price = catalog.INSTANCES["g6e.xlarge"].price_per_hour_usd
    ebs = 200 * cost.EBS_GP3_GB_MONTH_USD / cost.HOURS_PER_MONTH
    assert r["price_per_hour_usd"] == price
    assert r["throughput_rps"] == cost.DEFAULT_ASSUMED_RPS
    assert "assumed" in r["throughput_source"]
    assert r["cost_per_1000_requests_full_load_usd"] == pytest.approx(
        (price + ebs) / (0.5 * 3600) * 1000, abs=1e-4
    )
    assert r["load"] is None
    fixed = data["fixed_monthly_usd"]
    assert fixed["alb"] == pytest.approx(730 * (0.0225 + 0.008), abs=0.01)
    assert fixed["nat"] == pytest.approx(730 * 0.045 + 100 * 0.045, abs=0.01)
    assert fixed["total"] == pytest.approx(sum(v for k, v in fixed.items() if k != "total"), abs=0.02)
    assert any("catalog" in a for a in data["assumptions"])


def test_cost_with_bench_file_and_load(runner: CliRunner, tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps({"cosmosctl_bench": 1, "ok": 64, "requests": 64, "concurrency": 8, "requests_per_s": 2.0,
                    "model": "nvidia/cosmos3-super-reasoner", "instance": "p5.4xlarge"})
    )  # fmt: skip
    data = _cost_json(
        runner,
        "--bench",
        str(bench),
        "--requests-per-hour",
        "9000",
        "--hours-per-day",
        "12",
        "--min-tasks",
        "0",
    )
    r = data["reasoner"]
    assert r["instance"] == "p5.4xlarge", "the bench file's instance"
    assert r["throughput_rps"] == 2.0 and "measured by cosmosctl bench" in r["throughput_source"]
    load = r["load"]
    # 9,000 req/h at 7,200 req/h per instance -> 2 instances for 12 h a day, none otherwise.
    assert load["instances_when_busy"] == 2
    hour = catalog.INSTANCES["p5.4xlarge"].price_per_hour_usd + r["ebs_per_hour_usd"]
    busy_hours = 12 * 730 / 24
    assert load["gpu_monthly_usd"] == pytest.approx(2 * busy_hours * hour, rel=1e-3)
    assert load["monthly_requests"] == round(9000 * busy_hours)
    total = load["gpu_monthly_usd"] + data["fixed_monthly_usd"]["total"]
    assert load["cost_per_1000_requests_usd"] == pytest.approx(
        total / load["monthly_requests"] * 1000, rel=1e-3
    )


def test_cost_per_video(runner: CliRunner) -> None:
    g = _cost_json(
        runner, "--generator-instance", "p5.4xlarge", "--video-height", "720", "--video-width", "1280"
    )["generator"]
    seconds = catalog.GENERATOR_H100_SECONDS[catalog.DEFAULT_GENERATOR_PATH][(720, 1280)]
    assert g["seconds_per_video"] == seconds and g["seconds_estimated"] is False
    assert g["path"] == "bf16-compiled"
    price = catalog.INSTANCES["p5.4xlarge"].price_per_hour_usd
    # GPU seconds + prompt encoding + 1/N of the worker's start, plus reads and requests.
    n = cost.DEFAULT_VIDEOS_PER_WORKER
    gpu_s = seconds + video_cost.JOB_OVERHEAD_PER_VIDEO_S + cost.DEFAULT_GENERATOR_OVERHEAD_S / n
    assert g["cost_per_video_usd"] == pytest.approx(
        price * gpu_s / 3600 + g["parts_usd"]["storage_reads_usd"] + g["parts_usd"]["requests_usd"], abs=1e-4
    )
    assert sum(g["parts_usd"].values()) == pytest.approx(g["cost_per_video_usd"], abs=1e-4)
    assert g["parts_usd"]["gpu_usd"] == pytest.approx(price * seconds / 3600, abs=1e-5)


def test_per_video_parts_follow_the_worker_share() -> None:
    one = video_cost.per_video(gpu_hour_usd=2.242, seconds=165.8, videos_per_worker=1)
    many = video_cost.per_video(gpu_hour_usd=2.242, seconds=165.8, videos_per_worker=100)
    assert one["parts_usd"]["gpu_usd"] == many["parts_usd"]["gpu_usd"]
    assert one["parts_usd"]["worker_start_usd"] == pytest.approx(
        100 * many["parts_usd"]["worker_start_usd"], rel=1e-3
    )
    # Reading the weights from S3 once per worker costs GET requests only (same-region transfer is
    # free); the old design read ~30 GiB from EFS Elastic per container: about a dollar each.
    assert one["parts_usd"]["storage_reads_usd"] < 0.05 < video_cost.efs_reload_usd_per_container()
    assert video_cost.efs_reload_usd_per_container() == pytest.approx(0.97, abs=0.01)
    # A worker's start is the measured load + compile + start, plus the weight copy on a new host.
    assert video_cost.worker_start_s(warm_host=True) == pytest.approx(8.9 + 20.7 + 22.7)
    assert video_cost.worker_start_s() > video_cost.worker_start_s(warm_host=True)
    with pytest.raises(ValueError):
        video_cost.per_video(gpu_hour_usd=1.0, seconds=1.0, videos_per_worker=0)


def test_cost_table(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["cost", "--price-source", "catalog", "--instance", "g5.xlarge", "--requests-per-hour", "100"]
    )
    assert result.exit_code == 0, result.output
    for text in (
        "g5.xlarge per hour",
        "per 1,000 requests",
        "your load",
        "per video",
        "NAT gateway",
        "assumed",
    ):
        assert text in result.stdout


def test_cost_auto_without_credentials_uses_catalog(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = runner.invoke(app, ["cost", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reasoner"]["instance"] == cost.DEFAULT_REASONER_INSTANCE
    assert any("Pricing API not used: no AWS credentials" in a for a in data["assumptions"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--instance", "t3.micro"], "Unknown instance type 't3.micro'"),
        (["--generator-instance", "x"], "Unknown instance type 'x'"),
        (["--price-source", "guess"], "--price-source must be auto, aws or catalog"),
        (["--bench", "b.json", "--throughput", "1"], "--bench or --throughput, not both"),
        (["--bench", "missing.json"], "Bench file not found"),
        (["--requests-per-hour", "10", "--hours-per-day", "0"], "--hours-per-day must be above 0"),
        # No g5 GPU holds the Nano generator: a per-video price for it would be for videos that never render.
        (["--generator-instance", "g5.48xlarge"], "g5.48xlarge cannot run the Nano generator"),
        (["--generator-instance", "g6e.xlarge"], "needs >= 48 GiB host RAM"),
    ],
)
def test_cost_bad_input(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cost", "--price-source", "catalog", *args])
    assert result.exit_code == 1
    assert message in result.stderr


# ---------------------------------------------------------------- docs/cost.md is what the CLI prints

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"
DOC_LOAD = ["--requests-per-hour", "1000", "--hours-per-day", "10"]


def _money(value: float) -> str:
    return f"{value:,.2f}"


@pytest.mark.parametrize("instance", ["g6e.xlarge", "g5.2xlarge", "p5.4xlarge"])
def test_docs_cost_md_reasoner_rows_match_the_cli(runner: CliRunner, instance: str) -> None:
    """Each worked-example row in docs/cost.md is the output of the command the page shows."""
    data = _cost_json(runner, "--instance", instance, *DOC_LOAD)
    r, load = data["reasoner"], data["reasoner"]["load"]
    row = (
        f"| {r['price_per_hour_usd']:.3f} | {r['ebs_per_hour_usd']:.3f} | "
        f"**{r['cost_per_1000_requests_full_load_usd']:.2f}** | {_money(load['gpu_monthly_usd'])} | "
        f"{_money(load['total_monthly_usd'])} | **{load['cost_per_1000_requests_usd']:.2f}** |"
    )
    doc = DOC.read_text(encoding="utf-8")
    [line] = [ln for ln in doc.splitlines() if ln.startswith(f"| {instance} (1 x ")]
    assert line.endswith(row), f"docs/cost.md row for {instance} is stale; the CLI gives {row}"
    # "Model it runs" is the largest reasoner the catalog's fit check allows on that instance.
    largest = next(v for v in ("super", "nano", "edge") if catalog.reasoner_fit(instance, v).ok)
    assert line.split("|")[2].strip().startswith(largest), line
    assert f"cosmosctl cost --price-source catalog --instance {instance}" in doc


def test_docs_cost_md_fixed_costs_and_scale_to_zero_match_the_cli(runner: CliRunner) -> None:
    doc = DOC.read_text(encoding="utf-8")
    data = _cost_json(runner, "--instance", "g6e.xlarge", *DOC_LOAD)
    f = data["fixed_monthly_usd"]
    cells = " | ".join(_money(f[k]) for k in ("alb", "nat", "efs", "logs", "secrets"))
    assert f"| {cells} | **{_money(f['total'])}** |" in doc
    assert f"fixed costs are ${_money(f['total'])} a month" in doc
    assert f"**${_money(data['generator']['fixed_monthly_usd'])} a month**" in doc
    zero = _cost_json(runner, "--instance", "g6e.xlarge", *DOC_LOAD, "--min-tasks", "0")["reasoner"]["load"]
    assert (
        f"${_money(zero['gpu_monthly_usd'])} a month, ${_money(zero['total_monthly_usd'])} in total, "
        f"**${zero['cost_per_1000_requests_usd']:.2f}** per 1,000 requests"
    ) in " ".join(doc.split())


@pytest.mark.parametrize(
    ("instance", "height", "width"),
    [
        ("g6e.2xlarge", 480, 832),
        ("g6e.2xlarge", 720, 1280),
        ("p5.4xlarge", 480, 832),
        ("p5.4xlarge", 720, 1280),
    ],
)
def test_docs_cost_md_video_rows_match_the_cli(
    runner: CliRunner, instance: str, height: int, width: int
) -> None:
    g = _cost_json(
        runner, "--generator-instance", instance, "--video-height", str(height), "--video-width", str(width)
    )["generator"]
    kind = "estimate" if g["seconds_estimated"] else "measured"
    row = (
        f"| {height}x{width} | {g['seconds_per_video']:.1f} ({kind}) | {g['price_per_hour_usd']:.3f} | "
        f"**{g['cost_per_video_usd']:.2f}** | {_money(g['cost_per_1000_videos_usd'])} |"
    )
    assert row in DOC.read_text(encoding="utf-8"), f"docs/cost.md video row is stale; the CLI gives {row}"


def test_cost_per_video_follows_the_generator_path(runner: CliRunner) -> None:
    fp8 = _cost_json(runner, "--generator-instance", "p5.4xlarge", "--generator-path", "fp8-compiled")[
        "generator"
    ]
    assert fp8["seconds_per_video"] == catalog.GENERATOR_H100_SECONDS["fp8-compiled"][(480, 832)]
    # group offload is what lets a 24 GB A10G render Nano at all
    g5 = _cost_json(runner, "--generator-instance", "g5.4xlarge", "--generator-path", "bf16-offload")[
        "generator"
    ]
    assert g5["seconds_estimated"] is True and g5["seconds_per_video"] > fp8["seconds_per_video"] * 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--generator-instance", "g5.4xlarge", "--generator-path", "fp8-compiled"], "compute capability"),
        (["--generator-instance", "g5.4xlarge"], "cannot run the Nano generator on path bf16-compiled"),
        (["--generator-path", "int4"], "Unknown --generator-path"),
    ],
)
def test_cost_refuses_paths_the_instance_cannot_run(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cost", "--price-source", "catalog", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_cost_compares_videos_across_instances_and_paths(runner: CliRunner) -> None:
    rows = _cost_json(runner)["videos_by_instance"]
    by = {(r["instance"], r["path"]): r for r in rows}
    # every family's cheapest fitting instance, resident paths where they fit, offload only on g5
    assert set(by) == {
        ("g5.4xlarge", "bf16-offload"),
        ("g6e.2xlarge", "bf16"),
        ("g6e.2xlarge", "bf16-compiled"),
        ("g6e.2xlarge", "fp8-compiled"),
        ("p5.4xlarge", "bf16"),
        ("p5.4xlarge", "bf16-compiled"),
        ("p5.4xlarge", "fp8-compiled"),
    }
    assert [r["cost_per_video_usd"] for r in rows] == sorted(r["cost_per_video_usd"] for r in rows)
    p5 = by[("p5.4xlarge", "fp8-compiled")]
    assert p5["seconds_per_video"] == catalog.GENERATOR_H100_SECONDS["fp8-compiled"][(480, 832)]
    assert p5["cost_per_video_usd"] == pytest.approx(
        video_cost.per_video(
            gpu_hour_usd=6.88, seconds=45.3, videos_per_worker=cost.DEFAULT_VIDEOS_PER_WORKER,
            worker_start=cost.DEFAULT_GENERATOR_OVERHEAD_S,
        )["total_usd"],
        abs=1e-4,
    )  # fmt: skip
    assert by[("g6e.2xlarge", "fp8-compiled")]["seconds_estimated"] is True
    result = runner.invoke(app, ["cost", "--price-source", "catalog"])
    assert (
        "Per video by instance and path" in result.output
        and "bf16-compiled (deployed default)" in result.output
    )


# ---------------------------------------------------------------- mistakes get one line, not a wrong price


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--video-height", "481"], "--video-height must be a positive multiple of 16, got 481"),
        (["--video-width", "0"], "--video-width must be a positive multiple of 16, got 0"),
        (["--video-width", "-832"], "--video-width must be a positive multiple of 16, got -832"),
        (["--min-tasks", "3", "--max-tasks", "2"], "--min-tasks (3) must not exceed --max-tasks (2)"),
        # 0.5 req/s per instance = 1,800 req/h; maxTasks 2 serves 3,600 req/h at most.
        (["--throughput", "0.5", "--requests-per-hour", "5000"], "needs 3 instances"),
    ],
)
def test_cost_refuses_impossible_inputs(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cost", "--price-source", "catalog", *args])
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cost_load_beyond_max_tasks_names_the_fix(runner: CliRunner) -> None:
    args = ["cost", "--price-source", "catalog", "--throughput", "0.5", "--requests-per-hour", "5000"]
    refused = runner.invoke(app, args)
    assert "maxTasks" in refused.stderr and "-c maxTasks=3" in refused.stderr
    allowed = runner.invoke(app, [*args, "--max-tasks", "3", "--json"])
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["reasoner"]["load"]["instances_when_busy"] == 3


def test_cost_region_outside_the_price_list_says_so(runner: CliRunner) -> None:
    result = runner.invoke(app, ["cost", "--price-source", "catalog", "--region", "eu-west-1"])
    assert result.exit_code == 1
    assert "No prices for eu-west-1: cosmosctl ships us-east-1 list prices only" in result.stderr
    assert "--price-source aws" in result.stderr
    # The shipped region itself still prices.
    assert runner.invoke(app, ["cost", "--price-source", "catalog", "--region", "us-east-1"]).exit_code == 0


def test_cost_profile_region_outside_the_price_list_is_noted(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    result = runner.invoke(app, ["cost", "--price-source", "catalog", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["region"] == "us-east-1"
    assert any(
        "profile's region is ap-south-1, but these are us-east-1 prices" in a for a in data["assumptions"]
    )


def test_cost_region_priced_by_the_pricing_api_is_accepted() -> None:
    price = cost.Price(2.0, "AWS Pricing API (on-demand Linux, eu-west-1)", "eu-west-1")
    assert cost.check_priced_region(price, "eu-west-1", explicit=True, note=None) is None


@pytest.mark.parametrize(
    ("instance", "label"), [("g6e.2xlarge", "g6e.2xlarge, 480x832"), ("p5.4xlarge", "p5.4xlarge, 480x832")]
)
def test_docs_cost_md_video_parts_match_the_cli(runner: CliRunner, instance: str, label: str) -> None:
    g = _cost_json(runner, "--generator-instance", instance)["generator"]
    p = g["parts_usd"]
    cells = " | ".join(
        f"{p[k]:.5f}"
        for k in ("gpu_usd", "job_overhead_usd", "worker_start_usd", "storage_reads_usd", "requests_usd")
    )
    row = f"| {label} | {cells} | **{g['cost_per_video_usd']:.4f}** |"
    assert row in DOC.read_text(encoding="utf-8"), f"docs/cost.md parts row is stale; the CLI gives {row}"
