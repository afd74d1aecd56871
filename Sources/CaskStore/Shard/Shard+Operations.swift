#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import CCaskSupport

/// A record as stored, seen without copying. Valid only inside the closure it is passed to.
public struct RecordView {
    /// The record flags (compression, value file, value encoding).
    public let flags: UInt8
    /// The record's sequence number (store-wide: the order records were stored in).
    public let sequence: UInt64
    /// Microseconds since the Unix epoch.
    public let storeTime: Int64
    /// Microseconds since the Unix epoch; 0 means never.
    public let expireTime: Int64
    /// The key bytes.
    public let key: UnsafeRawBufferPointer
    /// The tag bytes (empty: no tag).
    public let tag: UnsafeRawBufferPointer
    /// The value bytes as stored.
    public let value: UnsafeRawBufferPointer
    /// Order of the record among the shard's live records (segment position, offset).
    let position: LogPosition
}

/// What an atomic read-modify-write decides to do with a key.
public enum Mutation: Sendable {
    case keep
    case put(value: [UInt8], tag: [UInt8] = [], expireTime: Int64 = 0, flags: UInt8 = 0)
    /// Stores a value written to a value file (`Store.writeValueFile(compressed:_:)`); the record
    /// takes ownership of the file.
    case putFile(NewValueFile, tag: [UInt8] = [], expireTime: Int64 = 0, flags: UInt8 = 0)
    case touch(expireTime: Int64)
    case delete

    /// The value file a put would hand to its record.
    var newFile: NewValueFile? {
        if case .putFile(let f, _, _, _) = self { return f }
        return nil
    }
}

extension Shard {
    // MARK: Reads

    /// Calls `body` with the live, unexpired record of `key`, or returns nil without calling it.
    /// A record whose checksum does not match is reported and treated as absent. `now` (µs since
    /// the epoch) judges expiry; nil reads the wall clock, and only if the entry found can expire.
    @inline(__always)
    func read<R>(key: UnsafeRawBufferPointer, hash: UInt64, now: Int64?,
                 _ body: (RecordView) throws -> R) throws -> R? {
        try withCurrentState { (s) throws -> R? in
            guard let view = try lookup(&s, key: key, hash: hash, now: now, verify: true) else {
                if options.statistics { shared.add(.misses, 1) }
                return nil
            }
            if options.statistics { shared.add(.hits, 1) }
            if options.evictionPolicy.tracksAccess { noteAccess(&s, hash: hash, of: view) }
            return try body(view)
        }
    }

