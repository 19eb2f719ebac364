#!/usr/bin/python3
"""The installed library, as a user outside this tree gets it: `meson install --destdir` into a
temporary directory, then tools/examples/embed.c (the installed copy) compiled against the
installed headers, sgld.pc and libsgld alone, and run at 2 ranks.

Checks: every public header (include/sgld/*.h) is installed and compiles on its own with
nothing but the installed include directory and sgld.pc's flags; libsgld.so.ABI (ABI =
SGLD_ABI_VERSION) has that soname and exports sgld_* only; sgld.pc gives the version and the
flags that build embed.c against the shared library (which it then loads from the install)
and, with --static, against libsgld.a; embed exits 0 at 2 ranks and reports both groups
within bounds; the installed sgld-dist and sgld-ess carry an rpath to <prefix>/<libdir>
and run from the install.

sgld.pc's prefix is the final one (the build's --prefix); the test reads it from a copy whose
`prefix=` line points into the temporary directory (every other path of sgld.pc is relative
to ${prefix}, so a path that is not fails here).  pkg-config's --define-variable=prefix would
move Open MPI's prefix as well, and --define-prefix guesses wrong under a multiarch libdir.

usage: check_install.py BUILD_DIR SOURCE_DIR VERSION PREFIX LIBDIR INCLUDEDIR BINDIR DATADIR
                        B_SANITIZE CC...
Prints one line per case and a closing 'N passed, N failed' line; exits non-zero on failure
(77, a skip, in a sanitized build: linking its libsgld needs the sanitizer runtimes).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD, SOURCE, VERSION, PREFIX, LIBDIR, INCLUDEDIR, BINDIR, DATADIR, SANITIZE = sys.argv[1:10]
CC = sys.argv[10:]
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 60
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_mpi_yield_when_idle="1",
           OMPI_MCA_orte_execute_quiet="1", OPENBLAS_NUM_THREADS="1")
for var in ("LD_LIBRARY_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"):
    ENV.pop(var, None)

if SANITIZE not in ("", "none"):
    print(f"SKIP: a -Db_sanitize={SANITIZE} build (its libsgld links only with the sanitizers)")
    sys.exit(77)

passed = failed = 0
tmp = tempfile.mkdtemp(prefix="sgld-install-")


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}: {detail}")
    return ok


def run(cmd, env=ENV, timeout=TIMEOUT):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def out(p):
    return "timed out" if p is None else (p.stdout + p.stderr)[-2000:]


def finish():
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def under(*parts):
    """The installed path of <prefix>/<parts...> (absolute parts win, as in meson)."""
    return os.path.join(dest, os.path.join(PREFIX, *parts).lstrip("/"))


dest = os.path.join(tmp, "dest")
p = run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dest],
        timeout=120)
if not check("meson install --destdir", p is not None and p.returncode == 0, out(p)):
    finish()
libdir, includedir = under(LIBDIR), under(INCLUDEDIR)
version_h = open(os.path.join(SOURCE, "include", "sgld", "version.h")).read()
abi = re.search(r"^#define SGLD_ABI_VERSION (\d+)$", version_h, re.M).group(1)

# The headers: all of them, each compiling alone against the install (no private header).
wanted = sorted(os.path.basename(h) for h in glob.glob(os.path.join(SOURCE, "include", "sgld", "*.h")))
have = sorted(os.path.basename(h) for h in glob.glob(os.path.join(includedir, "sgld", "*.h")))
check(f"every public header is installed ({len(wanted)})", have == wanted,
      f"missing {sorted(set(wanted) - set(have))}, extra {sorted(set(have) - set(wanted))}")

# The library: soname, symlinks, the static archive, the exported symbols.
so = os.path.join(libdir, "libsgld.so." + abi)
check(f"libsgld.so, libsgld.so.{abi} and libsgld.a are installed",
      all(os.path.exists(os.path.join(libdir, f)) for f in ("libsgld.so", "libsgld.so." + abi, "libsgld.a")),
      str(os.listdir(libdir)) if os.path.isdir(libdir) else libdir + " missing")
p = run(["readelf", "-d", so])
check(f"its soname is libsgld.so.{abi} (SGLD_ABI_VERSION)",
      p is not None and f"Library soname: [libsgld.so.{abi}]" in p.stdout, out(p))
p = run(["nm", "-D", "--defined-only", so])
names = [line.split()[-1] for line in (p.stdout if p else "").splitlines() if line.strip()]
others = [n for n in names if not n.startswith("sgld_")]
check("it exports sgld_* only (sgld_main, sgld_run, sgld_model_register among them)",
      names and not others and {"sgld_main", "sgld_run", "sgld_model_register"} <= set(names),
      f"{len(names)} symbols; not sgld_*: {others[:10]}")

# sgld.pc, relocated into the temporary directory.
pc_installed = os.path.join(libdir, "pkgconfig", "sgld.pc")
pc_dir = os.path.join(tmp, "pkgconfig")
os.makedirs(pc_dir)
text = open(pc_installed).read() if os.path.exists(pc_installed) else ""
check("sgld.pc is installed and its prefix is the build's", f"prefix={PREFIX}\n" in text,
      pc_installed + ":\n" + text)
with open(os.path.join(pc_dir, "sgld.pc"), "w") as f:
    f.write(re.sub(r"^prefix=.*$", "prefix=" + os.path.join(dest, PREFIX.lstrip("/")), text, flags=re.M))
pc_env = dict(ENV, PKG_CONFIG_PATH=pc_dir)


def pkg_config(*args):
    p = run(["pkg-config"] + list(args) + ["sgld"], env=pc_env)
    return p.stdout.split() if p is not None and p.returncode == 0 else None


p = run(["pkg-config", "--modversion", "sgld"], env=pc_env)
check(f"pkg-config --modversion sgld is {VERSION}", p is not None and p.stdout.strip() == VERSION, out(p))
cflags, libs, static_libs = pkg_config("--cflags"), pkg_config("--libs"), pkg_config("--static", "--libs")
check("pkg-config --cflags --libs sgld: the install's include and lib directories and -lsgld",
      cflags is not None and libs is not None and "-I" + includedir in cflags
      and "-L" + libdir in libs and "-lsgld" in libs, f"{cflags} {libs}")
if cflags is None or libs is None or static_libs is None:
    finish()

bad = []
for h in wanted:
    src = os.path.join(tmp, "h.c")
    with open(src, "w") as f:
        f.write(f"#include <sgld/{h}>\n#include <sgld/{h}>\nint main(void) {{ return 0; }}\n")
    p = run(CC + ["-std=c11", "-fsyntax-only", src] + cflags)
    if p is None or p.returncode != 0:
        bad.append(f"{h}: {out(p)}")
check("each installed header compiles alone (twice: guarded) with sgld.pc's cflags only", not bad,
      "\n".join(bad))

# embed.c as installed under share/doc, compiled and linked against the install only.
example = under(DATADIR, "doc", "sgld-dist", "examples", "embed.c")
check("the examples are installed (embed.c, as in tools/examples)",
      os.path.exists(example)
      and open(example).read() == open(os.path.join(SOURCE, "tools", "examples", "embed.c")).read(),
      example)
embed = os.path.join(tmp, "embed")
p = run(CC + ["-std=c11", "-O2", "-o", embed, example] + cflags + libs + ["-lm", "-Wl,-rpath," + libdir])
if check("embed.c builds with $(pkg-config --cflags --libs sgld)", p is not None and p.returncode == 0, out(p)):
    p = run(["ldd", embed])
    check("embed loads libsgld from the install",
          p is not None and re.search(rf"libsgld\.so\.{abi} => {re.escape(so)} ", p.stdout), out(p))


def check_embed(exe, what):
    p = run([MPIEXEC, "-n", "2", "--oversubscribe", exe])
    text = out(p)
    check(f"{what}: exit 0 at 2 ranks, both groups within their bounds",
          p is not None and p.returncode == 0 and "every group agrees with the closed form" in p.stdout
          and len(re.findall(r"^embed: group [01] \(1 rank", p.stdout, re.M)) == 2
          and p.stdout.count(": ok\n") == 4, text)
    if p is not None:
        print(p.stdout, end="")


if os.path.exists(embed):
    check_embed(embed, "embed (shared libsgld)")

# The same against libsgld.a (Libs.private, Requires.private): the archive alone in the first
# -L directory, so that -lsgld finds it before the shared library.
static_dir = os.path.join(tmp, "static")
os.makedirs(static_dir)
os.symlink(os.path.join(libdir, "libsgld.a"), os.path.join(static_dir, "libsgld.a"))
embed_static = os.path.join(tmp, "embed-static")
p = run(CC + ["-std=c11", "-O2", "-o", embed_static, example, "-L" + static_dir] + cflags + static_libs + ["-lm"])
if check("embed.c builds with libsgld.a and $(pkg-config --static --libs sgld)",
         p is not None and p.returncode == 0, out(p)):
    p = run(["ldd", embed_static])
    check("that embed needs no libsgld.so", p is not None and p.returncode == 0 and "libsgld" not in p.stdout,
          out(p))
    check_embed(embed_static, "embed (static libsgld)")

# The installed programs: an rpath to <prefix>/<libdir>, and they run from the install.
rpath = os.path.join(PREFIX, LIBDIR)
for prog in ("sgld-dist", "sgld-ess"):
    exe = under(BINDIR, prog)
    p = run(["readelf", "-d", exe])
    paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]", p.stdout if p else "")
    check(f"{prog}'s rpath holds {rpath}", any(rpath in x.split(":") for x in paths), out(p))
    p = run([exe, "--version"], env=dict(ENV, LD_LIBRARY_PATH=libdir))
    check(f"the installed {prog} --version runs", p is not None and p.returncode == 0
          and p.stdout.strip() == f"{prog} {VERSION}", out(p))

finish()
