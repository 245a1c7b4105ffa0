#!/usr/bin/python3
"""Write the real-size BERT benchmark's inputs: BERT-base and BERT-mini ONNX models with random
weights, a 30,522-line vocabulary and a short training/dev set (issue 11 item 7).

Run with Debian's interpreter (the pyenv python3 on PATH has no torch/onnx):

    /usr/bin/python3 bench/bert/make_bert.py [--out DIR] [--models base,mini] [--opset 14]

Writes under DIR (default bench/out/bert_real/, gitignored):

    <model>/model.onnx   HF-layout BERT classifier (word, position and token-type embeddings,
                         LayerNorm eps 1e-12, separate Q/K/V, additive -10000 mask, erf GELU,
                         tanh pooler over token 0, Linear -> 2 classes); inputs input_ids,
                         attention_mask, token_type_ids, all int64 [batch, seq] with dynamic axes
    vocab.txt            30,522 lines: [PAD] [UNK] [CLS] [SEP], the data's words by frequency,
                         then [unused<i>] fillers, so the embedding table has BERT's row count
    train.tsv, dev.tsv   200 and 32 SST-2 texts of 10-60 tokens (synthetic ones if the repo's
                         data/sst2 is missing), already tokenized the way vmaskc tokenizes

The model classes live here and run.py imports them for the PyTorch baseline, so both systems
train the same architecture. Weights: PyTorch's default init plus N(0, 0.02^2) noise, so the
eval-mode export merges no identical initializers (LayerNorm gammas would all be 1) into Identity
nodes; the BERT-nano of accuracy.py (2 layers, hidden 64, 2 heads, FF 256) is initialized as BERT is, plus
N(0, 1e-6) noise. Deterministic (fixed seeds).
"""

import argparse
import os
import random
import re
import sys
import time
import warnings
from collections import Counter

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit("%s: run with Debian's /usr/bin/python3 (python3-torch, python3-onnx)" % e)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "bench", "out", "bert_real")  # not out/bert: make_models.py's inference model
VOCAB = 30522
MAX_POS = 512
# name -> (layers, hidden, heads, intermediate)
CONFIGS = {"base": (12, 768, 12, 3072), "mini": (4, 256, 4, 1024), "nano": (2, 64, 2, 256)}
# models initialized as BERT is (N(0, 0.02^2) weights, zero biases, unit LayerNorm gains) rather than by
# PyTorch's defaults: the ones trained from scratch (accuracy.py); noise of 1e-3 keeps initializers distinct
BERT_INIT = {"nano"}


