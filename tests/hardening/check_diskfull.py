#!/usr/bin/python3
"""A full disk mid-run.  sgld-dist writes its sample file (and, in the second case,
its checkpoints) into a location that fills up after some flushes; the run must

  - exit with status 1 within TIMEOUT seconds (no hang, no signal, no core dump);
  - print exactly one stderr line naming the file and "No space left on device";
  - leave a sample file that h5py opens, holding every draw up to the last successful flush,
    bitwise equal to the prefix of an uninterrupted run with the same seed and layout (and
    as many draws as the message says);
  - with --checkpoint in the full location too: leave the previous checkpoint generation
    intact: once space is freed, --resume in place finishes the run bitwise equal to the
    uninterrupted one;
  - on a disk that is already full when the run starts: exit 1 with the same one line and
    leave no sample file (parallel HDF5 used to fail inside H5Fcreate, and MPI_Finalize then
    crashed with SIGSEGV and Open MPI's backtrace, exit 139).

The full disk is a real one when root may mount a tmpfs (`mount -t tmpfs -o size=...`), and
otherwise the LD_PRELOAD shim failwrite.so (a disk of N bytes for paths containing
SGLD_FAIL_PATH: every write or fallocate past N fails with ENOSPC).  The tmpfs is always
unmounted, also on SIGTERM (meson's timeout).

usage: check_diskfull.py BUILD_DIR SHIM.so [auto|tmpfs|shim]
Exits 0 on success, 77 (skipped) for 'tmpfs' when mount is refused, 1 on failure.
"""
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import h5py

BUILD = os.path.abspath(sys.argv[1])
SHIM = os.path.abspath(sys.argv[2])
MODE = sys.argv[3] if len(sys.argv) > 3 else "auto"
DIST = os.path.join(BUILD, "sgld-dist")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = int(os.environ.get("SGLD_DISKFULL_TIMEOUT", "120"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
STEPS, FLUSH = 4000, 100
RUN = ["--chains", "2", "--model", "logreg", "--data", "synthetic:logreg", "--steps", str(STEPS),
       "--burnin", "0", "--flush-every", str(FLUSH), "--seed", "7", "--quiet"]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def sgld(args, env=None):
    """Runs sgld-dist at 2 ranks; (status, stderr lines).  status None: timed out."""
    cmd = [MPIEXEC, "-n", "2", DIST] + RUN + args
    p = subprocess.Popen(cmd, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, []
    return p.returncode, [l for l in err.splitlines() if l.strip()]


def draws(path):
    """{group/var: array} of every variable with a draw axis, and the draw count."""
    out, n = {}, set()
    with h5py.File(path, "r") as f:
        for g in ("posterior", "sample_stats"):
            for k, d in f[g].items():
                if k == "draw":
                    out[g + "/draw"] = d[()]
                    n.add(d.shape[0])
                elif d.ndim >= 2 and d.attrs.get("CLASS") != b"DIMENSION_SCALE":  # not the char `feature`
                    out[g + "/" + k] = d[()]
                    n.add(d.shape[1])
    return out, n


def prefix_equal(path, ref, what):
    """The file holds the first n draws of ref, bitwise; returns n (or None)."""
    try:
        got, n = draws(path)
    except Exception as e:  # noqa: BLE001 - any h5py failure is the finding
        check(False, f"{what}: h5py cannot read {path}: {e}")
        return None
    if not check(len(n) == 1, f"{what}: every variable has the same draw count ({sorted(n)})"):
        return None
    n = n.pop()
    bad = [k for k, a in got.items()
           if a.tobytes() != (ref[k][:n] if k.endswith("/draw") else ref[k][:, :n]).tobytes()]
    check(not bad and set(got) == set(ref),
          f"{what}: {n} draws per chain, bitwise the uninterrupted run's prefix"
          + (f" (differ: {bad})" if bad else ""))
    return n


class Disk:
    """A location that holds `size` bytes: a tmpfs, or a directory watched by the shim."""

    def __init__(self, mode, size):
        self.dir = tempfile.mkdtemp(prefix="sgld-diskfull-")
        self.mode, self.mounted = mode, False
        if mode == "tmpfs":
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.dir],
                               capture_output=True, text=True)
            self.mounted = r.returncode == 0
            if not self.mounted:
                shutil.rmtree(self.dir)
                raise PermissionError(r.stderr.strip() or "mount refused")
        self.env = dict(ENV)
        if mode == "shim":
            # Under an ASan build the sanitizer runtime must come first in the preload list.
            pre = [SHIM]
            ldd = subprocess.run(["ldd", DIST], capture_output=True, text=True).stdout
            m = re.search(r"(\S*libasan\.so\S*) => (\S+)", ldd)
            if m:
                pre.insert(0, m.group(2))
            self.env.update(LD_PRELOAD=":".join(pre), SGLD_FAIL_PATH=self.dir + "/",
                            SGLD_FAIL_AFTER_BYTES=str(size))

    def fill(self):
        """Makes the disk full before anything is written to it."""
        if self.mode == "tmpfs":
            try:
                with open(os.path.join(self.dir, "filler"), "wb", buffering=0) as f:
                    while True:
                        f.write(b"\0" * 4096)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
        else:
            self.env["SGLD_FAIL_AFTER_BYTES"] = "0"

    def grow(self):
        """Frees space: the disk becomes large enough for the whole run."""
        if self.mode == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=64m", self.dir], check=True)
        self.env = dict(ENV)

    def close(self):
        if self.mounted:
            if subprocess.run(["umount", self.dir]).returncode != 0:
                subprocess.run(["umount", "-l", self.dir])
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)


