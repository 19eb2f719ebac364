"""sgld-ess end to end on a sample file written by sgld-dist.

Runs `mpiexec -n 2 sgld-dist --model linreg --data synthetic:linreg3 --chains 2 --steps 3000
--burnin 500` and summarizes its file with `sgld-ess summary FILE --json`: element names w[0],
w[1], w[2], b; means equal to numpy's on the file's draws (10 significant digits, the JSON's
precision); the multivariate block has p = 4 and chains = 2; `--group sample_stats` works
(lp summarized, the constant step_size gets null diagnostics).

Convergence (R-hat < 1.1 for every element) is checked on the same run with --step-size 1e-4
instead of the default 1e-5, because theory says the default cannot converge in 2 x 2500
draws.  SGLD on this Gaussian posterior is a linear AR(1) recursion per eigen-direction of the
posterior precision H = X'X / 0.5^2 + I (x ~ N(0, C), C_ij = 0.8^|i-j|, n = 500): the slowest
eigenvalue is lambda_min ~ 2000 * 0.144 + 1 = 289, so phi = 1 - eps lambda_min / 2 and the
integrated autocorrelation time is (1 + phi) / (1 - phi):
  eps = 1e-5: tau ~ 1381 steps, 2500 draws are ~1.8 effective draws per chain and the 500-step
              burn-in removes only 1 - e^-0.72 = 51% of the initial offset (observed rank R-hat
              1.67-1.88, ess_bulk 3-10): not converged, by construction;
  eps = 1e-4: tau ~ 137 steps, ~18 effective draws per chain, burn-in e^-7.2 < 1e-3 of the
              offset; stable (eps lambda_max / 2 = 0.25 < 1), stationary variance inflated by at
              most 1 / (1 - 0.125) in the stiffest direction and means unbiased (linear
              gradient).  With ~9 effective draws per split half, split R-hat - 1 is of order
              1 / (2 * 9) ~ 0.05, so 1.1 separates converged from the unconverged 1.7 above.
Fixed seeds (sgld-dist --seed default 1): the runs are deterministic.

usage: check_dist.py SGLD_DIST SGLD_ESS MPIEXEC"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DIST, ESS, MPIEXEC = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="sgld-ess-dist-")
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def sgld_dist(path, *extra):
    cmd = [MPIEXEC, "-n", "2", DIST, "--model", "linreg", "--data", "synthetic:linreg3",
           "--chains", "2", "--steps", "3000", "--burnin", "500", "--quiet", *extra, "--output", path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    check(p.returncode == 0 and os.path.exists(path), "sgld-dist %s exit 0 (%d: %s)" % (" ".join(extra), p.returncode, p.stderr.strip()))


def summary(path, *extra):
    p = subprocess.run([ESS, "summary", path, "--json", *extra], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "sgld-ess summary %s exit 0 (%d: %s)" % (" ".join(extra), p.returncode, p.stderr.strip()))
    return json.loads(p.stdout) if p.returncode == 0 else {"variables": [], "multivariate": {}}


def close(a, b):
    return a is not None and abs(a - b) <= 1e-9 * max(abs(b), 1e-300)


# 1. The brief's run: names, means, multivariate block, sample_stats.
f1 = os.path.join(TMP, "linreg3.h5")
sgld_dist(f1)
js = summary(f1)
names = [v["name"] for v in js["variables"]]
check(names == ["w[0]", "w[1]", "w[2]", "b"], "element names %s" % names)
with h5py.File(f1, "r") as f:
    w = np.asarray(f["posterior/w"], dtype=np.float64)
    b = np.asarray(f["posterior/b"], dtype=np.float64)
    lp = np.asarray(f["sample_stats/lp"], dtype=np.float64)
check(w.shape == (2, 2500, 3) and b.shape == (2, 2500), "draw shapes %s %s" % (w.shape, b.shape))
ref = {"w[%d]" % j: w[:, :, j].mean() for j in range(3)}
ref["b"] = b.mean()
for v in js["variables"]:
    check(close(v["mean"], ref[v["name"]]), "%s mean %r = numpy %r" % (v["name"], v["mean"], ref[v["name"]]))
mv = js["multivariate"]
check(mv.get("p") == 4 and mv.get("chains") == 2 and mv.get("n") == 5000,
      "multivariate p = 4, chains = 2, n = 5000 (%s)" % {k: mv.get(k) for k in ("p", "chains", "n")})
check(isinstance(mv.get("mess"), (int, float)) and mv["mess"] > 0, "multivariate mESS is a positive number (%s)" % mv.get("mess"))
ss = summary(f1, "--group", "sample_stats")
sv = {v["name"]: v for v in ss["variables"]}
check(ss.get("group") == "sample_stats" and "lp" in sv, "sample_stats group summarized (%s)" % list(sv))
if "lp" in sv:
    check(close(sv["lp"]["mean"], lp.mean()), "sample_stats lp mean %r = numpy %r" % (sv["lp"]["mean"], lp.mean()))
    check(sv["lp"]["ess_bulk"] is not None and sv["lp"]["ess_bulk"] > 0, "sample_stats lp ess_bulk finite")
if "step_size" in sv:
    check(sv["step_size"]["ess_bulk"] is None and sv["step_size"]["rhat"] is None,
          "constant step_size: diagnostics null (undefined), not a number")

# 2. Convergence at eps = 1e-4 (see the docstring for why not at the default 1e-5).
f2 = os.path.join(TMP, "linreg3-eps1e-4.h5")
sgld_dist(f2, "--step-size", "1e-4")
js2 = summary(f2)
for v in js2["variables"]:
    check(v["rhat"] is not None and v["rhat"] < 1.1, "eps 1e-4: %s rank R-hat %s < 1.1" % (v["name"], v["rhat"]))
check(len(js2["variables"]) == 4, "eps 1e-4: four elements")

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
