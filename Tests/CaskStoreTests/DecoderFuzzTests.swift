import CaskTestSupport
import Testing
@testable import CaskStore

/// Deterministic fuzzing of the record, manifest and hint decoders with mutations of valid
/// encodings, checksums fixed up half of the time so the structural checks behind the CRC are
/// reached. Never a crash; whatever decodes is self-consistent. CASK_FUZZ_ITERATIONS to go longer.
@Suite("Decoder fuzz")
struct DecoderFuzzTests {
    static let iterations = knob("CASK_FUZZ_ITERATIONS", default: 20_000)

    /// One random mutation: flip, set, insert, delete, truncate, extend, or overwrite a field with an extreme value.
    static func mutate(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = input
        for _ in 0...Int(rng.next() % 3) {
            let at = b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count))
            switch rng.next() % 7 {
            case 0: if !b.isEmpty { b[at] ^= UInt8(1 << (rng.next() % 8)) }
            case 1: if !b.isEmpty { b[at] = UInt8(truncatingIfNeeded: rng.next()) }
            case 2: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
            case 3: if !b.isEmpty { b.remove(at: at) }
            case 4: b = Array(b.prefix(at))
            case 5: b += (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default:
                // An extreme little-endian integer over 2, 4 or 8 bytes.
                let width = [2, 4, 8][Int(rng.next() % 3)]
                let value: UInt64 = [0, UInt64.max, UInt64(UInt32.max), 1 << 31, UInt64(UInt16.max)][Int(rng.next() % 5)]
                for j in 0..<width where at + j < b.count { b[at + j] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(j))) }
            }
        }
        return b
    }

    /// Recomputes a trailing CRC-32 over everything before it (manifest and hint layout).
    static func fixTrailingCRC(_ b: inout [UInt8]) {
        guard b.count >= 4 else { return }
        let crc = b.withUnsafeBytes { Checksum.crc32($0.baseAddress!, b.count - 4) }
        for j in 0..<4 { b[b.count - 4 + j] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(j))) }
    }

    @Test func mutatedRecordsNeverCrashTheParser() {
        var rng = SeededRandom(seed: 1)
        let valid = [
            RecordCodec.encode(kind: .put, sequence: 3, storeTime: 9, expireTime: 0, key: bytes("key"), tag: bytes("tag"), value: bytes("a value")),
            RecordCodec.encode(kind: .delete, sequence: 4, storeTime: 9, expireTime: 0, key: bytes("key")),
            RecordCodec.encode(kind: .touch, sequence: 5, storeTime: 9, expireTime: 77, key: bytes("k")),
        ]
        var accepted = 0
        for _ in 0..<Self.iterations {
            var r = Self.mutate(valid[Int(rng.next() % 3)], &rng)
            if r.count >= 8 && rng.next() % 2 == 0 {
                // Recompute the CRC over what the (possibly mutated) lengths claim.
                func field(_ at: Int, _ width: Int) -> Int {
                    var v = 0
                    for j in 0..<width where at + j < r.count { v |= Int(r[at + j]) << (8 * j) }
                    return v
                }
                let lengths: Int = field(32, 2) + field(34, 2) + field(36, 4)
                let claimed = RecordHeader.size + lengths
                if claimed <= r.count {
                    let crc = r.withUnsafeBytes { Checksum.crc32($0.baseAddress! + 4, claimed - 4) }
                    for j in 0..<4 { r[j] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(j))) }
                }
            }
            guard !r.isEmpty else { continue }
            let result = r.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: $0.count) }
            if case .valid(let h) = result {
                accepted += 1
                #expect(h.length <= r.count && h.length >= RecordHeader.size)
                #expect(h.kind == .put || h.valueLength == 0)
            }
        }
        print("decoder fuzz (record): \(Self.iterations) inputs, \(accepted) accepted as valid")
        #expect(accepted > 0)
    }

    @Test func mutatedManifestsNeverCrashTheDecoder() {
        var rng = SeededRandom(seed: 2)
        let valid = Manifest(version: 7, nextSegmentID: 40, segments: (0..<5).map { .init(id: UInt32($0 * 7 + 1), hasHint: $0 % 2 == 0) }).encoded()
        var accepted = 0
        for _ in 0..<Self.iterations {
            var m = Self.mutate(valid, &rng)
            if rng.next() % 2 == 0 { Self.fixTrailingCRC(&m) }
            if let decoded = try? Manifest.decode(m, path: "fuzz") {
                accepted += 1
                #expect(decoded.segments.allSatisfy { $0.id < decoded.nextSegmentID })
                #expect(m.count == 36 + 16 * decoded.segments.count)
            }
        }
        print("decoder fuzz (manifest): \(Self.iterations) inputs, \(accepted) accepted as valid")
        #expect(accepted > 0)
    }

    @Test func mutatedHintsNeverCrashTheDecoder() {
        var rng = SeededRandom(seed: 3)
        let entries: [HintEntry] = (0..<6).map { (i: Int) -> HintEntry in
            HintEntry(hash: UInt64(i) &* 0x9E37_79B9, offset: UInt32(i * 60), length: 60, expireTime: 0, sequence: UInt64(i + 1),
                      keyLength: 4, tagLength: 2)
        }
        let valid = HintFile.encode(segmentID: 9, segmentLength: 360, entries: entries)
        var accepted = 0
        for _ in 0..<Self.iterations {
            var h = Self.mutate(valid, &rng)
            if rng.next() % 2 == 0 { Self.fixTrailingCRC(&h) }
            if let (length, decoded) = try? HintFile.decode(h, segmentID: 9, path: "fuzz") {
                accepted += 1
                for e in decoded {
                    #expect(Int64(e.offset) + Int64(e.length) <= length)
                    #expect(Int(e.length) >= RecordHeader.size + Int(e.keyLength) + Int(e.tagLength))
                }
            }
        }
        print("decoder fuzz (hint): \(Self.iterations) inputs, \(accepted) accepted as valid")
        #expect(accepted > 0)
    }
}
