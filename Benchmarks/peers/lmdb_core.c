/*
 * Cask's "core" workload on LMDB, driven from C: the native embedded multi-process store that Cask
 * is measured against in Benchmarks/compare.
 *
 * Build:  cc -O2 -Wall -o lmdb_core Benchmarks/peers/lmdb_core.c -llmdb    (Debian: liblmdb-dev)
 * Run:    lmdb_core [--procs P] [--ops N] [--range K] [--warmup W] [--writemap] [--dir PARENT]
 *
 * The workload is the one `cask bench` runs (Sources/CaskBench/CoreWorkload.swift), with the same
 * random generator and seeds, so every worker issues the same operations as Cask's worker of the
 * same number:
 *   - the keys are the decimal digits of 0..<RANGE (default 100), each set to itself before the run
 *     by the parent, which closes its environment before forking;
 *   - PROCS worker processes (default 1) each open their own environment on the one directory and
 *     run OPS operations (default 100000); for operation number `count`: key = keys[rand % RANGE],
 *     value = digits of `count` repeated 1 + rand % 99 times (1..495 bytes), then u = uniform [0,1):
 *     u < 0.90 get, u < 0.99 set, otherwise delete;
 *   - every operation is a transaction of its own: a get renews one read transaction kept by the
 *     worker and resets it afterwards (LMDB's cheapest read), a set or a delete begins and commits a
 *     write transaction; a get reads the value where it lies in the map (one byte of it), without the
 *     copy that Cask's get returns, as LMDB's callers use it;
 *   - the first WARMUP operations of a worker (default min(1000, OPS/10)) are not timed;
 *   - a miss is a get that finds nothing or a delete of an absent key.
 * The environment is opened with MDB_NOSYNC|MDB_NOMETASYNC (no flush per commit: what survives is
 * what a crashed process leaves, like Cask's `sync never`), and with MDB_WRITEMAP when --writemap
 * is given.
 *
 * Output, in `cask bench`'s line format: a header line, then per operation kind
 *   get     count=.. miss=.. median_us=.. p90_us=.. p99_us=.. max_us=..
 * and last `wall_s=.. ops_per_s=..`, where wall runs from the first fork to the last worker's exit
 * and ops_per_s = PROCS * OPS / wall (warm-up operations included).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { GET, SET, DEL, KINDS };
static const char *const kind_names[KINDS] = {"get", "set", "delete"};

struct options {
    long procs, ops, range, warmup;
    int writemap;
    const char *parent;
};

/* What one worker leaves in the shared mapping: counts and misses per kind, then the samples. */
struct tally {
    long count[KINDS];
    long misses[KINDS];
    int failed;
};

static void fail(const char *what, int rc) {
    fprintf(stderr, "lmdb_core: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
}

static uint64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*, seeded as Cask's WorkloadRandom. */
struct rng { uint64_t s; };
static void rng_seed(struct rng *r, uint64_t seed) { r->s = ((seed + 1) * 0x9E3779B97F4A7C15ull) | 1; }
static uint64_t rng_next(struct rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
static double rng_unit(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static MDB_env *env_open(const struct options *o, const char *path) {
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc) fail("mdb_env_create", rc);
    if ((rc = mdb_env_set_mapsize(env, (size_t)1 << 30))) fail("mdb_env_set_mapsize", rc);
    if ((rc = mdb_env_set_maxreaders(env, (unsigned)(o->procs + 64)))) fail("mdb_env_set_maxreaders", rc);
    unsigned flags = MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC | (o->writemap ? MDB_WRITEMAP : 0);
    if ((rc = mdb_env_open(env, path, flags, 0600))) fail("mdb_env_open", rc);
    return env;
}

static MDB_dbi main_dbi(MDB_env *env) {
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc) fail("mdb_txn_begin", rc);
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi))) fail("mdb_dbi_open", rc);
    if ((rc = mdb_txn_commit(txn))) fail("mdb_txn_commit", rc);
    return dbi;
}

