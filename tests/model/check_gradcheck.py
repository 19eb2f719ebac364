#!/usr/bin/python3
"""sgld-dist --check-gradient and a plug-in model's data check, through the command line.

1. The five built-in models with the real sgld-dist at 1 rank and at 2 ranks (one chain of
   2 shards, and 2 chains): exit 0, "passed", one loglik and one prior row per tensor, the
   same rows and checks at every layout.  cnn: conv4k3-pool2-fc3 on 4 x 4 images with
   --batch-size 10 (the few rows a ReLU/max-pool network is checked on, model.h).
2. The test build sgld-dist-test-models (tests/model/test_models.c registers the Poisson
   plug-in example and poisson-wrong-b, whose gradient of b is off by a factor 1.5): poisson
   passes; poisson-wrong-b exits 1 and prints b's row with relative error 0.333 and a
   "FAILED: loglik gradient of b" line, nothing about w, nothing on stderr, at 1 and 2 ranks;
   --check-gradient-tol 0.5 lets it pass (exit 0); --check-gradient-points 2 checks 2 points.
3. Bad Poisson targets (the model's check_data hook) under sgld-dist-test-models and
   sgld-ess-test-models predict: a negative count in a CSV (its line), a fractional one in an
   HDF5 file (its /y index), one in the second shard's half of the file at 2 ranks, one in
   --test-data, one under --check-gradient, one in predict's --data: exit 2 within the timeout,
   exactly one stderr line naming the file, the row, the column and the value, no output file.

usage: check_gradcheck.py BUILD_DIR MPIEXEC
Prints one line per case and a closing 'N passed, N failed' line; exits non-zero on failure."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BUILD, MPIEXEC = sys.argv[1], sys.argv[2]
DIST = os.path.join(BUILD, "sgld-dist")
TDIST = os.path.join(BUILD, "tests", "model", "sgld-dist-test-models")
TESS = os.path.join(BUILD, "tests", "model", "sgld-ess-test-models")
TMP = tempfile.mkdtemp(prefix="sgld-gradcheck-")
passed = failed = 0


def run(exe, args, ranks=1):
    cmd = ([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks > 1 else []) + [exe] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=TMP)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, "timeout", "", "timeout")


def case(name, ok, detail=""):
    global passed, failed
    print(("ok     " if ok else "FAIL   ") + name + ("" if ok else ": " + detail))
    if ok:
        passed += 1
    else:
        failed += 1


def path(name):
    return os.path.join(TMP, name)


def table(out):
    """{(term, variable): (elements, checks, worst)} of the printed table."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(loglik|prior)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$", line)
        if m:
            rows[(m.group(1), m.group(2))] = (int(m.group(3)), int(m.group(4)), float(m.group(5)))
    return rows


def stderr_lines(r):
    return [line for line in r.stderr.splitlines() if line.strip()]


# ---- data -----------------------------------------------------------------------------------
rng = np.random.default_rng(20)
X = rng.standard_normal((300, 16))
label = np.arange(300) % 3
X[np.arange(300), label] += 0.8
with open(path("images.csv"), "w") as f:
    f.write(",".join(f"p{j}" for j in range(16)) + ",label\n")
    for i in range(300):
        f.write(",".join(f"{v:.6f}" for v in X[i]) + f",{label[i]}\n")


