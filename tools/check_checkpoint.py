#!/usr/bin/env python3
"""Loads a checkpoint folder (for instance one written by sentimentd) with transformers and prints
its logits; optionally compares them, and the token ids, with expected values.

    python tools/check_checkpoint.py FOLDER [--texts FILE] [--expect-logits JSON] [--atol 1e-4]
                                     [--max-length N] [--write-logits OUT.json]
                                     [--logs DIR [--expect-tags loss,learning_rate,...]]
                                     [--training-info]

- The folder must load with AutoTokenizer / AutoModelForSequenceClassification.from_pretrained,
  with no missing or mis-shaped tensor (a missing tensor would be silently re-initialised by
  transformers, so it is an error here).
- Texts: --texts FILE (one per line), else the "texts" of the --expect-logits JSON, else a few
  built-in probes.
- --expect-logits JSON: an object with "logits" ([n][num_labels]) and optionally "texts",
  "input_ids" (per text, unpadded; compared exactly) and "max_length". The outputs.json files of
  Tests/Fixtures/models/ have this shape. Every logit must be within --atol.
- --logs DIR: reads the TensorBoard event files under DIR with the tensorboard package and lists
  every scalar tag with its number of points and last value; --expect-tags names tags that must be
  present with at least one point.

- --training-info: (see check_training_info below) the folder is a `sentimentd finetune` output:
  its logs/ must hold one train/loss, train/learning_rate and train/grad_norm point per optimizer
  step and the eval/* points of every epoch, equal to what training_info.json records.

Exit status: 0 when every check passes, 1 on a mismatch or a load failure, 2 on bad usage.
"""
import argparse
import json
import math
import os
import sys

from fixture_common import read_lines  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROBES = [
    "I love this, it made my day!",
    "The meeting is at 3pm tomorrow.",
    "This is the worst service I have ever had.",
    "",
]


class CheckFailed(Exception):
    pass


def load(folder):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not os.path.isdir(folder):
        raise CheckFailed(f"{folder}: not a directory")
    if not os.path.exists(os.path.join(folder, "config.json")):
        raise CheckFailed(f"{folder}: config.json is missing")
    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, attn_implementation="eager")
    except Exception as e:  # transformers raises many types; the message is what matters here
        raise CheckFailed(f"{folder}: transformers cannot load it: {type(e).__name__}: {e}") from e
    problems = []
    if info.get("missing_keys"):
        problems.append(f"missing tensors (transformers would initialise them randomly): {sorted(info['missing_keys'])}")
    if info.get("mismatched_keys"):
        problems.append(f"tensors with the wrong shape: {sorted(map(str, info['mismatched_keys']))}")
    if info.get("error_msgs"):
        problems.append(f"load errors: {info['error_msgs']}")
    if problems:
        raise CheckFailed(f"{folder}: " + "; ".join(problems))
    if info.get("unexpected_keys"):
        print(f"note: tensors transformers does not use: {sorted(info['unexpected_keys'])}")
    if len(tok) > model.config.vocab_size:
        raise CheckFailed(f"{folder}: the tokenizer has {len(tok)} tokens but config vocab_size is "
                          f"{model.config.vocab_size}")
    model.eval()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    return tok, model


def run(tok, model, texts, max_length):
    """One text at a time (no padding), so the numbers do not depend on the batch."""
    import torch

    ids, logits = [], []
    for t in texts:
        enc = tok([t], padding=False, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc)
        ids.append(enc["input_ids"][0].tolist())
        logits.append(out.logits[0])
    logits = torch.stack(logits) if logits else torch.zeros(0, model.config.num_labels)
    return ids, logits


