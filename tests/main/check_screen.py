#!/usr/bin/python3
"""check_screen.py - what sgld-dist prints at the end of a run fits a screen, and says what it
leaves out.

  check_screen.py BUILD_DIR

  1. Every model with its defaults (its default network for mlp and cnn) through the CLI on
     2 ranks: the whole of stdout + stderr is at most 60 lines, and when the posterior summary
     is cut, its last row says how many elements were left out, out of how many, and how to
     see them (--max-rows 0; sgld-ess summary FILE).  Networks run 400 steps (burn-in 100)
     instead of the default 20000 to keep the test short, and the cnn keeps every 15th draw
     (else its draws pass the in-memory cap, case 4); everything else is the default.
  2. --max-rows 0 prints every element (the mlp's 202 rows) and --max-rows 5 five.
  3. --on-divergence shrink and skip: the divergence line's count per chain equals the last
     draw's sample_stats/divergences in the sample file and the step-size factor is 2^-count.
  4. Kept draws over the in-memory cap: the summary keeps the draws of its rows only, and the
     test-set metrics (which need every parameter) are said to be missing; with --max-rows 0
     the missing summary is said.
  5. A sample file over 1 GB: --dry-run and the run (stopped by SIGUSR1 right after its
     warning) name its size and the --thin that keeps it under 1 GB.
Prints one line per case and 'N passed, N failed'; exits non-zero on failure."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 240
SCREEN = 60
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
tmp = tempfile.mkdtemp(prefix="sgld-screen-")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {str(detail)[-1500:]}")


def run(args, ranks=2):
    cmd = [MPIEXEC, "-n", str(ranks), "--oversubscribe", EXE] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=ENV, cwd=tmp,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


# 16x16 images of 3 classes (a bright square in one of three places): the default CNN
# (conv32k5-pool2-conv64k5-pool2-fc1024-fcK) needs at least 16x16 inputs.
rng = np.random.default_rng(3)
images = os.path.join(tmp, "images.csv")
with open(images, "w") as f:
    f.write(",".join(f"p{i}" for i in range(256)) + ",label\n")
    for r in range(120):
        k = r % 3
        x = rng.normal(0, 0.3, size=(16, 16))
        x[2 + 5 * k:6 + 5 * k, 4:10] += 1.0
        f.write(",".join(f"{v:.3f}" for v in x.ravel()) + f",{k}\n")

NET = ["--steps", "400", "--burnin", "100"]
MODELS = [
    ("linreg", ["--model", "linreg"]),
    ("logreg", ["--model", "logreg", "--data", "synthetic:logreg"]),
    ("softmax", ["--model", "softmax", "--data", "synthetic:softmax"]),
    ("mlp regression", ["--model", "mlp"] + NET),
    ("mlp --task classification", ["--model", "mlp", "--task", "classification", "--data", "synthetic:softmax",
                                   "--test-fraction", "0.2"] + NET),
    # thin 15: 1.1 million parameters x 20 draws stay under the 200 MB of kept draws
    ("cnn", ["--model", "cnn", "--data", images, "--steps", "400", "--burnin", "100", "--thin", "15"]),
]
for name, args in MODELS:
    out = os.path.join(tmp, name.replace(" ", "_") + ".h5")
    p = run(args + ["--chains", "2", "--output", out])
    if p is None:
        check(f"{name}: defaults finish", False, "timed out")
        continue
    text = p.stdout + p.stderr
    lines = text.splitlines()
    check(f"{name}: defaults exit 0", p.returncode == 0, text)
    check(f"{name}: {len(lines)} lines of output, at most {SCREEN}", len(lines) <= SCREEN, text[:3000])
    check(f"{name}: prints the summary and the time", "\nposterior summary (" in p.stdout and "\ntime: " in p.stdout,
          text[:3000])
    cut = re.search(r"^\.\.\. (\d+) more of (\d+) elements not shown: --max-rows 0 prints all, "
                    r"sgld-ess summary (\S+) gives all with R-hat and ESS$", p.stdout, re.M)
    rows = [l for l in lines if re.match(r"^\w+(\[[\d,]+\])?\s+[-\d.e+]+\s+[-\d.e+]+\s+[-\d.e+]+\s+[-\d.e+]+$", l)]
    with h5py.File(out, "r") as f:
        # the [chain, draw, ...] variables, not the coordinates (`feature` is a 2-D char coordinate)
        n_elem = sum(int(np.prod(d.shape[2:])) for d in f["posterior"].values()
                     if d.ndim >= 2 and d.attrs.get("CLASS") != b"DIMENSION_SCALE")
    if n_elem > 40:
        check(f"{name}: 40 rows, then '... {n_elem - 40} more of {n_elem}' naming sgld-ess summary FILE",
              cut is not None and len(rows) == 40 and int(cut.group(1)) == n_elem - 40 and
              int(cut.group(2)) == n_elem and cut.group(3) == out, p.stdout[-1200:])
    else:
        check(f"{name}: all {n_elem} elements, no cut line", cut is None and len(rows) == n_elem, p.stdout)

# --max-rows: 0 is all, N is N.
for rows_opt, want in (("0", 202), ("5", 5)):
    p = run(["--model", "mlp", "--max-rows", rows_opt] + NET)
    rows = [l for l in (p.stdout if p else "").splitlines() if re.match(r"^fc\d_[wb]\[", l)]
    more = re.search(r"^\.\.\. (\d+) more of 202 elements", p.stdout if p else "", re.M)
    check(f"--max-rows {rows_opt}: {want} rows", p is not None and p.returncode == 0 and len(rows) == want and
          (more is None if want == 202 else int(more.group(1)) == 202 - want), p.stdout[-800:] if p else "timeout")

# Divergences: counted per chain, as the sample file records them.
for mode, step in (("shrink", "0.05"), ("skip", "1e-5")):
    out = os.path.join(tmp, f"div-{mode}.h5")
    p = run(["--chains", "2", "--steps", "3000", "--burnin", "1000", "--step-size", step, "--on-divergence", mode,
             "--output", out])
    text = p.stdout if p else ""
    with h5py.File(out, "r") as f:
        last = f["sample_stats/divergences"][:, -1].astype(int).tolist()
    line = re.search(r"^divergences \(--on-divergence %s\): (.*)$" % mode, text, re.M)
    if mode == "shrink":
        m = re.match(r"(\d+) steps? undone in (\d) of 2 chains; per chain (\d+) (\d+); final step-size factor "
                     r"per chain (\S+) (\S+)$", line.group(1) if line else "")
        ok = (m is not None and [int(m.group(3)), int(m.group(4))] == last and min(last) > 0 and
              int(m.group(1)) == sum(last) and
              [float(m.group(5)), float(m.group(6))] == [2.0 ** -c for c in last])
        check(f"--on-divergence shrink: divergences per chain {last} and step factors 2^-count reported", ok, text)
    else:
        check("--on-divergence skip without divergences: 'none'", line is not None and line.group(1) == "none"
              and last == [0, 0], text)

# Kept draws over the 200 MB cap: the summary keeps its 40 rows' draws (the same figures as
# with every draw in memory), the test-set metrics that need all are said to be missing; with
# --max-rows 0 the missing summary is said too.
FAT = ["--model", "mlp", "--net", "fc5000-fc2", "--chains", "2", "--test-fraction", "0.2", "--burnin", "500",
       "--steps", "3000"]
p = run(FAT)
text = p.stdout if p else ""
small = run(FAT[:-2] + ["--steps", "1500"])
cut = [l for l in text.splitlines() if re.match(r"^fc1_[wb]\[", l)]
check("draws over the in-memory cap: a 40-row summary and the missing test-set metrics said",
      p is not None and p.returncode == 0 and "posterior summary (5000 draws" in text and len(cut) == 40 and
      re.search(r"^\.\.\. 19962 more of 20002 elements not shown: only these rows' draws fit in memory; "
                r"with --output FILE, sgld-ess summary FILE gives them", text, re.M) and
      re.search(r"^no test-set metrics: all 0\.4 GB of draws exceed the 200 MB this program keeps in memory "
                r"\(the summary kept its rows only\); write the draws with --output FILE for sgld-ess predict$",
                text, re.M), text)
full = [l for l in (small.stdout if small else "").splitlines() if re.match(r"^fc1_[wb]\[", l)]
check("under the cap (every draw kept) the test-set line is there and the rows look alike",
      small is not None and "\ntest set (" in small.stdout and len(full) == 40 and
      [l.split()[0] for l in full] == [l.split()[0] for l in cut], small.stdout if small else "")
p = run(FAT + ["--max-rows", "0"])
text = p.stdout if p else ""
check("--max-rows 0 over the cap: the missing summary and test-set metrics are said",
      p is not None and p.returncode == 0 and "posterior summary (" not in text and
      re.search(r"^no posterior summary and no test-set metrics: its 0\.4 GB of draws exceed the 200 MB this "
                r"program keeps in memory \(--max-rows 0 asks for all; a row count keeps only those\); raise "
                r"--thin, or write them with --output FILE", text, re.M), text)

# A sample file over 1 GB: the plan and the run say so, with the --thin that keeps it below.
big = ["--model", "mlp", "--net", "fc5000-fc2", "--chains", "2", "--output", os.path.join(tmp, "big.h5")]
p = run(big + ["--dry-run"])
text = p.stdout if p else ""
mb = re.search(r"about ([\d.]+) MB of draws", text)
thin = re.search(r"^  warning          the sample file passes 1 GB: --thin (\d+) keeps it below$", text, re.M)
check("--dry-run: a 2.9 GB sample file is announced with --thin 3",
      p is not None and p.returncode == 0 and mb and 2800 < float(mb.group(1)) < 3000 and thin and
      thin.group(1) == "3", text)
proc = subprocess.Popen([MPIEXEC, "-n", "2", "--oversubscribe", EXE] + big, cwd=tmp, env=ENV, text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                        start_new_session=True)
first = proc.stderr.readline()  # the warning comes before the first step
proc.send_signal(signal.SIGUSR1)  # mpirun forwards it: the ranks stop cleanly (exit 3)
try:
    rest, _ = proc.communicate(timeout=TIMEOUT)
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    rest = ""
check("the run warns before sampling: about 2.9 GB, --thin 3",
      re.match(r"sgld-dist: warning: \S+big\.h5 will hold about 2\.9 GB of draws \(18000 per chain of 20002 "
               r"parameters\); --thin 3 keeps it under 1 GB$", first) is not None, first + rest)

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
