#!/usr/bin/python3
"""Real servers under load: does tgattach charge a server's memory growth to the code that
allocated it?

For each case x interpreter: start the target (fixtures/realserver/), its load (two `ab`,
one on /leak and one on /churn, to 127.0.0.1 only, bounded in time) and one CPU-bound burner
process beside it (production is loaded: 2 cores, 3 busy processes), record with
`tgattach -p PID -o DIR -d 10 -q`, stop everything, then read the recording with an
independent implementation of the file formats (docs/formats.md; `tgattach render` is not
used) and assert:
  - the leaking function has the largest SELF of all functions;
  - the leak path (NET of the leak view / handler / job function) >= 50 % of the growth;
  - |NET| of the churning function <= 15 % of the growth (8 % for the job loop);
  - SELF of every function outside the app's files <= 15 % of the growth (the app: the
    fixture and work.py, the work the fixtures share);
  - growth charged as run unseen (tgattach's own `[ran unseen]` calls, which are no
    function and are left out of the two items above) <= 50 % of the growth;
  - http.server and gunicorn: no phantom return (a return before the end of the recording)
    of the main thread's outermost `<module>`, `serve_forever`, `run_for_one`, `_worker`.
The recordings go to /dev/shm by default (record_base() says why).
Growth is the heap column of process.alloc, last value minus first, summed over the
recorded processes (the target and the children tgattach followed).  RSS growth is reported.

Replay (per thread): calls (.stack) and returns (.mem) merged by time, returns first at equal
times (a sample's returns are written before its calls); a return pops the top frame.
SELF of a function = sum over its calls of DELTA minus the DELTAs of its direct callees;
NET = sum of the DELTAs of its outermost calls (a recursive function counted once); both
keyed by file + function name and summed over threads and processes.

Returns that close the frames still running when the recording ends are not phantoms: a
return whose time equals meta's `end` (within 1 ms); with no `end` in meta (a sampler that
does not close frames), any return in the last 50 ms before the last line of process.mem.

Cases: gunicorn-sync and gunicorn-gthread (Debian's gunicorn, one worker, serving
flask_app.py; the worker is recorded), gunicorn-tree (two sync workers; the master is
recorded with them, as README's prefork workflow does), uwsgi (Debian's uWSGI, its
master and one worker embedding Debian's libpython3.11 through the python3 plugin, serving
flask_app.py; the worker is recorded; Debian's 3.11 only), uwsgi-threads (the same with
`--threads 4`: the worker serves its requests on four threads uWSGI makes in C, each with
its own thread state), uwsgi-tree (its master and two workers, recorded from the master as
a tree: the master runs C only, the workers' thread states keep its TID), http.server
(http_app.py), mp-pool (pool_job.py, the
parent and the workers tgattach follows), job-loop (job_loop.py).  The work they share
(build_payload, remember, crunch) is in fixtures/realserver/work.py, part of each app.
Interpreters: Debian's /usr/bin/python3.11 and the newest pyenv 3.12.x and 3.13.x
(`pyenv root`), which import Debian's flask and gunicorn with
PYTHONPATH=/usr/lib/python3/dist-packages.

Usage: python3 tests/realserver/run.py [--case NAME[,NAME]] [--python LABEL[,LABEL]]
       [--keep DIR] [--keep-failed DIR] [--no-burner] [--tgattach-opt OPT]...
       [--accuracy-advisory] [--accuracy-tries N] [-v]
       python3 tests/realserver/run.py --analyse CASE OUTDIR PID   (judge a kept recording)
The tgattach binary is $TGATTACH, default ./tgattach at the repository root.  One line per
case x interpreter (passed / failed (why) / skipped (why); with --accuracy-tries, a
combination that missed only the accuracy thresholds and is run again shows "missed, run
again"), then the totals; exit 1 if any
failed, 2 if the harness could not run at all (no binary, or the analyser fails its
self-test on a synthetic recording, which runs first every time).  Cases run one after
another; the whole matrix takes about 3.5 minutes on 2 cores.
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "fixtures", "realserver")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from procutil import children_of, free_port, stop_group  # noqa: E402 (tools/, shared with make bench)
DEBIAN_DIST = "/usr/lib/python3/dist-packages"

RECORD_S = 10          # tgattach -d
WARMUP_S = 1.0         # load runs this long before the attach (lazy imports, caches)
LOAD_S = RECORD_S + 5  # ab -t: outlives the recording, killed when it ends
BURNER_S = 90          # the burner's own bound; it is killed at the end of each case
AB_N = 1000000         # ab -n (with -t: the cap on requests, ab sizes its table on it)

LEAK_PATH_MIN = 0.50
CHURN_MAX = 0.15
# the job loop's churning thread alone makes the pools' changes: tighter than issue 11's
# 15 % (its crunch() lost one release in sixteen to its caller when a stack sample's walk
# came between the release and the next reading: 9 - 14 % on pyenv 3.12 and 3.13 until
# December 2026, 1 - 4 % since; docs/memory.md)
JOB_LOOP_CHURN_MAX = 0.08
OTHER_MAX = 0.15
CLOSE_TOL_US = 1000          # a return at meta's end (within 1 ms) closes a running frame
CLOSE_FALLBACK_US = 50000    # without `end` in meta: the last 50 ms of process.mem
MIN_GROWTH = 4 << 20         # below this the load did not run: nothing to judge
UNSEEN = ("<tgattach>", "[ran unseen]")  # common/tgline.h: TG_UNSEEN_FILE, TG_UNSEEN_FUNC
UNSEEN_MAX = 0.50            # more of the growth than this run unseen: no answer

# case: how to run it (`script`, in fixtures/realserver/), which files make the app (`app`:
# the script and work.py, where the shared leak and churn live; every other file is outside
# it) and which functions the assertions are about (module-level names in the app's files;
# `path` is the leak path, whose NET is judged)
WORK = "work.py"


def uwsgi_spec(**extra):
    """Debian's uWSGI serving flask_app.py: only on Debian's 3.11, whose libpython its
    python3 plugin embeds; extra: threads=N, workers=N, tree=True.  uWSGI calls
    Flask.__call__ from C once per request: its calls must not merge into a few long ones
    (calls: at least that share of the requests served; a tree's workers take turns for
    the readings that see the C code between two requests, so fewer are)."""
    calls = ("Flask.__call__", 0.15 if extra.get("tree") else 0.4)
    return dict(kind="uwsgi", script="flask_app.py", app=("flask_app.py", WORK),
                leak="build_payload", path="leak", churn="crunch", never=(), calls=calls,
                only=("debian-3.11", "Debian's uwsgi plugin embeds Debian's libpython3.11"),
                **extra)


CASES = [
    ("gunicorn-sync", dict(kind="gunicorn", worker="sync", script="flask_app.py",
                           app=("flask_app.py", WORK),
                           leak="build_payload", path="leak", churn="crunch",
                           never=("<module>", "run_for_one"))),
    ("gunicorn-gthread", dict(kind="gunicorn", worker="gthread", script="flask_app.py",
                              app=("flask_app.py", WORK),
                              leak="build_payload", path="leak", churn="crunch",
                              never=("<module>", "_worker"))),
    ("gunicorn-tree", dict(kind="gunicorn", worker="sync", workers=2, tree=True,
                           script="flask_app.py", app=("flask_app.py", WORK),
                           leak="build_payload", path="leak", churn="crunch",
                           never=("<module>", "run_for_one"))),
    ("uwsgi", uwsgi_spec()),
    ("uwsgi-threads", uwsgi_spec(threads=4)),
    ("uwsgi-tree", uwsgi_spec(workers=2, tree=True)),
    ("http.server", dict(kind="http", script="http_app.py", app=("http_app.py", WORK),
                         leak="build_payload", path="leak_endpoint", churn="crunch",
                         never=("<module>", "serve_forever"))),
    ("mp-pool", dict(kind="pool", script="pool_job.py", app=("pool_job.py", WORK),
                     leak="build_payload", path="task", churn="crunch", never=())),
    ("job-loop", dict(kind="jobloop", script="job_loop.py", app=("job_loop.py", WORK),
                      leak="job_loop", path="job_loop", churn="crunch", never=(),
                      churn_max=JOB_LOOP_CHURN_MAX)),
]


class Skip(Exception):
    pass


class Fail(Exception):
    pass


# ---------------------------------------------------------------------------------------
# processes: every one started is registered and ended, on every path

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        # its own session: Ctrl-C on the terminal reaches only us, and a target's children
        # (gunicorn's worker, the pool's workers) are ended with it by process group
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, sig=signal.SIGTERM, wait=3.0):
        """End p and its process group (p leads it: start_new_session)."""
        stop_group(p, sig, wait)

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ---------------------------------------------------------------------------------------
# interpreters

def pyenv_root():
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.path.expanduser("~/.pyenv")


def find_pythons():
    """[(label, executable or None, env additions, why missing)]"""
    found = []
    deb = "/usr/bin/python3.11"
    if os.access(deb, os.X_OK):
        found.append(("debian-3.11", deb, {}, None))
    else:
        found.append(("debian-3.11", None, {}, "/usr/bin/python3.11 not installed"))
    versions = os.path.join(pyenv_root(), "versions")
    for minor in (12, 13):
        best = None
        for d in glob.glob(os.path.join(versions, "3.%d.*" % minor)):
            m = re.fullmatch(r"3\.%d\.(\d+)" % minor, os.path.basename(d))
            exe = os.path.join(d, "bin", "python3")
            if m and os.access(exe, os.X_OK) and (best is None or int(m.group(1)) > best[0]):
                best = (int(m.group(1)), exe, os.path.basename(d))
        if best:
            found.append(("pyenv-" + best[2], best[1], {"PYTHONPATH": DEBIAN_DIST}, None))
        else:
            found.append(("pyenv-3.%d" % minor, None, {},
                          "no pyenv 3.%d.x in %s" % (minor, versions)))
    return found


def can_import(exe, env_add, modules):
    env = dict(os.environ, **env_add)
    code = "import " + ", ".join(modules)
    r = subprocess.run([exe, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return last


# ---------------------------------------------------------------------------------------
# running one case



def tail(f):
    """The last line of a target's stderr file, for an error message."""
    try:
        f.seek(0)
        lines = f.read().decode(errors="replace").strip().splitlines()
        return ": " + lines[-1] if lines else ""
    except (OSError, ValueError):
        return ""


