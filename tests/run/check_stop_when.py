#!/usr/bin/python3
"""--stop-when and the convergence monitor (src/run/monitor.c), end to end.

  1. easy target (synthetic:linreg, 2 chains): the run stops complete (exit 0) before --steps at
     a flush point, says why, keeps exactly the draws up to the stop step, and the file's
     monitor_ess_min / monitor_rhat_max equal numpy's batch-means ESS and split R-hat of the
     file's draws (the same batch geometry, recomputed here) to 1e-6 relative;
  2. impossible threshold: the run goes to --steps, exit 0, no stop line;
  3. layouts: 1 chain on 1, 2 and 4 shards and 2 chains on 1 and 2 shards stop at the same step
     with the same draws (to float summation order across shard counts);
  4. resume: a shorter complete run resumed with the full --steps, and a run stopped by SIGUSR1
     and resumed, stop at the uninterrupted run's step with its draws bitwise; resuming the
     stopped run once more stops at once at the same step and changes no draw;
  5. the file's group `monitor` (one row per flush point): the rows' draws and steps, a middle
     and the last row's ESS, R-hat and mESS equal numpy's for the file's first draws (mESS:
     the model has 2 elements, so the monitor's 2 random projections are an invertible map of
     them and the determinant ratio is the elements' own); resumed runs hold the same rows
     bitwise;
  6. mess>=E: the run stops at the same step on 1 and 2 shards per chain; with --superchains 2
     the rows' rhat_max is numpy's nested R-hat (Margossian et al. 2024, eqs. 6-8).

usage: check_stop_when.py BUILD_DIR"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

BUILD = os.path.abspath(sys.argv[1])
DIST = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
TIMEOUT = 300
STEPS, BURNIN = 20000, 1000
RULE = "ess>=1000,rhat<=1.01"
BASE = ["--model", "linreg", "--data", "synthetic:linreg", "--burnin", str(BURNIN), "--step-size", "1e-4",
        "--flush-every", "50", "--seed", "7"]
TMP = tempfile.mkdtemp(prefix="stop-when-")
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok    " if ok else "FAIL  ") + name)
    if not ok:
        failures += 1
        if detail:
            print("      " + str(detail)[-1500:])


def cmd(ranks, args):
    return [MPIEXEC, "-n", str(ranks), "--oversubscribe", DIST] + args


def run(ranks, args):
    p = subprocess.run(cmd(ranks, args), capture_output=True, text=True, env=ENV, cwd=TMP, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def stop_step(out):
    m = re.search(r"stopped at step (\d+) of", out)
    return int(m.group(1)) if m else None


def draws(path):
    with h5py.File(path, "r") as f:
        # [chain, draw, ...]: not the coordinates (`feature` is a 2-D char coordinate of names)
        return {k: d[()] for k, d in f["posterior"].items() if d.ndim >= 2 and d.attrs.get("CLASS") != b"DIMENSION_SCALE"}


def attrs(path):
    with h5py.File(path, "r") as f:
        return {k: f.attrs[k] for k in f.attrs if k.startswith("monitor") or k == "stopped_when"}


def geometry(N):
    """monitor.c's batches for N draws per chain: stored batches of b draws (the smallest power
    of two leaving fewer than 256), grouped g ~ n^(2/3) / b at a time; a grouped batches, the
    used draws and the half-chains' length."""
    b = 1
    while N // b >= 256:
        b *= 2
    nb = N // b
    g = max(1, int(np.floor((nb * b) ** (2.0 / 3.0) / b)))
    a = nb // g
    return b, g, a, a * g * b, (a * g // 2) * b


def mess_reference(x):
    """mESS of all elements of x [chain, draw, element] with the pooled replicated batch means
    (Vats, Flegal & Jones 2019): C n (det Lambda / det Sigma)^(1/p)."""
    C, N, K = x.shape
    b, g, a, used, _ = geometry(N)
    y = x[:, :used, :].astype(np.float64)
    d = (y - y.mean(axis=(0, 1))).reshape(-1, K)
    lam = d.T @ d / (C * used - 1)
    bm = (y.reshape(C, a, g * b, K).mean(axis=2) - y.mean(axis=(0, 1))).reshape(-1, K)
    sig = g * b * bm.T @ bm / (C * a - 1)
    return C * used * (np.linalg.det(lam) / np.linalg.det(sig)) ** (1.0 / K)


def nested_reference(x, K):
    """max over elements of nested R-hat with K superchains of consecutive chains, from the
    monitor's used draws: sqrt(1 + nB / nW), nB the variance of the superchain means, nW the
    mean over superchains of the variance of their chain means plus their mean within-chain
    variance (Margossian et al. 2024, eqs. 6-8)."""
    C, N, E = x.shape
    _, _, _, used, _ = geometry(N)
    y = x[:, :used, :].astype(np.float64).reshape(K, C // K, used, E)
    cm = y.mean(axis=2)
    nb = cm.mean(axis=1).var(axis=0, ddof=1)
    nw = (cm.var(axis=1, ddof=1) + y.var(axis=2, ddof=1).mean(axis=1)).mean(axis=0)
    return np.sqrt(1 + nb / nw).max()


def monitor_reference(x):
    """min pooled batch-means ESS and max split R-hat over elements; x [chain, draw, element],
    with monitor.c's geometry."""
    C, N, K = x.shape
    b, g, a, used, half = geometry(N)
    ess, rhat = [], []
    for j in range(K):
        y = x[:, :used, j].astype(np.float64)
        G = y.mean()
        lam = ((y - G) ** 2).sum() / (C * used - 1)
        bm = y.reshape(C, a, g * b).mean(axis=2)
        sig = g * b * ((bm - G) ** 2).sum() / (C * a - 1)
        h = np.concatenate([y[:, :half], y[:, used - half:]])
        w = h.var(axis=1, ddof=1).mean()
        bh = h.mean(axis=1).var(ddof=1)
        if lam > 0 and w > 0:
            ess.append(C * used * lam / sig)
            rhat.append(np.sqrt(((half - 1) / half * w + bh) / w))
    return min(ess), max(rhat)


def table(path):
    with h5py.File(path, "r") as f:
        return {k: f["monitor"][k][()] for k in f["monitor"]}


def flat(d):
    return np.concatenate([v.reshape(v.shape[0], v.shape[1], -1) for _, v in sorted(d.items())], axis=2)


# 1. easy target
rc, out, err = run(2, BASE + ["--chains", "2", "--steps", str(STEPS), "--stop-when", RULE, "--output", "a.h5"])
T = stop_step(out)
check("easy target: exit 0 and a stop line", rc == 0 and T is not None, out + err)
T = T or STEPS
check("easy target: stops before --steps at a flush point", T < STEPS and (T - BURNIN) % 50 == 0, T)
m = re.search(r"min ESS (\d+) >= 1000, max R-hat ([0-9.]+) <= 1.01", out)
check("easy target: the line names both bounds", m is not None, out)
d_a = draws(os.path.join(TMP, "a.h5"))
n_draws = next(iter(d_a.values())).shape[1]
check("easy target: the file holds the draws up to the stop step", n_draws == T - BURNIN, (n_draws, T))
at = attrs(os.path.join(TMP, "a.h5"))
ess_ref, rhat_ref = monitor_reference(flat(d_a))
check("easy target: monitor_ess_min is numpy's batch-means ESS of the file's draws",
      abs(at["monitor_ess_min"] / ess_ref - 1) < 1e-6, (at, ess_ref))
check("easy target: monitor_rhat_max is numpy's split R-hat of the file's draws",
      abs(at["monitor_rhat_max"] / rhat_ref - 1) < 1e-6, (at, rhat_ref))
check("easy target: the figures meet the rule and stopped_when names it",
      at["monitor_ess_min"] >= 1000 and at["monitor_rhat_max"] <= 1.01 and str(at.get("stopped_when"), "utf-8") == RULE
      and at["monitor_step"] == T, at)

# 2. impossible threshold
rc, out, err = run(2, BASE + ["--chains", "2", "--steps", "3000", "--stop-when", "ess>=1e9", "--output", "h.h5"])
check("impossible threshold: runs to --steps, exit 0, no stop line",
      rc == 0 and stop_step(out) is None and "posterior summary (4000 draws" in out, out + err)
check("impossible threshold: monitor_step is --steps, no stopped_when",
      attrs(os.path.join(TMP, "h.h5")).get("monitor_step") == 3000
      and "stopped_when" not in attrs(os.path.join(TMP, "h.h5")))

# 3. layouts: the decision depends only on the draws
for chains, layouts in ((1, (1, 2, 4)), (2, (1, 2))):
    steps, d0 = {}, None
    for shards in layouts:
        f = "l%d_%d.h5" % (chains, shards)
        rc, out, err = run(chains * shards, BASE + ["--chains", str(chains), "--steps", str(STEPS),
                                                    "--stop-when", RULE, "--output", f])
        steps[shards] = stop_step(out)
        d = flat(draws(os.path.join(TMP, f)))
        if d0 is None:
            d0 = d
        same = d.shape == d0.shape and np.allclose(d, d0, rtol=1e-4, atol=1e-5)
        check("%d chain(s) x %d shard(s): exit 0, draws as on 1 shard" % (chains, shards), rc == 0 and same,
              err if rc else (d.shape, d0.shape))
    check("%d chain(s): the same stop step on %s shards" % (chains, layouts),
          len(set(steps.values())) == 1 and None not in steps.values(), steps)
    if chains == 2:
        check("2 chains: the stop step of the 2 x 1 run in part 1", steps[1] == T, (steps, T))

# 4. resume
ck = ["--checkpoint", "r.ck", "--checkpoint-every", "500"]
rc, out, err = run(2, BASE + ["--chains", "2", "--steps", "3000", "--stop-when", RULE, "--output", "r.h5"] + ck)
check("resume: the short run (3000 steps) completes without a stop", rc == 0 and stop_step(out) is None
      and T > 3000, out + err)
full = BASE + ["--chains", "2", "--steps", str(STEPS), "--stop-when", RULE, "--output", "r.h5"] + ck
rc, out, err = run(2, full + ["--resume"])
d_r = draws(os.path.join(TMP, "r.h5"))
check("resume: resumed with --steps %d it stops at the same step" % STEPS, rc == 0 and stop_step(out) == T,
      out + err)
check("resume: with the same draws, bitwise", d_r.keys() == d_a.keys()
      and all(np.array_equal(d_r[k], d_a[k]) for k in d_a))
rc, out, err = run(2, full + ["--resume"])
check("resume: resuming the stopped run stops at once at the same step, draws unchanged",
      rc == 0 and stop_step(out) == T and all(np.array_equal(draws(os.path.join(TMP, "r.h5"))[k], d_a[k])
                                              for k in d_a), out + err)

# 4b. a run stopped by SIGUSR1, by progress (the checkpoint header's step), then resumed
for f in ("s.h5", "s.ck"):
    if os.path.exists(os.path.join(TMP, f)):
        os.remove(os.path.join(TMP, f))
sig = BASE + ["--chains", "2", "--steps", str(STEPS), "--stop-when", RULE, "--output", "s.h5",
              "--checkpoint", "s.ck", "--checkpoint-every", "50"]
p = subprocess.Popen(cmd(2, sig), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=TMP)
deadline, signalled = time.time() + TIMEOUT, False
while time.time() < deadline and p.poll() is None:
    try:
        with open(os.path.join(TMP, "s.ck"), "rb") as fh:
            head = fh.read(32)
        if len(head) == 32 and struct.unpack("<q", head[24:32])[0] >= BURNIN + 500:
            p.send_signal(signal.SIGUSR1)  # mpiexec forwards it to every rank
            signalled = True
            break
    except OSError:
        pass
    time.sleep(0.001)
out, err = p.communicate(timeout=TIMEOUT)
rc = p.returncode
if rc == 3:
    print("      interrupted: " + [l for l in err.splitlines() if "stopped by" in l][0])
    rc, out, err = run(2, sig + ["--resume"])
    check("SIGUSR1, then --resume: stops at the uninterrupted run's step", rc == 0 and stop_step(out) == T,
          out + err)
else:  # the run reached its stop before the signal: it must still be the same stop
    check("SIGUSR1 arrived after the stop (%s): the same step" % ("sent" if signalled else "not sent"),
          rc == 0 and stop_step(out) == T, "status %d: %s" % (rc, out + err))
d_s = draws(os.path.join(TMP, "s.h5"))
check("SIGUSR1, then --resume: the draws bitwise", all(np.array_equal(d_s[k], d_a[k]) for k in d_a))

# 5. the monitor's rows
tab = table(os.path.join(TMP, "a.h5"))
x_a = flat(d_a)
rows = len(tab["draws"])
check("rows: one per flush point, draws and steps", rows == n_draws // 50
      and np.array_equal(tab["draws"], 50 * np.arange(1, rows + 1))
      and np.array_equal(tab["step"], BURNIN + tab["draws"]), tab)
for i in (rows // 2, rows - 1):
    n = int(tab["draws"][i])
    e_ref, r_ref = monitor_reference(x_a[:, :n])
    m_ref = mess_reference(x_a[:, :n])
    check("row %d (%d draws): ess_min, rhat_max and mess are numpy's" % (i, n),
          abs(tab["ess_min"][i] / e_ref - 1) < 1e-6 and abs(tab["rhat_max"][i] / r_ref - 1) < 1e-6
          and abs(tab["mess"][i] / m_ref - 1) < 1e-6, (tab["ess_min"][i], e_ref, tab["rhat_max"][i], r_ref,
                                                      tab["mess"][i], m_ref))
check("rows: the last row is the file's monitor_* attributes", tab["ess_min"][-1] == at["monitor_ess_min"]
      and tab["rhat_max"][-1] == at["monitor_rhat_max"] and tab["step"][-1] == T)
for f in ("r.h5", "s.h5"):
    t2 = table(os.path.join(TMP, f))
    check("rows: the resumed %s holds the uninterrupted run's rows bitwise" % f,
          t2.keys() == tab.keys() and all(np.array_equal(t2[k], tab[k], equal_nan=True) for k in tab),
          {k: (len(t2[k]), len(tab[k])) for k in t2})

# 6. mess>=E at two layouts; nested R-hat with superchains
MESS = "mess>=1500"
mess_steps = {}
for shards in (1, 2):
    f = "m%d.h5" % shards
    rc, out, err = run(2 * shards, BASE + ["--chains", "2", "--steps", str(STEPS), "--stop-when", MESS, "--output", f])
    mess_steps[shards] = stop_step(out)
    ok = rc == 0 and re.search(r"mESS (\d+) >= 1500", out) is not None
    if ok:
        t_m = table(os.path.join(TMP, f))
        ok = t_m["mess"][-1] >= 1500 and not (t_m["mess"][:-1] >= 1500).any()
    check("mess>=1500 on 2 chains x %d shard(s): stops at the first row that meets it" % shards, ok, out + err)
check("mess>=1500: the same stop step on 1 and 2 shards, before --steps",
      len(set(mess_steps.values())) == 1 and None not in mess_steps.values() and mess_steps[1] < STEPS, mess_steps)
rc, out, err = run(4, BASE + ["--chains", "4", "--superchains", "2", "--steps", "6000", "--output", "n.h5"])
t_n = table(os.path.join(TMP, "n.h5"))
x_n = flat(draws(os.path.join(TMP, "n.h5")))
n = int(t_n["draws"][-1])
nr = nested_reference(x_n[:, :n], 2)
with h5py.File(os.path.join(TMP, "n.h5"), "r") as fh:
    kind = str(fh["monitor"].attrs["rhat_kind"], "utf-8") if isinstance(fh["monitor"].attrs["rhat_kind"], bytes) \
        else str(fh["monitor"].attrs["rhat_kind"])
check("--superchains 2: rhat_max is numpy's nested R-hat and the group says so",
      rc == 0 and abs(t_n["rhat_max"][-1] / nr - 1) < 1e-6 and kind.startswith("nested"), (t_n["rhat_max"][-1], nr, kind))

# bad input: --resume without --output cannot rebuild the monitor
rc, out, err = run(1, BASE + ["--steps", "3000", "--stop-when", RULE, "--checkpoint", "r.ck", "--resume"])
check("--stop-when with --resume and no --output: exit 2, one line", rc == 2 and "--stop-when" in err
      and len(err.strip().splitlines()) == 1, err)

shutil.rmtree(TMP, ignore_errors=True)
print("%s: %d failed" % ("FAIL" if failures else "OK", failures))
sys.exit(1 if failures else 0)
