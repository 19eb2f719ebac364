#!/usr/bin/python3
"""check_slurm.py - the SLURM job scripts on a real one-node SLURM cluster started here.

  check_slurm.py SOURCE_ROOT BUILD_ROOT [SGLD_ESS]

Starts munged, slurmctld and slurmd (Debian's slurm-wlm and munge, from
tools/install-deps --for test) in the foreground from a temporary directory with a generated
slurm.conf on free ports, then:
  1. jobs/submit: jobs/sgld.sbatch on a tiny config (2 ranks = 2 chains) plus, when sgld-ess
     is built, jobs/ess.sbatch with --dependency=afterok; while the run is sampling (its
     checkpoint passed a third of the steps) it is preempted with `scontrol requeue`; the job
     must restart, resume from the checkpoint and complete, and its sample file must be bitwise
     the uninterrupted run's (run directly with mpiexec); the ESS job must run after it;
  2. a run stopped by USR1 (`scancel --batch --signal=USR1`, what `--signal=B:USR1@T`
     delivers) checkpoints, exits 3, requeues itself and completes bitwise;
  3. jobs/sweep.sbatch: an array of 2 tasks (step size, seed) with concurrency limit 1;
  4. the world-size check: a launcher that starts 2 single-rank copies (MPI singletons) is
     refused before sampling.
Daemons are stopped by process id (the ones this test started, nothing else).  Exit 77 (meson:
skipped) only when slurmctld/slurmd/munged are not installed.  Every wait is bounded."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import h5py

SRC, BUILD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ESS = sys.argv[3] if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else None
DIST = os.path.join(BUILD, "sgld-dist")
TMP = tempfile.mkdtemp(prefix="sgld-slurm-")
ENV = dict(os.environ, SLURM_CONF=os.path.join(TMP, "slurm.conf"), SGLD_ROOT=SRC, SGLD_DIST=DIST,
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
if os.getuid() == 0:
    ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
daemons = []  # Popen objects of the daemons this test started


def log(msg):
    print("[%6.1f s] %s" % (time.time() - T0, msg), flush=True)


def fail(msg):
    log("FAIL: " + msg)
    for name in ("slurmctld.log", "slurmd.log"):
        path = os.path.join(TMP, name)
        if os.path.exists(path):
            print("---- last lines of %s" % name)
            print("".join(open(path).readlines()[-25:]))
    for f in sorted(os.listdir(TMP)):
        if f.endswith(".log") and f.startswith("sgld"):
            print("---- %s" % f)
            print(open(os.path.join(TMP, f)).read()[-3000:])
    cleanup()
    sys.exit(1)


def sh(*cmd, check=True, timeout=60, env=None):
    r = subprocess.run(list(cmd), cwd=TMP, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        fail("%s: status %d: %s %s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_state(jid):
    """(state, restarts, exit code) of a job, from scontrol (MinJobAge keeps finished jobs)."""
    out = sh("scontrol", "-o", "show", "job", str(jid), check=False)
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    return fields.get("JobState", "?"), int(fields.get("Restarts", "0")), fields.get("ExitCode", "?")


def wait_until(what, cond, timeout=90, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    fail("timed out after %d s waiting for %s" % (timeout, what() if callable(what) else what))


def wait_done(jid, timeout=120):
    def done():
        st = job_state(jid)
        return st if st[0] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY") else None
    return wait_until(lambda: "job %s to finish (%s)" % (jid, sh("scontrol", "-o", "show", "job", str(jid), check=False)),
                      done, timeout)


def release_requeued(jid, timeout=60):
    """SLURM makes a requeued job wait about two minutes (Reason=BeginTime); start it now."""
    def pending():
        out = sh("scontrol", "-o", "show", "job", str(jid), check=False)
        if "JobState=PENDING" in out and "Restarts=0" not in out:
            return out
        return "JobState=COMPLETED" in out and out
    out = wait_until(lambda: "job %s to be requeued" % jid, pending, timeout)
    if "JobState=PENDING" in out:
        # Not within the second of the requeue: the old instance's job credential is revoked
        # with a one-second timestamp, and a new one of the same second is refused.
        time.sleep(2)
        sh("scontrol", "update", "JobId=%s" % jid, "StartTime=now", check=False)


def checkpoint_step(path):
    try:
        with open(path, "rb") as f:
            head = f.read(32)
        return int.from_bytes(head[24:32], "little") if len(head) == 32 else -1
    except OSError:
        return -1


def cleanup():
    # Jobs first (their slurmstepd and ranks end with them), then our daemons by pid.
    if any(p.poll() is None for p in daemons):
        subprocess.run(["scancel", "--user=%d" % os.getuid()], env=ENV, capture_output=True, timeout=20)
        deadline = time.time() + 20
        while time.time() < deadline:
            r = subprocess.run(["squeue", "-h"], env=ENV, capture_output=True, text=True, timeout=20)
            if r.returncode != 0 or not r.stdout.strip():
                break
            time.sleep(0.2)
    for p in reversed(daemons):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
    daemons.clear()


def start_daemon(cmd, ready, name):
    p = subprocess.Popen(cmd, cwd=TMP, env=ENV, stdout=open(os.path.join(TMP, name + ".out"), "w"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    daemons.append(p)
    deadline = time.time() + 30
    while time.time() < deadline:
        if p.poll() is not None:
            fail("%s exited with %d: %s" % (name, p.returncode, open(os.path.join(TMP, name + ".out")).read()))
        if ready():
            return p
        time.sleep(0.1)
    fail("%s did not become ready in 30 s" % name)


def start_cluster():
    for exe in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol"):
        if not shutil.which(exe) and not os.path.exists("/usr/sbin/" + exe):
            print("SKIP: %s is not installed (tools/install-deps --for test installs slurm-wlm and munge)" % exe)
            sys.exit(77)
    host = socket.gethostname().split(".")[0]
    hw = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    cpus = int([kv.split("=")[1] for kv in hw.split() if kv.startswith("CPUs=")][0])
    mem = int([kv.split("=")[1] for kv in hw.split() if kv.startswith("RealMemory=")][0])
    munge_sock = os.path.join(TMP, "munge.sock")
    shutil.copy("/etc/munge/munge.key", os.path.join(TMP, "munge.key"))
    os.chmod(os.path.join(TMP, "munge.key"), 0o600)
    for d in ("state", "spool"):
        os.makedirs(os.path.join(TMP, d))
    with open(ENV["SLURM_CONF"], "w") as f:
        f.write("""ClusterName=sgldtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={p1}