class Embeddings(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.word = nn.Embedding(VOCAB, d, padding_idx=0)
        self.position = nn.Embedding(MAX_POS, d)
        self.token_type = nn.Embedding(2, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.dropout = nn.Dropout(0.0)

    def forward(self, input_ids, token_type_ids, word=None):
        pos = torch.arange(input_ids.size(1), device=input_ids.device)  # Range: seq stays dynamic
        w = self.word(input_ids) if word is None else word
        return self.dropout(self.norm(w + self.position(pos) + self.token_type(token_type_ids)))


class Layer(nn.Module):
    """HuggingFace BertLayer written out (as bench/make_models.py TinyBertHF), parameterized."""

    def __init__(self, d, heads, ff, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x):
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        d = x.size(-1)
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / ((d // self.heads) ** 0.5)
        probs = self.dropout(F.softmax(scores + additive_mask, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(x.shape)
        x = self.norm1(x + self.dropout(self.attn_out(ctx)))
        return self.norm2(x + self.dropout(self.ff2(F.gelu(self.ff1(x)))))


class Bert(nn.Module):
    def __init__(self, layers, d, heads, ff, classes=2):
        super().__init__()
        self.embeddings = Embeddings(d)
        self.layers = nn.ModuleList(Layer(d, heads, ff) for _ in range(layers))
        self.pooler = nn.Linear(d, d)
        self.dropout = nn.Dropout(0.0)  # before the classifier, where `vmaskc train --dropout` puts it
        self.classifier = nn.Linear(d, classes)

    def forward(self, input_ids, attention_mask, token_type_ids, word=None):
        x = self.embeddings(input_ids, token_type_ids, word)
        additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, additive)
        return self.classifier(self.dropout(torch.tanh(self.pooler(x[:, 0]))))


def build(name, seed=11):
    torch.manual_seed(seed + sorted(CONFIGS).index(name))
    model = Bert(*CONFIGS[name])
    with torch.no_grad():
        if name in BERT_INIT:  # Hugging Face's BertPreTrainedModel._init_weights, for training from scratch
            for mod in model.modules():
                if isinstance(mod, (nn.Linear, nn.Embedding)):
                    mod.weight.normal_(0.0, 0.02)
                if isinstance(mod, nn.Linear) or isinstance(mod, nn.LayerNorm):
                    mod.bias.zero_()
                if isinstance(mod, nn.LayerNorm):
                    mod.weight.fill_(1.0)
        for p in model.parameters():
            p.add_((1e-3 if name in BERT_INIT else 0.02) * torch.randn_like(p))
        model.embeddings.word.weight[0].zero_()
    return model


def tokenize(text):
    # close to vmaskc's Kim (2014) tokenizer on SST-2's already space-separated text
    text = text.lower()
    text = re.sub(r"([,!?()`\"])", r" \1 ", text)
    text = re.sub(r"('s|'ve|n't|'re|'d|'ll)\b", r" \1", text)
    return text.split()


def make_data(out, n_train=200, n_dev=32, lo=10, hi=60):
    src = os.path.join(REPO, "data", "sst2", "train.tsv")
    rows = []
    if os.path.exists(src):
        with open(src, encoding="utf-8") as f:
            for line in f:
                label, text = line.rstrip("\n").split("\t", 1)
                toks = tokenize(text)
                if lo <= len(toks) <= hi:
                    rows.append((label, toks))
    rng = random.Random(7)
    if len(rows) < n_train + n_dev:  # synthetic fallback
        words = ["w%d" % i for i in range(5000)]
        rows = [(str(rng.randint(0, 1)), [rng.choice(words) for _ in range(rng.randint(lo, hi))])
                for _ in range(n_train + n_dev)]
    rng.shuffle(rows)
    # spread the lengths evenly over lo..hi, as the issue asks: target lengths taken round robin;
    # SST-2 has no text over 53 tokens, so a longer target is a text plus the start of another
    by_len = {}
    for r in rows:
        by_len.setdefault(len(r[1]), []).append(r)
    longest = max(by_len)
    pick = []
    for i in range(n_train + n_dev):
        L = lo + (i * 7919) % (hi - lo + 1)
        base = min(L, longest)
        while not by_len.get(base):
            base -= 1
        label, toks = by_len[base].pop()
        if len(toks) < L:
            extra = rng.choice(rows)[1]
            toks = toks + extra[: L - len(toks)]
        pick.append((label, toks))
    rng.shuffle(pick)
    train, dev = pick[:n_train], pick[n_train:n_train + n_dev]
    for name, part in (("train.tsv", train), ("dev.tsv", dev)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for label, toks in part:
                f.write("%s\t%s\n" % (label, " ".join(toks)))
    freq = Counter(w for _, toks in pick for w in toks)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [w for w, _ in freq.most_common()]
    vocab += ["[unused%d]" % i for i in range(VOCAB - len(vocab))]
    assert len(vocab) == VOCAB
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    lens = [len(t) for _, t in train]
    print("data: %d train (%d-%d tokens, mean %.1f), %d dev; vocab %d lines" %
          (len(train), min(lens), max(lens), sum(lens) / len(lens), len(dev), len(vocab)))


def export(name, out, opset):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    t0 = time.time()
    model = build(name)
    export_model(model, path, opset)
    n = sum(p.numel() for p in model.parameters())
    print("%s: %s, %.1f MiB, %.1fM parameters, %.1f s" % (name, path, os.path.getsize(path) / 2**20, n / 1e6,
                                                           time.time() - t0))


def export_model(model, path, opset):
    """model (a Bert, any weights) in eval mode to path, with dynamic batch and length."""
    model.eval()
    ids = torch.randint(1, 1000, (2, 12))
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, mask, types), path, opset_version=opset,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "token_type_ids": {0: "batch", 1: "seq"},
                                        "logits": {0: "batch"}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--models", default="base,mini")
    ap.add_argument("--opset", type=int, default=14)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    make_data(a.out)
    for name in a.models.split(","):
        if name not in CONFIGS:
            sys.exit("unknown model '%s' (%s)" % (name, ", ".join(CONFIGS)))
        export(name, a.out, a.opset)


if __name__ == "__main__":
    main()
