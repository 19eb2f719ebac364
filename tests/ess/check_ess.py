"""End-to-end tests of `sgld-ess summary`: sample files written with h5py, every bad input with
its exit status and message, the three output formats against the reference
values of tests/diag/fixtures, and the MPI split (output byte-identical for 1, 2, 4 ranks).

usage: check_ess.py SGLD_ESS MPIEXEC"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

EXE, MPIEXEC = sys.argv[1], sys.argv[2]
ROOT = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "diag", "fixtures")
TMP = tempfile.mkdtemp(prefix="sgld-ess-test-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, ranks=0):
    cmd = ([MPIEXEC, "-n", str(ranks), "--oversubscribe"] if ranks else []) + [EXE] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def stan_csv(i):
    rows = [l for l in open(os.path.join(FIX, "bern%d.csv" % i)) if l.strip() and not l.startswith("#")]
    return np.array([[float(v) for v in r.split(",")] for r in rows[1:]])


def write(path, group="posterior", **vars_):
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for k, v in vars_.items():
            g[k] = v
    return path


bern = np.array([stan_csv(i) for i in range(1, 5)])
fb = write(os.path.join(TMP, "bern.h5"), lp__=bern[:, :, 0], theta=bern[:, :, 7].astype(np.float32).astype(np.float64))
fb64 = write(os.path.join(TMP, "bern64.h5"), lp__=bern[:, :, 0], theta=bern[:, :, 7])

# 1. JSON against the fixture values (posterior / Stan).
rc, out, err = run(["summary", fb64, "--json"])
check(rc == 0, "bern json exit 0 (got %d: %s)" % (rc, err))
js = json.loads(out)
v = {d["name"]: d for d in js["variables"]}
ref = {"lp__": dict(ess_bulk=1512.7684, ess_tail=1591.9707, rhat=1.00073, mcse_mean=0.02016, mcse_sd=0.03553),
       "theta": dict(ess_bulk=1407.5124, ess_tail=1291.7131, rhat=1.006789, mcse_mean=0.00323, mcse_sd=0.00216)}
for name, r in ref.items():
    check(abs(v[name]["ess_bulk"] - r["ess_bulk"]) < 1e-3, "%s ess_bulk %s" % (name, v[name]["ess_bulk"]))
    check(abs(v[name]["ess_tail"] - r["ess_tail"]) < 1e-3, "%s ess_tail %s" % (name, v[name]["ess_tail"]))
    check(abs(v[name]["rhat"] - r["rhat"]) < 1e-5, "%s rhat %s" % (name, v[name]["rhat"]))
    check(abs(v[name]["mcse_mean"] - r["mcse_mean"]) < 1e-5, "%s mcse_mean" % name)
    x = bern[:, :, 0 if name == "lp__" else 7]
    check(abs(v[name]["mean"] - x.mean()) <= 1e-9 * abs(x.mean()), "%s mean (10 significant digits)" % name)
    check(abs(v[name]["q5"] - np.quantile(x, 0.05)) < 1e-9, "%s q5 type 7" % name)
# mcse_sd: theta's listed 0.00216 is posterior's rule (the default), lp__'s 0.03553 Stan's
# (--mcse-sd-rule stan); tests/diag/fixtures/README.md.  Half a unit of the listed last digit.
check(js["mcse_sd_rule"] == "posterior" and abs(v["theta"]["mcse_sd"] - 0.00216) < 5e-6,
      "theta mcse_sd, posterior's rule %s" % v["theta"]["mcse_sd"])
rc, out, err = run(["summary", fb64, "--json", "--mcse-sd-rule", "stan"])
vs = {d["name"]: d for d in json.loads(out)["variables"]} if rc == 0 else {}
check(rc == 0 and json.loads(out)["mcse_sd_rule"] == "stan" and abs(vs["lp__"]["mcse_sd"] - 0.03553) < 5e-6,
      "lp__ mcse_sd, --mcse-sd-rule stan: %s" % err)
check(all(k in v["theta"] for k in ("mcse_q5", "mcse_q50", "mcse_q95")), "JSON has mcse_q5, mcse_q50, mcse_q95")
mv = js["multivariate"]
for key in ("p", "n", "chains", "mess", "method", "batch_size", "min_ess", "mess_diag"):
    check(key in mv, "multivariate has " + key)
check(mv["p"] == 2 and mv["n"] == 4000 and mv["chains"] == 4, "multivariate p, n, chains")

# 2. Table and CSV.
rc, out, err = run(["summary", fb64])
check(rc == 0 and "ess_bulk" in out and "1513" in out and "verdict" in out and "diagonal approximation" in out,
      "table output")
rc, out, err = run(["summary", fb64, "--csv", "--var", "theta"])
lines = out.splitlines()
check(rc == 0 and lines[0].startswith("variable,mean,sd,q5,q50,q95") and lines[1].startswith('"theta"'), "csv output")
check(any(l.startswith("mess,") for l in lines), "csv multivariate rows")

# 3. The VAR(1) fixture: seed 1's per-chain mESS is mcmcse's multiESS (lugsail, b = 70).
V = np.array([np.loadtxt(os.path.join(FIX, "var1_p3_n5000_seed%d.csv" % s), delimiter=",") for s in range(1, 5)])
fv = write(os.path.join(TMP, "var1.h5"), x=V)
rc, out, err = run(["summary", fv, "--json"])
mv = json.loads(out)["multivariate"]
check(rc == 0 and abs(mv["mess_per_chain"][0] - 1118.724792) / 1118.724792 < 1e-3, "VAR(1) seed 1 mESS %s" % mv.get("mess_per_chain"))
rc, out, err = run(["summary", fv, "--json", "--mess-method", "bm", "--batch-size", "70"])
check(rc == 0 and json.loads(out)["multivariate"]["method"] == "bm", "--mess-method bm")
for meth in ("obm", "bartlett"):
    rc, out, err = run(["summary", fv, "--json", "--mess-method", meth])
    check(rc == 0 and json.loads(out)["multivariate"]["method"] == meth, "--mess-method " + meth)

# 4. Bad input: one line naming file/field/value, exit 2.
notfile = os.path.join(TMP, "plain.txt")
open(notfile, "w").write("hello\n")
nopost = write(os.path.join(TMP, "nopost.h5"), group="other", a=np.zeros((2, 10)))
short = write(os.path.join(TMP, "short.h5"), a=np.random.default_rng(1).normal(size=(2, 3)))
rng = np.random.default_rng(7)
wide = write(os.path.join(TMP, "wide.h5"), w=rng.normal(size=(2, 50, 60)))
cases = [
    (["summary", notfile], "not an HDF5 file"),
    (["summary", os.path.join(TMP, "missing.h5")], "cannot open"),
    (["summary", nopost], "no group"),
    (["summary", fb64, "--var", "nope"], "no variable 'nope'"),
    (["summary", short], "3 draws per chain, need at least 4"),
    (["summary", wide], "--project"),
    (["summary", fb64, "--mess-method", "xyz"], "'xyz'"),
    (["summary", fb64, "--mcse-sd-rule", "r"], "--mcse-sd-rule: must be posterior or stan, got 'r'"),
    (["summary", fb64, "--batch-size", "0"], "--batch-size"),
    (["summary", fb64, "--project", "abc"], "--project"),
    (["frobnicate", fb64], "unknown subcommand"),
    (["summary"], "missing FILE"),
]
for args, msg in cases:
    rc, out, err = run(args)
    check(rc == 2, "%s: exit 2 (got %d)" % (args, rc))
    check(msg in err and len(err.strip().splitlines()) >= 1, "%s: message %r in %r" % (args, msg, err))
rc, out, err = run(["--help"])
check(rc == 0 and "--project" in out and "exit status" in out, "--help")
check("sgld-ess predict FILE --data TEST" in out and "predict --help" in out, "--help names predict")
version = next(l.split("'")[1] for l in open(os.path.join(ROOT, "meson.build")) if l.strip().startswith("version"))
for args in (["--version"], ["-V"], ["summary", "--version"]):
    rc, out, err = run(args)
    check(rc == 0 and out == "sgld-ess %s\n" % version, "%s prints the project version: %r" % (args, out))
# Long options are spelled out, as sgld-dist's (getopt_long would take --jso for --json).
for args, msg in [(["summary", fb64, "--jso"], "unknown option '--jso' (did you mean '--json'?)"),
                  (["summary", "--max-row=5", fb64], "unknown option '--max-row' (did you mean '--max-rows'?)"),
                  (["summary", fb64, "--bl", "5"], "unknown option '--bl'"),
                  (["predict", fb64, "--dat", "x.csv"], "unknown option '--dat' (did you mean '--data'?)")]:
    rc, out, err = run(args)
    check(rc == 2 and err == "sgld-ess: %s\n" % msg, "%s: exit 2 and %r (got %d, %r)" % (args, msg, rc, err))
# An option's value that looks like an option is a value, not a misspelling.
rc, out, err = run(["summary", fb64, "--var", "--theta"])
check(rc == 2 and "no variable '--theta'" in err, "--var --theta is a value: %r" % err)

# NaN draws: reported with variable, chain and draw; diagnostics NaN; exit 0.
w = rng.normal(size=(3, 40, 2, 2))
w[1, 17, 1, 0] = np.nan
fnan = write(os.path.join(TMP, "nan.h5"), w=w)
rc, out, err = run(["summary", fnan, "--json"])
check(rc == 0, "NaN file exit 0")
check("variable 'w[1,0]': non-finite draw at chain 1, draw 17" in err, "NaN message: %r" % err)
d = {x["name"]: x for x in json.loads(out)["variables"]}
check(d["w[1,0]"]["ess_bulk"] is None and d["w[0,0]"]["ess_bulk"] is not None, "NaN element is null")

# A constant element (one value per chain: a fixed step size in sample_stats) has no variance
# for the batch-means covariance: the mESS skips it, says so, and equals the mESS without it.
a = rng.normal(size=(2, 400, 2))
fconst = write(os.path.join(TMP, "const.h5"), group="sample_stats", a=a,
               c=np.array([np.full(400, 1e-3), np.full(400, 2e-3)]))
fnoconst = write(os.path.join(TMP, "noconst.h5"), group="sample_stats", a=a)
rc, out, err = run(["summary", fconst, "--group", "sample_stats"])
check(rc == 0 and "  skipped 1 constant element (one value in every draw of a chain; no variance to "
      "estimate): the mESS is of the other 2\n" in out and "minESS(p = 2," in out, "constant element: %r" % out)
mv_c = json.loads(run(["summary", fconst, "--group", "sample_stats", "--json"])[1])["multivariate"]
mv_n = json.loads(run(["summary", fnoconst, "--group", "sample_stats", "--json"])[1])["multivariate"]
check(mv_c["skipped_constant"] == 1 and mv_n["skipped_constant"] == 0, "skipped_constant in JSON")
check(mv_c["mess"] == mv_n["mess"] and mv_c["min_ess"] == mv_n["min_ess"]
      and mv_c["mess_diag"] == mv_n["mess_diag"], "constant element: mESS as without it: %r %r" % (mv_c, mv_n))
rc, out, err = run(["summary", fconst, "--group", "sample_stats", "--var", "c"])
check(rc == 0 and "verdict: mESS not available: every element is constant" in out, "only constant: %r" % out)

# 5. Projections and PCA for p >= batches.
rc, out, err = run(["summary", wide, "--project", "3", "--json", "--seed", "5"])
mv = json.loads(out)["multivariate"] if rc == 0 else {}
check(rc == 0 and mv.get("projection", {}).get("mess") is not None and mv.get("pca", {}).get("mess") is not None,
      "--project gives projection and PCA mESS: %s %s" % (err, mv))

# 6. MPI split: byte-identical output for 1, 2, 4 ranks (table, JSON, --project).
big = write(os.path.join(TMP, "mpi.h5"), w=rng.normal(size=(4, 200, 7, 3)).cumsum(axis=1) * 0.1,
            b=rng.normal(size=(4, 200)))
for args in (["summary", big, "--max-rows", "0"], ["summary", big, "--json", "--block", "4"],
             ["summary", big, "--project", "4", "--csv", "--block", "5"]):
    rc0, ref_out, err0 = run(args)
    check(rc0 == 0, "serial %s: %s" % (args, err0))
    for ranks in (1, 2, 4):
        rc, out, err = run(args, ranks)
        check(rc == 0 and out == ref_out, "mpiexec -n %d %s: identical output (rc %d) %s" % (ranks, args[2:], rc, err))

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all sgld-ess checks passed")
