#!/usr/bin/env python3
"""Per-call overhead of Python's persistent memoizers, measured the way `cask-memo-bench` measures
Cask's `memoize`, so the two can run side by side:

    .build/release/cask-memo-bench --n 10000
    python3 Benchmarks/peers/memoize_overhead.py --n 10000

The function is f(x) -> [x, x*x, x+1]. For each system, in a fresh temporary directory: W warmup
arguments are called twice (a miss, then a hit; not recorded), then N new arguments are timed (each
a miss: f runs and the result is stored), then the same N arguments in a shuffled order (seed 1;
each a hit: f must not run, and the result is checked). One line per phase, in `cask bench`'s
summary format: NAME count= miss=0 median_us= p90_us= p99_us= max_us=.

Systems: diskcache `Cache.memoize`, diskcache `FanoutCache.memoize` (8 shards), joblib
`Memory.cache` (if joblib is installed), and `functools.lru_cache` (in memory; hits only).
Needs: pip install diskcache (joblib optional).
"""
import argparse
import functools
import random
import shutil
import sys
import tempfile
import time

runs = 0


def f(x):
    global runs
    runs += 1
    return [x, x * x, x + 1]


def summary(name, seconds):
    s = sorted(seconds)

    def at(q):
        return s[max(0, int(len(s) * q) - 1)] * 1e6

    print(f"{name} count={len(s)} miss=0 median_us={at(.5):.2f} p90_us={at(.9):.2f} "
          f"p99_us={at(.99):.2f} max_us={s[-1] * 1e6:.2f}", flush=True)


def timed(call, arguments):
    clock = time.perf_counter
    out = []
    for x in arguments:
        start = clock()
        result = call(x)
        out.append(clock() - start)
        if result != [x, x * x, x + 1]:
            sys.exit(f"wrong result for {x}: {result!r}")
    return out


def measure(name, call, n, warmup, misses=True):
    global runs
    for _ in range(2):
        for x in range(-warmup, 0):
            call(x)
    if misses:
        runs = 0
        summary(f"{name}.miss", timed(call, range(n)))
        if runs != n:
            print(f"# WARNING {name}: the miss phase ran f {runs} times, not {n}")
    else:
        for x in range(n):
            call(x)
    order = list(range(n))
    random.Random(1).shuffle(order)
    runs = 0
    summary(f"{name}.hit", timed(call, order))
    if runs != 0:
        print(f"# WARNING {name}: the hit phase ran f {runs} times")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    try:
        import diskcache
    except ImportError:
        sys.exit("missing: diskcache (install: pip install diskcache)")
    print(f"python memoize n={args.n} warmup={args.warmup}")
    systems = [("diskcache.Cache.memoize", lambda d: diskcache.Cache(d).memoize()(f)),
               ("diskcache.FanoutCache.memoize", lambda d: diskcache.FanoutCache(d, shards=8).memoize()(f))]
    try:
        import joblib
        systems.append(("joblib.Memory.cache", lambda d: joblib.Memory(d, verbose=0).cache(f)))
    except ImportError:
        print("# joblib is not installed: left out")
    for name, make in systems:
        directory = tempfile.mkdtemp(prefix="memo-peer-")
        try:
            measure(name, make(directory), args.n, args.warmup)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    measure("functools.lru_cache", functools.lru_cache(maxsize=None)(f), args.n, args.warmup, misses=False)


if __name__ == "__main__":
    main()
