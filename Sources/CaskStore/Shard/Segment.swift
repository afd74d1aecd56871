#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport

/// One log segment file, mapped shared and writable by every process that has it open. Readers
/// only touch bytes below a committed end; writers store records through the mapping only into
/// space the shared header says is allocated (`Shard.allocate(_:through:)`), and `pwrite` the
/// rest. No process shrinks a segment file below what the header says is allocated or committed
/// without lowering the header first, under the write lock, so no access through the mapping can
/// fault (Design.md, "Mapped appends").
///
/// Past the committed end the active segment's file may hold zeros: space allocated ahead of the
/// writers, which recovery reads as space, not damage. A sealed segment is cut to its committed
/// end before it is sealed.
///
/// A class so that a segment removed by compaction stays open (and mapped) for as long as anyone
/// still holds it; the descriptor is closed and the mapping released in `deinit`.
package final class Segment: @unchecked Sendable {
    // @unchecked: `mapping`/`mappedLength`/`allocates` change only inside the owning shard's
    // mutex; the descriptor is immutable.
    package let id: UInt32
    package let file: FileRef
    private(set) var mapping: UnsafeMutableRawPointer?
    private(set) var mappedLength = 0
    /// Smallest mapping made, so a growing active segment is not remapped on every append.
    let mapGranule: Int
    /// False once the file system has refused `fallocate` for this file: appends then extend it
    /// with `pwrite`, as nothing is known allocated.
    var allocates = true

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
        switch Sys.mmap(file.fd, length: want, writable: true) {
        case .success(let p):
            if let old = mapping { Sys.munmap(old, mappedLength) }
            mapping = p
            mappedLength = want
        case .failure(let e):
            throw CaskError.io("cannot map segment", path: file.path, errno: e)
        }
    }

    /// The end of the last non-zero byte in [from, to) (`from` if all are zero): what lies past it
    /// is space allocated ahead of the writers. The mapping covers `to`.
    func dataEnd(from: Int, to end: Int) -> Int {
        guard end > from else { return from }
        return from + Int(cask_nonzero_end(mapping! + from, UInt64(end - from)))
    }

    /// The address of byte `offset`; the caller has ensured the mapping covers it.
    @inline(__always) func bytes(at offset: Int) -> UnsafeRawPointer { UnsafeRawPointer(mapping! + offset) }

    /// The writable address of byte `offset`: only for an append into allocated space, under the
    /// write lock, with the mapping covering it.
    @inline(__always) func writableBytes(at offset: Int) -> UnsafeMutableRawPointer { mapping! + offset }

    deinit {
        if let mapping { Sys.munmap(mapping, mappedLength) }
        file.close()
    }
}

/// Zero-padded decimal, eight digits: segment file names sort in id order.
func zeroPadded(_ value: UInt32) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
