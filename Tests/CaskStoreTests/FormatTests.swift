import CaskTestSupport
import Testing
@testable import CaskStore
import CCaskSupport

@Suite("On-disk formats")
struct FormatTests {
    @Test func recordRoundTrip() {
        let r = RecordCodec.encode(kind: .put, flags: [.compressed], sequence: 42, storeTime: 1_700_000_000_000_000,
                                   expireTime: 1_800_000_000_000_000, key: bytes("key"), tag: bytes("tag"), value: bytes("value"))
        #expect(r.count == RecordHeader.size + 3 + 3 + 5)
        r.withUnsafeBytes { raw in
            guard case .valid(let h) = RecordCodec.parse(raw.baseAddress!, available: raw.count) else {
                Issue.record("record did not parse")
                return
            }
            #expect(h.kind == .put)
            #expect(h.flags == [.compressed])
            #expect(h.sequence == 42)
            #expect(h.expireTime == 1_800_000_000_000_000)
            #expect(h.keyLength == 3 && h.tagLength == 3 && h.valueLength == 5)
            #expect(Array(raw[h.valueOffset..<h.valueOffset + 5]) == bytes("value"))
            #expect(Array(raw[h.tagOffset..<h.tagOffset + 3]) == bytes("tag"))
        }
    }

    @Test func everyPrefixOfARecordIsTruncatedOrZero() {
        let r = RecordCodec.encode(kind: .put, sequence: 1, storeTime: 1, expireTime: 0, key: bytes("k"), value: bytes("v"))
        for n in 1..<r.count {
            let result = r.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: n) }
            #expect(result == .truncated, "prefix \(n)")
        }
    }

    @Test func everyBitFlipIsDetected() {
        let r = RecordCodec.encode(kind: .put, sequence: 7, storeTime: 5, expireTime: 0, key: bytes("key"), tag: bytes("t"), value: bytes("some value"))
        for i in 0..<r.count {
            for bit in 0..<8 {
                var damaged = r
                damaged[i] ^= UInt8(1 << bit)
                let result = damaged.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: $0.count) }
                if case .valid = result { Issue.record("flip of bit \(bit) at byte \(i) went unnoticed") }
            }
        }
    }

    @Test func zeroFillIsInvalid() {
        let zeros = [UInt8](repeating: 0, count: 100)
        #expect(zeros.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: 100) } == .invalid)
        #expect(zeros.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: 10) } == .invalid)
    }

    @Test func randomBytesNeverCrashTheDecoders() {
        var rng = SeededRandom(seed: 11)
        for round in 0..<3000 {
            let n = Int.random(in: 0...200, using: &rng)
            var junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if round % 3 == 0 && n >= 8 { junk[4] = 0x5C; junk[5] = 0xCA; junk[6] = 1 }
            if n > 0 { _ = junk.withUnsafeBytes { RecordCodec.parse($0.baseAddress!, available: n) } }
            _ = try? HintFile.decode(junk, segmentID: 1, path: "fuzz")
            _ = try? Manifest.decode(junk, path: "fuzz")
        }
    }

    @Test func manifestRoundTripAndDamage() throws {
        let m = Manifest(version: 9, nextSegmentID: 12, segments: [.init(id: 3, hasHint: true), .init(id: 11, hasHint: false)])
        let encoded = m.encoded()
        #expect(try Manifest.decode(encoded, path: "m") == m)
        for i in 0..<encoded.count {
            var d = encoded
            d[i] ^= 0x40
            #expect(throws: CaskError.self) { try Manifest.decode(d, path: "m") }
        }
        #expect(throws: CaskError.self) { try Manifest.decode(Array(encoded.dropLast()), path: "m") }
    }

    @Test func hintRoundTripAndDamage() throws {
        var entries: [HintEntry] = []
        for i in 0..<10 {
            let hash = UInt64(i) &* 977
            entries.append(HintEntry(hash: hash, offset: UInt32(i * 50), length: 50, expireTime: Int64(i), sequence: UInt64(i + 1),
                                     keyLength: 3, tagLength: UInt16(i % 2)))
        }
        let encoded = HintFile.encode(segmentID: 4, segmentLength: 500, entries: entries)
        let decoded = try HintFile.decode(encoded, segmentID: 4, path: "h")
        #expect(decoded.segmentLength == 500)
        #expect(decoded.entries == entries)
        #expect(throws: CaskError.self) { try HintFile.decode(encoded, segmentID: 5, path: "h") }
        var d = encoded
        d[40] ^= 1
        #expect(throws: CaskError.self) { try HintFile.decode(d, segmentID: 4, path: "h") }
    }

    /// The key hash decides shard placement and is stored in hint files: it must never change.
    @Test func keyHashIsStable() {
        // Values recorded when format 1 was defined.
        #expect(KeyHash.hash(bytes("")) == 4_926_507_049_646_548_540)
        #expect(KeyHash.hash(bytes("a")) == 10_212_522_832_626_009_046)
        #expect(KeyHash.hash(bytes("0123456789abcdef")) == 9_498_071_650_250_544_522)
        #expect(KeyHash.hash(bytes("hello world, cask")) == 11_404_058_252_259_489_102)
    }
}

