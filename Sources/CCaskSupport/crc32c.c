// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of every record,
// manifest and hint file. Uses the SSE 4.2 crc32 instruction when the CPU has it, the ARMv8 CRC
// instructions on arm64, and an 8-table software version otherwise.
#include "CCaskSupport.h"
#include <string.h>
#include <pthread.h>

static uint32_t crc_tables[8][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

static void crc_build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_tables[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_tables[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc_tables[0][c & 0xFF] ^ (c >> 8);
            crc_tables[t][n] = c;
        }
    }
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, uint64_t n) {
    pthread_once(&crc_tables_once, crc_build_tables);
    crc = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;  // little-endian hosts only (all that Cask supports)
        crc = crc_tables[7][w & 0xFF] ^ crc_tables[6][(w >> 8) & 0xFF] ^ crc_tables[5][(w >> 16) & 0xFF]
            ^ crc_tables[4][(w >> 24) & 0xFF] ^ crc_tables[3][(w >> 32) & 0xFF] ^ crc_tables[2][(w >> 40) & 0xFF]
            ^ crc_tables[1][(w >> 48) & 0xFF] ^ crc_tables[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = crc_tables[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, uint64_t n) {
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}

uint32_t cask_crc32c(uint32_t crc, const void *bytes, uint64_t count) {
    // -1: not yet known. Threads may race to fill it in; they all store the same answer.
    static int has_sse42 = -1;
    int known = __atomic_load_n(&has_sse42, __ATOMIC_RELAXED);
    if (known < 0) {
        known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&has_sse42, known, __ATOMIC_RELAXED);
    }
    return known ? crc32c_hardware(crc, bytes, count) : crc32c_software(crc, bytes, count);
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
uint32_t cask_crc32c(uint32_t crc, const void *bytes, uint64_t count) {
    const unsigned char *p = bytes;
    uint32_t c = ~crc;
    while (count >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __crc32cd(c, w);
        p += 8;
        count -= 8;
    }
    while (count--) c = __crc32cb(c, *p++);
    return ~c;
}
#else
uint32_t cask_crc32c(uint32_t crc, const void *bytes, uint64_t count) {
    return crc32c_software(crc, bytes, count);
}
#endif

uint32_t cask_crc32c_software(uint32_t crc, const void *bytes, uint64_t count) {
    return crc32c_software(crc, bytes, count);
}
