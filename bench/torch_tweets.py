"""PyTorch eager fp32 end-to-end over real tweets, the peer of `sentimentd bench --tweets`:
tokenise + predict in file order, batch 32 padded to the longest, RoBERTa-base dims, random weights.
usage: python torch_tweets.py TWEETS_FILE ROBERTA_TOKENIZER_DIR"""
import sys, time
import torch
import json, os
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

torch.set_num_threads(2)
torch.manual_seed(0)
tweets = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l]
# The folder has only vocab.json + merges.txt; transformers 5 cannot build a fast tokenizer from them (and
# RobertaTokenizerFast(vocab_file=...) silently builds a tiny vocabulary), so build the byte-level BPE with
# `tokenizers` itself, as RobertaTokenizerFast would.
vocab = json.load(open(os.path.join(sys.argv[2], "vocab.json"), encoding="utf-8"))
merges = [tuple(l.split(" ")) for l in open(os.path.join(sys.argv[2], "merges.txt"), encoding="utf-8").read().split("\n")[1:] if l]
bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
assert tok("Hello world")["input_ids"] == [0, 31414, 232, 2], tok("Hello world")["input_ids"]
assert tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "Ġthe"]) == [0, 1, 2, 5]
cfg = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                    hidden_act="gelu", pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=3)
model = RobertaForSequenceClassification._from_config(cfg).eval()

def run(texts):
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            enc = tok(texts[i:i + 32], padding=True, truncation=True, max_length=128, return_tensors="pt")
            model(**enc)

run(tweets[:128])  # warm-up
t0 = time.perf_counter(); run(tweets); best = time.perf_counter() - t0  # one pass (~3 min on 2 cores)
print(f"end-to-end torch: {len(tweets)} tweets, tokenise+predict b32 padded: {best:.2f} s = {len(tweets)/best:.1f} tweets/s")