def wait_http(port, deadline, proc, err):
    url = "http://127.0.0.1:%d/" % port
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail("server exited with %d before serving%s" % (proc.returncode, tail(err)))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise Fail("server did not answer %s in time%s" % (url, tail(err)))


def read_line(proc, deadline, err):
    """One line of proc's stdout, with a deadline (the pipe is read without blocking)."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            if ch == b"\n":
                return buf.decode(errors="replace")
            buf += ch
    finally:
        sel.close()
    raise Fail("target printed no READY line (exit status %s)%s" % (proc.poll(), tail(err)))




def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] not in ("Z", "X")


def tracer_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_burner(procs):
    code = ("import time\nend = time.monotonic() + %d\nwhile time.monotonic() < end:\n"
            "    pass\n" % BURNER_S)
    return procs.start(["/usr/bin/python3", "-c", code])


def start_ab(procs, port, path):
    argv = ["ab", "-q", "-r", "-s", "30", "-c", "2", "-t", str(LOAD_S), "-n", str(AB_N),
            "http://127.0.0.1:%d%s" % (port, path)]
    return procs.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_ab(procs, ab):
    """SIGINT makes ab print its results; returns the number of complete requests."""
    if ab.poll() is None:
        ab.send_signal(signal.SIGINT)
    try:
        out, _ = ab.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        procs.stop(ab)
        return None
    m = re.search(rb"Complete requests:\s+(\d+)", out or b"")
    return int(m.group(1)) if m else None


def record(tgattach, pid, outdir, procs, wait_attached=None):
    """Run tgattach (its argv: the binary and extra options) on pid; wait_attached(), if
    given, runs once pid is traced."""
    tg = procs.start(tgattach + ["-p", str(pid), "-o", outdir, "-d", str(RECORD_S), "-q"],
                     stderr=subprocess.PIPE)
    if wait_attached:
        deadline = time.monotonic() + 15
        while tracer_of(pid) == 0 and tg.poll() is None:
            if time.monotonic() > deadline:
                procs.stop(tg)
                raise Fail("tgattach did not attach to %d within 15 s" % pid)
            time.sleep(0.01)
        if tg.poll() is None:
            wait_attached()
    try:
        _, err = tg.communicate(timeout=RECORD_S + 40)
    except subprocess.TimeoutExpired:
        procs.stop(tg)
        raise Fail("tgattach did not end within %d s" % (RECORD_S + 40))
    if tg.returncode != 0:
        tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise Fail("tgattach exited with %d: %s" % (tg.returncode, tail[0]))
    return err


def workers_of(master, want, what):
    """The want workers a server's master forked (one after the other: up to 5 s)."""
    kids = children_of(master.pid)
    for _ in range(50):
        if len(kids) >= want:
            break
        time.sleep(0.1)
        kids = children_of(master.pid)
    if len(kids) != want:
        raise Fail("%s master %d has %d workers, expected %d" %
                   (what, master.pid, len(kids), want))
    return kids