    /// The value of the live, unexpired record of `key`, copied out, if the record's flags are
    /// `flags` (any flags when nil); `.other` for a live record with other flags, which is neither
    /// checked nor counted (the caller reads it again by another path).
    ///
    /// The CRC is checked on the copy, a piece at a time as it is made, so the mapped bytes are
    /// read once. With `StoreOptions.checkRecordsOnce`, a record this handle has already checked
    /// (`IndexEntry.checked`: it wrote the record, scanned it from the log, or read it before) is
    /// copied without a check. A record whose checksum does not match is reported and treated as
    /// absent, as ``read(key:hash:now:_:)`` does.
    func copyValue(key: UnsafeRawBufferPointer, hash: UInt64, now: Int64?, ifFlags flags: UInt8?) throws -> Store.ValueRead {
        try withCurrentState { (s) throws -> Store.ValueRead in
            guard let (e, p, slot) = locate(s, key: key, hash: hash, now: now) else {
                if options.statistics { shared.add(.misses, 1) }
                return .absent
            }
            if let flags, e.flags != flags { return .other }
            let value: [UInt8]
            if e.checked && options.checkRecordsOnce {
                let h = RecordCodec.header(at: p)
                value = Array(UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength))
            } else {
                guard let copy = checkedCopy(p, e) else {
                    noteCorrupt(e)
                    return .absent
                }
                value = copy
                if options.checkRecordsOnce, !e.checked, let slot { s.directory.markChecked(slot: slot) }
            }
            if options.statistics { shared.add(.hits, 1) }
            // (A collided key's entry, outside the main table, records no reads.)
            if options.evictionPolicy.tracksAccess, let slot { noteAccess(&s, slot: slot) }
            return .value(value)
        }
    }

    /// The value of the record at `p` (described by `e`), copied out with its CRC checked on the
    /// way; nil if the header is implausible or the checksum does not match.
    private func checkedCopy(_ p: UnsafeRawPointer, _ e: IndexEntry) -> [UInt8]? {
        guard let h = RecordCodec.plausibleHeader(p, available: Int(e.length)), h.length == Int(e.length) else { return nil }
        var crc = Checksum.crc32(p + 4, h.valueOffset - 4)
        if h.valueLength <= Shard.valuePiece {
            // One piece: copied, then checked while in cache. (`Array(_:)` of a buffer, because
            // `init(unsafeUninitializedCapacity:)` looks up the array's type metadata per call.)
            let value = Array(UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength))
            crc = value.withUnsafeBytes { cask_crc32c(crc, $0.baseAddress, UInt64($0.count)) }
            return crc == p.le(0, as: UInt32.self) ? value : nil
        }
        let value = [UInt8](unsafeUninitializedCapacity: h.valueLength) { out, count in
            var done = 0
            while done < h.valueLength {
                let n = min(Shard.valuePiece, h.valueLength - done)
                let to = out.baseAddress! + done
                to.update(from: (p + h.valueOffset + done).assumingMemoryBound(to: UInt8.self), count: n)
                crc = cask_crc32c(crc, to, UInt64(n))
                done += n
            }
            count = h.valueLength
        }
        return crc == p.le(0, as: UInt32.self) ? value : nil
    }

    func noteCorrupt(_ e: IndexEntry) {
        report.withLock { $0.noteCorrupt(.init(shard: number, segment: e.segment, offset: Int(e.offset), length: Int(e.length))) }
    }

    /// The live, unexpired index entry of `key` in `s` (its key confirmed in the record), the
    /// record's address, and the entry's slot in the main table (nil for a collided key's entry).
    /// `now` as in ``read(key:hash:now:_:)``.
    @inline(__always)
    func locate(_ s: borrowing ShardState, key: UnsafeRawBufferPointer, hash: UInt64, now: Int64?)
        -> (entry: IndexEntry, record: UnsafeRawPointer, slot: Int?)? {
        let records = s.reader
        guard let (e, slot) = s.directory.findSlot(hash: hash, key: key, matches: { records.holdsKey($0, key) }),
              !e.isExpired(at: now),
              let p = records.address(e) else { return nil }
        return (e, p, slot)
    }

    /// Finds the record of `key` in `s`. With `verify`, checks its CRC (every value handed out is),
    /// or with `StoreOptions.checkRecordsOnce`, unless this handle has checked it before. `now` as
    /// in ``read(key:hash:now:_:)``.
    @inline(__always)
    func lookup(_ s: inout ShardState, key: UnsafeRawBufferPointer, hash: UInt64, now: Int64?, verify: Bool) throws -> RecordView? {
        guard let (e, p, slot) = locate(s, key: key, hash: hash, now: now) else { return nil }
        if verify && !(e.checked && options.checkRecordsOnce) {
            guard case .valid(let h) = RecordCodec.parse(p, available: Int(e.length)), h.length == Int(e.length) else {
                noteCorrupt(e)
                return nil
            }
            if options.checkRecordsOnce, !e.checked, let slot { s.directory.markChecked(slot: slot) }
        }
        let h = RecordCodec.header(at: p)
        return RecordView(flags: h.flags.rawValue, sequence: h.sequence, storeTime: h.storeTime, expireTime: e.expireTime,
                          key: UnsafeRawBufferPointer(start: p + h.keyOffset, count: h.keyLength),
                          tag: UnsafeRawBufferPointer(start: p + h.tagOffset, count: h.tagLength),
                          value: UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength),
                          position: e.position)
    }

    // MARK: Writes

    /// Atomically (across threads and processes) reads `key` and applies what `decide` returns,
    /// then culls per the store's options, all under one write lock.
    func mutate<R>(key: UnsafeRawBufferPointer, hash: UInt64, now: Int64,
                   _ decide: (RecordView?) throws -> (Mutation, R)) throws -> R {
        let (result, position, segment, dead) = try withWriteLock { (s) throws -> (R, LogPosition?, Segment, Bool) in
            let current = try lookup(&s, key: key, hash: hash, now: now, verify: true)
            let (mutation, result) = try decide(current)
            let wrote = try apply(&s, mutation, key: key, hash: hash, now: now, hadValue: current != nil)
            if wrote { try cullAfterWrite(&s, now: now) }
            return (result, wrote ? s.applied : nil, s.active, wrote && exceedsCompactionThreshold(s))
        }
        if let position { try afterWrite(position, segment) }
        if dead { scheduleCompaction() }
        return result
    }

    /// Applies several mutations to keys of this shard under one write lock, then culls. `decide`
    /// is called with each key's index in `keys` and its current record. With `sequenceBase`, the
    /// record for `keys[i]` takes sequence `sequenceBase + index` (a block the caller reserved for
    /// the whole batch) when that keeps this shard's sequences increasing.
    func mutateMany(keys: [(index: Int, key: [UInt8], hash: UInt64)], now: Int64, sequenceBase: UInt64? = nil,
                    _ decide: (Int, RecordView?) throws -> Mutation) throws {
        let (position, segment, dead) = try withWriteLock { (s) throws -> (LogPosition?, Segment, Bool) in
            var wroteAny = false
            for (index, key, hash) in keys {
                try key.withUnsafeBytes { k in
                    let current = try lookup(&s, key: k, hash: hash, now: now, verify: true)
                    let mutation = try decide(index, current)
                    s.reservedSequence = sequenceBase.map { $0 + UInt64(index) }
                    defer { s.reservedSequence = nil }
                    if try apply(&s, mutation, key: k, hash: hash, now: now, hadValue: current != nil) { wroteAny = true }
                }
            }
            if wroteAny { try cullAfterWrite(&s, now: now) }
            return (wroteAny ? s.applied : nil, s.active, wroteAny && exceedsCompactionThreshold(s))
        }
        if let position { try afterWrite(position, segment) }
        if dead { scheduleCompaction() }
    }

    /// Reads several keys of this shard under one mutex acquisition.
    func readMany(keys: [(index: Int, key: [UInt8], hash: UInt64)], now: Int64,
                  _ body: (Int, RecordView?) throws -> Void) throws {
        try withCurrentState { s in
            for (index, key, hash) in keys {
                try key.withUnsafeBytes { k in
                    let view = try lookup(&s, key: k, hash: hash, now: now, verify: true)
                    if options.statistics { shared.add(view == nil ? .misses : .hits, 1) }
                    if let view, options.evictionPolicy.tracksAccess { noteAccess(&s, hash: hash, of: view) }
                    try body(index, view)
                }
            }
        }
    }

    /// Writes `key` = `value` unconditionally, then (same lock) culls per the store's options.
    func put(key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
             expireTime: Int64, flags: UInt8, now: Int64) throws {
        let (position, segment, dead) = try withWriteLock { s -> (LogPosition, Segment, Bool) in
            try putLocked(&s, key: key, hash: hash, value: value, tag: tag, expireTime: expireTime, flags: flags, now: now)
            try cullAfterWrite(&s, now: now)
            return (s.applied, s.active, exceedsCompactionThreshold(s))
        }
        try afterWrite(position, segment)
        if dead { scheduleCompaction() }
    }

    /// Appends a put record and points the index at it; the replaced record's value file (if any)
    /// is dropped. Caller holds the write lock.
    func putLocked(_ s: inout ShardState, key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer,
                   tag: UnsafeRawBufferPointer, expireTime: Int64, flags: UInt8, now: Int64) throws {
        var entry = try append(&s, kind: .put, flags: RecordFlags(rawValue: flags), storeTime: now,
                               expireTime: expireTime, key: key, tag: tag, value: value)
        entry.tag = s.directory.internTag(tag)
        if options.evictionPolicy == .leastFrequentlyUsed { entry.access = AccessCounter.initial }
        // Scan-resistant: a rewritten entry keeps its standing; a new key evicted from probation
        // lately skips it.
        let scanResistant = options.evictionPolicy == .scanResistant
        let old = s.setEntry(hash: hash, key: key, entry, keepingAccess: scanResistant)
        if scanResistant, old == nil, !s.ghost.isEmpty, s.ghost.remove(hash) {
            s.directory.setAccess(hash: hash) { $0 = AccessBits.main }
        }
        s.dropFile(of: old, valuesRoot: valuesRoot)
    }

    /// Culling a writer does under its lock after writing (the store's `cull` option).
    func cullAfterWrite(_ s: inout ShardState, now: Int64) throws {
        guard let cull = options.cull, cull.limit > 0 else { return }
        _ = try runCull(&s, cull, now: now)
    }

    /// Applies a mutation under the write lock. Returns true if a record was written.
    func apply(_ s: inout ShardState, _ mutation: Mutation, key: UnsafeRawBufferPointer, hash: UInt64, now: Int64,
               hadValue: Bool) throws -> Bool {
        let segs = s.view
        switch mutation {
        case .keep:
            return false
        case .put(let value, let tag, let expireTime, let flags):
            try value.withUnsafeBytes { (v) throws in
                try tag.withUnsafeBytes { (t) throws in
                    try putLocked(&s, key: key, hash: hash, value: v, tag: t, expireTime: expireTime, flags: flags, now: now)
                }
            }
            return true
        case .putFile(let file, let tag, let expireTime, let flags):
            let previous = try file.claim()
            do {
                try file.reference.encoded.withUnsafeBytes { (v) throws in
                    try tag.withUnsafeBytes { (t) throws in
                        try putLocked(&s, key: key, hash: hash, value: v, tag: t, expireTime: expireTime,
                                      flags: flags | RecordFlags.valueInFile.rawValue, now: now)
                    }
                }
            } catch {
                file.unclaim(to: previous)
                throw error
            }
            return true
        case .touch(let expireTime):
            guard hadValue else { return false }
            _ = try append(&s, kind: .touch, flags: [], storeTime: now, expireTime: expireTime,
                           key: key, tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0))
            _ = s.directory.update(hash: hash, key: key, matches: { segs.keyMatches($0, key) }) { $0.expireTime = expireTime }
            return true
        case .delete:
            // An expired entry is still on disk: delete it too, but only a live one counts as present.
            guard s.directory.find(hash: hash, key: key, matches: { segs.keyMatches($0, key) }) != nil else { return false }
            _ = try append(&s, kind: .delete, flags: [], storeTime: now, expireTime: 0,
                           key: key, tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0))
            let old = s.removeEntry(hash: hash, key: key)
            s.dropFile(of: old, valuesRoot: valuesRoot)
            return true
        }
    }

    // MARK: Durability

    /// Makes the write that ended at `position` as durable as the durability mode promises, then
    /// removes the value files whose dropping records are now durable.
    func afterWrite(_ position: LogPosition, _ segment: Segment) throws {
        switch options.durability {
        case .none:
            break
        case .always:
            try syncThrough(position, segment)
        case .interval(let interval):
            let last = lastSyncNanos.load(ordering: .relaxed)
            if monotonicNanos() - last >= interval.nanoseconds {
                try syncThrough(position, segment)
            }
        }
        releaseDroppedFiles()
    }

    /// Unlinks the value files whose dropping record is durable per the mode: at once with `none`,
    /// else once the shared durable position has passed the record (whoever fsynced). A file whose
    /// record never becomes durable here (a failed fsync, a crash) stays behind as an orphan for
    /// `check --fix`: a leak, never a record naming a missing file.
    func releaseDroppedFiles() {
        let durable = options.durability == .none ? UInt64.max : shared.load(.durable)
        let ready: [String] = state.withLock { s in
            guard !s.droppedFiles.isEmpty else { return [] }
            var ready: [String] = []
            s.droppedFiles.removeAll { d in
                guard d.position <= durable else { return false }
                ready.append(d.path)
                return true
            }
            return ready
        }
        for path in ready { _ = Sys.unlink(path) }
    }

    /// Group commit: one fsync covers every write committed before it started, by any thread of any
    /// process. Threads of this process queue on `syncMutex`; whoever finds its write already
    /// covered by someone else's fsync returns without syncing.
    func syncThrough(_ position: LogPosition, _ segment: Segment) throws {
        try syncMutex.withLock { (syncs) throws in
            if shared.load(.durable) >= position.packed { return }
            let target = LogPosition(packed: shared.load(.position))
            try segment.file.sync()
            syncs += 1
            lastSyncNanos.store(monotonicNanos(), ordering: .relaxed)
            // A roll fsyncs the segment it seals, so covering our own segment is enough.
            shared.raise(.durable, to: target.segment == segment.id ? target.packed : position.packed)
        }
    }

    /// fsyncs the active segment if it has writes not yet known durable (interval timer, close).
    func syncIfNeeded() throws {
        try checkProcess()
        let (position, segment) = try state.withLock { (s) throws -> (LogPosition, Segment?) in
            (s.applied, s.closed ? nil : s.active)
        }
        defer { releaseDroppedFiles() }
        guard let segment, shared.load(.durable) < position.packed else { return }
        try syncThrough(position, segment)
    }

    // MARK: Compaction trigger

    func exceedsCompactionThreshold(_ s: ShardState) -> Bool {
        guard options.automaticCompaction else { return false }
        let dead = s.deadBytes
        return dead >= options.compactionMinimumDeadBytes && Double(dead) >= options.compactionDeadFraction * Double(s.totalBytes)
    }

    func scheduleCompaction() {
        guard !compacting.load(ordering: .relaxed) else { return }
        DispatchQueue.global(qos: .utility).async { [self] in
            // Writes that cross the threshold while a compaction runs see `compacting` set and
            // schedule nothing, so go again while the shard is over it — also right after a round
            // that found it under (a write may have crossed in between). Stop when a round
            // reclaims nothing, and after a bounded number of rounds.
            for _ in 0..<64 {
                if let result = (try? compact(force: false)) ?? nil {
                    if result.bytesAfter >= result.bytesBefore { return }
                    continue
                }
                guard state.withLock({ !$0.closed && exceedsCompactionThreshold($0) }) else { return }
                // Over the threshold, yet no round ran: another compaction (here or in another
                // process) holds the shard. Give it time before looking again.
                usleep(10_000)
            }
        }
    }
}

@inline(__always)
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
