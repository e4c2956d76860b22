"""Process and port helpers shared by the benchmarks (tools/) and the real-server test
(tests/realserver/run.py): read from /proc, never from the programs measured."""
import os
import signal
import socket
import subprocess

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A TCP port free on 127.0.0.1 now (the kernel's pick)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stat_fields(pid):
    """/proc/PID/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return st[st.rfind(")") + 2:].split()


def cpu_s(pid):
    """user + sys of the whole process (every thread, live or gone), in seconds."""
    f = stat_fields(pid)
    return (int(f[11]) + int(f[12])) / TICK


def sched_wait(pid):
    """(seconds its threads waited on a run queue for a CPU, times a thread was preempted):
    the sum over the process's live threads of /proc/PID/task/TID/schedstat's second field
    and of status's nonvoluntary_ctxt_switches.  A thread that ends between two calls
    takes its part with it: compare two calls on threads that live as long."""
    wait_ns = preempted = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "schedstat") as f:
                wait_ns += int(f.read().split()[1])
            with open(base + "status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        preempted += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass  # the thread ended meanwhile
    return wait_ns / 1e9, preempted


def children_of(pid):
    """The processes whose parent is pid, now."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(stat_fields(int(d))[1]) == pid:
                    kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def status_kb(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...); 0 when absent."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), for a benchmark's description of its machine."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def stop_group(p, sig=signal.SIGTERM, wait=3.0):
    """End subprocess p and its process group (p leads it: started with
    start_new_session): sig, up to `wait` seconds, then SIGKILL for whatever is left (the
    group may outlive its leader: a pool's worker).  Returns p's exit status."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p.poll() is None:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            try:
                f.close()
            except OSError:
                pass
    return p.returncode
