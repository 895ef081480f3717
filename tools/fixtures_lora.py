#!/usr/bin/env python3
"""Writes the LoRA parity fixtures to Tests/Fixtures/lora/.

    python tools/fixtures_lora.py [--out Tests/Fixtures/lora]

Needs torch (CPU), transformers 5.x, safetensors and peft (tools/requirements.txt). The bases are
the committed tiny models of tools/fixtures_models.py (Fixtures/models/tiny-roberta, tiny-bert);
this script does not change them. For each family it wraps the base with a peft LoRA config,
replaces the adapter's weights by seeded random values (lora_B NON-zero, the saved head perturbed
away from the base's, so that a loader that skipped either would fail), saves the adapter with
peft's own save_pretrained, and records:
- lora.json: logits of the fixture texts (eval mode, one right-padded batch) and, for one labelled
  batch with every dropout off (train mode), the loss and logits;
- grads.safetensors: the gradient of every trainable tensor (every lora_A / lora_B and the saved head)
  under the adapter_model.safetensors names.
The output is deterministic (seeded, one thread); the tree is replaced atomically.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

# peft keeps target_modules as a Python set: a fixed hash seed makes adapter_config.json's order (and so
# the files) the same on every run.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import peft  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, TaskType, get_peft_model  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from fixture_common import _f32, checker, floats, publish_tree, shared_data, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(FIXTURES, "lora")
FORMAT_VERSION = 1
MAX_LENGTH = 64

# Per family: the LoRA config of the fixture adapter. RoBERTa uses sentimentd's defaults; BERT a
# subset given as suffixes ("output.dense" selects attention.output.dense AND the FFN's output.dense),
# another rank and another scale.
DEFAULT_TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]
ADAPTERS = {
    "roberta": dict(r=8, lora_alpha=16, target_modules=DEFAULT_TARGETS, modules_to_save=None, seed=11),
    "bert": dict(r=4, lora_alpha=12, target_modules=["query", "value", "output.dense"],
                 modules_to_save=["classifier", "pooler"], seed=12),
}
# The modules each fixture must have adapted, per layer (checked against what peft built).
EXPECTED_TARGETS = {
    "roberta": ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense"],
    "bert": ["attention.self.query", "attention.self.value", "attention.output.dense", "output.dense"],
}


fail, check = checker("fixtures_lora")


def load_tokenizer(folder):
    # Never from a vocab file argument (transformers 5 then silently builds a 5-token vocabulary).
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def check_tokenizer(family, tok, base_dir, data_dir):
    """Known ids of the tiny vocabularies, the ids fixtures_models.py recorded, and (when the shared data
    is there) the real RoBERTa ids."""
    vocab = tok.get_vocab()
    if family == "roberta":
        for t, i in {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}.items():
            check(tok.convert_tokens_to_ids(t) == i, f"tiny-roberta: {t} is not {i}")
        check(tok("Hello world.")["input_ids"] == [0, vocab["H"], vocab["ell"], vocab["o"], vocab["Ġworld"], vocab["."], 2],
              "tiny-roberta: 'Hello world.' is not <s> H ell o Ġworld . </s>")
        full = os.path.join(data_dir, "roberta-tokenizer")
        if os.path.exists(os.path.join(full, "vocab.json")):
            with tempfile.TemporaryDirectory() as d:
                for f in ("vocab.json", "merges.txt"):
                    shutil.copy(os.path.join(full, f), d)
                with open(os.path.join(d, "tokenizer_config.json"), "w") as fh:
                    json.dump({"tokenizer_class": "RobertaTokenizer", "model_max_length": 512}, fh)
                ftok = load_tokenizer(d)
                known = {"<s>": 0, "<pad>": 1, "</s>": 2, ".": 4, "Ġthe": 5, "Hello": 31414, "Ġworld": 232}
                for t, i in known.items():
                    check(ftok.convert_tokens_to_ids(t) == i, f"full RoBERTa: {t!r} is not {i}")
                check(ftok("Hello world.")["input_ids"] == [0, 31414, 232, 4, 2], "full RoBERTa: 'Hello world.' ids")
        else:
            print(f"note: {full} not found, the full RoBERTa ids were not checked")
    else:
        for t, i in {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}.items():
            check(tok.convert_tokens_to_ids(t) == i, f"tiny-bert: {t} is not {i}")
        check(tok("The GOOD day")["input_ids"] == [2, vocab["the"], vocab["good"], vocab["day"], 3],
              "tiny-bert: 'The GOOD day' ids")
    with open(os.path.join(base_dir, "outputs.json"), encoding="utf-8") as f:
        recorded = json.load(f)
    for text, ids in zip(recorded["texts"], recorded["input_ids"]):
        got = tok(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        check(got == ids, f"tiny-{family}: ids of {text!r} differ from outputs.json: {got} vs {ids}")
    return recorded["texts"]


def base_model(base_dir, dropout_off):
    config = AutoConfig.from_pretrained(base_dir, local_files_only=True)
    if dropout_off:
        config.hidden_dropout_prob = 0.0
        config.attention_probs_dropout_prob = 0.0
        config.classifier_dropout = None
    return AutoModelForSequenceClassification.from_pretrained(
        base_dir, config=config, local_files_only=True, attn_implementation="eager")


def adapter_key(param_name):
    """A trainable parameter's name in the PeftModel -> its adapter_model.safetensors key."""
    return param_name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.") \
                     .replace(".modules_to_save.default.", ".")


