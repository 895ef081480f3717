#!/usr/bin/env python3
"""Writes the tokenizer parity fixtures under Tests/Fixtures/tokenizer/.

Reference: `transformers.AutoTokenizer.from_pretrained(<folder>)` (transformers 5, `tokenizers` backend).
Run from anywhere:  python tools/fixtures_tokenizer.py

Inputs (the shared data, $SENTIMENTD_SHARED_DATA or scripts/shared-data.sh's default, and the fetched MiniLM):
  $SENTIMENTD_SHARED_DATA/roberta-tokenizer/{vocab.json,merges.txt}
  $SENTIMENTD_SHARED_DATA/tweet-sentiment/val_text.txt (the 2,000 TweetEval validation tweets)
  vendor-models/all-MiniLM-L6-v2/                      (scripts/fetch-minilm.sh fetches it)

Outputs (Fixtures/tokenizer/):
  roberta/{vocab.json,merges.txt}                      copy of the RoBERTa BPE files
  minilm/{vocab.txt,tokenizer_config.json,special_tokens_map.json}
  tiny_bpe/, tiny_wordpiece/                           small tokenizer.json-only tokenizers (generic class)
  expected.json     ids for the adversarial texts and the sample tweets, per tokenizer and max_length
  val_ids.json      ids for every line of val_text.txt (no text: the Swift test reads the tweets from
                    the shared data and skips when it is absent)
  unicode_classes.json  how `tokenizers` classifies every code point (GPT-2 regex classes, BERT
                    normaliser and pre-tokeniser), so the Swift tables are checked exhaustively
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fixture_common import shared_data

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer, ByteLevel
from transformers import AutoTokenizer

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(shared_data())
MINILM = REPO / "vendor-models" / "all-MiniLM-L6-v2"
OUT = REPO / "Tests" / "Fixtures" / "tokenizer"
VAL = SHARED / "tweet-sentiment" / "val_text.txt"


def preprocess(text):
    """The cardiffnlp model card's preprocessing, verbatim. examples/train_hf.py holds the same lines on purpose:
    it runs on a machine without the repository, so neither script imports the other."""
    new_text = []
    for t in text.split(" "):
        t = "@user" if t.startswith("@") and len(t) > 1 else t
        t = "http" if t.startswith("http") else t
        new_text.append(t)
    return " ".join(new_text)


def write_atomic(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    write_atomic(path, json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode() + b"\n")


def copy_atomic(src, dst):
    write_atomic(dst, Path(src).read_bytes())


def ids(tok, text, max_length=None):
    if max_length is None:
        return tok(text)["input_ids"]
    return tok(text, truncation=True, max_length=max_length)["input_ids"]


# --- adversarial texts ----------------------------------------------------------------------------

def adversarial_texts():
    lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit 😀 @someone http://x.co/y "
    texts = [
        # empty and whitespace
        "", " ", "   ", "\t", "\n", "\r\n", " \t\n ", "\u00a0", "\u3000", "\u2028", "\u0085",
        "Hello world", "hello  world", "hello   world", "hello\tworld", "hello\n\nworld", "hello \n world",
        "trailing space ", " leading space", "  two leading", "a\u00a0b", "a \u00a0b", "a\u2003b",
        # emoji, ZWJ sequences, skin tones, flags, keycaps, variation selectors
        "😀", "I love it 😍😍😍", "👍🏽 skin tone 👋🏿", "👩‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇺🇸🇬🇧🇯🇵 flags",
        "❤️ vs ❤", "#️⃣ keycap 1️⃣", "great😀", "😀great", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 tag sequence", "😀" * 50,
        # combining accents, compatibility forms, case mapping
        "café", "cafe\u0301", "Ångström", "naïve résumé", "A\u0308\u0323 stacked", "e\u0323\u0302 e\u0302\u0323",
        "ﬁ ligature ﬀ", "Ｆｕｌｌｗｉｄｔｈ Ｈｅｌｌｏ", "İstanbul", "ΣΑΣ σας ς", "straße STRASSE ẞ", "Ǆ ǅ ǆ",
        "𝐁𝐨𝐥𝐝 𝕿𝖊𝖘𝖙 ℌ𝔢𝔩𝔩𝔬", "Ⅻ ① ② ½ ² ٣", "\u0301 leading combining", "a\u0300\u0301\u0302\u0303\u0304 marks",
        "Z̷̢̛͙a̵l̶g̸o̷ text", "word" + "\u0300" * 120, "K\u212a Kelvin Å\u212b", "\u037e greek question mark",
        # right-to-left, CJK, other scripts
        "مرحبا بالعالم", "שלום עולם", "English مع عربي mixed", "\u200fRTL mark\u200e", "\u2066isolate\u2069",
        "你好世界", "日本語のテキストです", "한국어 텍스트", "中文English混合123", "𠀀𪜀 ext-B", "\uf900\ufa0e compat",
        "สวัสดีครับ", "\u0e01\u0e33 sara am", "हिन्दी नमस्ते", "Привет мир", "Ελληνικά", "ꯀꯥꯡ Meetei",
        "\u0c5c\u1c89 new letters", "𐑖𐑭 shavian",
        # control characters, NUL, invisible characters
        "ctrl\x00nul", "\x00", "bell\x07 and \x1b esc", "del\x7f", "\x0b\x0c vt ff", "\x1c\x1d\x1e\x1f seps",
        "zero\u200bwidth", "zwj\u200djoiner", "bom\ufeffinside", "soft\u00adhyphen", "\ufffd replacement",
        "private \ue000 use", "\u180e mongolian", "\U000e0041 tag char", "noncharacter \ufdd0",
        "tab\tseparated\tvalues", "line1\nline2\r\nline3\rline4",
        # special-token strings in the text
        "literal <s> and </s> tokens", "<s>", "</s>", "<pad><unk><mask>", "a <mask> b", "a<mask>b",
        "[CLS] [SEP] [PAD] [MASK] [UNK]", "[cls] lowercase [Cls]", "x[SEP]y", "<s/> <s > </ s>", "<<s>>",
        "hello <s>", " <s> ", "<mask>  spaced  <mask>",
        # long words and long texts
        "a" * 99, "a" * 100, "a" * 101, "b" * 150, "supercalifragilisticexpialidocious" * 5,
        "é" * 101, "ab" + "\u0301" * 98, "x" * 10000, (lorem * 200)[:10000],
        " ".join(["word"] * 300),
        # numbers, URLs, mentions, contractions, punctuation
        "123 4567 3.14159 1,000,000 007", "call 555-1234 at 10:30pm", "٣٤٥ ۱۲۳ १२३ digits",
        "http://t.co/abc https://example.com/x?y=1 httpfoo", "xhttp HTTP://CAPS",
        "@user @john_doe @ @@ hi@there", "hi\n@bob and\t@alice", "email me at a@b.com", "@",
        "it's I'm you're we've they'll he'd don't", "IT'S I'LL YOU'RE WE'VE", "it’s curly apostrophe",
        "'s 's ''s '''", "rock'n'roll", "'ll've're", "!!!???...", "$$$ %%% ^^^ ``` ~~~ |||",
        "#hashtag #Another", "<3 :) :-( ;P xD", "ALL CAPS TWEET", "mIxEd CaSe", "---", "...",
        "a_b c-d e.f g/h", "¡Hola! ¿Qué tal?", "«quotes» „German“ “English”", "…ellipsis—dash–en",
        "·middle dot· ‧", "§ ¶ † ‡ • ‰", "€100 £50 ¥20 ₹5", "© ® ™", "°C ± × ÷",
    ]
    return texts


def random_texts(n=300, seed=20261126):
    """Seeded random mixtures of letters, whitespace kinds, punctuation, combining marks, scripts, emoji,
    control characters and special-token strings, each with a random max_length (2 to 512)."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " \t\n\r\x0b\x0c\u00a0\u2003\u3000\u2028\u0085\u200b\u200d\ufeff",
        "'\"!?.,;:-_()[]{}<>@#$%^&*+=/\\|`~",
        "\u0300\u0301\u0302\u0308\u0323\u0327\u0338\u05b0\u064b\u0e31\u20dd\ufe0f\U000e0020",
        "éàüñçøåßİıΣσςǅﬁＡ１①½²٣",
        "你好世界日本語한국어中文ㄱ\uf900\U00020000",
        "😀👍🏽👩‍👧🇺🇸❤️#️⃣🏳️‍🌈",
        "مرحباשלוםสวัสดีहिन्दीПривет",
        "\x00\x01\x07\x1b\x1c\x7f\x85\ufffd\ue000\U00011938\U000111c9\u166d\u1734",
    ]
    specials = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]",
                "'s", "'ll", "'RE", "http://x.co", "@user", "@bob"]
    texts, limits = [], []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < 0.1:
                parts.append(rng.choice(specials))
            elif r < 0.3:
                parts.append(" ")
            else:
                pool = rng.choice(pools)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        texts.append("".join(parts))
        limits.append(rng.choice([2, 3, 8, 64, 512]))
    return texts, limits


