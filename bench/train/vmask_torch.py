#!/usr/bin/python3
"""PyTorch reference for vmaskc's training: the same base classifiers, the same VMASK layer, the same
loss, optimizer, schedule and data pipeline, so accuracy and speed can be compared with vmaskc.

Two jobs:
  base   build the starting classifier (Kim-CNN or LSTM) the way the VMASK paper sets its models up:
         pre-trained word embeddings under freshly initialized layers. The paper's word2vec is not
         available here, so the embedding comes from pre-training the whole model on the dataset
         (small initial vectors, best dev epoch); then every other layer is re-initialized. Saves
         the state and exports it to ONNX: both systems start from these exact weights;
  vmask  train the VMASK model from that base: embedding frozen, mask Linear(E->H)->tanh->Linear(H->2)
         after the embedding, hard Gumbel-softmax (tau) with the straight-through estimator in
         training and q = p(keep) at inference, loss = CE + beta * mean over non-pad tokens of
         q log q + (1-q) log(1-q), beta annealed stepwise like vmaskc (--beta-start/-end/-steps),
         Adam, dropout before the classifier layer, best-on-dev parameters, test accuracy.
Prints one JSON line with accuracies, per-epoch training times (dev evaluation excluded) and peak
resident memory. Texts are tokenized by `vmaskc tokenize` so both see the same token ids.

Run with Debian's interpreter (python3-torch):  /usr/bin/python3 bench/train/vmask_torch.py --help
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(vmaskc, path, vocab, tokenizer="words"):
    with open(path, "rb") as f:
        out = subprocess.run([vmaskc, "tokenize", "--tokenizer", tokenizer], input=f.read(), stdout=subprocess.PIPE,
                             check=True).stdout.decode()
    data = []
    for line in out.splitlines():
        label, text = line.split("\t", 1)
        ids = [vocab.get(w, 1) for w in text.split()]
        data.append((int(label), ids))
    return data


def small_embedding(V, E):
    emb = nn.Embedding(V, E, padding_idx=0)
    nn.init.uniform_(emb.weight, -0.1, 0.1)
    with torch.no_grad():
        emb.weight[0].zero_()
    return emb


class KimCNN(nn.Module):
    def __init__(self, V, E, C, filters=100, widths=(3, 4, 5), dropout=0.5, pad=0):
        # pad: zero vectors on both sides of every text before the convolutions (Kim 2014: max width - 1)
        super().__init__()
        self.embedding = small_embedding(V, E)
        self.convs = nn.ModuleList([nn.Conv1d(E, filters, k, padding=pad) for k in widths])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(widths), C)
        self.min_len = max(widths)

    def features(self, x):  # x [B, T, E] -> [B, 3F]
        x = x.transpose(1, 2)
        return torch.cat([F.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)

    def head(self, x, ids):  # x [B, T, E] (the possibly masked embedding) -> logits
        return self.fc(self.dropout(self.features(x)))

    def forward(self, ids):
        return self.head(self.embedding(ids), ids)


class LSTMClf(nn.Module):
    """The VMASK release's LSTM readout (tanh -> max over time -> tanh), ending in logits."""

    def __init__(self, V, E, C, hidden=100, dropout=0.2):
        super().__init__()
        self.embedding = small_embedding(V, E)
        self.lstm = nn.LSTM(E, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, C)
        self.min_len = 1

    def features(self, x):
        out, _ = self.lstm(x)
        return torch.tanh(torch.tanh(out).amax(dim=1))

    def head(self, x, ids):
        return self.fc(self.dropout(self.features(x)))

    def forward(self, ids):
        return self.head(self.embedding(ids), ids)


class VMask(nn.Module):
    """The mask on base.embedding's output, then base.head(masked, ids). keep_ids (a BERT's [CLS], [SEP],
    [PAD], as vmaskc keeps them) get r = 1 and stay out of the information loss with the pad."""

    def __init__(self, base, hidden, tau, pad_id, keep_ids=()):
        super().__init__()
        self.base, self.tau, self.pad_id, self.keep_ids = base, tau, pad_id, tuple(keep_ids)
        E = base.embedding.embedding_dim
        self.fc1, self.fc2 = nn.Linear(E, hidden), nn.Linear(hidden, 2)
        base.embedding.weight.requires_grad_(False)

    def forward(self, ids):
        x = self.base.embedding(ids)
        p = self.fc2(torch.tanh(self.fc1(x)))
        q = F.softmax(p, dim=-1)[..., 1]
        if self.training:
            g = -torch.log(-torch.log(torch.rand_like(p).clamp_(1e-12, 1 - 1e-12)))
            soft = F.softmax((p + g) / self.tau, dim=-1)
            hard = F.one_hot(soft.argmax(-1), 2).to(soft.dtype)
            r = (hard - soft.detach() + soft)[..., 1]
        else:
            r = q
        real = ids != self.pad_id
        if self.keep_ids:
            kept = sum(ids == k for k in self.keep_ids).bool()
            r = r.masked_fill(kept, 1.0)
            real = real & ~kept
        real = real.float()
        negent = q * torch.log(q + 1e-8) + (1 - q) * torch.log(1 - q + 1e-8)
        info = (negent * real).sum() / real.sum().clamp(min=1)
        return self.base.head(x * r.unsqueeze(-1), ids), info