def counts(n, seed):
    """A synthetic Poisson regression set: y ~ Poisson(exp(0.3 + x w)), w = (0.4, -0.3, 0.2)."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, 3))
    return x, r.poisson(np.exp(0.3 + x @ np.array([0.4, -0.3, 0.2])))


def write_counts(name, x, y):
    with open(path(name), "w") as f:
        f.write("x1,x2,x3,count\n")
        for i in range(len(y)):
            f.write(",".join(f"{v:.6f}" for v in x[i]) + f",{y[i]:g}\n")
    return path(name)


x, y = counts(400, 1)
good = write_counts("counts.csv", x, y)

# ---- 1. the built-in models ---------------------------------------------------------------------
builtin = [("linreg", ["--data", "synthetic:linreg3"]), ("logreg", ["--data", "synthetic:logreg"]),
           ("softmax", ["--data", "synthetic:softmax"]), ("mlp", ["--data", "synthetic:linreg3"]),
           ("cnn", ["--data", path("images.csv"), "--net", "conv4k3-pool2-fc3", "--batch-size", "10"])]
for model, args in builtin:
    tables = []
    for ranks, chains in [(1, 1), (2, 1), (2, 2)]:
        r = run(DIST, ["--check-gradient", "--model", model, "--chains", str(chains)] + args, ranks)
        t = table(r.stdout)
        tables.append({k: v[:2] for k, v in t.items()})
        ok = (r.returncode == 0 and "passed: every relative error <= 0.01" in r.stdout and not stderr_lines(r)
              and len(t) >= 4 and all(v[2] <= 0.01 for v in t.values())
              and len({k[1] for k in t if k[0] == "loglik"}) == len({k[1] for k in t if k[0] == "prior"}))
        case(f"{model} passes at {ranks} rank(s), {chains} chain(s)", ok, f"exit {r.returncode}: {r.stdout}{r.stderr}")
    case(f"{model}: the same rows and checks at every layout", tables[0] == tables[1] == tables[2], str(tables))

# ---- 2. a plug-in model and a wrong gradient ------------------------------------------------------
r = run(TDIST, ["--check-gradient", "--model", "poisson", "--data", good])
case("poisson (plug-in example) passes", r.returncode == 0 and "passed" in r.stdout, r.stdout + r.stderr)
for ranks in (1, 2):
    r = run(TDIST, ["--check-gradient", "--model", "poisson-wrong-b", "--data", good], ranks)
    t = table(r.stdout)
    ok = (r.returncode == 1 and not stderr_lines(r) and abs(t.get(("loglik", "b"), (0, 0, 0))[2] - 0.333) < 1e-9
          and re.search(r"^FAILED: loglik gradient of b: relative error 0\.333 > 0\.01 at b, point \d", r.stdout, re.M)
          and "gradient of w" not in r.stdout and t[("loglik", "w")][2] <= 0.01 and t[("prior", "b")][2] <= 0.01)
    case(f"a gradient off by a factor in b: exit 1, b named ({ranks} rank(s))", bool(ok),
         f"exit {r.returncode}: {r.stdout}{r.stderr}")
r = run(TDIST, ["--check-gradient", "--check-gradient-tol", "0.5", "--model", "poisson-wrong-b", "--data", good])
case("--check-gradient-tol 0.5 accepts the 1/3 error", r.returncode == 0 and "passed: every relative error <= 0.5"
     in r.stdout, r.stdout + r.stderr)
r = run(TDIST, ["--check-gradient", "--check-gradient-points", "2", "--model", "poisson", "--data", good])
t = table(r.stdout)
case("--check-gradient-points 2", r.returncode == 0 and ": 2 points x 100 rows" in r.stdout
     and t.get(("loglik", "w"), (0, 0))[1] == 6 and t.get(("loglik", "b"), (0, 0))[1] == 2, r.stdout + r.stderr)

# ---- 3. bad Poisson targets ---------------------------------------------------------------------
neg = y.astype(float).copy()
neg[5] = -3                            # data row 5: line 7 of the file (header on line 1)
write_counts("neg.csv", x, neg)
late = y.astype(float).copy()
late[350] = 2.5                        # in the second shard's rows at 2 ranks: line 352
write_counts("late.csv", x, late)
with h5py.File(path("frac.h5"), "w") as f:
    f["X"] = x.astype(np.float32)
    yy = y.astype(np.float64)
    yy[17] = 1.5
    f["y"] = yy
xt, yt = counts(50, 2)
tneg = yt.astype(float)
tneg[9] = -1
write_counts("test_neg.csv", xt, tneg)
bad = [
    ("negative count in a CSV", TDIST, ["--model", "poisson", "--data", path("neg.csv")], 2,
     r"neg\.csv:7: target 'count' = -3: the poisson model needs counts \(non-negative whole numbers\)$"),
    ("fractional count in an HDF5 file", TDIST, ["--model", "poisson", "--data", path("frac.h5")], 2,
     r"frac\.h5: /y\[17\]: target 'y' = 1\.5: the poisson model needs counts"),
    ("a bad count in the second shard", TDIST, ["--model", "poisson", "--data", path("late.csv")], 2,
     r"late\.csv:352: target 'count' = 2\.5: the poisson model needs counts"),
    ("a bad count in --test-data", TDIST, ["--model", "poisson", "--data", good, "--test-data",
                                           path("test_neg.csv")], 2,
     r"test_neg\.csv:11: target 'count' = -1: the poisson model needs counts"),
    ("a bad count under --check-gradient", TDIST, ["--check-gradient", "--model", "poisson", "--data",
                                                   path("neg.csv")], 1,
     r"neg\.csv:7: target 'count' = -3"),
]
for name, exe, args, ranks, pattern in bad:
    before = set(os.listdir(TMP))
    r = run(exe, args + ["--output", path("out.h5"), "--steps", "50"], ranks)
    lines = stderr_lines(r)
    ok = (r.returncode == 2 and len(lines) == 1 and re.search(pattern, lines[0])
          and set(os.listdir(TMP)) == before)
    case(name + f" ({ranks} rank(s))", bool(ok), f"exit {r.returncode}, stderr {lines}, stdout {r.stdout[:200]}")

# predict's --data: a run on good counts, then a TEST file with a bad count
r = run(TDIST, ["--model", "poisson", "--data", good, "--steps", "300", "--step-size", "1e-4", "--output",
                path("poisson.h5"), "--quiet"])
case("a poisson run writes its sample file", r.returncode == 0, r.stderr)
r = run(TESS, ["predict", path("poisson.h5"), "--data", path("test_neg.csv")], 2)
lines = stderr_lines(r)
case("a bad count in predict's --data (2 ranks)", r.returncode == 2 and len(lines) == 1
     and re.search(r"test_neg\.csv:11: target 'count' = -1: the poisson model needs counts", lines[0]) is not None,
     f"exit {r.returncode}, stderr {lines}")

print(f"{passed} passed, {failed} failed")
if not failed:
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(1 if failed else 0)