@Suite("Checksum")
struct ChecksumTests {
    /// The standard CRC-32C check value, and agreement of the accelerated and portable versions.
    @Test func crc32cMatchesTheStandardAndTheSoftwareVersion() {
        #expect(Checksum.crc32(Array("123456789".utf8)) == 0xE306_9283)
        var rng = SeededRandom(seed: 5)
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            let data = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let soft = data.withUnsafeBytes { cask_crc32c_software(0, $0.baseAddress, UInt64(n)) }
            #expect(Checksum.crc32(data) == soft, "length \(n)")
        }
        // Every length up to past the 64-byte lanes' blocks (3 × 64 bytes) several times over,
        // from unaligned starts, continuing a CRC as record writes do.
        let small = (0..<1_400).map { _ in UInt8.random(in: 0...255, using: &rng) }
        small.withUnsafeBytes { b in
            for n in 0...1_300 {
                let start = n % 13
                let seed = UInt32.random(in: 0...UInt32.max, using: &rng)
                let fast = cask_crc32c(seed, b.baseAddress! + start, UInt64(n))
                let soft = cask_crc32c_software(seed, b.baseAddress! + start, UInt64(n))
                #expect(fast == soft, "length \(n) from \(start)")
            }
        }
        // Around and well past the lengths from which the accelerated version folds (4096 bytes,
        // then 256-byte strides, 64-byte and 16-byte steps) or runs three lanes of 4096 bytes,
        // from unaligned starts, by both paths (`cask_crc32c_unfolded`: the lanes only).
        let big = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let lengths = [4_095, 4_096, 4_097, 4_111, 4_112, 4_159, 4_160, 4_351, 4_352, 4_353, 12_287, 12_288, 12_289,
                       24_576, 24_583, 36_871, 299_990] + (0..<40).map { _ in Int.random(in: 0..<299_990, using: &rng) }
        big.withUnsafeBytes { b in
            for n in lengths {
                let start = Int.random(in: 0...(big.count - n), using: &rng)
                let seed = UInt32.random(in: 0...UInt32.max, using: &rng)
                let fast = cask_crc32c(seed, b.baseAddress! + start, UInt64(n))
                let lanes = cask_crc32c_unfolded(seed, b.baseAddress! + start, UInt64(n))
                let soft = cask_crc32c_software(seed, b.baseAddress! + start, UInt64(n))
                #expect(fast == soft && lanes == soft, "length \(n) from \(start)")
            }
        }
    }

    /// A record whose value is written separately (large values) is byte for byte the record
    /// encoded in one piece: the same header, the same CRC.
    @Test(arguments: [0, 1, 7, 4096, 70_000])
    func recordEncodedWithoutItsValueMatchesTheWholeRecord(valueLength: Int) {
        let key = bytes("some-key"), tag = bytes("a-tag")
        let value = (0..<valueLength).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = RecordCodec.encode(kind: .put, flags: [.compressed], sequence: 9, storeTime: 5, expireTime: 6,
                                       key: key, tag: tag, value: value)
        var head = [UInt8](repeating: 0, count: RecordHeader.length(key: key.count, tag: tag.count, value: 0))
        let n = head.withUnsafeMutableBytes { out in
            key.withUnsafeBytes { k in
                tag.withUnsafeBytes { t in
                    value.withUnsafeBytes { v in
                        RecordCodec.encodeWithoutValue(into: out.baseAddress!, kind: .put, flags: [.compressed], sequence: 9,
                                                       storeTime: 5, expireTime: 6, key: k, tag: t, value: v)
                    }
                }
            }
        }
        #expect(n == head.count)
        #expect(head + value == whole)
    }
}

