"""Shared terminal output for the CLI: rich consoles and the CosmosError -> exit-code decorator."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cosmosctl.errors import CosmosError

F = TypeVar("F", bound=Callable[..., Any])

# Human output on stdout; errors and progress on stderr so stdout stays pipeable (--json, --env).
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def fail(error: CosmosError) -> typer.Exit:
    """Print ``error`` as one line on stderr and return the Exit to raise."""
    err.print(f"[bold red]Error:[/] {escape(error.message)}", markup=True, soft_wrap=True)
    if error.hint:
        err.print(f"[dim]Hint:[/] {escape(error.hint)}", markup=True, soft_wrap=True)
    return typer.Exit(error.exit_code)


def handle_errors(func: F) -> F:
    """Decorate a typer command so a CosmosError becomes a short message and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CosmosError as error:
            raise fail(error) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Machine output: JSON on stdout, nothing else."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