def run_target(spec, exe, env_add, tgattach, outdir, burner):
    """Start, load, record, stop.  Returns (root pid, notes)."""
    procs = Procs()
    notes = {}
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if spec["kind"] == "gunicorn":
        env.update(env_add)    # pyenv's interpreters import Debian's flask and gunicorn
    env["PYTHONUNBUFFERED"] = "1"
    # the target's stderr (and its children's) goes to a file: a pipe nobody reads could
    # fill and block a worker; the file's last line explains a failed start
    err = tempfile.TemporaryFile()
    try:
        kind = spec["kind"]
        script = os.path.join(FIX, spec["script"])
        if kind == "gunicorn":
            port = free_port()
            argv = [exe, "-m", "gunicorn", "--chdir", FIX, "-b", "127.0.0.1:%d" % port,
                    "-w", str(spec.get("workers", 1)), "-k", spec["worker"], "--timeout", "120",
                    "--log-level", "warning", "flask_app:app"]
            if spec["worker"] == "gthread":
                # not with sync: gunicorn then silently runs gthread instead
                argv[-1:-1] = ["--threads", "4"]
            master = procs.start(argv, env=env, stderr=err)
            wait_http(port, time.monotonic() + 30, master, err)
            kids = workers_of(master, spec.get("workers", 1), "gunicorn")
            pid = master.pid if spec.get("tree") else kids[0]
        elif kind == "uwsgi":
            # uWSGI's own master forks one worker, which embeds Debian's libpython3.11
            port = free_port()
            argv = ["uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % port,
                    "--master", "--processes", str(spec.get("workers", 1)), "--chdir", FIX,
                    "--wsgi-file", script,
                    "--callable", "app", "--need-app", "--disable-logging", "--die-on-term"]
            if spec.get("threads"):  # the worker's requests on threads uWSGI makes in C
                argv += ["--threads", str(spec["threads"])]
            master = procs.start(argv, env=env, stderr=err)
            wait_http(port, time.monotonic() + 30, master, err)
            kids = workers_of(master, spec.get("workers", 1), "uwsgi")
            pid = master.pid if spec.get("tree") else kids[0]
        elif kind == "http":
            srv = procs.start([exe, script], env=env, stdout=subprocess.PIPE, stderr=err)
            line = read_line(srv, time.monotonic() + 30, err)
            if not line.startswith("READY "):
                raise Fail("http_app printed %r" % line)
            port = int(line.split()[1])
            pid = srv.pid
            wait_http(port, time.monotonic() + 10, srv, err)
        else:
            port = None
            tgt = procs.start([exe, script], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=err)
            line = read_line(tgt, time.monotonic() + 30, err)
            if line != "READY":
                raise Fail("%s printed %r" % (spec["script"], line))
            pid = tgt.pid

        if burner:
            start_burner(procs)
        abs_ = []
        if port is not None:
            abs_ = [start_ab(procs, port, "/leak"), start_ab(procs, port, "/churn")]
            time.sleep(WARMUP_S)
            for ab in abs_:
                if ab.poll() is not None:
                    raise Fail("ab exited early with %d" % ab.returncode)

        go = None
        if kind == "pool":
            def go():
                tgt.stdin.write(b"go\n")
                tgt.stdin.flush()
        t0 = time.monotonic()
        record([os.path.abspath(tgattach[0])] + tgattach[1:], pid, outdir, procs,
               wait_attached=go)
        notes["record_s"] = time.monotonic() - t0
        if abs_:
            notes["requests"] = [stop_ab(procs, ab) for ab in abs_]
            if not notes["requests"][0]:
                raise Fail("no /leak request completed")
            if not notes["requests"][1]:
                raise Fail("no /churn request completed")
        if not alive(pid):
            raise Fail("the target %d exited during the recording%s" % (pid, tail(err)))
        return pid, notes
    finally:
        procs.stop_all()
        err.close()


# ---------------------------------------------------------------------------------------
# reading the recording (docs/formats.md), independently of tgattach's render

ESC = re.compile(r"\\x([0-9a-fA-F]{2})")
FRAME = re.compile(r"^(.*):(\d+):(.*)$", re.S)


def unescape(s):
    return ESC.sub(lambda m: chr(int(m.group(1), 16)), s)


def usec(t):
    """Unix time text (6 decimals, or fewer, or none) -> integer microseconds."""
    if "." in t:
        a, b = t.split(".", 1)
        return int(a) * 1000000 + int((b + "000000")[:6])
    return int(t) * 1000000


