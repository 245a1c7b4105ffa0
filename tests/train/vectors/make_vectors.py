#!/usr/bin/env python3
"""Writes the tiny word-vector files of tests/train/vectors.sh (python3 standard library only):
the same 16-d vectors as GloVe text (glove.txt, no header), word2vec text (w2v.txt, `count dim`
header; fastText's .vec layout with its trailing space), word2vec binary (w2v.bin), and the two
word2vec files gzip'd (mtime 0, so the bytes are reproducible).

Rows: w0..w29 and w40 (vocabulary words, found exactly; w40 also serves a vocabulary entry W40
lower-cased), W41 (upper case only: vocabulary word w41 must not take it), a second w1 (ignored:
the first row of a word wins), <pad> and <unk> rows of 9.0 (never used: pad is zero, unk random),
and zzz (in no vocabulary). Values have 4 decimals so text and binary hold the same float32.

    cd tests/train/vectors && python3 make_vectors.py
"""
import gzip
import struct

D = 16


def vec(i):
    return [round(((i * 37 + k * 11) % 199) / 199.0 - 0.5, 4) for k in range(D)]


rows = [("w%d" % i, vec(i)) for i in range(30)]
rows += [("w40", vec(40)), ("W41", vec(41)), ("w1", [0.5] * D), ("<pad>", [9.0] * D), ("<unk>", [9.0] * D), ("zzz", vec(99))]


def fmt(x):
    return ("%.4f" % x).rstrip("0").rstrip(".") if x else "0"


text = "".join("%s %s\n" % (w, " ".join(fmt(x) for x in v)) for w, v in rows)
vec_text = "%d %d\n" % (len(rows), D) + "".join("%s %s \n" % (w, " ".join(fmt(x) for x in v)) for w, v in rows)
binary = ("%d %d\n" % (len(rows), D)).encode() + b"".join(w.encode() + b" " + struct.pack("<%df" % D, *v) + b"\n" for w, v in rows)

open("glove.txt", "w").write(text)
open("w2v.txt", "w").write(vec_text)
open("w2v.bin", "wb").write(binary)
for name, data in (("w2v.txt.gz", vec_text.encode()), ("w2v.bin.gz", binary)):
    with open(name, "wb") as f:
        f.write(gzip.compress(data, mtime=0))