def one_line(status, err, path, what):
    check(status == 1, f"{what}: exit status 1 (got {status}{', timed out' if status is None else ''})")
    check(len(err) == 1, f"{what}: exactly one stderr line (got {len(err)}: {err[:4]})")
    line = err[0] if err else ""
    check(path in line and "No space left on device" in line,
          f"{what}: the line names the file and the reason: {line!r}")
    return line


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("check_diskfull: terminated"))
    mode = MODE
    ref_dir = tempfile.mkdtemp(prefix="sgld-diskfull-ref-")
    disks = []
    try:
        ref_path = os.path.join(ref_dir, "ref.h5")
        st, err = sgld(["--output", ref_path])
        if not check(st == 0, f"uninterrupted run (status {st}, {err[:2]})"):
            return 1
        ref, _ = draws(ref_path)
        # A disk of 70% of the finished file: full after some flushes, well before the end
        # (an append reserves its chunks and a metadata margin of ~150 KiB here first).
        size = (os.path.getsize(ref_path) * 7 // 10) // 4096 * 4096

        if mode in ("auto", "tmpfs"):
            try:
                disks.append(Disk("tmpfs", size))
                mode = "tmpfs"
            except PermissionError as e:
                print(f"mount -t tmpfs refused ({e}): using the LD_PRELOAD shim", flush=True)
                if mode == "tmpfs":
                    return 77
                mode = "shim"
        if mode == "shim":
            disks.append(Disk("shim", size))
        print(f"full disk: {mode}, {size} bytes", flush=True)

        # 1. The sample file fills the disk.
        d = disks[0]
        out = os.path.join(d.dir, "run.h5")
        st, err = sgld(["--output", out], d.env)
        line = one_line(st, err, out, "sample file")
        n = prefix_equal(out, ref, "sample file") if os.path.exists(out) else None
        check(n is not None and 0 < n < STEPS and n % FLUSH == 0,
              f"sample file: some flushes made it, not all ({n} of {STEPS} draws)")
        m = re.search(r"holds the first (\d+) draws", line)
        check(m is not None and n is not None and int(m.group(1)) == n,
              f"sample file: the message's draw count is the file's ({m.group(1) if m else '-'})")

        # 2. Sample file and checkpoints in the full location, a checkpoint at every flush (the
        # disk may hold one flush only: how many fit depends on the file's metadata).
        disks.append(Disk(mode, size))
        d = disks[1]
        out, ck = os.path.join(d.dir, "run.h5"), os.path.join(d.dir, "run.ckpt")
        ck_args = ["--output", out, "--checkpoint", ck, "--checkpoint-every", str(FLUSH)]
        st, err = sgld(ck_args, d.env)
        line = one_line(st, err, d.dir, "with --checkpoint")
        n = prefix_equal(out, ref, "with --checkpoint") if os.path.exists(out) else None
        check(os.path.exists(ck), "with --checkpoint: a checkpoint generation is there")
        check(not os.path.exists(ck + ".tmp"), "with --checkpoint: no checkpoint .tmp left")
        d.grow()
        st, err = sgld(ck_args + ["--resume"], d.env)
        check(st == 0, f"with --checkpoint: --resume after freeing space succeeds ({st}, {err[:2]})")
        if st == 0:
            n = prefix_equal(out, ref, "with --checkpoint: resumed")
            check(n == STEPS, f"with --checkpoint: resumed to all {STEPS} draws ({n})")

        # 3. The disk is full before the run starts.
        disks.append(Disk(mode, size))
        d = disks[2]
        d.fill()
        out = os.path.join(d.dir, "run.h5")
        st, err = sgld(["--output", out], d.env)
        one_line(st, err, out, "already full")
        check(not os.path.exists(out), "already full: no sample file left")
    finally:
        for d in disks:
            d.close()
        shutil.rmtree(ref_dir, ignore_errors=True)
    print(f"check_diskfull ({mode}): {'FAILED: ' + str(len(failures)) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
