#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The space of the active segment: allocated ahead of its writers, stored into through the shared
// mapping, and cut only after the shared header's allocated position is lowered (Design.md,
// "Mapped appends"). Everything here runs under the shard's write lock.

extension Shard {
    /// Allocation runs ahead of the record by a quarter of the segment's committed end, at least
    /// `allocationMinimum` and at most `allocationMaximum`: a small log stays small on disk, a
    /// large one calls `fallocate` once per MiB.
    static let allocationMinimum = 64 << 10
    static let allocationMaximum = 1 << 20

    /// Makes sure bytes [0, end) of `seg` (the active segment) have disk blocks, allocating room
    /// ahead, and publishes the allocated end in the shared header. Returns true when the record
    /// may be stored through the mapping, false when the file system cannot allocate (the caller
    /// `pwrite`s, which extends the file). A full disk is an `io` error with ENOSPC, raised before
    /// any byte of the record is written.
    func allocate(_ seg: Segment, through end: Int) throws -> Bool {
        let known = LogPosition(packed: shared.load(.allocated))
        let from = known.segment == seg.id ? Int(known.offset) : 0
        if end <= from { return true }
        guard seg.allocates else { return false }
        let ahead = min(Shard.allocationMaximum, max(Shard.allocationMinimum, end / 4))
        let step = Shard.allocationMinimum
        let rounded = (end + ahead + step - 1) / step * step
        var target = max(end, min(rounded, max(options.segmentSize, end), Int(UInt32.max)))
        while true {
            switch Sys.fallocate(seg.file.fd, Int64(from), Int64(target - from)) {
            case .success:
                shared.store(.allocated, LogPosition(segment: seg.id, offset: UInt32(target)).packed)
                return true
            case .failure(EOPNOTSUPP), .failure(ENOSYS), .failure(EINVAL):
                seg.allocates = false
                return false
            case .failure(ENOSPC) where target > end:
                target = end // the room ahead does not fit; the record itself may
            case .failure(let e):
                throw CaskError.io("cannot allocate disk space", path: seg.file.path, errno: e)
            }
        }
    }

    /// Cuts `seg` to `length` bytes (a torn record, a dead writer's bytes, the space ahead of a
    /// segment being sealed), lowering the header's allocated position first so that no writer
    /// of any process stores past the new end.
    static func cut(_ seg: Segment, to length: Int, shared: SharedHeader) throws {
        let known = LogPosition(packed: shared.load(.allocated))
        if known.segment == seg.id && Int(known.offset) > length {
            shared.store(.allocated, LogPosition(segment: seg.id, offset: UInt32(length)).packed)
        }
        try seg.file.truncate(to: Int64(length))
    }

    func cut(_ seg: Segment, to length: Int) throws { try Shard.cut(seg, to: length, shared: shared) }

    /// Encodes a record of `length` bytes straight into the mapping of `seg` at `offset` (space
    /// allocated and mapped by the caller), and shows the stored bytes to the fault layer. A store
    /// into allocated, mapped space cannot fail.
    func storeMapped(
        _ seg: Segment, at offset: Int, length: Int, kind: RecordKind, flags: RecordFlags, sequence: UInt64, storeTime: Int64,
        expireTime: Int64, key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) {
        let out = seg.writableBytes(at: offset)
        _ = RecordCodec.encode(into: out, kind: kind, flags: flags, sequence: sequence, storeTime: storeTime,
                               expireTime: expireTime, key: key, tag: tag, value: value)
        Sys.didStoreMapped(seg.file.fd, UnsafeRawBufferPointer(start: out, count: length), at: Int64(offset))
    }
}
