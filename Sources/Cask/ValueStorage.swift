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

/// Values of at least `minFileSize` bytes live in files under `<dir>/values/`, written to a
/// temporary name, fsynced (unless durability is none), renamed into place; the log record holds
/// a reference:
///
///     u64 file size   u8 flags (bit 0: file content is compressed)   relative path (UTF-8)
struct ValueFiles: Sendable {
    let root: String
    let sync: Bool

    init(directory: String, sync: Bool) {
        root = directory + "/values"
        self.sync = sync
    }

    struct Reference: Equatable {
        var size: Int
        var compressed: Bool
        var path: String

        var encoded: [UInt8] {
            var b = withUnsafeBytes(of: UInt64(size).littleEndian) { Array($0) }
            b.append(compressed ? 1 : 0)
            b += Array(path.utf8)
            return b
        }

        init(size: Int, compressed: Bool, path: String) {
            self.size = size
            self.compressed = compressed
            self.path = path
        }

        /// Parses a reference; rejects anything that could point outside the values directory.
        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 9 else { return nil }
            size = Int(UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
            compressed = bytes[8] & 1 != 0
            guard let p = String(validating: bytes[9...], as: UTF8.self),
                  !p.contains(".."), !p.hasPrefix("/"), p.utf8.count < 256 else { return nil }
            path = p
        }
    }

    func fullPath(_ r: Reference) -> String { root + "/" + r.path }

    /// A new, unused relative path: two hex digits of fan-out, then 30 random hex digits.
    func newPath() -> String {
        let hex = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for _ in 0..<32 { bytes.append(hex[Int.random(in: 0..<16)]) }
        return String(decoding: bytes[0..<2], as: UTF8.self) + "/" + String(decoding: bytes[2...], as: UTF8.self) + ".val"
    }

    /// Writes `chunks` (called until it returns nil) to a new value file; returns its reference.
    func write(compressed: Bool, _ next: () throws -> [UInt8]?) throws -> Reference {
        let path = newPath()
        let dir = root + "/" + String(path.prefix(2))
        try ensureDirectory(root)
        try ensureDirectory(dir)
        let temp = root + "/tmp-" + String(path.dropFirst(3).prefix(30))
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CaskError(.io, "cannot create value file", path: temp, errno: errno) }
        var size = 0
        do {
            while let chunk = try next() {
                try ValueFiles.writeAll(fd, chunk, path: temp)
                size += chunk.count
            }
            if sync && fsync(fd) != 0 { throw CaskError(.io, "fsync of value file failed", path: temp, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        guard rename(temp, root + "/" + path) == 0 else {
            let e = errno
            unlink(temp)
            throw CaskError(.io, "cannot rename value file into place", path: root + "/" + path, errno: e)
        }
        if sync { syncDirectory(dir) }
        return Reference(size: size, compressed: compressed, path: path)
    }

    /// Reads a whole value file, checking its size.
    func read(_ r: Reference) throws -> [UInt8] {
        let path = fullPath(r)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw CaskError(.io, "cannot open value file", path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CaskError(.io, "cannot stat value file", path: path, errno: errno) }
        guard Int(st.st_size) == r.size else {
            throw CaskError(.corrupted, "value file is \(st.st_size) bytes, its record says \(r.size)", path: path)
        }
        var out = [UInt8](repeating: 0, count: r.size)
        var done = 0
        while done < r.size {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, r.size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CaskError(.io, "cannot read value file", path: path, errno: n < 0 ? errno : EIO) }
            done += n
        }
        return r.compressed ? try out.withUnsafeBytes { try Compression.decompress($0) } : out
    }

    func remove(_ r: Reference) { unlink(fullPath(r)) }

    private func ensureDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CaskError(.io, "cannot create directory", path: path, errno: errno)
        }
    }

    /// Writes all of `bytes` to `fd` at its current offset, retrying EINTR and short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CaskError(.io, "cannot write value file", path: path, errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Every value file under the root, as relative paths (for check).
    func allFiles() -> [String] {
        var out: [String] = []
        guard let top = opendir(root) else { return [] }
        defer { closedir(top) }
        while let e = readdir(top) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            // Only the two-hex-digit fan-out directories hold value files ("." and ".." are two
            // characters long too, and must never be walked into).
            let isFanOut = name.count == 2 && name.allSatisfy { $0.isHexDigit && !$0.isUppercase }
            guard isFanOut, let sub = opendir(root + "/" + name) else {
                if name.hasPrefix("tmp-") { out.append(name) }
                continue
            }
            while let f = readdir(sub) {
                let file = withUnsafePointer(to: f.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if file.hasSuffix(".val") { out.append(name + "/" + file) }
            }
            closedir(sub)
        }
        return out
    }
}
