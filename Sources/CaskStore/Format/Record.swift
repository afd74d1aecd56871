#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport

/// What a log record says about its key.
package enum RecordKind: UInt8, Sendable {
    /// The key now has this value (and expiry and tag).
    case put = 1
    /// The key is deleted (a tombstone).
    case delete = 2
    /// The key keeps its value; its expire time changes (metadata update).
    case touch = 3
}

/// Per-record flags (byte 7 of the header), interpreted by the typed cache layer.
package struct RecordFlags: OptionSet, Sendable, Hashable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The value bytes are zlib-compressed.
    package static let compressed = RecordFlags(rawValue: 1 << 0)
    /// The value bytes name a separate value file instead of holding the value.
    package static let valueInFile = RecordFlags(rawValue: 1 << 1)
    /// Bits 2-4: how the layer above encoded the value (bytes, string, integer, ...); opaque here.
    package static let encodingMask: UInt8 = 0b1_1100
    /// Bits that may be set in a valid record.
    package static let validMask: UInt8 = 0b1_1111
}

/// The fixed 40-byte header of a log record. Byte layout (little-endian), see Design.md:
///
///     0  u32 crc32 of bytes [4, length)     20 ...
///     4  u16 magic 0xCA5C                   24 i64 expire time, µs since epoch, 0 = never
///     6  u8  kind                           32 u16 tag length
///     7  u8  flags                          34 u16 key length
///     8  u64 sequence number                36 u32 value length
///     16 i64 store time, µs since epoch     40 key, tag, value
package struct RecordHeader: Sendable, Equatable {
    package static let size = 40
    package static let magic: UInt16 = 0xCA5C
    /// Keys are at most 64 KiB - 1; tags too.
    package static let maxKeyLength = Int(UInt16.max)
    package static let maxTagLength = Int(UInt16.max)
    /// Largest value kept inline in a log record (1 GiB). Larger values belong in value files.
    package static let maxValueLength = 1 << 30

    package var kind: RecordKind
    package var flags: RecordFlags
    package var sequence: UInt64
    package var storeTime: Int64
    package var expireTime: Int64
    package var tagLength: Int
    package var keyLength: Int
    package var valueLength: Int

    package var length: Int { RecordHeader.size + keyLength + tagLength + valueLength }
    package var keyOffset: Int { RecordHeader.size }
    package var tagOffset: Int { RecordHeader.size + keyLength }
    package var valueOffset: Int { RecordHeader.size + keyLength + tagLength }

    package static func length(key: Int, tag: Int, value: Int) -> Int { size + key + tag + value }
}

/// The outcome of looking at bytes where a record should start.
package enum RecordParse: Equatable {
    /// A complete record whose checksum matches.
    case valid(RecordHeader)
    /// The bytes end before the record does (incomplete header, or its length runs past the end).
    case truncated
    /// The bytes are not a valid record (zero fill, bad magic, impossible lengths, checksum mismatch).
    case invalid
}