def build_adapter(family, base_dir, adapter_dir):
    spec = ADAPTERS[family]
    model = base_model(base_dir, dropout_off=False)
    cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=spec["r"], lora_alpha=spec["lora_alpha"], lora_dropout=0.1,
                     target_modules=spec["target_modules"], modules_to_save=spec["modules_to_save"])
    pm = get_peft_model(model, cfg)
    # Exactly the expected modules are adapted, in every layer; nothing else (pooler, head).
    adapted = sorted(n[len("base_model.model."):-len(".lora_A")] for n, _ in pm.named_modules() if n.endswith(".lora_A"))
    want = sorted(f"{family}.encoder.layer.{l}.{m}" for l in range(model.config.num_hidden_layers)
                  for m in EXPECTED_TARGETS[family])
    check(adapted == want, f"{family}: peft adapted {adapted}, expected {want}")
    g = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if not p.requires_grad:
                continue
            if ".lora_A." in name:
                bound = 1.0 / p.shape[1] ** 0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            elif ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            else:  # the saved head: moved away from the base's values
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    pm.peft_config["default"].base_model_name_or_path = f"tiny-{family}"
    pm.save_pretrained(adapter_dir)
    readme = os.path.join(adapter_dir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    check(saved["peft_type"] == "LORA" and saved["task_type"] == "SEQ_CLS", f"{family}: adapter_config.json type")
    check(saved["base_model_name_or_path"] == f"tiny-{family}", f"{family}: base_model_name_or_path not relative")
    keys = set(load_file(os.path.join(adapter_dir, "adapter_model.safetensors")).keys())
    trainable = {adapter_key(n) for n, p in pm.named_parameters() if p.requires_grad}
    check(keys == trainable, f"{family}: saved keys differ from the trainable parameters: {sorted(keys ^ trainable)}")
    return pm, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--data", default=shared_data(),
                    help="folder with roberta-tokenizer/ (optional: checks the real RoBERTa ids)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    out_parent = os.path.dirname(os.path.abspath(args.out))
    tmp = tempfile.mkdtemp(prefix=".lora-", dir=out_parent)
    report = []
    try:
        for family in ("roberta", "bert"):
            base_dir = os.path.join(FIXTURES, "models", f"tiny-{family}")
            tok = load_tokenizer(base_dir)
            texts = check_tokenizer(family, tok, base_dir, args.data)
            fdir = os.path.join(tmp, f"tiny-{family}")
            adapter_dir = os.path.join(fdir, "adapter")
            os.makedirs(fdir)
            pm, cfg = build_adapter(family, base_dir, adapter_dir)

            # Inference: the in-memory model, and peft's reload of the saved folder over a fresh base.
            pm.eval()
            enc = tok(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            with torch.no_grad():
                logits = pm(**enc).logits
                reloaded = PeftModel.from_pretrained(base_model(base_dir, dropout_off=False), adapter_dir).eval()
                again = reloaded(**enc).logits
                base_logits = base_model(base_dir, dropout_off=False).eval()(**enc).logits
            check((logits - again).abs().max() < 1e-6, f"{family}: the saved adapter reloads to other logits")
            effect = (logits - base_logits).abs().max().item()
            check(effect > 0.05, f"{family}: the adapter barely changes the logits ({effect}); the test would be vacuous")
            ids = [tok(t, truncation=True, max_length=MAX_LENGTH)["input_ids"] for t in texts]
            for i, row in enumerate(ids):
                with torch.no_grad():
                    single = pm(**tok([texts[i]], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")).logits[0]
                check((single - logits[i]).abs().max() < 1e-5, f"{family}: text {i}: padded batch and alone differ")

            # One labelled batch, dropout off everywhere, train mode: loss and every trainable gradient.
            with open(os.path.join(FIXTURES, "models", "training", f"tiny-{family}", "training.json"), encoding="utf-8") as f:
                batch = json.load(f)["batches"][0]
            train = PeftModel.from_pretrained(base_model(base_dir, dropout_off=True), adapter_dir, is_trainable=True)
            for m in train.modules():
                if hasattr(m, "lora_dropout"):
                    m.lora_dropout["default"] = torch.nn.Identity()
            train.train()
            frozen = [n for n, p in train.named_parameters() if p.requires_grad and "lora_" not in n and "modules_to_save" not in n]
            check(not frozen, f"{family}: base parameters are trainable: {frozen[:3]}")
            inputs = {"input_ids": torch.tensor(batch["input_ids"]), "attention_mask": torch.tensor(batch["attention_mask"])}
            out = train(**inputs, labels=torch.tensor(batch["labels"]))
            out.loss.backward()
            grads = {}
            for n, p in train.named_parameters():
                if p.requires_grad:
                    check(p.grad is not None and bool(torch.isfinite(p.grad).all()), f"{family}: no finite gradient for {n}")
                    check(p.grad.abs().max() > 1e-6, f"{family}: gradient of {n} is zero")
                    grads[adapter_key(n)] = p.grad.detach().clone()
            keys = set(load_file(os.path.join(adapter_dir, "adapter_model.safetensors")).keys())
            check(set(grads) == keys, f"{family}: gradient names differ from the adapter's tensors")
            save_file({k: v.contiguous() for k, v in sorted(grads.items())}, os.path.join(fdir, "grads.safetensors"))
            seqs = [[t for t, m in zip(row, mask) if m] for row, mask in zip(batch["input_ids"], batch["attention_mask"])]

            write_json(os.path.join(fdir, "lora.json"), {
                "format": "sentimentd-fixture-lora", "version": FORMAT_VERSION, "family": family,
                "base": f"../models/tiny-{family}", "adapter": "adapter",
                "lora": {"r": cfg.r, "lora_alpha": cfg.lora_alpha, "scale": cfg.lora_alpha / cfg.r,
                         "target_modules": sorted(cfg.target_modules), "adapted_per_layer": EXPECTED_TARGETS[family]},
                "texts": texts, "input_ids": ids, "logits": floats(logits),
                "base_logits": floats(base_logits), "adapter_effect_max_abs": _f32(effect),
                "train_batch": {"input_ids": seqs, "labels": batch["labels"], "loss": _f32(out.loss.item()),
                                "logits": floats(out.logits), "dropout": "off (hidden, attention, classifier and lora_dropout)",
                                "grads": "grads.safetensors (adapter_model.safetensors names)"},
                "tolerance": {"logits_abs": 1e-4, "loss_abs": 1e-5, "grad_rel_to_tensor_max": 1e-4},
                "peft_version": peft.__version__, "transformers_version": transformers.__version__,
                "torch_version": torch.__version__,
            })
            report.append(f"{family}: adapter changes logits by up to {effect:.3f}; batch loss {out.loss.item():.5f}; "
                          f"{len(grads)} trainable tensors")

        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(README)
        publish_tree(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
    for line in report:
        print(line)
    total = 0
    for dirpath, _, files in sorted(os.walk(args.out)):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            total += os.path.getsize(p)
            print(f"{os.path.getsize(p):>10,}  {os.path.relpath(p, args.out)}")
    print(f"{total:>10,}  total")


README = """\
# LoRA parity fixtures (written by tools/fixtures_lora.py; do not edit by hand)

Bases: ../models/tiny-roberta and ../models/tiny-bert (tools/fixtures_models.py). For each family:

- adapter/: a PEFT LoRA adapter folder exactly as peft's `save_pretrained` wrote it (README.md removed),
  base_model_name_or_path "tiny-<family>". Weights are seeded random: lora_A uniform(±1/sqrt(in)),
  lora_B normal(0, 0.2) (non-zero, so the update matters), the saved head = the base's head + normal(0, 0.05).
  RoBERTa: r 8, alpha 16, the default six targets, modules_to_save null (peft saves "classifier").
  BERT: r 4, alpha 12, targets ["query", "value", "output.dense"] (the last selects attention.output.dense
  and the FFN's output.dense), modules_to_save ["classifier", "pooler"].
- lora.json: `texts`, `input_ids` (unpadded, max_length 64), `logits` (eval mode, one right-padded batch,
  equal to one-by-one within 1e-5), `base_logits` (the base alone: the adapter must differ from them);
  `train_batch`: 8 labelled sequences (unpadded ids), loss and logits in train mode with every dropout off.
- grads.safetensors: the gradient of that loss for every trainable tensor (each lora_A / lora_B and the saved
  head, under the adapter_model.safetensors names).
"""


if __name__ == "__main__":
    main()
