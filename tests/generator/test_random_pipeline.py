"""The locally built random pipelines: tokenizer contract, tiny geometry, Nano-size architecture."""

from __future__ import annotations

import torch
from cosmos_generator.random_pipeline import build_random_pipeline, build_tokenizer, parameter_count


def test_tokenizer_has_the_tokens_the_pipeline_needs() -> None:
    tok = build_tokenizer()
    assert tok.eos_token == "<|im_end|>"
    assert tok.convert_tokens_to_ids("<|vision_start|>") != tok.unk_token_id
    encoded = tok.apply_chat_template(
        [{"role": "user", "content": "A robot picks up a red cup."}],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=True,
    )
    tokens = tok.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[:2] == ["<|im_start|>", "user"]
    assert tokens[-3:] == ["<|im_end|>", "<|im_start|>", "assistant"]
    assert "<unk>" not in tokens


def test_tiny_pipeline_renders_requested_shape(tiny_pipeline) -> None:
    assert (tiny_pipeline.vae_scale_factor_spatial, tiny_pipeline.vae_scale_factor_temporal) == (8, 4)
    video = tiny_pipeline(
        prompt="a dog",
        num_frames=9,
        height=32,
        width=48,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).video
    assert video.shape == (9, 32, 48, 3)
    assert video.min() >= 0.0 and video.max() <= 1.0


def test_full_size_matches_nano_architecture() -> None:
    # On the meta device: shapes only, no memory.
    pipe = build_random_pipeline("full", dtype=torch.bfloat16, device="meta")
    cfg = pipe.transformer.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (
        4096,
        36,
        32,
        8,
    )
    assert (cfg.head_dim, cfg.intermediate_size, cfg.vocab_size, cfg.latent_channel) == (
        128,
        12288,
        151936,
        48,
    )
    assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (16, 4)
    assert pipe.vae.config.z_dim == 48
    # ~15.2 B transformer parameters: ~28 GiB in BF16, the measured size of the real weights.
    assert 15.0e9 < parameter_count(pipe.transformer) < 15.4e9
    assert pipe.transformer.dtype == torch.bfloat16
    assert pipe.transformer.time_embedder.linear_1.weight.dtype == torch.float32
    assert pipe.safety_checker is None
