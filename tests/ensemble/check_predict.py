"""sgld-ess predict end to end on small sgld-dist runs, against numpy.

1. softmax on synthetic:softmax (2 chains on 2 ranks, 1500 steps, 100 draws each): predict on a
   test file and an OOD file written here; every ensemble, per-chain and last-draw number of
   --json equals numpy's recomputation from the file's draws (the metrics' definitions in
   include/sgld/ensemble.h) to 1e-6 (float32 parameters and inputs, double sums); the same JSON
   at 1 and 2 ranks (1e-9); --draws slices; --per-example and --hist files.
2. linreg on synthetic:linreg3 with --standardize: the stored standardization is applied; RMSE,
   mixture log-likelihood and 50/90/95% coverage equal numpy's (noise_sd 0.5).
3. mlp fc8-fc2 (heteroscedastic) on synthetic:linreg3: the mixture uses each draw's own
   variance exp(v(x)) (numpy forward pass of the tensors in the file).
4. mlp --task classification (fc20-fc3) on synthetic:softmax: the file records the task,
   predict rebuilds a classifier (softmax of a numpy forward pass, every metric to 1e-5) and
   its accuracy on the test file is >= 0.85 (Bayes rate of these three unit-variance classes
   at distance 2 from the origin: 0.926 by Monte Carlo; 300 test rows: sd 0.015).
   --fgsm on the same file (its test inputs squeezed into [0, 1]): eps 0 gives TEST's own
   figures, and at eps 0.05 and 0.2 the model average's and each draw's figures equal numpy's
   FGSM (ReLU-network input gradients written here, the model average's weighted by
   p_s(y | x)) to 1e-5; the same at 2 ranks; --per-example /fgsm agrees with the JSON.
5. MC dropout (--mc-dropout K): on fc16-drop0-fc3 (rate 0) K = 1 gives exactly the JSON of
   plain predict and K = 3 the same metrics with 3x the members (the last draw's 3 identical
   members: no mutual information); on fc16-drop0.3-fc3 every ensemble, chain, last-draw and
   OOD number equals numpy's recomputation with the masks regenerated from a Philox4x32-10
   written here (checked on Random123's known answer), for a --draws slice, and the same at
   2 ranks and with other --batch/--block (AUROC/AUPR of the mutual information too, for the
   ensemble and for the last draw's K members); another --seed changes the numbers; without
   --mc-dropout the same file predicts with dropout off.
6. Bad inputs: test data with the wrong feature count, a sample file without the model
   attributes, a non-HDF5 file, an empty or malformed --draws, --ood on a regression, a missing
   --data, --mc-dropout 0 or not a number, --mc-dropout on models without dropout layers, a
   bad --seed: exit 2 and one line on stderr.
7. --test-fraction: the run stores its held-out rows (test_row); predict --data test-split
   scores exactly them: the run's printed accuracy and NLL (logreg, a CSV file) and RMSE and
   log-likelihood (linreg --standardize) to the printed 4 decimals, and every ensemble figure
   of a file holding only those rows; --ood accepts a CSV whose targets are strings and an
   HDF5 file without /y.
8. A model with its own density (the Poisson plug-in example, through the test builds of the
   programs that register it, tests/model/test_models.c): 2 chains at 2 ranks with
   --test-data; predict's ensemble, per-chain and last-draw log-likelihood are numpy's
   Poisson mixture log (1/S) sum_s Poisson(y | exp(x w_s + b_s)) from the file's draws (1e-6),
   not the Gaussian one, its RMSE that of the mixture mean exp(x w_s + b_s); the same at 1 and
   2 ranks; the run printed the same RMSE and log-likelihood (4 decimals).

usage: check_predict.py SGLD_DIST SGLD_ESS MPIEXEC [TEST_DIST TEST_ESS]
(TEST_DIST, TEST_ESS: sgld-dist-test-models and sgld-ess-test-models, for part 8)"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DIST, ESS, MPIEXEC = sys.argv[1], sys.argv[2], sys.argv[3]
TEST_DIST, TEST_ESS = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
TMP = tempfile.mkdtemp(prefix="sgld-predict-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(a, b, tol, what):
    ok = (a is None and b is None) or (a is not None and abs(a - b) <= tol * max(1.0, abs(b)))
    check(ok, f"{what}: {a} vs numpy {b}")


def run(args, ranks=1):
    cmd = [MPIEXEC, "-n", str(ranks), "--oversubscribe"] + args if ranks > 1 else args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240)


def path(name):
    return os.path.join(TMP, name)


def entropy(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)


def class_metrics(probs, y):
    """probs [S, n, K] of the draws; the summary as sgld-ess defines it."""
    S = probs.shape[0]
    p = probs.mean(0)
    conf, pred = p.max(1), p.argmax(1)
    out = {"max_prob": conf.mean(), "entropy": entropy(p).mean(),
           "expected_entropy": entropy(probs).mean(0).mean()}
    out["mutual_info"] = np.maximum(entropy(p) - entropy(probs).mean(0), 0).mean()
    if y is not None:
        lp = np.log(probs[:, np.arange(len(y)), y])
        m = lp.max(0)
        out["nll"] = -(m + np.log(np.exp(lp - m).sum(0)) - np.log(S)).mean()
        corr = pred == y
        out["accuracy"] = corr.mean()
        onehot = np.eye(p.shape[1])[y]
        out["brier"] = ((p - onehot) ** 2).sum(1).mean()
        b = np.minimum(np.floor(conf * 15).astype(int), 14)
        out["ece"] = sum(abs(corr[b == k].sum() - conf[b == k].sum()) for k in range(15)) / len(y)
    return out


def auroc_aupr(neg, pos):
    s = np.concatenate([neg, pos])
    lab = np.concatenate([np.zeros(len(neg)), np.ones(len(pos))])
    # AUROC by the rank-sum with midranks
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sv = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    auroc = (ranks[lab == 1].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    # AP over the distinct thresholds, descending
    ap, tp, fp = 0.0, 0, 0
    for t in np.unique(s)[::-1]:
        at = s == t
        gp, gn = int(lab[at].sum()), int((1 - lab[at]).sum())
        tp += gp
        fp += gn
        if gp:
            ap += gp / len(pos) * tp / (tp + fp)
    return auroc, ap


# ---- 1. softmax -----------------------------------------------------------------------------
rng = np.random.default_rng(7)
mu = np.array([[2 * math.cos(math.pi / 2 + 2 * math.pi * k / 3), 2 * math.sin(math.pi / 2 + 2 * math.pi * k / 3)]
               for k in range(3)])
yt = np.arange(300) % 3
Xt = (mu[yt] + rng.standard_normal((300, 2))).astype(np.float32)
with h5py.File(path("test.h5"), "w") as f:
    f["X"] = Xt
    f["y"] = yt.astype(np.int32)
# OOD: a tight cloud at the origin, equidistant from the three class means (a linear model is
# confidently wrong far away, but unsure here)
Xo = (rng.standard_normal((200, 2)) * 0.2).astype(np.float32)
with h5py.File(path("ood.h5"), "w") as f:
    f["X"] = Xo
    f["y"] = np.zeros(200, np.int32)
with h5py.File(path("wide.h5"), "w") as f:
    f["X"] = np.zeros((10, 3), np.float32)
    f["y"] = np.arange(10, dtype=np.int32) % 3

smx = path("softmax.h5")
r = run([DIST, "--model", "softmax", "--data", "synthetic:softmax", "--chains", "2", "--steps", "1500",
         "--burnin", "500", "--thin", "10", "--step-size", "1e-3", "--output", smx, "--quiet"], ranks=2)
check(r.returncode == 0, f"sgld-dist softmax: {r.stderr.strip()}")

args = [ESS, "predict", smx, "--data", path("test.h5"), "--ood", path("ood.h5"), "--json",
        "--per-example", path("ex.h5"), "--hist", path("hist.csv")]
r1 = run(args)
check(r1.returncode == 0, f"predict softmax: {r1.stderr.strip()}")
r2 = run(args + ["--force"], ranks=2)  # the same outputs again: replacing them needs --force
check(r2.returncode == 0, f"predict softmax at 2 ranks: {r2.stderr.strip()}")
j = json.loads(r1.stdout)
j2 = json.loads(r2.stdout)
with h5py.File(smx) as f:
    W, B = f["posterior/w"][...].astype(np.float64), f["posterior/b"][...].astype(np.float64)


def softmax_probs(X, W, B):
    z = np.einsum("nd,scdk->scnk", X.astype(np.float64), W) + B[:, :, None, :]
    z -= z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


P = softmax_probs(Xt, W, B)  # [chain, draw, n, K]
C, D = P.shape[:2]
check(j["chains"] == 2 and j["draws_per_chain"] == D == 100, f"chains/draws {j['chains']} {j['draws_per_chain']}")
ref = class_metrics(P.reshape(C * D, 300, 3), yt)
for k, v in ref.items():
    close(j["data"]["ensemble"][k], v, 1e-6, f"softmax ensemble {k}")
    close(j2["data"]["ensemble"][k], j["data"]["ensemble"][k], 1e-9, f"softmax ensemble {k} at 2 ranks")
for c in range(2):
    refc = class_metrics(P[c], yt)
    for k, v in refc.items():
        close(j["data"]["chains"][c][k], v, 1e-6, f"softmax chain {c} {k}")
refl = class_metrics(P[0, -1:], yt)
for k, v in refl.items():
    close(j["data"]["last"][k], v, 1e-6, f"softmax last draw {k}")
PO = softmax_probs(Xo, W, B).reshape(C * D, 200, 3)
refo = class_metrics(PO, None)
for k, v in refo.items():
    close(j["ood"]["ensemble"][k], v, 1e-6, f"softmax ood {k}")
pin, pout = P.reshape(C * D, 300, 3), PO
scores = {"max_prob": (1 - pin.mean(0).max(1), 1 - pout.mean(0).max(1)),
          "entropy": (entropy(pin.mean(0)), entropy(pout.mean(0))),
          "mutual_info": (entropy(pin.mean(0)) - entropy(pin).mean(0), entropy(pout.mean(0)) - entropy(pout).mean(0))}
for k, (a, b) in scores.items():
    au, ap = auroc_aupr(np.maximum(a, 0) if k == "mutual_info" else a, np.maximum(b, 0) if k == "mutual_info" else b)
    close(j["ood"]["auroc_ensemble"][k], au, 1e-6, f"auroc {k}")
    close(j["ood"]["aupr_ensemble"][k], ap, 1e-6, f"aupr {k}")
check(j["ood"]["auroc_ensemble"]["max_prob"] > 0.9, "OOD cloud between the classes detected (AUROC > 0.9)")
check(sum(j["data"]["reliability"]["count"]) == 300, "reliability counts sum to n")
with h5py.File(path("ex.h5")) as f:
    check(f["data/prob"].shape == (300, 3) and f["ood/max_prob"].shape == (200,), "per-example shapes")
    close(float(f["data/nll"][...].mean()), ref["nll"], 1e-6, "per-example nll mean")
    close(float(f["data/last_max_prob"][...].mean()), refl["max_prob"], 1e-6, "per-example last max prob")
rows = open(path("hist.csv")).read().strip().split("\n")
check(len(rows) == 21 and rows[0].startswith("bin_lo,"), "histogram CSV: header and 20 bins")
check(sum(int(x.split(",")[2]) for x in rows[1:]) == 300 and sum(int(x.split(",")[3]) for x in rows[1:]) == 200,
      "histogram counts")
# --draws: the last 10 and every 25th
r = run([ESS, "predict", smx, "--data", path("test.h5"), "--draws", "-10:", "--json"])
jd = json.loads(r.stdout) if r.returncode == 0 else {}
check(jd.get("draws_per_chain") == 10, "--draws -10: keeps 10 draws")
if jd:
    close(jd["data"]["ensemble"]["nll"], class_metrics(P[:, -10:].reshape(20, 300, 3), yt)["nll"], 1e-6, "--draws -10: nll")
r = run([ESS, "predict", smx, "--data", path("test.h5"), "--draws", "::25", "--json"])
check(r.returncode == 0 and json.loads(r.stdout)["draws_per_chain"] == 4, "--draws ::25 keeps 4 draws")

# ---- 2. linreg with --standardize -------------------------------------------------------------
lin = path("linreg.h5")
r = run([DIST, "--model", "linreg", "--data", "synthetic:linreg3", "--standardize", "--steps", "2000",
         "--burnin", "500", "--thin", "15", "--step-size", "1e-4", "--output", lin, "--quiet"])
check(r.returncode == 0, f"sgld-dist linreg: {r.stderr.strip()}")
Xr = rng.standard_normal((150, 3)).astype(np.float32)
yr = (Xr @ np.array([1, -0.5, 0.25]) + 0.3 + 0.5 * rng.standard_normal(150)).astype(np.float32)
with h5py.File(path("reg.h5"), "w") as f:
    f["X"] = Xr
    f["y"] = yr
r = run([ESS, "predict", lin, "--data", path("reg.h5"), "--json"])
check(r.returncode == 0, f"predict linreg: {r.stderr.strip()}")
jr = json.loads(r.stdout) if r.returncode == 0 else None
Phi = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2)))


def reg_metrics(mu, var, y):
    S = mu.shape[0]
    m = mu.mean(0)
    lp = -0.5 * (y - mu) ** 2 / var - 0.5 * np.log(2 * np.pi * var)
    mx = lp.max(0)
    ll = mx + np.log(np.exp(lp - mx).sum(0)) - np.log(S)
    pit = Phi((y - mu) / np.sqrt(var)).mean(0)
    return {"rmse": math.sqrt(((y - m) ** 2).mean()), "loglik": ll.mean(),
            "cover50": ((pit >= .25) & (pit <= .75)).mean(), "cover90": ((pit >= .05) & (pit <= .95)).mean(),
            "cover95": ((pit >= .025) & (pit <= .975)).mean()}


with h5py.File(lin) as f:
    w = f["posterior/w"][...].reshape(-1, 3).astype(np.float64)
    b = f["posterior/b"][...].reshape(-1).astype(np.float64)
    mean_, sd_ = f.attrs["standardize_mean"], f.attrs["standardize_sd"]
Xs = ((Xr - mean_) / sd_).astype(np.float32).astype(np.float64)
mu = w @ Xs.T + b[:, None]
ref = reg_metrics(mu, np.full_like(mu, 0.25), yr.astype(np.float64))
if jr:
    for k, v in ref.items():
        close(jr["data"]["ensemble"][k], v, 1e-6, f"linreg {k}")
    check(jr["data"]["ensemble"]["cover90"] > 0.8, "linreg: the 90% interval covers > 80% of fresh data")

# ---- 3. heteroscedastic mlp -------------------------------------------------------------------
mlp = path("mlp.h5")
r = run([DIST, "--model", "mlp", "--net", "fc8-fc2", "--data", "synthetic:linreg3", "--steps", "1500",
         "--burnin", "500", "--thin", "20", "--step-size", "1e-4", "--output", mlp, "--quiet"])
check(r.returncode == 0, f"sgld-dist mlp: {r.stderr.strip()}")
r = run([ESS, "predict", mlp, "--data", path("reg.h5"), "--json"])
check(r.returncode == 0, f"predict mlp: {r.stderr.strip()}")
if r.returncode == 0:
    jm = json.loads(r.stdout)
    with h5py.File(mlp) as f:
        W1, B1 = f["posterior/fc1_w"][0].astype(np.float64), f["posterior/fc1_b"][0].astype(np.float64)
        W2, B2 = f["posterior/fc2_w"][0].astype(np.float64), f["posterior/fc2_b"][0].astype(np.float64)
    H = np.maximum(np.einsum("nd,sod->sno", Xr.astype(np.float64), W1) + B1[:, None, :], 0)
    O = np.einsum("sno,sko->snk", H, W2) + B2[:, None, :]
    ref = reg_metrics(O[:, :, 0], np.exp(O[:, :, 1]), yr.astype(np.float64))
    for k, v in ref.items():
        close(jm["data"]["ensemble"][k], v, 1e-5, f"hetero mlp {k}")

# ---- 4. mlp --task classification -------------------------------------------------------------


def mlp_probs(X, W1, B1, W2, B2, masks=None):
    """softmax of fc-relu(-dropout)-fc for draws [S] (W1 [S, H, d] ...): [S, n, K]; masks
    [S, n, H] or None."""
    H = np.maximum(np.einsum("nd,shd->snh", X.astype(np.float64), W1) + B1[:, None, :], 0)
    if masks is not None:
        H = H * masks
    z = np.einsum("snh,skh->snk", H, W2) + B2[:, None, :]
    z -= z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def read_mlp(path_):
    with h5py.File(path_) as f:
        t = [f["posterior/" + k][...].astype(np.float64) for k in ("fc1_w", "fc1_b", "fc2_w", "fc2_b")]
        attrs = {k: f.attrs[k] for k in ("task", "config")}
    return t, attrs


def attr_text(a):
    return a.decode() if isinstance(a, bytes) else str(a)


mcl = path("mlp-class.h5")
r = run([DIST, "--model", "mlp", "--task", "classification", "--net", "fc20-fc3", "--data", "synthetic:softmax",
         "--chains", "2", "--steps", "1500", "--burnin", "500", "--thin", "20", "--step-size", "1e-3",
         "--output", mcl, "--quiet"], ranks=2)
check(r.returncode == 0, f"sgld-dist mlp --task classification: {r.stderr.strip()}")
if r.returncode == 0:
    (W1, B1, W2, B2), attrs = read_mlp(mcl)
    check(attr_text(attrs["task"]) == "classification", f"task attribute: {attrs['task']!r}")
    check('task = "classification"' in attr_text(attrs["config"]), "the stored config has the task")
    r = run([ESS, "predict", mcl, "--data", path("test.h5"), "--ood", path("ood.h5"), "--json"])
    check(r.returncode == 0, f"predict mlp classification: {r.stderr.strip()}")
    if r.returncode == 0:
        jc = json.loads(r.stdout)
        check(jc["task"] == "classification" and jc["classes"] == 3, f"task {jc['task']}, classes {jc.get('classes')}")
        C, D = W1.shape[:2]
        flat = [a.reshape((C * D,) + a.shape[2:]) for a in (W1, B1, W2, B2)]
        ref = class_metrics(mlp_probs(Xt, *flat), yt)
        for k, v in ref.items():
            close(jc["data"]["ensemble"][k], v, 1e-5, f"mlp classification ensemble {k}")
        refl = class_metrics(mlp_probs(Xt, W1[0, -1:], B1[0, -1:], W2[0, -1:], B2[0, -1:]), yt)
        for k, v in refl.items():
            close(jc["data"]["last"][k], v, 1e-5, f"mlp classification last draw {k}")
        check(jc["data"]["ensemble"]["accuracy"] >= 0.85,
              f"mlp classification accuracy {jc['data']['ensemble']['accuracy']} >= 0.85")
        print(f"mlp --task classification fc20-fc3: test accuracy {jc['data']['ensemble']['accuracy']:.4f}, "
              f"NLL {jc['data']['ensemble']['nll']:.4f}")
    # the same run as --model cnn (an fc-only spec): bitwise the same draws (as the README states)
    ccl = path("cnn-class.h5")
    r = run([DIST, "--model", "cnn", "--net", "fc20-fc3", "--data", "synthetic:softmax",
             "--chains", "2", "--steps", "1500", "--burnin", "500", "--thin", "20", "--step-size", "1e-3",
             "--output", ccl, "--quiet"], ranks=2)
    check(r.returncode == 0, f"sgld-dist cnn fc20-fc3: {r.stderr.strip()}")
    if r.returncode == 0:
        same = all(np.array_equal(a, b) for a, b in zip(read_mlp(ccl)[0], (W1, B1, W2, B2)))
        check(same, "mlp --task classification and cnn with the same fc spec give bitwise the same draws")

# ---- 4b. FGSM (--fgsm) ------------------------------------------------------------------------


def mlp_input_grads(X, y, W1, B1, W2, B2):
    """Per draw [S]: log p_s(y | x) [S, n] and its input gradient [S, n, d] for fc-relu-fc."""
    A = np.einsum("nd,shd->snh", X.astype(np.float64), W1) + B1[:, None, :]
    P = mlp_probs(X, W1, B1, W2, B2)
    onehot = np.eye(P.shape[2])[y]
    dz = onehot[None] - P                                     # d log softmax_y / dz
    dA = np.einsum("snk,skh->snh", dz, W2) * (A > 0)
    return np.log(P[:, np.arange(len(y)), y]), np.einsum("snh,shd->snd", dA, W1)


def fgsm_ref(X, y, tensors, eps):
    """numpy's FGSM of the model average and of each draw alone (include/sgld/ensemble.h)."""
    lp, g = mlp_input_grads(X, y, *tensors)
    w = np.exp(lp - lp.max(0))
    gens = -(w[:, :, None] * g).sum(0) / w.sum(0)[:, None]     # d NLL(model average) / dx
    xe = np.clip(X + eps * np.sign(gens), 0, 1)
    ens = class_metrics(mlp_probs(xe, *tensors), y)
    acc, nll, mp = [], [], []
    for s in range(lp.shape[0]):
        one = [t[s:s + 1] for t in tensors]
        ps = mlp_probs(np.clip(X + eps * np.sign(-g[s]), 0, 1), *one)[0]
        acc.append((ps.argmax(1) == y).mean())
        nll.append(-np.log(ps[np.arange(len(y)), y]).mean())
        mp.append(ps.max(1).mean())
    return ens, {"accuracy": np.mean(acc), "nll": np.mean(nll), "max_prob": np.mean(mp)}, np.abs(gens).min()


