#!/usr/bin/python3
"""Stacks that never existed (issue 16, 4): record fixtures/torn_edges.py, whose possible
calls are known, at -r 2000 on every interpreter found, and count the recorded calls that
it cannot make: an edge between two of its functions that is not in its EDGES, a function
of it entered from outside it other than its ENTRIES, or recurse nested deeper than
MAX_DEPTH + 1.  Each such call line is a stack spliced from torn reads.

Usage: python3 tests/torn_edges.py [--seconds S] [--python LABEL[,LABEL]] [--keep]
                                   [--keep-failed DIR]
One line per interpreter (passed / FAILED / skipped and why); exit 1 when any recorded an
impossible call.  The tgattach binary is $TGATTACH, default ./tgattach.
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
FIXTURE = os.path.join(ROOT, "fixtures", "torn_edges.py")
ROOTS = os.environ.get("TG_ROOTS") or "/var/tmp/tgattach-roots"


def fixture_facts():
    """EDGES, ENTRIES and MAX_DEPTH, read from the fixture itself."""
    ns = {}
    src = open(FIXTURE).read()
    head = src[:src.index("class Thing")]
    exec(compile(head, FIXTURE, "exec"), ns)
    return set(ns["EDGES"]), set(ns["ENTRIES"]), ns["MAX_DEPTH"]


def pythons():
    """[(label, argv prefix, fixture path as the target sees it, root or None)]"""
    found = []
    try:
        pyroot = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pyroot = os.path.expanduser("~/.pyenv")
    best = {}
    for d in glob.glob(os.path.join(pyroot, "versions", "*")):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", os.path.basename(d))
        exe = os.path.join(d, "bin", "python")
        if m and os.access(exe, os.X_OK):
            key = (int(m.group(1)), int(m.group(2)))
            if key not in best or int(m.group(3)) > best[key][0]:
                best[key] = (int(m.group(3)), exe, os.path.basename(d))
    for key in sorted(best):
        found.append(("pyenv-" + best[key][2], [best[key][1]], FIXTURE, None))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian-3.11", ["/usr/bin/python3.11"], FIXTURE, None))
    for root, py in (("trixie", "python3.13"), ("unstable", "python3.14"),
                     ("unstable", "python3.15")):
        r = os.path.join(ROOTS, root)
        if os.access(os.path.join(r, "usr/bin", py), os.X_OK):
            found.append(("debian-%s" % py, ["chroot", r, "/usr/bin/" + py],
                          "/tmp/tgattach-torn/torn_edges.py", r))
        else:
            found.append(("debian-%s" % py, None, None, "%s not built (make roots)" % r))
    return found


FRAME = re.compile(r"^( *)[0-9.]+#(.*):(-?\d+):(.*)$")


def judge(stack_files, fixture_path, facts):
    """(impossible call lines, all call lines, examples)"""
    edges, entries, max_depth = facts
    bad = total = 0
    examples = []
    for path in stack_files:
        chain = []  # (in fixture, short name) by depth
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                m = FRAME.match(raw.decode("utf-8", "replace").rstrip("\n"))
                if not m:
                    continue
                depth = len(m.group(1))
                mine = m.group(2) == fixture_path
                name = m.group(4).split(".")[-1] if mine else m.group(4)
                del chain[depth:]
                total += 1
                why = None
                if mine:
                    caller = chain[depth - 1] if depth and len(chain) >= depth else None
                    if caller and caller[0] and (caller[1], name) not in edges:
                        why = "%s -> %s" % (caller[1], name)
                    elif caller and not caller[0] and name not in entries:
                        why = "(outside) -> %s" % name
                    if name == "recurse":
                        run = 0
                        for c in reversed(chain):
                            if c != (True, "recurse"):
                                break
                            run += 1
                        if run + 1 > max_depth + 1:
                            why = "recurse %d deep" % (run + 1)
                if why:
                    bad += 1
                    if len(examples) < 3:
                        # the whole chain as the file shows it, outermost first, so that
                        # a failure in a CI log says which frames were spliced
                        shown = " > ".join(c[1] if c[0] else "[%s]" % c[1]
                                           for c in chain[:depth])
                        examples.append("%s:%d: %s (chain: %s > %s)" % (
                            os.path.basename(path), lineno, why, shown, name))
                while len(chain) < depth:
                    chain.append((False, "?"))  # a caller the file did not show
                chain.append((mine, name))
    return bad, total, examples


def self_test(facts):
    """The judge on two small files: a caller whose line is unknown (-1, docs/formats.md)
    is a caller all the same (read as no line, the next call seemed to be the earlier
    frame's at that depth: CI failed on '(outside) -> helper' that way); an edge the
    fixture cannot make is counted.  Returns what went wrong, or None."""
    fix = "/f/torn_edges.py"
    good = ("1.0#/t/threading.py:1012:Thread.run\n"
            " 1.0#%s:82:worker\n"
            "  1.1#/t/random.py:336:Random.randint\n"
            "  1.2#%s:-1:catcher\n"
            "   1.3#%s:40:helper\n" % (fix, fix, fix))
    bad = good.replace("%s:-1:catcher" % fix, "%s:-1:consume" % fix)
    d = tempfile.mkdtemp(prefix="tgattach-torn-judge-")
    try:
        for text, want in ((good, 0), (bad, 1)):
            path = os.path.join(d, "t.stack")
            with open(path, "w") as f:
                f.write(text)
            got = judge([path], fix, facts)[0]
            if got != want:
                return "the judge found %d impossible calls where there are %d" % (got, want)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return None


MIN_CALLS = 200

def run_one(label, argv, fixture_path, root, secs, tgattach, facts, keep=False,
            keep_failed=None):
    stage = None
    if root:
        stage = os.path.join(root, "tmp", "tgattach-torn")
        os.makedirs(stage, exist_ok=True)
        shutil.copy(FIXTURE, stage)
    out = tempfile.mkdtemp(prefix="tgattach-torn-")
    ok = False
    p = subprocess.Popen(argv + [fixture_path], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        if p.stdout.readline().strip() != b"READY":
            return "FAILED (the fixture did not start)", False
        time.sleep(0.5)
        rc = subprocess.run([tgattach, "-p", str(p.pid), "-o", out, "-r", "2000", "-d",
                             str(secs), "-q"], timeout=secs + 60).returncode
        if rc != 0:
            return "FAILED (tgattach exited %d)" % rc, False
        files = glob.glob(os.path.join(out, str(p.pid), "*.stack"))
        bad, total, examples = judge(files, fixture_path, facts)
        # enough calls that the judge judged something: a loaded CI machine (2 cores,
        # the fixture's threads, tgattach at 2000 Hz, a chroot'd interpreter) records
        # 700 - 2000 in 4 s; a recording that read nothing has none
        if total < MIN_CALLS:
            return "FAILED (only %d calls recorded, %d wanted)" % (total, MIN_CALLS), False
        line = "%d impossible of %d recorded calls in %d s at 2000 Hz" % (bad, total, secs)
        if bad:
            return "FAILED (%s; e.g. %s)" % (line, "; ".join(examples)), False
        ok = True
        return "passed (%s)" % line, True
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if keep:
            sys.stderr.write("torn %s: recording kept in %s\n" % (label, out))
        elif keep_failed and not ok:
            dest = os.path.join(keep_failed, label)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(keep_failed, exist_ok=True)
            shutil.move(out, dest)
            sys.stderr.write("torn %s: failed recording kept in %s\n" % (label, dest))
        else:
            shutil.rmtree(out, ignore_errors=True)
        if stage:
            shutil.rmtree(stage, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--python")
    ap.add_argument("--keep", action="store_true", help="keep each recording and say where")
    ap.add_argument("--keep-failed", metavar="DIR",
                    help="move a failed combination's recording to DIR/LABEL")
    args = ap.parse_args()
    tgattach = os.environ.get("TGATTACH", os.path.join(ROOT, "tgattach"))
    facts = fixture_facts()
    wrong = self_test(facts)
    if wrong:
        print("torn: FAILED (self-test: %s)" % wrong)
        return 1
    failed = 0
    for label, argv, fixture_path, root in pythons():
        if args.python and label not in args.python.split(","):
            continue
        if argv is None:
            print("torn %-18s skipped: %s" % (label, root))
            continue
        verdict, ok = run_one(label, argv, fixture_path, root, args.seconds, tgattach, facts,
                              args.keep, args.keep_failed)
        failed += not ok
        print("torn %-18s %s" % (label, verdict), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
