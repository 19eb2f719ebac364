"""The data and the arithmetic of tools/bench/large-n (the shell script runs the programs).

  large_n.py gen OUT.h5 RAW_PREFIX N SEED
      the logistic-regression set: X [N, 20] standard normal (float32), true coefficients
      BETA below, intercept ALPHA, y ~ Bernoulli(sigmoid(X BETA + ALPHA)) computed from the
      stored float32 X; written as /X [N, 20] and /y [N] (int8) to OUT.h5 (what sgld-dist's
      --data reads) and as RAW_PREFIX.X.f32 (column-major float32) and RAW_PREFIX.y.u8 for R.
      Rows are drawn in blocks of 10^5 from numpy's PCG64 keyed by SEED: the same (N, SEED)
      gives the same bytes on any machine.
  large_n.py stan-h5 DRAWS.csv OUT.h5
      rstan's draws (columns chain, draw, alpha, beta.1 .. beta.20) to the layout of
      sgld-dist's sample file, /posterior/w [chain, draw, 20] and /posterior/b [chain, draw]
      (float64), so that sgld-ess summary and `check` read both alike (b = alpha, w[j] =
      beta[j + 1]).
  large_n.py check REF.h5 RUN.h5
      pools each file's draws over chains and draws and compares RUN with REF per parameter:
      |mean_run - mean_ref| / sd_ref <= 0.1 and |sd_run / sd_ref - 1| <= 0.1 for every one.
      Prints one line, `mean_err_sd=<max> (<param>) sd_err=<max> (<param>) draws=<n>` and
      exits 0 when both hold, 1 when not, 2 on unreadable input.
  large_n.py ess SUMMARY.json
      from `sgld-ess summary --json`: the smallest bulk ESS over the elements, the multivariate
      ESS and the largest R-hat, printed as `<min ess_bulk> <mESS> <max rhat>`."""
import json
import sys

import h5py
import numpy as np

D = 20
# The true coefficients: alternating signs, magnitudes 0.1 .. 0.5 (|BETA| = 1.48, so the logit
# X BETA + ALPHA has sd 1.48 and the classes overlap: the posterior is well inside the data).
BETA = np.array([(-1) ** j * 0.1 * (1 + j % 5) for j in range(D)])
ALPHA = -0.5
MEAN_TOL = 0.1
SD_TOL = 0.1
BLOCK = 100_000


def gen(out, raw, n, seed):
    rng = np.random.default_rng(seed)
    with h5py.File(out, "w") as f, open(raw + ".y.u8", "wb") as fy:
        dx = f.create_dataset("X", shape=(n, D), dtype="f4", chunks=(min(n, 65536), D))
        dy = f.create_dataset("y", shape=(n,), dtype="i1", chunks=(min(n, 1 << 20),))
        cols = np.empty((D, n), dtype=np.float32)
        for r0 in range(0, n, BLOCK):
            r1 = min(n, r0 + BLOCK)
            x = rng.standard_normal((r1 - r0, D), dtype=np.float32)
            z = x.astype(np.float64) @ BETA + ALPHA
            y = (rng.random(r1 - r0) < 1.0 / (1.0 + np.exp(-z))).astype(np.int8)
            dx[r0:r1] = x
            dy[r0:r1] = y
            cols[:, r0:r1] = x.T
            fy.write(y.astype(np.uint8).tobytes())
        f.attrs["true_beta"] = BETA
        f.attrs["true_alpha"] = ALPHA
        f.attrs["seed"] = seed
    cols.tofile(raw + ".X.f32")


def stan_h5(csv, out):
    a = np.genfromtxt(csv, delimiter=",", names=True)
    chains = np.unique(a["chain"]).astype(int)
    per = [a[a["chain"] == c] for c in chains]
    n = min(len(p) for p in per)
    w = np.stack([np.stack([p["beta%d" % (j + 1)][:n] for j in range(D)], axis=1) for p in per])
    b = np.stack([p["alpha"][:n] for p in per])
    with h5py.File(out, "w") as f:
        g = f.create_group("posterior")
        g.create_dataset("w", data=w)
        g.create_dataset("b", data=b)


def pooled(path):
    """Returns (names, draws [n, 21]) of a file's /posterior w and b, chains and draws pooled."""
    with h5py.File(path, "r") as f:
        w = np.asarray(f["posterior/w"], dtype=np.float64)
        b = np.asarray(f["posterior/b"], dtype=np.float64)
    if w.ndim != 3 or w.shape[2] != D or b.shape != w.shape[:2]:
        raise ValueError("%s: posterior/w has shape %s, expected [chain, draw, %d]" % (path, w.shape, D))
    x = np.concatenate([w.reshape(-1, D), b.reshape(-1, 1)], axis=1)
    return ["w[%d]" % j for j in range(D)] + ["b"], x


def check(ref, run):
    names, r = pooled(ref)
    _, x = pooled(run)
    sd_ref = r.std(axis=0, ddof=1)
    mean_err = np.abs(x.mean(axis=0) - r.mean(axis=0)) / sd_ref
    sd_err = np.abs(x.std(axis=0, ddof=1) / sd_ref - 1.0)
    i, k = int(np.argmax(mean_err)), int(np.argmax(sd_err))
    print("mean_err_sd=%.3f (%s) sd_err=%.3f (%s) draws=%d"
          % (mean_err[i], names[i], sd_err[k], names[k], x.shape[0]))
    return 0 if mean_err.max() <= MEAN_TOL and sd_err.max() <= SD_TOL else 1


def ess(path):
    with open(path) as f:
        s = json.load(f)
    v = s["variables"]
    print("%.0f %.0f %.4f" % (min(e["ess_bulk"] for e in v), s["multivariate"]["mess"],
                              max(e["rhat"] for e in v)))


def main(argv):
    try:
        if argv[:1] == ["gen"] and len(argv) == 5:
            gen(argv[1], argv[2], int(argv[3]), int(argv[4]))
        elif argv[:1] == ["stan-h5"] and len(argv) == 3:
            stan_h5(argv[1], argv[2])
        elif argv[:1] == ["check"] and len(argv) == 3:
            return check(argv[1], argv[2])
        elif argv[:1] == ["ess"] and len(argv) == 2:
            ess(argv[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, KeyError, ValueError) as e:
        print("large_n.py %s: %s" % (argv[0], e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
