// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of every record,
// manifest and hint file. Uses the SSE 4.2 crc32 instruction when the CPU has it (and folds long
// inputs with AVX-512 VPCLMULQDQ where available), the ARMv8 CRC instructions on arm64, and an
// 8-table software version otherwise.
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
#include <immintrin.h>
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

// Long inputs, on CPUs with AVX-512 and VPCLMULQDQ, are folded instead: carry-less multiplication
// moves a 16-byte block's remainder forward by d bytes — its low half times x^(8d+32), its high
// half times x^(8d-32), mod P, bit-reflected — so sixteen 16-byte lanes (four 64-byte registers)
// run independently over 256-byte strides; then the registers, and the lanes within the last one,
// are folded into one block, whose 16 bytes the crc32 instruction finishes. Twice the three-lane
// throughput here (66 against 32 GB/s on 1 MiB in cache).
#define FOLD_MINIMUM 4096

// fold_keys[i] = the pair for a fold of fold_distance[i] bytes, in the order the code uses them.
static const unsigned fold_distance[5] = {256, 64, 48, 32, 16};
static uint64_t fold_keys[5][2];
static pthread_once_t fold_keys_once = PTHREAD_ONCE_INIT;

// x^(8n) mod P, bit-reflected (bit 31 is x^0): n zero bytes fed to the crc32 instruction from x^0.
__attribute__((target("sse4.2")))
static uint64_t x_to_8n(unsigned n) {
    uint32_t r = 0x80000000u;
    while (n--) r = __builtin_ia32_crc32qi(r, 0);
    return r;
}

__attribute__((target("sse4.2")))
static void build_fold_keys(void) {
    for (int i = 0; i < 5; i++) {
        fold_keys[i][0] = x_to_8n(fold_distance[i] + 4) << 1;  // times the low half
        fold_keys[i][1] = x_to_8n(fold_distance[i] - 4) << 1;  // times the high half
    }
}

static int can_fold(void) {
    // -1: not yet known; threads may race to fill it in, with the same answer. Release and
    // acquire: a thread that sees 1 also sees the keys made before it was stored.
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
    if (k < 0) {
        k = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") ? 1 : 0;
        if (k) pthread_once(&fold_keys_once, build_fold_keys);
        __atomic_store_n(&known, k, __ATOMIC_RELEASE);
    }
    return k;
}

__attribute__((target("sse4.2,pclmul")))
static inline __m128i fold16(__m128i x, int i) {
    __m128i k = _mm_loadu_si128((const __m128i *)fold_keys[i]);
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

__attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq")))
static inline __m512i fold64(__m512i x, __m512i k) {
    return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11));
}

// Feeds the whole 16-byte blocks of p[0..<n] (n >= 256) to register c (no inversions) and returns
// the register; *used is set to the bytes consumed.
__attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq")))
static uint32_t crc32c_fold(uint32_t c, const unsigned char *p, uint64_t n, uint64_t *used) {
    const unsigned char *start = p;
    // The register joins the first four bytes: feeding it, then them, is feeding them xored with it.
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
    __m512i x1 = _mm512_loadu_si512(p + 64), x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
    p += 256;
    n -= 256;
    __m512i k256 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)fold_keys[0]));
    while (n >= 256) {
        x0 = _mm512_xor_si512(fold64(x0, k256), _mm512_loadu_si512(p));
        x1 = _mm512_xor_si512(fold64(x1, k256), _mm512_loadu_si512(p + 64));
        x2 = _mm512_xor_si512(fold64(x2, k256), _mm512_loadu_si512(p + 128));
        x3 = _mm512_xor_si512(fold64(x3, k256), _mm512_loadu_si512(p + 192));
        p += 256;
        n -= 256;
    }
    __m512i k64 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)fold_keys[1]));
    __m512i x = _mm512_xor_si512(fold64(x0, k64), x1);
    x = _mm512_xor_si512(fold64(x, k64), x2);
    x = _mm512_xor_si512(fold64(x, k64), x3);
    while (n >= 64) {
        x = _mm512_xor_si512(fold64(x, k64), _mm512_loadu_si512(p));
        p += 64;
        n -= 64;
    }
    __m128i y = _mm_xor_si128(_mm_xor_si128(fold16(_mm512_extracti32x4_epi32(x, 0), 2), fold16(_mm512_extracti32x4_epi32(x, 1), 3)),
                              _mm_xor_si128(fold16(_mm512_extracti32x4_epi32(x, 2), 4), _mm512_extracti32x4_epi32(x, 3)));
    while (n >= 16) {
        y = _mm_xor_si128(fold16(y, 4), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    *used = (uint64_t)(p - start);
    uint64_t r = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(y));
    return (uint32_t)__builtin_ia32_crc32di(r, (uint64_t)_mm_extract_epi64(y, 1));
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, uint64_t n, int may_fold) {
    uint64_t c = ~crc;
    if (may_fold && n >= FOLD_MINIMUM && can_fold()) {
        uint64_t used;
        c = crc32c_fold((uint32_t)c, p, n, &used);
        p += used;
        n -= used;
    }
    if (n >= 3 * SHORT) {
        pthread_once(&zero_tables_once, build_zero_tables);
        CRC32C_LANES(STRIDE, zero_stride)
        CRC32C_LANES(SHORT, zero_short)
    }
    return ~(uint32_t)crc32c_serial(c, p, n);
}

static int has_sse42(void) {
    // -1: not yet known. Threads may race to fill it in; they all store the same answer.
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        k = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}

uint32_t cask_crc32c(uint32_t crc, const void *bytes, uint64_t count) {
    return has_sse42() ? crc32c_hardware(crc, bytes, count, 1) : crc32c_software(crc, bytes, count);
}

uint32_t cask_crc32c_unfolded(uint32_t crc, const void *bytes, uint64_t count) {
    return has_sse42() ? crc32c_hardware(crc, bytes, count, 0) : crc32c_software(crc, bytes, count);
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

#if !defined(__x86_64__)
uint32_t cask_crc32c_unfolded(uint32_t crc, const void *bytes, uint64_t count) {
    return cask_crc32c(crc, bytes, count);
}
#endif

uint32_t cask_crc32c_software(uint32_t crc, const void *bytes, uint64_t count) {
    return crc32c_software(crc, bytes, count);
}
