#!/usr/bin/python3
"""Command-line contract of sgld-dist, under MPI: --help tells the truth (every option of the
README's list), a good run prints the posterior summary, and 64 ranks complete.

The bad inputs (exit status 2, one stderr line naming the file, field and value, no
output file left behind) moved to the one bad-input table, tests/hardening/bad_inputs.py.

usage: test_cli.py BUILD_DIR SOURCE_DIR
Prints one line per case and a closing 'N passed, N failed' line; exits non-zero on failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD, SOURCE = sys.argv[1], sys.argv[2]
EXE = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 60
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1")

passed = failed = 0
tmp = tempfile.mkdtemp(prefix="sgld-cli-")


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(args, ranks=2):
    cmd = [MPIEXEC, "-n", str(ranks), "--oversubscribe", EXE] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=ENV,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    return p


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {detail}")


header = "a,b,c,label\n"
rows = [f"{0.1 * i:.2f},{1.5 - 0.07 * i:.3f},{(i * 7) % 5 - 2.5},{i % 2}\n" for i in range(40)]
ok_csv = write("ok.csv", header + "".join(rows))

# --help tells the truth: every option of the contract, the SGLD update and exit statuses.
p = run(["--help"], ranks=1)
help_text = p.stdout if p else ""
for opt in ["--config", "--model", "--noise-sd", "--prior-sd", "--data", "--test-data", "--standardize",
            "--test-fraction", "--sampler", "--chains", "--steps", "--burnin", "--thin", "--batch-size",
            "--seed", "--step-size", "--step-b", "--step-gamma", "--temperature", "--output", "--force",
            "--quiet", "--progress", "--flush-every"]:
    check(f"--help lists {opt}", opt in help_text, "missing")
check("--help states the SGLD update",
      "theta <- theta + (eps_t / 2) (grad log p(theta) + (N / B) sum_batch grad log p(y|x, theta)) + N(0, eps_t T I)"
      in help_text, "update equation missing")
check("--help exits 0 with one copy", p is not None and p.returncode == 0 and help_text.count("--batch-size") >= 1)

# A good run at 4 ranks, 2 chains x 2 shards, writes a file and prints the summary.
out = os.path.join(tmp, "good.h5")
p = run(["--model", "logreg", "--data", ok_csv, "--chains", "2", "--steps", "400", "--burnin", "100",
         "--batch-size", "10", "--step-size", "1e-3", "--output", out], ranks=4)
check("good run exits 0", p is not None and p.returncode == 0, p.stderr if p else "timeout")
check("good run prints the posterior summary", p is not None and "posterior summary" in p.stdout
      and re.search(r"^w\[2\]\s", p.stdout, re.M) is not None, p.stdout if p else "")
check("good run writes the file", os.path.exists(out))

# --log-view: every named event, with counts over the 300 steps of 2 chains x 2 shards.
p = run(["--chains", "2", "--steps", "300", "--burnin", "100", "--log-view", "--quiet"], ranks=4)
table = p.stdout if p else ""
for ev in ("batch", "gradient", "allreduce", "update", "noise", "sync", "I/O", "checkpoint", "monitor"):
    check(f"--log-view shows '{ev}'", any(line.split()[:1] == [ev] for line in table.splitlines()), table[-800:])
rows = {line.split()[0]: line.split() for line in table.splitlines() if line.split()}
check("--log-view counts 300 gradient calls and allreduces on 2 shards",
      rows.get("gradient", [None, None])[1] == "300" and rows.get("allreduce", [None, None])[1] == "300",
      table[-800:])

# A short trial run needs no --burnin: the default is clipped to steps / 10 and the header says so.
p = run(["--steps", "1e1"], ranks=1)
check("--steps 1e1 without --burnin runs with burn-in 1, said in the header",
      p is not None and p.returncode == 0 and "10 steps (burn-in 1 = steps / 10, as the default 2000 is "
      "not below --steps, thin 1)" in p.stdout and "(9 draws: 1 chain x 9)" in p.stdout,
      (p.stdout + p.stderr) if p else "timeout")

# The summary shows what the sample file keeps: --save-params fc2 prints fc2's tensors only.
p = run(["--model", "mlp", "--net", "fc3-fc1", "--data", "synthetic:linreg", "--steps", "200",
         "--burnin", "100", "--save-params", "fc2"], ranks=1)
names = [line.split()[0] for line in (p.stdout if p else "").splitlines()
         if re.match(r"^fc\d_[wb]", line)]
check("--save-params fc2: the summary prints fc2 only",
      p is not None and p.returncode == 0 and names and all(n.startswith("fc2_") for n in names)
      and "fc2_w[0,0]" in names and "fc2_b[0]" in names, (p.stdout + p.stderr) if p else "timeout")

# 64 ranks = 8 chains x 8 shards on this small machine.
out = os.path.join(tmp, "wide.h5")
cmd = [MPIEXEC, "-n", "64", "--oversubscribe", EXE, "--chains", "8", "--steps", "300", "--burnin", "100",
       "--output", out, "--quiet"]
try:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV, stdin=subprocess.DEVNULL)
    check("64 ranks, 8 chains x 8 shards completes", p.returncode == 0 and os.path.exists(out), p.stderr[-500:])
except subprocess.TimeoutExpired:
    check("64 ranks, 8 chains x 8 shards completes", False, "timed out after 300 s")

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
