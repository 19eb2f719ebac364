#!/usr/bin/python3
"""check_lock.py - a second writer on a running run's files fails at start.

  check_lock.py BUILD_DIR RANKS

A first run (RANKS ranks, one chain per rank) samples with --output run.h5 and --checkpoint
run.ckpt.  While it runs:
  1. a second run with the same --output and --force, another --checkpoint;
  2. a second run with another --output and the same --checkpoint (--force);
each must exit 2 within a few seconds with one stderr line naming the file, the lock file and
the first run's rank 0 (its pid, a process of sgld-dist), leave no file of its own behind and
change neither the first run's files nor their lock files.  The first run is then stopped
(SIGUSR1 to mpiexec, which forwards it: exit 3), its lock files must be gone, and --resume (which takes the
locks again) completes it with every draw.  Every wait is bounded (TIMEOUT s) and the first
run is killed on any failure, so the test cannot hang.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py

BUILD = os.path.abspath(sys.argv[1])
RANKS = int(sys.argv[2])
DIST = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 60
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
STEPS, BURNIN, THIN = 50000000, 1000, 100
BASE = ["--chains", str(RANKS), "--steps", str(STEPS), "--burnin", str(BURNIN), "--thin", str(THIN),
        "--flush-every", "10", "--quiet"]
# No periodic checkpoint: the first run's files other than run.h5 stay as they are while the
# second writers are tried (the checkpoint is written when it is stopped).
FIRST = BASE + ["--output", "run.h5", "--checkpoint", "run.ckpt"]

work = tempfile.mkdtemp(prefix="sgld-lock-")
first = None


def fail(msg):
    print("FAIL: " + msg)
    if first is not None and first.poll() is None:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=TIMEOUT)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1)


def launch(args):
    return subprocess.Popen([MPIEXEC, "-n", str(RANKS), DIST] + args, cwd=work, env=ENV, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finish(p, what):
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=TIMEOUT)
        fail(f"{what}: no exit within {TIMEOUT} s")
    return p.returncode, [l for l in err.splitlines() if l.strip()]


def files():
    """Every file of the directory with its content (the lock files' text included)."""
    snap = {}
    for name in sorted(os.listdir(work)):
        if name.endswith(".h5"):
            snap[name] = os.stat(os.path.join(work, name)).st_ino  # still being appended to
        else:
            with open(os.path.join(work, name), "rb") as f:
                snap[name] = f.read()
    return snap


first = launch(FIRST)
deadline = time.time() + TIMEOUT
while not (os.path.exists(os.path.join(work, "run.h5")) and os.path.exists(os.path.join(work, "run.ckpt.lock"))):
    if first.poll() is not None or time.time() > deadline:
        fail("the first run did not start writing: " + (first.communicate()[1] if first.poll() is not None else "timeout"))
    time.sleep(0.05)

text = open(os.path.join(work, "run.h5.lock")).read()
m = re.match(r"sgld-dist pid (\d+) host (\S+)\n$", text)
if not m:
    fail(f"run.h5.lock holds {text!r}, not 'sgld-dist pid N host H'")
holder = int(m.group(1))
with open(f"/proc/{holder}/cmdline", "rb") as f:
    if b"sgld-dist" not in f.read():
        fail(f"the lock names pid {holder}, which is not an sgld-dist process")

for what, args, locked in [
        ("same --output (--force)", BASE + ["--output", "run.h5", "--checkpoint", "other.ckpt", "--force"],
         ("--output", "run.h5")),
        ("same --checkpoint (--force)", BASE + ["--output", "other.h5", "--checkpoint", "run.ckpt", "--force"],
         ("--checkpoint", "run.ckpt"))]:
    before = files()
    t0 = time.time()
    rc, lines = finish(launch(args), what)
    took = time.time() - t0
    want = (rf"^sgld-dist: {locked[0]} {re.escape(locked[1])} is in use by another run: process {holder} "
            rf"on host \S+ holds {re.escape(locked[1])}\.lock$")
    if rc != 2 or len(lines) != 1 or not re.match(want, lines[0]):
        fail(f"{what}: status {rc}, stderr {lines!r}; want 2 and one line matching {want!r}")
    # "At start": well before the holder's run ends; sanitized builds start 2-5x slower
    # (tools/sanitize sets SGLD_SLOWDOWN as it stretches the timeouts).
    if took > 20 * float(os.environ.get("SGLD_SLOWDOWN", "1")):
        fail(f"{what}: refused only after {took:.1f} s (not at start)")
    after = files()
    if after != before:
        fail(f"{what}: the directory changed: {sorted(set(before) ^ set(after))} added or removed, "
             f"{[k for k in before if k in after and before[k] != after[k]]} modified")
    print(f"{RANKS} rank(s), {what}: exit 2 after {took:.1f} s: {lines[0]}")

if first.poll() is not None:
    fail("the first run ended while the second writers were refused: " + first.communicate()[1])
time.sleep(0.3)  # past the first flush
first.send_signal(signal.SIGUSR1)  # mpiexec forwards it to the ranks
rc, lines = finish(first, "first run after SIGUSR1")
if rc != 3:
    fail(f"first run after SIGUSR1: status {rc}, want 3: {lines!r}")
first = None
left = sorted(n for n in os.listdir(work) if n.endswith(".lock"))
if left:
    fail(f"lock files left after the first run stopped: {left}")

# --resume takes the locks again (the run is far from done: stop it once more and check that
# the file holds every draw up to the step it reports, of the first run's seed).
resumed = launch(FIRST + ["--resume"])
first = resumed
deadline = time.time() + TIMEOUT
while not os.path.exists(os.path.join(work, "run.ckpt.lock")):
    if resumed.poll() is not None or time.time() > deadline:
        fail("the resumed run did not take its lock: " + (resumed.communicate()[1] if resumed.poll() is not None else "timeout"))
    time.sleep(0.05)
time.sleep(0.5)
resumed.send_signal(signal.SIGUSR1)
rc, lines = finish(resumed, "resumed run after SIGUSR1")
first = None
if rc != 3:
    fail(f"resumed run: status {rc}, want 3: {lines!r}")
left = sorted(n for n in os.listdir(work) if n.endswith(".lock") or n.startswith("other"))
if left:
    fail(f"files left after the resumed run stopped: {left}")
step = int(re.search(r"after step (\d+)", lines[0]).group(1))
with h5py.File(os.path.join(work, "run.h5"), "r") as f:
    n = f["posterior/w"].shape[1]
    config = f.attrs["config"]
    config = config.decode() if isinstance(config, bytes) else str(config)
    seed = re.search(r"^seed = (\d+)$", config, re.M).group(1)
if n != (step - BURNIN) // THIN or seed != "1":
    fail(f"run.h5 holds {n} draws (seed {seed}) after step {step}, want {(step - BURNIN) // THIN} (seed 1)")
print(f"{RANKS} rank(s): stopped, lock files removed; resumed (locks taken again) to step {step} with all {n} draws")
shutil.rmtree(work, ignore_errors=True)
print("ok")