if os.path.exists(mcl):
    # pixels: the test inputs squeezed into [0, 1], as FGSM clips there
    Xu = np.clip(0.15 * Xt + 0.5, 0, 1).astype(np.float32)
    with h5py.File(path("unit.h5"), "w") as f:
        f["X"] = Xu
        f["y"] = yt.astype(np.int32)
    (W1, B1, W2, B2), _ = read_mlp(mcl)
    C, D = W1.shape[:2]
    flat = [a.reshape((C * D,) + a.shape[2:]) for a in (W1, B1, W2, B2)]
    fg = {}
    for ranks in (1, 2):
        r = run([ESS, "predict", mcl, "--data", path("unit.h5"), "--fgsm", "0,0.05,0.2", "--json"]
                + (["--per-example", path("fgsm.h5")] if ranks == 1 else []), ranks=ranks)
        check(r.returncode == 0, f"predict --fgsm at {ranks} ranks: {r.stderr.strip()}")
        fg[ranks] = json.loads(r.stdout) if r.returncode == 0 else None
    if fg[1] and fg[2]:
        j = fg[1]
        check([e["eps"] for e in j["fgsm"]] == [0, 0.05, 0.2], f"fgsm eps {[e['eps'] for e in j['fgsm']]}")
        for k, v in j["data"]["ensemble"].items():  # eps 0: TEST itself
            close(j["fgsm"][0]["ensemble"][k], v, 1e-12, f"fgsm eps 0 ensemble {k}")
        for e in j["fgsm"][1:]:
            ens, each, gmin = fgsm_ref(Xu, yt, flat, e["eps"])
            check(gmin > 1e-6, f"numpy's smallest input gradient {gmin} is far from a sign change")
            for k, v in ens.items():
                close(e["ensemble"][k], v, 1e-5, f"fgsm eps {e['eps']} ensemble {k}")
            for k, v in each.items():
                close(e["each_draw"][k], v, 1e-5, f"fgsm eps {e['eps']} each draw {k}")
            print(f"fgsm eps {e['eps']}: ensemble accuracy {e['ensemble']['accuracy']:.4f} "
                  f"(clean {j['data']['ensemble']['accuracy']:.4f}), each draw {e['each_draw']['accuracy']:.4f}")
        check(j["fgsm"][2]["ensemble"]["accuracy"] < j["data"]["ensemble"]["accuracy"],
              "FGSM at eps 0.2 lowers the accuracy")
        for a, b in zip(fg[1]["fgsm"], fg[2]["fgsm"]):
            for part in ("ensemble", "each_draw"):
                for k, v in a[part].items():
                    close(b[part][k], v, 1e-9, f"fgsm 2 ranks {part} {k}")
        with h5py.File(path("fgsm.h5")) as f:
            g = f["fgsm"]
            check(g["correct"].shape == (3, len(yt)) and g["draw_correct"].shape == (3, len(yt)),
                  f"/fgsm shapes {g['correct'].shape} {g['draw_correct'].shape}")
            close(g["correct"][1].mean(), j["fgsm"][1]["ensemble"]["accuracy"], 1e-9, "/fgsm/correct mean")
            close(g["draw_correct"][1].mean(), j["fgsm"][1]["each_draw"]["accuracy"], 1e-9, "/fgsm/draw_correct mean")
            close(g["mutual_info"][2].mean(), j["fgsm"][2]["ensemble"]["mutual_info"], 1e-9, "/fgsm/mutual_info mean")


