#!/usr/bin/python3
"""The bad-input table: every case is a bad command line, config file, data file,
sample file (sgld-ess) or checkpoint (--resume), and every case must

  - exit with status 2, within TIMEOUT seconds (no rank hangs), without a signal or core dump;
  - print exactly one line on stderr (mpirun's own banner excluded) that matches the case's
    pattern, which names the file or option, the field and the value;
  - leave the working directory as it was: no new file (output, checkpoint .tmp, ...) and
    no existing file modified.

Cases run under mpiexec (2 ranks unless the case says otherwise); a case may name a set-up
function, called with its directory before the snapshot (e.g. to make a hard link).  One table, one runner:
tests/main/test_cli.py keeps only the good-run, --help and 64-rank checks.

usage: bad_inputs.py BUILD_DIR [NAME_SUBSTRING]
Prints one line per case and a closing 'N passed, N failed' line; exits non-zero on failure.
"""
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BUILD = os.path.abspath(sys.argv[1])
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
DIST = os.path.join(BUILD, "sgld-dist")
ESS = os.path.join(BUILD, "sgld-ess")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = int(os.environ.get("SGLD_BAD_INPUT_TIMEOUT", "60"))
SOURCE = os.environ.get("SGLD_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
with open(os.path.join(SOURCE, "include", "sgld", "version.h")) as f:
    ABI = int(re.search(r"^#define SGLD_ABI_VERSION (\d+)$", f.read(), re.M).group(1))
BAD_ABI = ABI + 998  # tests/plugin/plug_bad.c's ABI fault
JOBS = int(os.environ.get("SGLD_BAD_INPUT_JOBS", "4"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")

tmp = tempfile.mkdtemp(prefix="sgld-bad-")
FIXTURES = os.path.join(tmp, "fixtures")
os.makedirs(FIXTURES)
os.chdir(FIXTURES)


def write(name, text, mode="w"):
    with open(name, mode) as f:
        f.write(text)
    return name


# ---- fixtures ------------------------------------------------------------------------------
header = "a,b,c,label\n"
rows = [f"{0.1 * i:.2f},{1.5 - 0.07 * i:.3f},{(i * 7) % 5 - 2.5},{i % 2}\n" for i in range(40)]
good_rows = "".join(rows)
write("ok.csv", header + good_rows)
write("cols.csv", header + "".join(rows[:30]) + "1.0,2.0,1\n" + "".join(rows[30:]))
write("nonnum.csv", header + "".join(rows[:20]) + "1.0,abc,3.0,1\n")
write("nan.csv", header + "1.0,2.0,nan,1\n" + good_rows)
write("inf.csv", header + good_rows + "1.0,inf,3.0,0\n")
write("labels.csv", header + good_rows + "1.0,2.0,3.0,2\n")
write("empty.csv", "")
write("hdronly.csv", header)
write("quote.csv", header + "".join(rows[:5]) + '"1.0,2.0,3.0,1\n')
write("badkey.ini", "model = linreg\nstep_size = 1e-4\n")
write("badval.ini", "[run]\nsteps = many\n")
write("noeq.ini", "# a comment\nmodel\n")
write("section.ini", "[run\nsteps = 5\n")
write("range.ini", "; chains must be >= 1\nchains = 0\n")
write("task.ini", "model = mlp\ntask = maybe\n")
write("exists.h5", "not really a sample file")
os.makedirs("dir.csv", exist_ok=True)

rng = np.random.default_rng(7)
with h5py.File("noy.h5", "w") as f:
    f["X"] = rng.normal(size=(40, 3))
with h5py.File("x1d.h5", "w") as f:
    f["X"] = rng.normal(size=40)
    f["y"] = rng.normal(size=40)
with h5py.File("rows.h5", "w") as f:
    f["X"] = rng.normal(size=(40, 3))
    f["y"] = rng.normal(size=39)
X = rng.normal(size=(40, 3))
X[17, 1] = np.nan
with h5py.File("nanx.h5", "w") as f:
    f["X"] = X
    f["y"] = rng.normal(size=40)
with h5py.File("strx.h5", "w") as f:
    f["X"] = np.array([[b"a", b"b"]] * 40)
    f["y"] = rng.normal(size=40)
with h5py.File("halflabel.h5", "w") as f:
    f["X"] = rng.normal(size=(40, 3))
    f["y"] = np.arange(40) % 2 + 0.5
write("fake.h5", "not hdf5\n")
data = open("nanx.h5", "rb").read()
write("trunc.h5", data[: len(data) // 2], "wb")

# sgld-ess inputs
with h5py.File("ess_ok.h5", "w") as f:
    f.create_group("posterior")["theta"] = rng.normal(size=(2, 50))
write("ess_plain.txt", "hello\n")
with h5py.File("ess_nopost.h5", "w") as f:
    f.create_group("other")["a"] = np.zeros((2, 10))
with h5py.File("ess_short.h5", "w") as f:
    f.create_group("posterior")["a"] = rng.normal(size=(2, 3))
with h5py.File("ess_wide.h5", "w") as f:
    f.create_group("posterior")["w"] = rng.normal(size=(2, 50, 60))
with h5py.File("ess_strvar.h5", "w") as f:
    f.create_group("posterior")["s"] = np.array([[b"x"] * 10] * 2)
data = open("ess_ok.h5", "rb").read()
write("ess_trunc.h5", data[: len(data) // 3], "wb")
with h5py.File("ess_novars.h5", "w") as f:
    f.create_group("posterior")
with h5py.File("ess_chains.h5", "w") as f:
    g = f.create_group("posterior", track_order=True)
    g["a"] = rng.normal(size=(2, 50))
    g["b"] = rng.normal(size=(3, 50))
with h5py.File("ess_unequal.h5", "w") as f:  # superchains of 3 and 1 chains
    g = f.create_group("posterior")
    g["theta"] = rng.normal(size=(4, 50))
    g["superchain"] = np.array([0, 0, 0, 1], dtype=np.int64)
with h5py.File("ess_badcoord.h5", "w") as f:  # a superchain per draw, not per chain
    g = f.create_group("posterior")
    g["theta"] = rng.normal(size=(4, 50))
    g["superchain"] = np.zeros(50, dtype=np.int64)

# Start-up checks: inputs that are not regular files, a byte order mark, bytes that are not UTF-8.
# The FIFO lives outside the fixtures (copytree and snapshot would block opening it).
FIFO = os.path.join(tmp, "fifo.csv")
os.mkfifo(FIFO)
write("bom.ini", b"\xef\xbb\xbfsteps = 50\nburnin = 10\nstep_size = 1\n", "wb")
write("notutf8.csv", b"a,b\xff\xfe,c,label\n" + good_rows.encode(), "wb")
string_rows = "".join(r.rsplit(",", 1)[0] + (",cat\n" if i % 2 else ",dog\n") for i, r in enumerate(rows))
write("labelutf8.csv", b"a,b,c,label\n" + string_rows.encode() + b"1.0,2.0,3.0,c\xe9t\n", "wb")

# A checkpoint and its sample file from a good run (2 chains on 2 ranks, 200 steps).
CK_RUN = ["--chains", "2", "--steps", "200", "--burnin", "50", "--checkpoint", "ck",
          "--output", "ck_run.h5"]
p = subprocess.run([MPIEXEC, "-n", "2", DIST] + CK_RUN + ["--checkpoint-every", "100", "--quiet"],
                   capture_output=True, text=True, timeout=TIMEOUT, env=ENV, stdin=subprocess.DEVNULL)
if p.returncode != 0 or not os.path.exists("ck"):
    print(f"FAIL - setup: a good run with --checkpoint did not write one: {p.stderr[-400:]}")
    sys.exit(1)
good_ck = open("ck", "rb").read()
write("ck_missing_out", good_ck, "wb")
write("ck_trunc", good_ck[:100], "wb")
write("ck_crc", good_ck[:120] + bytes([good_ck[120] ^ 0x5A]) + good_ck[121:], "wb")
write("ck_magic", b"NOTACKPT" + good_ck[8:], "wb")
write("ck_empty", b"", "wb")

# Outputs that would replace inputs, files of other runs, a NUL byte in a CSV.
write("good.ini", "steps = 50\nburnin = 10\n")
write("test.csv", header + good_rows)
os.symlink("test.csv", "test_link.csv")
write("data.prev", header + good_rows)
write("lone.prev", "not a checkpoint\n")
write("ck2", good_ck, "wb")
write("ck2.tmp", "not a checkpoint either\n")
write("foreign.h5.lock", "someone's notes\n")
write("nul.csv", header + "".join(rows[:2]) + "0.5,1.0\0,2.0,1\n" + "".join(rows[2:]), "w")
p = subprocess.run([MPIEXEC, "-n", "2", DIST] + CK_RUN[:-4] +
                   ["--seed", "7", "--output", "other_run.h5", "--quiet"],
                   capture_output=True, text=True, timeout=TIMEOUT, env=ENV, stdin=subprocess.DEVNULL)
if p.returncode != 0:
    print(f"FAIL - setup: the run of another seed failed: {p.stderr[-400:]}")
    sys.exit(1)


# Counts for the Poisson plug-in example (tools/examples/poisson.c), good and bad, and a good
# run's sample file for sgld-ess predict.
POISSON = os.path.join(BUILD, "tools", "examples", "poisson.so")
count_rows = [f"{0.1 * i:.2f},{1.5 - 0.07 * i:.3f},{i % 4}\n" for i in range(40)]
write("counts.csv", "a,b,count\n" + "".join(count_rows))
write("negcount.csv", "a,b,count\n" + "".join(count_rows[:5]) + "0.5,0.5,-3\n" + "".join(count_rows[5:]))
with h5py.File("fraccount.h5", "w") as f:
    f["X"] = rng.normal(size=(40, 2))
    f["y"] = np.r_[np.arange(17) % 3, 2.5, np.arange(22) % 3].astype(np.float64)
p = subprocess.run([MPIEXEC, "-n", "2", DIST, "--plugin", POISSON, "--model", "poisson", "--data",
                    "counts.csv", "--batch-size", "10", "--steps", "100", "--burnin", "10", "--output", "poisson_run.h5",
                    "--quiet"], capture_output=True, text=True, timeout=TIMEOUT, env=ENV,
                   stdin=subprocess.DEVNULL)
if p.returncode != 0:
    print(f"FAIL - setup: the Poisson plug-in run failed: {p.stderr[-400:]}")
    sys.exit(1)
# Classifiers for sgld-ess predict --fgsm: one without an input gradient (logreg), one network.
for model_args, out in ((["--model", "logreg"], "lr_run.h5"),
                        (["--model", "mlp", "--task", "classification", "--net", "fc4-fc2"], "mlp_run.h5")):
    p = subprocess.run([MPIEXEC, "-n", "1", DIST] + model_args + ["--data", "ok.csv", "--batch-size", "10", "--steps",
                       "50", "--burnin", "10", "--output", out, "--quiet"], capture_output=True, text=True,
                       timeout=TIMEOUT, env=ENV, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        print(f"FAIL - setup: the run for {out} failed: {p.stderr[-400:]}")
        sys.exit(1)
PS = ["--plugin", POISSON, "--model", "poisson", "--batch-size", "10", "--steps", "50", "--burnin", "10"]


def hard_link(src, dst):
    """A case's set-up (run in its directory): dst becomes another name of src (copytree would
    copy a hard link as a separate file)."""
    return lambda cwd: os.link(os.path.join(cwd, src), os.path.join(cwd, dst))


def resume(ck, *more):
    """--resume of the good run with checkpoint ck and changed options."""
    args = list(CK_RUN)
    args[args.index("--checkpoint") + 1] = ck
    return args + list(more) + ["--resume"]


def with_opt(args, key, value):
    args = list(args)
    args[args.index(key) + 1] = value
    return args


# Options that do not apply, integer notation, CSV separators and missing values: fixtures.
write("semi.csv", "a;b;c;label\n" + "".join(r.replace(",", ";") for r in rows))
write("tab.csv", "a\tb\tc\tlabel\n" + "".join(r.replace(",", "\t") for r in rows))
write("semirow.csv", header + "".join(rows[:9]) + rows[9].replace(",", ";") + "".join(rows[10:]))
write("na.csv", header + "".join(rows[:4]) + "0.5,NA,1.0,1\n" + "".join(rows[4:]))
write("friction.ini", "sampler = psgld\nfriction = 0.3\n")


# Test plug-ins (tests/plugin): one good, one per way of being wrong.
PLUG = os.path.join(BUILD, "tests", "plugin")
def plug(name):
    return os.path.join(PLUG, name + ".so")
write("notelf.so", "this is not a shared object\n")
# separable: y = [a > 0] with |a| >= 0.5, so a logistic regression's likelihood rises forever along a
write("separable.csv", "a,b,y\n" + "".join(f"{(1 if i % 2 else -1) * (0.5 + (i % 7) / 7):.4f},{(i * 37) % 11 / 11 - 0.5:.4f},"
                                           f"{i % 2}\n" for i in range(200)))
write("plugin_key.ini", f"plugin = {plug('plug_bad_abi')}\nsteps = 50\nburnin = 10\n")

# ---- the table: (name, program, args, pattern for the one stderr line, ranks, set-up) -----------
S = ["--steps", "50", "--burnin", "10"]       # short runs for cases that would otherwise run
CASES = [
    # command line
    ("unknown option", "dist", ["--stpes", "10"] + S, r"--stpes"),
    ("unknown model", "dist", ["--model", "mlp9"] + S, r"unknown model 'mlp9' \(valid: linreg, logreg, softmax"),
    ("unknown sampler", "dist", ["--sampler", "nuts"] + S, r"unknown sampler 'nuts' \(valid: sgd, sgld"),
    ("ksgld on a model without layers", "dist", ["--sampler", "ksgld", "--model", "linreg"] + S,
     r"--sampler ksgld: model 'linreg' has no dense or conv layers \(K-FAC needs --model mlp or cnn\)"),
    ("non-numeric value (flag)", "dist", ["--step-size", "fast"] + S, r"--step-size.*'fast'"),
    # gradient estimators, --init and --step-size auto
    ("unknown gradient estimator", "dist", ["--gradient", "sag"] + S,
     r"--gradient: unknown gradient estimator 'sag' \(valid: minibatch, cv, svrg"),
    ("svrg without epochs", "dist", ["--gradient", "svrg:0"] + S,
     r"--gradient: svrg:E must be an integer in \[1, 1e9\] \(E: epochs between centres\), got 'svrg:0'"),
    ("cv without a mode", "dist", ["--gradient", "cv"] + S,
     r"--gradient: cv is centred at a mode: it needs --init map \(or sgd:K for a network\), got --init random"),
    ("cv on a network with dropout", "dist", ["--model", "mlp", "--net", "fc8-drop0.5-fc1", "--gradient", "cv",
                                             "--init", "sgd:1"] + S, r"--gradient cv: model mlp has dropout layers"),
    ("init map with an optimizer", "dist", ["--init", "map", "--sampler", "sgd"] + S,
     r"--init: sampler sgd is an optimizer \(it adds no noise\)"),
    ("init sgd without epochs", "dist", ["--init", "sgd:0"] + S, r"--init: must be random, map or sgd:K.*got 'sgd:0'"),
    ("step-size auto without a mode", "dist", ["--step-size", "auto"] + S,
     r"--step-size: auto takes the curvature at the mode: it needs --init map, got --init random"),
    ("step-size auto with a preconditioned sampler", "dist", ["--step-size", "auto", "--init", "map", "--sampler",
                                                             "psgld"] + S, r"--step-size: auto .* not of --sampler psgld"),
    ("init map on separable data", "dist", ["--model", "logreg", "--data", "separable.csv", "--prior-sd", "1e6",
                                           "--init", "map", "--init-iterations", "10", "--output", "out.h5"] + S,
     r"--init map on separable.csv: chain 0 found no mode in 10 L-BFGS iterations"),
    ("missing option value", "dist", S + ["--seed"], r"--seed"),
    ("chains do not divide ranks", "dist", ["--chains", "3"] + S, r"--chains 3 does not divide the 4 MPI ranks", 4),
    ("non-positive steps", "dist", ["--burnin", "0", "--steps", "0"], r"--steps.*0"),
    ("negative steps", "dist", ["--burnin", "0", "--steps", "-5"], r"--steps.*-5"),
    ("burn-in not below steps", "dist", ["--steps", "50", "--burnin", "50"], r"--burnin.*50"),
    ("non-positive step size", "dist", ["--step-size", "0"] + S, r"--step-size.*0"),
    ("step-gamma out of range", "dist", ["--step-gamma", "2"] + S, r"--step-gamma.*\[0, 1\].*2"),
    ("non-positive temperature", "dist", ["--temperature", "-1"] + S, r"--temperature.*> 0.*-1"),
    ("thin zero", "dist", ["--thin", "0"] + S, r"--thin.*>= 1.*0"),
    ("unknown divergence policy", "dist", ["--on-divergence", "retry"] + S,
     r"--on-divergence: must be abort, shrink or skip, got 'retry'"),
    ("unknown --save-observed", "dist", ["--save-observed", "maybe"] + S,
     r"--save-observed: must be auto, yes or no, got 'maybe'"),
    ("seed out of range", "dist", ["--seed", "99999999999"] + S, r"--seed.*99999999999"),
    ("test fraction out of range", "dist", ["--test-fraction", "1.5"] + S, r"--test-fraction.*1\.5"),
    ("test file and fraction", "dist", ["--test-data", "ok.csv", "--test-fraction", "0.2"] + S, r"ok\.csv.*0\.2"),
    ("unknown built-in data set", "dist", ["--data", "synthetic:nope"] + S, r"synthetic:nope"),
    ("stop rule: unknown statistic", "dist", ["--stop-when", "bulk>=100"] + S,
     r"^sgld-dist: --stop-when: 'bulk>=100' is not a stop rule: expected ess>=E, mess>=E and/or rhat<=R"),
    ("stop rule: wrong comparison", "dist", ["--stop-when", "ess<=100"] + S,
     r"^sgld-dist: --stop-when: 'ess<=100' is not a stop rule"),
    ("stop rule: not a number", "dist", ["--stop-when", "ess>=1e3x"] + S,
     r"^sgld-dist: --stop-when: 'ess>=1e3x' is not a stop rule"),
    ("stop rule: R-hat below 1", "dist", ["--stop-when", "rhat<=0.99"] + S,
     r"^sgld-dist: --stop-when: 'rhat<=0.99' is not a stop rule.*R >= 1"),
    ("stop rule: a bound twice", "dist", ["--stop-when", "ess>=10,ess>=20"] + S,
     r"^sgld-dist: --stop-when: 'ess>=10,ess>=20' is not a stop rule"),
    ("stop rule: trailing comma", "dist", ["--stop-when", "ess>=10,"] + S,
     r"^sgld-dist: --stop-when: 'ess>=10,' is not a stop rule"),
    ("stop rule: non-positive ESS", "dist", ["--stop-when", "ess>=0"] + S,
     r"^sgld-dist: --stop-when: 'ess>=0' is not a stop rule.*E > 0"),
    ("unknown task", "dist", ["--model", "mlp", "--task", "foo"] + S,
     r"^sgld-dist: --task: must be regression or classification, got 'foo'$"),
    ("cnn with a regression task", "dist", ["--model", "cnn", "--task", "regression"] + S,
     r"--task regression: model cnn is for classification only"),
    ("linreg with a classification task", "dist", ["--model", "linreg", "--task", "classification"] + S,
     r"--task classification: model linreg is for regression only"),
    ("class model on a real target", "dist", ["--model", "logreg", "--data", "synthetic:linreg"] + S,
     r"synthetic:linreg.*real-valued target"),
    ("unwritable output", "dist", ["--output", "no/such/dir/run.h5"] + S, r"no/such/dir/run\.h5"),
    ("existing output without --force", "dist", ["--output", "exists.h5"] + S, r"exists\.h5.*--force"),
    # config files
    ("missing config file", "dist", ["--config", "none.ini"] + S, r"none\.ini"),
    ("unknown config key", "dist", ["--config", "badkey.ini"] + S, r"badkey\.ini:2: unknown key 'step_size'"),
    ("non-numeric value (config)", "dist", ["--config", "badval.ini"] + S, r"badval\.ini:2: .*steps.*'many'"),
    ("config line without '='", "dist", ["--config", "noeq.ini"] + S, r"noeq\.ini:2: .*'model'"),
    ("malformed section header", "dist", ["--config", "section.ini"] + S, r"section\.ini:1: .*'\[run'"),
    ("out-of-range value (config)", "dist", ["--config", "range.ini"] + S, r"range\.ini:2: .*'chains'.*0"),
    ("unknown task (config)", "dist", ["--config", "task.ini"] + S,
     r"task\.ini:2: key 'task': must be regression or classification, got 'maybe'"),
    # data files
    ("missing data file", "dist", ["--data", "nope.csv"] + S, r"nope\.csv: cannot open"),
    ("unreadable data file (a directory)", "dist", ["--data", "dir.csv"] + S, r"dir\.csv"),
    ("wrong column count", "dist", ["--data", "cols.csv", "--model", "logreg"] + S, r"cols\.csv:32: expected 4 columns, got 3"),
    ("non-number", "dist", ["--data", "nonnum.csv", "--model", "logreg"] + S, r"nonnum\.csv:22: column 'b': 'abc' is not a number"),
    ("NaN", "dist", ["--data", "nan.csv", "--model", "logreg"] + S, r"nan\.csv:2: column 'c'.*nan"),
    ("Inf", "dist", ["--data", "inf.csv", "--model", "logreg"] + S, r"inf\.csv:42: column 'b'.*inf"),
    ("class label out of range", "dist", ["--data", "labels.csv", "--model", "logreg"] + S, r"labels\.csv:42: .*2"),
    ("empty CSV", "dist", ["--data", "empty.csv"] + S, r"empty\.csv: no data rows"),
    ("CSV with a header only", "dist", ["--data", "hdronly.csv"] + S, r"hdronly\.csv: no data rows"),
    ("unterminated quote", "dist", ["--data", "quote.csv"] + S, r"quote\.csv:7: unterminated quoted field"),
    ("fewer rows than the batch size", "dist", ["--data", "ok.csv", "--model", "logreg", "--batch-size", "41"] + S,
     r"--batch-size 41 .*40 training rows"),
    ("HDF5 without /y", "dist", ["--data", "noy.h5"] + S, r"noy\.h5: no dataset /y"),
    ("HDF5 /X of rank 1", "dist", ["--data", "x1d.h5"] + S, r"x1d\.h5: /X has rank 1"),
    ("HDF5 /X and /y rows differ", "dist", ["--data", "rows.h5"] + S, r"rows\.h5: /X has 40 rows but /y has 39"),
    ("HDF5 NaN feature", "dist", ["--data", "nanx.h5"] + S, r"nanx\.h5: /X\[17, 1\]: NaN"),
    ("HDF5 string features", "dist", ["--data", "strx.h5"] + S, r"strx\.h5: /X is not numeric"),
    ("HDF5 non-integer class label", "dist", ["--data", "halflabel.h5", "--model", "logreg"] + S,
     r"halflabel\.h5: /y\[0\]: .*0\.5"),
    ("not an HDF5 file (.h5 name)", "dist", ["--data", "fake.h5"] + S, r"fake\.h5: not an HDF5 file"),
    ("truncated HDF5 file", "dist", ["--data", "trunc.h5"] + S, r"trunc\.h5"),
    # checkpoints (--resume)
    ("--resume without --checkpoint", "dist", [a for a in resume("ck") if a not in ("--checkpoint", "ck")],
     r"--resume needs --checkpoint"),
    ("missing checkpoint", "dist", resume("nock"), r"checkpoint nock: cannot open"),
    ("unwritable checkpoint location", "dist", ["--checkpoint", "no/such/dir/run.ckpt"] + S,
     r"--checkpoint no/such/dir/run\.ckpt: cannot write in directory 'no/such/dir'"),
    ("empty checkpoint", "dist", resume("ck_empty"), r"checkpoint ck_empty: (.*truncated|.*empty|not an sgld-dist checkpoint)"),
    ("truncated checkpoint", "dist", resume("ck_trunc"), r"checkpoint ck_trunc: truncated: 100 of \d+ bytes"),
    ("corrupted checkpoint", "dist", resume("ck_crc"), r"checkpoint ck_crc: corrupted \(CRC-32"),
    ("not a checkpoint", "dist", resume("ck_magic"), r"checkpoint ck_magic: not an sgld-dist checkpoint"),
    ("checkpoint of another seed", "dist", resume("ck", "--seed", "7"), r"checkpoint ck: seed = 1 in the checkpoint but 7"),
    ("checkpoint of another layout", "dist", with_opt(resume("ck"), "--chains", "1"),
     r"checkpoint ck: chains = 2 in the checkpoint but 1"),
    ("resume without its sample file", "dist", with_opt(resume("ck_missing_out"), "--output", "gone.h5"), r"gone\.h5"),
    # sample files (sgld-ess)
    ("ess: not an HDF5 file", "ess", ["summary", "ess_plain.txt"], r"ess_plain\.txt: not an HDF5 file"),
    ("ess: missing file", "ess", ["summary", "ess_missing.h5"], r"ess_missing\.h5: cannot open"),
    ("ess: truncated file", "ess", ["summary", "ess_trunc.h5"], r"ess_trunc\.h5"),
    ("ess: no posterior group", "ess", ["summary", "ess_nopost.h5"], r"ess_nopost\.h5.*no group"),
    ("ess: empty posterior group", "ess", ["summary", "ess_novars.h5"], r"ess_novars\.h5"),
    ("ess: unknown variable", "ess", ["summary", "ess_ok.h5", "--var", "nope"], r"no variable 'nope'"),
    ("ess: string variable", "ess", ["summary", "ess_strvar.h5"], r"ess_strvar\.h5: group 'posterior' has no variable shaped \[chain, draw"),
    ("ess: too few draws", "ess", ["summary", "ess_short.h5"], r"ess_short\.h5.*3 draws per chain, need at least 4"),
    ("ess: too many elements without --project", "ess", ["summary", "ess_wide.h5"], r"--project"),
    ("ess: unknown mESS method", "ess", ["summary", "ess_ok.h5", "--mess-method", "xyz"], r"--mess-method.*'xyz'"),
    ("ess: unknown mcse_sd rule", "ess", ["summary", "ess_ok.h5", "--mcse-sd-rule", "r"],
     r"--mcse-sd-rule: must be posterior or stan, got 'r'"),
    ("ess: no nested group", "ess", ["summary", "ess_ok.h5", "--group", "posterior/run/x"],
     r"ess_ok\.h5: no group '/posterior/run/x'"),
    ("ess: variables of different chains", "ess", ["summary", "ess_chains.h5"],
     r"ess_chains\.h5: variable 'b' has 3 chains but 'a' has 2"),
    ("ess: zero batch size", "ess", ["summary", "ess_ok.h5", "--batch-size", "0"], r"--batch-size.*0"),
    ("ess: unknown subcommand", "ess", ["frobnicate", "ess_ok.h5"], r"unknown subcommand 'frobnicate'"),
    ("ess: missing FILE", "ess", ["summary"], r"missing FILE"),
    ("ess predict: zero MC-dropout masks", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg",
     "--mc-dropout", "0"], r"--mc-dropout: must be in \[1, 1024\], got 0"),
    ("ess predict: MC dropout without dropout layers", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--mc-dropout", "4"], r"--mc-dropout 4: the linreg model of ck_run\.h5 has no dropout layer"),
    # options that do not apply, integer notation, settings that keep no draw, spelled-out
    # options of sgld-ess, CSV separators and missing values
    ("sampler option with another sampler", "dist", ["--sampler", "psgld", "--friction", "0.2"] + S,
     r"^sgld-dist: --friction applies to sghmc only, not --sampler psgld$"),
    ("sampler option at its default with another sampler", "dist", ["--friction", "0.1"] + S,
     r"^sgld-dist: --friction applies to sghmc only, not --sampler sgld$"),
    ("option of two samplers with a third", "dist", ["--sampler", "sghmc", "--smile-L", "1"] + S,
     r"^sgld-dist: --smile-L applies to smile and psmile only, not --sampler sghmc$"),
    ("model option with another model", "dist", ["--net", "fc5-fc1"] + S,
     r"^sgld-dist: --net applies to mlp and cnn only, not --model linreg$"),
    ("linreg option with logreg", "dist", ["--model", "logreg", "--data", "ok.csv", "--noise-sd", "0.2"] + S,
     r"^sgld-dist: --noise-sd applies to linreg and mlp only, not --model logreg$"),
    ("sampler option with another sampler (config)", "dist", ["--config", "friction.ini"] + S,
     r"^sgld-dist: friction\.ini:2: key 'friction' applies to sghmc only, not --sampler psgld$"),
    ("fractional integer", "dist", ["--steps", "1.5"] + S[2:],
     r"^sgld-dist: --steps: '1\.5' is not a whole number \(e-notation such as 1e4 is accepted"),
    ("negative exponent integer", "dist", ["--thin", "1e-3"] + S,
     r"^sgld-dist: --thin: '1e-3' is not a whole number"),
    ("e-notation integer overflow", "dist", ["--steps", "1e30"] + S[2:],
     r"^sgld-dist: --steps: '1e30' is out of range \(at most 9223372036854775807\)$"),
    # --threads: per rank, within [1, 256]
    ("zero threads", "dist", ["--threads", "0"] + S, r"^sgld-dist: --threads: must be in \[1, 256\], got 0$"),
    ("too many threads", "dist", ["--threads", "300"] + S, r"^sgld-dist: --threads: must be in \[1, 256\], got 300$"),
    # --superchains: a grouping of the chains (nested R-hat), checked like any chain option
    ("superchains not dividing the chains", "dist", ["--chains", "8", "--superchains", "3"] + S,
     r"^sgld-dist: --superchains: 3 does not divide --chains 8 \(every superchain holds C / K chains\)$"),
    ("negative superchains", "dist", ["--superchains", "-2"] + S, r"^sgld-dist: --superchains: must be >= 0, got -2$"),
    ("checkpoint of other superchains", "dist", resume("ck", "--superchains", "2"),
     r"^sgld-dist: checkpoint ck: superchains = 0 in the checkpoint but 2 now: it is another chain"),
    ("ess: --superchains not dividing the chains", "ess", ["summary", "ess_ok.h5", "--superchains", "3"],
     r"^sgld-ess: ess_ok\.h5: --superchains 3 does not divide the 2 chains"),
    ("ess: one superchain", "ess", ["summary", "ess_ok.h5", "--superchains", "1"],
     r"^sgld-ess: --superchains: must be in \[2, 2147483647\], got 1$"),
    ("ess: superchains of unequal size", "ess", ["summary", "ess_unequal.h5"],
     r"^sgld-ess: ess_unequal\.h5: coordinate 'posterior/superchain': superchain 1 holds 1 chains but "
     r"superchain 0 holds 3"),
    ("ess: superchain coordinate not on the chains", "ess", ["summary", "ess_badcoord.h5"],
     r"^sgld-ess: ess_badcoord\.h5: 'posterior/superchain' is not a coordinate on the chain dimension \(want 4 "
     r"integers, one per chain\)$"),
    ("e-notation integer above an int option", "dist", ["--chains", "3e9"] + S,
     r"^sgld-dist: --chains: must be <= 2147483647, got 3e9$"),
    ("given burn-in not below steps", "dist", ["--steps", "10", "--burnin", "2000"],
     r"^sgld-dist: --burnin: must be < steps \(10\), got 2000$"),
    ("thin keeps no draw", "dist", ["--steps", "100", "--burnin", "50", "--thin", "60"],
     r"^sgld-dist: no draws kept: --thin 60 with --steps 100 and --burnin 50 keeps 0 draws per chain .*steps - burnin = 50\)$"),
    ("ess: abbreviated option", "ess", ["summary", "ess_ok.h5", "--jso"],
     r"^sgld-ess: unknown option '--jso' \(did you mean '--json'\?\)$"),
    ("ess predict: abbreviated option", "ess", ["predict", "ck_run.h5", "--dat", "ok.csv"],
     r"^sgld-ess: unknown option '--dat' \(did you mean '--data'\?\)$"),
    ("ess: abbreviated option without a near name", "ess", ["summary", "ess_ok.h5", "--bl", "4"],
     r"^sgld-ess: unknown option '--bl'$"),
    ("semicolon-separated CSV", "dist", ["--data", "semi.csv", "--model", "logreg"] + S,
     r"semi\.csv:1: .*got 1 column\(s\) \(it looks ;-separated: only comma-separated CSV is read\)$"),
    ("tab-separated CSV", "dist", ["--data", "tab.csv", "--model", "logreg"] + S,
     r"tab\.csv:1: .*got 1 column\(s\) \(it looks tab-separated: only comma-separated CSV is read\)$"),
    ("semicolon-separated CSV row", "dist", ["--data", "semirow.csv", "--model", "logreg"] + S,
     r"semirow\.csv:11: expected 4 columns, got 1 \(it looks ;-separated"),
    ("NA in a CSV", "dist", ["--data", "na.csv", "--model", "logreg"] + S,
     r"na\.csv:6: column 'b': 'NA' is not a number \(missing values \(NA\) are not supported\)$"),
    # start-up: inputs that are not regular files, limits, settings that would run and keep nothing
    ("FIFO as --data", "dist", ["--data", FIFO] + S, r"fifo\.csv: a FIFO, not a regular file"),
    ("FIFO as --test-data", "dist", ["--test-data", FIFO] + S, r"fifo\.csv: a FIFO, not a regular file"),
    ("FIFO as --config", "dist", ["--config", FIFO] + S, r"fifo\.csv: a FIFO, not a regular file"),
    ("FIFO as a checkpoint", "dist", resume(FIFO), r"checkpoint .*fifo\.csv: not a regular file"),
    ("FIFO as --output with --force", "dist", ["--output", FIFO, "--force"] + S,
     r"fifo\.csv: cannot create: it exists and is not a regular file"),
    ("ess: FIFO as the sample file", "ess", ["summary", FIFO], r"fifo\.csv: a FIFO, not a regular file"),
    ("ess predict: FIFO as --ood", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg", "--ood", FIFO],
     r"fifo\.csv: a FIFO, not a regular file"),
    ("flush-every past HDF5's chunk limit", "dist", ["--flush-every", "2147483648"] + S,
     r"^sgld-dist: --flush-every: must be in \[1, 536870911\], got 2147483648$"),
    ("thin larger than steps - burnin", "dist", ["--thin", "100"] + S,
     r"--thin 100 with --steps 50 and --burnin 10 keeps 0 draws per chain .*steps - burnin = 40"),
    ("thin 2^40", "dist", ["--thin", "1099511627776"] + S, r"--thin 1099511627776 .*keeps 0 draws per chain"),
    ("empty --output", "dist", ["--output", ""] + S, r"--output: empty file name"),
    ("empty --checkpoint", "dist", ["--checkpoint", ""] + S, r"--checkpoint: empty file name"),
    ("INI with a byte order mark (line 1 is read)", "dist", ["--config", "bom.ini"],
     r"bom\.ini:3: unknown key 'step_size'"),
    ("header not UTF-8", "dist", ["--data", "notutf8.csv"] + S, r"notutf8\.csv:1: column 2: name is not valid UTF-8"),
    ("class label not UTF-8", "dist", ["--data", "labelutf8.csv", "--model", "softmax"] + S,
     r"labelutf8\.csv:42: column 'label': class label is not valid UTF-8"),
    ("ess: --block 2^40", "ess", ["summary", "ess_ok.h5", "--block", "1099511627776"],
     r"--block: must be in \[1, 1000000\], got 1099511627776"),
    ("ess predict: --per-example into a missing directory", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--per-example", "no/such/dir/ex.h5"],
     r"--per-example no/such/dir/ex\.h5: cannot write in directory 'no/such/dir': No such file or directory"),
    ("ess predict: --hist into a missing directory", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--hist", "no/such/dir/h.csv"],
     r"--hist no/such/dir/h\.csv: cannot write in directory 'no/such/dir': No such file or directory"),
    ("ess predict: test-split of a run without --test-fraction", "ess", ["predict", "ck_run.h5", "--data",
     "test-split"], r"ck_run\.h5 is from a run without --test-fraction: no rows were held out"),
    # end-of-run summary size and changing --steps on --resume
    ("negative --max-rows", "dist", ["--max-rows", "-3"] + S, r"--max-rows: must be >= 0, got -3"),
    ("--max-rows not a count", "dist", ["--max-rows", "all"] + S, r"--max-rows: 'all' is not an integer"),
    ("resume with --steps below the checkpoint's step", "dist", with_opt(resume("ck"), "--steps", "150"),
     r"checkpoint ck: taken at step 200, past --steps 150: resume with --steps 200 or more"),
    ("checkpoint of another seed says how to start afresh", "dist", resume("ck", "--seed", "7"),
     r"checkpoint ck: seed = 1 in the checkpoint but 7 now: .*start afresh: without --resume"),
    # an output never replaces an input (same device and inode, whatever the spelling), a file
    # of another run is not replaced without --force, a second writer is refused; a NUL in a CSV
    ("output and checkpoint spelled differently", "dist", ["--output", "./same.h5", "--checkpoint", "same.h5"] + S,
     r"^sgld-dist: --output \./same\.h5 and --checkpoint same\.h5 are the same file: two outputs cannot share one file$"),
    ("checkpoint onto the data (--force)", "dist", ["--data", "ok.csv", "--model", "logreg", "--checkpoint", "ok.csv",
     "--force"] + S, r"^sgld-dist: --checkpoint ok\.csv and --data ok\.csv are the same file: an output must not replace an input$"),
    ("checkpoint onto the config (--force)", "dist", ["--config", "good.ini", "--checkpoint", "./good.ini", "--force"],
     r"--checkpoint \./good\.ini and --config good\.ini are the same file"),
    ("checkpoint's previous generation onto the data", "dist", ["--data", "data.prev", "--model", "logreg",
     "--checkpoint", "data", "--checkpoint-every", "10", "--force"] + S,
     r"--checkpoint data \(its data\.prev\) and --data data\.prev are the same file"),
    ("output onto the data through a hard link (--force)", "dist", ["--data", "ok.csv", "--model", "logreg",
     "--output", "ok_hard.csv", "--force"] + S, r"--output ok_hard\.csv and --data ok\.csv are the same file", 2,
     hard_link("ok.csv", "ok_hard.csv")),
    ("output onto the test data through a symlink (--force)", "dist", ["--data", "ok.csv", "--model", "logreg",
     "--test-data", "test.csv", "--output", "test_link.csv", "--force"] + S,
     r"--output test_link\.csv and --test-data test\.csv are the same file"),
    ("output onto the config (--force)", "dist", ["--config", "good.ini", "--output", "good.ini", "--force"],
     r"--output good\.ini and --config good\.ini are the same file"),
    ("existing checkpoint on a fresh run", "dist", ["--checkpoint", "ck"] + S,
     r"^sgld-dist: --checkpoint ck: file exists \(use --force to replace it, or --resume to continue from it\)$"),
    ("existing checkpoint .prev on a fresh run", "dist", ["--checkpoint", "lone", "--checkpoint-every", "10"] + S,
     r"^sgld-dist: --checkpoint lone: lone\.prev exists \(use --force to replace it\)$"),
    ("resume with a .tmp that is not a checkpoint", "dist", resume("ck2"),
     r"^sgld-dist: --checkpoint ck2: ck2\.tmp exists and is not a checkpoint \(use --force to replace it\)$"),
    ("resume onto the sample file of another seed", "dist", with_opt(resume("ck"), "--output", "other_run.h5"),
     r"^sgld-dist: --output other_run\.h5: seed = 7 in its config attribute but 1 in checkpoint ck: the sample "
     r"file of another run \(left unchanged\)$"),
    ("resume onto a file without a config attribute", "dist", with_opt(resume("ck"), "--output", "ess_ok.h5"),
     r"--output ess_ok\.h5: no 'config' attribute, so not the sample file of checkpoint ck"),
    ("lock file of another program", "dist", ["--output", "foreign.h5"] + S,
     r"--output foreign\.h5: foreign\.h5\.lock exists and is not a lock file of sgld-dist"),
    ("NUL byte in a CSV field", "dist", ["--data", "nul.csv", "--model", "logreg"] + S,
     r"^sgld-dist: nul\.csv:4: column 2: a NUL byte"),
    ("ess predict: --hist onto the sample file", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg",
     "--hist", "ck_run.h5"], r"^sgld-ess: --hist ck_run\.h5 and FILE ck_run\.h5 are the same file: an output must not replace an input$"),
    ("ess predict: --per-example onto the test data (--force)", "ess", ["predict", "ck_run.h5", "--data", "ok.csv",
     "--per-example", "./ok.csv", "--force"], r"--per-example \./ok\.csv and --data ok\.csv are the same file"),
    ("ess predict: --hist onto the OOD data through a hard link", "ess", ["predict", "ck_run.h5", "--data", "ok.csv",
     "--ood", "test.csv", "--hist", "test_hard.csv", "--force"], r"--hist test_hard\.csv and --ood test\.csv are the same file",
     2, hard_link("test.csv", "test_hard.csv")),
    ("ess predict: --per-example and --hist one file", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg",
     "--per-example", "new.out", "--hist", "./new.out"], r"--per-example new\.out and --hist \./new\.out are the same file: two outputs"),
    ("ess predict: existing --per-example without --force", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--per-example", "exists.h5"], r"^sgld-ess: --per-example exists\.h5: file exists \(use --force to overwrite\)$"),
    ("ess predict: --log-likelihood onto the sample file", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg",
     "--log-likelihood", "./ck_run.h5", "--force"],
     r"^sgld-ess: --log-likelihood \./ck_run\.h5 and FILE ck_run\.h5 are the same file: an output must not replace an input$"),
    ("ess predict: existing --log-likelihood without --force", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--log-likelihood", "exists.h5"],
     r"^sgld-ess: --log-likelihood exists\.h5: file exists \(use --force to overwrite\)$"),
    ("ess predict: --log-likelihood into a missing directory", "ess", ["predict", "ck_run.h5", "--data",
     "synthetic:linreg", "--log-likelihood", "no/such/ll.h5"],
     r"^sgld-ess: --log-likelihood no/such/ll\.h5: cannot write in directory 'no/such': No such file or directory$"),
    ("ess predict: --log-likelihood with --mc-dropout", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg",
     "--log-likelihood", "ll.h5", "--mc-dropout", "2"],
     r"^sgld-ess: --log-likelihood ll\.h5: not with --mc-dropout \(a draw is K members there, not one density per row\)$"),
    # plug-ins (every rank refuses the same, so none hangs)
    ("plug-in: missing file", "dist", ["--plugin", "nope.so"] + S,
     r"^sgld-dist: --plugin: nope\.so: cannot open plug-in: No such file or directory$"),
    ("plug-in: not a shared object", "dist", ["--plugin", "notelf.so"] + S,
     r"^sgld-dist: --plugin: notelf\.so: cannot load plug-in \(not a shared object"),
    ("plug-in: a directory", "dist", ["--plugin", "."] + S,
     r"^sgld-dist: --plugin: \.: a plug-in must be a shared object file, not a directory$"),
    ("plug-in: no sgld_plugin_init", "dist", ["--plugin", plug("plug_bad_noinit")] + S,
     r"plug_bad_noinit\.so: not an sgld plug-in: it defines no sgld_plugin_init$"),
    ("plug-in: no ABI number", "dist", ["--plugin", plug("plug_bad_noabi")] + S,
     r"plug_bad_noabi\.so: not an sgld plug-in: it defines no sgld_plugin_abi"),
    ("plug-in: wrong ABI number", "dist", ["--plugin", plug("plug_bad_abi")] + S,
     rf"plug_bad_abi\.so: built for plug-in ABI {BAD_ABI}, this program's is {ABI} \(rebuild it"),
    ("plug-in: wrong ABI number from a config file", "dist", ["--config", "plugin_key.ini"],
     rf"^sgld-dist: plugin_key\.ini:1: key 'plugin': .*plug_bad_abi\.so: built for plug-in ABI {BAD_ABI}"),
    ("plug-in: a model name that is taken", "dist", ["--plugin", plug("plug_bad_clash")] + S,
     r"plug_bad_clash\.so: sgld_plugin_init failed: model 'linreg' is already registered$"),
    ("plug-in: an option that is taken", "dist", ["--plugin", plug("plug_bad_option")] + S,
     r"plug_bad_option\.so: option --steps of model plugbad is already declared differently by sgld-dist itself$"),
    ("plug-in: its setup fails", "dist", ["--plugin", plug("plug_bad_fails")] + S,
     r"plug_bad_fails\.so: sgld_plugin_init failed: plugbad: cannot find its licence file$"),
    ("plug-in: 4 ranks refuse alike", "dist", ["--plugin", plug("plug_bad_abi")] + S,
     rf"plug_bad_abi\.so: built for plug-in ABI {BAD_ABI}", 4),
    ("poisson: a negative count", "dist", PS + ["--data", "negcount.csv"],
     r"^sgld-dist: negcount\.csv:7: target 'count' = -3: the poisson model needs counts"),
    ("poisson: a fractional count in HDF5", "dist", PS + ["--data", "fraccount.h5"],
     r"^sgld-dist: fraccount\.h5: /y\[17\]: target .*2\.5: the poisson model needs counts"),
    ("poisson: a bad count in --test-data", "dist", PS + ["--data", "counts.csv", "--test-data", "negcount.csv"],
     r"^sgld-dist: negcount\.csv:7: target 'count' = -3"),
    ("ess predict: poisson: a bad count in --data", "ess", ["predict", "poisson_run.h5", "--data", "negcount.csv"],
     r"^sgld-ess: negcount\.csv:7: target 'count' = -3"),
    ("ess predict: --fgsm on a regression", "ess", ["predict", "ck_run.h5", "--data", "synthetic:linreg", "--fgsm",
     "0.1"], r"^sgld-ess: --fgsm: the linreg model of ck_run\.h5 is a regression; FGSM attacks a classifier$"),
    ("ess predict: --fgsm on a model without an input gradient", "ess", ["predict", "lr_run.h5", "--data", "ok.csv",
     "--fgsm", "0.1"], r"^sgld-ess: --fgsm: the logreg model of lr_run\.h5 has no input gradient \(loglik_grad_input\)"),
    ("ess predict: --fgsm negative eps", "ess", ["predict", "mlp_run.h5", "--data", "ok.csv", "--fgsm", "0.1,-0.3"],
     r"^sgld-ess: --fgsm: '-0\.3' is not a number >= 0 \(in '0\.1,-0\.3'\)$"),
    ("ess predict: --fgsm non-numeric eps", "ess", ["predict", "mlp_run.h5", "--data", "ok.csv", "--fgsm", "big"],
     r"^sgld-ess: --fgsm: 'big' is not a number >= 0 \(in 'big'\)$"),
    ("ess predict: --fgsm empty eps", "ess", ["predict", "mlp_run.h5", "--data", "ok.csv", "--fgsm", "0.1,"],
     r"^sgld-ess: --fgsm: '' is not a number >= 0 \(in '0\.1,'\)$"),
    ("ess predict: --fgsm with --mc-dropout", "ess", ["predict", "mlp_run.h5", "--data", "ok.csv", "--fgsm", "0.1",
     "--mc-dropout", "2"], r"^sgld-ess: --fgsm 0\.1: not with --mc-dropout"),
    ("ess predict: --fgsm on inputs outside [0, 1]", "ess", ["predict", "mlp_run.h5", "--data", "ok.csv", "--fgsm",
     "0.1"], r"^sgld-ess: --fgsm: ok\.csv: row 0, feature 1 = 1\.5 is outside \[0, 1\]"),
    ("ess predict: plug-in missing", "ess", ["predict", "ck_run.h5", "--data", "ok.csv", "--plugin", "nope.so"],
     r"^sgld-ess: --plugin: nope\.so: cannot open plug-in: No such file or directory$"),
]


def our_lines(stderr):
    """Non-empty stderr lines (mpiexec's own banner is off: OMPI_MCA_orte_execute_quiet=1), so
    the program's one line must be the whole of stderr."""
    return [line for line in stderr.splitlines() if line.strip()]


def snapshot(top):
    """Every file under top with a digest of its content."""
    snap = {}
    for root, _, files in os.walk(top):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                snap[os.path.relpath(path, top)] = hashlib.sha1(fh.read()).hexdigest()
    return snap


def run_case(index, case):
    """Runs one case in its own copy of the fixtures; returns the list of problems."""
    name, prog, args, pattern = case[:4]
    ranks = case[4] if len(case) > 4 else 2
    if prog == "dist" and "--output" not in args:
        args = args + ["--output", "out.h5"]
    cwd = os.path.join(tmp, f"case{index:03d}")
    shutil.copytree(FIXTURES, cwd, symlinks=True)
    if len(case) > 5:  # the case's own set-up of its directory, before the snapshot
        case[5](cwd)
    before = snapshot(cwd)
    cmd = [MPIEXEC, "-n", str(ranks), DIST if prog == "dist" else ESS] + args
    problems = []
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=ENV,
                           stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired:
        p = None
        problems.append(f"timed out after {TIMEOUT} s (a rank hung)")
    if p is not None:
        lines = our_lines(p.stderr)
        if p.returncode != 2:
            problems.append(f"exit status {p.returncode}, want 2")
        if len(lines) != 1:
            problems.append(f"{len(lines)} stderr lines, want 1: {lines[:6]!r}")
        elif not re.search(pattern, lines[0]):
            problems.append(f"message {lines[0]!r} does not match {pattern!r}")
        low = p.stderr.lower()
        if "core dumped" in low or "signal" in low or "sanitizer" in low or p.returncode < 0:
            problems.append("crashed: " + p.stderr[-400:])
    after = snapshot(cwd)
    new = sorted(set(after) - set(before))
    changed = sorted(f for f in before if after.get(f) != before[f])
    if new:
        problems.append(f"left behind: {new}")
    if changed:
        problems.append(f"modified or removed: {changed}")
    shutil.rmtree(cwd, ignore_errors=True)
    return problems


# Cases are independent (each in its own directory) and mostly wait on mpiexec: run a few
# at a time.
selected = [(i, c) for i, c in enumerate(CASES) if not ONLY or ONLY in c[0]]
with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
    results = list(pool.map(lambda ic: run_case(*ic), selected))
passed = failed = 0
for (i, case), problems in zip(selected, results):
    if problems:
        failed += 1
        print(f"FAIL - {case[0]}: {'; '.join(problems)}")
    else:
        passed += 1
        print(f"ok - {case[0]}")

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed ({len(CASES)} cases in the table)")
sys.exit(1 if failed else 0)