def check_logs(logdir, expect_tags):
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from tensorboard.util import tensor_util
    except ImportError as e:
        raise CheckFailed("--logs needs the tensorboard package (tools/setup-venv.sh installs it)") from e
    if not os.path.isdir(logdir):
        raise CheckFailed(f"{logdir}: not a directory")
    event_dirs = sorted({dp for dp, _, files in os.walk(logdir) if any(".tfevents." in f for f in files)})
    if not event_dirs:
        raise CheckFailed(f"{logdir}: no TensorBoard event files (*.tfevents.*)")
    found = {}
    for d in event_dirs:
        acc = EventAccumulator(d, size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        tags = acc.Tags()
        series = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in tags.get("scalars", [])}
        # Scalars written the TF2 way (a rank-0 tensor with the "scalars" plugin) land in "tensors".
        for tag in tags.get("tensors", []):
            values = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
            if values and all(v.size == 1 for _, v in values):
                series.setdefault(tag, []).extend((step, float(v.reshape(()))) for step, v in values)
        for tag, events in series.items():
            bad = [step for step, value in events if not math.isfinite(value)]
            if bad:
                raise CheckFailed(f"{d}: tag {tag!r} has non-finite values at steps {bad[:5]}")
            found.setdefault(tag, []).extend(events)
    print(f"TensorBoard scalars under {logdir}:")
    for tag in sorted(found):
        ev = sorted(found[tag])
        print(f"  {tag:<32} {len(ev):>6} points, steps {ev[0][0]}..{ev[-1][0]}, last {ev[-1][1]:.6g}")
    missing = [t for t in expect_tags if not found.get(t)]
    if missing:
        raise CheckFailed(f"{logdir}: expected scalar tags missing: {missing} (present: {sorted(found)})")
    if not found:
        raise CheckFailed(f"{logdir}: event files hold no scalars")


# --- sentimentd finetune outputs (added by the trainer work; independent of the checks above) -------------

