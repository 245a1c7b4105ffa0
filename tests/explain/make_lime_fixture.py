#!/usr/bin/python3
"""Writes the LIME surrogate fixtures for tests/unit/test_explain.c.

Each case is a perturbation matrix Z drawn the way lime_text.py draws it (row 0 all ones; then the
number of removed features s ~ randint(1, d+1) and s distinct features), the kernel weights computed
exactly as LimeTextExplainer does (sklearn cosine pairwise_distances * 100, kernel
sqrt(exp(-D^2 / w^2)) with w = 25), synthetic targets in [0, 1] (a logistic function of the kept
features plus noise, like a classifier's probability), and sklearn's Ridge(alpha, fit_intercept=True)
fitted with sample_weight = the kernel weights. The test recomputes the kernel weights from Z and
refits the ridge in C; both must match sklearn (1e-12 and 1e-6).

The outputs are committed, so the test suite needs no sklearn. Regenerate with Debian's interpreter
(python3-numpy, python3-sklearn):
    /usr/bin/python3 tests/explain/make_lime_fixture.py
File format (lime_<case>.txt): comment lines start with '#'; then "N d alpha kernel_width"; then d
sklearn coefficients; then the intercept; then N lines "<d digits of z> <pi> <y>".
"""
import os

import numpy as np
import sklearn
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [  # name, N, d, alpha, seed
    ("d20", 1000, 20, 1.0, 1),
    ("d6", 300, 6, 1.0, 2),
    ("d1", 40, 1, 1.0, 3),
    ("d45", 600, 45, 1.0, 4),
    ("d12_alpha001", 400, 12, 0.01, 5),
]
KERNEL_WIDTH = 25.0


def sample(rs, N, d):
    # lime_text.py __data_labels_distances, bow=True
    sizes = rs.randint(1, d + 1, N - 1)
    data = np.ones((N, d))
    features = range(d)
    for i, size in enumerate(sizes, start=1):
        inactive = rs.choice(features, size, replace=False)
        data[i, inactive] = 0
    return data


def main():
    for name, N, d, alpha, seed in CASES:
        rs = np.random.RandomState(seed)
        Z = sample(rs, N, d)
        D = pairwise_distances(Z, Z[0].reshape(1, -1), metric="cosine").ravel() * 100
        pi = np.sqrt(np.exp(-(D ** 2) / KERNEL_WIDTH ** 2))
        w = rs.normal(0, 1.5, d)
        y = 1 / (1 + np.exp(-(Z @ w - 0.5 * w.sum() + rs.normal(0, 0.3, N))))
        model = Ridge(alpha=alpha, fit_intercept=True)
        model.fit(Z, y, sample_weight=pi)
        path = os.path.join(HERE, "lime_%s.txt" % name)
        with open(path, "w") as f:
            f.write("# LIME surrogate fixture '%s' by make_lime_fixture.py (numpy %s, sklearn %s):\n" % (name, np.__version__, sklearn.__version__))
            f.write("# Ridge(alpha=%r, fit_intercept=True).fit(Z, y, sample_weight=pi); pi = LIME's cosine kernel, width %r\n" % (alpha, KERNEL_WIDTH))
            f.write("%d %d %r %r\n" % (N, d, alpha, KERNEL_WIDTH))
            f.write(" ".join("%.17g" % c for c in model.coef_) + "\n")
            f.write("%.17g\n" % model.intercept_)
            for i in range(N):
                f.write("%s %.17g %.17g\n" % ("".join("1" if v else "0" for v in Z[i]), pi[i], y[i]))
        print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
