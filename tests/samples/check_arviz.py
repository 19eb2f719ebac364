#!/usr/bin/python3
"""check_arviz.py - the ArviZ InferenceData groups of sgld-dist's sample file and of sgld-ess
predict --log-likelihood, as xarray reads them with both engines (netcdf4 and h5netcdf).

usage: check_arviz.py BUILD_ROOT MPIEXEC

  1. An mlp classification run: every group (posterior, sample_stats, observed_data, monitor)
     opens with xarray.open_dataset(path, group=G) with both engines; observed_data/y holds the
     class indices of the data's rows in order; monitor holds one row per flush (--flush-every
     10 draws: 4 rows, draws 10..40) over the dimension check.
  2. A linear regression on a CSV with named columns at 4 ranks (2 chains x 2 shards, so two
     shards write observed_data), --on-divergence shrink at a step size that diverges, and
     --save-observed yes: `diverging` reads as bool and is exactly the draws at which the
     cumulative `divergences` count rose; the `feature` coordinate is the CSV's column names
     (one with a comma, one with a non-ASCII character) as str, which also stay the root
     attribute feature_names; observed_data/y equals the CSV's targets (as float32, the precision the data are
     held in) over obs 0..n-1; --save-observed no and auto (these 60 rows are under auto's
     8 MB) leave the group out / write it.
  3. sgld-ess predict --log-likelihood on the linear regression (the --save-observed auto run, without
     divergences): group log_likelihood, y
     [chain, draw, obs] float64 equal to numpy's Gaussian log density of each test row under
     each selected draw (N(y; x.w + b, noise_sd^2), to 1e-9 relative), the draw coordinate the selected
     draws' indices; its mean over draws agrees with predict's own ensemble figures
     (log mean exp over draws = predict --json's loglik, to 1e-6).
  4. Names as coordinates: a logreg run on tools/data/pima.csv has the `feature` coordinate
     equal to the CSV header's column names (the target's left out), and a softmax run on a
     CSV with three string class labels (one with a comma, one non-ASCII) has the `class`
     coordinate equal to the labels in strcmp order (the model's class indices) and the root
     attribute class_names the same; with both engines, `ncdump -h` succeeds on each file and
     declares the coordinate as netCDF text (`char feature(feature, stringW)`, W the longest
     name's bytes; the softmax run's feature and class names are both 12 bytes wide and share
     one stringW).
Prints one line per check; exits 1 when any fails."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import xarray as xr

BUILD, MPIEXEC = sys.argv[1], sys.argv[2]
DIST, ESS = os.path.join(BUILD, "sgld-dist"), os.path.join(BUILD, "sgld-ess")
TMP = tempfile.mkdtemp(prefix="sgld-arviz-")
ENGINES = ("netcdf4", "h5netcdf")
failures = 0


def check(name, cond, detail=""):
    global failures
    print(("ok   - " if cond else "FAIL - ") + name + ("" if cond else ": " + str(detail)[-1500:]))
    if not cond:
        failures += 1


def run(args, ranks=1):
    cmd = ([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks > 1 else []) + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def opens(path, group):
    """{engine: dataset or the exception's text}"""
    out = {}
    for e in ENGINES:
        try:
            out[e] = xr.open_dataset(path, group=group, engine=e).load()
        except Exception as ex:  # noqa: BLE001 - reported as a failed check
            out[e] = f"{type(ex).__name__}: {ex}"
    return out


# 1. mlp classification: every group opens with both engines.
mlp = os.path.join(TMP, "mlp.h5")
p = run([DIST, "--model", "mlp", "--task", "classification", "--data", "synthetic:softmax", "--net", "fc4-fc3",
         "--chains", "2", "--steps", "60", "--burnin", "20", "--step-size", "1e-4", "--flush-every", "10", "--quiet",
         "--output", mlp], 2)
check("mlp run: exit 0", p.returncode == 0, p.stderr)
for g in ("posterior", "sample_stats", "observed_data", "monitor"):
    for e, ds in opens(mlp, g).items():
        check(f"mlp: group {g} opens with {e}", isinstance(ds, xr.Dataset) and len(ds.data_vars) > 0, ds)
        if g == "observed_data" and isinstance(ds, xr.Dataset):
            y = ds["y"].values
            check(f"mlp: observed_data/y [obs] holds the 600 class indices row mod 3 ({e})",
                  ds["y"].dims == ("obs",) and np.array_equal(y, np.arange(600) % 3), y[:9])
        if g == "monitor" and isinstance(ds, xr.Dataset):
            check(f"mlp: monitor has the rows of the 4 flushes over check ({e})",
                  ds["ess_min"].dims == ("check",) and np.array_equal(ds["draws"].values, [10, 20, 30, 40])
                  and np.array_equal(ds["step"].values, [30, 40, 50, 60])
                  and set(ds.data_vars) >= {"ess_min", "rhat_max", "mess", "monitored_draws"}, ds)

# 2. Linear regression on a CSV with named columns, 2 chains x 2 shards.
rng = np.random.default_rng(11)
names = ["age", "blood pressure (mmHg)", "glucose, fasting (\u00b5mol/l)"]
X = rng.normal(size=(60, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
y = X @ [0.7, -0.3, 1.2] + 0.4 + 0.5 * rng.normal(size=60)
Xt = rng.normal(size=(17, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
yt = Xt @ [0.7, -0.3, 1.2] + 0.4 + 0.5 * rng.normal(size=17)
train, test = os.path.join(TMP, "train.csv"), os.path.join(TMP, "test.csv")
for path, A, b in ((train, X, y), (test, Xt, yt)):
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join('"%s"' % n if "," in n else n for n in names) + ",target\n")
        for r, t in zip(A, b):
            f.write(",".join("%.6g" % v for v in r) + ",%.6g\n" % t)
y_csv = np.loadtxt(train, delimiter=",", skiprows=1)[:, 3].astype(np.float32)
lr = os.path.join(TMP, "lr.h5")
base = [DIST, "--model", "linreg", "--data", train, "--batch-size", "20", "--chains", "2", "--steps", "1500",
        "--burnin", "100", "--quiet"]
p = run(base + ["--step-size", "0.02", "--on-divergence", "shrink", "--save-observed", "yes", "--output", lr], 4)
check("linreg run (2 chains x 2 shards, shrink): exit 0", p.returncode == 0, p.stderr)
for e, ds in opens(lr, "sample_stats").items():
    ok = isinstance(ds, xr.Dataset) and "diverging" in ds
    check(f"linreg: sample_stats/diverging present ({e})", ok, ds)
    if ok:
        dv = ds["divergences"].values
        rose = np.diff(np.concatenate([np.zeros((2, 1)), dv], axis=1), axis=1) > 0
        check(f"linreg: diverging reads as bool [chain, draw] ({e})",
              ds["diverging"].dtype == np.bool_ and ds["diverging"].dims == ("chain", "draw"), ds["diverging"].dtype)
        check(f"linreg: diverging is where divergences rose, and some draws diverged ({e})",
              np.array_equal(ds["diverging"].values, rose) and rose.any() and not rose.all(),
              (int(rose.sum()), dv[:, -1]))
for e, ds in opens(lr, "posterior").items():
    ok = isinstance(ds, xr.Dataset)
    check(f"linreg: posterior opens ({e})", ok, ds)
    if ok:
        feat = ds["feature"].values
        check(f"linreg: the feature coordinate is the CSV's column names, as str ({e})",
              list(feat) == names and all(isinstance(v, str) for v in feat), feat)
        check(f"linreg: w is [chain, draw, feature] ({e})", ds["w"].dims == ("chain", "draw", "feature"), ds["w"].dims)
for e, ds in opens(lr, "observed_data").items():
    ok = isinstance(ds, xr.Dataset)
    check(f"linreg: observed_data opens ({e})", ok, ds)
    if ok:
        check(f"linreg: observed_data/y equals the CSV targets in row order ({e})",
              ds["y"].dtype == np.float64 and np.array_equal(ds["y"].values, y_csv.astype(np.float64)) and
              np.array_equal(ds["obs"].values, np.arange(60)), ds["y"].values[:5])
attrs = xr.open_dataset(lr, engine="h5netcdf").attrs
check("linreg: the root attribute feature_names stays", attrs.get("feature_names") == "\n".join(names),
      attrs.get("feature_names"))
for mode, want in (("no", False), ("auto", True)):
    out = os.path.join(TMP, f"obs-{mode}.h5")
    p = run(base + ["--step-size", "1e-3", "--save-observed", mode, "--output", out], 2)
    with h5py.File(out, "r") as f:
        have = "observed_data" in f
    check(f"--save-observed {mode}: observed_data {'written' if want else 'left out'}",
          p.returncode == 0 and have == want, p.stderr)

# 3. predict --log-likelihood against numpy, on the run without divergences (auto's).
ll, lr = os.path.join(TMP, "ll.h5"), os.path.join(TMP, "obs-auto.h5")
p = run([ESS, "predict", lr, "--data", test, "--draws", "100::7", "--json", "--log-likelihood", ll], 2)
check("predict --log-likelihood: exit 0", p.returncode == 0, p.stderr)
post = xr.open_dataset(lr, group="posterior", engine="h5netcdf")
for e, ds in opens(ll, "log_likelihood").items():
    ok = isinstance(ds, xr.Dataset) and "y" in ds
    check(f"log_likelihood/y opens ({e})", ok, ds)
    if not ok:
        continue
    sel = np.arange(1400)[100::7]
    check(f"log_likelihood: y [chain, draw, obs] float64, draw = the selected indices ({e})",
          ds["y"].dims == ("chain", "draw", "obs") and ds["y"].dtype == np.float64 and ds["y"].shape == (2, len(sel), 17)
          and np.array_equal(ds["draw"].values, sel) and np.array_equal(ds["obs"].values, np.arange(17)),
          (ds["y"].dims, ds["y"].shape))
    Xs = np.loadtxt(test, delimiter=",", skiprows=1)[:, :3].astype(np.float32).astype(np.float64)
    ys = np.loadtxt(test, delimiter=",", skiprows=1)[:, 3].astype(np.float32).astype(np.float64)
    w = post["w"].values[:, sel].astype(np.float64)
    b = post["b"].values[:, sel].astype(np.float64)
    mu = np.einsum("cdj,ij->cdi", w, Xs) + b[..., None]
    want = -0.5 * ((ys - mu) / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)
    err = (np.abs(ds["y"].values - want) / np.maximum(1.0, np.abs(want))).max()
    check(f"log_likelihood: numpy's Gaussian log density of each row under each draw ({e}; max err {err:.2g})",
          err < 1e-9, err)
    if p.returncode == 0:
        rep = json.loads(p.stdout)
        flat = ds["y"].values.reshape(-1, 17)
        m = flat.max(axis=0)
        lme = (m + np.log(np.exp(flat - m).mean(axis=0))).mean()
        check(f"log_likelihood: log mean exp over draws = predict's ensemble loglik ({e})",
              abs(lme - rep["data"]["ensemble"]["loglik"]) < 1e-6, (lme, rep["data"]["ensemble"]["loglik"]))



# 4. Pima's column names and a softmax run's class names as coordinates; ncdump -h.
def coord_and_ncdump(path, dim, want, tag):
    for e, ds in opens(path, "posterior").items():
        ok = isinstance(ds, xr.Dataset) and dim in ds.coords
        check(f"{tag}: posterior opens with a {dim} coordinate ({e})", ok, ds)
        if ok:
            got = [str(v) for v in ds[dim].values]
            check(f"{tag}: the {dim} coordinate is {want} ({e})", got == want, got)
    r = subprocess.run(["ncdump", "-h", path], capture_output=True, text=True)
    width = max(len(n.encode()) for n in want)
    decl = f"char {dim}({dim}, string{width}) ;"
    check(f"{tag}: ncdump -h exits 0 and declares '{decl}'", r.returncode == 0 and decl in r.stdout,
          r.stderr.strip() or r.stdout[:2000])


ROOT = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
pima_csv = os.path.join(ROOT, "tools", "data", "pima.csv")
with open(pima_csv, encoding="utf-8") as f:
    pima_names = [n.strip('"') for n in f.readline().strip().split(",")][:-1]
pima = os.path.join(TMP, "pima.h5")
p = run([DIST, "--model", "logreg", "--data", pima_csv, "--chains", "2", "--steps", "40", "--burnin", "10",
         "--step-size", "1e-4", "--quiet", "--output", pima], 2)
check("pima logreg run: exit 0", p.returncode == 0, p.stderr)
coord_and_ncdump(pima, "feature", pima_names, "pima")
labels = ["virg\u00ednica", "setosa", "versi, color"]
sm_csv, sm = os.path.join(TMP, "iris3.csv"), os.path.join(TMP, "softmax.h5")
with open(sm_csv, "w", encoding="utf-8") as f:
    f.write('a,"sepal, width",species\n')  # as wide as "versi, color": one string12 for both
    for i, (u, v) in enumerate(rng.normal(size=(90, 2))):
        lab = labels[i % 3]
        f.write("%.5f,%.5f,%s\n" % (u, v, '"%s"' % lab if "," in lab else lab))
p = run([DIST, "--model", "softmax", "--data", sm_csv, "--chains", "2", "--steps", "40", "--burnin", "10", "--batch-size", "30",
         "--step-size", "1e-4", "--quiet", "--output", sm], 2)
check("softmax run: exit 0", p.returncode == 0, p.stderr)
classes = sorted(labels, key=lambda n: n.encode())
coord_and_ncdump(sm, "class", classes, "softmax")
coord_and_ncdump(sm, "feature", ["a", "sepal, width"], "softmax")
attrs = xr.open_dataset(sm, engine="netcdf4").attrs
check("softmax: the root attribute class_names stays, in the same order",
      attrs.get("class_names") == "\n".join(classes), attrs.get("class_names"))

shutil.rmtree(TMP, ignore_errors=True)
print(f"{failures} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
