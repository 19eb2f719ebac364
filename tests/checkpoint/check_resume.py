#!/usr/bin/python3
"""check_resume.py - checkpoint and restart of sgld-dist end to end.

  check_resume.py BUILD interrupt RANKS CHAINS STEPS [OPTION...]
      A run interrupted by SIGTERM at 3 different steps (twice every rank, once one rank
      only, so that the other chains learn of it at a flush point) and then by SIGUSR1
      sent to mpirun (which forwards it), resumed with --resume after each, must give a sample
      file whose every variable is bitwise the uninterrupted run's (same layout and seed).
      Every interrupted run exits 3 and names its step; the steps are distinct.  OPTIONs are
      added to every run (e.g. another sampler and model).
  check_resume.py BUILD kill9 RANKS CHAINS STEPS
      kill -9 of every rank mid-run leaves a sample file that h5py and xarray open, holding
      every draw up to the last flush (bitwise the uninterrupted run's prefix), at least the
      checkpoint's; --resume cuts it back and completes it bitwise.
  check_resume.py BUILD killsuper SHIM.so CHAINS STEPS
      At one rank (so one process writes every byte of a flush, in HDF5's order), kill -9 just
      before the superblock write of flushes a quarter, half and three quarters into the run
      and the last one (the LD_PRELOAD shim SHIM.so): each file opens in h5py and xarray and
      holds the draws of that flush, the uninterrupted run's prefix; --resume completes it.
      (The superblock holds the end-of-allocation address; a kill just before HDF5 wrote it
      used to leave chunk indexes pointing past it: "addr overflow" in h5py.)
  check_resume.py BUILD extend RANKS CHAINS STEPS [OPTION...]
      A complete run of STEPS // 2 steps, resumed with --steps STEPS, gives a sample file
      bitwise the uninterrupted run of STEPS (draws, stats and attributes: its config names
      the new length); resuming the complete run once more prints "nothing to do", exits 0
      and changes neither file; csgld, whose cycles span --steps, refuses a new length.
  check_resume.py BUILD badinput
      --resume with a missing, truncated, corrupted or foreign checkpoint: exit 2, a clear
      message, and neither the sample file nor the checkpoint changed.

The interruption points are chosen by progress, not by time: the test reads the step from the
checkpoint header (written every STEPS/50 steps) and signals once it passes a target, so the
test does not depend on the machine's speed.  Every wait is bounded."""
import hashlib
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "sgld-dist")
TIMEOUT = 120


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def base_args(steps):
    return ["--chains", CHAINS, "--steps", str(steps), "--burnin", "1000", "--thin", "10",
            "--flush-every", "50", "--batch-size", "50", "--seed", "77", "--quiet",
            "--output", "run.h5", "--checkpoint", "run.ckpt",
            "--checkpoint-every", str(steps // 50)] + EXTRA


def launch(cwd, args, env=None):
    cmd = ["mpiexec", "-n", RANKS, "--oversubscribe", EXE] + args
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


def finish(p):
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        fail("sgld-dist did not finish within %d s" % TIMEOUT)
    return p.returncode, out, err


def run(cwd, args, env=None):
    return finish(launch(cwd, args, env))


def ranks_of(p):
    """The rank processes: mpirun's children."""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        if len(kids) == int(RANKS):
            return kids
        time.sleep(0.01)
    fail("mpirun did not start %s ranks" % RANKS)


def checkpoint_step(path):
    try:
        with open(path, "rb") as f:
            head = f.read(32)
        return struct.unpack("<q", head[24:32])[0] if len(head) == 32 else -1
    except OSError:
        return -1


def wait_for_step(p, path, target):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if checkpoint_step(path) >= target:
            return
        if p.poll() is not None:
            fail("the run ended (status %s) before step %d: %s" % (p.returncode, target, p.stderr.read()))
        time.sleep(0.002)
    fail("no checkpoint at step >= %d within %d s" % (target, TIMEOUT))


def variables(path):
    out = {}
    with h5py.File(path, "r") as f:
        for g in ("posterior", "sample_stats", "monitor"):  # monitor: the rows of the flushes
            for k in f[g]:
                out[g + "/" + k] = f[g][k][...]
        attrs = {k: (v.tobytes() if hasattr(v, "tobytes") else v) for k, v in f.attrs.items()
                 if k not in ("created_at", "init_seconds")}  # clock readings
    return out, attrs


def raw(a):
    """The bytes of an array's values (a string coordinate's: its strings, not their pointers)."""
    return a.tobytes() if a.dtype != object else repr(a.tolist()).encode()


def same_bits(a, b, what):
    va, aa = variables(a)
    vb, ab = variables(b)
    if sorted(va) != sorted(vb):
        fail("%s: variables differ: %s vs %s" % (what, sorted(va), sorted(vb)))
    for k in va:
        if va[k].shape != vb[k].shape or va[k].dtype != vb[k].dtype or raw(va[k]) != raw(vb[k]):
            bad = np.argwhere(va[k] != vb[k]) if va[k].shape == vb[k].shape else "shape"
            fail("%s: %s differs: %s %s vs %s, first difference %s" % (what, k, va[k].shape, va[k].dtype,
                                                                      vb[k].shape, bad[:1]))
    if aa != ab:
        fail("%s: root attributes differ: %s" % (what, set(aa.items()) ^ set(ab.items())))


def reference(steps):
    ref = tempfile.mkdtemp(prefix="ckpt-ref-")
    rc, _, err = run(ref, base_args(steps))
    if rc != 0:
        fail("uninterrupted run: status %d: %s" % (rc, err))
    return ref


def interrupt(steps):
    ref = reference(steps)
    work = tempfile.mkdtemp(prefix="ckpt-int-")
    ckpt = os.path.join(work, "run.ckpt")
    stops = []
    plan = ["all", "one", "all", "usr1"]
    rng = random.Random(6)
    for i, how in enumerate(plan):
        args = base_args(steps) + (["--resume"] if i else [])
        p = launch(work, args)
        target = max((i + 1) * steps // (len(plan) + 2), (stops[-1] + 1) if stops else 0)
        wait_for_step(p, ckpt, target)
        time.sleep(rng.uniform(0, 0.01))  # land between checkpoints, not right after one
        if how == "usr1":
            p.send_signal(signal.SIGUSR1)
        else:
            kids = ranks_of(p)
            for pid in (kids if how == "all" else kids[-1:]):
                os.kill(pid, signal.SIGTERM)
        rc, _, err = finish(p)
        sig = "SIGUSR1" if how == "usr1" else "SIGTERM"
        line = [l for l in err.splitlines() if "stopped by" in l]
        if rc != 3 or not line or sig not in line[0]:
            fail("interruption %d (%s): status %d, expected 3 and '%s': %s" % (i, how, rc, sig, err))
        step = int(line[0].split("after step ")[1].split()[0])
        if checkpoint_step(ckpt) != step:
            fail("interruption %d: the checkpoint holds step %d, the message says %d" % (i, checkpoint_step(ckpt), step))
        stops.append(step)
        print("interruption %d (%s to %s): stopped after step %d" % (i, sig, how if how != "usr1" else "mpirun", step))
    if len(set(stops)) != len(stops) or stops != sorted(stops):
        fail("interruption steps are not distinct and increasing: %s" % stops)
    rc, _, err = run(work, base_args(steps) + ["--resume"])
    if rc != 0:
        fail("final resume: status %d: %s" % (rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"), "interrupted and resumed run")
    print("interrupted at steps %s and resumed: bitwise identical to the uninterrupted run" % stops)
    shutil.rmtree(ref)
    shutil.rmtree(work)


def kill9(steps):
    ref = reference(steps)
    work = tempfile.mkdtemp(prefix="ckpt-kill-")
    ckpt = os.path.join(work, "run.ckpt")
    p = launch(work, base_args(steps))
    wait_for_step(p, ckpt, steps // 3)
    time.sleep(0.004)  # usually a flush or two past the checkpoint
    kids = ranks_of(p)
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    for pid in kids:  # bounded wait until the ranks are gone
        for _ in range(3000):
            if not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z":
                break
            time.sleep(0.01)
    ck_step = checkpoint_step(ckpt)
    refv, _ = variables(os.path.join(ref, "run.h5"))
    n = check_killed_file(os.path.join(work, "run.h5"), refv, ck_step, "after kill -9")
    print("kill -9 after checkpoint step %d: h5py and xarray open the file, %d draws, all the reference's" % (ck_step, n))
    rc, _, err = run(work, base_args(steps) + ["--resume"])
    if rc != 0:
        fail("resume after kill -9: status %d: %s" % (rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"), "killed and resumed run")
    print("resumed after kill -9: bitwise identical to the uninterrupted run")
    # Resuming from the previous generation cuts a complete file back (deterministically).
    shutil.copy(ckpt + ".prev", os.path.join(work, "older.ckpt"))
    older = checkpoint_step(os.path.join(work, "older.ckpt"))
    rc, _, err = run(work, [a if a != "run.ckpt" else "older.ckpt" for a in base_args(steps)] + ["--resume"])
    if rc != 0 or older >= steps:
        fail("resume from the previous generation (step %d): status %d: %s" % (older, rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"), "resumed from .prev")
    print("resumed from run.ckpt.prev (step %d), the complete file cut back and redone: bitwise identical" % older)
    # A kill among the metadata writes of a flush can leave variables and draw coordinates
    # with different draw counts: --resume cuts them all back to the checkpoint's.
    shutil.copy(ckpt + ".prev", os.path.join(work, "older.ckpt"))
    with h5py.File(os.path.join(work, "run.h5"), "a") as f:
        f["sample_stats/lp"].resize(f["sample_stats/lp"].shape[1] + 50, axis=1)
        f["posterior/b"].resize(f["posterior/b"].shape[1] - 50, axis=1)
        f["posterior/draw"].resize(f["posterior/draw"].shape[0] + 50, axis=0)
    rc, _, err = run(work, [a if a != "run.ckpt" else "older.ckpt" for a in base_args(steps)] + ["--resume"])
    if rc != 0:
        fail("resume of a file whose variables disagree on the draw count: status %d: %s" % (rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"), "resumed with draw counts apart")
    print("a file whose variables hold 50 draws more or fewer: --resume cuts it back, bitwise identical")
    shutil.rmtree(ref)
    shutil.rmtree(work)


def check_killed_file(path, refv, ck_step, what):
    """A killed run's sample file: h5py reads every variable as the reference's first n draws
    (n of posterior/w) and the monitor's rows as the reference's rows of those draws, xarray sees
    n draws, and n >= the checkpoint's draws.  Returns n."""
    import xarray as xr
    try:
        with h5py.File(path, "r") as f:
            n = f["posterior/w"].shape[1]
            for k, v in refv.items():
                got = f[k][...]
                if k.startswith("monitor/"):
                    # the rows of the flushes: a prefix of the reference's, of the rows of its
                    # first n draws (one apart when the kill fell among a flush's metadata writes)
                    r = int((refv["monitor/draws"] <= n).sum())
                    ok = got.ndim == 1 and abs(len(got) - r) <= 1 and got.tobytes() == v[:len(got)].tobytes()
                elif k.endswith("/draw"):
                    ok = np.array_equal(got, np.arange(n))
                elif got.ndim == 1 or k.endswith("/feature"):  # chain, labels, their stringW
                    ok = np.array_equal(got, v)
                else:
                    ok = got.shape[1] == n and got.tobytes() == v[:, :n].tobytes()
                if not ok:
                    fail("%s: %s is not the uninterrupted run's first %d draws" % (what, k, n))
        ds = xr.open_dataset(path, group="posterior")
        if ds.sizes["draw"] != n:
            fail("%s: xarray sees %d draws, h5py %d" % (what, ds.sizes["draw"], n))
        ds.close()
    except OSError as e:
        fail("%s: the sample file does not read: %s" % (what, e))
    ck_draws = (ck_step - 1000) // 10
    if n < ck_draws:
        fail("%s: the file holds %d draws, fewer than the checkpoint's %d" % (what, n, ck_draws))
    return n


def killsuper(shim, steps):
    ref = reference(steps)
    refv, _ = variables(os.path.join(ref, "run.h5"))
    work = tempfile.mkdtemp(prefix="ckpt-killsuper-")
    env = dict(os.environ, LD_PRELOAD=shim, SGLD_KILL_PATH="/run.h5",
               SGLD_KILL_COUNT=os.path.join(work, "count"))
    rc, _, err = run(work, base_args(steps), env)
    if rc != 0:
        fail("the counting run: status %d: %s" % (rc, err))
    total = int(open(os.path.join(work, "count")).read())
    if total < 20:
        fail("only %d superblock writes counted: is the shim loaded?" % total)
    for k in (total // 4, total // 2, 3 * total // 4, total):
        os.remove(os.path.join(work, "run.h5"))
        for f in ("run.h5.lock", "run.ckpt", "run.ckpt.prev"):
            if os.path.exists(os.path.join(work, f)):
                os.remove(os.path.join(work, f))
        rc, _, err = run(work, base_args(steps), dict(env, SGLD_KILL_AT=str(k)))
        if rc == 0:
            fail("not killed at superblock write %d of %d" % (k, total))
        what = "kill -9 before superblock write %d of %d" % (k, total)
        n = check_killed_file(os.path.join(work, "run.h5"), refv, checkpoint_step(os.path.join(work, "run.ckpt")), what)
        print("%s: h5py and xarray open the file, %d draws, all the reference's" % (what, n))
    rc, _, err = run(work, base_args(steps) + ["--resume"])
    if rc != 0:
        fail("resume after the last kill: status %d: %s" % (rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"), "killed and resumed run")
    print("resumed after the last kill: bitwise identical to the uninterrupted run")
    shutil.rmtree(ref)
    shutil.rmtree(work)


def extend(steps):
    ref = reference(steps)
    work = tempfile.mkdtemp(prefix="ckpt-extend-")
    rc, _, err = run(work, with_steps(base_args(steps), steps // 2))
    if rc != 0:
        fail("the short run (%d steps): status %d: %s" % (steps // 2, rc, err))
    if checkpoint_step(os.path.join(work, "run.ckpt")) != steps // 2:
        fail("the short run's checkpoint is not at its last step %d" % (steps // 2))
    rc, _, err = run(work, base_args(steps) + ["--resume"])
    if rc != 0:
        fail("--resume with --steps %d after %d: status %d: %s" % (steps, steps // 2, rc, err))
    same_bits(os.path.join(ref, "run.h5"), os.path.join(work, "run.h5"),
              "%d steps lengthened to %d on --resume" % (steps // 2, steps))
    print("%d steps, resumed with --steps %d: bitwise identical to the uninterrupted run" % (steps // 2, steps))
    before = digest(os.path.join(work, "run.h5")), digest(os.path.join(work, "run.ckpt"))
    rc, out, err = run(work, [a for a in base_args(steps) if a != "--quiet"] + ["--resume"])
    if rc != 0 or "nothing to do: the run is complete" not in out or "steps/s" in out + err:
        fail("resuming a complete run: status %d, output %r %r" % (rc, out, err))
    if (digest(os.path.join(work, "run.h5")), digest(os.path.join(work, "run.ckpt"))) != before:
        fail("resuming a complete run changed the sample file or the checkpoint")
    print("resuming the complete run: exit 0, %r, files unchanged" % out.strip())
    cs = ["--sampler", "csgld", "--cycles", "2", "--output", "cs.h5", "--checkpoint", "cs.ckpt"]
    rc, _, err = run(work, with_steps(base_args(steps), steps // 2) + cs)
    if rc != 0:
        fail("csgld run: status %d: %s" % (rc, err))
    rc, _, err = run(work, base_args(steps) + cs + ["--resume"])
    if rc != 2 or "steps = %d in the checkpoint but %d now: it is another chain, since csgld's cycles span --steps"\
            % (steps // 2, steps) not in err:
        fail("csgld with a new --steps: status %d (expected 2): %r" % (rc, err))
    print("csgld with a new --steps: exit 2: %s" % err.strip())
    shutil.rmtree(work)
    shutil.rmtree(ref)


def with_steps(args, steps):
    """args with --steps replaced (the other options, --checkpoint-every included, kept)."""
    args = list(args)
    args[args.index("--steps") + 1] = str(steps)
    return args


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def badinput():
    steps = 20000
    work = tempfile.mkdtemp(prefix="ckpt-bad-")
    args = base_args(steps)
    rc, _, err = run(work, args)
    if rc != 0:
        fail("setup run: %d %s" % (rc, err))
    good = open(os.path.join(work, "run.ckpt"), "rb").read()
    h5 = digest(os.path.join(work, "run.h5"))

    def expect(what, needle, extra=(), ckpt_bytes=None, ckpt_name="run.ckpt"):
        path = os.path.join(work, ckpt_name)
        if ckpt_bytes is not None:
            open(path, "wb").write(ckpt_bytes)
        before = digest(path) if os.path.exists(path) else None
        a = [x if x != "run.ckpt" else ckpt_name for x in args] + ["--resume"] + list(extra)
        rc, out, err = run(work, a)
        if rc != 2 or needle not in err:
            fail("%s: status %d (expected 2), message %r lacks %r" % (what, rc, err, needle))
        if digest(os.path.join(work, "run.h5")) != h5:
            fail("%s: the sample file was changed" % what)
        if before != (digest(path) if os.path.exists(path) else None):
            fail("%s: the checkpoint was changed" % what)
        print("%s: exit 2: %s" % (what, err.strip().splitlines()[0]))

    expect("missing checkpoint", "missing.ckpt: cannot open", ckpt_name="missing.ckpt")
    expect("truncated checkpoint", "truncated", ckpt_bytes=good[: len(good) // 2], ckpt_name="t.ckpt")
    flipped = bytearray(good)
    flipped[-10] ^= 0x40
    expect("corrupted checkpoint", "CRC-32 mismatch", ckpt_bytes=bytes(flipped), ckpt_name="c.ckpt")
    expect("another seed", "seed = 77 in the checkpoint but 78 now", extra=["--seed", "78"])
    expect("another step size", "step-size = ", extra=["--step-size", "2e-5"])
    expect("another sampler", "sampler = \"sgld\" in the checkpoint but \"sgd\" now", extra=["--sampler", "sgd"])
    rc, _, err = run(work, [x for x in args if x not in ("--checkpoint", "run.ckpt", "--checkpoint-every", str(steps // 50))] + ["--resume"])
    if rc != 2 or "--resume needs --checkpoint FILE" not in err:
        fail("--resume without --checkpoint: %d %r" % (rc, err))
    # A checkpoint of this run with another sample file (fewer draws): refused, nothing changed.
    other = tempfile.mkdtemp(prefix="ckpt-other-")
    rc, _, err = run(other, base_args(steps)[:-2] + ["--checkpoint-every", "0", "--steps", str(steps)])
    shutil.copy(os.path.join(other, "run.h5"), os.path.join(work, "short.h5"))
    with h5py.File(os.path.join(work, "short.h5"), "a") as f:
        for g in ("posterior", "sample_stats", "monitor"):  # monitor: the rows of the flushes
            for k in f[g]:
                if f[g][k].ndim >= 2 and f[g][k].maxshape[1] is None:  # draws (not a char coordinate)
                    f[g][k].resize(3, axis=1)
    short = digest(os.path.join(work, "short.h5"))
    rc, _, err = run(work, [x if x != "run.h5" else "short.h5" for x in args] + ["--resume"])
    if rc != 2 or "not the sample file of this checkpoint" not in err or digest(os.path.join(work, "short.h5")) != short:
        fail("short sample file: %d %r" % (rc, err))
    print("a sample file with fewer draws than the checkpoint: exit 2: %s" % err.strip().splitlines()[0])
    shutil.rmtree(other)
    shutil.rmtree(work)


if __name__ == "__main__":
    mode = sys.argv[2]
    EXTRA = []
    if mode == "badinput":
        RANKS, CHAINS = "2", "2"
        badinput()
    elif mode == "killsuper":
        RANKS, CHAINS, STEPS = "1", sys.argv[4], int(sys.argv[5])
        killsuper(os.path.abspath(sys.argv[3]), STEPS)
    else:
        RANKS, CHAINS, STEPS = sys.argv[3], sys.argv[4], int(sys.argv[5])
        EXTRA = sys.argv[6:]
        {"interrupt": interrupt, "kill9": kill9, "extend": extend}[mode](STEPS)
    print("OK")
