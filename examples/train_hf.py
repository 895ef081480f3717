#!/usr/bin/env python3
"""Fine-tune a Hugging Face sequence classifier on labels exported by sentimentd, with transformers' Trainer
(the seed guide's recipe), and write a folder that sentimentd validates and serves.

On the sentimentd box:
    sentimentctl labels export train.jsonl                 # the training split (labeller)
    sentimentctl labels export eval.jsonl --split eval     # the frozen evaluation split (admin)
On the GPU box (pip install torch transformers safetensors):
    python train_hf.py --train train.jsonl --eval eval.jsonl \
        --base cardiffnlp/twitter-roberta-base-sentiment-latest --out roberta-custom-v1
Back on the sentimentd box: copy roberta-custom-v1/ into the models directory (e.g. with rsync to a name starting
with a dot, then mv, so the daemon sees it whole); it is validated, smoke-tested and served (activate = "newest"),
and `sentimentctl models` says why if it is not.

Reads what `labels export` writes: .jsonl, .json (custom_data.json: labels as class indexes), .csv. Label names
are mapped to class ids through --labels (default: the daemon's default labels.names), and the output's config.json
carries them as id2label/label2id, which is what the daemon checks training runs against. RoBERTa inputs get the
cardiffnlp model card's preprocessing (@name -> @user, links -> http), as sentimentd applies it when serving.
"""
import argparse
import csv
import inspect
import json
import os
import sys

import numpy as np
import torch
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          Trainer, TrainingArguments, set_seed)


def read_labels(path, names):
    """(text, class id) pairs of an exported file; fails naming the line of anything it cannot map."""
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    elif path.endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        sys.exit(f"{path}: use a .jsonl, .json or .csv export (sentimentctl labels export FILE)")
    out = []
    for i, row in enumerate(rows, 1):
        label = row["label"]
        if isinstance(label, int) or (isinstance(label, str) and label.strip().isdigit()):
            k = int(label)
        elif label.lower() in names:
            k = names.index(label.lower())
        else:
            sys.exit(f"{path}: item {i}: label {label!r} is not one of {names} (--labels)")
        if not 0 <= k < len(names):
            sys.exit(f"{path}: item {i}: class index {k} is out of range for {names}")
        out.append((row["text"], k))
    return out


def preprocess(text):
    """The cardiffnlp model card's preprocessing, verbatim (what sentimentd does to RoBERTa inputs; this script runs
    on a machine without the repository, so it carries its own copy)."""
    new_text = []
    for t in text.split(" "):
        t = "@user" if t.startswith("@") and len(t) > 1 else t
        t = "http" if t.startswith("http") else t
        new_text.append(t)
    return " ".join(new_text)


class Encoded(torch.utils.data.Dataset):
    def __init__(self, pairs, tokenizer, max_length, tweets):
        texts = [preprocess(t) if tweets else t for t, _ in pairs]
        self.encodings = tokenizer(texts, truncation=True, max_length=max_length)
        self.labels = [k for _, k in pairs]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {key: values[i] for key, values in self.encodings.items()}
        item["labels"] = self.labels[i]
        return item


def macro_scores(eval_pred):
    logits, labels = eval_pred
    predicted = np.argmax(logits, axis=-1)
    classes = logits.shape[-1]
    f1s, recalls = [], []
    for c in range(classes):
        tp = int(np.sum((predicted == c) & (labels == c)))
        fp = int(np.sum((predicted == c) & (labels != c)))
        fn = int(np.sum((predicted != c) & (labels == c)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        recalls.append(recall)
    return {"accuracy": float(np.mean(predicted == labels)), "macro_f1": float(np.mean(f1s)),
            "macro_recall": float(np.mean(recalls))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, help="the exported training split")
    ap.add_argument("--eval", required=True, help="the exported evaluation split")
    ap.add_argument("--base", default="cardiffnlp/twitter-roberta-base-sentiment-latest",
                    help="a Hugging Face model id or folder to start from")
    ap.add_argument("--out", required=True, help="the folder to write (then copy it into the models directory)")
    ap.add_argument("--labels", default="negative,neutral,positive", help="the daemon's labels.names, in order")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if os.path.exists(args.out):
        sys.exit(f"{args.out} exists: choose a new folder (a version is a new folder name in the models directory)")
    set_seed(args.seed)
    names = [n.strip().lower() for n in args.labels.split(",")]
    train, evaluation = read_labels(args.train, names), read_labels(args.eval, names)
    print(f"{len(train)} training and {len(evaluation)} evaluation texts; labels {names}")

    config = AutoConfig.from_pretrained(args.base, num_labels=len(names),
                                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForSequenceClassification.from_pretrained(args.base, config=config, ignore_mismatched_sizes=True)
    tweets = config.model_type == "roberta"
    # transformers 4 and 5 name two of these differently.
    known = inspect.signature(TrainingArguments.__init__).parameters
    warmup = {"warmup_ratio": 0.06} if "warmup_ratio" in known else {"warmup_steps": 0.06}
    evaluate = {"eval_strategy" if "eval_strategy" in known else "evaluation_strategy": "epoch"}
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=args.out + ".trainer", num_train_epochs=args.epochs,
                               per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
                               learning_rate=args.lr, weight_decay=0.01, save_strategy="no", logging_steps=50,
                               report_to=[], seed=args.seed, **warmup, **evaluate),
        train_dataset=Encoded(train, tokenizer, args.max_length, tweets),
        eval_dataset=Encoded(evaluation, tokenizer, args.max_length, tweets),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=macro_scores,
    )
    print("before:", trainer.evaluate())
    trainer.train()
    metrics = trainer.evaluate()
    print("after:", metrics)
    # Written under a temporary name and renamed when complete, so a watcher never sees half a folder.
    partial = args.out + ".partial"
    trainer.save_model(partial)          # config.json + model.safetensors
    tokenizer.save_pretrained(partial)   # vocab.json + merges.txt (or vocab.txt), tokenizer files
    with open(os.path.join(partial, "train_hf_metrics.json"), "w") as f:
        json.dump({"base": args.base, "train": len(train), "eval": len(evaluation), **metrics}, f, indent=2)
    os.rename(partial, args.out)
    print(f"written {args.out}: copy it into sentimentd's models directory")


if __name__ == "__main__":
    main()