/* Writes the decimal digits of v to out; returns their count. */
static int digits_of(long v, char *out) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static void run_worker(const struct options *o, const char *path, long index, struct tally *t, uint32_t *samples[KINDS]) {
    MDB_env *env = env_open(o, path);
    MDB_dbi dbi = main_dbi(env);
    MDB_txn *reader, *txn;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &reader);
    if (rc) fail("mdb_txn_begin (read)", rc);
    mdb_txn_reset(reader);

    char (*keys)[24] = malloc(sizeof *keys * (size_t)o->range);
    int *key_len = malloc(sizeof *key_len * (size_t)o->range);
    if (!keys || !key_len) { perror("malloc"); exit(1); }
    for (long i = 0; i < o->range; i++) key_len[i] = digits_of(i, keys[i]);

    struct rng r;
    rng_seed(&r, (uint64_t)index);
    char value[24 * 99], count_digits[24];
    volatile unsigned char sink = 0;
    for (long count = 0; count < o->ops; count++) {
        long k = (long)(rng_next(&r) % (uint64_t)o->range);
        int d = digits_of(count, count_digits);
        int repeats = 1 + (int)(rng_next(&r) % 99);
        for (int i = 0; i < repeats; i++) memcpy(value + i * d, count_digits, (size_t)d);
        double u = rng_unit(&r);
        MDB_val key = {(size_t)key_len[k], keys[k]}, val = {(size_t)(repeats * d), value}, found;
        int kind, missed = 0;

        uint64_t t0 = clock_ns();
        if (u < 0.90) {
            kind = GET;
            if ((rc = mdb_txn_renew(reader))) fail("mdb_txn_renew", rc);
            rc = mdb_get(reader, dbi, &key, &found);
            if (rc == 0) sink ^= ((const unsigned char *)found.mv_data)[found.mv_size - 1];
            else if (rc != MDB_NOTFOUND) fail("mdb_get", rc);
            mdb_txn_reset(reader);
            missed = rc == MDB_NOTFOUND;
        } else {
            kind = u < 0.99 ? SET : DEL;
            if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) fail("mdb_txn_begin (write)", rc);
            rc = kind == SET ? mdb_put(txn, dbi, &key, &val, 0) : mdb_del(txn, dbi, &key, NULL);
            if (rc == MDB_NOTFOUND && kind == DEL) missed = 1;
            else if (rc) fail(kind == SET ? "mdb_put" : "mdb_del", rc);
            if ((rc = mdb_txn_commit(txn))) fail("mdb_txn_commit", rc);
        }
        uint64_t t1 = clock_ns();

        if (count >= o->warmup) {
            uint64_t ns = t1 - t0;
            samples[kind][t->count[kind]++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
            t->misses[kind] += missed;
        }
    }
    (void)sink;
    mdb_txn_abort(reader);
    mdb_env_close(env);
    free(keys);
    free(key_len);
}

static int by_value(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The sample at index max(0, floor(n * p) - 1) of the sorted samples, in µs (as `cask bench`). */
static double percentile(const uint32_t *sorted, long n, double p) {
    long i = (long)((double)n * p) - 1;
    return sorted[i < 0 ? 0 : i] / 1000.0;
}

static long parse_count(const char *flag, const char *s, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > 100000000) {
        fprintf(stderr, "lmdb_core: %s needs a whole number from %ld to 100000000, not '%s'\n", flag, min, s);
        exit(2);
    }
    return v;
}

static void usage(void) {
    fprintf(stderr, "usage: lmdb_core [--procs P] [--ops N] [--range K] [--warmup W] [--writemap] [--dir PARENT]\n");
    exit(2);
}

