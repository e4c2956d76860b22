#!/usr/bin/python3
"""Calls from C, one per request (an embedding server: uWSGI, mod_wsgi): fixtures/embed_calls.c,
built against each interpreter's shared libpython, calls embed_calls_app.handle() from C and
runs C without the GIL between two calls.  Recorded with the defaults, handle() must return
about as often as it was called: at least MIN_SHARE of the calls made while tgattach ran
(the readings see the C code between two calls; until December 2026 only walks at changes
and stack samples did, and most calls merged with the next), and never more than were made
(a return that did not happen).  And the same program idle, its only thread in C, is read:
`dump` shows the thread without a frame (3.13 refused it until December 2026: its walk
without a current frame was taken for a torn one).

Usage: python3 tests/embed_calls.py [--seconds S] [--python LABEL[,LABEL]] [--keep]
One line per interpreter (passed / FAILED / skipped and why); exit 1 when any failed.  The
tgattach binary is $TGATTACH, default ./tgattach.
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from torn_edges import pythons  # noqa: E402  the interpreters found, as torn_edges runs them

FIXTURES = os.path.join(ROOT, "fixtures")
APP = "embed_calls_app.py"
MIN_SHARE = 0.4
COUNT_EVERY = 64  # the fixture writes its count that often (embed_calls.c)
RETURN = re.compile(rb"^[0-9.]+#(.*):-?\d+:handle=>-?\d+$")


def build_flags(label, exe):
    """cc flags that build the fixture against exe's shared libpython, or (None, why)."""
    code = ("import sysconfig as s; print(s.get_config_var('INCLUDEPY')); "
            "print(s.get_config_var('LIBDIR')); print(s.get_config_var('LDLIBRARY'))")
    try:
        r = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "cannot ask %s for its build: %s" % (exe, e)
    lines = r.stdout.split("\n")
    if r.returncode != 0 or len(lines) < 3:
        return None, "cannot ask %s for its build" % exe
    inc, libdir, lib = lines[0], lines[1], lines[2]
    m = re.fullmatch(r"lib(python.*)\.so(\.[0-9.]*)?", lib)
    if not m or not os.path.exists(os.path.join(inc, "Python.h")):
        return None, "no shared libpython with its headers (%s, %s)" % (lib, inc)
    return ["-I" + inc, "-L" + libdir, "-Wl,--no-as-needed", "-l" + m.group(1),
            "-Wl,-rpath," + libdir], None


def returns(outdir, pid):
    """handle()'s returns in the recording's .mem files."""
    n = 0
    for path in glob.glob(os.path.join(outdir, str(pid), "*.mem")):
        with open(path, "rb") as f:
            for line in f:
                m = RETURN.match(line.rstrip(b"\n"))
                n += bool(m and m.group(1).endswith(APP.encode()))
    return n


def read_count(path):
    with open(path) as f:
        return int(f.read(20) or 0)


def check_idle(binary, count, tgattach):
    """The fixture idle in C: what went wrong with dump, or None."""
    p = subprocess.Popen([binary, FIXTURES, count, "idle"], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if p.stdout.readline().strip() != b"READY":
            return "the fixture did not start"
        time.sleep(0.2)
        r = subprocess.run([tgattach, "dump", "-p", str(p.pid)], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            return "dump exited %d: %s" % (r.returncode, r.stderr.strip()[-200:])
        if "Thread %d " % p.pid not in r.stdout or 'File "' in r.stdout:
            return "dump did not show the thread without a frame: %s" % r.stdout[-300:]
        return None
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def run_one(label, exe, secs, tgattach, keep):
    flags, why = build_flags(label, exe)
    if flags is None:
        return "skipped: " + why, True
    work = tempfile.mkdtemp(prefix="tgattach-embed-")
    binary, count = os.path.join(work, "embed_calls"), os.path.join(work, "count")
    r = subprocess.run(["cc", "-O1", "-o", binary, os.path.join(FIXTURES, "embed_calls.c")] +
                       flags, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        return "FAILED (cc: %s)" % r.stderr.strip()[-300:], False
    out = os.path.join(work, "rec")
    p = subprocess.Popen([binary, FIXTURES, count], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if p.stdout.readline().strip() != b"READY":
            return "FAILED (the fixture did not start)", False
        time.sleep(0.3)
        before = read_count(count)
        rc = subprocess.run([tgattach, "-p", str(p.pid), "-o", out, "-d", str(secs), "-q"],
                            timeout=secs + 60).returncode
        after = read_count(count)
        if rc != 0:
            return "FAILED (tgattach exited %d)" % rc, False
        made, got = after - before, returns(out, p.pid)
        line = "handle() returned %d times, called %d - %d times while recorded" % (
            got, made - COUNT_EVERY, made + COUNT_EVERY)
        if made < 200:
            return "FAILED (only %d calls made: the fixture hardly ran)" % made, False
        if got > made + COUNT_EVERY + 1:
            return "FAILED (%s: more returns than calls)" % line, False
        if got < MIN_SHARE * made:
            return "FAILED (%s: under %d %%, calls merged)" % (line, 100 * MIN_SHARE), False
        idle = check_idle(binary, count, tgattach)
        if idle:
            return "FAILED (%s; idle: %s)" % (line, idle), False
        return "passed (%s; idle: dump read it)" % line, True
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if keep:
            sys.stderr.write("embed %s: kept in %s\n" % (label, work))
        else:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--python")
    ap.add_argument("--keep", action="store_true", help="keep each build and recording")
    args = ap.parse_args()
    tgattach = os.environ.get("TGATTACH", os.path.join(ROOT, "tgattach"))
    if shutil.which("cc") is None:
        print("embed: skipped: no C compiler")
        return 0
    failed = 0
    for label, argv, _, root in pythons():
        if args.python and label not in args.python.split(","):
            continue
        if argv is None:
            print("embed %-18s skipped: %s" % (label, root))
            continue
        if root:
            print("embed %-18s skipped: the Debian root has no C compiler or headers" % label)
            continue
        verdict, ok = run_one(label, argv[0], args.seconds, tgattach, args.keep)
        failed += not ok
        print("embed %-18s %s" % (label, verdict), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
