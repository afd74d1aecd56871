#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One log segment file, open for reading through a read-only shared mapping and for writing
/// through `pwrite`. Reads only ever touch bytes below a committed end, which no process truncates
/// while the segment is live, so the mapping cannot fault.
///
/// A class so that a segment removed by compaction stays open (and mapped) for as long as anyone
/// still holds it; the descriptor is closed and the mapping released in `deinit`.
package final class Segment: @unchecked Sendable {
    // @unchecked: `mapping`/`mappedLength` change only inside the owning shard's mutex; the
    // descriptor is immutable.
    package let id: UInt32
    package let file: FileRef
    private(set) var mapping: UnsafeRawPointer?
    private(set) var mappedLength = 0
    /// Smallest mapping made, so a growing active segment is not remapped on every append.
    let mapGranule: Int

    init(id: UInt32, file: FileRef, mapGranule: Int) {
        self.id = id
        self.file = file
        self.mapGranule = mapGranule
    }

    static func fileName(_ id: UInt32) -> String { zeroPadded(id) + ".log" }
    static func hintName(_ id: UInt32) -> String { zeroPadded(id) + ".hint" }

    /// Makes sure bytes [0, length) are addressable through the mapping.
    func ensureMapped(_ length: Int) throws {
        guard length > mappedLength else { return }
        let want = max(mapGranule, (length + 0xFFFF) & ~0xFFFF)
        switch Sys.mmap(file.fd, length: want, writable: false) {
        case .success(let p):
            if let old = mapping { Sys.munmap(UnsafeMutableRawPointer(mutating: old), mappedLength) }
            mapping = UnsafeRawPointer(p)
            mappedLength = want
        case .failure(let e):
            throw CaskError.io("cannot map segment", path: file.path, errno: e)
        }
    }

    /// The address of byte `offset`; the caller has ensured the mapping covers it.
    @inline(__always) func bytes(at offset: Int) -> UnsafeRawPointer { mapping! + offset }

    deinit {
        if let mapping { Sys.munmap(UnsafeMutableRawPointer(mutating: mapping), mappedLength) }
        file.close()
    }
}

/// Zero-padded decimal, eight digits: segment file names sort in id order.
func zeroPadded(_ value: UInt32) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
