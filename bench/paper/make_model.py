#!/usr/bin/python3
"""Export a randomly initialized base classifier for the paper study: a Kim-CNN or the VMASK
release's LSTM, whose word embedding has one row per line of a vocabulary, so `vmaskc train
--vectors` can fill it with pre-trained vectors.

Sizes follow the paper's appendix C and the authors' release (../../shared/reference/
vmask-reference-code.md): CNN filters 3/4/5 x 100, ReLU, max over time, linear layer; LSTM hidden
100 (unidirectional), tanh -> max over time -> tanh, linear layer, W_ih and W_hh xavier-normal with
gain sqrt(6) as the release re-initializes them. Both end in logits (the release's LSTM adds a
softmax before its cross-entropy; vmaskc's loss takes logits). Dropout is not in the export:
`vmaskc train --dropout P` adds it before the linear layer. The module classes are the ones
bench/train/vmask_torch.py builds its base models with.

    /usr/bin/python3 bench/paper/make_model.py --model cnn --vocab vocab.txt --classes 2 --emb 100 -o cnn.onnx
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from vmask_torch import KimCNN, LSTMClf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["cnn", "lstm"], required=True)
    ap.add_argument("--vocab", required=True, help="vocabulary (one token per line): the embedding gets one row per line")
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--emb", type=int, default=100, help="embedding width (GloVe 6B: 100; the paper's word2vec: 300)")
    ap.add_argument("--filters", type=int, default=100, help="CNN: filters per width (3, 4, 5)")
    ap.add_argument("--pad-conv", action="store_true",
                    help="CNN: pad every text with (max width - 1) = 4 zero vectors on both sides inside the Conv nodes, as Kim (2014)")
    ap.add_argument("--hidden", type=int, default=100, help="LSTM: hidden units")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()

    with open(a.vocab, encoding="utf-8") as f:
        V = sum(1 for line in f if line.rstrip("\r\n"))
    if V < 2 or a.classes < 2:
        sys.exit("make_model: need a vocabulary of at least 2 tokens and at least 2 classes")
    torch.manual_seed(a.seed)
    if a.model == "cnn":
        model = KimCNN(V, a.emb, a.classes, filters=a.filters, pad=4 if a.pad_conv else 0)
    else:
        model = LSTMClf(V, a.emb, a.classes, hidden=a.hidden)
        with torch.no_grad():
            nn.init.xavier_normal_(model.lstm.weight_ih_l0, gain=math.sqrt(6))
            nn.init.xavier_normal_(model.lstm.weight_hh_l0, gain=math.sqrt(6))
    model.eval()
    tmp = a.out + ".tmp.%d" % os.getpid()
    torch.onnx.export(model, torch.ones(2, 12, dtype=torch.long), tmp, opset_version=a.opset, input_names=["input_ids"],
                      output_names=["logits"], dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}})
    os.replace(tmp, a.out)
    n = sum(p.numel() for p in model.parameters())
    print("make_model: wrote %s: %s, embedding %d x %d, %d classes, %d parameters" % (a.out, a.model, V, a.emb, a.classes, n))


if __name__ == "__main__":
    main()
