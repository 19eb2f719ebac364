"""`sgld-ess summary`'s mcse_sd (both rules) and mcse_q5 / mcse_q50 / mcse_q95 against the R
package posterior's formulas (R/convergence.R, posterior 1.5.0: mcse_sd.default, .mcse_quantile,
.ess, split chains), implemented here on their own in NumPy with SciPy's beta quantile, and
against the published bern1-4 values (tests/diag/fixtures/README.md).

Draws: 4 chains of an odd length (the split drops the middle draw; the quantiles keep it) with
an AR(1), a heavy-tailed, a skewed float32, a rounded (many ties) and a 0/1 variable whose 50%
and 95% indicators are constant (no ESS: their MCSE is null, as posterior's NA), and one chain.

Tolerances: both sides compute in double; the ESS differs only by the rounding of two FFT
implementations (~1e-13 relative), so mcse_sd agrees to 1e-9 relative and the quantile MCSEs,
half the distance of two draws picked by floor / ceil of a beta quantile times S, are the same
draws (an index could only move if a1 S fell within ~1e-13 S of an integer); the JSON prints
10 significant digits, so they agree to half a unit of the 10th.

usage: check_mcse.py SGLD_ESS"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy.special import betaincinv

from posterior_ref import ess, split

EXE = sys.argv[1]
ROOT = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "diag", "fixtures")
TMP = tempfile.mkdtemp(prefix="sgld-ess-mcse-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


# ---- posterior's formulas ----

def mcse_sd(x, rule):
    d = x - x.mean()
    e = ess(split(d ** 2 if rule == "posterior" else np.abs(d)))
    e2 = (d ** 2).mean()
    return math.sqrt(((d ** 4).mean() - e2 ** 2) / e / e2 / 4)


def mcse_quantile(x, prob):
    e = ess(split((x <= np.quantile(x, prob)).astype(float)))
    if math.isnan(e):
        return None
    a1, a2 = (betaincinv(e * prob + 1, e * (1 - prob) + 1, p) for p in (0.1586553, 0.8413447))
    s = np.sort(x, axis=None)
    S = s.size
    return (s[min(math.ceil(a2 * S), S) - 1] - s[max(math.floor(a1 * S), 1) - 1]) / 2


# ---- the files ----

rng = np.random.default_rng(77)


def ar1(m, n, phi):
    x = np.zeros((m, n))
    x[:, 0] = rng.normal(size=m) / math.sqrt(1 - phi * phi)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=m)
    return x


def write(name, **vars_):
    path = os.path.join(TMP, name)
    with h5py.File(path, "w") as f:
        g = f.create_group("posterior", track_order=True)
        for k, v in vars_.items():
            g[k] = v
    return path, vars_


M, N = 4, 1001
files = [
    write("odd.h5", ar=ar1(M, N, 0.8), heavy=rng.standard_t(3, size=(M, N)),
          skew=np.exp(ar1(M, N, 0.5)).astype(np.float32), ties=np.round(ar1(M, N, 0.6), 1),
          binary=(rng.uniform(size=(M, N)) < 0.9).astype(np.int8)),
    write("one.h5", ar=ar1(1, 800, 0.9), u=rng.uniform(size=(1, 800))),
]

for path, vars_ in files:
    for rule in ("posterior", "stan"):
        p = subprocess.run([EXE, "summary", path, "--json", "--mcse-sd-rule", rule], capture_output=True, text=True,
                           timeout=120)
        check(p.returncode == 0, "%s %s: exit 0 (%s)" % (path, rule, p.stderr.strip()))
        got = {d["name"]: d for d in json.loads(p.stdout)["variables"]} if p.returncode == 0 else {}
        for name, v in vars_.items():
            x = np.asarray(v, dtype=np.float64)
            tag = "%s %s (%s)" % (os.path.basename(path), name, rule)
            g = got.get(name, {})
            want = mcse_sd(x, rule)
            check(abs(g.get("mcse_sd", math.inf) - want) <= 1e-9 * want, "%s mcse_sd %s vs %r" % (tag, g.get("mcse_sd"), want))
            if rule == "stan":
                continue  # the quantile MCSEs do not depend on the rule (checked once)
            for key, prob in (("mcse_q5", 0.05), ("mcse_q50", 0.5), ("mcse_q95", 0.95)):
                want = mcse_quantile(x, prob)
                have = g.get(key, "missing")
                ok = have is None if want is None else (have is not None and have != "missing"
                                                         and abs(have - want) <= 5e-10 * abs(want))
                check(ok, "%s %s %r vs %r" % (tag, key, have, want))
    if path.endswith("odd.h5"):
        b = got.get("binary", {})
        check(b.get("mcse_q5") is not None and b.get("mcse_q50", 0) is None and b.get("mcse_q95", 0) is None,
              "binary: the constant 50%% and 95%% indicators give null MCSEs, the 5%% one not: %s" % b)

# bern1-4: the NumPy values of both rules in tests/diag/fixtures/README.md (7 digits) and the
# published lp__ (Stan's rule) / theta (posterior's) values, to half a unit of the last digit.
def stan_csv(i):
    rows = [l for l in open(os.path.join(FIX, "bern%d.csv" % i)) if l.strip() and not l.startswith("#")]
    return np.array([[float(v) for v in r.split(",")] for r in rows[1:]])


bern = np.array([stan_csv(i) for i in range(1, 5)])
for name, col, post, stan in (("lp__", 0, 0.03088983, 0.03553047), ("theta", 7, 0.002164214, 0.002196623)):
    half = 0.5 * 10.0 ** (math.floor(math.log10(post)) - 6)
    check(abs(mcse_sd(bern[:, :, col], "posterior") - post) <= half and abs(mcse_sd(bern[:, :, col], "stan") - stan) <= half,
          "the NumPy rules reproduce fixtures/README.md's %s values" % name)
bpath, _ = write("bern.h5", lp__=bern[:, :, 0], theta=bern[:, :, 7])
for rule, name, listed in (("posterior", "theta", 0.00216), ("stan", "lp__", 0.03553)):
    p = subprocess.run([EXE, "summary", bpath, "--json", "--mcse-sd-rule", rule], capture_output=True, text=True, timeout=120)
    got = {d["name"]: d for d in json.loads(p.stdout)["variables"]} if p.returncode == 0 else {}
    have = got.get(name, {}).get("mcse_sd", math.inf)
    check(abs(have - listed) <= 0.5e-5, "bern %s mcse_sd (%s) %r vs published %s" % (name, rule, have, listed))
    other = 0.03553 if name == "theta" else 0.00216  # the other rule misses the other listed value
    oname = "lp__" if name == "theta" else "theta"
    check(abs(got.get(oname, {}).get("mcse_sd", 0) - other) > 0.5e-5, "bern %s mcse_sd (%s) is not %s" % (oname, rule, other))

if failures:
    print("%d failure(s); files kept in %s" % (len(failures), TMP))
    sys.exit(1)
shutil.rmtree(TMP)
print("all mcse checks passed")
