"""Nested R-hat end to end: sgld-ess summary against an independent NumPy implementation, and
sgld-dist --superchains (the coordinate, the shared starting points, the chains' own noise).

The reference below is written from the paper (Margossian, Hoffman, Sountsov, Riou-Durand,
Vehtari & Gelman 2024, Definition 2.2), not from src/diag/nested_rhat.c: whole-array NumPy
means and variances instead of the C code's running (Welford) sums.

1. Many short chains, well mixed: K = 8 superchains of M = 64 chains of N = 8 draws of a
   stationary AR(1) (phi = 0.3, unit variance), three elements, fixed seed.  At stationarity
   nB is the variance of K superchain means, each of variance tau / (M N) with
   tau = (1 + phi) / (1 - phi) = 1.857, so nB / nW ~ (tau / (M N)) chi2(K-1) / (K-1); its
   99.9% point (chi2(7) / 7 = 3.47) is 0.0126, i.e. nRhat < 1.0063: below the paper's 1.01
   for every element.
2. Superchains at different locations: the same draws with superchain k of elements 0 and 2
   shifted by 0.2 (k - 3.5) (an offset of sd 0.2 sqrt(6) = 0.49 between superchains, a warmup
   that did not forget its starts): nB / nW ~ 0.24, nRhat ~ 1.11, far above 1.01; element 1
   is left alone and stays below.  Both files agree with the reference to 1e-9 (the JSON
   prints 10 significant digits), whether the superchains come from the file's coordinate
   (any labels, grouped by value) or from --superchains K (consecutive chains), and the output
   is the same bytes under 1 and 3 ranks.
3. sgld-dist --chains 8 --superchains 2 on 8 ranks: the file has superchain = 0 0 0 0 1 1 1 1
   on the chain dimension (xarray reads it as a coordinate of posterior and sample_stats).
   The starts are checked directly: with --burnin 0 --thin 1, step size 1e-12 and temperature
   1e8 the first draw is the start (drift ~1e-9) plus N(0, 1e-4) noise, and a reference
   Philox4x32-10 (checked against Random123's known answer) recomputes both from the keys of
   rng.h: every chain's first draw is, within 1e-6 (float rounding and the SIMD normals'
   1e-6 relative error, against a noise of sd 1e-2), the initial draw of its superchain's
   first chain (that chain's own INIT stream, as without --superchains) plus the chain's own
   NOISE, so the chains of a superchain share a start and differ by their own noise.

usage: check_nested_rhat.py SGLD_DIST SGLD_ESS MPIEXEC"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DIST, ESS, MPIEXEC = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="sgld-nested-rhat-")
DELTA = 0.01
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def nested_rhat_ref(x, labels):
    """Definition 2.2 for one element: x [chain, draw], labels [chain]."""
    groups = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    m, n = len(groups[0]), x.shape[1]
    chain_mean = x.mean(axis=1)
    chain_var = x.var(axis=1, ddof=1) if n > 1 else np.zeros(x.shape[0])
    sc_mean = np.array([chain_mean[g].mean() for g in groups])                 # eq. (4)
    nb = sc_mean.var(ddof=1)                                                    # eq. (6)
    bt = np.array([chain_mean[g].var(ddof=1) if m > 1 else 0.0 for g in groups])
    wt = np.array([chain_var[g].mean() for g in groups])
    nw = (bt + wt).mean()                                                       # eq. (7)
    return np.sqrt(1.0 + nb / nw)                                               # eq. (8)


def run(cmd, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# Every program start pays for MPI's start-up (about 1 s for sgld-ess, 3 s for sgld-dist's 8
# ranks on 2 cores), so the runs are started up front, two at a time, and their results
# looked up when checked.
POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2)
SUMMARIES = {}


def summary_cmd(path, *extra, ranks=0):
    return tuple(([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks else []) + [ESS, "summary", path, *extra])


def start_summaries(*cmds):
    for cmd in cmds:
        SUMMARIES[cmd] = POOL.submit(run, list(cmd))


def summary(path, *extra, ranks=0):
    cmd = summary_cmd(path, *extra, ranks=ranks)
    if cmd not in SUMMARIES:
        start_summaries(cmd)
    rc, out, err = SUMMARIES[cmd].result()
    check(rc == 0, "sgld-ess summary %s %s exit 0 (%d: %s)" % (os.path.basename(path), " ".join(extra), rc, err.strip()))
    return out


def write(path, theta, labels=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("posterior")
        g["theta"] = theta
        if labels is not None:
            g["superchain"] = np.asarray(labels, dtype=np.int64)
    return path


# ---- 3 (started first: the slowest): sgld-dist --superchains ----
# Step size 1e-12 and temperature 1e8: the drift (eps / 2) g is ~1e-9 while the noise
# N(0, eps T) has sd 1e-2, so the first draw (--burnin 0 --thin 1) is the start plus the
# chain's first noise, both computable from the documented streams (rng.h).
EPS, TEMP = 1e-12, 1e8
RUN = os.path.join(TMP, "superchains.h5")
DIST_RUN = POOL.submit(run, [MPIEXEC, "-n", "8", "--oversubscribe", DIST, "--model", "linreg", "--data",
                             "synthetic:linreg3", "--chains", "8", "--superchains", "2", "--steps", "4",
                             "--burnin", "0", "--thin", "1", "--step-size", str(EPS), "--temperature", str(TEMP),
                             "--quiet", "--output", RUN])

# ---- 1 and 2: sgld-ess against the reference ----
K, M, N, P, PHI = 8, 64, 8, 3, 0.3
C = K * M
rng = np.random.default_rng(20240613)
x = np.empty((C, N, P))
x[:, 0] = rng.normal(size=(C, P))
for t in range(1, N):
    x[:, t] = PHI * x[:, t - 1] + np.sqrt(1 - PHI ** 2) * rng.normal(size=(C, P))
consecutive = np.arange(C) // M
interleaved = np.arange(C) % K          # superchain k = chains k, k + K, ...: labels, not blocks
shifted = x.copy()
for k in range(K):
    shifted[consecutive == k, :, 0] += 0.2 * (k - 3.5)
    shifted[consecutive == k, :, 2] += 0.2 * (k - 3.5)

f_mixed = write(os.path.join(TMP, "mixed.h5"), x, consecutive)
f_apart = write(os.path.join(TMP, "apart.h5"), shifted, consecutive)
f_plain = write(os.path.join(TMP, "plain.h5"), shifted)
f_inter = write(os.path.join(TMP, "interleaved.h5"), x, interleaved)
start_summaries(summary_cmd(f_mixed, "--json"), summary_cmd(f_apart, "--json"),
                summary_cmd(f_plain, "--json", "--superchains", str(K)), summary_cmd(f_inter, "--json"),
                summary_cmd(f_inter, "--json", "--superchains", str(K)), summary_cmd(f_plain, "--json"),
                summary_cmd(f_apart), summary_cmd(f_mixed), summary_cmd(f_apart, "--csv"),
                summary_cmd(f_apart, "--json", ranks=3))


def compare(path, data, labels, what, *extra):
    js = json.loads(summary(path, "--json", *extra) or "{}")
    got = [v.get("nRhat") for v in js.get("variables", [])]
    ref = [nested_rhat_ref(data[:, :, j], labels) for j in range(P)]
    check(len(got) == P and all(g is not None and abs(g - r) <= 1e-9 * r for g, r in zip(got, ref)),
          "%s: nRhat %s = NumPy %s" % (what, got, [round(r, 10) for r in ref]))
    return js, ref


js, ref = compare(f_mixed, x, consecutive, "well mixed (coordinate)")
check(all(1.0 <= r < 1.0 + DELTA for r in ref), "well mixed: every nRhat in [1, 1.01): %s" % ref)
nr = js.get("nested_rhat", {})
check(nr.get("superchains") == K and nr.get("chains_per_superchain") == M and nr.get("source") == "file",
      "well mixed: nested_rhat object %s" % nr)
check(nr.get("threshold") == 1.01 and nr.get("delta") == DELTA and nr.get("above_threshold") == 0,
      "well mixed: threshold 1.01, none above (%s)" % nr)
check(nr.get("max") is not None and abs(nr["max"] - max(ref)) <= 1e-9 and
      nr.get("max_element") == "theta[%d]" % int(np.argmax(ref)), "well mixed: max and its element")

js, ref = compare(f_apart, shifted, consecutive, "superchains apart (coordinate)")
check(ref[0] > 1.0 + DELTA and ref[2] > 1.0 + DELTA and ref[1] < 1.0 + DELTA,
      "superchains apart: elements 0 and 2 flagged, 1 not (%s)" % ref)
nr = js.get("nested_rhat", {})
check(nr.get("above_threshold") == 2 and nr.get("max_element") == "theta[%d]" % int(np.argmax(ref)),
      "superchains apart: 2 above the threshold, max at the largest (%s)" % nr)
compare(f_plain, shifted, consecutive, "superchains apart (--superchains 8)", "--superchains", str(K))
compare(f_inter, x, interleaved, "interleaved labels (coordinate)")
compare(f_inter, x, consecutive, "--superchains overrides the coordinate", "--superchains", str(K))

out = summary(f_plain, "--json")
check(out and "nRhat" not in out and "nested_rhat" not in out, "no superchains: no nRhat in the JSON")
table = summary(f_apart)
check("nRhat" in table and "*" in table and "threshold 1 + delta = 1.01" in table and
      "NOT converged: 2 of 3 elements above the threshold" in table, "table: nRhat column, '*' and verdict")
table = summary(f_mixed)
check("every element below the threshold" in table and "*" not in table.split("nested R-hat")[0],
      "table: well mixed, no '*'")
csv = summary(f_apart, "--csv").splitlines()
check(csv and csv[0].endswith(",rhat,nRhat") and "superchains,%d" % K in csv and "nrhat_above_threshold,2" in csv,
      "csv: nRhat column and nrhat_* rows")
one = summary(f_apart, "--json")
three = summary(f_apart, "--json", ranks=3)
check(one == three and one, "the same JSON under 1 and 3 ranks")

# ---- 3: the run's file ----
MASK = 0xFFFFFFFF


def philox4x32(ctr, key):
    """Philox4x32-10 (Salmon et al. 2011), as Random123 computes it."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def normals(seed, chain, step, purpose, n):
    """Elements 0..n-1 of a normal stream (rng.h): Box-Muller on block i // 2 of the counter
    (block, purpose, step), 53-bit uniforms in (0, 1), cos for even i, sin for odd."""
    out = []
    for i in range(n):
        w = philox4x32((i // 2, purpose, step & MASK, step >> 32), (seed, chain))
        u1, u2 = [((((hi << 32) | lo) >> 11) + 0.5) * 2.0 ** -53 for hi, lo in ((w[0], w[1]), (w[2], w[3]))]
        rad, ang = np.sqrt(-2.0 * np.log(u1)), 2.0 * np.pi * u2
        out.append(rad * (np.cos(ang) if i % 2 == 0 else np.sin(ang)))
    return np.array(out)


check(philox4x32((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8),
      "the reference Philox4x32-10 gives Random123's known answer")
rc, out, err = DIST_RUN.result()
check(rc == 0, "sgld-dist --chains 8 --superchains 2 exit 0 (%d: %s)" % (rc, err.strip()[-300:]))
if rc == 0:
    with h5py.File(RUN, "r") as f:
        first = np.concatenate([np.asarray(f["posterior/w"])[:, 0], np.asarray(f["posterior/b"])[:, 0, None]], axis=1)
        post = np.asarray(f["posterior/superchain"]) if "superchain" in f["posterior"] else None
        stats = np.asarray(f["sample_stats/superchain"]) if "superchain" in f["sample_stats"] else None
    want = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    check(post is not None and stats is not None and np.array_equal(post, want) and np.array_equal(stats, want),
          "coordinate superchain = %s in posterior and sample_stats" % post)
    try:
        import xarray
        with xarray.open_dataset(RUN, group="posterior") as ds:
            check("superchain" in ds.coords and ds["superchain"].dims == ("chain",) and
                  list(ds["superchain"].values) == list(want) and "superchain" not in ds.data_vars and
                  "w" in ds.data_vars, "xarray: superchain is a coordinate on chain of group posterior")
        with xarray.open_dataset(RUN, group="sample_stats") as ds:
            check("superchain" in ds.coords and "lp" in ds.data_vars, "xarray: sample_stats opens with it too")
    except ImportError:
        check(False, "xarray is installed")
    # Chain c starts at 0.1 z (float) of the INIT stream (purpose 3, step 0) of its
    # superchain's first chain 4 (c // 4), and moves by sd z of its own NOISE stream (purpose
    # 1, step 1); the SIMD noise agrees with the double one to ~1e-6 relative (rng.h).
    sd = np.float32(np.sqrt(EPS * TEMP))
    start = {f: (normals(1, f, 0, 3, 4).astype(np.float32) * np.float32(0.1)).astype(np.float64) for f in (0, 4)}
    for c in range(8):
        own = normals(1, c, 1, 1, 4) * sd
        err_c = np.abs(first[c] - (start[4 * (c // 4)] + own)).max()
        check(err_c < 1e-6, "chain %d: first draw = start of chain %d + its own noise (off by %.1g)" % (c, 4 * (c // 4), err_c))
    check(all(np.abs(first[c] - first[4 * (c // 4)]).max() > 1e-3 for c in (1, 2, 3, 5, 6, 7)),
          "the chains of a superchain differ by their own noise")
    js = json.loads(summary(RUN, "--json") or "{}")
    nr = js.get("nested_rhat", {})
    check(nr.get("superchains") == 2 and nr.get("chains_per_superchain") == 4 and nr.get("source") == "file",
          "sgld-ess summary reads the run's superchains (%s)" % nr)

shutil.rmtree(TMP, ignore_errors=True)
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