def split_frame(s):
    parts = s.split(":")
    if len(parts) != 3:
        m = FRAME.match(s)
        if not m:
            raise ValueError("no FILE:LINE:FUNC")
        parts = [m.group(1), m.group(2), m.group(3)]
    int(parts[1])
    return unescape(parts[0]), unescape(parts[2])


def read_lines(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.endswith("\n"):
                yield line[:-1]


def read_meta(d):
    meta = {}
    p = os.path.join(d, "meta")
    if not os.path.exists(p):
        return meta
    for line in read_lines(p):
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        k, v = unescape(k), unescape(v)
        if k == "run":
            meta = {}
        meta[k] = v
    return meta


def read_alloc(d):
    """{column: (first value, last value)} for time, heap, rss (values not '?')."""
    cols = None
    first, last = {}, {}
    p = os.path.join(d, "process.alloc")
    if not os.path.exists(p):
        return {}
    for line in read_lines(p):
        if line.startswith("#"):
            words = line[1:].split()
            if words[:1] == ["time"]:
                cols = words
            continue
        if cols is None:
            continue
        vals = line.split()
        if len(vals) != len(cols):
            continue
        for name in ("time", "heap", "rss"):
            if name not in cols:
                continue
            v = vals[cols.index(name)]
            if v == "?":
                continue
            x = usec(v) if name == "time" else int(v)
            first.setdefault(name, x)
            last[name] = x
    return {k: (first[k], last[k]) for k in first}


def last_mem_time(d):
    t = None
    p = os.path.join(d, "process.mem")
    if os.path.exists(p):
        for line in read_lines(p):
            if "#" in line:
                t = line.split("#", 1)[0]
    return usec(t) if t else None


class Totals:
    def __init__(self):
        self.self_ = {}
        self.net = {}
        self.calls = {}
        self.seen = {}        # key -> calls seen in .stack
        self.anomalies = {}
        self.phantoms = []    # (pid, thread, time, func)
        self.closings = 0
        self.reading = "?"    # the root's meta mem_reading_us: the charges' resolution
        self.late = "?"       # the root's meta mem_reading_late: % of it in late spacings

    def add(self, table, key, v):
        table[key] = table.get(key, 0) + v

    def anomaly(self, what):
        self.anomalies[what] = self.anomalies.get(what, 0) + 1


def base_name(func):
    return func.rsplit(".", 1)[-1]


# A list, dict or set comprehension that runs as a call of its own (3.11 and older) is
# counted in the function that ran it, as 3.12 runs it inline (PEP 709) and as `tgattach
# render top` counts it: its SELF is that function's, and it has no row of its own.
COMPREHENSIONS = ("<listcomp>", "<dictcomp>", "<setcomp>")


def replay_thread(tot, pid, thread, stack_path, mem_path, is_closing, never):
    events = []
    if stack_path:
        for i, line in enumerate(read_lines(stack_path)):
            depth = len(line) - len(line.lstrip(" "))
            try:
                t, frame = line[depth:].split("#", 1)
                f, fn = split_frame(frame)
                events.append((usec(t), 1, i, depth, f, fn, 0))
            except ValueError:
                tot.anomaly("malformed .stack line")
    if mem_path:
        for i, line in enumerate(read_lines(mem_path)):
            try:
                t, rest = line.split("#", 1)
                frame, delta = rest.rsplit("=>", 1)
                f, fn = split_frame(frame)
                events.append((usec(t), 0, i, -1, f, fn, int(delta)))
            except ValueError:
                tot.anomaly("malformed .mem line")
    # by time; at equal times returns (0) before calls (1); file order within each
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    # the main thread's outermost <module>: the shallowest one of its first sample
    module_depth = None
    if thread == "MainThread" and "<module>" in never:
        first_t = None
        for e in events:
            if e[1] != 1:
                continue
            if first_t is None:
                first_t = e[0]
            if e[0] != first_t:
                break
            if e[5] == "<module>":
                module_depth = e[3]
                break

    stack = []   # [file, func, child delta sum]

    def call(depth, f, fn):
        if len(stack) > depth:
            tot.anomaly("call below open frames (returns missing)")
            del stack[depth:]
        elif len(stack) < depth:
            tot.anomaly("call deeper than the open stack")
        stack.append([f, fn, 0])
        tot.add(tot.seen, (f, fn), 1)

    def ret(t, f, fn, delta):
        key = (f, fn)
        idx = len(stack) - 1
        while idx >= 0 and (stack[idx][0], stack[idx][1]) != key:
            idx -= 1
        closing = is_closing(t)
        if closing:
            tot.closings += 1
        bn = base_name(fn)
        if not closing and bn in never and (bn != "<module>" or (
                module_depth is not None and 0 <= idx <= module_depth)):
            tot.phantoms.append((pid, thread, t, fn))
        if idx < 0:
            tot.anomaly("return without its call")
            children = 0
        else:
            if idx != len(stack) - 1:
                tot.anomaly("return skipping open frames")
            children = stack[idx][2]
            del stack[idx:]
        if bn in COMPREHENSIONS and idx > 0 and stack[-1][0] == f:
            # its delta less its callees' stays in its caller's SELF
            stack[-1][2] += children
            return
        tot.add(tot.self_, key, delta - children)
        tot.add(tot.calls, key, 1)
        if stack:
            stack[-1][2] += delta
        if not any((s[0], s[1]) == key for s in stack):
            tot.add(tot.net, key, delta)

    # One time at a time: its returns first (they close frames called before), then its
    # calls.  A thread that ended has its remaining frames returned at the last time it was
    # seen, which can be the time of their calls (a thread seen once): a return that does
    # not match the innermost open frame is taken after that time's calls.
    i = 0
    while i < len(events):
        j = i
        while j < len(events) and events[j][0] == events[i][0]:
            j += 1
        group = events[i:j]
        calls = [e for e in group if e[1] == 1]
        flushed = False
        for e in group:
            if e[1] != 0:
                continue
            if not flushed and calls and (not stack or
                                          (stack[-1][0], stack[-1][1]) != (e[4], e[5])):
                for c in calls:
                    call(c[3], c[4], c[5])
                flushed = True
            ret(e[0], e[4], e[5], e[6])
        if not flushed:
            for c in calls:
                call(c[3], c[4], c[5])
        i = j


def thread_files(d):
    threads = {}
    for p in os.listdir(d):
        if p.startswith("process."):
            continue
        for suf in (".stack", ".mem"):
            if p.endswith(suf):
                name = re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)),
                              p[:-len(suf)])
                threads.setdefault(name, {})[suf] = os.path.join(d, p)
    return threads


