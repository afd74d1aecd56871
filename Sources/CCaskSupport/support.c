// Most shims are header-only (static inline); CRC-32C lives in crc32c.c; here the fork handler and
// the storage of the current-transaction slot.
#include "CCaskSupport.h"

_Thread_local void *cask_current_transaction_slot;

#include <pthread.h>

uint64_t cask_fork_generation_counter = 0;

static void cask_fork_child(void) {
    __atomic_fetch_add(&cask_fork_generation_counter, 1, __ATOMIC_RELAXED);
}

static void cask_register_fork_handler(void) {
    pthread_atfork(NULL, NULL, cask_fork_child);
}

void cask_watch_forks(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cask_register_fork_handler);
}
