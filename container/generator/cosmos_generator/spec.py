"""The job spec: one generation request, parsed and validated with one-line error messages."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MODELS = {"nano": "nvidia/Cosmos3-Nano", "super": "nvidia/Cosmos3-Super"}
# bf16: BF16 weights and GEMMs; fp8: BF16 weights with FP8 GEMMs in the decoder blocks (accel);
# fp32: FP32 everything (debugging; twice the memory).
PRECISIONS = ("bf16", "fp8", "fp32")
# none: resident on the GPU; model/sequential: diffusers CPU offload; group: layer streaming (accel).
OFFLOAD_MODES = ("none", "model", "group", "sequential")
# Modes the job applies itself; the others need cosmos_generator.accel.
BASIC_PRECISIONS = ("bf16", "fp32")
BASIC_OFFLOAD_MODES = ("none", "model", "sequential")

# Geometry of the released checkpoints (both use the Wan 2.2 VAE: 16x spatial, 4x temporal
# compression), so a bad size fails before minutes of weight loading. The loaded pipeline's own
# scale factors are checked again afterwards.
CHECKPOINT_SPATIAL_FACTOR = 16
CHECKPOINT_TEMPORAL_FACTOR = 4

# 189 frames (~7.9 s at 24 fps) is the pipeline's default length and what NVIDIA's timings use.
MAX_NUM_FRAMES = 189
# 1280 is the long side of the model's largest (720p) resolution bins.
MAX_SIDE = 1280
MAX_STEPS = 200
MAX_SEED = 2**63 - 1


class SpecError(ValueError):
    """A job spec that can never succeed: retrying will not help."""


@dataclass(frozen=True)
class JobSpec:
    """One generation request. Field names are the JSON keys of a spec or manifest line."""

    prompt: str
    negative_prompt: str | None = None
    image: str | None = None  # s3:// URI of a conditioning image (image-to-video)
    video: str | None = None  # s3:// URI of a conditioning video (video-to-video)
    num_frames: int = 189
    height: int = 480
    width: int = 832
    fps: float = 24.0
    steps: int = 35
    guidance: float = 6.0
    seed: int | None = None  # None: a random seed, recorded in the metadata
    model: str = "nano"
    precision: str = "bf16"
    offload: str = "none"
    # Further performance switches (compile, vae_tiling, attention_backend, ...): the fields of
    # cosmos_generator.accel.AccelOptions, validated there and passed to apply_optimizations.
    extra_options: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return MODELS[self.model]

    @property
    def load_precision(self) -> str:
        """The dtype the weights load in: FP8 GEMMs run on BF16 weights."""
        return "fp32" if self.precision == "fp32" else "bf16"

    def optimization_options(self) -> dict[str, Any]:
        """The mapping for accel.apply_optimizations: the switches plus precision and offload."""
        return {
            **self.extra_options,
            "precision": "fp8" if self.precision == "fp8" else "bf16",
            "offload": self.offload,
        }

    def needs_accel(self) -> list[str]:
        """The requested settings that only cosmos_generator.accel can apply."""
        needs = [f"{name}={value!r}" for name, value in self.extra_options.items()]
        if self.precision not in BASIC_PRECISIONS:
            needs.append(f"precision={self.precision!r}")
        if self.offload not in BASIC_OFFLOAD_MODES:
            needs.append(f"offload={self.offload!r}")
        return needs

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra_options")
        data.update(extra)
        return data


_CORE_FIELDS = {f.name: f for f in dataclasses.fields(JobSpec) if f.name != "extra_options"}
_TYPES: dict[str, tuple[type, ...]] = {
    "prompt": (str,),
    "negative_prompt": (str,),
    "image": (str,),
    "video": (str,),
    "num_frames": (int,),
    "height": (int,),
    "width": (int,),
    "fps": (int, float),
    "steps": (int,),
    "guidance": (int, float),
    "seed": (int,),
    "model": (str,),
    "precision": (str,),
    "offload": (str,),
}
_NULLABLE = {"negative_prompt", "image", "video", "seed"}


def parse_spec(
    data: Any,
    *,
    extra_option_names: frozenset[str] = frozenset(),
    defaults: Mapping[str, Any] | None = None,
) -> JobSpec:
    """Build a JobSpec from decoded JSON, rejecting unknown fields and wrong types.

    ``defaults`` fill fields the spec leaves out (the deployment's model, precision and offload);
    they are validated like the spec's own values.

    ``extra_option_names`` are the further performance options that the image's accel module
    declares; they pass through to it untyped, and accel validates them.
    """
    if not isinstance(data, dict):
        raise SpecError(f"job spec must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_CORE_FIELDS) - set(extra_option_names))
    if unknown:
        allowed = ", ".join(sorted(set(_CORE_FIELDS) | set(extra_option_names)))
        raise SpecError(f"unknown field(s) {', '.join(unknown)} in job spec; allowed: {allowed}")
    if "prompt" not in data:
        raise SpecError("job spec needs a 'prompt'")
    data = {**(defaults or {}), **data}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _CORE_FIELDS:
            extra[key] = value
            continue
        if value is None and key in _NULLABLE:
            values[key] = None
            continue
        expected = _TYPES[key]
        # bool is an int subclass: reject true/false where a number is expected, and vice versa.
        if isinstance(value, bool) != (bool in expected) or not isinstance(value, expected):
            names = " or ".join("number" if t is float else t.__name__ for t in expected)
            raise SpecError(f"field '{key}' must be {names}, got {json.dumps(value)}")
        values[key] = float(value) if float in expected else value
    spec = JobSpec(**values, extra_options=extra)
    check_static(spec)
    return spec


def check_static(spec: JobSpec) -> None:
    """Checks that need no model: ranges, enumerations, mutually exclusive inputs."""
    if not spec.prompt.strip():
        raise SpecError("'prompt' must not be empty")
    if spec.model not in MODELS:
        raise SpecError(f"'model' must be one of {', '.join(MODELS)}, got {spec.model!r}")
    if spec.precision not in PRECISIONS:
        raise SpecError(f"'precision' must be one of {', '.join(PRECISIONS)}, got {spec.precision!r}")
    if spec.offload not in OFFLOAD_MODES:
        raise SpecError(f"'offload' must be one of {', '.join(OFFLOAD_MODES)}, got {spec.offload!r}")
    if not 1 <= spec.num_frames <= MAX_NUM_FRAMES:
        raise SpecError(f"'num_frames' must be between 1 and {MAX_NUM_FRAMES}, got {spec.num_frames}")
    for name in ("height", "width"):
        value = getattr(spec, name)
        if not 1 <= value <= MAX_SIDE:
            raise SpecError(f"'{name}' must be between 1 and {MAX_SIDE} pixels, got {value}")
    if not 0 < spec.fps <= 120:
        raise SpecError(f"'fps' must be > 0 and <= 120, got {spec.fps:g}")
    if not 1 <= spec.steps <= MAX_STEPS:
        raise SpecError(f"'steps' must be between 1 and {MAX_STEPS}, got {spec.steps}")
    if not 1.0 <= spec.guidance <= 30.0:
        raise SpecError(f"'guidance' must be between 1 (no guidance) and 30, got {spec.guidance:g}")
    if spec.seed is not None and not 0 <= spec.seed <= MAX_SEED:
        raise SpecError(f"'seed' must be between 0 and 2**63-1, got {spec.seed}")
    if spec.image is not None and spec.video is not None:
        raise SpecError("give either 'image' (image-to-video) or 'video' (video-to-video), not both")
    for name in ("image", "video"):
        uri = getattr(spec, name)
        if uri is not None and not _is_s3_uri(uri):
            raise SpecError(f"'{name}' must be an s3://bucket/key URI, got {uri!r}")
    if spec.video is not None and spec.num_frames < 5:
        # The pipeline keeps latent frames 0 and 1 of a conditioning video: needs >= 2 latent frames.
        raise SpecError(f"video-to-video needs 'num_frames' >= 5, got {spec.num_frames}")


def check_geometry(spec: JobSpec, *, spatial_factor: int, temporal_factor: int) -> None:
    """Checks that depend on the VAE's compression: sizes and frame counts it can represent."""
    for name in ("height", "width"):
        value = getattr(spec, name)
        if value % spatial_factor:
            lower = max(spatial_factor, value - value % spatial_factor)
            raise SpecError(
                f"'{name}' must be a multiple of {spatial_factor} (the VAE's spatial compression), "
                f"got {value}; try {lower} or {lower + spatial_factor}"
            )
    if spec.num_frames != 1 and (spec.num_frames - 1) % temporal_factor:
        below = spec.num_frames - (spec.num_frames - 1) % temporal_factor
        raise SpecError(
            f"'num_frames' must be 1 or {temporal_factor}*k+1 (the VAE's temporal compression), "
            f"got {spec.num_frames}; try {below} or {below + temporal_factor}"
        )


def _is_s3_uri(uri: str) -> bool:
    if not uri.startswith("s3://"):
        return False
    bucket, _, key = uri[5:].partition("/")
    return bool(bucket) and bool(key)


def split_items(text: str, *, is_array: bool = True) -> list[Any]:
    """The items of a spec document, undecoded where they are manifest lines.

    A single JSON object (possibly pretty-printed) is one item (already decoded). Otherwise the
    document is JSONL: one object per non-blank line, each returned as its text so that one bad
    line fails only its own item (``decode_item``).
    """
    stripped = text.strip()
    if not stripped:
        raise SpecError("job spec is empty")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        return [line for line in stripped.splitlines() if line.strip()]
    if isinstance(whole, dict) or not is_array:
        return [whole]
    raise SpecError(f"a manifest must be JSON Lines (one object per line), got a JSON {type(whole).__name__}")


def decode_item(raw: Any, index: int, *, is_manifest: bool = True) -> Any:
    """Item ``index`` as decoded JSON (``raw`` from split_items)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        where = f"manifest line {index + 1}" if is_manifest else "job spec"
        raise SpecError(
            f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None


def select_item(text: str, index: int, *, is_array: bool) -> Any:
    """Decode item ``index`` of a spec document (one item per array child).

    A job that is not an array job must get a document with exactly one item.
    """
    lines = split_items(text, is_array=is_array)
    if not is_array and len(lines) != 1:
        raise SpecError(
            f"the spec holds {len(lines)} items but this is not an array job; "
            f"submit it as an array job of size {len(lines)}"
        )
    if not 0 <= index < len(lines):
        raise SpecError(f"array index {index} out of range: the manifest holds {len(lines)} line(s)")
    return decode_item(lines[index], index, is_manifest=is_array)
