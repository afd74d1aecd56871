#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A record as stored, seen without copying. Valid only inside the closure it is passed to.
public struct RecordView {
    /// The record flags (compression, value file, value encoding).
    public let flags: UInt8
    /// The record's sequence number in its shard.
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
    case touch(expireTime: Int64)
    case delete
}

extension Shard {
    // MARK: Reads

    /// Calls `body` with the live, unexpired record of `key`, or returns nil without calling it.
    /// A record whose checksum does not match is reported and treated as absent.
    @inline(__always)
    func read<R>(key: UnsafeRawBufferPointer, hash: UInt64, now: Int64,
                 _ body: (RecordView) throws -> R) throws -> R? {
        try withCurrentState { (s) throws -> R? in
            guard let view = try lookup(&s, key: key, hash: hash, now: now, verify: true) else {
                if options.statistics { shared.add(.misses, 1) }
                return nil
            }
            if options.statistics { shared.add(.hits, 1) }
            if options.accessTracking != .none { noteAccess(&s, hash: hash) }
            return try body(view)
        }
    }

    /// Finds the record of `key` in `s`. With `verify`, checks its CRC (every value handed out is).
    @inline(__always)
    func lookup(_ s: inout ShardState, key: UnsafeRawBufferPointer, hash: UInt64, now: Int64, verify: Bool) throws -> RecordView? {
        let segs = s.view
        guard let e = s.directory.find(hash: hash, key: key, matches: { segs.keyMatches($0, key) }),
              !e.isExpired(at: now),
              let seg = segs.segment(e.segment) else { return nil }
        let p = seg.bytes(at: Int(e.offset))
        if verify {
            guard case .valid(let h) = RecordCodec.parse(p, available: Int(e.length)), h.length == Int(e.length) else {
                report.withLock {
                    $0.corruptRanges.append(.init(shard: number, segment: e.segment, offset: Int(e.offset), length: Int(e.length)))
                }
                return nil
            }
            _ = h
        }
        let h = RecordCodec.header(at: p)
        return RecordView(flags: h.flags.rawValue, sequence: h.sequence, storeTime: h.storeTime, expireTime: e.expireTime,
                          key: UnsafeRawBufferPointer(start: p + h.keyOffset, count: h.keyLength),
                          tag: UnsafeRawBufferPointer(start: p + h.tagOffset, count: h.tagLength),
                          value: UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength),
                          position: e.position)
    }

    // MARK: Writes

    /// Atomically (across threads and processes) reads `key` and applies what `decide` returns.
    /// Also returns the value-file reference of the record a put or delete replaced (expired or not).
    func mutate<R>(key: UnsafeRawBufferPointer, hash: UInt64, now: Int64,
                   _ decide: (RecordView?) throws -> (Mutation, R)) throws -> (R, replacedFile: [UInt8]?) {
        let (result, replaced, position, segment, dead) = try withWriteLock { (s) throws -> (R, [UInt8]?, LogPosition?, Segment, Bool) in
            let current = try lookup(&s, key: key, hash: hash, now: now, verify: true)
            let (mutation, result) = try decide(current)
            var replaced: [UInt8]?
            switch mutation {
            case .put, .delete: replaced = fileReference(s, hash: hash, key: key)
            case .keep, .touch: break
            }
            let wrote = try apply(&s, mutation, key: key, hash: hash, now: now, hadValue: current != nil)
            return (result, wrote ? replaced : nil, wrote ? s.applied : nil, s.active, wrote && exceedsCompactionThreshold(s))
        }
        if let position { try afterWrite(position, segment) }
        if dead { scheduleCompaction() }
        return (result, replaced)
    }

    /// Applies several mutations to keys of this shard under one write lock. `decide` is called
    /// with each key's index in `keys` and its current record. Returns the replaced value files.
    func mutateMany(keys: [(index: Int, key: [UInt8], hash: UInt64)], now: Int64,
                    _ decide: (Int, RecordView?) throws -> Mutation) throws -> [[UInt8]] {
        let (replaced, position, segment, dead) = try withWriteLock { (s) throws -> ([[UInt8]], LogPosition?, Segment, Bool) in
            var replaced: [[UInt8]] = []
            var wroteAny = false
            for (index, key, hash) in keys {
                try key.withUnsafeBytes { k in
                    let current = try lookup(&s, key: k, hash: hash, now: now, verify: true)
                    let mutation = try decide(index, current)
                    var file: [UInt8]?
                    switch mutation {
                    case .put, .delete: file = fileReference(s, hash: hash, key: k)
                    case .keep, .touch: break
                    }
                    if try apply(&s, mutation, key: k, hash: hash, now: now, hadValue: current != nil) {
                        wroteAny = true
                        if let file { replaced.append(file) }
                    }
                }
            }
            return (replaced, wroteAny ? s.applied : nil, s.active, wroteAny && exceedsCompactionThreshold(s))
        }
        if let position { try afterWrite(position, segment) }
        if dead { scheduleCompaction() }
        return replaced
    }

    /// Reads several keys of this shard under one mutex acquisition.
    func readMany(keys: [(index: Int, key: [UInt8], hash: UInt64)], now: Int64,
                  _ body: (Int, RecordView?) throws -> Void) throws {
        try withCurrentState { s in
            for (index, key, hash) in keys {
                try key.withUnsafeBytes { k in
                    let view = try lookup(&s, key: k, hash: hash, now: now, verify: true)
                    if options.statistics { shared.add(view == nil ? .misses : .hits, 1) }
                    if view != nil && options.accessTracking != .none { noteAccess(&s, hash: hash) }
                    try body(index, view)
                }
            }
        }
    }

    /// Writes `key` = `value` unconditionally, then (same lock) runs `cull` if given. Returns the
    /// replaced entry's value-file reference (if it had one) and what culling removed.
    func put(key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
             expireTime: Int64, flags: UInt8, now: Int64, cull: CullRequest? = nil) throws -> WriteOutcome {
        let (outcome, position, segment, dead) = try withWriteLock { s -> (WriteOutcome, LogPosition, Segment, Bool) in
            var outcome = WriteOutcome()
            outcome.replacedFile = fileReference(s, hash: hash, key: key)
            try putLocked(&s, key: key, hash: hash, value: value, tag: tag, expireTime: expireTime, flags: flags, now: now)
            if let cull { outcome.culled = try runCull(&s, cull, now: now) }
            return (outcome, s.applied, s.active, exceedsCompactionThreshold(s))
        }
        try afterWrite(position, segment)
        if dead { scheduleCompaction() }
        return outcome
    }

    func putLocked(_ s: inout ShardState, key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer,
                   tag: UnsafeRawBufferPointer, expireTime: Int64, flags: UInt8, now: Int64) throws {
        var entry = try append(&s, kind: .put, flags: RecordFlags(rawValue: flags), storeTime: now,
                               expireTime: expireTime, key: key, tag: tag, value: value)
        entry.tag = s.tags.intern(tag)
        if options.accessTracking == .frequency { entry.access = AccessCounter.initial }
        s.setEntry(hash: hash, key: key, entry)
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
            s.removeEntry(hash: hash, key: key)
            return true
        }
    }

    // MARK: Durability

    /// Makes the write that ended at `position` as durable as the durability mode promises.
    func afterWrite(_ position: LogPosition, _ segment: Segment) throws {
        switch options.durability {
        case .none:
            return
        case .always:
            try syncThrough(position, segment)
        case .interval(let interval):
            let last = lastSyncNanos.load(ordering: .relaxed)
            if monotonicNanos() - last >= interval.nanoseconds {
                try syncThrough(position, segment)
            }
        }
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
            // Writes that crossed the threshold while a compaction ran did not schedule another:
            // go again while the shard is still over it (a few rounds at most).
            for _ in 0..<4 {
                guard (try? compact(force: false)) ?? nil != nil else { return }
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