int main(int argc, char **argv) {
    struct options o = {1, 100000, 100, -1, 0, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--writemap")) { o.writemap = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--procs")) o.procs = parse_count(a, v, 1);
        else if (!strcmp(a, "--ops")) o.ops = parse_count(a, v, 1);
        else if (!strcmp(a, "--range")) o.range = parse_count(a, v, 1);
        else if (!strcmp(a, "--warmup")) o.warmup = parse_count(a, v, 0);
        else if (!strcmp(a, "--dir")) o.parent = v;
        else usage();
    }
    if (o.procs > 256) { fprintf(stderr, "lmdb_core: --procs must be at most 256\n"); return 2; }
    if (o.warmup < 0) o.warmup = o.ops / 10 < 1000 ? o.ops / 10 : 1000;

    char path[4096];
    const char *parent = o.parent ? o.parent : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(path, sizeof path, "%s/cask-lmdb-core.XXXXXX", parent);
    if (!mkdtemp(path)) { perror("lmdb_core: mkdtemp"); return 1; }

    /* Preload: every key set to itself, in one transaction, then closed before any fork. */
    {
        MDB_env *env = env_open(&o, path);
        MDB_txn *txn;
        MDB_dbi dbi;
        char digits[24];
        int rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc) fail("mdb_txn_begin (preload)", rc);
        if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi))) fail("mdb_dbi_open", rc);
        for (long i = 0; i < o.range; i++) {
            MDB_val kv = {(size_t)digits_of(i, digits), digits};
            if ((rc = mdb_put(txn, dbi, &kv, &kv, 0))) fail("mdb_put (preload)", rc);
        }
        if ((rc = mdb_txn_commit(txn))) fail("mdb_txn_commit (preload)", rc);
        mdb_env_close(env);
    }

    /* One shared anonymous mapping holds every worker's tally and samples; it outlives the workers. */
    long per_worker = o.ops - o.warmup > 0 ? o.ops - o.warmup : 0;
    size_t tallies = sizeof(struct tally) * (size_t)o.procs;
    size_t bytes = tallies + sizeof(uint32_t) * (size_t)KINDS * (size_t)per_worker * (size_t)o.procs + 1;
    void *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) { perror("lmdb_core: mmap"); return 1; }
    struct tally *tally = shared;
    uint32_t *sample_base = (uint32_t *)((char *)shared + tallies);
    fflush(NULL);

    pid_t pids[256];
    uint64_t start = clock_ns();
    for (long p = 0; p < o.procs; p++) {
        uint32_t *samples[KINDS];
        for (int k = 0; k < KINDS; k++) samples[k] = sample_base + ((size_t)p * KINDS + (size_t)k) * (size_t)per_worker;
        pid_t pid = fork();
        if (pid < 0) { perror("lmdb_core: fork"); return 1; }
        if (pid == 0) {
            tally[p].failed = 1;
            run_worker(&o, path, p, &tally[p], samples);
            tally[p].failed = 0;
            _exit(0);
        }
        pids[p] = pid;
    }
    int bad = 0;
    for (long p = 0; p < o.procs; p++) {
        int status;
        if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) || tally[p].failed) {
            fprintf(stderr, "lmdb_core: worker %ld failed\n", p);
            bad = 1;
        }
    }
    double wall = (double)(clock_ns() - start) / 1e9;

    char cleanup[4200];
    snprintf(cleanup, sizeof cleanup, "%s/data.mdb", path);
    unlink(cleanup);
    snprintf(cleanup, sizeof cleanup, "%s/lock.mdb", path);
    unlink(cleanup);
    rmdir(path);
    if (bad) return 1;

    int major, minor, patch;
    mdb_version(&major, &minor, &patch);
    printf("lmdb-c core lmdb=%d.%d.%d flags=NOSYNC|NOMETASYNC%s procs=%ld ops=%ld range=%ld warmup=%ld\n",
           major, minor, patch, o.writemap ? "|WRITEMAP" : "", o.procs, o.ops, o.range, o.warmup);
    uint32_t *merged = malloc(sizeof(uint32_t) * ((size_t)per_worker * (size_t)o.procs + 1));
    if (!merged) { perror("lmdb_core: malloc"); return 1; }
    for (int k = 0; k < KINDS; k++) {
        long n = 0, misses = 0;
        for (long p = 0; p < o.procs; p++) {
            memcpy(merged + n, sample_base + ((size_t)p * KINDS + (size_t)k) * (size_t)per_worker,
                   sizeof(uint32_t) * (size_t)tally[p].count[k]);
            n += tally[p].count[k];
            misses += tally[p].misses[k];
        }
        if (n == 0) continue;
        qsort(merged, (size_t)n, sizeof *merged, by_value);
        printf("%-7s count=%ld miss=%ld median_us=%.2f p90_us=%.2f p99_us=%.2f max_us=%.2f\n", kind_names[k], n, misses,
               percentile(merged, n, 0.5), percentile(merged, n, 0.9), percentile(merged, n, 0.99), merged[n - 1] / 1000.0);
    }
    printf("wall_s=%.3f ops_per_s=%.0f\n", wall, (double)(o.procs * o.ops) / wall);
    free(merged);
    munmap(shared, bytes);
    return 0;
}
