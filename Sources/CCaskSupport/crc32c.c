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
// The crc32 instruction takes 3 cycles but can start one each cycle: one dependent chain uses a
// third of it. Long inputs are therefore cut in blocks of three STRIDE-byte lanes, each lane run
// as its own chain (from register 0 for the second and third), and the lanes joined with
//   R(s, A B C) = Z(Z(R(s, A)) ^ R(0, B)) ^ R(0, C),
// where R(s, D) is the register after feeding D from register s and Z(x) = R(x, STRIDE zero
// bytes): CRC without its pre- and post-inversion is linear, so feeding B after A equals feeding
// zeros after A, xored with feeding B from 0. Z is linear in x too, so it is four table lookups,
// one per byte of x; the tables are made once, with the instruction itself.
//
// Records are mostly shorter than three strides, so inputs from 3 × SHORT bytes on run the same
// scheme in lanes of SHORT bytes first (its own Z table): a 300-byte record then takes one block
// of three 64-byte lanes and a 108-byte serial tail instead of one 300-byte chain.
#define STRIDE 4096
#define SHORT 64
static uint32_t zero_stride[4][256];
static uint32_t zero_short[4][256];
static pthread_once_t zero_tables_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static uint64_t crc32c_serial(uint64_t c, const unsigned char *p, uint64_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

// table[k][v] = Z(v << 8k) for a run of `zeros` zero bytes (a multiple of 8).
__attribute__((target("sse4.2")))
static void build_zero_table(uint32_t table[4][256], int zeros) {
    for (int k = 0; k < 4; k++) {
        for (uint32_t v = 0; v < 256; v++) {
            uint64_t c = (uint64_t)v << (8 * k);
            for (int i = 0; i < zeros / 8; i++) c = __builtin_ia32_crc32di(c, 0);
            table[k][v] = (uint32_t)c;
        }
    }
}

static void build_zero_tables(void) {
    build_zero_table(zero_stride, STRIDE);
    build_zero_table(zero_short, SHORT);
}

static inline uint32_t shift_zeros(const uint32_t table[4][256], uint32_t x) {
    return table[0][x & 0xFF] ^ table[1][(x >> 8) & 0xFF] ^ table[2][(x >> 16) & 0xFF] ^ table[3][x >> 24];
}

// Feeds the whole blocks of three `lane`-byte lanes at the start of p[0..<n] to register c.
#define CRC32C_LANES(lane, table)                                                   \
    while (n >= 3 * (lane)) {                                                      \
        uint64_t c1 = 0, c2 = 0;                                                   \
        for (int i = 0; i < (lane); i += 8) {                                      \
            uint64_t a, b, d;                                                      \
            memcpy(&a, p + i, 8);                                                  \
            memcpy(&b, p + (lane) + i, 8);                                         \
            memcpy(&d, p + 2 * (lane) + i, 8);                                     \
            c = __builtin_ia32_crc32di(c, a);                                      \
            c1 = __builtin_ia32_crc32di(c1, b);                                    \
            c2 = __builtin_ia32_crc32di(c2, d);                                    \
        }                                                                          \
        c = shift_zeros(table, shift_zeros(table, (uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2; \
        p += 3 * (lane);                                                           \
        n -= 3 * (lane);                                                           \
    }

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, uint64_t n) {
    uint64_t c = ~crc;
    if (n >= 3 * SHORT) {
        pthread_once(&zero_tables_once, build_zero_tables);
        CRC32C_LANES(STRIDE, zero_stride)
        CRC32C_LANES(SHORT, zero_short)
    }
    return ~(uint32_t)crc32c_serial(c, p, n);
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
