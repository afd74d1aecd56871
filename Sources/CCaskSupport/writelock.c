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

int cask_write_lock(void *slot, int fd, int spins) {
    (void)fd;
    pthread_mutex_t *mutex = (pthread_mutex_t *)slot;
    for (int i = 0; i < spins; i++) {
        int rc = pthread_mutex_trylock(mutex);
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
