#!/usr/bin/python3
"""A sample file written by sgld-dist, read from the outside: h5py, `ncdump -h`, and xarray
with both the netcdf4 and h5netcdf engines.

usage: check_output.py BUILD_DIR
Runs `mpiexec -n 4 sgld-dist --model softmax --data synthetic:softmax --chains 2` (2 chains x
2 shards) into a temporary file, then checks dims, coordinates, values and attributes.
Prints one line per check and a closing 'N passed, N failed' line.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import xarray as xr

BUILD = sys.argv[1]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {detail}")


def attempt(name, fn):
    try:
        fn()
    except Exception as e:  # reported as one failed check
        check(name, False, f"{type(e).__name__}: {e}")


tmp = tempfile.mkdtemp(prefix="sgld-out-")
path = os.path.join(tmp, "run.h5")
STEPS, BURN, THIN = 1300, 300, 2
N_DRAWS = (STEPS - BURN) // THIN
cmd = ["mpiexec", "-n", "4", "--oversubscribe", os.path.join(BUILD, "sgld-dist"), "--model", "softmax",
       "--data", "synthetic:softmax", "--chains", "2", "--steps", str(STEPS), "--burnin", str(BURN),
       "--thin", str(THIN), "--step-size", "1e-3", "--batch-size", "60", "--flush-every", "64",
       "--standardize", "--quiet", "--output", path]
p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, stdin=subprocess.DEVNULL)
check("sgld-dist run exits 0", p.returncode == 0, p.stderr)
check("--quiet prints nothing", p.stdout == "" and p.stderr == "", p.stdout + p.stderr)


def with_h5py():
    with h5py.File(path, "r") as f:
        w = f["posterior/w"]
        check("h5py: posterior/w shape [chain, draw, feature, class]", w.shape == (2, N_DRAWS, 2, 3), w.shape)
        check("h5py: posterior/b shape [chain, draw, class]", f["posterior/b"].shape == (2, N_DRAWS, 3))
        for v in ("lp", "step_size"):
            check(f"h5py: sample_stats/{v} shape [chain, draw]", f["sample_stats/" + v].shape == (2, N_DRAWS))
        check("h5py: draw is unlimited", w.maxshape[1] is None, w.maxshape)
        check("h5py: step_size is the constant 1e-3", np.allclose(f["sample_stats/step_size"][()], 1e-3))
        check("h5py: no NaN/Inf draws", np.isfinite(w[()]).all() and np.isfinite(f["posterior/b"][()]).all())
        check("h5py: chains differ", not np.array_equal(w[0], w[1]))
        attrs = dict(f.attrs)
        for a in ("config", "model", "sampler", "data", "n_train", "standardize_mean", "standardize_sd",
                  "class_names", "feature_names", "inference_library"):
            check(f"h5py: root attribute {a}", a in attrs, sorted(attrs))
        cfg = attrs.get("config", b"")
        cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
        check("h5py: config attribute holds the run's keys", "step-size" in cfg and "softmax" in cfg, cfg[:200])
        return w[()]


w_h5 = None
try:
    w_h5 = with_h5py()
except Exception as e:
    check("h5py opens the file", False, e)

nc = subprocess.run(["ncdump", "-h", path], capture_output=True, text=True)
check("ncdump -h exits 0", nc.returncode == 0, nc.stderr)
for needle in ("group: posterior", "group: sample_stats", "chain = 2", "draw = UNLIMITED", "w(chain, draw,"):
    check(f"ncdump -h shows '{needle}'", needle in nc.stdout, nc.stdout[:600])

for engine in ("netcdf4", "h5netcdf"):
    def read(engine=engine):
        ds = xr.open_dataset(path, group="posterior", engine=engine)
        check(f"xarray[{engine}]: dims of w", ds["w"].dims[:2] == ("chain", "draw") and ds["w"].shape == (2, N_DRAWS, 2, 3),
              (ds["w"].dims, ds["w"].shape))
        check(f"xarray[{engine}]: chain coordinate 0..1", list(ds["chain"].values) == [0, 1])
        check(f"xarray[{engine}]: draw coordinate 0..n-1", np.array_equal(ds["draw"].values, np.arange(N_DRAWS)))
        if w_h5 is not None:
            check(f"xarray[{engine}]: values equal h5py's", np.array_equal(ds["w"].values, w_h5))
        ss = xr.open_dataset(path, group="sample_stats", engine=engine)
        check(f"xarray[{engine}]: sample_stats lp dims", ss["lp"].dims == ("chain", "draw"), ss["lp"].dims)
        ds.close()
        ss.close()
    attempt(f"xarray[{engine}] opens the file", read)

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
