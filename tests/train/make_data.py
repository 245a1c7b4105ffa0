#!/usr/bin/env python3
"""Writes the small synthetic text-classification task the training tests use (Python stdlib only).

Vocabulary: <pad>, <unk>, w0..w57 (60 tokens, matching the fixture models' embedding tables).
Class 1 texts contain one of w0..w4, class 2 texts one of w5..w9, class 0 texts neither; the other
words are noise. A VMASK model should learn that w0..w9 matter.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
random.seed(20261126)
words = ["<pad>", "<unk>"] + ["w%d" % i for i in range(58)]
with open(os.path.join(HERE, "vocab.txt"), "w") as f:
    f.write("\n".join(words) + "\n")


def make(n, name):
    with open(os.path.join(HERE, name), "w") as f:
        for _ in range(n):
            length = random.randint(3, 15)
            toks = [random.choice(words[12:]) for _ in range(length)]
            c = random.randint(0, 2)
            if c:
                toks[random.randrange(length)] = random.choice(words[2:7] if c == 1 else words[7:12])
            f.write("%d\t%s\n" % (c, " ".join(toks)))


make(600, "train.tsv")
make(100, "dev.tsv")
make(100, "test.tsv")
