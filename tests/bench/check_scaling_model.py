"""check_scaling_model.py SOURCE_ROOT - tools/bench/scaling_model.py without MPI or timing.

1. fit_alpha_beta on a synthetic allreduce curve (min(ring, recursive doubling) at 2, 4 and 8
   ranks, 4 B to 13 MB, multiplicative log-normal noise of sd 5%, fixed seed) recovers the
   alpha and beta it was made with.  Tolerance: the log-residual fit estimates log(alpha) from
   the latency-bound points and log(beta) from the bandwidth-bound ones, so each has a standard
   error of about sd / sqrt(points that carry it); 6 standard errors with the fewest such
   points (the 3 largest sizes a rank count, 9) gives 6 x 0.05 / 3 = 10%.  A curve made with
   twice the beta must not pass as the first (the test can fail).
2. The step-time formulas against values computed by hand from the documented equations.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[1], "tools", "bench"))
import scaling_model as sm  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def curve(alpha, beta, sd, seed):
    rng = np.random.default_rng(seed)
    pts = []
    for p in (2, 4, 8):
        for n_bytes in (4, 16, 64, 256, 1024, 16384, 262144, 4194304, 9580848, 13098544):
            t = sm.allreduce_flat(p, n_bytes, alpha, beta)[0]
            pts.append((p, n_bytes, t * math.exp(sd * rng.standard_normal())))
    return pts


# 1. the fit
ALPHA, BETA, SD = 2.0e-6, 1.0 / 1.5e9, 0.05
tol = 6 * SD / math.sqrt(9)
a, b = sm.fit_alpha_beta(curve(ALPHA, BETA, SD, 7))
check(abs(a / ALPHA - 1) < tol, "alpha %.4g fitted, %.4g made (tolerance %.0f%%)" % (a, ALPHA, 100 * tol))
check(abs(b / BETA - 1) < tol, "beta %.4g fitted, %.4g made" % (b, BETA))
a2, b2 = sm.fit_alpha_beta(curve(ALPHA, 2 * BETA, SD, 7))
check(abs(b2 / BETA - 1) > tol, "a curve with twice the beta fits as the first (%.4g)" % b2)
check(abs(b2 / (2 * BETA) - 1) < tol, "twice the beta fitted as %.4g" % b2)
a0, b0 = sm.fit_alpha_beta(curve(ALPHA, BETA, 0.0, 1))
check(abs(a0 / ALPHA - 1) < 1e-4 and abs(b0 / BETA - 1) < 1e-4, "noise-free curve: %.6g %.6g" % (a0, b0))

# 2. formulas (scaling_model's docstring): ring 2(p-1) alpha + 2 (p-1)/p n beta,
# recursive doubling log2(p) (alpha + n beta)
check(math.isclose(sm.ring_time(4, 1e6, 1e-6, 1e-9), 6e-6 + 1.5e-3), "ring, 4 ranks, 1 MB")
check(math.isclose(sm.rd_time(8, 1000, 1e-6, 1e-9), 3 * (1e-6 + 1e-6)), "recursive doubling, 8 ranks")
check(sm.allreduce_flat(8, 16, 1e-6, 1e-9)[1] == "rd" and sm.allreduce_flat(8, 1e8, 1e-6, 1e-9)[1] == "ring",
      "small messages take recursive doubling, large ones the ring")
net = {"alpha": 2e-6, "beta": 1e-10, "alpha_shm": 5e-7, "beta_shm": 1e-10 / 2, "ppn": 4, "t_io0": 0.01,
       "bw_io": 1e9}
# 16 ranks over 4 nodes, 4 bytes: rd = 2 on-node rounds + 2 network rounds (NIC shared by 4)
t, algo = sm.allreduce_time(16, 4, net)
check(algo == "rd" and math.isclose(t, 2 * (5e-7 + 4 * 5e-11) + 2 * (2e-6 + 4 * 1e-10 * 4)),
      "hierarchical recursive doubling over 4 nodes: %.6g" % t)
t, algo = sm.allreduce_time(16, 4e8, net)
check(algo == "ring" and math.isclose(t, 30 * 2e-6 + 2 * 15 / 16 * 4e8 * 1e-10), "ring over 4 nodes: %.6g" % t)
model = {"n_params": 998, "points": [[1, 0.002], [8, 0.004], [64, 0.018]]}
check(math.isclose(sm.compute_time(model, 36), 0.004 + 0.014 * 28 / 56), "compute between points")
check(math.isclose(sm.compute_time(model, 128), 0.018 + 0.014 / 56 * 64), "compute past the largest batch")
run = {"batch": 64, "flush_every": 10, "thin": 2, "burnin": 100, "draws": 400, "output": True}
p = sm.step_time(model, run, net, 16, 1)
check(p["allreduce"] == 0 and p["C"] == 16 and math.isclose(p["compute"], 0.018), "one shard: no allreduce")
sync = sm.SYNC_COLLECTIVES * (2 * 5e-7 + 2 * 2e-6) / 20
io = (0.01 + 16 * 10 * (4.0 * 998 + 16) / 1e9) / 20
check(math.isclose(p["sync"], sync) and math.isclose(p["io"], io), "sync points and flushes every 20 steps")
p = sm.step_time(model, run, net, 16, 8)
check(p["rows"] == 8 and math.isclose(p["compute"], 0.004) and p["allreduce"] > 0, "8 shards: 8 rows a rank")
check(math.isclose(p["efficiency"], 0.018 / (8 * p["total"])), "efficiency t(1) / (S t(S))")
rows = sm.layouts(model, run, net, 16, 60000, 4, 2e9, 4)
check([q["S"] for q in rows] == [1, 2, 4, 8, 16], "layouts: every divisor")
check(rows[4]["excluded"] and not rows[2]["excluded"], "16 shards leave fewer than 4 chains")
best = sm.best_layout(rows)
check(best is not None and best["wall"] == min(q["wall"] for q in rows if not q["excluded"]), "best = fastest")
q = rows[0]
quiet = sm.step_time(model, dict(run, output=False), net, 16, 1)["total"]
check(math.isclose(q["wall"], 100 * quiet + math.ceil(400 * 2 / 16) * q["total"]), "wall: burn-in without writes")

print("%d checks failed" % len(failures) if failures else "all checks passed")
sys.exit(1 if failures else 0)
