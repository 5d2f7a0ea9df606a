"""`cosmosctl diy`: ask the home-repair assistant about a photo or video, and evaluate it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import openai
import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cosmosctl.aws import REASONER_STACK
from cosmosctl.client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S, make_client, pick_model
from cosmosctl.console import err, handle_errors, out, print_json
from cosmosctl.diy import evaluation, guardrail_eval
from cosmosctl.diy.pipeline import DiyAnswer, MediaKind, ModelEndpoint, run_pipeline
from cosmosctl.endpoint import resolve_endpoint
from cosmosctl.errors import CosmosError
from cosmosctl.options import RegionOpt, with_options

ENV_LLM_ENDPOINT = "DIY_LLM_ENDPOINT"
ENV_LLM_MODEL = "DIY_LLM_MODEL"
ENV_LLM_KEYS = ("DIY_LLM_API_KEY", "OPENAI_API_KEY")

app = typer.Typer(
    help="DIY home-repair assistant: Cosmos looks, a general LLM writes the procedure, a fixed guardrail "
    "has the last word.",
    no_args_is_help=True,
    add_completion=False,
)


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def llm_endpoint(endpoint: str | None, model: str | None, timeout: float) -> ModelEndpoint:
    """The general LLM: URL from the flag or DIY_LLM_ENDPOINT, key from DIY_LLM_API_KEY or OPENAI_API_KEY."""
    url = (endpoint or "").strip() or _env(ENV_LLM_ENDPOINT)
    if not url:
        raise CosmosError(
            "No general LLM endpoint for the procedure.",
            f"Pass --llm-endpoint (e.g. https://api.openai.com/v1) or set {ENV_LLM_ENDPOINT}, "
            f"and put its key in {ENV_LLM_KEYS[0]} or {ENV_LLM_KEYS[1]}.",
        )
    if not url.startswith(("http://", "https://")):
        raise CosmosError(f"Invalid --llm-endpoint URL: {url!r}")
    key = next((k for k in (_env(n) for n in ENV_LLM_KEYS) if k), None)
    # Used exactly as given: general providers put their OpenAI API under paths other than /v1.
    client = openai.OpenAI(
        base_url=url.rstrip("/"),
        api_key=key or "none",
        timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
        max_retries=DEFAULT_MAX_RETRIES,
    )
    return ModelEndpoint(client=client, model=pick_model(client, model or _env(ENV_LLM_MODEL)))


@dataclass(frozen=True)
class ModelOptions:
    """The options `ask` and `eval` share, after their own: the Cosmos reasoner, the general LLM, the media."""

    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="Reasoner URL (default: COSMOS_ENDPOINT, then the stack)."),
    ] = None
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="Reasoner API key (default: COSMOS_API_KEY, then the stack)."),
    ] = None
    model: Annotated[
        str | None, typer.Option("--model", help="Reasoner model (default: from /v1/models).")
    ] = None
    stack: Annotated[str, typer.Option("--stack", help="Reasoner CloudFormation stack.")] = REASONER_STACK
    region: RegionOpt = None
    llm_endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--llm-endpoint",
            help=f"General LLM's OpenAI base URL, used as given, e.g. https://api.openai.com/v1 "
            f"(default: {ENV_LLM_ENDPOINT}). Key from {' or '.join(ENV_LLM_KEYS)}.",
        ),
    ] = None
    llm_model: Annotated[
        str | None,
        typer.Option("--llm-model", help=f"General LLM model (default: {ENV_LLM_MODEL}, then /v1/models)."),
    ] = None
    llm_sees_media: Annotated[
        bool,
        typer.Option(
            "--llm-sees-media/--llm-text-only",
            help="Also send the photo/video to the general LLM (vision-capable LLMs only).",
        ),
    ] = False
    fps: Annotated[float | None, typer.Option("--fps", help="Video sampling rate for Cosmos.")] = None
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds per model request."),
    ] = DEFAULT_TIMEOUT_S

    def llm(self) -> ModelEndpoint:
        return llm_endpoint(self.llm_endpoint_url, self.llm_model, self.timeout)

    def reasoner(self) -> ModelEndpoint:
        url, key = resolve_endpoint(self.endpoint, self.api_key, stack=self.stack, region=self.region)
        client = make_client(url, key, timeout=self.timeout)
        return ModelEndpoint(client=client, model=pick_model(client, self.model))


def _media(
    image: Path | None, video: Path | None, fps: float | None
) -> tuple[str | None, MediaKind | None, list]:
    from cosmosctl.media import image_part, video_part

    if image and video:
        raise CosmosError("Pass either --image or --video, not both.")
    if image:
        return str(image), "image", [image_part(str(image))]
    if video:
        return str(video), "video", [video_part(str(video), fps)]
    return None, None, []


# The longest question among the project's 23,000 labelled cases is 804 characters.
MAX_QUESTION_CHARS = 4_000


@app.command("ask")
@with_options(ModelOptions)
def ask_command(
    question: Annotated[str, typer.Argument(help='What to ask, e.g. "Why is this trap leaking?"')],
    image: Annotated[Path | None, typer.Option("--image", help="Photo of the problem.")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="Short MP4 of the problem.")] = None,
    llm_only: Annotated[
        bool, typer.Option("--llm-only", help="Skip Cosmos perception: the general LLM alone (the baseline).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
    include_draft: Annotated[
        bool, typer.Option("--include-draft", help="With --json, include the LLM's unguarded draft.")
    ] = False,
    hazard_review: Annotated[
        bool,
        typer.Option(
            "--hazard-review/--no-hazard-review",
            help="Also ask the general LLM to rate the job's hazard (it can only raise the guardrail's level).",
        ),
    ] = True,
    *,
    models: ModelOptions,
) -> None:
    """Ask about a photo or video: observation, procedure, cautions and the guardrail rules that fired."""
    _ask(**locals())


@handle_errors
def _ask(
    *,
    question: str,
    image: Path | None,
    video: Path | None,
    llm_only: bool,
    as_json: bool,
    include_draft: bool,
    hazard_review: bool,
    models: ModelOptions,
) -> None:
    if len(question) > MAX_QUESTION_CHARS:
        # the guardrail's rules slow with the square of a long text's length (10 KB: seconds)
        raise CosmosError(
            f"The question is {len(question):,} characters; the assistant takes at most {MAX_QUESTION_CHARS:,}.",
            "Describe the job and what you see in a few sentences; leave out pasted logs or manuals.",
        )
    media, kind, parts = _media(image, video, models.fps)
    if not llm_only and not parts:
        raise CosmosError(
            "The grounded assistant needs a photo or video.",
            "Pass --image or --video, or --llm-only for the text-only baseline.",
        )
    with err.status("Connecting to the general LLM..."):
        llm = models.llm()
    reasoner = None
    if not llm_only:
        with err.status("Finding the Cosmos reasoner..."):
            reasoner = models.reasoner()
    stage = (
        "Cosmos is looking at the " + (kind or "media")
        if not llm_only
        else "The LLM is writing the procedure"
    )
    with err.status(f"{stage}..."):
        answer = run_pipeline(
            question,
            llm=llm,
            reasoner=reasoner,
            media_parts=parts if (not llm_only or models.llm_sees_media) else None,
            media_kind=kind,
            media=media,
            llm_only=llm_only,
            llm_sees_media=models.llm_sees_media,
            hazard_review=hazard_review,
        )
    if as_json:
        print_json(answer.to_json(include_draft=include_draft))
    else:
        render_answer(answer)


def render_answer(answer: DiyAnswer) -> None:
    """Human output: observation, answer, cautions and the guardrail rules that fired."""
    models = ", ".join(f"{k}: {v}" for k, v in answer.models.items())
    out.print(f"[bold]Mode[/] {answer.mode}   [dim]{escape(models)}[/]", markup=True)
    p = answer.perception
    if p is not None and p.observation is not None:
        obs = p.observation
        table = Table(title=f"Observation: {escape(obs.fixture_type)} ({obs.system})", title_justify="left")
        table.add_column("Component")
        table.add_column("State")
        table.add_column("Location")
        for c in obs.components:
            table.add_row(escape(c.name), escape(c.state), escape(c.location or ""))
        out.print(table)
        if obs.likely_failure:
            lf = obs.likely_failure
            where = f" at {lf.location}" if lf.location else ""
            out.print(
                f"[bold]Likely failure[/]{escape(where)}: {escape(lf.description)} ({lf.confidence})",
                markup=True,
            )
        for h in obs.hazards:
            out.print(f"[bold yellow]Hazard[/] {h.type}: {escape(h.description)}", markup=True)
        if obs.uncertainties:
            out.print("[bold]Cannot see / unsure:[/] " + escape("; ".join(obs.uncertainties)), markup=True)
        if p.attempts > 1:
            out.print(
                f"[dim]Valid observation on attempt {p.attempts} (first answer: {escape(p.errors[0])}).[/]"
            )
    elif p is not None:
        body = "\n".join(f"- attempt {i}: {e}" for i, e in enumerate(p.errors, 1))
        raw = "\n\n".join(f"--- raw answer {i} ---\n{a[:1500]}" for i, a in enumerate(p.raw_answers, 1))
        out.print(
            Panel(
                escape(f"{body}\n\n{raw}"),
                title="Perception failed twice: the answer below is NOT grounded in your photo",
                border_style="red",
            ),
            soft_wrap=False,
        )
    g = answer.guardrail
    style = {"emergency": "bold red", "professional_only": "red", "caution": "yellow", "proceed": "green"}[
        g.level
    ]
    # soft_wrap off: the shared console soft-wraps, which would cut the panel's lines instead of wrapping.
    out.print(
        Panel(Markdown(answer.answer), title=f"Answer (safety: {g.level})", border_style=style),
        soft_wrap=False,
    )
    if g.categories:
        cautions = Table(title="Cautions", title_justify="left")
        cautions.add_column("Category")
        cautions.add_column("Notice")
        for category, notice in zip(g.categories, g.notices, strict=True):
            cautions.add_row(category, notice)
        out.print(cautions)
    if g.fired:
        fired = Table(title="Guardrail rules fired", title_justify="left")
        for col in ("Rule", "Category", "Level", "Source", "Matched"):
            fired.add_column(col)
        for f in g.fired:
            # A withheld draft stays withheld: what a rule matched in it could be a fragment of the
            # dangerous procedure, so the human view names the source only (--json keeps it for audits).
            hidden = g.withheld and f.source == "draft"
            fired.add_row(f.rule, f.category, f.level, f.source, "(withheld)" if hidden else escape(f.match))
        out.print(fired)
    else:
        out.print("[dim]Guardrail: no rule fired.[/]", markup=True)
    if g.removed_claims:
        out.print("[bold]Removed code-compliance claims:[/]", markup=True)
        for claim in g.removed_claims:
            out.print(f"  - {escape(claim)}", markup=True)
    op = g.second_opinion
    if op.status == "used":
        verdict = "raised the level" if op.raised else "did not raise the level"
        out.print(f"[dim]Hazard review ({op.level}): {verdict}. {escape(op.reason)}[/]", markup=True)
    elif op.status != "off":
        out.print(
            f"[yellow]Hazard review {op.status} ({escape(op.error or '')}): ignored; "
            "the fixed rules alone decided.[/]",
            markup=True,
        )
    out.print(f"[dim]Guardrail actions: {', '.join(g.actions) or 'none'}[/]", markup=True)


@app.command("eval")
@with_options(ModelOptions)
def eval_command(
    cases: Annotated[
        list[Path],
        typer.Argument(
            help="CASES.jsonl (see docs/diy-eval/), or guardrail case files (*.yaml, see tests/diy/cases/), "
            "which are scored offline with no model endpoint."
        ),
    ],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the Markdown report here (default: print it).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write every result as JSON.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--case", help="Run only this case id (repeatable).")
    ] = None,
    judge: Annotated[
        bool, typer.Option("--judge/--no-judge", help="Also grade answers with an LLM judge.")
    ] = False,
    judge_endpoint: Annotated[
        str | None,
        typer.Option("--judge-endpoint", help="Judge's OpenAI base URL (default: the general LLM's)."),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Judge model (default: the general LLM's).")
    ] = None,
    *,
    models: ModelOptions,
) -> None:
    """Run every case grounded and LLM-only, score both and write a report with the lift of grounding."""
    _eval(**locals())


@handle_errors
def _eval(
    *,
    cases: list[Path],
    out_path: Path | None,
    json_out: Path | None,
    only: list[str] | None,
    judge: bool,
    judge_endpoint: str | None,
    judge_model: str | None,
    models: ModelOptions,
) -> None:
    guardrail_files = [c for c in cases if c.suffix in (".yaml", ".yml")]
    if guardrail_files:
        if len(guardrail_files) != len(cases):
            raise CosmosError("Pass either guardrail case files (*.yaml) or one CASES.jsonl, not both.")
        _guardrail_eval(guardrail_files, out_path, json_out, only)
        return
    if len(cases) != 1:
        raise CosmosError("Pass one CASES.jsonl file.")
    loaded = evaluation.load_cases(cases[0])
    if only:
        unknown = sorted(set(only) - {c.id for c in loaded})
        if unknown:
            raise CosmosError(f"No such case id(s): {', '.join(unknown)}")
        loaded = [c for c in loaded if c.id in only]
    with err.status("Connecting to the endpoints..."):
        llm = models.llm()
        reasoner = models.reasoner()
        grader = None
        if judge:
            grader = (
                llm_endpoint(judge_endpoint, judge_model or llm.model, models.timeout)
                if judge_endpoint
                else ModelEndpoint(client=llm.client, model=judge_model or llm.model)
            )
    results: list[evaluation.CaseResult] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("cases", total=len(loaded))
        for case in loaded:

            def stage(mode: str, case_id: str = case.id) -> None:
                progress.update(task, description=f"{case_id}: {mode}")

            results.append(
                evaluation.run_case(
                    case,
                    llm=llm,
                    reasoner=reasoner,
                    judge=grader,
                    llm_sees_media=models.llm_sees_media,
                    fps=models.fps,
                    on_stage=stage,
                )
            )
            progress.advance(task)
    totals = evaluation.summarize(results)
    meta = {
        "Cases": str(cases[0]),
        "Reasoner": reasoner.model,
        "General LLM": llm.model,
        "Judge": grader.model if grader else "off",
        "LLM sees media in the baseline": "yes" if models.llm_sees_media else "no",
    }
    report = evaluation.render_report(results, totals, meta)
    if json_out:
        json_out.write_text(evaluation.results_json(results, totals), encoding="utf-8")
    if out_path is None:
        typer.echo(report)
        return
    out_path.write_text(report, encoding="utf-8")
    render_totals(results, totals)
    out.print(f"Report written to {escape(str(out_path))}")


def render_totals(results: list[evaluation.CaseResult], totals: evaluation.Totals) -> None:
    table = Table(title="DIY eval", title_justify="left")
    for col in ("Case", "Grounded", "LLM only", "Lift", "Note"):
        table.add_column(col)
    for r in results:
        if r.skipped:
            table.add_row(r.case.id, "", "", "", f"skipped: {escape(r.skipped)}")
            continue
        cells = []
        for m in (r.grounded, r.llm_only):
            cells.append("error" if m is None or m.score is None else f"{m.score.composite:.2f}")
        note = "captioner" if r.captioner else ("perception failed" if r.perception_ok is False else "")
        lift = "" if r.lift is None else f"{r.lift:+.2f}"
        table.add_row(r.case.id, *cells, lift, note)
    g, b = totals.grounded, totals.llm_only
    table.add_row(
        "[bold]total[/]",
        "n/a" if g.composite is None else f"{g.composite:.2f}",
        "n/a" if b.composite is None else f"{b.composite:.2f}",
        "" if totals.lift_composite is None else f"{totals.lift_composite:+.2f}",
        f"{len(totals.captioner_cases)} captioner, {totals.perception_failures} perception failures",
    )
    out.print(table)


def _guardrail_eval(
    files: list[Path], out_path: Path | None, json_out: Path | None, only: list[str] | None
) -> None:
    """Score the guardrail alone on written cases and print the per-category figures."""
    import json

    loaded = guardrail_eval.load_guardrail_cases(files)
    if only:
        unknown = sorted(set(only) - {c.id for _, c in loaded})
        if unknown:
            raise CosmosError(f"No such case id(s): {', '.join(unknown)}")
        loaded = [(f, c) for f, c in loaded if c.id in only]
    report = guardrail_eval.evaluate(loaded)
    rows = guardrail_eval.figure_rows(report)
    table = Table(title=f"Guardrail eval: {', '.join(f.name for f in files)}", title_justify="left")
    for col in rows[0]:
        table.add_column(col)
    for row in rows[1:-1]:
        table.add_row(*row)
    table.add_row(*(f"[bold]{cell}[/]" for cell in rows[-1]))
    out.print(table)
    for o in report.failures:
        out.print(
            f"[red]not right[/] {escape(o.id)}: expected {'/'.join(o.expected)} {o.categories_expected}, "
            f"got {o.got} {o.categories_got}",
            markup=True,
        )
    if out_path:
        out_path.write_text(guardrail_eval.render_markdown(report), encoding="utf-8")
        out.print(f"Report written to {escape(str(out_path))}")
    if json_out:
        json_out.write_text(json.dumps(report.model_dump(mode="json"), indent=2), encoding="utf-8")
