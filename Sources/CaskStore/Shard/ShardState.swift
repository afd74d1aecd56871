#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import Synchronization

/// What a shard's mutex protects: the index and the open segments as this process last saw them.
struct ShardState {
    var manifest: Manifest
    /// The manifest version last read from the shared header.
    var sharedVersion: UInt64 = 0
    var segments: [UInt32: Segment] = [:]
    /// Valid length of every live segment (sealed segments: final; active: committed end).
    var segmentLengths: [UInt32: Int] = [:]
    var active: Segment
    /// Everything before this position has been applied to `directory`.
    var applied: LogPosition
    var directory: KeyDirectory
    /// Sum of the sizes of the value files of live entries (read from their records).
    var externalBytes = 0
    /// Where the eviction walk stopped (this process only).
    var hand: LogPosition?
    /// Where the walk's current lap ends (the end of the log when the lap began).
    var lapEnd: LogPosition?
    /// Scan-resistant policy: where the probation walk stopped, and the keys it evicted lately.
    var probationHand: LogPosition?
    var ghost = GhostKeys()
    /// Where the last sweep for expired entries stopped.
    var expiryHand: LogPosition?
    /// Writes since the writer last looked for expired entries (culling).
    var writesSinceCull = 0
    var maxSequence: UInt64 = 0
    /// The sequence number the next append uses instead of taking one (a batch reserved a block, so
    /// that its records list in batch order across shards). Ignored if not above `maxSequence`.
    var reservedSequence: UInt64?
    var writeBuffer: [UInt8] = []
    var closed = false
    var lastSync: ContinuousClock.Instant = .now
    /// Value files whose reference this process's writes dropped, each with the log position that
    /// must be durable before the file may go (see `Shard.releaseDroppedFiles`).
    var droppedFiles: [(position: UInt64, path: String)] = []
    /// Live entries with a reserved key (first byte 0x00: the bookkeeping of the layer above),
    /// or nil when not yet counted since the index was last rebuilt.
    var reservedKeys: Int?

    init(manifest: Manifest, segments: [UInt32: Segment], active: Segment, applied: LogPosition, tagIndex: Bool) {
        self.manifest = manifest
        self.segments = segments
        self.active = active
        self.applied = applied
        directory = KeyDirectory(tagIndex: tagIndex)
    }

    var totalBytes: Int { segmentLengths.values.reduce(0, +) }

    /// Sets the entry of `key`, keeping the value-file byte count. Returns the replaced entry.
    @discardableResult
    mutating func setEntry(hash: UInt64, key: UnsafeRawBufferPointer, _ entry: IndexEntry, keepingAccess: Bool = false) -> IndexEntry? {
        let records = reader
        let old = directory.set(hash: hash, key: key, entry: entry, keepingAccess: keepingAccess) { records.holdsKey($0, key) }
        if old == nil, reservedKeys != nil, key.first == 0 { reservedKeys! += 1 }
        if (entry.flags | (old?.flags ?? 0)) & RecordFlags.valueInFile.rawValue != 0 {
            let v = view
            externalBytes += v.externalSize(entry) - (old.map(v.externalSize) ?? 0)
        }
        return old
    }

    /// Removes the entry of `key`, keeping the value-file byte count. Returns the removed entry.
    @discardableResult
    mutating func removeEntry(hash: UInt64, key: UnsafeRawBufferPointer) -> IndexEntry? {
        let records = reader
        let old = directory.remove(hash: hash, key: key) { records.holdsKey($0, key) }
        if old != nil, reservedKeys != nil, key.first == 0 { reservedKeys! -= 1 }
        if let old, old.flags & RecordFlags.valueInFile.rawValue != 0 { externalBytes -= view.externalSize(old) }
        return old
    }
    var deadBytes: Int { max(0, totalBytes - directory.liveBytes) }

    /// Notes that a write that ended at `applied` dropped `old`'s reference to its value file.
    mutating func dropFile(of old: IndexEntry?, valuesRoot: String) {
        guard let old, old.flags & RecordFlags.valueInFile.rawValue != 0,
              let reference = view.fileReference(old) else { return }
        droppedFiles.append((applied.packed, valuesRoot + "/" + reference.path))
    }

