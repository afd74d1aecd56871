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

#include <string.h>

uint64_t cask_nonzero_end(const void *bytes, uint64_t count) {
    const unsigned char *p = bytes;
    uint64_t n = count;
    // Byte by byte down to a multiple of 8, then a word at a time over the zeros, then the bytes
    // of the first non-zero word.
    while (n % 8 != 0 && p[n - 1] == 0) n--;
    if (n % 8 != 0) return n;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p + n - 8, 8);
        if (word != 0) break;
        n -= 8;
    }
    while (n > 0 && p[n - 1] == 0) n--;
    return n;
}
