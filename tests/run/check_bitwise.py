"""The registry x models matrix through the CLI, against stored checksums of the draws.

Every registered sampler runs on every model it supports (ksgld needs dense/conv layers, so
it runs on mlp and cnn only), a few hundred steps with fixed seeds on small data, at 1 rank,
plus every sampler once at 2 ranks as 1 chain of 2 shards, two cases as 2 chains of 1
shard and two on 2 threads (--threads), which must also match their 1-thread twins.  For each
sample file the checksum is the SHA-256 over every dataset of the file in path order (its path, dtype, shape and raw little-endian values: posterior and sample_stats
with their coordinates, observed_data), not over the file's bytes, which carry a creation time and the
output path; the group `monitor` (the convergence monitor's figures per flush, a function of the
draws checked by check_stop_when.py) is left out.  The checksums in bitwise.sha256 must match exactly: a refactoring that keeps
behaviour keeps every draw bit for bit.

Regenerate (--regenerate) only when a change is MEANT to change the draws (a new random
stream, a different update, a changed default) or when a case is added to CASES; say so in
the commit message.  A refactoring never regenerates.  The stored file must also be
regenerated on a platform whose floating point differs (another BLAS or compiler flags):
the checksums are of the build that made them.

The sampler list below is checked against `sgld-dist --help`'s list: a registered sampler
without a case fails the test.

usage: check_bitwise.py BUILD_ROOT SOURCE_ROOT [--regenerate]"""
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

BUILD, SOURCE = sys.argv[1], sys.argv[2]
REGENERATE = "--regenerate" in sys.argv[3:]
DIST = os.path.join(BUILD, "sgld-dist")
SUMS = os.path.join(SOURCE, "tests", "run", "bitwise.sha256")
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TMP = tempfile.mkdtemp(prefix="sgld-bitwise-")

IMAGES = os.path.join(TMP, "images.csv")

# Model configurations: name -> options.  cnn reads 4x4 one-channel images written below.
MODELS = {
    "linreg": ["--model", "linreg", "--data", "synthetic:linreg3"],
    "logreg": ["--model", "logreg", "--data", "synthetic:logreg"],
    "softmax": ["--model", "softmax", "--data", "synthetic:softmax"],
    "mlp-reg": ["--model", "mlp", "--data", "synthetic:linreg3", "--net", "fc8-tanh-fc2"],
    "mlp-fixed": ["--model", "mlp", "--data", "synthetic:linreg3", "--net", "fc6-fc1",
                  "--prior-sd-layers", "0.8,1.5", "--save-params", "fc2"],
    "mlp-class": ["--model", "mlp", "--task", "classification", "--data", "synthetic:softmax",
                  "--net", "fc8-drop0.2-fc3"],
    "cnn": ["--model", "cnn", "--data", IMAGES, "--input-shape", "1x4x4",
            "--net", "conv3k3-pool2-fc3"],
}
LAYERED = ("mlp-reg", "mlp-fixed", "mlp-class", "cnn")

# Sampler -> (options, models).  Step sizes keep every chain finite on these data; sgd takes
# a decaying schedule (fsgd ignores the schedule, so with the default constant step the two
# would write the same draws and one could change unseen).
SAMPLERS = {
    "sgd": (["--step-gamma", "0.3", "--step-b", "10", "--step-size", "1e-4"], None),
    "sgld": ([], None),
    "fsgd": ([], None),
    "psgld": (["--psgld-gamma", "--step-size", "1e-3"], None),
    "sghmc": (["--sghmc-adapt", "--friction", "0.2"], None),
    "csgld": (["--cycles", "3", "--explore", "0.5"], None),
    "ksgld": (["--step-size", "0.01", "--kfac-every", "5"], LAYERED),
    "smile": ([], None),
    "psmile": (["--smile-integrator", "leapfrog"], None),
    "sgnht": (["--sgnht-a", "0.2", "--step-size", "1e-4"], None),
}
COMMON = ["--steps", "300", "--burnin", "100", "--thin", "2", "--batch-size", "50",
          "--seed", "7", "--flush-every", "30", "--quiet"]

# Runs on 2 threads (--threads) that must write the draws of their 1-thread twin: the noise's
# threads never change its bits, and these networks' GEMMs are too small for OpenBLAS to split
# (a large GEMM on 2 threads sums in another order: tools/bench/README.md).
THREADED = {
    "sgnht/mlp-class/2-threads": ["--sampler", "sgnht", "--threads", "2"] + SAMPLERS["sgnht"][0] + MODELS["mlp-class"],
    "psgld/cnn/2-threads": ["--sampler", "psgld", "--threads", "2"] + SAMPLERS["psgld"][0] + MODELS["cnn"],
}

