#!/usr/bin/python3
"""The plug-in loader end to end (the refusals are rows of the bad-input table):

  - --plugin, the INI key `plugin` and SGLD_PLUGIN_PATH (a directory) each load the test
    plug-in, whose model and sampler then run like built-in ones (--help-model shows its
    option rows); one file named twice (by two paths) is loaded once;
  - the sample file records the plug-in's absolute path (`plugins`, and the `plugin` key of
    its `config`) and the ABI number (`plugin_abi`);
  - sgld-ess predict reloads the recorded plug-in by itself; when the file has moved it says
    which model needs which plug-in, and --plugin NEW_PATH replaces it.

usage: check_plugin.py BUILD_DIR
Prints one line per check and a closing 'N passed, N failed' line.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py

BUILD = os.path.abspath(sys.argv[1])
DIST = os.path.join(BUILD, "sgld-dist")
ESS = os.path.join(BUILD, "sgld-ess")
GOOD = os.path.join(BUILD, "tests", "plugin", "plug_good.so")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")
ENV.pop("SGLD_PLUGIN_PATH", None)
RUN = ["--steps", "400", "--burnin", "100", "--quiet"]
SOURCE = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
with open(os.path.join(SOURCE, "include", "sgld", "version.h")) as f:
    ABI = int(re.search(r"^#define SGLD_ABI_VERSION (\d+)$", f.read(), re.M).group(1))
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    print(("ok - " if ok else "FAIL - ") + what + ("" if ok else f": {detail}"))
    passed += ok
    failed += not ok


def run(args, env=None, ranks=1, prog=DIST):
    cmd = ["mpiexec", "-n", str(ranks), "--oversubscribe", prog] + args
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, timeout=120)


tmp = tempfile.mkdtemp(prefix="sgld-plugin-")
os.chdir(tmp)

r = run(["--plugin", GOOD, "--help-model", "plugtest"])
check(r.returncode == 0 and "--plugtest-noise-sd SD" in r.stdout, "--help-model lists the plug-in's option",
      r.stdout + r.stderr)

r = run(["--plugin", GOOD, "--model", "plugtest", "--plugtest-noise-sd", "0.4", "--output", "a.h5"] + RUN, ranks=2)
check(r.returncode == 0, "a plug-in model runs at 2 ranks", r.stderr)
with h5py.File("a.h5") as f:
    attrs = dict(f.attrs)
    config = attrs["config"].decode() if isinstance(attrs["config"], bytes) else attrs["config"]
    plugins = attrs.get("plugins", b"")
    plugins = plugins.decode() if isinstance(plugins, bytes) else plugins
    check(plugins == os.path.realpath(GOOD), "the sample file records the plug-in's path", plugins)
    check(int(attrs.get("plugin_abi", 0)) == ABI, "the sample file records the ABI number",
          attrs.get("plugin_abi"))
    check(f'plugin = "{os.path.realpath(GOOD)}"' in config and "plugtest-noise-sd = 0.4" in config,
          "the recorded configuration names the plug-in and its option", config[:400])
    n_draws = f["posterior"]["w"].shape[1]
check(n_draws == 300, "the plug-in run kept its draws", n_draws)

r = run(["--plugin", GOOD, "--model", "plugtest", "--sampler", "plugtest-sgd", "--output", "b.h5"] + RUN)
check(r.returncode == 0, "a plug-in sampler runs", r.stderr)

os.symlink(GOOD, "alias.so")
r = run(["--plugin", GOOD, "--plugin", "alias.so", "--model", "plugtest"] + RUN)
check(r.returncode == 0, "one file named twice is loaded once", r.stderr)

with open("run.ini", "w") as f:
    f.write(f"plugin = {GOOD}\nmodel = plugtest\nplugtest-noise-sd = 0.3\n")
r = run(["--config", "run.ini"] + RUN)
check(r.returncode == 0, "the INI key `plugin` loads it before its option is read", r.stderr)

os.mkdir("plugdir")
shutil.copy(GOOD, os.path.join("plugdir", "plug_good.so"))
r = run(["--model", "plugtest"] + RUN, env=dict(ENV, SGLD_PLUGIN_PATH="/nonexistent-dir:" + os.path.abspath("plugdir")))
check(r.returncode != 0, "a missing SGLD_PLUGIN_PATH directory is an error", r.stderr)
r = run(["--model", "plugtest"] + RUN, env=dict(ENV, SGLD_PLUGIN_PATH=os.path.abspath("plugdir")))
check(r.returncode == 0, "SGLD_PLUGIN_PATH's directory is loaded", r.stderr)

r = run(["predict", "a.h5", "--data", "synthetic:linreg"], prog=ESS, ranks=2)
check(r.returncode == 0 and "RMSE" in r.stdout.upper(), "sgld-ess predict reloads the recorded plug-in",
      r.stdout + r.stderr)

os.makedirs("moved")
shutil.copy(GOOD, "moved/good.so")
shutil.copy(GOOD, "local.so")
r = run(["--plugin", "local.so", "--model", "plugtest", "--output", "c.h5"] + RUN)
os.remove("local.so")
r = run(["predict", "c.h5", "--data", "synthetic:linreg"], prog=ESS)
check(r.returncode == 2 and "model 'plugtest' comes from a plug-in that cannot be loaded" in r.stderr
      and "local.so" in r.stderr, "a moved plug-in: predict names the model and the path", r.stderr)
r = run(["predict", "c.h5", "--data", "synthetic:linreg", "--plugin", "moved/good.so"], prog=ESS)
check(r.returncode == 0, "predict --plugin replaces a moved plug-in", r.stderr)

# The checkpoint records the plug-ins and the ABI (a comment, not compared), so a run resumes
# with its plug-in at another path.
shutil.copy(GOOD, "ck_plugin.so")
r = run(["--plugin", "ck_plugin.so", "--model", "plugtest", "--output", "ck.h5", "--checkpoint", "ck",
         "--checkpoint-every", "100"] + RUN)
text = open("ck", "rb").read()
check(r.returncode == 0 and f"# plug-ins (ABI {ABI}): {os.path.realpath('ck_plugin.so')}".encode() in text,
      "the checkpoint records the plug-in's path and ABI", r.stderr)
r = run(["--plugin", "moved/good.so", "--model", "plugtest", "--output", "ck.h5", "--checkpoint", "ck",
         "--resume", "--steps", "500", "--burnin", "100", "--quiet"])
check(r.returncode == 0, "--resume with the plug-in at another path", r.stderr)

# The shipped example sampler, through the loader.
MY_SAMPLER = os.path.join(BUILD, "tools", "examples", "my_sampler.so")
with open("M.txt", "w") as f:
    f.write("1\n0.5\n")
r = run(["--plugin", MY_SAMPLER, "--sampler", "diag-sgld", "--precond-file", "M.txt"] + RUN, ranks=2)
check(r.returncode == 0, "the example sampler plug-in runs at 2 ranks", r.stderr)
with open("M.txt", "w") as f:
    f.write("1\n-2\n")
r = run(["--plugin", MY_SAMPLER, "--sampler", "diag-sgld", "--precond-file", "M.txt"] + RUN, ranks=2)
check(r.returncode == 2 and "M.txt:2" in r.stderr and "'-2'" in r.stderr,
      "a bad preconditioner value: file, line and value", r.stderr)

# The shipped Poisson model through the loader: the gradient check, a run, and sgld-ess
# predict's Poisson test log-likelihood.
POISSON = os.path.join(BUILD, "tools", "examples", "poisson.so")
import numpy as np
rng = np.random.default_rng(3)
X = rng.normal(size=(600, 2))
y = rng.poisson(np.exp(0.3 + X @ np.array([0.5, -0.4])))
with open("counts.csv", "w") as f:
    f.write("a,b,count\n" + "".join(f"{a:.6f},{b:.6f},{c}\n" for (a, b), c in zip(X, y)))
r = run(["--plugin", POISSON, "--model", "poisson", "--data", "counts.csv", "--check-gradient"], ranks=2)
check(r.returncode == 0 and "loglik" in r.stdout, "--check-gradient passes on the Poisson plug-in", r.stdout + r.stderr)
r = run(["--plugin", POISSON, "--model", "poisson", "--data", "counts.csv", "--test-fraction", "0.2",
         "--steps", "3000", "--burnin", "500", "--step-size", "1e-4", "--output", "p.h5", "--quiet"], ranks=2)
check(r.returncode == 0, "a Poisson plug-in run at 2 ranks", r.stderr)
r = run(["predict", "p.h5", "--data", "test-split", "--json"], prog=ESS, ranks=2)
import json
from math import lgamma
ok, detail = False, (r.stdout + r.stderr)[:600]
if r.returncode == 0:
    ens = json.loads(r.stdout)["data"]["ensemble"]
    with h5py.File("p.h5") as f:
        w = f["posterior"]["w"][0].astype(np.float64)   # [draw, feature]
        b = f["posterior"]["b"][0].astype(np.float64)   # [draw]
        rows = f["test_row"][:]
    Xt, yt = X[rows].astype(np.float32).astype(np.float64), y[rows]
    eta = Xt @ w.T + b                                   # [row, draw]
    logp = yt[:, None] * eta - np.exp(eta) - np.array([lgamma(k + 1) for k in yt])[:, None]
    m = logp.max(axis=1, keepdims=True)
    ll = float(np.mean(m[:, 0] + np.log(np.mean(np.exp(logp - m), axis=1))))
    rmse = float(np.sqrt(np.mean((np.exp(eta).mean(axis=1) - yt) ** 2)))
    ok = abs(ens["loglik"] - ll) < 1e-4 and abs(ens["rmse"] - rmse) < 1e-4 * max(1, rmse)
    detail = f"predict loglik {ens['loglik']:.6f} rmse {ens['rmse']:.6f}, numpy {ll:.6f} {rmse:.6f}"
check(ok, "sgld-ess predict's Poisson log-likelihood and RMSE match numpy on the draws", detail)

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