    /// Live entries whose key is not reserved. Counts reserved keys once after a rebuild of the
    /// index (one look at each record's first key byte), then keeps the count up to date.
    mutating func userEntryCount() -> Int {
        if reservedKeys == nil {
            var n = 0
            let v = view
            directory.forEach { _, key, e in
                if let key { if key.first == 0 { n += 1 }; return }
                guard let seg = v.segment(e.segment) else { return }
                let p = seg.bytes(at: Int(e.offset))
                if p.le(34, as: UInt16.self) > 0 && p.load(fromByteOffset: RecordHeader.size, as: UInt8.self) == 0 { n += 1 }
            }
            reservedKeys = n
        }
        return directory.count - reservedKeys!
    }

    @inline(__always)
    func segment(_ id: UInt32) -> Segment? { id == active.id ? active : segments[id] }

    /// The read path's view of the segments: see ``RecordReader``.
    var reader: RecordReader { RecordReader(active: active, segments: segments) }

    /// The segments, detached from the rest of the state so that index mutations can read keys.
    var view: SegmentView { SegmentView(active: active, segments: segments) }
}

/// Read access to the records of a shard's segments (two references; cheap to copy).
struct SegmentView {
    let active: Segment
    let segments: [UInt32: Segment]

    @inline(__always)
    func segment(_ id: UInt32) -> Segment? { id == active.id ? active : segments[id] }

    /// True when the record of `entry` holds exactly `key`.
    @inline(__always)
    func keyMatches(_ entry: IndexEntry, _ key: UnsafeRawBufferPointer) -> Bool {
        guard let seg = segment(entry.segment) else { return false }
        return RecordCodec.holdsKey(seg.bytes(at: Int(entry.offset)), key)
    }

    /// For an entry whose value lives in a value file: the file's size, which the typed layer
    /// stores as the first 8 bytes of the record's value. 0 for other entries.
    func externalSize(_ entry: IndexEntry) -> Int {
        guard entry.flags & RecordFlags.valueInFile.rawValue != 0, let seg = segment(entry.segment) else { return 0 }
        let p = seg.bytes(at: Int(entry.offset))
        let h = RecordCodec.header(at: p)
        guard h.valueLength >= 8 else { return 0 }
        return Int(truncatingIfNeeded: p.le(h.valueOffset, as: UInt64.self))
    }

    /// The value-file reference held by the record of `entry`, if its value is in a file.
    func fileReference(_ entry: IndexEntry) -> ValueFileReference? {
        guard entry.flags & RecordFlags.valueInFile.rawValue != 0, let seg = segment(entry.segment) else { return nil }
        let p = seg.bytes(at: Int(entry.offset))
        let h = RecordCodec.header(at: p)
        return ValueFileReference(UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength))
    }

    func keyOf(_ entry: IndexEntry) -> [UInt8] {
        guard let seg = segment(entry.segment) else { return [] }
        return Array(RecordCodec.key(at: seg.bytes(at: Int(entry.offset))))
    }
}

/// The read path's access to records: like ``SegmentView``, but it hands out addresses, not
/// segments, and holds the active segment's mapping as a plain address, so a lookup in the active
/// segment retains and releases nothing. Only for use inside the shard mutex while the state it
/// was made from is unchanged (the state keeps the active segment and its mapping alive); never
/// stored.
struct RecordReader {
    let activeID: UInt32
    /// The active segment's mapping (nil while nothing of it is mapped: no entry points into it).
    let activeBase: UnsafeRawPointer?
    let segments: [UInt32: Segment]

    init(active: Segment, segments: [UInt32: Segment]) {
        activeID = active.id
        activeBase = active.mapping.map { UnsafeRawPointer($0) }
        self.segments = segments
    }

    /// The address of the record of `entry`, or nil if its segment is not open.
    @inline(__always)
    func address(_ entry: IndexEntry) -> UnsafeRawPointer? {
        if entry.segment == activeID { return activeBase.map { $0 + Int(entry.offset) } }
        return segments[entry.segment]?.bytes(at: Int(entry.offset))
    }

    /// True when the record of `entry` holds exactly `key`.
    @inline(__always)
    func holdsKey(_ entry: IndexEntry, _ key: UnsafeRawBufferPointer) -> Bool {
        guard let p = address(entry) else { return false }
        return RecordCodec.holdsKey(p, key)
    }
}
