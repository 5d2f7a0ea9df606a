"""Typer options that several commands declare alike, written once.

Two forms, both seen by typer exactly as if written in each command:

- an ``Annotated[type, typer.Option(...)]`` alias, where commands place the option among their own
  (typer cannot carry the default in the alias: each command still writes ``= default``);
- ``with_options(Group)``, where commands end with the same block of options: the fields of the
  dataclass ``Group`` become the command's last options, and the command receives them as one ``Group``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

R = TypeVar("R")

# The reasoner endpoint, as `ask` and `bench` take it.
EndpointOpt = Annotated[
    str | None, typer.Option("--endpoint", help="Endpoint URL (default: $COSMOS_ENDPOINT, else the stack).")
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", help="API key (default: $COSMOS_API_KEY, else the stack's secret)."),
]
StackOpt = Annotated[str, typer.Option("--stack", help="Stack to read the endpoint from.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region of the stack.")]
VideoFpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps", help="Frames per second to keep from --video (sampled here, in the client, by default)."
    ),
]
MaxFramesOpt = Annotated[
    int, typer.Option("--max-frames", min=1, help="Most frames of --video to send (sampled evenly beyond).")
]
MaxVideoSideOpt = Annotated[
    int,
    typer.Option(
        "--max-video-side", min=16, help="Scale --video down to this many pixels on its longer side."
    ),
]
ServerSideSamplingOpt = Annotated[
    bool,
    typer.Option(
        "--server-side-sampling",
        help="Send --video as is with mm_processor_kwargs {fps, do_sample_frames} for the NIM to sample "
        "(vLLM >= 0.31 refuses that unless started with --trust-request-mm-kwargs).",
    ),
]


def with_options(group: type[Any]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a typer command the fields of the dataclass ``group`` as its last options.

    Each field is declared as a command parameter would be: ``name: Annotated[type, typer.Option(...)] =
    default``. The command takes one parameter annotated ``group``; typer sees the group's fields instead of
    it, after the command's other parameters, and the command receives them as one ``group`` instance.
    """
    hints = get_type_hints(group, include_extras=True)
    fields = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default,
            annotation=hints[f.name],
        )
        for f in dataclasses.fields(group)
    ]

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        signature = inspect.signature(command, eval_str=True)
        targets = [p.name for p in signature.parameters.values() if p.annotation is group]
        if len(targets) != 1:
            raise TypeError(f"{command.__name__} needs exactly one parameter of type {group.__name__}.")
        own = [p for p in signature.parameters.values() if p.name != targets[0]]
        clash = {p.name for p in own} & {f.name for f in fields}
        if clash:
            raise TypeError(f"{command.__name__} already has parameter(s) {', '.join(sorted(clash))}.")

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> R:
            values = {f.name: kwargs.pop(f.name) for f in fields}
            return command(**kwargs, **{targets[0]: group(**values)})

        params = [*own, *fields]
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {
            "return": signature.return_annotation
        }
        return wrapper

    return decorate
