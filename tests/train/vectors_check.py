#!/usr/bin/env python3
"""Checks the word-embedding table of a model `vmaskc train --vectors` exported (python3 standard
library only: the ONNX protobuf is walked by hand).

    vectors_check.py MODEL.onnx TABLE VOCAB.txt VECTORS.txt A    # checks; exit 1 on a failure
    vectors_check.py MODEL.onnx TABLE --digest                   # sha256 of the table's bytes

Checks: the row of every vocabulary word the text file has (exactly, else lower-cased; the first
row of a word wins) equals the file's vector as float32; <pad> is zero; every other row is within
[-A, A], not all zero, and not the file's <unk>/<pad> rows.
"""
import hashlib
import struct
import sys


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    """(field number, value) pairs of one protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
            yield num, v
            continue
        n = {1: 8, 5: 4}.get(wt)
        if wt == 2:
            n, i = varint(buf, i)
        elif n is None:
            raise ValueError("wire type %d" % wt)
        yield num, buf[i:i + n]
        i += n


def table(path, name):
    model = open(path, "rb").read()
    graph = next(v for n, v in fields(model) if n == 7)
    for n, t in fields(graph):
        if n != 5:
            continue
        f = list(fields(t))
        if any(k == 8 and v.decode() == name for k, v in f):
            dims = [v for k, v in f if k == 1]
            raw = b"".join(v for k, v in f if k == 9)
            return dims, raw
    sys.exit("vectors_check: no initializer %s in %s" % (name, path))


def main():
    dims, raw = table(sys.argv[1], sys.argv[2])
    if sys.argv[3] == "--digest":
        print(hashlib.sha256(raw).hexdigest())
        return
    V, E = dims
    rows = [struct.unpack("<%df" % E, raw[4 * E * r:4 * E * (r + 1)]) for r in range(V)]
    vocab = [l.rstrip("\n") for l in open(sys.argv[3], encoding="utf-8")]
    a = float(sys.argv[5])
    vec = {}
    for line in open(sys.argv[4], encoding="utf-8"):
        p = line.split()
        if len(p) == E + 1 and p[0] not in vec:
            vec[p[0]] = [struct.unpack("f", struct.pack("f", float(x)))[0] for x in p[1:]]
    bad = 0
    n_file = n_oov = 0
    for i, w in enumerate(vocab):
        r = rows[i]
        if w == "<pad>":
            ok = all(x == 0 for x in r)
            what = "zero"
        elif w != "<unk>" and (w in vec or w.lower() in vec):
            ok = list(r) == vec[w if w in vec else w.lower()]
            what = "the file's vector"
            n_file += 1
        else:
            ok = all(-a <= x <= a for x in r) and any(x != 0 for x in r) and 9.0 not in r
            what = "uniform within +-%g" % a
            n_oov += 1
        if not ok:
            bad += 1
            print("FAIL: row %d (%s) should be %s: %s" % (i, w, what, r[:4]))
    print("%s: %d rows from the file, %d drawn, pad zero" % ("FAIL" if bad else "ok", n_file, n_oov))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
