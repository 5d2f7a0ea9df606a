"""Randomly initialised Cosmos3OmniPipeline built locally, with no Hugging Face hub access.

Two sizes:

- ``tiny``: the component shapes of diffusers' own fast test for this pipeline
  (tests/pipelines/cosmos/test_cosmos3.py), small enough to render a 9-frame 32x48 video on a CPU
  in well under a second. The job's tests run the real entrypoint on it.
- ``full``: the architecture of the released ``nvidia/Cosmos3-Nano`` with random weights, for
  GPU benchmarks. diffusers' converter (scripts/convert_cosmos3_to_diffusers.py) builds Nano's
  transformer from the Qwen3-VL-8B language model config (hidden 4096, 36 layers, 32 query / 8 KV
  heads of 128, MLP 12288, vocab 151936, rope theta 5e6, interleaved mRoPE [24, 20, 20]: the
  ``Cosmos3OmniTransformer`` defaults), 48 latent channels with 2x2 patches, the Wan 2.2 TI2V-5B VAE
  (``Wan-AI/Wan2.2-TI2V-5B-Diffusers``: 16x spatial, 4x temporal compression) and the same
  Karras/flow UniPC scheduler. That is about 14.5 B transformer parameters, ~29 GB in BF16, which
  matches the ~30 GiB of weights measured for the real checkpoint.

The text tokenizer is built in code: a ``tokenizers`` WordLevel model wrapped in
``PreTrainedTokenizerFast`` with Qwen's chat special tokens and a Qwen-style chat template. Its
vocabulary is small, so token ids differ from Qwen's, but the sequence lengths (a token per word or
punctuation run) are of the same order, which is what matters for timing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch

Size = Literal["tiny", "full"]

# Qwen3-VL chat special tokens the pipeline looks up (`<|vision_start|>` marks the start of
# generation, `<|im_end|>` is the end-of-sequence id it appends).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
UNK_TOKEN = "<unk>"

# Qwen-style chat template: one `<|im_start|>role\ncontent<|im_end|>` block per message.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Words that the pipeline's own templates and system prompts use, plus common prompt words, so that
# a typical prompt maps to mostly distinct ids rather than to `<unk>`.
_BASE_WORDS = """
you are a helpful assistant who will generate images videos video image from give prompt the this is
of resolution not seconds long and fps x system user assistant in on with at to by for an as it its
robot arm car road street city kitchen table cup dog cat person man woman hand camera view scene
light sun sky water tree house room wall floor door window red green blue white black yellow small
large slowly quickly moves walks drives picks up puts down opens closes turns left right forward
back bad quality blurry low distorted static
"""

TINY_TRANSFORMER: dict[str, Any] = {
    "head_dim": 6,
    "hidden_act": "relu2",
    "hidden_size": 6,
    "intermediate_size": 12,
    "latent_channel": 16,
    "latent_patch_size": 1,
    "num_attention_heads": 1,
    "num_hidden_layers": 1,
    "num_key_value_heads": 1,
    "patch_latent_dim": 16,
    "qk_norm_for_text": False,
    "rms_norm_eps": 1e-5,
    "rope_axes_dim": [1, 1, 1],
}
TINY_VAE: dict[str, Any] = {
    "base_dim": 3,
    "z_dim": 16,
    "dim_mult": [1, 1, 1, 1],
    "num_res_blocks": 1,
    "temperal_downsample": [False, True, True],
}

# Nano: Qwen3-VL-8B text config as used by diffusers' Cosmos3 converter (see module docstring).
NANO_TRANSFORMER: dict[str, Any] = {
    "attention_bias": False,
    "attention_dropout": 0.0,
    "base_fps": 24,
    "enable_fps_modulation": True,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 12288,
    "latent_channel": 48,
    "latent_patch_size": 2,
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "patch_latent_dim": 192,
    "qk_norm_for_text": True,
    "rms_norm_eps": 1e-6,
    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
    "rope_theta": 5000000.0,
    "timestep_scale": 0.001,
    "unified_3d_mrope_reset_spatial_ids": True,
    "unified_3d_mrope_temporal_modality_margin": 15000,
    "vocab_size": 151936,
}
# Wan 2.2 VAE latent statistics (per channel), from the same vae/config.json.
# fmt: off
WAN22_LATENTS_MEAN = [
        -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
        -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
        -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
        -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
        -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
        0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
]
WAN22_LATENTS_STD = [
        0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
        0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
        0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
        0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
        0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
        0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
]
# fmt: on

# Wan 2.2 TI2V-5B VAE (vae/config.json of Wan-AI/Wan2.2-TI2V-5B-Diffusers, latent statistics included
# because the pipeline normalises latents with them).
NANO_VAE: dict[str, Any] = {
    "attn_scales": [],
    "base_dim": 160,
    "decoder_base_dim": 256,
    "dim_mult": [1, 2, 4, 4],
    "dropout": 0.0,
    "in_channels": 12,
    "is_residual": True,
    "num_res_blocks": 2,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "temperal_downsample": [False, True, True],
    "z_dim": 48,
    "latents_mean": WAN22_LATENTS_MEAN,
    "latents_std": WAN22_LATENTS_STD,
}
# The scheduler diffusers' converter saves with the real pipeline (Karras sigmas approximating the
# flow UniPC schedule with shift 5 over 35 steps).
SCHEDULER: dict[str, Any] = {
    "use_karras_sigmas": True,
    "use_flow_sigmas": True,
    "prediction_type": "flow_prediction",
    "sigma_max": 200.0,
    "sigma_min": 0.147,
}


def build_tokenizer() -> Any:
    """Return a ``PreTrainedTokenizerFast`` with Qwen's chat special tokens and chat template."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(_BASE_WORDS.split()))
    characters = [chr(c) for c in range(33, 127)]  # single printable characters: punctuation, digits
    vocab: dict[str, int] = {}
    numbers = [str(n) for n in range(1281)]  # frame counts, sizes and fps in the prompt templates
    for token in (*SPECIAL_TOKENS, UNK_TOKEN, *characters, *numbers, *words):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")],
        chat_template=CHAT_TEMPLATE,
    )


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_random_pipeline(
    size: Size = "tiny",
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    *,
    seed: int = 0,
    enable_safety_checker: bool = False,
) -> Any:
    """Build a randomly initialised ``Cosmos3OmniPipeline`` of the given size on ``device``.

    Parameters are created directly on ``device`` in ``dtype`` (the full model never exists in FP32,
    which would need ~58 GB), except the timestep embedder, which the model keeps in FP32 as
    ``from_pretrained`` does. The safety checker is off unless asked for (it needs the
    ``cosmos-guardrail`` package and downloads its own models).
    """
    from diffusers import (
        AutoencoderKLWan,
        Cosmos3OmniPipeline,
        Cosmos3OmniTransformer,
        UniPCMultistepScheduler,
    )

    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")
    tokenizer = build_tokenizer()
    if size == "tiny":
        transformer_config = {**TINY_TRANSFORMER, "vocab_size": _round_up(len(tokenizer), 64)}
        vae_config = TINY_VAE
    else:
        transformer_config = NANO_TRANSFORMER
        vae_config = NANO_VAE

    torch.manual_seed(seed)
    with torch.device(device), _default_dtype(dtype):
        transformer = Cosmos3OmniTransformer(**transformer_config)
        vae = AutoencoderKLWan(**vae_config)
    for name in getattr(transformer, "_keep_in_fp32_modules", None) or []:
        module = getattr(transformer, name, None)
        if module is not None:
            module.to(torch.float32)
    transformer.eval()
    vae.eval()

    pipe = Cosmos3OmniPipeline(
        transformer=transformer,
        text_tokenizer=tokenizer,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**SCHEDULER),
        sound_tokenizer=None,
        safety_checker=None,
        enable_safety_checker=enable_safety_checker,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def load_tiny(request: Any) -> Any:
    """``PIPELINE_LOADER=cosmos_generator.random_pipeline:load_tiny``: a smoke test with no hub."""
    return build_random_pipeline("tiny", dtype=torch.float32, device="cpu")


def load_full(request: Any) -> Any:
    """``PIPELINE_LOADER=cosmos_generator.random_pipeline:load_full``: Nano-size random weights.

    Built in the requested precision directly on the GPU when it will stay resident there (no
    30 GB host copy), else on the CPU for the job's offload hooks to move.
    """
    dtype = torch.float32 if request.precision == "fp32" else torch.bfloat16
    device = request.device if request.offload == "none" else "cpu"
    return build_random_pipeline("full", dtype=dtype, device=device)
