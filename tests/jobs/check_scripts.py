#!/usr/bin/python3
"""check_scripts.py - the job scripts' own logic, without a SLURM cluster.

  check_scripts.py SOURCE_ROOT BUILD_ROOT [SGLD_ESS]

  1. jobs/ini-get reads a key as sgld-dist does (quotes, comments, sections, the last line
     wins) and jobs/draws-path picks --output, then the INI's output key, then
     RUN_DIR/samples.h5, relative to the current directory;
  2. jobs/submit (with a stand-in sbatch that records its arguments) says on stderr where the
     draws go and why, and points the diagnostics job at that file;
  3. jobs/sgld.sbatch run as a plain script (2 ranks through mpiexec, no requeue) writes the
     draws where the INI's output key says, not to RUN_DIR/samples.h5; re-run with more
     steps it resumes and completes the longer run, re-run unchanged it has nothing to do,
     and with another seed it is refused, saying how to start afresh;
  4. jobs/ess.sbatch on a network's sample file (more parameters than batches) chooses
     --project 10 by itself, says so and writes summary.txt and summary.json; with an explicit
     --project it does not retry.
Prints one line per case and 'N passed, N failed'; exits non-zero on failure."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py

SRC, BUILD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ESS = sys.argv[3] if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else None
DIST = os.path.join(BUILD, "sgld-dist")
TMP = tempfile.mkdtemp(prefix="sgld-jobs-")
ENV = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1",
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
for k in [k for k in ENV if k.startswith("SLURM_") or k.startswith("SGLD_")]:
    del ENV[k]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {str(detail)[-1500:]}")


def sh(cmd, env=None, cwd=TMP, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


JOBS = os.path.join(SRC, "jobs")

# 1. ini-get and draws-path
ini = write("a.ini", "\ufeffsteps = 5\n[output]\n; output = commented.h5\noutput = \"my dir/x.h5\"  # the file\n")
p = sh([os.path.join(JOBS, "ini-get"), "output", ini])
check("ini-get: a quoted value with a comment after it", p.returncode == 0 and p.stdout == "my dir/x.h5", p)
last = write("b.ini", "output = first.h5\noutput = second.h5 ; the last wins\nsteps = 7\n")
p = sh([os.path.join(JOBS, "ini-get"), "output", last])
check("ini-get: the last line wins, a ; comment is cut", p.stdout == "second.h5", p)
p = sh([os.path.join(JOBS, "ini-get"), "output", os.path.join(JOBS, "configs", "pima-logreg.ini")])
check("ini-get: an absent key is empty", p.returncode == 0 and p.stdout == "", p)
p = sh([os.path.join(JOBS, "draws-path"), last, "/r"])
check("draws-path: the INI's output, from the current directory",
      p.stdout.splitlines() == [os.path.join(TMP, "second.h5"), "the output key of %s" % last], p)
p = sh([os.path.join(JOBS, "draws-path"), last, "/r", "--seed", "3", "--output", "/abs/f.h5"])
check("draws-path: --output on the command line wins",
      p.stdout.splitlines() == ["/abs/f.h5", "--output on the command line"], p)
p = sh([os.path.join(JOBS, "draws-path"), os.path.join(JOBS, "configs", "pima-logreg.ini"), "/r"])
check("draws-path: no output anywhere: RUN_DIR/samples.h5",
      p.stdout.splitlines()[:1] == ["/r/samples.h5"] and "sets no output" in p.stdout, p)

# 2. jobs/submit with a stand-in sbatch
bindir = os.path.join(TMP, "bin")
os.makedirs(bindir)
calls = os.path.join(TMP, "sbatch-calls")
with open(os.path.join(bindir, "sbatch"), "w") as f:
    f.write("#!/bin/sh\n# records its arguments, one call per line, and answers a job id\n"
            "echo \"$*\" >> %s\nn=$(wc -l < %s)\necho \"$((100 + n));cluster\"\n" % (calls, calls))
os.chmod(os.path.join(bindir, "sbatch"), 0o755)
cfg = write("tiny.ini", "model = linreg\nchains = 2\nsteps = 600\nburnin = 100\nquiet = true\n"
                        "output = \"out/tiny draws.h5\"\n")
os.makedirs(os.path.join(TMP, "out"))
env = dict(ENV, PATH=bindir + ":" + ENV["PATH"], SGLD_RUN_DIR=os.path.join(TMP, "run"))
p = sh([os.path.join(JOBS, "submit"), cfg], env=env, cwd=SRC)
want = os.path.join(SRC, "out/tiny draws.h5")
lines = open(calls).read().splitlines() if os.path.exists(calls) else []
check("submit: stdout is 'run ID' and 'ess ID'", p.returncode == 0 and p.stdout.splitlines() == ["run 101", "ess 102"], p)
check("submit: says where the draws go and why",
      "submit: draws go to %s (the output key of %s)" % (want, cfg) in p.stderr, p.stderr)
check("submit: the diagnostics job reads that file", len(lines) == 2 and lines[1].endswith("jobs/ess.sbatch " + want),
      lines)

# 3. jobs/sgld.sbatch as a plain script: the INI's output key is honoured
run_dir = os.path.join(TMP, "run3")
env = dict(ENV, SGLD_ROOT=SRC, SGLD_DIST=DIST, SGLD_RUN_DIR=run_dir, SLURM_NTASKS="2", SGLD_NO_REQUEUE="1",
           SGLD_LAUNCH="mpiexec -n 2 --oversubscribe")
p = sh(["bash", os.path.join(JOBS, "sgld.sbatch"), cfg], env=env)
got = os.path.join(TMP, "out", "tiny draws.h5")
check("sgld.sbatch: the run completes", p.returncode == 0, p.stdout + p.stderr)
check("sgld.sbatch: the draws go to the INI's output, not RUN_DIR/samples.h5",
      os.path.exists(got) and not os.path.exists(os.path.join(run_dir, "samples.h5")) and
      os.path.exists(os.path.join(run_dir, "run.ckpt")), os.listdir(run_dir) if os.path.isdir(run_dir) else p.stdout)
check("sgld.sbatch: the log says where and why",
      "sgld.sbatch: draws go to %s (the output key of %s)" % (got, cfg) in p.stdout and
      ("complete: " + got) in p.stdout, p.stdout)

# 3b. Re-submitting a changed config: a longer run resumes and completes, the same again has
# nothing to do, another seed is refused with how to start afresh.
with open(cfg) as f:
    text = f.read()
with open(cfg, "w") as f:
    f.write(text.replace("steps = 600", "steps = 900"))
p = sh(["bash", os.path.join(JOBS, "sgld.sbatch"), cfg], env=env)
with h5py.File(got, "r") as f:
    n = f["posterior/w"].shape[1]
check("sgld.sbatch: a config with more steps resumes and completes the longer run",
      p.returncode == 0 and "resuming from" in p.stdout and n == 800, "%d draws; %s" % (n, p.stdout + p.stderr))
p = sh(["bash", os.path.join(JOBS, "sgld.sbatch"), cfg], env=env)
check("sgld.sbatch: the same config again has nothing to do",
      p.returncode == 0 and "nothing to do: the run is complete" in p.stdout, p.stdout + p.stderr)
with open(cfg, "a") as f:
    f.write("seed = 9\n")
p = sh(["bash", os.path.join(JOBS, "sgld.sbatch"), cfg], env=env)
check("sgld.sbatch: another seed is refused, saying how to start afresh",
      p.returncode == 2 and "seed = 1 in the checkpoint but 9 now" in p.stdout + p.stderr and
      "remove %s to start afresh" % os.path.join(run_dir, "run.ckpt") in p.stdout, p.stdout + p.stderr)

# 4. jobs/ess.sbatch chooses --project on a network
if ESS:
    net = os.path.join(TMP, "net", "samples.h5")
    os.makedirs(os.path.dirname(net))
    r = sh(["mpiexec", "-n", "2", "--oversubscribe", DIST, "--model", "mlp", "--chains", "2", "--steps", "300",
            "--burnin", "100", "--output", net, "--quiet"])
    env = dict(ENV, SGLD_ROOT=SRC, SGLD_ESS=ESS)
    p = sh(["bash", os.path.join(JOBS, "ess.sbatch"), net], env=env)
    out = p.stdout
    check("ess.sbatch: 202 parameters, 400 draws: --project 10 chosen and said",
          r.returncode == 0 and p.returncode == 0 and "ess.sbatch: so the multivariate ESS is of --project 10" in out
          and "p = 202 parameters is too many" in out, out + p.stderr + r.stderr)
    try:
        js = json.load(open(os.path.join(TMP, "net", "summary.json")))
    except (OSError, ValueError) as e:
        js = None
    check("ess.sbatch: summary.txt and summary.json written",
          js is not None and os.path.getsize(os.path.join(TMP, "net", "summary.txt")) > 0, p.stderr)
    p = sh(["bash", os.path.join(JOBS, "ess.sbatch"), net, "--project", "5"], env=env)
    check("ess.sbatch: an explicit --project is used as given (no retry)",
          p.returncode == 0 and "so the multivariate ESS" not in p.stdout, p.stdout + p.stderr)
else:
    print("sgld-ess not built: ess.sbatch cases skipped")

shutil.rmtree(TMP, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
