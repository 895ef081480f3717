#!/usr/bin/env python3
"""Loads a PEFT LoRA adapter folder (e.g. one sentimentd wrote) with peft over its base in transformers
and compares the logits with the ones sentimentd computed.

    python tools/check_lora.py ADAPTER --base BASE [--expect-logits JSON] [--atol 1e-4] [--max-length N]

- Labels: ADAPTER/training_info.json `labels` when present, else the base's config.json id2label (the
  base is loaded as AutoModelForSequenceClassification with that many labels; a bare encoder gets a
  new head, which the adapter's modules_to_save then replaces).
- Every tensor of adapter_model.safetensors must have landed in the PeftModel unchanged (peft ignores
  keys it does not expect, so this is checked here).
- Tokenizer: ADAPTER's own tokenizer files when present, else BASE's (always from_pretrained on a folder).
- --expect-logits: JSON with `texts`, `logits` and optionally `input_ids` and `max_length` (the shape of
  the fixtures' outputs.json); ids must match exactly and logits within --atol, each text alone.
Exit status: 0 all checks pass, 1 mismatch or load failure, 2 bad usage.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

TOKENIZER_FILES = ("vocab.json", "merges.txt", "vocab.txt", "tokenizer.json", "tokenizer_config.json")


def param_name(key):
    """adapter_model.safetensors key -> the PeftModel parameter it loads into."""
    for ab in (".lora_A.", ".lora_B."):
        if ab in key:
            return key.replace(ab, ab + "default.")
    # modules_to_save: base_model.model.classifier.dense.weight -> ….classifier.modules_to_save.default.dense.weight
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("adapter")
    ap.add_argument("--base", required=True)
    ap.add_argument("--expect-logits")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int)
    args = ap.parse_args()
    torch.set_num_threads(1)

    with open(os.path.join(args.adapter, "adapter_config.json"), encoding="utf-8") as f:
        adapter_config = json.load(f)
    info_path = os.path.join(args.adapter, "training_info.json")
    labels = None
    if os.path.exists(info_path):
        with open(info_path, encoding="utf-8") as f:
            labels = json.load(f).get("labels")
    config = AutoConfig.from_pretrained(args.base, local_files_only=True)
    if labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {n: i for i, n in enumerate(labels)}
    base = AutoModelForSequenceClassification.from_pretrained(
        args.base, config=config, local_files_only=True, attn_implementation="eager", ignore_mismatched_sizes=True)
    model = PeftModel.from_pretrained(base, args.adapter).eval()

    # Every saved tensor is in the model, unchanged.
    params = dict(model.named_parameters())
    saved = load_file(os.path.join(args.adapter, "adapter_model.safetensors"))
    failures = []
    for key, value in saved.items():
        name = param_name(key)
        if name is None:
            candidates = [n for n in params if "modules_to_save.default." in n
                          and n.replace("modules_to_save.default.", "") == key]
            name = candidates[0] if candidates else None
        if name is None or name not in params:
            failures.append(f"{key}: no such parameter in the PeftModel")
        elif not torch.equal(params[name].detach(), value):
            failures.append(f"{key}: loaded value differs from the file")
    print(f"{args.adapter}: peft_type {adapter_config.get('peft_type')}, r {adapter_config.get('r')}, "
          f"alpha {adapter_config.get('lora_alpha')}, {len(saved)} tensors, labels {list(model.config.id2label.values())}")

    own_tokenizer = any(os.path.exists(os.path.join(args.adapter, f)) for f in TOKENIZER_FILES)
    tok = AutoTokenizer.from_pretrained(args.adapter if own_tokenizer else args.base, local_files_only=True)
    if args.expect_logits:
        with open(args.expect_logits, encoding="utf-8") as f:
            expected = json.load(f)
        max_length = args.max_length or expected.get("max_length") or 512
        worst = 0.0
        for i, text in enumerate(expected["texts"]):
            enc = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            if "input_ids" in expected and enc["input_ids"][0].tolist() != expected["input_ids"][i]:
                failures.append(f"text {i}: ids {enc['input_ids'][0].tolist()} != expected {expected['input_ids'][i]}")
                continue
            with torch.no_grad():
                logits = model(**enc).logits[0]
            diff = (logits - torch.tensor(expected["logits"][i])).abs().max().item()
            worst = max(worst, diff)
            if diff > args.atol:
                failures.append(f"text {i}: logits {logits.tolist()} vs expected {expected['logits'][i]} (max diff {diff:.3g})")
        print(f"{len(expected['texts'])} texts: max |logit diff| {worst:.3g} (atol {args.atol})")
    for f in failures:
        print("FAIL " + f)
    if failures:
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
