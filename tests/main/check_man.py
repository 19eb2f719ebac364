#!/usr/bin/python3
"""The man pages (tools/man/sgld-dist.1, tools/man/sgld-ess.1) keep up with --help: every long option that
a program's --help lists (sgld-ess: summary's and predict's) appears in its page.

usage: check_man.py BUILD_DIR SOURCE_DIR"""
import os
import re
import subprocess
import sys

BUILD, SOURCE = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none")
failures = 0


def help_options(*args):
    p = subprocess.run([os.path.join(BUILD, args[0])] + list(args[1:]), capture_output=True,
                       text=True, timeout=60, env=ENV)
    assert p.returncode == 0, p.stderr
    return set(re.findall(r"^ +(?:-\w, )?(--[\w-]+)", p.stdout, re.M))


for page, runs in (("sgld-dist.1", [("sgld-dist", "--help")]),
                   ("sgld-ess.1", [("sgld-ess", "summary", "--help"), ("sgld-ess", "predict", "--help")])):
    text = open(os.path.join(SOURCE, "tools", "man", page)).read().replace("\\-", "-")
    listed = set(re.findall(r"^\.B (?:-\w, )?(--[\w-]+)", text, re.M))
    wanted = set().union(*(help_options(*r) for r in runs))
    missing = sorted(wanted - listed)
    extra = sorted(listed - wanted)
    ok = len(wanted) > 10 and not missing and not extra
    failures += not ok
    print(("ok - " if ok else "FAIL - ") + f"{page}: {len(wanted)} options of --help"
          + ("" if ok else f"; missing {missing}, not in --help {extra}"))
sys.exit(1 if failures else 0)