package enum RecordCodec {
    /// Encodes a record at `out`, which must have room for `RecordHeader.length(...)` bytes.
    /// Returns the record length.
    @inline(__always)
    package static func encode(
        into out: UnsafeMutableRawPointer,
        kind: RecordKind, flags: RecordFlags, sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) -> Int {
        let head = encodeWithoutValue(into: out, kind: kind, flags: flags, sequence: sequence, storeTime: storeTime,
                                      expireTime: expireTime, key: key, tag: tag, value: value)
        if value.count > 0 { (out + head).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return head + value.count
    }

    /// Encodes everything of a record but its value at `out` (which must have room for
    /// `RecordHeader.length(key:tag:value: 0)` bytes), with the CRC of the whole record: the
    /// value is written after these bytes straight from the caller's memory, not copied here.
    /// Returns the number of bytes encoded.
    @inline(__always)
    package static func encodeWithoutValue(
        into out: UnsafeMutableRawPointer,
        kind: RecordKind, flags: RecordFlags, sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) -> Int {
        let (head, headCRC) = encodeUnsealed(into: out, kind: kind, flags: flags, sequence: sequence, storeTime: storeTime,
                                             expireTime: expireTime, key: key, tag: tag, valueLength: value.count)
        var crc = headCRC
        if let v = value.baseAddress, value.count > 0 { crc = cask_crc32c(crc, v, UInt64(value.count)) }
        out.putLE(crc, at: 0)
        return head
    }

    /// Encodes everything of a record but its value and its CRC at `out`. Returns their length
    /// and the CRC so far (bytes 4 onwards), for the caller to continue over the value.
    @inline(__always)
    private static func encodeUnsealed(
        into out: UnsafeMutableRawPointer,
        kind: RecordKind, flags: RecordFlags, sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, valueLength: Int
    ) -> (length: Int, crc: UInt32) {
        let head = encodeHead(into: out, kind: kind, flags: flags, sequence: sequence, storeTime: storeTime,
                              expireTime: expireTime, key: key, tag: tag, valueLength: valueLength)
        return (head, Checksum.crc32(UnsafeRawPointer(out + 4), head - 4))
    }

    /// The header (CRC left out), key and tag. Returns their length.
    @inline(__always)
    private static func encodeHead(
        into out: UnsafeMutableRawPointer,
        kind: RecordKind, flags: RecordFlags, sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, valueLength: Int
    ) -> Int {
        out.putLE(RecordHeader.magic, at: 4)
        out.storeBytes(of: kind.rawValue, toByteOffset: 6, as: UInt8.self)
        out.storeBytes(of: flags.rawValue, toByteOffset: 7, as: UInt8.self)
        out.putLE(sequence, at: 8)
        out.putLE(storeTime, at: 16)
        out.putLE(expireTime, at: 24)
        out.putLE(UInt16(tag.count), at: 32)
        out.putLE(UInt16(key.count), at: 34)
        out.putLE(UInt32(valueLength), at: 36)
        var p = RecordHeader.size
        if key.count > 0 { (out + p).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        p += key.count
        if tag.count > 0 { (out + p).copyMemory(from: tag.baseAddress!, byteCount: tag.count) }
        p += tag.count
        return p
    }

    /// Encodes a record into a new array (tests and the compactor's slow path).
    package static func encode(
        kind: RecordKind, flags: RecordFlags = [], sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: [UInt8], tag: [UInt8] = [], value: [UInt8] = []
    ) -> [UInt8] {
        let length = RecordHeader.length(key: key.count, tag: tag.count, value: value.count)
        var out = [UInt8](repeating: 0, count: length)
        out.withUnsafeMutableBytes { o in
            key.withUnsafeBytes { k in
                tag.withUnsafeBytes { t in
                    value.withUnsafeBytes { v in
                        _ = encode(into: o.baseAddress!, kind: kind, flags: flags, sequence: sequence,
                                   storeTime: storeTime, expireTime: expireTime, key: k, tag: t, value: v)
                    }
                }
            }
        }
        return out
    }

    /// Reads the header fields without checking the CRC (the caller has validated the record before).
    @inline(__always)
    package static func header(at p: UnsafeRawPointer) -> RecordHeader {
        RecordHeader(
            kind: RecordKind(rawValue: p.load(fromByteOffset: 6, as: UInt8.self)) ?? .put,
            flags: RecordFlags(rawValue: p.load(fromByteOffset: 7, as: UInt8.self)),
            sequence: p.le(8), storeTime: p.le(16), expireTime: p.le(24),
            tagLength: Int(p.le(32, as: UInt16.self)),
            keyLength: Int(p.le(34, as: UInt16.self)),
            valueLength: Int(p.le(36, as: UInt32.self)))
    }

    /// The key bytes of the record at `p` (the caller has validated the record before; valid as
    /// long as the bytes at `p` are).
    @inline(__always)
    package static func key(at p: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p + RecordHeader.size, count: Int(p.le(34, as: UInt16.self)))
    }

    /// True when the record at `p` holds exactly `key` (an index lookup's confirmation).
    @inline(__always)
    package static func holdsKey(_ p: UnsafeRawPointer, _ key: UnsafeRawBufferPointer) -> Bool {
        let stored = self.key(at: p)
        return stored.count == key.count && (key.isEmpty || memcmp(stored.baseAddress!, key.baseAddress!, key.count) == 0)
    }

    /// Validates the record starting at `p`, with `available` bytes readable from there.
    package static func parse(_ p: UnsafeRawPointer, available: Int) -> RecordParse {
        guard available >= RecordHeader.size else {
            // A short all-zero tail is zero fill (invalid), anything else a torn header.
            return isZero(p, available) ? .invalid : .truncated
        }
        guard p.le(4, as: UInt16.self) == RecordHeader.magic,
              let kind = RecordKind(rawValue: p.load(fromByteOffset: 6, as: UInt8.self)) else { return .invalid }
        let h = header(at: p)
        guard h.flags.rawValue & ~RecordFlags.validMask == 0, h.valueLength <= RecordHeader.maxValueLength else { return .invalid }
        if kind != .put && h.valueLength != 0 { return .invalid }
        guard h.length <= available else { return .truncated }
        let crc = Checksum.crc32(p + 4, h.length - 4)
        return crc == p.le(0, as: UInt32.self) ? .valid(h) : .invalid
    }

    /// Checks only what makes the header usable (magic, kind, flags, lengths within `available`),
    /// not the CRC: for walks over records that were validated when they were applied.
    @inline(__always)
    package static func plausibleHeader(_ p: UnsafeRawPointer, available: Int) -> RecordHeader? {
        guard available >= RecordHeader.size, p.le(4, as: UInt16.self) == RecordHeader.magic,
              RecordKind(rawValue: p.load(fromByteOffset: 6, as: UInt8.self)) != nil else { return nil }
        let h = header(at: p)
        guard h.flags.rawValue & ~RecordFlags.validMask == 0, h.valueLength <= RecordHeader.maxValueLength,
              h.length <= available else { return nil }
        return h
    }

    static func isZero(_ p: UnsafeRawPointer, _ count: Int) -> Bool {
        for i in 0..<count where p.load(fromByteOffset: i, as: UInt8.self) != 0 { return false }
        return true
    }
}
