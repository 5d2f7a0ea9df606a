"""Loading Cosmos3OmniPipeline once per container: hub access checks, dtype, placement, offload."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .spec import SpecError

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


class ModelAccessError(RuntimeError):
    """The Hugging Face token cannot read a (gated) repository the job needs."""


class RevisionError(SpecError):
    """MODEL_REVISION names no branch, tag or commit of the repository: retrying cannot help."""


@dataclass(frozen=True)
class LoadRequest:
    model_id: str
    revision: str
    precision: str
    offload: str
    device: str
    # Out of repr: a request in an exception message or log line must not carry the HF token.
    token: str | None = field(repr=False)
    enable_safety_checker: bool
    # The performance options applied after loading, as sorted JSON: a different set means a
    # freshly loaded pipeline (compiled or FP8-quantized modules cannot be undone in place).
    options: str = "{}"


@dataclass
class LoadedPipeline:
    pipe: Any
    model_id: str
    revision: str  # the commit actually loaded when known, else the requested revision
    loader: str
    optimizations: Any = None  # what accel.apply_optimizations reported


Loader = Callable[[LoadRequest], Any]

_CACHE: dict[LoadRequest, LoadedPipeline] = {}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_loader(spec: str | None) -> tuple[str, Loader]:
    """``PIPELINE_LOADER`` is ``module:function`` taking a LoadRequest; unset means the hub."""
    if not spec:
        return "huggingface", load_from_hub
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"PIPELINE_LOADER must look like 'package.module:function', got {spec!r}")
    return spec, getattr(importlib.import_module(module_name), attr)


def get_pipeline(
    request: LoadRequest,
    loader_spec: str | None = None,
    *,
    offload_here: bool = True,
    prepare: Callable[[Any], Any] | None = None,
) -> LoadedPipeline:
    """Load, place and prepare the pipeline once per container and request.

    ``offload_here=False`` leaves offloading to ``prepare`` (accel's apply_optimizations, which also
    knows group offload); the pipeline then stays on the CPU unless it is to be resident on the GPU.
    """
    cached = _CACHE.get(request)
    if cached is not None:
        return cached
    _CACHE.clear()  # one pipeline per container: a GPU does not hold two
    name, loader = resolve_loader(loader_spec)
    result = loader(request)
    if isinstance(result, LoadedPipeline):
        loaded = result
    else:
        loaded = LoadedPipeline(
            pipe=result, model_id=request.model_id, revision=request.revision, loader=name
        )
    place(
        loaded.pipe,
        offload=request.offload if offload_here else "none",
        device=request.device,
        resident=offload_here or request.offload == "none",
    )
    if prepare is not None:
        loaded.optimizations = prepare(loaded.pipe)
    _CACHE[request] = loaded
    return loaded


def cached_pipeline(request: LoadRequest) -> LoadedPipeline | None:
    """The pipeline already loaded for ``request`` in this container, if any."""
    return _CACHE.get(request)


def clear_cache() -> None:
    _CACHE.clear()


def place(pipe: Any, *, offload: str, device: str, resident: bool = True) -> None:
    """Put the pipeline on the GPU whole, or offload it to host RAM between uses."""
    if offload == "none":
        if resident:
            pipe.to(device)
    elif offload == "model":
        # Whole components move to the GPU when used: transformer, then VAE (model_cpu_offload_seq).
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        # Layer by layer: least GPU memory, much slower.
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        raise ValueError(f"unknown offload mode {offload!r}")
    checker = getattr(pipe, "safety_checker", None)
    if isinstance(checker, torch.nn.Module):
        # The pipeline moves the guardrail to the GPU for each check and back to the CPU afterwards;
        # start it on the CPU too, so it does not sit on the GPU while the first video denoises.
        checker.to("cpu")


def load_from_hub(request: LoadRequest) -> LoadedPipeline:
    """Load the real pipeline; from the host cache only once the weights stage has filled it.

    The job's weights stage (weights.py) puts every file into the host cache first and switches
    to offline mode; without it (a local run), this checks access and downloads like diffusers.
    """
    from diffusers import Cosmos3OmniPipeline

    from .weights import WeightsConfig

    revision = request.revision
    offline = _offline()
    if not offline:
        revision = check_access(request.model_id, request.revision, request.token)
    try:
        pipe = Cosmos3OmniPipeline.from_pretrained(
            request.model_id,
            revision=revision,
            torch_dtype=DTYPES[request.precision],
            token=request.token,
            cache_dir=str(WeightsConfig.from_environ(os.environ).hub_cache),
            local_files_only=offline,
            enable_safety_checker=request.enable_safety_checker,
        )
    except Exception as err:  # re-raise access problems that surface only while downloading
        access = _access_problem(err, request.model_id, request.revision)
        if access is not None:
            raise access from err
        raise
    if not request.enable_safety_checker:
        pipe.safety_checker = None
    return LoadedPipeline(pipe=pipe, model_id=request.model_id, revision=revision, loader="huggingface")


def hub_download(need: Any, hub_cache: Any, token: str | None) -> tuple[str, Any]:
    """Download one repository from the Hub into ``hub_cache``; return (commit, snapshot dir).

    The model comes through diffusers' ``download`` (only the files from_pretrained reads); other
    repositories (the guardrail's) through ``snapshot_download`` with their patterns.
    """
    from pathlib import Path

    try:
        if need.allow_patterns is None and need.repo_id.startswith("nvidia/Cosmos3-"):
            from diffusers import Cosmos3OmniPipeline

            folder = Cosmos3OmniPipeline.download(
                need.repo_id, revision=need.revision, token=token, cache_dir=str(hub_cache)
            )
        else:
            from huggingface_hub import snapshot_download

            folder = snapshot_download(
                need.repo_id,
                revision=need.revision,
                token=token,
                cache_dir=str(hub_cache),
                allow_patterns=list(need.allow_patterns) if need.allow_patterns else None,
            )
    except Exception as err:
        access = _access_problem(err, need.repo_id, need.revision)
        if access is not None:
            raise access from err
        raise
    folder = Path(folder)
    return folder.name, folder


def check_access(model_id: str, revision: str, token: str | None) -> str:
    """Return the commit ``revision`` points at, or raise ModelAccessError with what to do."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(model_id, revision=revision, token=token)
    except Exception as err:
        access = _access_problem(err, model_id, revision)
        if access is not None:
            raise access from err
        raise
    return info.sha or revision


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _access_problem(err: BaseException, model_id: str, revision: str | None = None) -> Exception | None:
    """Find a gated/401/403/not-found/bad-revision hub error anywhere in ``err``'s chain."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RevisionNotFoundError):
            return RevisionError(
                f"{model_id} has no revision {revision!r}: set MODEL_REVISION (the stack's "
                "generatorModelRevision) to a branch, tag or commit of the repository"
            )
        if isinstance(current, GatedRepoError):
            return ModelAccessError(
                f"the Hugging Face token has no access to the gated repository {model_id}: accept the "
                f"model's license on huggingface.co/{model_id} with the token's account"
            )
        if isinstance(current, RepositoryNotFoundError):
            return ModelAccessError(
                f"{model_id} is not visible with the Hugging Face token given (missing or invalid HF_TOKEN, "
                "or no access to the repository)"
            )
        if isinstance(current, HfHubHTTPError):
            status = getattr(getattr(current, "response", None), "status_code", None)
            if status in (401, 403):
                return ModelAccessError(
                    f"Hugging Face answered {status} for {model_id}: HF_TOKEN is missing, invalid, or lacks "
                    "access to this gated repository"
                )
        current = current.__cause__ or current.__context__
    return None