def batches(data, order, batch, min_len):
    for i in range(0, len(order), batch):
        chunk = [data[j] for j in order[i:i + batch]]
        T = max(max(len(t) for _, t in chunk), min_len)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        for r, (_, t) in enumerate(chunk):
            ids[r, :len(t)] = torch.tensor(t)
        yield ids, torch.tensor([l for l, _ in chunk])


def evaluate(model, data, batch, min_len):
    model.eval()
    ok = 0
    with torch.no_grad():
        for ids, y in batches(data, list(range(len(data))), batch, min_len):
            out = model(ids)
            logits = out[0] if isinstance(out, tuple) else out
            ok += (logits.argmax(1) == y).sum().item()
    return ok / len(data)


def beta_at(a, epoch):
    steps = max(a.beta_steps, 1)
    if steps == 1 or a.epochs <= 1:
        return a.beta_start
    k = min(epoch * steps // a.epochs, steps - 1)
    return a.beta_start + (a.beta_end - a.beta_start) * k / (steps - 1)


def fit(model, params, train, dev, a, rng, min_len, beta=None, after_step=None, history=None):
    """Adam on params over a.epochs epochs of a.batch (shuffled by rng), loss = CE (+ beta(epoch) * info
    for a VMask model); keeps the best-on-dev state. after_step() runs after each optimizer step (e.g. a
    max-norm constraint); history, a list, gets each epoch's dev accuracy. Returns (best dev accuracy,
    seconds per epoch of training steps, dev evaluation excluded)."""
    opt = torch.optim.Adam(params, lr=a.lr)
    best, state, times = -1, None, []
    for epoch in range(a.epochs):
        b = beta(epoch) if beta else 0.0
        model.train()
        t0 = time.perf_counter()
        steps = (len(train) + a.batch - 1) // a.batch
        for k, (ids, y) in enumerate(batches(train, list(rng.permutation(len(train))), a.batch, min_len)):
            opt.zero_grad()
            out = model(ids)
            loss = F.cross_entropy(out[0], y) + b * out[1] if isinstance(out, tuple) else F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            if after_step:
                after_step()
            if getattr(a, "progress", False) and (k + 1) % 25 == 0:
                print("epoch %d/%d: step %d/%d, %.0f s" % (epoch + 1, a.epochs, k + 1, steps, time.perf_counter() - t0),
                      file=sys.stderr, flush=True)
        times.append(time.perf_counter() - t0)
        acc = evaluate(model, dev, a.batch, min_len)
        if history is not None:
            history.append(acc)
        if getattr(a, "progress", False):
            print("epoch %d/%d: %.1f s, dev %.2f%%" % (epoch + 1, a.epochs, times[-1], 100 * acc), file=sys.stderr, flush=True)
        if acc > best:
            best, state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return best, times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", choices=["base", "vmask"])
    ap.add_argument("--vmaskc", required=True)
    ap.add_argument("--data", required=True, help="directory with train/dev/test.tsv and vocab.txt")
    ap.add_argument("--model", choices=["cnn", "lstm"], default="cnn")
    ap.add_argument("--emb", type=int, default=300)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--base", help="base state (.pt) written by `base` and read by `vmask`")
    ap.add_argument("--onnx", help="base: export the base classifier here")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mask-hidden", type=int, default=100)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--beta-start", type=float, default=1.0)
    ap.add_argument("--beta-end", type=float, default=0.109)
    ap.add_argument("--beta-steps", type=int, default=10)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--no-mask", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    vocab = {w: i for i, w in enumerate(open(os.path.join(a.data, "vocab.txt")).read().split("\n")) if w}
    train, dev, test = (load(a.vmaskc, os.path.join(a.data, s + ".tsv"), vocab) for s in ("train", "dev", "test"))
    V = len(vocab)
    make = KimCNN if a.model == "cnn" else LSTMClf
    base = make(V, a.emb, a.classes, dropout=0.5 if a.job == "base" else a.dropout)
    result = {"job": a.job, "model": a.model, "data": a.data, "seed": a.seed, "threads": a.threads}
    if a.job == "base":
        best, _ = fit(base, list(base.parameters()), train, dev, a, rng, base.min_len)
        result.update(pretrain_dev=best, pretrain_test=evaluate(base, test, a.batch, base.min_len))
        torch.manual_seed(a.seed + 1000)
        for mod in base.modules():
            if mod is not base.embedding and hasattr(mod, "reset_parameters") and not list(mod.children()):
                mod.reset_parameters()
        torch.save(base.state_dict(), a.base)
        base.eval()
        torch.onnx.export(base, torch.ones(2, 12, dtype=torch.long), a.onnx, opset_version=13, input_names=["input_ids"],
                          output_names=["logits"], dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
        print(json.dumps(result))
        return
    base.load_state_dict(torch.load(a.base))
    model = base if a.no_mask else VMask(base, a.mask_hidden, a.tau, pad_id=0)
    if a.no_mask:
        base.embedding.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    best, times = fit(model, params, train, dev, a, rng, base.min_len, None if a.no_mask else lambda e: beta_at(a, e))
    result.update(dev=best, test=evaluate(model, test, a.batch, base.min_len), epoch_seconds=times,
                  peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
