#!/usr/bin/python3
"""Export realistic-size text classifiers and input data for the inference benchmark.

Run with Debian's interpreter (the pyenv python3 on PATH has no torch/onnx):

    /usr/bin/python3 bench/make_models.py [--out DIR] [--shapes 50x50,200x128]
                                          [--models cnn,lstm,bert,bert_hf] [--opset 13]

Writes, under DIR (default bench/out/, gitignored):

    <model>/model.onnx                       opset 13, dynamic batch and seq axes
    <model>/data_<B>x<T>/input_<i>.pb        TensorProto per graph input (backend-test layout)
    <model>/data_<B>x<T>/torch_output_0.pb   PyTorch eval output (deliberately NOT named
                                             output_0.pb, so that `vmaskc run` and
                                             ort_run.js time the model without also checking
                                             it; run_inference.py compares all three)
    MANIFEST.tsv                             model, op histogram, file size, parameters

Sizes follow /work/shared/reference/toolchain.md section 5 (vocab 16000, embedding 300):

    cnn      Kim-CNN: Embedding(16000,300,pad 0) -> transpose -> Conv1d(300->100, k=3,4,5)
             -> ReLU -> amax over time -> cat -> Dropout -> Linear(300->2)
    lstm     Embedding -> LSTM(300->100, batch_first) -> h_n[-1] -> Linear(100->2)
    bert     nn.TransformerEncoderLayer encoder (post-LN, GELU): d=256, 4 heads (head dim 64),
             ff 512, 2 layers, 512 positions; inputs input_ids + attention_mask
             (key-padding mask = attention_mask == 0); token 0 -> pooler tanh -> Linear(->2)
    bert_hf  the same sizes with the encoder written like HuggingFace BertLayer (separate
             Q/K/V Linears, additive -10000 mask, erf-GELU, LayerNorm eps 1e-12): the graph
             an export of VMASK's real BERT has

Default shapes: 1x20 (one served request), 50x50 (the VMASK batch and sequence length) and 200x128 (see README.md
for why). Weights get N(0, 0.05^2) noise on top of the default init (as in the test
fixtures) so that eval-mode export does not merge identical initializers into Identity
nodes; the embedding pad row is re-zeroed. Data: ids uniform in [1, 16000), every odd
row ends in 1..T/2 pad tokens (id 0), attention_mask = ids != 0. Deterministic (fixed
seeds, torch.set_num_threads(1)).
"""

import argparse
import os
import shutil
import sys
import time
import warnings
import zlib
from collections import Counter

try:
    import numpy as np
    import onnx
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from onnx import numpy_helper
except ImportError as e:  # typically the pyenv python3 on PATH
    sys.exit("%s: run with Debian's /usr/bin/python3 (python3-torch, python3-onnx)" % e)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "out")

V = 16000          # vocab; id 0 is <pad>
E = 300            # embedding dim (CNN/LSTM)
N_FILTERS = 100    # per kernel size
KERNELS = (3, 4, 5)
H = 100            # LSTM hidden
N_CLASSES = 2
D_MODEL, N_HEADS, D_FF, N_LAYERS, MAX_POS = 256, 4, 512, 2, 512

DEFAULT_SHAPES = "1x20,50x50,200x128"
ALL_MODELS = ("cnn", "lstm", "bert", "bert_hf")


def perturb_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()


class KimCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(E, N_FILTERS, k) for k in KERNELS)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(N_FILTERS * len(KERNELS), N_CLASSES)

    def forward(self, input_ids):
        x = self.embedding(input_ids).transpose(1, 2)          # (B, E, T)
        x = torch.cat([F.relu(c(x)).amax(dim=2) for c in self.convs], dim=1)
        return self.fc(self.dropout(x))


