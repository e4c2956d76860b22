#!/usr/bin/env python3
"""Writes a large synthetic recording in tgattach's layout, for benchmarks.

    gen-recording.py OUTDIR SIZE_MB [THREADS [MAX_DEPTH [FUNCTIONS]]]

OUTDIR/PID/ gets THREADS (8) pairs of THREAD.stack / THREAD.mem (a random walk over a
call stack up to MAX_DEPTH (40) deep, FUNCTIONS (2000) functions in at most 200 files,
microsecond times, mostly zero deltas
with some small and a few large ones, each return's delta including its callees'), plus
process.mem and process.alloc at 100 samples per second of simulated time, and
process.charge (each thread's total so far, every 0.1 s of simulated time).  About
SIZE_MB megabytes in all; deterministic.  Prints the directory.
"""
import os
import random
import sys

PID = 90001


def functions(rng, count):
    files = ["/srv/app/pkg%03d/module_%03d.py" % (i % 17, i) for i in range(200)]
    funcs = []
    for i in range(count):
        name = rng.choice(["handle", "process", "load", "parse", "render", "compute",
                           "fetch", "encode", "decode", "visit"]) + "_%d" % i
        if i % 97 == 0:
            name = "Class%d.%s" % (i, name)
        line = rng.randrange(1, 3000)
        funcs.append((files[i % 200], line, name))
    return funcs


def own_delta(rng):
    r = rng.random()
    if r < 0.80:
        return 0
    if r < 0.97:
        return rng.choice([-1, 1]) * rng.randrange(16, 64 * 1024)
    if r < 0.995:
        return rng.choice([-1, 1]) * rng.randrange(64 * 1024, 512 * 1024)
    return rng.choice([-1, 1]) * rng.randrange(512 * 1024, 8 * 1024 * 1024)


def write_thread(d, name, target, funcs, seed, t0, max_depth, charges):
    rng = random.Random(seed)
    total, charged_at = 0, t0
    rnd = rng.random
    nfuncs = len(funcs)
    stack_f = open(os.path.join(d, name + ".stack"), "w", buffering=1 << 20)
    mem_f = open(os.path.join(d, name + ".mem"), "w", buffering=1 << 20)
    calls, rets = [], []
    written = 0
    t = t0
    stack = []  # [func index, children's deltas]
    hot = [rng.randrange(nfuncs) for _ in range(64)]
    while written < target or stack:
        depth = len(stack)
        ending = written >= target
        if not ending and (depth == 0 or (depth < max_depth and rnd() < 0.52)):
            fi = hot[int(rnd() * 64)] if rnd() < 0.7 else int(rnd() * nfuncs)
            f = funcs[fi]
            s = "%s%.6f#%s:%d:%s\n" % (" " * depth, t, f[0], f[1], f[2])
            calls.append(s)
            written += len(s)
            stack.append([fi, 0])
        else:
            fi, kids = stack.pop()
            f = funcs[fi]
            own = own_delta(rng)
            delta = kids + own
            total += own
            if t - charged_at >= 0.1:
                charges.append((t, total, name))
                charged_at = t
            if stack:
                stack[-1][1] += delta
            s = "%.6f#%s:%d:%s=>%d\n" % (t, f[0], f[1] + 3, f[2], delta)
            rets.append(s)
            written += len(s)
        t += 0.0002 + rnd() * 0.002
        if len(calls) + len(rets) >= 200000:
            stack_f.write("".join(calls))
            mem_f.write("".join(rets))
            calls, rets = [], []
    stack_f.write("".join(calls))
    mem_f.write("".join(rets))
    stack_f.close()
    mem_f.close()
    charges.append((t, total, name))
    return t


def write_process(d, t0, t1, seed):
    rng = random.Random(seed)
    rss, arenas = 80 * 2**20, 40
    with open(os.path.join(d, "process.mem"), "w", buffering=1 << 20) as pm, \
            open(os.path.join(d, "process.alloc"), "w", buffering=1 << 20) as pa:
        pa.write("# synthetic process.alloc for benchmarks\n"
                 "# time rss anon heap arenas arenas_highwater blocks bytes_in_use "
                 "raw_blocks arena_bytes\n")
        t, k, high = t0, 0, arenas
        while t <= t1:
            rss = max(rss + rng.randrange(-2**18, 2**18 + 2**14), 2**24)
            arenas = max(arenas + rng.choice([-1, 0, 0, 1]), 1)
            high = max(high, arenas)
            pm.write("%.6f#%d\n" % (t, rss))
            walk = k % 10 == 0
            pa.write("%.6f %d %d %s %d %d %s %s %d %d\n" % (
                t, rss, rss - 2**23, str(arenas * 2**19) if walk else "?", arenas, high,
                str(arenas * 9000) if walk else "?", str(arenas * 2**19) if walk else "?",
                40 + k % 5, arenas * 2**20))
            t += 0.01
            k += 1


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, size_mb = sys.argv[1], float(sys.argv[2])
    nthreads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    max_depth = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    nfuncs = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    d = os.path.join(out, str(PID))
    os.makedirs(d, exist_ok=True)
    rng = random.Random(PID)
    funcs = functions(rng, nfuncs)
    t0 = 1700000000.0
    per_thread = int(size_mb * 1e6 * 0.97 / nthreads)
    names = ["MainThread"] + ["Worker-%d" % i for i in range(1, nthreads)]
    t_end = t0
    charges = []
    for i, name in enumerate(names):
        t_end = max(t_end, write_thread(d, name, per_thread, funcs, PID + i, t0 + i * 0.01,
                                        max_depth, charges))
    charges.sort()
    with open(os.path.join(d, "process.charge"), "w", buffering=1 << 20) as f:
        f.write("# a run: TIME#BYTES#THREAD\n")
        f.write("".join("%.6f#%d#%s\n" % c for c in charges))
    write_process(d, t0, t_end, PID)
    with open(os.path.join(d, "meta"), "w") as f:
        f.write("run=1\npid=%d\ncmdline=synthetic benchmark recording\nrate_hz=100\n" % PID)
    print(d)


if __name__ == "__main__":
    main()
