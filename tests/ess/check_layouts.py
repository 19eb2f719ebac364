"""`sgld-ess summary` on the netCDF-4 / HDF5 layouts other programs write, and on a file still
being written.

1. The same draws (Stan's bern1-4 lp__ and theta, a float32 AR(1) vector, integers of three
   widths) are written by xarray with both engines (netcdf4, h5netcdf), with and without
   `chain`/`draw` coordinate variables (without them netCDF-4 names the dimension scales
   "This is a netCDF dimension but not a netCDF variable. N"), with w's string coordinate as
   variable-length strings or as netCDF text (char, with its placeholder dimension), in a nested group, and by
   netCDF4-python with the dimensions in the root group and the variables three groups down.
   Each layout must give exactly the JSON numbers of a plain h5py file of the same values (the
   layout the other tests use), the bern values of tests/diag/fixtures, and leave out the
   datasets that are not [chain, draw, ...] variables.
2. A file whose variables hold different draw counts (h5py, resizable datasets: what a flush
   of the writer can leave to a reader) is read at the common draw count, says so in the table,
   JSON and CSV, and gives the numbers of the same file cut to that count, at 1 and 2 ranks.
3. Bad inputs: one line naming the file and what is wrong, exit 2.

usage: check_layouts.py SGLD_ESS MPIEXEC"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import netCDF4
import numpy as np
import xarray as xr

EXE, MPIEXEC = sys.argv[1], sys.argv[2]
ROOT = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "diag", "fixtures")
TMP = tempfile.mkdtemp(prefix="sgld-ess-layouts-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, ranks=0):
    cmd = ([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks else []) + [EXE] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def summary(path, *extra):
    rc, out, err = run(["summary", path, "--json"] + list(extra))
    check(rc == 0, "%s %s: exit 0 (got %d: %s)" % (os.path.basename(path), extra, rc, err.strip()))
    return json.loads(out) if rc == 0 else {"variables": [], "multivariate": {}}


def stan_csv(i):
    rows = [l for l in open(os.path.join(FIX, "bern%d.csv" % i)) if l.strip() and not l.startswith("#")]
    return np.array([[float(v) for v in r.split(",")] for r in rows[1:]])


bern = np.array([stan_csv(i) for i in range(1, 5)])  # [chain, draw, column]
M, N = bern.shape[0], bern.shape[1]
rng = np.random.default_rng(20240917)
ar = np.zeros((M, N, 3))
for t in range(1, N):
    ar[:, t] = 0.7 * ar[:, t - 1] + rng.normal(size=(M, 3))
draws = {  # name: (values as stored, extra dims)
    "lp__": (bern[:, :, 0], ()),
    "theta": (bern[:, :, 7], ()),
    "w": (ar.astype(np.float32), ("w_dim_0",)),
    "k8": (np.round(4 * ar[:, :, 0]).astype(np.int8), ()),
    "u16": (np.round(100 * ar[:, :, 1] + 500).astype(np.uint16), ()),
    "n64": (np.round(1e6 * ar[:, :, 2]).astype(np.int64), ()),
}

# The reference: plain h5py datasets (no dimension scales), the values as stored.
ref_path = os.path.join(TMP, "ref.h5")
with h5py.File(ref_path, "w") as f:
    g = f.create_group("posterior", track_order=True)
    for name, (v, _) in draws.items():
        g[name] = v
ref = summary(ref_path)


def dataset(coords):
    """The draws as an xarray Dataset, plus datasets that are not [chain, draw, ...] variables:
    observed data over its own dimension, a [draw, chain] array, a per-chain value."""
    ds = xr.Dataset({name: (("chain", "draw") + dims, v) for name, (v, dims) in draws.items()})
    ds["y_obs"] = ("obs", np.arange(7.0))
    ds["transposed"] = (("draw", "chain"), bern[:, :, 0].T.copy())
    ds["per_chain"] = ("chain", np.arange(float(M)))
    if coords:  # ArviZ's: integer chain and draw coordinates, a string coordinate for w's dim
        ds = ds.assign_coords(chain=np.arange(M), draw=np.arange(N), w_dim_0=["a", "b", "c"])
    return ds


layouts = []
for engine in ("netcdf4", "h5netcdf"):
    for coords in (False, True):
        p = os.path.join(TMP, "%s-%s.nc" % (engine, "coords" if coords else "nocoords"))
        dataset(coords).to_netcdf(p, group="posterior", engine=engine)
        layouts.append((p, "posterior"))
# w_dim_0's names as netCDF text (char [3, string1], what sgld-dist writes for feature and class
# names) instead of variable-length strings: the placeholder dimension string1 is no variable.
for engine in ("netcdf4", "h5netcdf"):
    p = os.path.join(TMP, "%s-char.nc" % engine)
    dataset(True).to_netcdf(p, group="posterior", engine=engine, encoding={"w_dim_0": {"dtype": "S1"}})
    layouts.append((p, "posterior"))
p = os.path.join(TMP, "netcdf4-nested.nc")
dataset(False).to_netcdf(p, group="inference/run1/posterior", engine="netcdf4")
layouts.append((p, "inference/run1/posterior"))
# netCDF4-python: chain and draw defined in the root group, used three groups down.
p = os.path.join(TMP, "netcdf4-python.nc")
with netCDF4.Dataset(p, "w") as nc:
    nc.createDimension("chain", M)
    nc.createDimension("draw", None)
    nc.createDimension("w_dim_0", 3)
    g = nc.createGroup("a").createGroup("b").createGroup("c")
    for name, (v, dims) in draws.items():
        var = g.createVariable(name, v.dtype, ("chain", "draw") + dims)
        var[...] = v
    g.createVariable("other", "f8", ("w_dim_0",))[:] = [1.0, 2.0, 3.0]
layouts.append((p, "a/b/c"))

# Is the first layout what the bug was about?  Its chain scale carries netCDF's placeholder.
with h5py.File(layouts[0][0], "r") as f:
    nm = f["posterior/chain"].attrs.get("NAME", b"")
check(b"not a netCDF variable" in nm, "xarray without coordinates writes netCDF's placeholder NAME: %r" % nm)

first = {"variables": []}
want_names = [d["name"] for d in ref["variables"]]
check(want_names == ["lp__", "theta", "w[0]", "w[1]", "w[2]", "k8", "u16", "n64"], "reference variables %s" % want_names)
for path, group in layouts:
    js = summary(path, "--group", group)
    tag = "%s (--group %s)" % (os.path.basename(path), group)
    names = [d["name"] for d in js["variables"]]
    check(names == want_names, "%s: the [chain, draw, ...] variables, nothing else: %s" % (tag, names))
    check(js["variables"] == ref["variables"], "%s: every number equals the plain h5py file's" % tag)
    check(js["multivariate"] == ref["multivariate"], "%s: the multivariate part equals" % tag)
    check(js.get("draws") == N and js.get("draws_max") == N and "draws_note" not in js, "%s: draws %s" % (tag, js.get("draws")))
    if path == layouts[0][0]:
        first = js

# Published values (tests/diag/fixtures/README.md: Stan and posterior) through the xarray layout,
# to half a unit of their last digit (theta's R-hat 1.006789 is cut, not rounded: one unit).
v = {d["name"]: d for d in first["variables"]}
pub = {"lp__": dict(ess_bulk=1512.7684, ess_tail=1591.9707, rhat=1.00073, mcse_mean=0.02016),
       "theta": dict(ess_bulk=1407.5124, ess_tail=1291.7131, rhat=1.006789, mcse_mean=0.00323, mcse_sd=0.00216)}
tol = dict(ess_bulk=0.5e-4, ess_tail=0.5e-4, rhat=0.5e-5, mcse_mean=0.5e-5, mcse_sd=0.5e-5)
for name, vals in pub.items():
    for key, x in vals.items():
        tol_k = 1e-6 if (name, key) == ("theta", "rhat") else tol[key]
        check(name in v and abs(v[name][key] - x) <= tol_k, "%s %s %s vs published %s" % (name, key, v.get(name, {}).get(key), x))
# The integers are read as their values: the mean of k8 is the NumPy mean of the stored int8.
k8 = {d["name"]: d for d in ref["variables"]}["k8"]
check(abs(k8["mean"] - draws["k8"][0].astype(np.float64).mean()) < 1e-12, "int8 mean %s" % k8["mean"])

# 2. A file still being written: b flushed to 505 draws, w still at 500.
live = os.path.join(TMP, "live.h5")
cut = os.path.join(TMP, "cut.h5")
b_all = rng.normal(size=(2, 505)).cumsum(axis=1) * 0.1
w_all = rng.normal(size=(2, 505, 3)).astype(np.float32)
with h5py.File(live, "w") as f:
    g = f.create_group("posterior")
    g.create_dataset("b", data=b_all, maxshape=(2, None), chunks=(2, 64))
    g.create_dataset("w", data=w_all[:, :500], maxshape=(2, None, 3), chunks=(2, 64, 3))
with h5py.File(cut, "w") as f:
    g = f.create_group("posterior")
    g["b"] = b_all[:, :500]
    g["w"] = w_all[:, :500]
note = "read at the common 500 draws (the group's variables hold 500 to 505 draws per chain"
js, js_cut = summary(live), summary(cut)
check(js.get("draws") == 500 and js.get("draws_max") == 505 and note in js.get("draws_note", ""),
      "live file JSON: draws 500, draws_max 505, note: %s" % {k: js.get(k) for k in ("draws", "draws_max", "draws_note")})
check(js["variables"] == js_cut["variables"] and js["multivariate"] == js_cut["multivariate"],
      "live file: the numbers of the file cut to 500 draws")
jb = summary(live, "--var", "b")
check(jb.get("draws") == 500 and jb["variables"] == js_cut["variables"][:1], "live file --var b: read at the group's 500 too")
rc, out, err = run(["summary", live])
check(rc == 0 and "\n  " + note in out, "live file table says so: %r" % out[:300])
rc1, csv1, _ = run(["summary", live, "--csv"])
rc2, csv2, err2 = run(["summary", live, "--csv"], ranks=2)
check(rc1 == 0 and rc2 == 0 and csv1 == csv2, "live file CSV: 1 and 2 ranks the same bytes (%s)" % err2.strip())
check("\ndraws_max,505\n" in csv1 and '\ndraws_note,"' + note in csv1, "live file CSV rows draws_max, draws_note")

# 3. Bad inputs: one line, file and what is wrong, exit 2 (at 2 ranks: no rank hangs).
chains = os.path.join(TMP, "chains.h5")
with h5py.File(chains, "w") as f:
    g = f.create_group("posterior")
    g["a"] = rng.normal(size=(2, 50))
    g["b"] = rng.normal(size=(3, 50))
nested = [q for q, grp in layouts if grp.startswith("inference/")][0]
for k, (args, msg) in enumerate( [(["summary", nested, "--group", "inference/run2/posterior"], "%s: no group '/inference/run2/posterior'" % nested),
                  (["summary", nested, "--group", "inference/run1/posterior/theta"], "no group '/inference/run1/posterior/theta'"),
                  (["summary", chains], "%s: variable 'b' has 3 chains but 'a' has 2" % chains),
                  (["summary", layouts[0][0], "--var", "y_obs"], "no variable 'y_obs' in group 'posterior'")]):
    rc, out, err = run(args, ranks=2 if k == 2 else 0)
    check(rc == 2 and msg in err and len(err.strip().splitlines()) == 1, "%s: exit 2 and %r (got %d, %r)" % (args[1:], msg, rc, err))

if failures:
    print("%d failure(s); files kept in %s" % (len(failures), TMP))
    sys.exit(1)
shutil.rmtree(TMP)
print("all layout checks passed (%d layouts)" % len(layouts))
