"""`sgld-ess summary --curve K` against NumPy: for the first k/K of the draws of every chain
(k = 1..K), the batch means mESS (--mess-method bm, fixed --batch-size b; Vats, Flegal & Jones
2019 with the replicated batch means of Gupta & Vats 2020: Sigma = b / (a - 1) sum over the a
batches of all chains of (batch mean - grand mean)(...)^T, Lambda the pooled sample covariance,
mESS = N (det Lambda / det Sigma)^(1/p)) and its diagonal approximation (the geometric mean of
the split-chain ESS of each component, posterior's ess_basic, tests/ess/posterior_ref.py),
computed here on their own; the K-th point equals the summary's own mESS and mess_diag; the
table and CSV show the same points; a --curve whose first 1/K is too short is one line, exit 2.

Draws: 4 chains x 600 of a 3-component VAR(1) with correlated noise (so that Sigma is not
diagonal), the curve at K = 5; with the default estimator (lugsail, batch size rule) its first
point is the summary of a file cut to the first 1/K.

Tolerance: both sides compute in double from the same float64 draws; the determinants and the
FFT-based ESS differ by rounding only (~1e-12 relative); the JSON prints 10 significant
digits, so 1e-8 relative.

usage: check_curve.py SGLD_ESS"""
import json
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from posterior_ref import ess, split

EXE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="sgld-ess-curve-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(a, b, what, rel=1e-8):
    check(a is not None and abs(a - b) <= rel * abs(b), f"{what}: {a} vs numpy {b}")


def run(*args):
    p = subprocess.run([EXE, "summary"] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def mess_bm(x, b):
    """x [chains, draws, p]: the replicated batch means mESS with batch size b."""
    m, n, p = x.shape
    flat = x.reshape(-1, p)
    mu = flat.mean(0)
    a = n // b
    means = x[:, : a * b].reshape(m, a, b, p).mean(2).reshape(-1, p) - mu
    sigma = b * means.T @ means / (len(means) - 1)
    lam = np.cov(flat, rowvar=False, ddof=1)
    return m * n * math.exp((np.linalg.slogdet(lam)[1] - np.linalg.slogdet(sigma)[1]) / p)


def mess_diag(x):
    return math.exp(np.mean([math.log(ess(split(x[:, :, j]))) for j in range(x.shape[2])]))


rng = np.random.default_rng(2024)
C, N, P = 4, 600, 3
A = np.array([[0.8, 0.1, 0.0], [0.0, 0.6, 0.2], [0.1, 0.0, 0.9]])
L = np.linalg.cholesky(np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]]))
x = np.zeros((C, N, P))
for t in range(1, N):
    x[:, t] = x[:, t - 1] @ A.T + rng.standard_normal((C, P)) @ L.T
path = os.path.join(TMP, "var.h5")
with h5py.File(path, "w") as f:
    f["posterior/theta"] = x

K, B = 5, 10
rc, out, err = run(path, "--mess-method", "bm", "--batch-size", str(B), "--curve", str(K), "--json")
check(rc == 0, f"--curve --json exit {rc}: {err.strip()}")
if rc == 0:
    js = json.loads(out)
    curve = js["curve"]
    check(len(curve) == K, f"{len(curve)} points")
    for k, pt in enumerate(curve, 1):
        n_k = N * k // K
        check(pt["draws_per_chain"] == n_k and pt["n"] == C * n_k, f"point {k}: {pt['draws_per_chain']} draws")
        close(pt["mess"], mess_bm(x[:, :n_k], B), f"point {k} mess")
        close(pt["mess_diag"], mess_diag(x[:, :n_k]), f"point {k} mess_diag")
    close(curve[-1]["mess"], js["multivariate"]["mess"], "last point = the summary's mess", 1e-12)
    close(curve[-1]["mess_diag"], js["multivariate"]["mess_diag"], "last point = the summary's mess_diag", 1e-12)
    check(curve[0]["mess"] < curve[-1]["mess"], "the mESS grows with the draws")
    print("curve (bm, b = %d): " % B + ", ".join(f"{p['draws_per_chain']}: {p['mess']:.1f} / {p['mess_diag']:.1f}"
                                                for p in curve))
    rc, out, err = run(path, "--mess-method", "bm", "--batch-size", str(B), "--curve", str(K), "--csv")
    rows = out.strip().split("\n")
    i = rows.index("curve_draws_per_chain,curve_n,curve_mess,curve_mess_diag") if rc == 0 else -1
    check(i > 0 and len(rows) == i + 1 + K, "CSV curve rows")
    if i > 0:
        for pt, row in zip(curve, rows[i + 1:]):
            v = row.split(",")
            close(float(v[2]), pt["mess"], "CSV mess", 1e-9)
    rc, out, err = run(path, "--mess-method", "bm", "--batch-size", str(B), "--curve", str(K))
    check(rc == 0 and "mESS over the draws (the first k/5 of every chain)" in out, "table has the curve")
    # with the default estimator (lugsail, mcmcse's batch size rule) the first point is the
    # summary of a file holding only those draws
    rc, out, err = run(path, "--curve", str(K), "--json")
    cut = os.path.join(TMP, "cut.h5")
    with h5py.File(cut, "w") as f:
        f["posterior/theta"] = x[:, : N // K]
    rc2, out2, err2 = run(cut, "--json")
    check(rc == 0 and rc2 == 0, f"default estimator: {err.strip()} {err2.strip()}")
    if rc == 0 and rc2 == 0:
        first, whole = json.loads(out)["curve"][0], json.loads(out2)["multivariate"]
        close(first["mess"], whole["mess"], "first point = the cut file's mess", 1e-12)
        close(first["mess_diag"], whole["mess_diag"], "first point = the cut file's mess_diag", 1e-12)

# bad input: the first 1/K too short for 4 draws, and for the estimator
for args, want in ((["--curve", "200"], "--curve 200: the first 1/200 of the 600 draws per chain of"),
                   (["--curve", "1"], "--curve: must be in [2, 1000], got 1"),
                   (["--project", "20", "--curve", "100"], "(24 draws in all) is too few for the mESS of 30 components")):
    rc, out, err = run(path, *args)
    lines = err.strip().split("\n")
    check(rc == 2 and len(lines) == 1 and want in lines[0] and out == "", f"{args}: exit {rc}, {err.strip()!r}")

print(f"{len(failures)} failures" if failures else "all curve checks passed")
sys.exit(1 if failures else 0)