# ---- 5. MC dropout ---------------------------------------------------------------------------
M32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al. 2011) on uint64 arrays holding 32-bit words."""
    c = [np.asarray(x, np.uint64) & M32 for x in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for rnd in range(10):
        if rnd:
            k0, k1 = (k0 + np.uint64(0x9E3779B9)) & M32, (k1 + np.uint64(0xBB67AE85)) & M32
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & M32]
    return c


kat = [int(x[()]) for x in philox4x32(0, 0, 0, 0, 0, 0)]
check(kat == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], f"Philox known answer: {[hex(x) for x in kat]}")


def mc_masks(seed, chain, draw, rows, mask, n_units, rate):
    """The masks of sgld_net_predict_dropout (include/sgld/net.h) for rows [n] of one (draw,
    mask): [n, n_units] of 0 or 1/(1 - rate), from words u % 4 of blocks mask 2^22 + u / 4 of
    the stream key (seed, chain), step draw 2^32 + row, purpose 8."""
    rows = np.asarray(rows, np.uint64)[:, None]
    u = np.arange(n_units, dtype=np.uint64)[None, :]
    block = np.uint64(mask << 22) + u // np.uint64(4)
    step = (np.uint64(draw) << np.uint64(32)) + rows
    w = philox4x32(block, np.full_like(block, 8), step & M32, step >> np.uint64(32), seed, chain)
    word = np.choose((u % np.uint64(4)).astype(np.int64) + np.zeros(rows.shape, np.int64), w)
    rate32 = np.float32(rate)
    keep = np.float32(1) / (np.float32(1) - rate32)
    return np.where(word.astype(np.float64) >= float(rate32) * 4294967296.0, float(keep), 0.0)


# rate 0: K = 1 is plain predict, K = 3 the same metrics with three times the members
m0 = path("mlp-drop0.h5")
r = run([DIST, "--model", "mlp", "--task", "classification", "--net", "fc16-drop0-fc3", "--data", "synthetic:softmax",
         "--steps", "600", "--burnin", "300", "--thin", "30", "--step-size", "1e-3", "--output", m0, "--quiet"])
check(r.returncode == 0, f"sgld-dist fc16-drop0-fc3: {r.stderr.strip()}")
base = [ESS, "predict", m0, "--data", path("test.h5"), "--ood", path("ood.h5"), "--json"]
outs = [run(base + extra) for extra in ([], ["--mc-dropout", "1"], ["--mc-dropout", "3"])]
check(all(o.returncode == 0 for o in outs), f"predict rate 0: {[o.stderr.strip() for o in outs]}")
if all(o.returncode == 0 for o in outs):
    j0, j1, j3 = (json.loads(o.stdout) for o in outs)
    check(j0["mc_dropout"] == 0 and j1["mc_dropout"] == 1 and j3["mc_dropout"] == 3, "mc_dropout in the JSON")
    for part in ("data", "ood"):
        for which in ("ensemble", "last"):
            a, b, c = j0[part][which], j1[part][which], j3[part][which]
            check(a == b, f"rate 0, --mc-dropout 1 = plain predict ({part} {which}): {a} vs {b}")
            check(c["draws"] == 3 * a["draws"], f"rate 0, --mc-dropout 3: {c['draws']} members, want 3 x {a['draws']}")
            for k, v in a.items():
                if k == "draws":
                    continue
                close(c[k], v, 1e-12, f"rate 0, --mc-dropout 3 {part} {which} {k}")
        check(abs(j3[part]["last"]["mutual_info"]) < 1e-12,
              f"rate 0: the last draw's 3 identical members have mutual information {j3[part]['last']['mutual_info']}")
    check(j0["data"]["reliability"] == j1["data"]["reliability"], "rate 0: reliability bins of --mc-dropout 1")

# rate 0.3: every number against numpy with the masks regenerated
md = path("mlp-drop.h5")
RATE, KM, SEED = 0.3, 4, 1
r = run([DIST, "--model", "mlp", "--task", "classification", "--net", "fc16-drop0.3-fc3", "--data",
         "synthetic:softmax", "--chains", "2", "--steps", "1000", "--burnin", "400", "--thin", "30",
         "--step-size", "1e-3", "--output", md, "--quiet"], ranks=2)
check(r.returncode == 0, f"sgld-dist fc16-drop0.3-fc3: {r.stderr.strip()}")
mcargs = [ESS, "predict", md, "--data", path("test.h5"), "--ood", path("ood.h5"), "--draws", "-6:", "--json",
          "--mc-dropout", str(KM)]
outs = [run(mcargs), run(mcargs, ranks=2), run(mcargs + ["--batch", "7", "--block", "3"]),
        run(mcargs + ["--seed", "2"]), run(mcargs[:-2])]
check(all(o.returncode == 0 for o in outs), f"predict --mc-dropout: {[o.stderr.strip() for o in outs]}")
if all(o.returncode == 0 for o in outs):
    jm, jm2, jmb, jms, jplain = (json.loads(o.stdout) for o in outs)
    (W1, B1, W2, B2), _ = read_mlp(md)
    C, D, Hn = W1.shape[0], W1.shape[1], W1.shape[2]
    draws = list(range(D - 6, D))
    nt, no = len(yt), len(Xo)
    # probs[c, t, k] for TEST (rows 0..nt-1) and OTHER (rows nt..nt+no-1)
    pin = np.empty((C, len(draws), KM, nt, 3))
    pout = np.empty((C, len(draws), KM, no, 3))
    for c in range(C):
        for a, t in enumerate(draws):
            for k in range(KM):
                w = [x[c, t:t + 1] for x in (W1, B1, W2, B2)]
                mi = mc_masks(SEED, c, t, np.arange(nt), k, Hn, RATE)
                mo = mc_masks(SEED, c, t, np.arange(nt, nt + no), k, Hn, RATE)
                pin[c, a, k] = mlp_probs(Xt, *w, masks=mi[None])[0]
                pout[c, a, k] = mlp_probs(Xo, *w, masks=mo[None])[0]
    dropped = 1 - np.count_nonzero(mc_masks(SEED, 0, draws[0], np.arange(nt), 0, Hn, RATE)) / (nt * Hn)
    check(abs(dropped - RATE) < 0.03, f"regenerated masks drop {dropped:.3f} of the units (rate {RATE})")
    S = C * len(draws) * KM
    ref = class_metrics(pin.reshape(S, nt, 3), yt)
    check(jm["data"]["ensemble"]["draws"] == S, f"members {jm['data']['ensemble']['draws']}, want {S}")
    for k, v in ref.items():
        close(jm["data"]["ensemble"][k], v, 1e-5, f"MC dropout ensemble {k}")
        for other, what in ((jm2, "2 ranks"), (jmb, "--batch 7 --block 3")):
            close(other["data"]["ensemble"][k], jm["data"]["ensemble"][k], 1e-9, f"MC dropout ensemble {k} at {what}")
    for c in range(C):
        for k, v in class_metrics(pin[c].reshape(-1, nt, 3), yt).items():
            close(jm["data"]["chains"][c][k], v, 1e-5, f"MC dropout chain {c} {k}")
    for k, v in class_metrics(pin[0, -1], yt).items():  # the last draw of chain 0 with its K masks
        close(jm["data"]["last"][k], v, 1e-5, f"MC dropout last draw {k}")
    check(jm["data"]["last"]["draws"] == KM, f"last draw: {jm['data']['last']['draws']} members, want {KM}")
    refo = class_metrics(pout.reshape(S, no, 3), None)
    for k, v in refo.items():
        close(jm["ood"]["ensemble"][k], v, 1e-5, f"MC dropout ood {k}")
    check(jm["data"]["ensemble"]["mutual_info"] > 1e-4, "MC dropout: masks disagree (mutual information > 0)")

    def mutual_info(p):
        return np.maximum(entropy(p.mean(0)) - entropy(p).mean(0), 0)

    # OOD by mutual information: of the whole ensemble, and of the last draw's K members
    for which, a, b in (("ensemble", pin.reshape(S, nt, 3), pout.reshape(S, no, 3)), ("last", pin[0, -1], pout[0, -1])):
        au, ap = auroc_aupr(mutual_info(a), mutual_info(b))
        close(jm["ood"][f"auroc_{which}"]["mutual_info"], au, 1e-5, f"MC dropout {which} AUROC of mutual information")
        close(jm["ood"][f"aupr_{which}"]["mutual_info"], ap, 1e-5, f"MC dropout {which} AUPR of mutual information")
    check(jms["data"]["ensemble"]["nll"] != jm["data"]["ensemble"]["nll"], "--seed 2 draws other masks")
    # without --mc-dropout: deterministic, dropout off (numpy without masks)
    refp = class_metrics(mlp_probs(Xt, *[x[:, -6:].reshape((C * 6,) + x.shape[2:]) for x in (W1, B1, W2, B2)]), yt)
    for k, v in refp.items():
        close(jplain["data"]["ensemble"][k], v, 1e-5, f"dropout net without --mc-dropout {k}")
    print(f"MC dropout ({KM} masks x {C * 6} draws): accuracy {jm['data']['ensemble']['accuracy']:.4f}, "
          f"NLL {jm['data']['ensemble']['nll']:.4f}, mutual information {jm['data']['ensemble']['mutual_info']:.4f}")

# ---- 7. --test-fraction and --data test-split ------------------------------------------------------
# The run stores the rows it held out (coordinate test_row); predict --data test-split re-reads the
# run's --data and scores exactly them: the run's printed test-set figures, and the figures of a
# file holding only those rows.
rs = np.random.default_rng(11)
Xs = rs.normal(size=(400, 2))
ys = (rs.uniform(size=400) < 1 / (1 + np.exp(-(1.5 * Xs[:, 0] - Xs[:, 1] + 0.5)))).astype(int)
with open(path("split.csv"), "w") as f:
    f.write("a,b,label\n" + "".join(f"{a:.6f},{b:.6f},{c}\n" for (a, b), c in zip(Xs, ys)))
spl = path("split_run.h5")
r = run([DIST, "--model", "logreg", "--data", path("split.csv"), "--test-fraction", "0.3", "--chains", "2",
         "--steps", "1500", "--burnin", "500", "--thin", "10", "--step-size", "1e-3", "--seed", "5",
         "--output", spl], ranks=2)
m = re.search(r"test set \((\d+) rows\): accuracy ([0-9.]+), NLL ([0-9.]+)", r.stdout)
check(r.returncode == 0 and m is not None, f"--test-fraction run: status {r.returncode}, {r.stdout[-300:]!r}")
if m:
    with h5py.File(spl, "r") as f:
        rows = f["test_row"][()]
    check(len(rows) == int(m.group(1)) == 120 and np.all(np.diff(rows) > 0),
          f"test_row holds the {m.group(1)} held-out rows, ascending ({len(rows)})")
    r = run([ESS, "predict", spl, "--data", "test-split", "--json"], ranks=2)
    check(r.returncode == 0, f"predict --data test-split: status {r.returncode}, {r.stderr.strip()!r}")
    if r.returncode == 0:
        js = json.loads(r.stdout)
        check(js["data"]["n"] == len(rows), f"test-split scores {js['data']['n']} rows, the run held out {len(rows)}")
        # the run prints 4 decimals: predict's figure rounds to the same
        for key, printed in (("accuracy", m.group(2)), ("nll", m.group(3))):
            got = js["data"]["ensemble"][key]
            check(f"{got:.4f}" == printed, f"test-split {key} {got:.6f}, the run printed {printed}")
        with open(path("held_out.csv"), "w") as f:
            f.write("a,b,label\n" + "".join(f"{Xs[i, 0]:.6f},{Xs[i, 1]:.6f},{ys[i]}\n" for i in rows))
        r2 = run([ESS, "predict", spl, "--data", path("held_out.csv"), "--json"])
        check(r2.returncode == 0, f"predict on the held-out rows' file: {r2.stderr.strip()!r}")
        if r2.returncode == 0:
            jh = json.loads(r2.stdout)
            for key in ("accuracy", "nll", "brier", "ece"):
                close(js["data"]["ensemble"][key], jh["data"]["ensemble"][key], 1e-12, f"test-split {key} = held-out file's")
        # --ood ignores the targets (the README's promise): a CSV whose target column holds strings
        with open(path("ood_strings.csv"), "w") as f:
            f.write("a,b,label\n" + "".join(f"{a + 4:.6f},{b - 4:.6f},far\n" for a, b in Xs[:60]))
        r3 = run([ESS, "predict", spl, "--data", "test-split", "--ood", path("ood_strings.csv"), "--json"])
        check(r3.returncode == 0 and json.loads(r3.stdout)["ood"]["n"] == 60,
              f"--ood with string targets is scored: status {r3.returncode}, {r3.stderr.strip()!r}")
        with h5py.File(path("ood_noy.h5"), "w") as f:  # and an HDF5 file without /y
            f["X"] = Xs[:45] + 4
        r3 = run([ESS, "predict", spl, "--data", "test-split", "--ood", path("ood_noy.h5"), "--json"])
        check(r3.returncode == 0 and json.loads(r3.stdout)["ood"]["n"] == 45,
              f"--ood HDF5 without /y is scored: status {r3.returncode}, {r3.stderr.strip()!r}")
        print(f"test split ({len(rows)} rows): accuracy {js['data']['ensemble']['accuracy']:.4f}, "
              f"NLL {js['data']['ensemble']['nll']:.4f} (the run printed {m.group(2)}, {m.group(3)})")
# regression with --standardize: RMSE and log-likelihood as printed by the run
spr = path("split_reg.h5")
r = run([DIST, "--model", "linreg", "--data", "synthetic:linreg3", "--standardize", "--test-fraction", "0.2",
         "--steps", "1500", "--burnin", "500", "--thin", "10", "--step-size", "1e-3", "--output", spr])
m = re.search(r"test set \((\d+) rows\): RMSE ([0-9.]+), log-likelihood (-?[0-9.]+)", r.stdout)
check(r.returncode == 0 and m is not None, f"--test-fraction regression run: {r.stdout[-300:]!r}")
if m:
    r = run([ESS, "predict", spr, "--data", "test-split", "--json"])
    js = json.loads(r.stdout) if r.returncode == 0 else None
    check(js is not None and js["data"]["n"] == int(m.group(1)), f"regression test-split rows: {r.stderr.strip()!r}")
    if js:
        for key, printed in (("rmse", m.group(2)), ("loglik", m.group(3))):
            check(f"{js['data']['ensemble'][key]:.4f}" == printed,
                  f"regression test-split {key} {js['data']['ensemble'][key]:.6f}, the run printed {printed}")

# ---- 8. a model with its own density: the Poisson plug-in example ------------------------------
if TEST_DIST:
    from math import lgamma
    rp = np.random.default_rng(8)
    wt = np.array([0.4, -0.3, 0.2])
    Xp, Xq = rp.standard_normal((400, 3)), rp.standard_normal((100, 3))
    yp, yq = rp.poisson(np.exp(0.3 + Xp @ wt)), rp.poisson(np.exp(0.3 + Xq @ wt))
    for name, Xc, yc in (("pois_train.csv", Xp, yp), ("pois_test.csv", Xq, yq)):
        with open(path(name), "w") as f:
            f.write("x1,x2,x3,count\n" + "".join(",".join(f"{v:.6f}" for v in xr) + f",{c}\n" for xr, c in zip(Xc, yc)))
    Xq = np.loadtxt(path("pois_test.csv"), delimiter=",", skiprows=1)[:, :3]  # as the file holds them
    pfile = path("poisson.h5")
    r = run([TEST_DIST, "--model", "poisson", "--data", path("pois_train.csv"), "--test-data", path("pois_test.csv"),
             "--chains", "2", "--steps", "1500", "--burnin", "500", "--thin", "10", "--step-size", "1e-4",
             "--output", pfile], ranks=2)
    m = re.search(r"test set \(100 rows\): RMSE ([0-9.]+), log-likelihood (-?[0-9.]+)", r.stdout)
    check(r.returncode == 0 and m is not None, f"poisson run: status {r.returncode}, {r.stdout[-300:]!r} {r.stderr!r}")
    with h5py.File(pfile, "r") as f:
        W, B = f["posterior/w"][()].astype(np.float64), f["posterior/b"][()].astype(np.float64)
    # float32 inputs and parameters, as the program evaluates them (sums in double)
    Xq32 = Xq.astype(np.float32).astype(np.float64)
    lgy = np.array([lgamma(c + 1.0) for c in yq])

    def poisson_scores(Ws, Bs):
        eta = Ws @ Xq32.T + Bs[:, None]                       # [S, n]
        lp = yq * eta - np.exp(eta) - lgy
        mx = lp.max(0)
        ll = mx + np.log(np.exp(lp - mx).mean(0))
        mean = np.exp(eta).mean(0)
        return {"loglik": ll.mean(), "rmse": np.sqrt(((mean - yq) ** 2).mean())}

    ens = poisson_scores(W.reshape(-1, 3), B.reshape(-1))
    eta = W.reshape(-1, 3) @ Xq32.T + B.reshape(-1)[:, None]
    mu = np.exp(eta)
    glp = -0.5 * (yq - mu) ** 2 / mu - 0.5 * np.log(2 * np.pi * mu)   # the Gaussian with mean = variance = mu
    gm = glp.max(0)
    gauss_ll = (gm + np.log(np.exp(glp - gm).mean(0))).mean()
    outs = []
    for ranks in (1, 2):
        r = run([TEST_ESS, "predict", pfile, "--data", path("pois_test.csv"), "--json"], ranks=ranks)
        check(r.returncode == 0, f"poisson predict at {ranks} rank(s): {r.stderr.strip()!r}")
        if r.returncode == 0:
            outs.append(json.loads(r.stdout))
    if outs:
        js = outs[0]["data"]
        for key in ("loglik", "rmse"):
            close(js["ensemble"][key], ens[key], 1e-6, f"poisson ensemble {key}")
        check(abs(js["ensemble"]["loglik"] - gauss_ll) > 1e-3,
              f"poisson loglik {js['ensemble']['loglik']} is not the Gaussian's {gauss_ll}")
        for c in range(2):
            sc = poisson_scores(W[c], B[c])
            close(js["chains"][c]["loglik"], sc["loglik"], 1e-6, f"poisson chain {c} loglik")
        last = poisson_scores(W[0, -1:], B[0, -1:])
        close(js["last"]["loglik"], last["loglik"], 1e-6, "poisson last-draw loglik")
        if len(outs) == 2:
            close(outs[1]["data"]["ensemble"]["loglik"], js["ensemble"]["loglik"], 1e-9, "poisson loglik at 2 ranks")
        if m:
            check(f"{js['ensemble']['rmse']:.4f}" == m.group(1) and f"{js['ensemble']['loglik']:.4f}" == m.group(2),
                  f"the run printed RMSE {m.group(1)}, log-likelihood {m.group(2)}; predict "
                  f"{js['ensemble']['rmse']:.6f}, {js['ensemble']['loglik']:.6f}")
        print(f"poisson: test log-likelihood {js['ensemble']['loglik']:.4f} (numpy {ens['loglik']:.4f}; "
              f"the Gaussian of the same means and variances {gauss_ll:.4f}), RMSE {js['ensemble']['rmse']:.4f}")

# ---- 6. bad inputs ----------------------------------------------------------------------------
with h5py.File(path("bare.h5"), "w") as f:
    f.create_group("posterior")["w"] = np.zeros((1, 4, 2, 3), np.float32)
open(path("text.h5"), "w").write("not hdf5\n")
bad = [
    ([smx, "--data", path("wide.h5")], "3 features per row"),
    ([path("bare.h5"), "--data", path("test.h5")], "no model attributes"),
    ([path("text.h5"), "--data", path("test.h5")], "text.h5"),
    ([smx, "--data", path("test.h5"), "--draws", "5:5"], "selects no draw"),
    ([smx, "--data", path("test.h5"), "--draws", "500"], "selects no draw"),
    ([smx, "--data", path("test.h5"), "--draws", "a:b"], "--draws"),
    ([lin, "--data", path("reg.h5"), "--ood", path("reg.h5")], "regression"),
    ([smx], "--data TEST is required"),
    ([smx, "--data", path("missing.h5")], "missing.h5"),
    ([smx, "--data", path("test.h5"), "--mc-dropout", "0"], "--mc-dropout: must be in [1, 1024], got 0"),
    ([smx, "--data", path("test.h5"), "--mc-dropout", "many"], "--mc-dropout: 'many' is not an integer"),
    ([smx, "--data", path("test.h5"), "--mc-dropout", "2"], "--mc-dropout 2: the softmax model of"),
    ([mcl, "--data", path("test.h5"), "--mc-dropout", "2"], "('fc20-fc3') has no dropout layer"),
    ([smx, "--data", path("test.h5"), "--seed", "-1"], "--seed: must be in [0, 4294967295], got -1"),
    ([smx, "--data", "test-split"], "is from a run without --test-fraction: no rows were held out"),
]
for a, want in bad:
    r = run([ESS, "predict"] + a)
    lines = r.stderr.strip().split("\n")
    check(r.returncode == 2 and len(lines) == 1 and want in lines[0],
          f"bad input {a[1:]}: status {r.returncode}, stderr {r.stderr.strip()!r} (want '{want}')")

print(f"{len(failures)} failures" if failures else "all predict checks passed")
sys.exit(1 if failures else 0)
