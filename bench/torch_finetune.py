"""PyTorch eager fp32 peer of `sentimentd finetune` for the fine-tuning reference recipe (BASELINES.md):
BertForSequenceClassification over a bare encoder (all-MiniLM-L6-v2), batch 16, AdamW (torch default
implementation, no decay on biases and LayerNorm weights, as the HF Trainer), linear warm-up over
ceil(warmup_ratio x total steps) then linear decay, gradient clipping at 1.0, dropout on, max length 128,
dynamic padding (each shuffled batch padded to its longest), 2 threads.

usage: python torch_finetune.py --base DIR --train TEXT --val TEXT [--epochs 2] [--max-steps N]
TEXT is TweetEval's X_text.txt with X_labels.txt beside it. --max-steps ends the run early (the schedule
still spans every epoch) and evaluates, like `sentimentd finetune --stop-after-steps`.
Prints one line per 100 steps and per epoch: steps, seconds, examples/s, mean step, validation metrics,
peak RSS."""
import argparse, math, os, random, resource, time
import numpy as np
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--train", required=True)
ap.add_argument("--val", required=True)
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--warmup-ratio", type=float, default=0.06)
ap.add_argument("--weight-decay", type=float, default=0.01)
ap.add_argument("--max-length", type=int, default=128)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--max-steps", type=int, default=0)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
random.seed(a.seed)

def read(text_file):
    texts = open(text_file, encoding="utf-8").read().split("\n")
    labels = open(text_file.replace("_text.txt", "_labels.txt"), encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "": texts.pop()
    if labels and labels[-1] == "": labels.pop()
    assert len(texts) == len(labels), f"{text_file}: {len(texts)} texts but {len(labels)} labels"
    return texts, [int(x) for x in labels]

tok = AutoTokenizer.from_pretrained(a.base)
# transformers 5 trap: a tokenizer built from the wrong files gives every word [UNK]; check known ids.
assert tok("hello world")["input_ids"] == [101, 7592, 2088, 102], tok("hello world")["input_ids"]
train_texts, train_labels = read(a.train)
val_texts, val_labels = read(a.val)
enc = lambda texts: tok(texts, truncation=True, max_length=a.max_length)["input_ids"]
train_ids, val_ids = enc(train_texts), enc(val_texts)

model = BertForSequenceClassification.from_pretrained(a.base, num_labels=3)
no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                         {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
per_epoch = math.ceil(len(train_ids) / a.batch_size)
total = per_epoch * a.epochs
warmup = math.ceil(total * a.warmup_ratio)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))

def pad(batch):
    n = max(len(x) for x in batch)
    ids = torch.zeros(len(batch), n, dtype=torch.long)
    mask = torch.zeros(len(batch), n, dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return ids, mask

def evaluate():
    model.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(val_ids), 64):
            ids, mask = pad(val_ids[i:i + 64])
            preds += model(input_ids=ids, attention_mask=mask).logits.argmax(-1).tolist()
    model.train()
    y, p = np.array(val_labels), np.array(preds)
    f1s, recs = [], []
    for c in range(3):
        tp = ((p == c) & (y == c)).sum(); prec = tp / max(1, (p == c).sum()); rec = tp / max(1, (y == c).sum())
        f1s.append(0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)); recs.append(rec)
    return f"val accuracy {(p == y).mean():.4f} macro-F1 {np.mean(f1s):.4f} macro-recall {np.mean(recs):.4f}"

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

model.train()
step, padded_tokens = 0, 0
for epoch in range(a.epochs):
    order = list(range(len(train_ids)))
    random.Random(a.seed + epoch).shuffle(order)
    t_epoch, n_epoch, t_window, n_window = time.perf_counter(), 0, time.perf_counter(), 0
    for b in range(0, len(order), a.batch_size):
        idx = order[b:b + a.batch_size]
        ids, mask = pad([train_ids[i] for i in idx])
        padded_tokens += ids.numel()
        out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([train_labels[i] for i in idx]))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        step += 1; n_epoch += len(idx); n_window += len(idx)
        if step % 100 == 0:
            dt = time.perf_counter() - t_window
            print(f"step {step}/{total} loss {out.loss.item():.4f} {n_window / dt:.1f} ex/s "
                  f"({dt / 100 * 1000:.0f} ms/step, mean padded length {padded_tokens / (step * a.batch_size):.1f})", flush=True)
            t_window, n_window = time.perf_counter(), 0
        if a.max_steps and step >= a.max_steps:
            break
    dt = time.perf_counter() - t_epoch
    print(f"epoch {epoch + 1}: {step} steps, {dt:.0f} s, {n_epoch / dt:.1f} ex/s, "
          f"{dt / max(1, math.ceil(n_epoch / a.batch_size)) * 1000:.0f} ms/step, {evaluate()}, peak RSS {rss_mib():.0f} MiB", flush=True)
    if a.max_steps and step >= a.max_steps:
        break
