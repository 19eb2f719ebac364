"""scaling_model.py - the alpha-beta model of one sgld-dist step on many ranks (tools/bench/scaling).

What a step costs on one rank of a chain of S shards (src/run/run.c and src/grid/grid.c):
  - compute: the rank's part of the minibatch, ceil(B / S) rows, through the model's gradient
    (sgld_run_gradient), plus the parts every shard repeats in full: zeroing and scaling the
    fused gradient buffer, the prior, the sampler's update and its normals (every rank of a
    chain applies the same update with the same Philox noise, so nothing is split there):
        t_compute(S) = t(ceil(B / S) rows)
    t(rows) is measured on one rank at a few batch sizes and interpolated linearly between
    them (compute_time); t(1 row) is the part that sharding cannot remove.
  - one in-place MPI_Allreduce (sum) of n_params + 2 floats over the chain's S shards
    (chain_allreduce; the 2 extra floats carry the log-likelihood and the stop flag), skipped
    when S = 1.  An MPI picks its algorithm by size; the model takes the cheaper of
        ring:                2 (p - 1) alpha + 2 (p - 1) / p n beta
        recursive doubling:  log2(p) (alpha + n beta)
    for p = S ranks and n bytes; the per-byte cost of the additions is folded into beta.
  - every flush_every * thin steps a sync point over all R ranks (sync_point in run.c): the
    status agreement, an MPI_MAX of three int64, an MPI_MAX of the buffered draws, the
    convergence monitor's gather and broadcast (about 6 latency-bound collectives, log2(R)
    alpha each), and, with --output, one collective parallel-HDF5 append of every chain's
    draws (shard 0 of each chain writes, the others take part with none):
        t_flush = t_io0 + bytes / bw_io,  bytes = C * flush_every * (n_params * 4 + 16)
Ranks fill nodes in order (rank r is shard r mod S of chain r / S), so a chain of
S <= ranks_per_node shards stays inside one node and reduces through shared memory
(alpha_shm, beta_shm); a larger one crosses the network (alpha, beta), the ring at one
inter-node link per node boundary, recursive doubling with every rank of a node on the NIC at
once in its off-node rounds (ranks_per_node times the bytes).
"""
import math

import numpy as np

# Small collectives of one sync point (run.c sync_point + agree, monitor.c check): see above.
SYNC_COLLECTIVES = 6


