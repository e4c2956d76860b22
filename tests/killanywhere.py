#!/usr/bin/python3
"""Kill-anywhere: tgattach SIGKILLed at random moments must never harm its target.

One Python target (a signal-counting, forking fixture, below) runs throughout.  Each round
starts `tgattach -p PID -o OUT -q`, keeps sending the target real-time signals, each
answered by its handler before the next is sent, and SIGKILLs tgattach at a random moment
(during the attach, the first samples, a fork it follows, or a steady recording).  After
each kill, and at the end:
  - every thread of the target and of its live children has TracerPid 0 and is not stopped
    (state t or T);
  - every signal sent was handled: a signal lost or held in a stop shows as no answer
    within 5 s;
  - the target still runs and forks.
Prints one line with the counts; exit 1 on any failure, 2 when it could not run at all
(no binary, no Python).  `make test` runs 200 kills, and 100 with `--profile both` (each
thread stopped alone for its native stack: a kill then lands mid-unwind); `make soak` runs
2000.

Usage: python3 tests/killanywhere.py [--kills N] [--tgattach PATH] [--seed S]
                                    [--profile python|c|both] [-v]
"""
import argparse
import glob
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Counts SIGRTMIN in a Python handler and answers each on stdout (one byte), so the harness
# sends the next only once the last was handled: none can merge with another.  Two threads
# work; the main thread forks a child that lives ~30 ms every 50 ms.
TARGET = r"""
import os, signal, sys, threading, time
count = 0
def on_sig(signo, frame):
    global count
    count += 1
    os.write(1, b"+")
signal.signal(signal.SIGRTMIN, on_sig)
def work(n):
    while True:
        sum(range(2000 + n))
        time.sleep(0.001)
for n in range(2):
    threading.Thread(target=work, args=(n,), daemon=True, name="worker-%d" % n).start()
os.write(1, b"R")
while True:
    pid = os.fork()
    if pid == 0:
        time.sleep(0.03)
        os._exit(0)
    time.sleep(0.05)
    os.waitpid(pid, 0)
"""


def tasks(pid):
    return glob.glob("/proc/%d/task/*" % pid)


def task_status(path):
    tracer, state = None, None
    try:
        with open(os.path.join(path, "status")) as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    tracer = int(line.split()[1])
                elif line.startswith("State:"):
                    state = line.split()[1]
    except OSError:
        return None, None  # the task ended meanwhile
    return tracer, state


def children(pid):
    out = []
    for t in tasks(pid):
        try:
            with open(os.path.join(t, "children")) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def harmed(pid):
    """What is wrong with the target's tree now, or None."""
    for p in [pid] + children(pid):
        for t in tasks(p):
            tracer, state = task_status(t)
            if tracer:
                return "task %s traced by %d" % (t, tracer)
            if state in ("t", "T"):
                return "task %s stopped (%s)" % (t, state)
    return None


class Target:
    def __init__(self, python):
        self.p = subprocess.Popen([python, "-c", TARGET], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        self.sent = self.answered = 0
        if self.read(1, 30) != b"R":
            raise RuntimeError("the target did not start")

    def read(self, n, timeout):
        data = b""
        until = time.monotonic() + timeout
        while len(data) < n:
            left = until - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                break
            chunk = os.read(self.p.stdout.fileno(), n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def signal_once(self):
        """Sends one signal and waits for its answer; False when none came in 5 s."""
        os.kill(self.p.pid, signal.SIGRTMIN)
        self.sent += 1
        if self.read(1, 5) != b"+":
            return False
        self.answered += 1
        return True

    def stop(self):
        self.p.kill()
        self.p.wait()


def round_once(tg, target, out, rng, failures, verbose, extra):
    kill_at = rng.uniform(0, 0.6)
    proc = subprocess.Popen([tg, "-p", str(target.p.pid), "-o", out, "-q"] + extra,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while time.monotonic() - start < kill_at:
        if not target.signal_once():
            failures.append("signal %d not handled while tgattach ran" % target.sent)
            break
    proc.kill()
    proc.wait()
    for _ in range(5):  # signals right after the kill: none may be lost in a stop
        if not target.signal_once():
            failures.append("signal %d not handled after the kill at %.3f s" %
                            (target.sent, kill_at))
            break
    time.sleep(0.02)
    why = harmed(target.p.pid)
    if why:
        failures.append("after the kill at %.3f s: %s" % (kill_at, why))
    if target.p.poll() is not None:
        failures.append("the target died (status %s)" % target.p.returncode)
    if verbose:
        print("kill at %.3f s: sent %d, answered %d" % (kill_at, target.sent,
                                                         target.answered))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--tgattach", default=os.environ.get("TGATTACH",
                                                          os.path.join(ROOT, "tgattach")))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--profile", choices=("python", "c", "both"), default="python",
                    help="record with --profile KIND; c and both at -r 500, so that most "
                    "kills land while a thread is stopped for its native stack")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if not os.access(a.tgattach, os.X_OK) or not os.access(a.python, os.X_OK):
        print("killanywhere: cannot run: %s or %s missing" % (a.tgattach, a.python))
        return 2
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    extra = [] if a.profile == "python" else ["--profile", a.profile, "-r", "500"]
    failures = []
    started = time.monotonic()
    target = Target(a.python)
    try:
        with tempfile.TemporaryDirectory(prefix="tg-kill-") as out:
            for _ in range(a.kills):
                round_once(a.tgattach, target, out, rng, failures, a.verbose, extra)
                if len(failures) > 5 or target.p.poll() is not None:
                    break
            forked = False
            for _ in range(30):  # a child every 50 ms while it runs
                forked = forked or bool(children(target.p.pid))
                time.sleep(0.01)
            if not forked:
                failures.append("the target no longer forks at the end")
            if target.p.poll() is not None or not target.signal_once():
                failures.append("the target no longer answers at the end")
    finally:
        target.stop()
    print("killanywhere: %d SIGKILLs of tgattach (--profile %s, seed %d, %.0f s): %d of %d "
          "signals handled, %s" % (a.kills, a.profile, seed, time.monotonic() - started,
                                  target.answered, target.sent,
                  "target unharmed" if not failures else "FAILED: " + "; ".join(failures[:5])))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
