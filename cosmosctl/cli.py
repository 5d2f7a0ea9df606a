"""The `cosmosctl` command line: wires each command group's module into one typer app."""

from __future__ import annotations

import typer

from cosmosctl import __version__
from cosmosctl.ask import ask_command
from cosmosctl.bench import bench_command
from cosmosctl.cost import cost_command
from cosmosctl.endpoint import app as endpoint_app
from cosmosctl.generate import app as generate_app

app = typer.Typer(
    name="cosmosctl",
    help="Use NVIDIA Cosmos 3 in your AWS account: ask the reasoner, generate videos, measure, cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.add_typer(endpoint_app, name="endpoint")
app.command("ask")(ask_command)
app.add_typer(generate_app, name="generate")
app.command("bench")(bench_command)
app.command("cost")(cost_command)

# The DIY home-repair assistant lives in cosmosctl/diy/ (its own owner); mount it when present.
try:
    from cosmosctl.diy.cli import app as diy_app
except ModuleNotFoundError as exc:  # pragma: no cover - only while cosmosctl/diy is being built
    if exc.name not in ("cosmosctl.diy", "cosmosctl.diy.cli"):
        raise
else:
    app.add_typer(diy_app, name="diy")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cosmosctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Cosmos 3 on AWS client."""


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
