/// The fixed-seed 64-bit hash of a key. It picks the shard and keys the in-memory index, so it must
/// give the same value in every process and every run (Swift's `Hasher` is seeded per process and
/// must never be used for this). Word-at-a-time multiply/rotate mixing with a 64-bit finalizer.
///
/// Changing this function changes the on-disk format (shard placement and hint files).
package enum KeyHash {
    private static let seed: UInt64 = 0x6361_736B_2D6B_6579  // "cask-key"
    private static let p1: UInt64 = 0x87C3_7B91_1142_53D5
    private static let p2: UInt64 = 0x4CF5_AD43_2745_937F

    @inline(__always)
    private static func mix(_ w: UInt64) -> UInt64 {
        var k = w &* p1
        k = (k << 31) | (k >> 33)
        return k &* p2
    }

    @inline(__always)
    private static func finalize(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    package static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h = seed ^ (UInt64(n) &* p2)
        guard let base = bytes.baseAddress else { return finalize(h) }
        var i = 0
        while i + 8 <= n {
            h ^= mix(base.le(i, as: UInt64.self))
            h = ((h << 27) | (h >> 37)) &* 5 &+ 0x52DC_E729
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h ^= mix(tail)
        }
        return finalize(h)
    }

    package static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }
}