SlurmdPort={p2}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={t}/state
SlurmdSpoolDir={t}/spool
SlurmctldPidFile={t}/slurmctld.pid
SlurmdPidFile={t}/slurmd.pid
SlurmctldLogFile={t}/slurmctld.log
SlurmdLogFile={t}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""".format(host=host, p1=free_port(), p2=free_port(), sock=munge_sock, t=TMP, cpus=cpus, mem=mem))
    start_daemon(["/usr/sbin/munged", "--foreground", "--force", "--socket=" + munge_sock,
                  "--key-file=" + os.path.join(TMP, "munge.key"), "--pid-file=" + os.path.join(TMP, "munged.pid"),
                  "--log-file=" + os.path.join(TMP, "munged.log"), "--seed-file=" + os.path.join(TMP, "munged.seed")],
                 lambda: os.path.exists(munge_sock), "munged")
    start_daemon(["/usr/sbin/slurmctld", "-D", "-i", "-f", ENV["SLURM_CONF"]],
                 lambda: subprocess.run(["scontrol", "ping"], env=ENV, capture_output=True, text=True,
                                        timeout=10).stdout.count("UP") > 0, "slurmctld")
    start_daemon(["/usr/sbin/slurmd", "-D", "-N", host, "-f", ENV["SLURM_CONF"]],
                 lambda: "idle" in sh("sinfo", "-h", "-o", "%t", check=False), "slurmd")
    log("one-node SLURM up: %s, %d CPUs, conf %s" % (host, cpus, ENV["SLURM_CONF"]))


STEPS = 60000
CONFIG = """model = linreg
data = synthetic:linreg
chains = 2
steps = {steps}
burnin = 1000
thin = 10
flush-every = 50
batch-size = 50
seed = 5
quiet = true
checkpoint-every = {every}
"""


def variables(path):
    with h5py.File(path, "r") as f:
        # a string coordinate (feature names) by its strings, not their pointers
        return {g + "/" + k: (lambda a: a.tobytes() if a.dtype != object else repr(a.tolist()))(f[g][k][...])
                for g in ("posterior", "sample_stats") for k in f[g]}


def same(a, b, what):
    va, vb = variables(a), variables(b)
    if va.keys() != vb.keys() or any(va[k] != vb[k] for k in va):
        fail("%s: sample file differs from the uninterrupted run's" % what)
    log("%s: sample file bitwise equal to the uninterrupted run's" % what)


def main():
    start_cluster()
    cfg = os.path.join(TMP, "tiny.ini")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(steps=STEPS, every=STEPS // 60))
    # The uninterrupted run, directly.
    r = subprocess.run(["mpiexec", "-n", "2", "--oversubscribe", DIST, "--config", cfg, "--output",
                        os.path.join(TMP, "ref.h5"), "--checkpoint", os.path.join(TMP, "ref.ckpt")],
                       env=ENV, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail("reference run: %d %s" % (r.returncode, r.stderr))
    ref = os.path.join(TMP, "ref.h5")

    # 1. A pipeline, preempted by scontrol requeue while sampling.
    run_dir = os.path.join(TMP, "run1")
    env = dict(ENV, SGLD_RUN_DIR=run_dir)
    if ESS:
        env["SGLD_ESS"] = ESS
    out = subprocess.run([os.path.join(SRC, "jobs", "submit"), cfg, "--ntasks=2", "--output=" + TMP + "/sgld-run1-%j.log"],
                         cwd=SRC, env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        fail("jobs/submit: %s %s" % (out.stdout, out.stderr))
    ids = dict(line.split() for line in out.stdout.splitlines())
    jid, ess_jid = ids["run"], ids["ess"]
    log("submitted run %s and ess %s (afterok)" % (jid, ess_jid))
    ckpt = os.path.join(run_dir, "run.ckpt")
    wait_until("run %s to sample past step %d" % (jid, STEPS // 3), lambda: checkpoint_step(ckpt) >= STEPS // 3)
    sh("scontrol", "requeue", jid)
    log("preempted run %s at checkpoint step %d with scontrol requeue" % (jid, checkpoint_step(ckpt)))
    release_requeued(jid)
    state, restarts, code = wait_done(jid)
    if state != "COMPLETED" or restarts < 1:
        fail("run %s: %s after %d restarts (exit %s), expected COMPLETED after a requeue" % (jid, state, restarts, code))
    text = open(os.path.join(TMP, "sgld-run1-%s.log" % jid)).read()
    if "resuming from" not in text:
        fail("the requeued run did not resume from its checkpoint:\n" + text)
    log("run %s completed after %d restart(s), resumed from its checkpoint; its log:\n    %s" % (
        jid, restarts, "\n    ".join(l for l in text.splitlines() if "run-sgld" in l or "stopped by" in l)))
    same(ref, os.path.join(run_dir, "samples.h5"), "preempted with scontrol requeue")
    if ESS:
        state, _, code = wait_done(ess_jid)
        if state != "COMPLETED" or not os.path.exists(os.path.join(run_dir, "summary.json")):
            fail("ess job %s: %s (exit %s)" % (ess_jid, state, code))
        log("ess job %s ran after the run: %s" % (ess_jid, os.path.join(run_dir, "summary.txt")))
    else:
        sh("scancel", ess_jid, check=False)
        log("sgld-ess not built: ESS job %s cancelled" % ess_jid)

    # 2. The time-limit warning: USR1 to the batch shell; the run stops, exits 3 and requeues itself.
    run_dir = os.path.join(TMP, "run2")
    jid = sh("sbatch", "--parsable", "--ntasks=2", "--output=" + TMP + "/sgld-run2-%j.log",
             os.path.join(SRC, "jobs", "sgld.sbatch"), cfg, env=dict(ENV, SGLD_RUN_DIR=run_dir)).split(";")[0]
    ckpt = os.path.join(run_dir, "run.ckpt")
    wait_until("run %s to sample past step %d" % (jid, STEPS // 3), lambda: checkpoint_step(ckpt) >= STEPS // 3)
    sh("scancel", "--batch", "--signal=USR1", jid)
    release_requeued(jid)
    state, restarts, code = wait_done(jid)
    text = open(os.path.join(TMP, "sgld-run2-%s.log" % jid)).read()
    if state != "COMPLETED" or restarts < 1 or "incomplete (checkpoint" not in text or "requeued" not in text:
        fail("run %s after USR1: %s, %d restarts; log:\n%s" % (jid, state, restarts, text))
    log("run %s: USR1 -> checkpoint, exit 3, self-requeue, resume, complete" % jid)
    same(ref, os.path.join(run_dir, "samples.h5"), "stopped by USR1 and requeued")

    # 3. A sweep: job array over (step size, seed) with a concurrency limit.
    lst = os.path.join(TMP, "sweep.list")
    with open(lst, "w") as f:
        f.write("# step size, seed\n1e-5 5\n2e-5 6\n")
    small = os.path.join(TMP, "small.ini")
    with open(small, "w") as f:
        f.write(CONFIG.format(steps=6000, every=1000))
    sweep_dir = os.path.join(TMP, "sweep")
    jid = sh("sbatch", "--parsable", "--ntasks=2", "--array=1-2%1", "--output=" + TMP + "/sgld-sweep-%A_%a.log",
             os.path.join(SRC, "jobs", "sweep.sbatch"), small, lst, env=dict(ENV, SGLD_RUN_DIR=sweep_dir)).split(";")[0]
    for task in ("1", "2"):
        state, _, code = wait_done("%s_%s" % (jid, task))
        if state != "COMPLETED":
            fail("sweep task %s: %s (exit %s)" % (task, state, code))
    dirs = sorted(os.listdir(sweep_dir))
    if dirs != ["sweep-1-eps1e-5-seed5", "sweep-2-eps2e-5-seed6"]:
        fail("sweep directories: %s" % dirs)
    a, b = (variables(os.path.join(sweep_dir, d, "samples.h5")) for d in dirs)
    if a["posterior/w"] == b["posterior/w"]:
        fail("the two sweep tasks produced the same draws")
    log("sweep array %s: 2 tasks (%s) completed" % (jid, ", ".join(dirs)))

    # 4. The world-size check: 2 single-rank copies are refused before sampling.
    # (srun without PMI support in Open MPI refuses to start at all, so a stand-in launcher
    # starts the copies: each is then an MPI singleton, as under a misconfigured srun.)
    copies = os.path.join(TMP, "copies")
    with open(copies, "w") as f:
        f.write("#!/bin/sh\n# N single-rank copies of a command, as a broken launcher would start\n"
                "n=$SLURM_NTASKS; for v in $(env | grep -o '^SLURM_[A-Z_]*'); do unset $v; done\n"
                "for i in $(seq $n); do \"$@\" & done; wait\n")
    os.chmod(copies, 0o755)
    run_dir = os.path.join(TMP, "run4")
    jid = sh("sbatch", "--parsable", "--ntasks=2", "--no-requeue", "--output=" + TMP + "/sgld-run4-%j.log",
             os.path.join(SRC, "jobs", "sgld.sbatch"), small, "--chains", "1",
             env=dict(ENV, SGLD_RUN_DIR=run_dir, SGLD_LAUNCH=copies)).split(";")[0]
    state, _, code = wait_done(jid)
    text = open(os.path.join(TMP, "sgld-run4-%s.log" % jid)).read()
    if state != "FAILED" or "world size check failed" not in text or os.path.exists(os.path.join(run_dir, "samples.h5")):
        fail("2 single-rank copies: %s (exit %s), log:\n%s" % (state, code, text))
    if "sees 1 MPI world" not in text:
        fail("the copies did not run as singletons:\n" + text)
    log("2 single-rank copies refused by the world-size check before sampling: " +
        [l for l in text.splitlines() if "world size" in l][0])
    cleanup()
    shutil.rmtree(TMP, ignore_errors=True)
    log("OK")


T0 = time.time()
try:
    main()
finally:
    cleanup()
