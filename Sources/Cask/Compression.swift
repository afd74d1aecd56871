#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import CaskStore

/// zlib compression of values. A compressed value is stored as `u64 original length` + the zlib
/// stream; decompression refuses lengths over the inline limit, so a damaged file cannot make it
/// allocate without bound.
enum Compression {
    static let maxOriginal = 1 << 31

    static func compress(_ bytes: [UInt8], level: Int) -> [UInt8]? {
        var capacity = cask_deflate_bound(UInt64(bytes.count))
        var out = [UInt8](repeating: 0, count: 8 + Int(capacity))
        let rc = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { i in
                cask_deflate(o.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, &capacity,
                             i.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(i.count), Int32(level))
            }
        }
        guard rc == Z_OK, Int(capacity) + 8 < bytes.count else { return nil }
        out.removeLast(out.count - 8 - Int(capacity))
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { for i in 0..<8 { out[i] = $0[i] } }
        return out
    }

    static func decompress(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard bytes.count >= 8 else { throw CaskError(.corrupted, "compressed value is too short") }
        let original = Int(UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
        guard original <= maxOriginal else { throw CaskError(.corrupted, "compressed value claims \(original) bytes") }
        var out = [UInt8](repeating: 0, count: original)
        var length = UInt64(original)
        let rc = out.withUnsafeMutableBytes { o in
            cask_inflate(o.baseAddress?.assumingMemoryBound(to: UInt8.self), &length,
                         bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, UInt64(bytes.count - 8))
        }
        guard rc == Z_OK, Int(length) == original else { throw CaskError(.corrupted, "compressed value does not inflate (zlib \(rc))") }
        return out
    }
}
