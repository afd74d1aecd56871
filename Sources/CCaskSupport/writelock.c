// The shard write lock: a process-shared robust mutex inside the shard's shared header page (on
// Linux), or `flock` on the lock file (elsewhere). See Design.md, "Locking protocol".
//
// On Linux an uncontended lock and unlock are two atomic instructions in user space, where the
// `flock` pair they replace cost two system calls (~0.4 µs together here). A holder that dies is
// noticed by the kernel (the robust list): the next locker gets EOWNERDEAD, marks the mutex
// consistent at once and returns 1. The engine treats that as any acquisition: its repair of what
// a holder left half done (the header's writer and manifest-change marks) runs on every one.

#include "CCaskSupport.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#if defined(__linux__)
#include <pthread.h>

_Static_assert(sizeof(pthread_mutex_t) <= CASK_WRITE_LOCK_SIZE, "the write lock must fit its header slot");

int cask_write_lock_init(void *slot) {
    memset(slot, 0, CASK_WRITE_LOCK_SIZE);
    pthread_mutexattr_t attributes;
    int rc = pthread_mutexattr_init(&attributes);
    if (rc != 0) return rc;
    rc = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = pthread_mutex_init((pthread_mutex_t *)slot, &attributes);
    pthread_mutexattr_destroy(&attributes);
    return rc;
}

/// 0 when taken, 1 when taken from a holder that died (made consistent), else an errno.
static int taken(int rc, pthread_mutex_t *mutex) {
    if (rc == 0) return 0;
    if (rc == EOWNERDEAD) {
        int consistent = pthread_mutex_consistent(mutex);
        return consistent == 0 ? 1 : consistent;
    }
    return rc;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/// How long one round of `cask_write_lock` spins on a busy lock before it yields the CPU. A holder
/// that is running lets go within a microsecond or two (an append, maybe a page fault); a waiter
/// that yields at once instead gives its CPU away for the rest of a time slice — with more
/// processes than cores, hundreds of microseconds (Design.md, "Locking protocol").
#define CASK_SPIN_NANOS 4000

/// Tries `mutex` for up to CASK_SPIN_NANOS, pausing between tries (a try is an atomic operation on
/// the holder's cache line: not back to back). EBUSY if it stayed busy.
static int spin_on(pthread_mutex_t *mutex) {
    uint64_t start = 0;
    for (;;) {
        int rc = pthread_mutex_trylock(mutex);
        if (rc != EBUSY) return rc;
        if (start == 0) start = monotonic_ns();
        else if (monotonic_ns() - start > CASK_SPIN_NANOS) return EBUSY;
        for (int i = 0; i < 16; i++) cpu_relax();
    }
}

int cask_write_lock(void *slot, int fd, int spins) {
    (void)fd;
    pthread_mutex_t *mutex = (pthread_mutex_t *)slot;
    for (int i = 0; i < spins; i++) {
        int rc = spin_on(mutex);
        if (rc != EBUSY) return taken(rc, mutex);
        sched_yield();
    }
    return taken(pthread_mutex_lock(mutex), mutex);
}

int cask_write_unlock(void *slot, int fd) {
    (void)fd;
    return pthread_mutex_unlock((pthread_mutex_t *)slot);
}

#else

int cask_write_lock_init(void *slot) {
    memset(slot, 0, CASK_WRITE_LOCK_SIZE);
    return 0;
}

int cask_write_lock(void *slot, int fd, int spins) {
    (void)slot;
    for (int i = 0; i < spins; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) return errno;
        sched_yield();
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) return errno;
    }
    return 0;
}

int cask_write_unlock(void *slot, int fd) {
    (void)slot;
    return flock(fd, LOCK_UN) == 0 ? 0 : errno;
}

#endif
