#!/usr/bin/python3
"""check_layout.py - the sample file as netCDF-C (ncdump), xarray (netcdf4 and h5netcdf
engines) and h5py see it.

Usage: check_layout.py WRITE_EXAMPLE MPIEXEC
Runs write_example under `MPIEXEC -n 2` into a temporary directory, then checks the file
(the expected values are the formulas in write_example.c).  Prints one line per check and
exits non-zero if any check fails."""
import os
import subprocess
import sys
import tempfile

import numpy as np

failures = 0


def check(name, cond, detail=""):
    global failures
    print(("ok   - " if cond else "FAIL - ") + name + ("" if cond else ": " + str(detail)))
    if not cond:
        failures += 1


def attempt(name, fn):
    """Runs fn(); an exception is one failed check instead of a crash."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        check(name, False, f"{type(e).__name__}: {e}")


C, T, K = 4, 12, 3
c = np.arange(C)[:, None]
t = np.arange(T)[None, :]
expect = {
    "w": 100.0 * c[:, :, None] + t[:, :, None] + 0.25 * np.arange(K)[None, None, :] + 0.125,
    "b": (c - 0.5 * t).astype(np.float32),
    "lp": -1.5 - 0.5 * (c + 1) * t,
    "step_size": np.broadcast_to(1.0 / (t + 1), (C, T)),
}
group_vars = {"posterior": ["w", "b"], "sample_stats": ["lp", "step_size"]}
group_attrs = {
    "posterior": {"sampler": "sgld", "empty": "", "unit": "\u00b5m", "prior_scale": [0.5, 2.25]},
    "sample_stats": {"eps": 0.001},
    "/": {"inference_library": "sgld-dist", "created_by": "write_example", "seed": 20240611,
          "shape": [3, 4]},
}


def same_attr(got, want):
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    return np.array_equal(np.atleast_1d(np.asarray(got)), np.atleast_1d(np.asarray(want)))


def check_h5py(path):
    import h5py
    with h5py.File(path, "r") as f:
        check("h5py: groups posterior and sample_stats",
              "posterior" in f and "sample_stats" in f, list(f))
        w = f["posterior/w"]
        check("h5py: w is f8 [4, 12, 3], maxshape [4, None, 3]",
              w.dtype == np.float64 and w.shape == (C, T, K) and w.maxshape == (C, None, K),
              (w.dtype, w.shape, w.maxshape))
        check("h5py: w chunks [chain, chunk_draws = 5, 3]", w.chunks == (C, 5, K), w.chunks)
        check("h5py: b is f4", f["posterior/b"].dtype == np.float32, f["posterior/b"].dtype)
        names = [w.dims[i][0].name.split("/")[-1] for i in range(3)]
        check("h5py: w's dimension scales chain, draw, w_dim_0",
              names == ["chain", "draw", "w_dim_0"], names)
        draw = f["posterior/draw"]
        check("h5py: draw coordinate unlimited int64 0..11",
              draw.maxshape == (None,) and draw.dtype == np.int64
              and np.array_equal(draw[:], np.arange(T)), (draw.maxshape, draw.dtype, draw[:]))
        check("h5py: w values", np.array_equal(w[:], expect["w"]))
        ids = []
        f.visititems(lambda n, o: ids.append(int(o.attrs["_Netcdf4Dimid"]))
                     if o.attrs.get("CLASS") == b"DIMENSION_SCALE" else None)
        check("h5py: every dimension scale numbered by _Netcdf4Dimid 0..n-1, each once",
              sorted(ids) == list(range(5)), ids)  # chain, draw, w_dim_0; chain, draw
        order = list(f["posterior"])
        check("h5py: posterior holds exactly the coordinates and variables",
              sorted(order) == sorted(["chain", "draw", "w_dim_0", "w", "b"]), order)


def check_ncdump(path):
    r = subprocess.run(["ncdump", "-h", path], capture_output=True, text=True)
    check("ncdump -h exits 0", r.returncode == 0, r.stderr.strip())
    out = r.stdout
    for want in ["group: posterior", "group: sample_stats", "chain = 4 ;",
                 "draw = UNLIMITED ; // (12 currently)", "w_dim_0 = 3 ;",
                 "double w(chain, draw, w_dim_0) ;", "float b(chain, draw) ;",
                 "int64 draw(draw) ;", "double lp(chain, draw) ;", ':sampler = "sgld" ;',
                 ':empty = "" ;', ":prior_scale = 0.5, 2.25 ;", ":eps = 0.001 ;",
                 ':inference_library = "sgld-dist" ;', ":seed = 20240611LL ;",
                 ":shape = 3LL, 4LL ;"]:
        check(f"ncdump -h shows '{want}'", want in out, out)
    r = subprocess.run(["ncdump", "-v", "lp", path], capture_output=True, text=True)
    check("ncdump -v lp reads the data", r.returncode == 0 and "-1.5, -2, -2.5" in r.stdout,
          r.stderr.strip() or r.stdout[-300:])


def check_xarray(path, engine):
    import xarray as xr
    for group, names in group_vars.items():
        with xr.open_dataset(path, group=group, engine=engine) as ds:
            sizes = dict(ds.sizes)
            want = {"chain": C, "draw": T}
            if group == "posterior":
                want["w_dim_0"] = K
            check(f"xarray[{engine}] {group}: sizes {want}", sizes == want, sizes)
            check(f"xarray[{engine}] {group}: variables {names}",
                  sorted(ds.data_vars) == sorted(names), list(ds.data_vars))
            check(f"xarray[{engine}] {group}: chain and draw coordinates",
                  np.array_equal(ds["chain"].values, np.arange(C))
                  and np.array_equal(ds["draw"].values, np.arange(T)),
                  (ds["chain"].values, ds["draw"].values))
            for v in names:
                want_dims = ("chain", "draw", "w_dim_0") if v == "w" else ("chain", "draw")
                check(f"xarray[{engine}] {group}/{v}: dims {want_dims}",
                      ds[v].dims == want_dims, ds[v].dims)
                got = ds[v].values
                check(f"xarray[{engine}] {group}/{v}: values",
                      got.dtype == expect[v].dtype and np.array_equal(got, expect[v]),
                      (got.dtype, got.ravel()[:6]))
            if group == "posterior":
                check(f"xarray[{engine}] posterior: w_dim_0 coordinate",
                      np.array_equal(ds["w_dim_0"].values, np.arange(K)), ds["w_dim_0"].values)
                check(f"xarray[{engine}] w.sel(chain=2, draw=7, w_dim_0=1)",
                      float(ds["w"].sel(chain=2, draw=7, w_dim_0=1)) == 207.375,
                      float(ds["w"].sel(chain=2, draw=7, w_dim_0=1)))
            for key, want_val in group_attrs[group].items():
                got = ds.attrs.get(key)
                check(f"xarray[{engine}] {group} attribute {key} = {want_val!r}",
                      same_attr(got, want_val), repr(got))
    with xr.open_dataset(path, engine=engine) as ds:
        for key, want_val in group_attrs["/"].items():
            got = ds.attrs.get(key)
            check(f"xarray[{engine}] root attribute {key} = {want_val!r}",
                  same_attr(got, want_val), repr(got))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    writer, mpiexec = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="sgld-layout-") as tmp:
        path = os.path.join(tmp, "example.h5")
        r = subprocess.run([mpiexec, "-n", "2", "--oversubscribe", writer, path],
                           capture_output=True, text=True)
        check("write_example under mpiexec -n 2", r.returncode == 0 and os.path.exists(path),
              r.stdout + r.stderr)
        if failures:
            return 1
        attempt("h5py", lambda: check_h5py(path))
        attempt("ncdump", lambda: check_ncdump(path))
        for engine in ("netcdf4", "h5netcdf"):
            attempt(f"xarray[{engine}]", lambda: check_xarray(path, engine))
    print(f"{failures} failed check(s)" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
