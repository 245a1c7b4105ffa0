#!/usr/bin/python3
"""Builds examples/sst2_cnn.onnx: the classifier the README's main job turns into a VMASK model.

A Kim (2014) CNN -- Embedding(V, 64) -> Conv1d with 100 filters of widths 3, 4, 5 -> ReLU -> max over
time -> Linear(300 -> 2) -- exported to ONNX (opset 13, dynamic batch and sequence axes), set up the
way the VMASK paper trains its models: pre-trained word embeddings, which training keeps frozen, and
freshly initialized layers above them. The paper uses 300-d word2vec vectors; they are not available
here, so the embedding comes from a pre-training run: this script first trains the whole CNN on
data/sst2 (best dev epoch kept), then keeps its embedding and re-initializes the convolutions and the
output layer (PyTorch's default initialization, fixed seed). The embedding is 64-d to keep the
committed model under 4 MB. The vocabulary is data/sst2/vocab.txt and texts are tokenized by
`vmaskc tokenize`, so PyTorch and vmaskc see exactly the same token ids.

Run with Debian's interpreter (python3-torch, python3-onnx):
    /usr/bin/python3 examples/make_sst2_cnn.py build/vmaskc
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "data", "sst2")
E, FILTERS, WIDTHS, EPOCHS, BATCH, SEED = 64, 100, (3, 4, 5), 15, 50, 7


def load(vmaskc, split, vocab):
    with open(os.path.join(DATA, split + ".tsv"), "rb") as f:
        out = subprocess.run([vmaskc, "tokenize"], input=f.read(), stdout=subprocess.PIPE, check=True).stdout.decode()
    data = []
    for line in out.splitlines():
        label, text = line.split("\t", 1)
        data.append((int(label), [vocab.get(w, 1) for w in text.split()]))
    return data


class KimCNN(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        # small initial vectors (Kim's CNN-rand uses U(-0.25, 0.25)): words pre-training rarely sees
        # stay close to zero instead of keeping large random vectors
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.convs = nn.ModuleList([nn.Conv1d(E, FILTERS, k) for k in WIDTHS])
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(FILTERS * len(WIDTHS), 2)

    def forward(self, input_ids):
        x = self.embedding(input_ids).transpose(1, 2)
        h = torch.cat([F.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)
        return self.fc(self.dropout(h))


def batches(data, order):
    for i in range(0, len(order), BATCH):
        chunk = [data[j] for j in order[i:i + BATCH]]
        T = max(max(len(t) for _, t in chunk), max(WIDTHS))
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        for r, (_, t) in enumerate(chunk):
            ids[r, :len(t)] = torch.tensor(t)
        yield ids, torch.tensor([l for l, _ in chunk])


def accuracy(model, data):
    model.eval()
    ok = 0
    with torch.no_grad():
        for ids, y in batches(data, list(range(len(data)))):
            ok += (model(ids).argmax(1) == y).sum().item()
    return ok / len(data)


def main():
    vmaskc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "vmaskc")
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    vocab = {w: i for i, w in enumerate(open(os.path.join(DATA, "vocab.txt")).read().split("\n")) if w}
    train, dev, test = (load(vmaskc, s, vocab) for s in ("train", "dev", "test"))
    model = KimCNN(len(vocab))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(SEED)
    best, best_state = -1, None
    for epoch in range(EPOCHS):
        model.train()
        for ids, y in batches(train, list(rng.permutation(len(train)))):
            opt.zero_grad()
            F.cross_entropy(model(ids), y).backward()
            opt.step()
        acc = accuracy(model, dev)
        print(f"epoch {epoch + 1}: dev accuracy {100 * acc:.2f}%")
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    print(f"pre-training: best dev {100 * best:.2f}%, test {100 * accuracy(model, test):.2f}%")
    # keep the embedding, start the layers above it afresh (the paper's setting: pre-trained frozen
    # word vectors under freshly initialized layers)
    torch.manual_seed(SEED + 1)
    for layer in list(model.convs) + [model.fc]:
        layer.reset_parameters()
    model.eval()
    out = os.path.join(HERE, "sst2_cnn.onnx")
    torch.onnx.export(model, torch.ones(2, 12, dtype=torch.long), out, opset_version=13, input_names=["input_ids"],
                      output_names=["logits"], dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
    m = onnx.load(out)
    m.doc_string = "Kim-CNN for SST-2: pre-trained 64-d embedding, freshly initialized layers (examples/make_sst2_cnn.py)"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