# --- Unicode classes ------------------------------------------------------------------------------

def runs(seq):
    """[start, value, start, value, ...]: a value holds until the next start (surrogates excluded)."""
    out = []
    last = object()
    for cp, v in seq:
        if v != last:
            out += [cp, v]
            last = v
    return out


def fnv_blocks(outputs):
    """FNV-1a 64 of each 4096-code-point block: UTF-8 of each output followed by 0xFF."""
    blocks = []
    for base in range(0, 0x110000, 4096):
        h = 0xCBF29CE484222325
        for cp in range(base, base + 4096):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            for byte in outputs(cp).encode("utf-8") + b"\xff":
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        blocks.append("%016x" % h)
    return blocks


def unicode_classes():
    bl = ByteLevel(add_prefix_space=False, use_regex=True)
    bert_pre = BertPreTokenizer()
    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    chinese = BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    full = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)

    def offs(s):
        return [o for _, o in bl.pre_tokenize_str(s)]

    def gpt2_class(c):
        if c == " ":
            return "S"
        o = offs("!" + c + "a")
        if o == [(0, 2), (2, 3)]:
            return "O"
        if o == [(0, 1), (1, 3)]:
            return "L"
        o = offs("1" + c)
        if o == [(0, 2)]:
            return "N"
        assert o == [(0, 1), (1, 2)], (hex(ord(c)), o)
        return "S"

    def clean_class(c):
        o = clean.normalize_str(c)
        return "R" if o == "" else ("W" if o == " " else "K")

    def pre_class(c):
        p = [x for x, _ in bert_pre.pre_tokenize_str("a" + c + "a")]
        if p == ["a", c, "a"]:
            return "P"
        if p == ["a", "a"]:
            return "W"
        assert p == ["a" + c + "a"], (hex(ord(c)), p)
        return "K"

    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    return {
        "comment": "how tokenizers %s classifies each code point; runs are [start, class, ...]" % tokenizers.__version__,
        "gpt2": runs((cp, gpt2_class(chr(cp))) for cp in cps),
        "bert_clean": runs((cp, clean_class(chr(cp))) for cp in cps),
        "bert_chinese": runs((cp, "C" if chinese.normalize_str(chr(cp)) != chr(cp) else "K") for cp in cps),
        "bert_pre": runs((cp, pre_class(chr(cp))) for cp in cps),
        "bert_full_blocks": fnv_blocks(lambda cp: full.normalize_str(chr(cp))),
        "bert_strip_blocks": fnv_blocks(lambda cp: strip.normalize_str(chr(cp))),
        "bert_lower_blocks": fnv_blocks(lambda cp: lower.normalize_str(chr(cp))),
    }