def check_training_info(folder):
    """Cross-checks a `sentimentd finetune` output folder's TensorBoard logs against its
    training_info.json: every optimizer step 1..steps has one train/loss, train/learning_rate and
    train/grad_norm point (a resumed run may log a step twice: the later point counts, as TensorBoard
    shows it), and each epoch's eval/accuracy, eval/macro_f1, eval/macro_recall and eval/loss sit at the
    epoch's last step with the value the JSON records (float32 precision)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as e:
        raise CheckFailed("--training-info needs the tensorboard package (tools/setup-venv.sh installs it)") from e
    path = os.path.join(folder, "training_info.json")
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckFailed(f"{path}: {e}") from e
    logs = info.get("tensor_board_logs") or "logs"
    logdir = logs if os.path.isabs(logs) else os.path.join(folder, logs)
    series = {}
    for d in sorted({dp for dp, _, files in os.walk(logdir) if any(".tfevents." in f for f in files)}):
        acc = EventAccumulator(d, size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            for e in acc.Scalars(tag):
                series.setdefault(tag, {})[e.step] = e.value   # later files/points win
    if not series:
        raise CheckFailed(f"{logdir}: no scalars")
    steps = info["steps"]
    for tag in ("train/loss", "train/learning_rate", "train/grad_norm"):
        got = sorted(series.get(tag, {}))
        if got != list(range(1, steps + 1)):
            raise CheckFailed(f"{logdir}: {tag} has points at steps {got[:3]}...{got[-3:]} ({len(got)}), "
                              f"expected 1..{steps}")
    for epoch in info["epochs"]:
        val = epoch.get("validation")
        if not val:
            continue
        for key, tag in (("accuracy", "eval/accuracy"), ("macro_f1", "eval/macro_f1"),
                         ("macro_recall", "eval/macro_recall"), ("loss", "eval/loss")):
            want = val.get(key)
            got = series.get(tag, {}).get(epoch["step"])
            if want is None:
                continue
            if got is None or abs(got - want) > 1e-6 * max(1.0, abs(want)):
                raise CheckFailed(f"{logdir}: {tag} at step {epoch['step']} is {got}, "
                                  f"training_info.json says {want} (epoch {epoch['epoch']})")
    print(f"training logs match training_info.json: {steps} steps, {len(info['epochs'])} epochs, "
          f"{len(series)} scalar tags")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Load a checkpoint folder with transformers and check its logits.")
    ap.add_argument("folder")
    ap.add_argument("--texts", help="file with one text per line")
    ap.add_argument("--expect-logits", metavar="JSON", help="expected logits (and optionally texts, input_ids)")
    ap.add_argument("--atol", type=float, default=1e-4, help="tolerance on every logit (default 1e-4)")
    ap.add_argument("--max-length", type=int, help="truncation length (default: the JSON's max_length, else 128)")
    ap.add_argument("--write-logits", metavar="OUT", help="write texts, input_ids, logits, probabilities as JSON")
    ap.add_argument("--logs", metavar="DIR", help="TensorBoard log folder to read back")
    ap.add_argument("--expect-tags", default="", help="comma-separated scalar tags that --logs must hold")
    ap.add_argument("--quiet", action="store_true", help="do not print the per-text table")
    ap.add_argument("--training-info", action="store_true",
                    help="the folder is a sentimentd finetune output: check logs/ against training_info.json")
    args = ap.parse_args(argv)

    expected = None
    if args.expect_logits:
        try:
            with open(args.expect_logits, encoding="utf-8") as f:
                expected = json.load(f)
        except (OSError, ValueError) as e:
            print(f"error: {args.expect_logits}: {e}", file=sys.stderr)
            return 2
        if not isinstance(expected, dict) or not isinstance(expected.get("logits"), list):
            print(f"error: {args.expect_logits}: needs an object with a \"logits\" list", file=sys.stderr)
            return 2
    if args.texts:
        try:
            texts = read_lines(args.texts)
        except OSError as e:
            print(f"error: {args.texts}: {e}", file=sys.stderr)
            return 2
    elif expected is not None and isinstance(expected.get("texts"), list):
        texts = expected["texts"]
    else:
        texts = PROBES
    max_length = args.max_length or (expected or {}).get("max_length") or 128

    try:
        import torch

        tok, model = load(args.folder)
        ids, logits = run(tok, model, texts, max_length)
        probs = torch.softmax(logits, dim=-1)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if not torch.isfinite(logits).all():
            raise CheckFailed(f"{args.folder}: non-finite logits")
        if not args.quiet:
            print(f"{args.folder}: {model.config.model_type}, {model.config.num_hidden_layers} layers, "
                  f"hidden {model.config.hidden_size}, vocab {model.config.vocab_size}, labels {labels}")
            for t, i, lg, p in zip(texts, ids, logits.tolist(), probs.tolist()):
                best = labels[max(range(len(p)), key=p.__getitem__)]
                shown = (t[:47] + "...") if len(t) > 50 else t
                print(f"  {best:<10} p=[{', '.join(f'{x:.4f}' for x in p)}] "
                      f"logits=[{', '.join(f'{x:+.5f}' for x in lg)}] n={len(i):<4} {shown!r}")
        if args.write_logits:
            tmp = args.write_logits + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"texts": texts, "max_length": max_length, "labels": labels, "input_ids": ids,
                           "logits": logits.tolist(), "probabilities": probs.tolist()}, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, args.write_logits)

        failures = []
        if expected is not None:
            want = torch.tensor(expected["logits"], dtype=torch.float32)
            if tuple(want.shape) != tuple(logits.shape):
                raise CheckFailed(f"{args.expect_logits}: logits have shape {list(want.shape)}, "
                                  f"the checkpoint gives {list(logits.shape)} for {len(texts)} texts")
            if "input_ids" in expected:
                differ = [n for n, (a, b) in enumerate(zip(ids, expected["input_ids"])) if a != b]
                for n in differ[:3]:
                    failures.append(f"text {n}: token ids differ: transformers {ids[n]} vs expected "
                                    f"{expected['input_ids'][n]}")
                if len(differ) > 3:
                    failures.append(f"... token ids differ for {len(differ)} of {len(texts)} texts in all")
            diff = (logits - want).abs()
            worst = diff.max().item() if diff.numel() else 0.0
            if worst > args.atol:
                row, col = divmod(int(diff.argmax().item()), diff.shape[1])
                failures.append(f"logits differ by up to {worst:.3g} > {args.atol:g} (text {row} {texts[row]!r}, "
                                f"label {labels[col]}: transformers {logits[row, col].item():.6f}, "
                                f"expected {want[row, col].item():.6f})")
            print(f"max |logit - expected| = {worst:.3g} over {diff.numel()} values (atol {args.atol:g})")
        if args.logs:
            check_logs(args.logs, [t for t in args.expect_tags.split(",") if t])
        if args.training_info:
            check_training_info(args.folder)
        if failures:
            for f in failures:
                print(f"MISMATCH: {f}", file=sys.stderr)
            return 1
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