def ring_time(p, n_bytes, alpha, beta):
    """Flat ring allreduce of n_bytes over p ranks (0 for p = 1)."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2.0 * (p - 1) / p * n_bytes * beta


def rd_time(p, n_bytes, alpha, beta):
    """Flat recursive-doubling allreduce of n_bytes over p ranks (0 for p = 1)."""
    if p <= 1:
        return 0.0
    return math.ceil(math.log2(p)) * (alpha + n_bytes * beta)


def allreduce_flat(p, n_bytes, alpha, beta):
    """The cheaper of ring and recursive doubling, and its name."""
    r, d = ring_time(p, n_bytes, alpha, beta), rd_time(p, n_bytes, alpha, beta)
    return (r, "ring") if r <= d else (d, "rd")


def allreduce_time(p, n_bytes, net):
    """Allreduce of n_bytes over a chain of p consecutive ranks on nodes of net['ppn'] ranks:
    shared memory inside a node, the network across (module docstring).  Returns (s, name)."""
    ppn = net["ppn"]
    if p <= 1:
        return 0.0, "-"
    if p <= ppn:
        return allreduce_flat(p, n_bytes, net["alpha_shm"], net["beta_shm"])
    ring = 2 * (p - 1) * net["alpha"] + 2.0 * (p - 1) / p * n_bytes * net["beta"]
    rounds = math.ceil(math.log2(p))
    local = min(rounds, int(math.log2(ppn))) if ppn > 1 else 0
    rd = local * (net["alpha_shm"] + n_bytes * net["beta_shm"]) + \
        (rounds - local) * (net["alpha"] + n_bytes * net["beta"] * min(ppn, p))
    return (ring, "ring") if ring <= rd else (rd, "rd")


def small_collective(R, net):
    """One latency-bound collective over R ranks (a few bytes): log2 hops, on-node ones in
    shared memory."""
    if R <= 1:
        return 0.0
    hops = math.ceil(math.log2(R))
    local = min(hops, int(math.log2(net["ppn"]))) if net["ppn"] > 1 else 0
    return local * net["alpha_shm"] + (hops - local) * net["alpha"]


def compute_time(model, rows):
    """Seconds of one step's compute on a rank that computes `rows` batch rows: linear between
    the measured (rows, seconds) points of model['points'], beyond them along the end slopes,
    times model.get('scale', 1)."""
    pts = sorted(model["points"])
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if len(xs) == 1:
        return ys[0] * model.get("scale", 1.0)
    if rows <= xs[0]:
        i = 0
    elif rows >= xs[-1]:
        i = len(xs) - 2
    else:
        i = max(k for k in range(len(xs) - 1) if xs[k] <= rows)
    t = ys[i] + (ys[i + 1] - ys[i]) * (rows - xs[i]) / (xs[i + 1] - xs[i])
    return max(t, 0.0) * model.get("scale", 1.0)


def step_time(model, run, net, R, S):
    """Predicted seconds per step of every chain for R ranks as R / S chains of S shards, and
    its parts: dict with compute, allreduce, algo, sync, io, total, efficiency.  model: n_params,
    points (compute_time); run: batch, flush_every, thin, output (bool); net: alpha, beta,
    alpha_shm, beta_shm, ppn, t_io0, bw_io."""
    C = R // S
    rows = math.ceil(run["batch"] / S)
    compute = compute_time(model, rows)
    ar, algo = allreduce_time(S, 4.0 * (model["n_params"] + 2), net)
    every = run["flush_every"] * run["thin"]
    sync = SYNC_COLLECTIVES * small_collective(R, net) / every
    io = 0.0
    if run["output"]:
        flush_bytes = C * run["flush_every"] * (4.0 * model["n_params"] + 16)
        io = (net["t_io0"] + flush_bytes / net["bw_io"]) / every
    total = compute + ar + sync + io
    one = compute_time(model, run["batch"])  # one rank, one chain, nothing else
    return {"C": C, "S": S, "rows": rows, "compute": compute, "allreduce": ar, "algo": algo, "sync": sync,
            "io": io, "total": total, "efficiency": one / (S * total)}


def layouts(model, run, net, R, data_rows, row_bytes, mem_per_rank, min_chains):
    """Every chains x shards layout of R ranks (S a divisor of R) with its predicted step (of
    the sampling phase, writes included), the wall time to run['draws'] kept draws over all
    chains (each chain runs the burn-in, whose steps write nothing, then ceil(draws * thin / C)
    steps) and why a layout is ruled out ('' if it is not; fewer chains than min_chains is
    allowed only when R itself is smaller)."""
    out = []
    quiet = dict(run, output=False)  # burn-in keeps no draws: its sync points write nothing
    for S in [s for s in range(1, R + 1) if R % s == 0]:
        p = step_time(model, run, net, R, S)
        post = math.ceil(run["draws"] * run["thin"] / p["C"])
        p["wall"] = run["burnin"] * step_time(model, quiet, net, R, S)["total"] + post * p["total"]
        p["steps"] = run["burnin"] + post
        why = ""
        if p["C"] < min(min_chains, R):
            why = "fewer than %d chains" % min_chains
        elif S > run["batch"]:
            why = "batch %d < %d shards" % (run["batch"], S)
        elif data_rows / S * row_bytes > mem_per_rank:
            why = "shard data %.1f GB > memory" % (data_rows / S * row_bytes / 1e9)
        p["excluded"] = why
        out.append(p)
    return out


def best_layout(rows):
    """The allowed layout with the shortest wall time to the draws (None when none is allowed)."""
    ok = [p for p in rows if not p["excluded"]]
    return min(ok, key=lambda p: p["wall"]) if ok else None


def fit_alpha_beta(points):
    """Least-squares fit of one (alpha, beta) to measured allreduce times: points are
    (p, n_bytes, seconds); the model is the flat min(ring, recursive doubling), the residual
    the log ratio (every size weighs the same).  Returns (alpha s, beta s/byte)."""
    from scipy.optimize import least_squares
    pts = [(p, n, t) for p, n, t in points if p > 1 and t > 0]
    if len(pts) < 2:
        raise ValueError("need at least two allreduce timings at more than one rank")

    def resid(x):
        a, b = math.exp(x[0]), math.exp(x[1])
        return [math.log(allreduce_flat(p, n, a, b)[0] / t) for p, n, t in pts]

    # a start from the smallest and largest messages, then the nonlinear fit
    small = min(pts, key=lambda q: q[1])
    large = max(pts, key=lambda q: q[1])
    a0 = max(small[2] / (2 * (small[0] - 1)), 1e-8)
    b0 = max(large[2] / (2 * large[1]), 1e-13)
    sol = least_squares(resid, [math.log(a0), math.log(b0)], method="lm")
    return math.exp(sol.x[0]), math.exp(sol.x[1])


def fit_line(xs, ys):
    """Least squares y = a + b x; returns (a, b)."""
    A = np.vstack([np.ones(len(xs)), np.asarray(xs, float)]).T
    a, b = np.linalg.lstsq(A, np.asarray(ys, float), rcond=None)[0]
    return float(a), float(b)