class LSTMClf(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.lstm = nn.LSTM(E, H, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(H, N_CLASSES)

    def forward(self, input_ids):
        _, (h_n, _) = self.lstm(self.embedding(input_ids))
        return self.fc(self.dropout(h_n[-1]))


class BertEmbeddings(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.word = nn.Embedding(V, D_MODEL, padding_idx=0)
        self.position = nn.Embedding(MAX_POS, D_MODEL)
        self.norm = nn.LayerNorm(D_MODEL, eps=eps)

    def forward(self, input_ids):
        pos = torch.arange(input_ids.size(1), device=input_ids.device)  # Range: seq stays dynamic
        return self.norm(self.word(input_ids) + self.position(pos))


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = BertEmbeddings(eps=1e-5)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.1,
                                       activation="gelu", batch_first=True)
            for _ in range(N_LAYERS))
        self.pooler = nn.Linear(D_MODEL, D_MODEL)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(D_MODEL, N_CLASSES)

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        pad = attention_mask == 0
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return self.classifier(self.dropout(torch.tanh(self.pooler(x[:, 0]))))


class HFLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(D_MODEL, D_MODEL)
        self.k = nn.Linear(D_MODEL, D_MODEL)
        self.v = nn.Linear(D_MODEL, D_MODEL)
        self.attn_out = nn.Linear(D_MODEL, D_MODEL)
        self.norm1 = nn.LayerNorm(D_MODEL, eps=1e-12)
        self.ff1 = nn.Linear(D_MODEL, D_FF)
        self.ff2 = nn.Linear(D_FF, D_MODEL)
        self.norm2 = nn.LayerNorm(D_MODEL, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, N_HEADS, D_MODEL // N_HEADS).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / ((D_MODEL // N_HEADS) ** 0.5)
        probs = self.dropout(F.softmax(scores + additive_mask, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(x.size(0), x.size(1), D_MODEL)
        x = self.norm1(x + self.dropout(self.attn_out(ctx)))
        return self.norm2(x + self.dropout(self.ff2(F.gelu(self.ff1(x)))))


class TinyBertHF(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = BertEmbeddings(eps=1e-12)
        self.layers = nn.ModuleList(HFLayer() for _ in range(N_LAYERS))
        self.pooler = nn.Linear(D_MODEL, D_MODEL)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(D_MODEL, N_CLASSES)

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, additive)
        return self.classifier(self.dropout(torch.tanh(self.pooler(x[:, 0]))))


# name -> (constructor, input names)
MODELS = {
    "cnn": (KimCNN, ["input_ids"]),
    "lstm": (LSTMClf, ["input_ids"]),
    "bert": (TinyBert, ["input_ids", "attention_mask"]),
    "bert_hf": (TinyBertHF, ["input_ids", "attention_mask"]),
}


def parse_shapes(s):
    out = []
    for part in s.split(","):
        try:
            b, t = part.lower().split("x")
            b, t = int(b), int(t)
        except ValueError:
            sys.exit("bad shape '%s' (want BxT, e.g. 50x50)" % part)
        if b < 1 or t < 2 or t > MAX_POS:
            sys.exit("bad shape '%s': need batch >= 1 and 2 <= seq <= %d" % (part, MAX_POS))
        out.append((b, t))
    return out


def make_inputs(names, seed, batch, seq):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, V, size=(batch, seq), dtype=np.int64)
    for r in range(1, batch, 2):
        ids[r, seq - int(rng.integers(1, seq // 2 + 1)):] = 0
    arrays = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
    return [(n, arrays[n]) for n in names]


def write_pb(path, array):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(array).SerializeToString())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output dir (default bench/out)")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated BxT (default %s)" % DEFAULT_SHAPES)
    ap.add_argument("--models", default=",".join(ALL_MODELS), help="subset of %s" % ",".join(ALL_MODELS))
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()

    shapes = parse_shapes(args.shapes)
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            sys.exit("unknown model '%s' (choose from %s)" % (m, ", ".join(ALL_MODELS)))

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    os.makedirs(args.out, exist_ok=True)

    rows = []
    for name in models:
        t0 = time.time()
        ctor, in_names = MODELS[name]
        seed = zlib.crc32(("bench-" + name).encode())
        torch.manual_seed(seed)
        model = ctor()
        perturb_(model)
        model.eval()

        d = os.path.join(args.out, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        example = make_inputs(in_names, seed, 4, 12)
        axes = {n: {0: "batch", 1: "seq"} for n in in_names}
        axes["logits"] = {0: "batch"}
        torch.onnx.export(model, tuple(torch.from_numpy(a) for _, a in example), path,
                          opset_version=args.opset, do_constant_folding=True,
                          input_names=in_names, output_names=["logits"], dynamic_axes=axes)
        om = onnx.load(path)
        onnx.checker.check_model(om, full_check=True)
        assert [i.name for i in om.graph.input] == in_names, path
        ops = Counter(n.op_type for n in om.graph.node)
        assert "Identity" not in ops, (path, "initializers were merged")

        for (b, t) in shapes:
            sd = os.path.join(d, "data_%dx%d" % (b, t))
            os.makedirs(sd)
            inputs = make_inputs(in_names, seed + b * 1000 + t, b, t)
            with torch.no_grad():
                out = model(*[torch.from_numpy(a) for _, a in inputs]).numpy()
            assert out.shape == (b, N_CLASSES) and np.all(np.isfinite(out)), name
            for j, (_, a) in enumerate(inputs):
                write_pb(os.path.join(sd, "input_%d.pb" % j), a)
            write_pb(os.path.join(sd, "torch_output_0.pb"), out)

        n_params = sum(p.numel() for p in model.parameters())
        rows.append((name, args.opset, len(om.graph.node),
                     ",".join("%s:%d" % kv for kv in sorted(ops.items())),
                     os.path.getsize(path), n_params))
        print("%-8s %4d nodes %6.1f MB %9d params  %.1fs" % (
            name, len(om.graph.node), os.path.getsize(path) / 1e6, n_params, time.time() - t0))

    with open(os.path.join(args.out, "MANIFEST.tsv"), "w") as f:
        f.write("#model\topset\tnodes\tops\tmodel_bytes\tparams\n")
        for r in rows:
            f.write("%s\t%d\t%d\t%s\t%d\t%d\n" % r)
        f.write("#shapes\t%s\n" % ",".join("%dx%d" % s for s in shapes))
    print("wrote %s (shapes %s)" % (args.out, ",".join("%dx%d" % s for s in shapes)))


if __name__ == "__main__":
    main()
