/// A hint file describes the live records of one compacted segment so that open can fill the index
/// without reading the segment's values. Written by compaction next to the segment (`<id>.hint`).
///
///     0  8 bytes magic "CASKHNT1"
///     8  u64 segment id
///     16 u64 entry count n
///     24 u64 length of the segment in bytes
///     32 n x 40-byte entries:
///          0 u64 key hash   8 u32 record offset   12 u32 record length
///          16 i64 expire time (µs since epoch, 0 = never)   24 u64 sequence number
///          32 u16 key length   34 u16 tag length   36 u8 record flags   37 3 bytes 0
///     .. u32 crc32 of all bytes before it
///
/// Keys are not repeated: the index is keyed by the key hash, and the rare hash collision is
/// resolved by reading the key from the segment.
package struct HintEntry: Sendable, Equatable {
    package var hash: UInt64
    package var offset: UInt32
    package var length: UInt32
    package var expireTime: Int64
    package var sequence: UInt64
    package var keyLength: UInt16
    package var tagLength: UInt16
    package var flags: UInt8

    package init(hash: UInt64, offset: UInt32, length: UInt32, expireTime: Int64, sequence: UInt64,
                 keyLength: UInt16, tagLength: UInt16, flags: UInt8 = 0) {
        self.flags = flags
        self.keyLength = keyLength
        self.tagLength = tagLength
        self.hash = hash
        self.offset = offset
        self.length = length
        self.expireTime = expireTime
        self.sequence = sequence
    }
}

package enum HintFile {
    static let headerSize = 32
    static let entrySize = 40

    package static func encode(segmentID: UInt32, segmentLength: Int64, entries: [HintEntry]) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize + entries.count * entrySize + 4)
        w.ascii("CASKHNT1")
        w.u64(UInt64(segmentID))
        w.u64(UInt64(entries.count))
        w.u64(UInt64(segmentLength))
        for e in entries {
            w.u64(e.hash)
            w.u32(e.offset)
            w.u32(e.length)
            w.i64(e.expireTime)
            w.u64(e.sequence)
            w.u16(e.keyLength)
            w.u16(e.tagLength)
            w.u32(UInt32(e.flags))
        }
        w.sealWithCRC()
        return w.bytes
    }

    /// Decodes and validates a hint file; any inconsistency throws (the caller then scans the segment).
    package static func decode(_ bytes: [UInt8], segmentID: UInt32, path: String) throws -> (segmentLength: Int64, entries: [HintEntry]) {
        try ByteReader.verifyTrailingCRC(bytes, path: path)
        guard bytes.count >= headerSize + 4, Array(bytes[0..<8]) == Array("CASKHNT1".utf8) else {
            throw CaskError(.corrupted, "not a hint file", path: path)
        }
        let parsed: (Int64, [HintEntry])? = bytes.withUnsafeBytes { raw in
            let id = raw.le(8, as: UInt64.self)
            let count = raw.le(16, as: UInt64.self)
            let length = raw.le(24, as: UInt64.self)
            guard id == UInt64(segmentID), length <= UInt64(UInt32.max),
                  (raw.count - headerSize - 4) % entrySize == 0,
                  count == UInt64((raw.count - headerSize - 4) / entrySize) else { return nil }
            var entries: [HintEntry] = []
            entries.reserveCapacity(Int(count))
            var p = headerSize
            for _ in 0..<Int(count) {
                let e = HintEntry(hash: raw.le(p), offset: raw.le(p + 8), length: raw.le(p + 12),
                                  expireTime: raw.le(p + 16), sequence: raw.le(p + 24),
                                  keyLength: raw.le(p + 32), tagLength: raw.le(p + 34),
                                  flags: raw.load(fromByteOffset: p + 36, as: UInt8.self))
                guard UInt64(e.offset) + UInt64(e.length) <= length,
                      Int(e.length) >= RecordHeader.size + Int(e.keyLength) + Int(e.tagLength) else { return nil }
                entries.append(e)
                p += entrySize
            }
            return (Int64(length), entries)
        }
        guard let parsed else { throw CaskError(.corrupted, "hint file is inconsistent with its size or segment", path: path) }
        return (parsed.0, parsed.1)
    }
}
