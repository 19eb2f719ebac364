#!/usr/bin/python3
"""Command-line contract of sgld-dist: every bad input of issue 2, under MPI.

Each case must exit with status 2 within the timeout (no rank hangs), print exactly one line
on stderr that names the file/option, field and value, and leave no output file behind.
Also: --help tells the truth (every option of the README's list), --version, and a good run
prints the posterior summary.

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


def our_lines(stderr):
    """Non-empty stderr lines (mpiexec's own banner is off: OMPI_MCA_orte_execute_quiet=1)."""
    return [line for line in stderr.splitlines() if line.strip()]


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {detail}")


def bad(name, args, pattern, ranks=2):
    out = os.path.join(tmp, name.replace(" ", "_") + ".h5")
    if "--output" not in args:
        args = args + ["--output", out]
    else:
        out = args[args.index("--output") + 1]
    existed = os.path.exists(out)
    p = run(args + ["--steps", "50", "--burnin", "10"] if "--steps" not in args else args, ranks)
    if p is None:
        check(name, False, f"timed out after {TIMEOUT} s (a rank hung)")
        return
    lines = our_lines(p.stderr)
    problems = []
    if p.returncode != 2:
        problems.append(f"exit status {p.returncode}, want 2")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, want 1: {lines!r}")
    elif not re.search(pattern, lines[0]):
        problems.append(f"message {lines[0]!r} does not match {pattern!r}")
    if not existed and os.path.exists(out):
        problems.append(f"output file {out} left behind")
    if "core dumped" in p.stderr.lower() or "signal" in p.stderr.lower():
        problems.append("crashed: " + p.stderr[-300:])
    check(name, not problems, "; ".join(problems))


header = "a,b,c,label\n"
rows = [f"{0.1 * i:.2f},{1.5 - 0.07 * i:.3f},{(i * 7) % 5 - 2.5},{i % 2}\n" for i in range(40)]
good_rows = "".join(rows)
ok_csv = write("ok.csv", header + good_rows)
cols = write("cols.csv", header + "".join(rows[:30]) + "1.0,2.0,1\n" + "".join(rows[30:]))
nonnum = write("nonnum.csv", header + "".join(rows[:20]) + "1.0,abc,3.0,1\n")
nan = write("nan.csv", header + "1.0,2.0,nan,1\n" + good_rows)
inf = write("inf.csv", header + good_rows + "1.0,inf,3.0,0\n")
labels = write("labels.csv", header + good_rows + "1.0,2.0,3.0,2\n")
ini_badkey = write("badkey.ini", "model = linreg\nstep_size = 1e-4\n")
ini_badval = write("badval.ini", "[run]\nsteps = many\n")
existing = write("exists.h5", "not really a sample file")
os.makedirs(os.path.join(tmp, "dir.csv"), exist_ok=True)

bad("missing data file", ["--data", os.path.join(tmp, "nope.csv")], r"nope\.csv: cannot open")
bad("unreadable data file (a directory)", ["--data", os.path.join(tmp, "dir.csv")], r"dir\.csv")
bad("wrong column count", ["--data", cols, "--model", "logreg"], r"cols\.csv:32: expected 4 columns, got 3")
bad("non-number", ["--data", nonnum, "--model", "logreg"], r"nonnum\.csv:22: column 'b': 'abc' is not a number")
bad("NaN", ["--data", nan, "--model", "logreg"], r"nan\.csv:2: column 'c'.*nan")
bad("Inf", ["--data", inf, "--model", "logreg"], r"inf\.csv:42: column 'b'.*inf")
bad("class label out of range", ["--data", labels, "--model", "logreg"], r"labels\.csv:42: .*2")
bad("fewer rows than the batch size", ["--data", ok_csv, "--model", "logreg", "--batch-size", "41"],
    r"--batch-size 41 .*40 training rows")
bad("unknown model", ["--model", "mlp9"], r"unknown model 'mlp9' \(valid: linreg, logreg, softmax[,)]")
bad("unknown sampler", ["--sampler", "nuts"], r"unknown sampler 'nuts' \(valid: sgd, sgld")
bad("unknown option", ["--stpes", "10"], r"--stpes")
bad("unknown config key", ["--config", ini_badkey], r"badkey\.ini:2: unknown key 'step_size'")
bad("non-numeric value (flag)", ["--step-size", "fast"], r"--step-size.*'fast'")
bad("non-numeric value (config)", ["--config", ini_badval], r"badval\.ini:2: .*steps.*'many'")
bad("missing config file", ["--config", os.path.join(tmp, "none.ini")], r"none\.ini")
bad("chains do not divide ranks", ["--chains", "3"], r"--chains 3 does not divide the 4 MPI ranks", ranks=4)
bad("non-positive steps", ["--steps", "0"], r"--steps.*0")
bad("negative steps", ["--steps", "-5"], r"--steps.*-5")
bad("non-positive step size", ["--step-size", "0"], r"--step-size.*0")
bad("unwritable output", ["--output", os.path.join(tmp, "no/such/dir/run.h5")], r"no/such/dir/run\.h5")
bad("existing output without --force", ["--output", existing], r"exists\.h5.*--force")
check("existing output untouched", open(existing).read() == "not really a sample file")

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

# 64 ranks = 8 chains x 8 shards on this small machine (issue 2, acceptance 3).
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
