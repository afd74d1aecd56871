#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import CaskStore

/// What identifies a version of a file or directory tree: kind, size, modification time (ns),
/// inode and device, and optionally a CRC-32 of the contents. A directory's fingerprint also covers
/// every entry beneath it (names and their fingerprints, folded into `tree`).
struct FileFingerprint: Codable, Equatable, Sendable {
    /// The path as listed.
    var p: String
    /// "f" file, "d" directory, "o" other, "-" missing.
    var k: String
    var s: Int64 = 0
    var m: Int64 = 0
    var i: UInt64 = 0
    var d: UInt64 = 0
    /// CRC-32 of the contents (files, with content hashing).
    var c: UInt32?
    /// For directories: a hash of the entries beneath, in name order.
    var tree: UInt64?

    init(path: String, contentHash: Bool) {
        p = path
        var st = stat()
        guard cask_stat(path, &st) == 0 else { k = "-"; return }
        s = Int64(st.st_size)
        m = modificationNanos(st)
        i = UInt64(st.st_ino)
        d = UInt64(st.st_dev)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            k = "f"
            if contentHash { c = Self.crc(of: path) }
        case S_IFDIR:
            k = "d"
            var h = TreeHash()
            Self.fold(directory: path, into: &h, contentHash: contentHash, ancestors: [DirectoryID(st)])
            tree = h.value
        default:
            k = "o"
        }
    }

    /// CRC-32 of a file's contents; nil if it cannot be read (which then differs from any stored hash).
    static func crc(of path: String) -> UInt32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var crc: UInt32 = 0
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return crc }
            crc = buffer.withUnsafeBytes { cask_crc32(crc, $0.baseAddress, UInt64(n)) }
        }
    }

    /// A directory's identity, to follow symbolic links without looping.
    struct DirectoryID: Hashable {
        var device: UInt64
        var inode: UInt64
        init(_ st: stat) { device = UInt64(st.st_dev); inode = UInt64(st.st_ino) }
    }

    /// Folds every entry beneath `directory` into `h`. Symbolic links are followed (a link's
    /// target is what the computation reads): an entry is described by its target's size, time and
    /// inode, a linked directory is walked, except one already on the path from the listed
    /// directory (a loop), which counts by its identity alone. A dangling link counts as the link.
    static func fold(directory: String, into h: inout TreeHash, contentHash: Bool, ancestors: Set<DirectoryID>) {
        guard ancestors.count <= 64, let dir = opendir(directory) else { return }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names.sorted() {
            let child = directory + "/" + name
            var st = stat()
            h.add(Array(name.utf8))
            guard cask_stat(child, &st) == 0 || lstat(child, &st) == 0 else { h.add([0]); continue }
            h.add(UInt64(bitPattern: Int64(st.st_size)))
            h.add(UInt64(bitPattern: modificationNanos(st)))
            h.add(UInt64(st.st_ino))
            if st.st_mode & S_IFMT == S_IFDIR {
                let id = DirectoryID(st)
                if ancestors.contains(id) { h.add([1]); continue }
                fold(directory: child, into: &h, contentHash: contentHash, ancestors: ancestors.union([id]))
            } else if contentHash && st.st_mode & S_IFMT == S_IFREG {
                h.add(UInt64(crc(of: child) ?? 0))
            }
        }
    }
}

/// FNV-1a, 64-bit: stable across processes and runs (unlike Swift's `Hasher`).
struct TreeHash {
    var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ bytes: [UInt8]) {
        for b in bytes {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01B3
        }
        add(UInt64(bytes.count))
    }

    mutating func add(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) {
            value ^= (word >> UInt64(shift)) & 0xFF
            value &*= 0x0000_0100_0000_01B3
        }
    }
}
