"""Writes the ess-bench sample file: /posterior/w shaped [chains, draws, params] (float32),
AR(1) chains with phi spread over [0, 0.95] across parameters plus a shared AR(1) factor, so
that elements are cross-correlated (mESS differs from the diagonal approximation).
Generated in slabs of draws, so memory stays bounded.
usage: ess_bench_data.py OUT.h5 CHAINS DRAWS PARAMS SEED"""
import sys

import h5py
import numpy as np

out, m, n, p, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(seed)
phi = np.linspace(0.0, 0.95, p).astype(np.float64)
load = rng.normal(size=p) * 0.5
with h5py.File(out, "w") as f:
    g = f.create_group("posterior")
    d = g.create_dataset("w", shape=(m, n, p), dtype="f4", chunks=(1, min(n, 1000), min(p, 256)))
    for c in range(m):
        x = rng.normal(size=p) / np.sqrt(1 - phi ** 2)
        fac = 0.0
        slab = 1000
        for t0 in range(0, n, slab):
            t1 = min(n, t0 + slab)
            blk = np.empty((t1 - t0, p), dtype=np.float32)
            e = rng.normal(size=(t1 - t0, p))
            fe = rng.normal(size=t1 - t0)
            for t in range(t1 - t0):
                x = phi * x + e[t]
                fac = 0.9 * fac + fe[t]
                blk[t] = x + load * fac
            d[c, t0:t1, :] = blk
