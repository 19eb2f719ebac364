#!/usr/bin/python3
"""tools/plot against small sample and --per-example files written here with h5py (seed 3):
every figure is written, elements are named as `sgld-ess summary` names them, the ESS figure
is on log axes, and a missing variable names the file's variables (exit status 2).

usage: check_plot.py SOURCE_DIR"""
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SOURCE = sys.argv[1]
PLOT = os.path.join(SOURCE, "tools", "plot")
tmp = tempfile.mkdtemp(prefix="sgld-plot-")
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok - " if ok else "FAIL - ") + name + ("" if ok else f": {detail}"))
    failures += not ok


def run(*args):
    return subprocess.run([PLOT] + list(args), capture_output=True, text=True, timeout=300)


rng = np.random.default_rng(3)
net = os.path.join(tmp, "net.h5")
with h5py.File(net, "w") as f:
    g = f.create_group("posterior")
    g["fc1_w"] = rng.normal(size=(2, 200, 4, 2))
    g["fc2_w"] = np.cumsum(rng.normal(size=(2, 200, 3, 4)), axis=1)
    g["chain"] = np.arange(2)
ex = os.path.join(tmp, "ex.h5")
with h5py.File(ex, "w") as f:
    conf = rng.uniform(0.34, 1, size=500)
    f["data/max_prob"] = conf
    f["data/correct"] = (rng.uniform(size=500) < conf).astype(np.int8)

p = run("trace", net, os.path.join(tmp, "t.png"))
check("a file without b: exit 2 and the variables listed",
      p.returncode == 2 and p.stderr == f"plot: {net}: no posterior variable 'b' (variables: fc1_w, "
      "fc2_w; choose one with --var)\n", p.stderr)
for args in (["trace", net, "t.png", "--var", "fc2_w"], ["ess", net, "e.png", "--var", "fc2_w", "--elem", "2,1"],
             ["reliability", ex, "r.png"]):
    out = os.path.join(tmp, args[2])
    p = run(*(args[:2] + [out] + args[3:]))
    check(f"{args[0]} writes its PNG", p.returncode == 0 and os.path.getsize(out) > 1000, p.stderr)
# the study's figures: the mESS curve per sampler and the OOD max-probability histograms
cj = os.path.join(tmp, "curve.json")
with open(cj, "w") as f:
    f.write('{"curve": [{"draws_per_chain": 10, "n": 20, "mess": 5.5, "mess_diag": 4.0}, '
            '{"draws_per_chain": 20, "n": 40, "mess": null, "mess_diag": 7.5}]}')
with h5py.File(ex, "a") as f:
    f["ood/max_prob"] = rng.uniform(0.1, 1, size=300)
    f["ood/last_max_prob"] = rng.uniform(0.5, 1, size=300)
for args in (["curve", "A=" + cj, "B=" + cj, "c.png"], ["maxprob", "SGD=" + ex, "SGLD=" + ex, "m.png", "--last", "SGD"]):
    out = os.path.join(tmp, args[3])
    p = run(*(args[:3] + [out] + args[4:]))
    check(f"{args[0]} writes its PNG", p.returncode == 0 and os.path.getsize(out) > 1000, p.stderr)
p = run("curve", cj, os.path.join(tmp, "y.png"))
check("curve without a label", p.returncode == 2 and f"'{cj}' is not LABEL=FILE" in p.stderr, p.stderr)
p = run("curve", "A=" + ex, os.path.join(tmp, "y.png"))
check("curve of a file that is not a --curve JSON", p.returncode == 2 and "no 'curve' list" in p.stderr, p.stderr)
p = run("ess", net, os.path.join(tmp, "x.png"), "--var", "fc2_w", "--elem", "3,0")
check("--elem outside the variable", p.returncode == 2 and "of shape [3,4] (12 elements)" in p.stderr, p.stderr)

# The helpers themselves, and the axes of the ESS figure.
loader = importlib.machinery.SourceFileLoader("plot", PLOT)
spec = importlib.util.spec_from_loader("plot", loader)
plot = importlib.util.module_from_spec(spec)
loader.exec_module(plot)
check("elem_name as sgld-ess", plot.elem_name("fc2_w", (3, 4), 9) == "fc2_w[2,1]"
      and plot.elem_name("b", (), 0) == "b" and plot.elem_name("w", (5,), 3) == "w[3]")
check("elem_index takes 2,1 and 9", plot.elem_index("2,1", "fc2_w", (3, 4)) == 9
      and plot.elem_index("9", "fc2_w", (3, 4)) == 9)
saved = {}
plot.plt.Figure.savefig = lambda fig, *a, **k: saved.setdefault("axes", fig.axes)
plot.ess(type("A", (), dict(file=net, out="unused.png", var="fc2_w", elem="0", steps=10))())
ax = saved["axes"][0]
check("the ESS figure is on log axes", ax.get_xscale() == "log" and ax.get_yscale() == "log")
check("the ESS figure is titled with the element", ax.get_title() == "fc2_w[0,0]", ax.get_title())
sys.exit(1 if failures else 0)
