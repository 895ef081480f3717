"""Helpers every fixture script under tools/ shares: failing with the script's name, float32-exact JSON,
reading text files line by line. Imported by the scripts (run as `python tools/NAME.py`, so this folder is
on sys.path); never run on its own."""
import json
import os
import shutil


def checker(script):
    """fail(msg) and check(cond, msg) that stop the script with its name in the message."""
    def fail(msg):
        raise SystemExit(f"{script}: {msg}")

    def check(cond, msg):
        if not cond:
            fail(msg)
    return fail, check


def _f32(x):
    return float(f"{x:.9g}")


def floats(t):
    """Nested lists of a float tensor, every value printed to 9 significant digits (round-trips a float32)."""
    import torch

    def conv(v):
        return [conv(e) for e in v] if isinstance(v, list) else _f32(v)
    return conv(t.detach().to(torch.float32).tolist())


def write_json(path, obj):
    """Compact JSON, UTF-8, one trailing newline; NaN refused."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
        f.write("\n")


def read_lines(path):
    """A text file's lines, a final newline not counted as one more (empty) line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def publish_tree(tmp, out):
    """Puts the finished tree `tmp` in place of `out`: every file fsynced, then one rename (the old tree, if any,
    moved aside first and removed after), so a reader sees the old fixtures or the new, never a mix."""
    os.chmod(tmp, 0o755)
    for dirpath, _, files in os.walk(tmp):
        for f in files:
            with open(os.path.join(dirpath, f), "rb+") as fh:
                os.fsync(fh.fileno())
    old = None
    if os.path.exists(out):
        old = out + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old)


def shared_data():
    """The project's shared data folder (TweetEval tweets, RoBERTa tokenizer; not in the repository):
    $SENTIMENTD_SHARED_DATA, else the default scripts/shared-data.sh writes (the one place it is written)."""
    value = os.environ.get("SENTIMENTD_SHARED_DATA")
    if value:
        return value
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(repo, "scripts", "shared-data.sh")
    return subprocess.run(["sh", "-c", '. "$0" && printf %s "$SENTIMENTD_SHARED_DATA"', script],
                          cwd=repo, check=True, capture_output=True, text=True).stdout