def process_tree(outdir, root):
    """The recorded processes of root's tree: {pid: dir}."""
    dirs, parent = {}, {}
    for name in os.listdir(outdir):
        d = os.path.join(outdir, name)
        if name.isdigit() and os.path.isdir(d):
            dirs[int(name)] = d
            p = read_meta(d).get("parent")
            if p and p.isdigit():
                parent[int(name)] = int(p)
    tree = {}
    for pid in dirs:
        q, hops = pid, 0
        while q != root and q in parent and hops < 1000:
            q, hops = parent[q], hops + 1
        if q == root:
            tree[pid] = dirs[pid]
    return tree


def analyse(outdir, root, never):
    tree = process_tree(outdir, root)
    if root not in tree:
        raise Fail("no recording of process %d in %s" % (root, outdir))
    tot = Totals()
    growth = rss = 0
    for pid, d in sorted(tree.items()):
        meta = read_meta(d)
        if pid == root:
            tot.reading = meta.get("mem_reading_us", "?")
            tot.late = meta.get("mem_reading_late", "?")
        alloc = read_alloc(d)
        if "heap" in alloc:
            growth += alloc["heap"][1] - alloc["heap"][0]
        if "rss" in alloc:
            rss += alloc["rss"][1] - alloc["rss"][0]
        if "end" in meta:
            end = usec(meta["end"])

            def is_closing(t, end=end):
                return abs(t - end) <= CLOSE_TOL_US
        else:
            last = last_mem_time(d)

            def is_closing(t, last=last):
                return last is not None and t >= last - CLOSE_FALLBACK_US
        for thread, files in sorted(thread_files(d).items()):
            replay_thread(tot, pid, thread, files.get(".stack"), files.get(".mem"),
                          is_closing, never)
    return tree, tot, growth, rss


# ---------------------------------------------------------------------------------------
# judging

def in_app(key, app):
    """Whether the function `key` (file, name) is in one of the app's files."""
    return os.path.basename(key[0]) in app


def app_key(tot, app, name):
    """The function `name` in the app's files (qualified names: the last component)."""
    keys = {k for k in list(tot.seen) + list(tot.self_)
            if in_app(k, app) and base_name(k[1]) == name}
    return sorted(keys)


def show(key):
    if key[0] == "none":
        return "none"
    return "%s:%s" % (os.path.basename(key[0]), key[1])


# Failures of accuracy (the shares of growth), as opposed to integrity (a crash, a phantom
# return, a function never seen): with --accuracy-advisory they are reported, not counted,
# while issue 11's thresholds are not met yet.
ACC = "accuracy: "


def functions(tot):
    """[(SELF, key)] of the functions: growth made unseen (tgattach's own call) is none."""
    return [(v, k) for k, v in tot.self_.items() if k != UNSEEN]


def judge(case, spec, tot, growth, rss, requests=None):
    app = spec["app"]
    if growth < MIN_GROWTH:
        raise Fail("heap grew only %.1f MB (rss %.1f MB): the load did not run" %
                   (growth / 1e6, rss / 1e6))
    pct = lambda v: 100.0 * v / growth
    leak = app_key(tot, app, spec["leak"])
    path = app_key(tot, app, spec["path"])
    churn = app_key(tot, app, spec["churn"])
    leak_self = sum(tot.self_.get(k, 0) for k in leak)
    path_net = sum(tot.net.get(k, 0) for k in path)
    churn_net = sum(tot.net.get(k, 0) for k in churn)
    # growth made while a thread ran unseen (tgattach's own call under the stack it was
    # back at, docs/memory.md) is no function's: not ranked, not outside the app
    unseen = tot.self_.get(UNSEEN, 0)
    funcs = functions(tot)
    others = [(v, k) for v, k in funcs if not in_app(k, app)]
    worst = max(others) if others else (0, ("none", "-"))
    top = max(funcs, default=(0, ("none", "-")))

    failures = []
    if not leak:
        failures.append("%s never seen" % spec["leak"])
    elif top[1] not in leak:
        failures.append(ACC + "top SELF is %s %.1f %%, not %s" % (show(top[1]), pct(top[0]),
                                                           spec["leak"]))
    for name, keys in dict(((spec["leak"], leak), (spec["path"], path))).items():
        if keys and not any(tot.calls.get(k) for k in keys):
            failures.append("%s seen %d times, never returned (its memory is only in a "
                            "return line)" % (name, sum(tot.seen.get(k, 0) for k in keys)))
    if pct(path_net) < 100 * LEAK_PATH_MIN:
        failures.append(ACC + "leak path %s %.1f %% < %d %%" % (spec["path"], pct(path_net),
                                                          100 * LEAK_PATH_MIN))
    churn_max = spec.get("churn_max", CHURN_MAX)
    if abs(pct(churn_net)) > 100 * churn_max:
        failures.append(ACC + "churn NET %s %.1f %% > %d %%" % (spec["churn"], pct(churn_net),
                                                          100 * churn_max))
    if pct(worst[0]) > 100 * OTHER_MAX:
        bad = sorted((x for x in others if pct(x[0]) > 100 * OTHER_MAX), reverse=True)
        failures.append(ACC + "SELF outside the app > %d %%: %s" % (
            100 * OTHER_MAX, ", ".join("%s %.1f %%" % (show(k), pct(v)) for v, k in bad[:3])
            + (" and %d more" % (len(bad) - 3) if len(bad) > 3 else "")))
    if pct(unseen) > 100 * UNSEEN_MAX:
        failures.append(ACC + "run unseen %.1f %% > %d %%: most of the growth is no "
                        "function's" % (pct(unseen), 100 * UNSEEN_MAX))
    calls_note = ""
    if spec.get("calls") and requests:
        name, share = spec["calls"]
        n = sum(v for k, v in tot.calls.items() if k[1] == name)
        calls_note = ", %s %d calls for %d requests" % (name, n, requests)
        if n < share * requests:
            failures.append("%s returned %d times for %d requests served (less than %d %%): "
                            "requests merged into fewer calls" % (name, n, requests,
                                                                  100 * share))
    if spec["never"]:
        for name in spec["never"]:
            if not any(base_name(k[1]) == name for k in tot.seen):
                failures.append("%s never seen on a stack" % name)
        if tot.phantoms:
            ph = {}
            for pid, thread, t, fn in tot.phantoms:
                ph.setdefault((thread, fn), []).append((pid, t))
            # where and when (time in the files), to find them in a kept recording
            failures.append("phantom returns: " + ", ".join(
                "%s %s x%d (pid %d at %.6f)" % (th, fn, len(at), at[0][0], at[0][1] / 1e6)
                for (th, fn), at in sorted(ph.items())))
    summary = ("leak SELF %.1f %%, leak path %.1f %%, churn NET %.1f %%, worst other %s "
               "%.1f %%, run unseen %.1f %%, growth %.1f MB, rss growth %.1f MB, a reading "
               "every %s us, %s %% late" %
               (pct(leak_self), pct(path_net), pct(churn_net), show(worst[1]),
                pct(worst[0]), pct(unseen), growth / 1e6, rss / 1e6, tot.reading, tot.late)
               + calls_note)
    return failures, summary


