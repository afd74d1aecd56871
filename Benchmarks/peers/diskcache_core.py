#!/usr/bin/env python3
"""Cask's "core" workload on Python diskcache, for Benchmarks/compare.

Usage: diskcache_core.py [--kind cache|fanout] [--shards S] [--procs P] [--ops N] [--range K]
                         [--warmup W] [--dir PARENT]
Needs: python3 -m pip install diskcache

The workload is the one `cask bench` runs (Sources/CaskBench/CoreWorkload.swift):
  - the keys are the decimal digits of 0..RANGE-1 as bytes (default 100), each set to itself
    before the run;
  - PROCS worker processes (default 1) each open the cache on the one directory and run OPS
    operations (default 100000); for operation number `count`: a random key, the value
    str(count) repeated 1..99 times (1..495 bytes), then u uniform in [0, 1): u < 0.90 get,
    u < 0.99 set, otherwise delete. Each worker's generator (Python's own, for speed) is seeded
    with its worker number;
  - the first WARMUP operations of a worker (default min(1000, OPS/10)) are not timed;
  - a miss is a get that finds nothing or a delete of an absent key.
--kind cache opens diskcache.Cache (one SQLite database); --kind fanout opens
diskcache.FanoutCache(shards=S) (default 8). Both keep diskcache's defaults otherwise.

Output, in `cask bench`'s line format: a header line, then per operation kind
  get     count=.. miss=.. median_us=.. p90_us=.. p99_us=.. max_us=..
and last `wall_s=.. ops_per_s=..`, where wall runs from starting the first worker to the last
one's exit and ops_per_s = PROCS * OPS / wall (warm-up operations included).
"""
import argparse
import array
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time

KINDS = ("get", "set", "delete")


def open_cache(args, directory):
    import diskcache
    if args.kind == "cache":
        return diskcache.Cache(directory)
    return diskcache.FanoutCache(directory, shards=args.shards, timeout=1.0)


def worker(args, directory, index, results):
    """Runs one worker's operations; puts (samples in ns per kind, misses per kind) on `results`."""
    try:
        cache = open_cache(args, directory)
        rng = random.Random(index)
        keys = [str(i).encode() for i in range(args.range)]
        samples = [array.array("Q") for _ in KINDS]
        misses = [0, 0, 0]
        clock = time.perf_counter_ns
        for count in range(args.ops):
            key = keys[rng.randrange(args.range)]
            value = str(count).encode() * rng.randrange(1, 100)
            u = rng.random()
            if u < 0.90:
                kind = 0
                t0 = clock()
                missed = cache.get(key) is None
                t1 = clock()
            elif u < 0.99:
                kind = 1
                t0 = clock()
                cache.set(key, value)
                t1 = clock()
                missed = False
            else:
                kind = 2
                t0 = clock()
                missed = not cache.delete(key)
                t1 = clock()
            if count >= args.warmup:
                samples[kind].append(t1 - t0)
                misses[kind] += missed
        cache.close()
        results.put((index, [s.tobytes() for s in samples], misses))
    except BaseException as error:  # report, so that the parent does not wait forever
        results.put((index, None, repr(error)))


def percentile(sorted_ns, p):
    """The sample at index max(0, floor(n * p) - 1), in µs (as `cask bench`)."""
    return sorted_ns[max(0, int(len(sorted_ns) * p) - 1)] / 1000


def main():
    parser = argparse.ArgumentParser(description="Cask's core workload on diskcache.")
    parser.add_argument("--kind", choices=("cache", "fanout"), default="cache")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--range", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--dir", default=None, help="parent of the temporary cache directory")
    args = parser.parse_args()
    for name in ("shards", "procs", "ops", "range"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup is None:
        args.warmup = min(1000, args.ops // 10)
    import diskcache

    directory = tempfile.mkdtemp(prefix="cask-diskcache-core.", dir=args.dir)
    try:
        cache = open_cache(args, directory)
        for i in range(args.range):
            cache.set(str(i).encode(), str(i).encode())
        cache.close()

        context = multiprocessing.get_context("fork")
        results = context.Queue()
        workers = [context.Process(target=worker, args=(args, directory, n, results)) for n in range(args.procs)]
        start = time.perf_counter_ns()
        for w in workers:
            w.start()
        merged = [array.array("Q") for _ in KINDS]
        misses = [0, 0, 0]
        for _ in workers:
            index, samples, extra = results.get()
            if samples is None:
                sys.exit(f"diskcache_core: worker {index} failed: {extra}")
            for k in range(len(KINDS)):
                merged[k].frombytes(samples[k])
                misses[k] += extra[k]
        for w in workers:
            w.join()
        wall = (time.perf_counter_ns() - start) / 1e9
        if any(w.exitcode != 0 for w in workers):
            sys.exit("diskcache_core: a worker process exited with an error")
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    shards = args.shards if args.kind == "fanout" else 1
    print(f"diskcache core diskcache={diskcache.__version__} kind={args.kind} shards={shards} "
          f"procs={args.procs} ops={args.ops} range={args.range} warmup={args.warmup}")
    for k, name in enumerate(KINDS):
        xs = sorted(merged[k])
        if not xs:
            continue
        print(f"{name:<7} count={len(xs)} miss={misses[k]} median_us={percentile(xs, 0.5):.2f} "
              f"p90_us={percentile(xs, 0.9):.2f} p99_us={percentile(xs, 0.99):.2f} max_us={xs[-1] / 1000:.2f}")
    print(f"wall_s={wall:.3f} ops_per_s={args.procs * args.ops / wall:.0f}")


if __name__ == "__main__":
    main()