# --- tiny tokenizer.json tokenizers ---------------------------------------------------------------

def tiny_bpe(roberta_dir, out_dir, n_merges=1000):
    """A byte-level BPE with the first merges of RoBERTa, saved as tokenizer.json only."""
    rv = json.loads((roberta_dir / "vocab.json").read_text(encoding="utf-8"))
    lines = (roberta_dir / "merges.txt").read_text(encoding="utf-8").split("\n")
    merges = [tuple(l.split(" ")) for l in lines if l and not l.startswith("#version")][:n_merges]
    byte_syms = [s for s in pre_tokenizers.ByteLevel.alphabet()]
    vocab = {}
    for t in ["<s>", "<pad>", "</s>", "<unk>"]:
        vocab[t] = len(vocab)
    for s in sorted(byte_syms, key=lambda s: rv[s]):
        vocab[s] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    vocab["<mask>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                               end_of_word_suffix="", fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.add_special_tokens([
        tokenizers.AddedToken("<s>", special=True, normalized=False),
        tokenizers.AddedToken("<pad>", special=True, normalized=False),
        tokenizers.AddedToken("</s>", special=True, normalized=False),
        tokenizers.AddedToken("<unk>", special=True, normalized=False),
        tokenizers.AddedToken("<mask>", special=True, normalized=False, lstrip=True),
    ])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "tokenizer.json", tok.to_str().encode() + b"\n")
    write_json(out_dir / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"})
    return len(vocab)


def tiny_wordpiece(minilm_dir, out_dir, n_vocab=3000):
    """A cased, accent-stripping WordPiece (lowercase off, Chinese splitting off), tokenizer.json only."""
    lines = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = {}
    for i, t in enumerate(lines[:n_vocab]):
        vocab[t.rstrip()] = i
    for t in ["Hello", "World", "The", "I", "RT", "##S"]:
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=True,
                                                lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.add_special_tokens([tokenizers.AddedToken(t, special=True, normalized=False)
                            for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "tokenizer.json", tok.to_str().encode() + b"\n")
    write_json(out_dir / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"})
    return max(vocab.values()) + 1


# --- main -----------------------------------------------------------------------------------------

def main():
    if not (SHARED / "roberta-tokenizer" / "vocab.json").exists() or not VAL.exists():
        sys.exit(f"missing {SHARED}: the fixtures need the shared data (SENTIMENTD_SHARED_DATA)")
    if not (MINILM / "vocab.txt").exists():
        subprocess.run([str(REPO / "scripts" / "fetch-minilm.sh")], check=True)

    rob_dir = OUT / "roberta"
    copy_atomic(SHARED / "roberta-tokenizer" / "vocab.json", rob_dir / "vocab.json")
    copy_atomic(SHARED / "roberta-tokenizer" / "merges.txt", rob_dir / "merges.txt")
    mini_dir = OUT / "minilm"
    for name in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        copy_atomic(MINILM / name, mini_dir / name)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The RoBERTa folder as cardiffnlp publishes it: config.json + vocab.json + merges.txt.
        rob_model = tmp / "roberta"
        shutil.copytree(rob_dir, rob_model)
        (rob_model / "config.json").write_text(json.dumps({"model_type": "roberta"}))
        rob = AutoTokenizer.from_pretrained(str(rob_model))
        mini = AutoTokenizer.from_pretrained(str(mini_dir))
        mini_vendor = AutoTokenizer.from_pretrained(str(MINILM))

        # A RoBERTa folder with add_prefix_space and an lstrip <mask> (roberta-base's own special_tokens_map).
        variant_files = {
            "tokenizer_config.json": json.dumps({"add_prefix_space": True}),
            "special_tokens_map.json": json.dumps({
                "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>",
                "mask_token": {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
                               "normalized": False}}),
        }
        rob_variant_dir = tmp / "roberta_variant"
        shutil.copytree(rob_model, rob_variant_dir)
        for name, text in variant_files.items():
            (rob_variant_dir / name).write_text(text)
        rob_variant = AutoTokenizer.from_pretrained(str(rob_variant_dir))

        tiny_bpe_size = tiny_bpe(rob_dir, OUT / "tiny_bpe")
        tiny_wp_size = tiny_wordpiece(mini_dir, OUT / "tiny_wordpiece")
        tiny_b = AutoTokenizer.from_pretrained(str(OUT / "tiny_bpe"))
        tiny_w = AutoTokenizer.from_pretrained(str(OUT / "tiny_wordpiece"))

        # Known ids first: a wrongly built tokenizer (transformers 5's 5-token-vocab trap) fails here.
        rv = rob.get_vocab()
        for tok, i in {"<s>": 0, "<pad>": 1, "</s>": 2, ".": 4, "Ġthe": 5, "Hello": 31414, "Ġworld": 232}.items():
            assert rv[tok] == i, (tok, rv.get(tok), i)
        assert len(rv) == 50265, len(rv)
        assert ids(rob, "Hello world") == [0, 31414, 232, 2]
        assert rob.pad_token_id == 1 and not rob.add_prefix_space
        mv = mini.get_vocab()
        for tok, i in {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, "hello": 7592,
                       "world": 2088}.items():
            assert mv[tok] == i, (tok, mv.get(tok), i)
        assert len(mv) == 30522, len(mv)
        assert ids(mini, "Hello World!") == [101, 7592, 2088, 999, 102]
        assert ids(rob_variant, "Hello") == [0, 20920, 2], ids(rob_variant, "Hello")
        assert tiny_b.get_vocab()["<mask>"] == tiny_bpe_size - 1 and tiny_w.get_vocab()["[CLS]"] == 101

        # The tweets: every line of val_text.txt, split on "\n" only, as the Swift test reads them.
        raw = VAL.read_bytes()
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        tweets = [l.decode("utf-8") for l in lines]
        assert len(tweets) == 2000, len(tweets)
        val = {
            "file": "tweet-sentiment/val_text.txt",
            "count": len(tweets),
            "bytes": len(raw),
            "roberta": [ids(rob, t) for t in tweets],
            "minilm": [ids(mini, t) for t in tweets],
        }
        # Tweet-normalised ids only where normalisation changes the text (val is mostly normalised already).
        val["roberta_tweetnorm"] = {str(i): ids(rob, preprocess(t)) for i, t in enumerate(tweets) if preprocess(t) != t}
        assert max(len(x) for x in val["roberta"] + val["minilm"]) <= 512
        for t in tweets:
            assert ids(mini_vendor, t) == ids(mini, t)
        write_json(OUT / "val_ids.json", val)

        # A committed sample so that a machine without the shared data still tests real tweets: the tweets with
        # the most non-ASCII characters and mentions/links, then the longest.
        def interest(i):
            t = tweets[i]
            return (sum(ord(c) > 127 for c in t) + 5 * ("@" in t) + 5 * ("http" in t), len(t))
        chosen = sorted(sorted(range(len(tweets)), key=interest, reverse=True)[:40])
        sample = [tweets[i] for i in chosen]

        adversarial = adversarial_texts()
        expected = {
            "meta": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "roberta_vocab_size": 50265, "minilm_vocab_size": 30522,
                     "tiny_bpe_vocab_size": tiny_bpe_size, "tiny_wordpiece_vocab_size": tiny_wp_size},
            "adversarial": adversarial,
            "adversarial_tweetnorm": [preprocess(t) for t in adversarial],
            "sample": {"lines": chosen, "texts": sample, "tweetnorm": [preprocess(t) for t in sample]},
            "roberta_variant_files": variant_files,
            "ids": {},
        }
        e = expected["ids"]
        for name, tok in [("roberta", rob), ("minilm", mini)]:
            for n in (128, 512):
                e[f"{name}/adversarial/{n}"] = [ids(tok, t, n) for t in adversarial]
            e[f"{name}/sample"] = [ids(tok, t) for t in sample]
        e["roberta/adversarial_tweetnorm/512"] = [ids(rob, preprocess(t), 512) for t in adversarial]
        e["roberta/sample_tweetnorm"] = [ids(rob, preprocess(t)) for t in sample]
        for name, tok in [("roberta_variant", rob_variant), ("tiny_bpe", tiny_b), ("tiny_wordpiece", tiny_w)]:
            e[f"{name}/adversarial/512"] = [ids(tok, t, 512) for t in adversarial]
            e[f"{name}/sample"] = [ids(tok, t) for t in sample]
        rnd_texts, rnd_limits = random_texts()
        expected["random"] = {"texts": rnd_texts, "max_length": rnd_limits}
        for name, tok in [("roberta", rob), ("minilm", mini)]:
            e[f"{name}/random"] = [ids(tok, t, m) for t, m in zip(rnd_texts, rnd_limits)]
        # Cross-checks of the reference itself.
        for t in adversarial[:60]:
            assert ids(mini_vendor, t, 512) == ids(mini, t, 512), t
        assert all(len(x) <= 128 for x in e["roberta/adversarial/128"] + e["minilm/adversarial/128"])
        write_json(OUT / "expected.json", expected)

    write_json(OUT / "unicode_classes.json", unicode_classes())
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(REPO)}  {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