def details(tot, growth, out):
    pct = lambda v: 100.0 * v / growth if growth else 0.0
    out.write("    top SELF:\n")
    for k, v in sorted(tot.self_.items(), key=lambda kv: -kv[1])[:8]:
        out.write("      %8.1f %% %12d B  %s  (%d returns)\n" % (pct(v), v, show(k),
                                                               tot.calls.get(k, 0)))
    out.write("    lowest SELF:\n")
    for k, v in sorted(tot.self_.items(), key=lambda kv: kv[1])[:4]:
        out.write("      %8.1f %% %12d B  %s  (%d returns)\n" % (pct(v), v, show(k),
                                                               tot.calls.get(k, 0)))
    out.write("    top NET:\n")
    for k, v in sorted(tot.net.items(), key=lambda kv: -kv[1])[:8]:
        out.write("      %8.1f %% %12d B  %s\n" % (pct(v), v, show(k)))
    if tot.anomalies:
        out.write("    replay anomalies: %s\n" % ", ".join(
            "%s x%d" % kv for kv in sorted(tot.anomalies.items())))
    out.write("    returns taken as end-of-run closings: %d, phantom returns: %d\n" %
              (tot.closings, len(tot.phantoms)))


# ---------------------------------------------------------------------------------------
# the analyser checked on a recording whose answer is known (runs first, every time)

SELF_TEST = {
    "meta": "run=1\npid=1\nstart=1000\n",
    "meta_end": "end=1000.100000\n",
    "process.mem": "1000.000000#1000\n1000.100000#2000\n",
    "process.alloc": ("# t\n# x\n# time rss anon heap\n1000.000000 1000 900 500\n"
                      "1000.050000 1500 900 ?\n1000.100000 3000 900 1500\n"),
    # recursion (f in f), an escaped name, a comprehension run as a call (counted in k),
    # a phantom return of <module> re-called in the same sample, returns at meta's end
    # closing the frames still running
    "MainThread.stack": (
        "1000.000000#/app/a.py:1:<module>\n"
        " 1000.000000#/app/a.py:5:main\n"
        "  1000.010000#/app/a.py:9:f\n"
        "   1000.010000#/app/a.py:12:f\n"
        "    1000.010000#/lib/x\\x3ay.py:3:g\\x23h\n"
        "  1000.030000#/app/a.py:20:k\n"
        "   1000.030000#/app/a.py:21:k.<locals>.<listcomp>\n"
        "1000.040000#/app/a.py:1:<module>\n"
        " 1000.040000#/app/a.py:5:main\n"),
    "MainThread.mem": (
        "1000.020000#/lib/x\\x3ay.py:3:g\\x23h=>100\n"
        "1000.020000#/app/a.py:12:f=>150\n"
        "1000.020000#/app/a.py:9:f=>400\n"
        "1000.035000#/app/a.py:21:k.<locals>.<listcomp>=>25\n"
        "1000.040000#/app/a.py:20:k=>30\n"
        "1000.040000#/app/a.py:5:main=>500\n"
        "1000.040000#/app/a.py:1:<module>=>510\n"
        "1000.100000#/app/a.py:5:main=>60\n"
        "1000.100000#/app/a.py:1:<module>=>60\n"),
    # a thread gone after its second sample: its returns carry the time of work's call
    # and growth made unseen under run (tgattach's own call, no function's)
    "T%2f1.stack": ("1000.045000#/lib/threading.py:1:run\n"
                    " 1000.047995#<tgattach>:0:[ran unseen]\n"
                    " 1000.060000#/app/a.py:30:work\n"),
    "T%2f1.mem": ("1000.048000#<tgattach>:0:[ran unseen]=>2\n"
                  "1000.060000#/app/a.py:30:work=>7\n"
                  "1000.060000#/lib/threading.py:1:run=>9\n"),
}
SELF_TEST_WANT = {   # (file, func): (SELF, NET)
    ("/app/a.py", "<module>"): (10, 570), ("/app/a.py", "main"): (130, 560),
    ("/app/a.py", "f"): (300, 400), ("/lib/x:y.py", "g#h"): (100, 100),
    ("/app/a.py", "k"): (30, 30), ("/app/a.py", "work"): (7, 7),
    ("/lib/threading.py", "run"): (0, 9), UNSEEN: (2, 2),
}


