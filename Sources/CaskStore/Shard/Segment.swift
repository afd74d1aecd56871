#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport

/// One log segment file, open for reading through a read-only shared mapping and for writing
/// through `pwrite`. Reads only ever touch bytes below a committed end, which no process truncates
/// while the segment is live, so the mapping cannot fault.
///
/// The active segment's file is allocated ahead of its writers (`allocate(through:limit:)`): past
/// the committed end it may hold zeros, which recovery reads as space, not damage. An append then
/// never changes the file's size, so `fdatasync` has no size to commit (Design.md, "Space
/// allocated ahead"). A sealed segment is cut to its committed end before it is sealed.
///
/// A class so that a segment removed by compaction stays open (and mapped) for as long as anyone
/// still holds it; the descriptor is closed and the mapping released in `deinit`.
package final class Segment: @unchecked Sendable {
    // @unchecked: `mapping`/`mappedLength`/`allocatedEnd`/`allocates` change only inside the owning
    // shard's mutex; the descriptor is immutable.
    package let id: UInt32
    package let file: FileRef
    private(set) var mapping: UnsafeRawPointer?
    private(set) var mappedLength = 0
    /// Smallest mapping made, so a growing active segment is not remapped on every append.
    let mapGranule: Int
    /// This process's lower bound on the file's size: bytes below it are allocated. Another
    /// process's cut (a dead writer's repair) can make it stale; then a write extends the file
    /// itself, as it would without allocation.
    private(set) var allocatedEnd = 0
    /// False once the file system has refused `fallocate`: appends then extend the file.
    private var allocates = true

    /// Allocation runs ahead of the committed end by a quarter of it, at least `allocationMinimum`
    /// and at most `allocationMaximum`: a small log stays small on disk, a large one calls
    /// `fallocate` once per MiB.
    static let allocationMinimum = 64 << 10
    static let allocationMaximum = 1 << 20

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

    /// Makes sure bytes [0, end) have disk blocks, allocating ahead (up to `limit`, the segment
    /// size) so that most appends find their space ready. A full disk is an `io` error with
    /// ENOSPC, raised before anything of the record is written. Caller holds the write lock.
    func allocate(through end: Int, limit: Int) throws {
        guard end > allocatedEnd, allocates else { return }
        let ahead = min(Segment.allocationMaximum, max(Segment.allocationMinimum, end / 4))
        let rounded = (end + ahead + Segment.allocationMinimum - 1) / Segment.allocationMinimum * Segment.allocationMinimum
        var target = max(end, min(rounded, limit))
        while true {
            switch Sys.fallocate(file.fd, Int64(allocatedEnd), Int64(target - allocatedEnd)) {
            case .success:
                allocatedEnd = target
                return
            case .failure(EOPNOTSUPP), .failure(ENOSYS), .failure(EINVAL):
                allocates = false
                return
            case .failure(ENOSPC) where target > end:
                target = end // the space ahead does not fit; the record itself may
            case .failure(let e):
                throw CaskError.io("cannot allocate disk space", path: file.path, errno: e)
            }
        }
    }

    /// Cuts the file to `length` (a torn record, a dead writer's bytes, the space ahead of a
    /// segment being sealed).
    func cut(to length: Int) throws {
        try file.truncate(to: Int64(length))
        allocatedEnd = length
    }

    /// The end of the last non-zero byte in [from, to) (`from` if all are zero): what lies past it
    /// is space allocated ahead of the writers. The mapping covers `to`.
    func dataEnd(from: Int, to end: Int) -> Int {
        guard end > from else { return from }
        return from + Int(cask_nonzero_end(mapping! + from, UInt64(end - from)))
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
