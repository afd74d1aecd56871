#ifndef CASK_SUPPORT_H
#define CASK_SUPPORT_H

// Small C shims for the Cask engine.
//
// 1. CRC-32C for checksums (crc32c.c) and zlib for value compression.
// 2. C11 atomics on memory inside a shared mmapped file. Swift's `Atomic` cannot live at an
//    arbitrary address of a mapping shared between processes, so the engine reads and writes the
//    shared shard header through these functions.

#include <stdint.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <zlib.h>
#include <sys/file.h>
#include <sys/stat.h>

/// CRC-32C of `count` bytes, continuing from `crc` (0 to start). Hardware-accelerated when possible.
uint32_t cask_crc32c(uint32_t crc, const void *bytes, uint64_t count);
/// The portable table-driven CRC-32C (tests compare it with the accelerated one).
uint32_t cask_crc32c_software(uint32_t crc, const void *bytes, uint64_t count);
/// `cask_crc32c` without the carry-less-multiplication folding of long inputs (tests compare the
/// two paths, which CPUs with and without AVX-512 VPCLMULQDQ take).
uint32_t cask_crc32c_unfolded(uint32_t crc, const void *bytes, uint64_t count);

/// The length of `bytes[0..<count]` without its trailing zero bytes (0 if all are zero).
uint64_t cask_nonzero_end(const void *bytes, uint64_t count);

/// zlib's CRC-32 (IEEE polynomial).
static inline uint32_t cask_crc32(uint32_t crc, const void *bytes, uint64_t count) {
    const unsigned char *p = (const unsigned char *)bytes;
    uLong c = crc;
    while (count > 0) {
        uInt chunk = count > 0x40000000u ? 0x40000000u : (uInt)count;
        c = crc32(c, p, chunk);
        p += chunk;
        count -= chunk;
    }
    return (uint32_t)c;
}

static inline uint64_t cask_atomic_load_u64(const void *address) {
    return atomic_load_explicit((_Atomic uint64_t *)address, memory_order_acquire);
}

static inline void cask_atomic_store_u64(void *address, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)address, value, memory_order_release);
}

static inline uint64_t cask_atomic_fetch_add_u64(void *address, uint64_t delta) {
    return atomic_fetch_add_explicit((_Atomic uint64_t *)address, delta, memory_order_acq_rel);
}

/// Raises the value at `address` to `value` if it is lower; returns the value now stored.
static inline uint64_t cask_atomic_max_u64(void *address, uint64_t value) {
    _Atomic uint64_t *a = (_Atomic uint64_t *)address;
    uint64_t seen = atomic_load_explicit(a, memory_order_acquire);
    while (seen < value) {
        if (atomic_compare_exchange_weak_explicit(a, &seen, value, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            return value;
        }
    }
    return seen;
}

/// zlib compress2 into `dst` (capacity `*dst_len`); returns Z_OK and sets `*dst_len`.
static inline int cask_deflate(unsigned char *dst, uint64_t *dst_len, const unsigned char *src, uint64_t src_len, int level) {
    uLongf out = (uLongf)*dst_len;
    int rc = compress2(dst, &out, src, (uLong)src_len, level);
    *dst_len = out;
    return rc;
}

/// zlib uncompress into `dst` (capacity `*dst_len`); returns Z_OK and sets `*dst_len`.
static inline int cask_inflate(unsigned char *dst, uint64_t *dst_len, const unsigned char *src, uint64_t src_len) {
    uLongf out = (uLongf)*dst_len;
    int rc = uncompress(dst, &out, src, (uLong)src_len);
    *dst_len = out;
    return rc;
}

static inline uint64_t cask_deflate_bound(uint64_t n) { return compressBound((uLong)n); }

#if defined(__GLIBC__)
#include <malloc.h>
/// Returns freed heap memory to the system (benchmarks measure what a store keeps).
static inline void cask_malloc_trim(void) { malloc_trim(0); }
#else
static inline void cask_malloc_trim(void) {}
#endif

// 3. Fork detection. flock locks belong to open file descriptions, which a forked child shares with
//    its parent: a store handle used on both sides of a fork would exclude neither. A
//    pthread_atfork child handler bumps a process-wide generation; a handle remembers the
//    generation it was opened in and refuses to work in another (one load per operation).

/// Registers the fork handler (once per process; later calls return at once).
void cask_watch_forks(void);

/// The fork generation counter: 0 in the process that started, +1 in each forked child.
/// Written only by the child handler (single-threaded at that point); read with `cask_fork_generation`.
extern uint64_t cask_fork_generation_counter;

/// The generation of the calling process (see `cask_watch_forks`).
static inline uint64_t cask_fork_generation(void) {
    return __atomic_load_n(&cask_fork_generation_counter, __ATOMIC_RELAXED);
}

// 4. The shard write lock (writelock.c): a process-shared robust mutex in the shared header page
//    on Linux, `flock` on the shard's lock file elsewhere. One writer per shard across processes.

/// Bytes the header reserves for the lock.
#define CASK_WRITE_LOCK_SIZE 64

/// Initializes the lock in `slot` (only while no process can be using it: under the shard's
/// `flock`, when the header is initialized). Returns 0 or an errno.
int cask_write_lock_init(void *slot);
/// Takes the lock: `spins` tries with a yield after each, then a blocking wait. Returns 0, 1 when
/// the previous holder died holding it (the lock is taken and consistent again), or an errno.
int cask_write_lock(void *slot, int fd, int spins);
/// Releases the lock. Returns 0 or an errno.
int cask_write_unlock(void *slot, int fd);

// Swift sees `flock` and `stat` as both a struct and a function; these names are unambiguous.
static inline int cask_flock(int fd, int operation) { return flock(fd, operation); }
static inline int cask_stat(const char *path, struct stat *st) { return stat(path, st); }
static inline int cask_lstat(const char *path, struct stat *st) { return lstat(path, st); }

/// The transaction this thread is running the body of (an unretained `StoreTransaction`), or
/// NULL: operations on the same store from inside the body join it instead of deadlocking.
/// Every store operation reads it, so the accessors are inline (a load of a thread-local).
extern _Thread_local void *cask_current_transaction_slot;
static inline void *cask_current_transaction(void) { return cask_current_transaction_slot; }
static inline void cask_set_current_transaction(void *transaction) { cask_current_transaction_slot = transaction; }

#endif