failures = []


def write_images():
    """120 rows of 16 pixels and a class 0..2: exact decimal text (multiples of 1/8), the
    class brightening one quadrant, so the file is the same bytes everywhere."""
    with open(IMAGES, "w") as f:
        f.write(",".join(f"p{i}" for i in range(16)) + ",label\n")
        for r in range(120):
            k = r % 3
            px = []
            for c in range(16):
                v = ((r * 31 + c * 17) % 23 - 11) / 8.0
                if (c // 8 == k // 2) and (c % 4 // 2 == k % 2):
                    v += 1.5
                px.append(f"{v:.3f}")
            f.write(",".join(px) + f",{k}\n")


def cases():
    """(name, ranks, argv) of every run of the matrix."""
    out = []
    for s, (opts, models) in SAMPLERS.items():
        for m in (models or MODELS):
            out.append((f"{s}/{m}", 1, ["--sampler", s] + opts + MODELS[m]))
        first = models[0] if models else "linreg"
        out.append((f"{s}/{first}/2-shards", 2, ["--sampler", s] + opts + MODELS[first]))
    out.append(("sgld/softmax/2-chains", 2, ["--sampler", "sgld", "--chains", "2"] + MODELS["softmax"]))
    out.append(("smile/mlp-class/2-chains", 2,
                ["--sampler", "smile", "--chains", "2"] + MODELS["mlp-class"]))
    for name, argv in THREADED.items():
        out.append((name, 1, argv))
    return out


def checksum(path):
    """SHA-256 over every dataset but the monitor's (path, dtype, shape, little-endian bytes: the feature and class
    names as their char coordinates' NUL-padded bytes, with the stringW placeholders' zeros; a variable-length string
    dataset as its UTF-8 values each ended by a NUL), in path order."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        names = []
        # the monitor's rows are figures of the draws, checked against numpy by check_stop_when.py
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and not n.startswith("monitor/")
                     else None)
        for n in sorted(names):
            a = np.asarray(f[n][()])
            if a.dtype != object:
                a = a.astype(a.dtype.newbyteorder("<"))
            h.update(f"{n}|{a.dtype.str}|{a.shape}|".encode())
            if a.dtype == object:
                h.update(b"".join((v if isinstance(v, bytes) else v.encode()) + b"\0" for v in a.ravel()))
            else:
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def run(case):
    name, ranks, argv = case
    out = os.path.join(TMP, name.replace("/", "_") + ".h5")
    cmd = [DIST] + argv + COMMON + ["--output", out]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), "--oversubscribe"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return name, None, f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
    return name, checksum(out), None


def registered_samplers():
    """The sampler names sgld-dist's --help lists (its registry)."""
    text = subprocess.run([DIST, "--help"], capture_output=True, text=True).stdout
    m = re.search(r"Samplers: ([a-z|]+)\.", text)
    return set(m.group(1).split("|")) if m else set()


def main():
    missing = registered_samplers() ^ set(SAMPLERS)
    if missing:
        failures.append(f"samplers registered vs cased differ: {sorted(missing)}")
    write_images()
    got = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for name, digest, err in pool.map(run, cases()):
            if err:
                failures.append(f"{name}: {err}")
            else:
                got[name] = digest
    if REGENERATE:
        if failures:
            print("\n".join(failures))
            return 1
        with open(SUMS, "w") as f:
            for name in sorted(got):
                f.write(f"{got[name]}  {name}\n")
        print(f"wrote {len(got)} checksums to {SUMS}")
        return 0
    for name in THREADED:
        twin = name.rsplit("/", 1)[0]
        if name in got and twin in got and got[name] != got[twin]:
            failures.append(f"{name}: draws differ from {twin}'s (1 thread)")
    stored = {}
    with open(SUMS) as f:
        for line in f:
            digest, name = line.split()
            stored[name] = digest
    for name in sorted(set(stored) | set(got)):
        if name not in got:
            if not any(x.startswith(name + ":") for x in failures):
                failures.append(f"{name}: stored but not run")
        elif name not in stored:
            failures.append(f"{name}: no stored checksum (regenerate when adding a case)")
        elif stored[name] != got[name]:
            failures.append(f"{name}: draws differ from the stored checksum")
    for x in failures:
        print("FAIL:", x)
    print(f"{len(got)} runs, {len(failures)} failures")
    if not failures:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
