#!/usr/bin/env python3
"""diskcache on `cask bench --workload large-values`'s workload, to run beside it:

    .build/release/cask bench --workload large-values
    python3 Benchmarks/peers/diskcache_large.py

For each value size (64 KiB, 1 MiB, 16 MiB by default), a fresh `diskcache.Cache` in a temporary
directory gets TOTAL bytes of values of that size under distinct keys (`set`, timed one by one),
then every key is read back (`get`, timed, and checked by length and first/last bytes). Values
this large are kept by diskcache in files of their own (its default `disk_min_file_size` is
32 KiB), as Cask keeps them in its log. Nothing is synced (diskcache's default). Prints one line
per size: size count total_MB set_MB_s get_MB_s set_median_us get_median_us (1 MB = 10^6 bytes).
Needs: pip install diskcache
"""
import argparse
import os
import shutil
import sys
import tempfile
import time


def median_us(seconds):
    s = sorted(seconds)
    return s[len(s) // 2] * 1e6


def run(diskcache, size, total):
    count = max(1, total // size)
    value = os.urandom(size)
    directory = tempfile.mkdtemp(prefix="diskcache-large-")
    try:
        cache = diskcache.Cache(directory)
        clock = time.perf_counter
        sets, gets = [], []
        for i in range(count):
            start = clock()
            cache.set(f"k{i}", value)
            sets.append(clock() - start)
        for i in range(count):
            start = clock()
            got = cache.get(f"k{i}")
            gets.append(clock() - start)
            if got is None or len(got) != size or got[:1] != value[:1] or got[-1:] != value[-1:]:
                sys.exit(f"wrong value for k{i}")
        cache.close()
        mb = count * size / 1e6
        print(f"{size} {count} {mb:.1f} {mb / sum(sets):.1f} {mb / sum(gets):.1f} "
              f"{median_us(sets):.1f} {median_us(gets):.1f}", flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="65536,1048576,16777216", help="comma-separated value sizes in bytes")
    parser.add_argument("--total", type=int, default=256 << 20, help="bytes written per size")
    args = parser.parse_args()
    try:
        import diskcache
    except ImportError:
        sys.exit("missing: diskcache (install: pip install diskcache)")
    print("size count total_MB set_MB_s get_MB_s set_median_us get_median_us")
    for size in (int(s) for s in args.sizes.split(",")):
        run(diskcache, size, args.total)


if __name__ == "__main__":
    main()
