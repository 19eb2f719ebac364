#!/usr/bin/python3
"""A stop signal during start-up.  sgld-dist installs its SIGTERM/SIGINT/SIGUSR1 handlers from
the executable's .preinit_array, before any library constructor, MPI_Init or HDF5; a SIGTERM
that arrives from then on must give what a SIGTERM mid-run gives (README, exit statuses):

  - exit status 3 (not 143, killed by the signal), within TIMEOUT seconds;
  - exactly one stderr line: "stopped by SIGTERM after step N of STEPS; draws flushed,
    checkpoint saved to ...";
  - the checkpoint is there and --resume finishes the run.

The signal is sent the moment /proc/PID/status shows SIGTERM caught (SigCgt), and again at
a few fixed delays after that, while the sample file does not exist yet (so the signal really
arrives during start-up, before the output is created).  Once as a singleton (no mpiexec)
and once to both ranks of a 2-rank run.  A signal before the handlers exist (while the
dynamic loader maps the libraries) is the default action and is not tested.

usage: check_early_signal.py BUILD_DIR
Exits 0 on success, 1 on failure.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
DIST = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 120
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
STEPS = 50000
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def catches_sigterm(pid):
    """1 when pid's SigCgt mask has SIGTERM, 0 when not, None when pid is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return (int(line.split()[1], 16) >> (signal.SIGTERM - 1)) & 1
    except OSError:
        return None
    return 0


def ranks_of(p, n):
    """The pids of the n sgld-dist processes of mpiexec p (its children), waiting for them."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        r = subprocess.run(["pgrep", "-P", str(p.pid), "-x", "sgld-dist"], capture_output=True, text=True)
        pids = [int(x) for x in r.stdout.split()]
        if len(pids) == n:
            return pids
        time.sleep(0.0005)
    return []


def one_case(what, ranks, delay):
    work = tempfile.mkdtemp(prefix="sgld-early-signal-")
    out, ck = os.path.join(work, "run.h5"), os.path.join(work, "run.ckpt")
    args = [DIST, "--steps", str(STEPS), "--burnin", "0", "--output", out, "--checkpoint", ck, "--quiet"]
    cmd = args if ranks == 1 else [MPIEXEC, "-n", str(ranks)] + args
    p = subprocess.Popen(cmd, env=ENV, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        pids = [p.pid] if ranks == 1 else ranks_of(p, ranks)
        while pids and not all(catches_sigterm(q) for q in pids):
            if any(catches_sigterm(q) is None for q in pids):
                break
            time.sleep(0.0002)
        time.sleep(delay)
        early = not os.path.exists(out)
        for q in pids:
            os.kill(q, signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
            check(False, f"{what}: timed out")
            return
        lines = [l for l in err.splitlines() if l.strip()]
        if not early:
            print(f"note {what}: the sample file existed when the signal went (a slow start)", flush=True)
        check(p.returncode == 3, f"{what}: exit status 3 (got {p.returncode})")
        check(len(lines) == 1 and re.search(rf"stopped by SIGTERM after step \d+ of {STEPS}; draws flushed, "
                                            r"checkpoint saved to", lines[0]) is not None,
              f"{what}: one 'stopped by SIGTERM' line ({lines[:3]})")
        if check(os.path.exists(ck), f"{what}: the checkpoint is there"):
            r = subprocess.run(cmd + ["--resume"], env=ENV, cwd=work, capture_output=True, text=True,
                               timeout=TIMEOUT)
            check(r.returncode == 0, f"{what}: --resume finishes the run ({r.returncode}, {r.stderr.strip()[:200]})")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    for delay in (0.0, 0.005, 0.02):
        one_case(f"singleton, SIGTERM {delay * 1000:.0f} ms after the handler", 1, delay)
    one_case("2 ranks, SIGTERM to both as soon as they catch it", 2, 0.0)
    print(f"check_early_signal: {'FAILED: ' + str(len(failures)) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