def self_test():
    """[errors] of the analyser on SELF_TEST, with and without `end` in meta."""
    errors = []
    for with_end in (True, False):
        tmp = tempfile.mkdtemp(prefix="tg-realserver-selftest-")
        try:
            os.makedirs(os.path.join(tmp, "1"))
            for name, text in SELF_TEST.items():
                if name == "meta_end":
                    continue
                if name == "meta" and with_end:
                    text += SELF_TEST["meta_end"]
                with open(os.path.join(tmp, "1", name), "w") as f:
                    f.write(text)
            tree, tot, growth, rss = analyse(tmp, 1, ("<module>", "main"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        got = {k: (tot.self_.get(k), tot.net.get(k)) for k in set(tot.self_) | set(tot.net)}
        if got != SELF_TEST_WANT:
            errors.append("SELF, NET: got %r, want %r" % (sorted(got.items()),
                                                          sorted(SELF_TEST_WANT.items())))
        if (growth, rss) != (1000, 2000):
            errors.append("growth %d rss %d, want 1000 2000" % (growth, rss))
        # main and <module> returned at 1000.040 (phantoms) and 1000.100 (closings); with
        # no end in meta, every return of the last 50 ms before process.mem's last line is
        # taken as a closing (T/1's two at 1000.060 too)
        ph = sorted((th, t, fn) for _, th, t, fn in tot.phantoms)
        want = [("MainThread", 1000040000, "<module>"), ("MainThread", 1000040000, "main")]
        closings = 2 if with_end else 4
        if ph != want or tot.closings != closings:
            errors.append("phantoms %r closings %d, want %r and %d" %
                          (ph, tot.closings, want, closings))
        if tot.anomalies:
            errors.append("anomalies %r" % tot.anomalies)
        # an app of two files (a fixture and the work it imports): f of a.py and g#h of
        # x:y.py are in it, threading.py's run is not
        app = ("a.py", "x:y.py")
        found = (app_key(tot, app, "f"), app_key(tot, app, "g#h"),
                 [k for _, k in functions(tot) if not in_app(k, app)])
        want = ([("/app/a.py", "f")], [("/lib/x:y.py", "g#h")],
                [("/lib/threading.py", "run")])
        if found != want:
            errors.append("the app's functions: got %r, want %r" % (found, want))
    return errors


# ---------------------------------------------------------------------------------------

def uwsgi_python3():
    """Debian's uwsgi and its python3 plugin are installed."""
    return shutil.which("uwsgi") is not None and \
        os.path.exists("/usr/lib/uwsgi/plugins/python3_plugin.so")


def run_combination(case, spec, label, exe, env_add, missing, args, tgattach, have_ab,
                    imports):
    """One case x interpreter: record, analyse, judge.  A dict: verdict (passed, failed,
    skipped), why, short (accuracy thresholds missed), only_short (and nothing else
    failed), and what the verbose report shows."""
    verdict, why, short, only_short = "skipped", None, False, False
    outdir, pid, notes, tot, growth = None, None, {}, None, 0
    try:
        if missing:
            raise Skip(missing)
        if spec.get("only") and label != spec["only"][0]:
            raise Skip("%s, not %s" % (spec["only"][1], label))
        if spec["kind"] == "uwsgi" and not uwsgi_python3():
            raise Skip("no uwsgi with its python3 plugin (uwsgi-core, uwsgi-plugin-python3; "
                       "tools/deps.sh installs them)")
        if spec["kind"] in ("gunicorn", "http", "uwsgi") and not have_ab:
            raise Skip("no ab (apache2-utils; tools/deps.sh installs it)")
        if spec["kind"] == "gunicorn":
            if exe not in imports:
                imports[exe] = can_import(exe, env_add, ["flask", "gunicorn.workers.gthread"])
            if imports[exe]:
                raise Skip("cannot import flask and gunicorn%s: %s" % (
                    " with PYTHONPATH=%s" % env_add["PYTHONPATH"]
                    if env_add.get("PYTHONPATH") else "", imports[exe]))
        if args.keep:
            outdir = os.path.join(args.keep, "%s-%s" % (case, label))
            shutil.rmtree(outdir, ignore_errors=True)
            os.makedirs(outdir)
        else:
            outdir = tempfile.mkdtemp(prefix="tg-realserver-", dir=record_base())
        pid, notes = run_target(spec, exe, env_add, [tgattach] + args.tgattach_opt, outdir,
                                not args.no_burner)
        tree, tot, growth, rss = analyse(outdir, pid, spec["never"])
        failures, summary = judge(case, spec, tot, growth, rss,
                                  sum(notes.get("requests") or []))
        acc = [f for f in failures if f.startswith(ACC)]
        short, only_short = bool(acc), bool(acc) and len(acc) == len(failures)
        if args.accuracy_advisory:
            failures = [f for f in failures if not f.startswith(ACC)]
            summary += ("; ACCURACY NOT MET (issue 11): " + "; ".join(
                f[len(ACC):] for f in acc)) if acc else "; accuracy met"
        verdict = "failed" if failures else "passed"
        why = "; ".join(failures + [summary]) if failures else summary
    except Skip as e:
        why = str(e)
    except Fail as e:
        verdict, why = "failed", str(e)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        verdict, why = "failed", "harness error: %s: %s" % (type(e).__name__, e)
    finally:
        if outdir and not args.keep and verdict == "failed" and args.keep_failed:
            kept = os.path.join(args.keep_failed, "%s-%s" % (case, label))
            shutil.rmtree(kept, ignore_errors=True)
            try:
                shutil.copytree(outdir, kept, symlinks=True)
                why += "; recording kept in %s" % kept
            except OSError as e:
                why += "; the recording could not be kept: %s" % e
        if outdir and not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
    if verdict != "skipped" and notes.get("requests"):
        why += "; requests /leak %s /churn %s" % tuple(notes["requests"])
    return {"verdict": verdict, "why": why, "short": short, "only_short": only_short,
            "outdir": outdir, "pid": pid,
            "tot": tot, "growth": growth}


def record_base():
    """Where the recordings go: $TG_REALSERVER_TMP, else /dev/shm (a tmpfs) when it is a
    writable directory, else the default temporary directory.  Not a disk by default: a
    thread-per-request server makes two files per request (7,000 threads in 10 s on
    http.server), and on ext4 without a journal (this project's CI machines) creating a
    file in an inode group where thousands were deleted within minutes (the recordings of
    the runs before, removed by this harness and by the other suites) took 208 us of CPU
    against 23 us in a quiet group and 8 us on tmpfs.  tgattach's helper that makes its
    files ahead spends that in tgattach's session, whose share of the CPU the loop needs:
    the readings came 48 - 49 % late against 20 - 22 %, and http.server's leak path fell to
    25 - 29 % against 44 - 48 % (pyenv 3.12, December 2026; docs/memory.md, "Where the
    recordings go").  These tests measure the attribution, not that filesystem state."""
    base = os.environ.get("TG_REALSERVER_TMP")
    if base:
        return base
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--case", help="comma-separated case names (%s)" %
                    ", ".join(c for c, _ in CASES))
    ap.add_argument("--python", help="comma-separated interpreter labels, or parts of them "
                    "(debian-3.11, pyenv-3.12, pyenv-3.13)")
    ap.add_argument("--keep", metavar="DIR", help="keep the recordings in DIR/CASE-PYTHON/")
    ap.add_argument("--keep-failed", metavar="DIR",
                    help="copy the recording of a failed combination to DIR/CASE-PYTHON/")
    ap.add_argument("--no-burner", action="store_true", help="no CPU-bound process beside")
    ap.add_argument("--analyse", nargs=3, metavar=("CASE", "OUTDIR", "PID"),
                    help="only judge an existing recording (OUTDIR/PID and its children)")
    ap.add_argument("--accuracy-advisory", action="store_true",
                    help="report the accuracy thresholds (issue 11) without failing on them; "
                         "integrity failures (crash, phantom return) still fail")
    ap.add_argument("--accuracy-tries", type=int, default=1, metavar="N",
                    help="a combination that misses only the accuracy thresholds is run "
                         "again, up to N runs in all, and fails when all of them miss "
                         "(a real server under load varies from run to run)")
    ap.add_argument("--tgattach-opt", action="append", default=[], metavar="OPT",
                    help="an option for tgattach (repeat for more), e.g. --realtime; "
                         "shown on each line")
    ap.add_argument("-v", "--verbose", action="store_true", help="top functions per case")
    args = ap.parse_args()

    errors = self_test()
    if errors:
        sys.stderr.write("realserver: the analyser fails its self-test: %s\n" %
                         "; ".join(errors))
        return 2
    specs = dict(CASES)
    if args.analyse:
        case, outdir, pid = args.analyse
        spec = specs[case]
        tree, tot, growth, rss = analyse(outdir, int(pid), spec["never"])
        failures, summary = judge(case, spec, tot, growth, rss)
        print("realserver %s %s: %s (%s)" % (case, outdir, "failed" if failures else "passed",
                                             "; ".join(failures + [summary])))
        details(tot, growth, sys.stdout)
        return 1 if failures else 0

    tgattach = os.environ.get("TGATTACH") or os.path.join(ROOT, "tgattach")
    if not os.access(tgattach, os.X_OK):
        sys.stderr.write("realserver: no tgattach binary at %s (make, or set TGATTACH)\n" %
                         tgattach)
        return 2
    cases = CASES
    if args.case:
        want = args.case.split(",")
        unknown = [c for c in want if c not in specs]
        if unknown:
            ap.error("unknown case %s" % ", ".join(unknown))
        cases = [(c, s) for c, s in CASES if c in want]
    pythons = find_pythons()
    if args.python:
        want = args.python.split(",")
        pythons = [p for p in pythons if any(w in p[0] for w in want)]
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)

    mode = "".join(" " + o for o in args.tgattach_opt)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    have_ab = shutil.which("ab") is not None
    counts = {"passed": 0, "failed": 0, "skipped": 0, "accuracy short": 0}
    imports = {}
    started = time.monotonic()
    for case, spec in cases:
        for label, exe, env_add, missing in pythons:
            for attempt in range(1, args.accuracy_tries + 1):
                t0 = time.monotonic()
                r = run_combination(case, spec, label, exe, env_add, missing, args, tgattach,
                                    have_ab, imports)
                again = r["only_short"] and not args.accuracy_advisory and \
                    attempt < args.accuracy_tries
                verdict = "missed, run again" if again else r["verdict"]
                if not again:
                    counts[r["verdict"]] += 1
                    counts["accuracy short"] += r["short"]
                print("realserver %s %s%s: %s (%s)" % (case, label, mode, verdict, r["why"]),
                      flush=True)
                if args.verbose and r["verdict"] != "skipped":
                    extra = ""
                    if r["outdir"] and args.keep and r["pid"]:
                        extra = ", kept in %s/%d" % (r["outdir"], r["pid"])
                    sys.stdout.write("    %.1f s%s\n" % (time.monotonic() - t0, extra))
                    if r["tot"] is not None:
                        details(r["tot"], r["growth"], sys.stdout)
                    sys.stdout.flush()
                if not again:
                    break
    if args.accuracy_advisory:
        print("realserver: %d of %d run combinations short of issue 11's accuracy thresholds "
              "(reported, not counted)" % (counts["accuracy short"],
                                          counts["passed"] + counts["failed"]))
    print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"],
                                                counts["skipped"]))
    if args.verbose:
        print("(%.0f s)" % (time.monotonic() - started))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.stderr.write("realserver: interrupted\n")
        sys.exit(130)
