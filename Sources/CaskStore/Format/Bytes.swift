import CCaskSupport

// Little-endian loads and stores at arbitrary (unaligned) offsets, used by every on-disk format.

extension UnsafeRawPointer {
    @inline(__always) func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawPointer {
    @inline(__always) func putLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        baseAddress!.le(offset, as: T.self)
    }
}

/// CRC-32C (Castagnoli) as used by every checksummed structure on disk: hardware-accelerated on
/// x86-64 (SSE 4.2) and arm64, table-driven elsewhere.
package enum Checksum {
    @inline(__always)
    package static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return cask_crc32c(0, base, UInt64(bytes.count))
    }

    @inline(__always)
    package static func crc32(_ base: UnsafeRawPointer, _ count: Int) -> UInt32 {
        count > 0 ? cask_crc32c(0, base, UInt64(count)) : 0
    }

    package static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }
}

/// A growable little-endian byte writer for the small structured files (manifest, hints, metadata).
package struct ByteWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    package mutating func raw(_ v: some Collection<UInt8>) { bytes.append(contentsOf: v) }
    package mutating func ascii(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends the CRC-32 of everything written so far.
    package mutating func sealWithCRC() { u32(Checksum.crc32(bytes)) }
}

/// A bounds-checked little-endian reader: every read past the end throws instead of trapping.
package struct ByteReader {
    let bytes: [UInt8]
    package private(set) var position = 0
    let path: String

    package init(_ bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    package var remaining: Int { bytes.count - position }

    mutating func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw CaskError(.corrupted, "file ends early", path: path) }
        let v = bytes.withUnsafeBytes { $0.le(position, as: T.self) }
        position += size
        return v
    }

    package mutating func u32() throws -> UInt32 { try take(UInt32.self) }
    package mutating func u64() throws -> UInt64 { try take(UInt64.self) }
    package mutating func i64() throws -> Int64 { try take(Int64.self) }
    package mutating func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw CaskError(.corrupted, "file ends early", path: path) }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// Checks that the last four bytes are the CRC-32 of everything before them.
    package static func verifyTrailingCRC(_ bytes: [UInt8], path: String) throws {
        guard bytes.count >= 4 else { throw CaskError(.corrupted, "file too short", path: path) }
        let ok = bytes.withUnsafeBytes { raw in
            Checksum.crc32(raw.baseAddress!, raw.count - 4) == raw.le(raw.count - 4, as: UInt32.self)
        }
        guard ok else { throw CaskError(.corrupted, "checksum mismatch", path: path) }
    }
}
