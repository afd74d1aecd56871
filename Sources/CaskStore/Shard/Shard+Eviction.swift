#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A record removed by eviction, expiry or tag removal: enough for the typed layer to delete a
/// value file and count what happened.
public struct RemovedRecord: Sendable {
    /// The removed key.
    public var key: [UInt8]
    /// The removed record's flags.
    public var flags: UInt8
    /// True when the record had expired (an expiration), false when it was evicted.
    public var expired: Bool
}

/// The use counter of the least-frequently-used policy: a new entry starts at 1 and each read adds
/// 1 (saturating at 0x7FFF), so it counts the reads since the entry was stored, as exact LFU does.
/// The walk evicts the least-read entry of each `sampleSize` current entries it passes (at most an
/// eighth of the entries; first met wins a tie; an entry never read is evicted at once).
enum AccessCounter {
    static let initial: UInt16 = 1
    static let maximum: UInt16 = 0x7FFF
    static let sampleSize = 128

    @inline(__always)
    static func increment(_ counter: inout UInt16) {
        if counter < maximum { counter += 1 }
    }
}

extension Shard {
    /// Records a read for the eviction walk (in memory only) in the main-table entry in `slot`
    /// (from `KeyDirectory.findSlot`).
    @inline(__always)
    func noteAccess(_ s: inout ShardState, slot: Int) {
        switch options.evictionPolicy {
        case .leastRecentlyStored, .none: return
        case .leastRecentlyUsed: s.directory.setAccess(slot: slot) { $0 = 1 }
        case .scanResistant: s.directory.setAccess(slot: slot) { if $0 & AccessBits.frequencyMask < 3 { $0 += 1 } }
        case .leastFrequentlyUsed: s.directory.setAccess(slot: slot) { AccessCounter.increment(&$0) }
        }
    }

    /// Records a read of the record `view` (of the key with `hash`) for the eviction walk: in the
    /// main-table entry under `hash` if that entry is the record's (a key whose hash collided with
    /// another live key's is kept outside the main table, and records no reads).
    @inline(__always)
    func noteAccess(_ s: inout ShardState, hash: UInt64, of view: RecordView) {
        guard let slot = s.directory.slot(hash: hash, holding: view.position) else { return }
        noteAccess(&s, slot: slot)
    }

    /// Walks the log from where the previous walk stopped and deletes up to `count` entries; see
    /// `evictLocked`. Takes the write lock.
    func evict(count: Int, order: EvictionPolicy, onlyExpired: Bool, now: Int64, budget: Int) throws -> [RemovedRecord] {
        guard count > 0 else { return [] }
        let (removed, position, segment) = try withWriteLock { s -> ([RemovedRecord], LogPosition, Segment) in
            let removed = try evictLocked(&s, count: count, order: order, onlyExpired: onlyExpired, now: now, budget: budget)
            return (removed, s.applied, s.active)
        }
        if !removed.isEmpty { try afterWrite(position, segment) }
        return removed
    }

    /// Walks the log from where the previous walk stopped (wrapping at the end) and deletes up to
    /// `count` entries: expired ones always; others when `onlyExpired` is false and `order` picks
    /// them. Examines at most `budget` records. `probationTarget`: the bytes of probation entries
    /// the scan-resistant policy keeps (beyond them it evicts from probation first). Caller holds
    /// the write lock.
    func evictLocked(_ s: inout ShardState, count: Int, order: EvictionPolicy, onlyExpired: Bool, now: Int64,
                     budget: Int, probationTarget: Int? = nil) throws -> [RemovedRecord] {
        var removed: [RemovedRecord] = []
        // Eviction by policy goes on past the budget until it has removed one entry (bounded by
        // laps), so a shard over its limit always gets back under it; expiry sweeps stop at it.
        func spent(_ steps: Int) -> Bool { steps >= budget && (onlyExpired || !removed.isEmpty) }
        if onlyExpired || order == .leastRecentlyStored || order == .none {
            // Expiry sweeps have a hand of their own, so they never move the eviction order's hand.
            var hand = (onlyExpired ? s.expiryHand : s.hand) ?? s.logStart
            var steps = 0, wraps = 0
            while removed.count < count && !spent(steps) && wraps < 2 {
                switch try walkStep(&s, &hand, lapEnd: nil) {
                case .wrapped: wraps += 1
                case .other: steps += 1
                case .current(let hash, let key, let e):
                    steps += 1
                    let expired = e.isExpired(at: now)
                    guard expired || !onlyExpired else { continue }
                    removed.append(try removeLocked(&s, hash: hash, key: key, entry: e, expired: expired, now: now))
                }
            }
            if onlyExpired { s.expiryHand = hand } else { s.hand = hand }
            return removed
        }
        if order == .scanResistant {
            return try evictScanResistant(&s, count: count, now: now, budget: budget,
                                          probationTarget: probationTarget ?? (s.directory.liveBytes / 10))
        }
        // Recency (CLOCK) and frequency: a walk in laps over the log.
        var hand = s.hand ?? s.logStart
        var lapEnd = s.hand == nil ? s.applied : (s.lapEnd ?? s.applied)
        var steps = 0, wraps = 0
        // Frequency: the least-read entry of the current sample (first met wins a tie).
        var candidate: (hash: UInt64, key: [UInt8], entry: IndexEntry)?
        var sampled = 0
        // A sample is at most an eighth of the entries, so a small shard needs no whole lap.
        let sampleSize = min(AccessCounter.sampleSize, max(1, s.directory.count / 8))
        func takeCandidate() throws {
            guard let c = candidate else { return }
            candidate = nil
            sampled = 0
            try c.key.withUnsafeBytes { key in
                removed.append(try removeLocked(&s, hash: c.hash, key: key, entry: c.entry, expired: false, now: now))
            }
        }
        while removed.count < count && !spent(steps) && wraps < 3 {
            switch try walkStep(&s, &hand, lapEnd: &lapEnd) {
            case .wrapped:
                wraps += 1
                try takeCandidate()
            case .other: steps += 1
            case .current(let hash, let key, let e):
                steps += 1
                let expired = e.isExpired(at: now)
                if !expired {
                    if order == .leastRecentlyUsed {
                        if e.access != 0 { s.directory.setAccess(hash: hash) { $0 = 0 }; continue }
                    } else {
                        sampled += 1
                        if candidate == nil || e.access < candidate!.entry.access { candidate = (hash, Array(key), e) }
                        if sampled >= sampleSize || candidate!.entry.access <= AccessCounter.initial {
                            try takeCandidate()
                        }
                        continue
                    }
                }
                removed.append(try removeLocked(&s, hash: hash, key: key, entry: e, expired: expired, now: now))
            }
        }
        if removed.count < count { try takeCandidate() }
        s.hand = hand
        s.lapEnd = lapEnd
        return removed
    }

    /// The scan-resistant policy (S3-FIFO on the log): entries enter on probation (unless the
    /// ghost list names them); a probation hand walks the newest entries in store order and
    /// promotes those read since they were stored, evicting the rest (their hashes go to the ghost
    /// list); a main hand walks promoted entries in laps, CLOCK-like with a 2-bit read count.
    /// The probation hand runs while probation holds more than `probationTarget` bytes.
    private func evictScanResistant(_ s: inout ShardState, count: Int, now: Int64, budget: Int,
                                    probationTarget: Int) throws -> [RemovedRecord] {
        var removed: [RemovedRecord] = []
        func spent(_ steps: Int) -> Bool { steps >= budget && !removed.isEmpty }
        var probationHand = s.probationHand ?? s.logStart
        var hand = s.hand ?? s.logStart
        var lapEnd = s.hand == nil ? s.applied : (s.lapEnd ?? s.applied)
        var steps = 0, probationWraps = 0, mainWraps = 0
        // Up to 5 laps: a promoted entry read 3 times or more is passed over 3 times.
        while removed.count < count && !spent(steps) && mainWraps < 5 {
            let mainEmpty = s.directory.probationBytes >= s.directory.liveBytes
            if (s.directory.probationBytes > probationTarget || mainEmpty) && probationWraps < 2 {
                switch try walkStep(&s, &probationHand, lapEnd: nil) {
                case .wrapped: probationWraps += 1
                case .other: steps += 1
                case .current(let hash, let key, let e):
                    steps += 1
                    let expired = e.isExpired(at: now)
                    if !expired {
                        if e.access & AccessBits.main != 0 { continue }
                        if e.access & AccessBits.frequencyMask != 0 {
                            s.directory.setAccess(hash: hash) { $0 = AccessBits.main }
                            continue
                        }
                        s.ghost.insert(hash, capacity: s.directory.count)
                    }
                    removed.append(try removeLocked(&s, hash: hash, key: key, entry: e, expired: expired, now: now))
                }
                continue
            }
            switch try walkStep(&s, &hand, lapEnd: &lapEnd) {
            case .wrapped: mainWraps += 1
            case .other: steps += 1
            case .current(let hash, let key, let e):
                steps += 1
                let expired = e.isExpired(at: now)
                if !expired {
                    if e.access & AccessBits.main == 0 { continue }
                    if e.access & AccessBits.frequencyMask != 0 {
                        s.directory.setAccess(hash: hash) { $0 -= 1 }
                        continue
                    }
                }
                removed.append(try removeLocked(&s, hash: hash, key: key, entry: e, expired: expired, now: now))
            }
        }
        s.probationHand = probationHand
        s.hand = hand
        s.lapEnd = lapEnd
        return removed
    }

    /// Deletes every entry for which `predicate` holds (expiry, tag removal). With `tag`, and a tag
    /// index, only that tag's entries are examined.
    func removeAll(tag: UInt32?, now: Int64, _ predicate: (IndexEntry) -> Bool) throws -> [RemovedRecord] {
        let (removed, position, segment) = try withWriteLock { s -> ([RemovedRecord], LogPosition, Segment) in
            var victims: [(UInt64, [UInt8], IndexEntry)] = []
            let view = s.view
            if let tag, let index = s.directory.tagIndex {
                for h in index[tag] ?? [] {
                    if let e = s.directory.entry(hash: h), predicate(e) { victims.append((h, view.keyOf(e), e)) }
                }
                s.directory.forEach { h, k, e in
                    if h == nil, let k, predicate(e) { victims.append((KeyHash.hash(k), k, e)) }
                }
            } else {
                s.directory.forEach { h, k, e in
                    if predicate(e) { victims.append((h ?? KeyHash.hash(k!), k ?? view.keyOf(e), e)) }
                }
            }
            var removed: [RemovedRecord] = []
            for (h, k, e) in victims {
                try k.withUnsafeBytes { key in
                    removed.append(try removeLocked(&s, hash: h, key: key, entry: e, expired: e.isExpired(at: now), now: now))
                }
            }
            return (removed, s.applied, s.active)
        }
        if !removed.isEmpty { try afterWrite(position, segment) }
        return removed
    }

    /// Appends a tombstone for `key` and drops its entry (and its value file). Caller holds the write lock.
    private func removeLocked(_ s: inout ShardState, hash: UInt64, key: UnsafeRawBufferPointer, entry e: IndexEntry,
                              expired: Bool, now: Int64) throws -> RemovedRecord {
        let record = RemovedRecord(key: Array(key), flags: e.flags, expired: expired)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        _ = try append(&s, kind: .delete, flags: [], storeTime: now, expireTime: 0, key: key, tag: none, value: none)
        let old = s.removeEntry(hash: hash, key: key)
        s.dropFile(of: old, valuesRoot: valuesRoot)
        shared.add(expired ? .expirations : .evictions, 1)
        return record
    }
}

extension Shard {
    /// Culling done by a writer under its lock: expired entries every `expiredEvery` writes, and
    /// while the shard's live size exceeds its share of `sizeLimit` (this shard's options carry the
    /// share), up to `limit` victims in `order`.
    func runCull(_ s: inout ShardState, _ cull: CullRequest, now: Int64) throws -> [RemovedRecord] {
        var removed: [RemovedRecord] = []
        s.writesSinceCull += 1
        if s.writesSinceCull >= cull.expiredEvery && s.directory.expiringCount > 0 {
            s.writesSinceCull = 0
            removed = try evictLocked(&s, count: cull.limit, order: cull.order, onlyExpired: true, now: now, budget: cull.limit * 8)
        }
        if let limit = cull.sizeLimit, s.directory.liveBytes + s.externalBytes > limit {
            removed += try evictLocked(&s, count: cull.limit, order: cull.order, onlyExpired: false, now: now,
                                       budget: max(512, cull.limit * 64), probationTarget: limit / 10)
        }
        return removed
    }
}

/// Culling a writer does under the same lock as its write (``StoreOptions/cull``).
public struct CullRequest: Sendable, Equatable {
    /// Live bytes (records + value files) of the whole store above which writes evict: each shard
    /// culls to its share, `sizeLimit / shards`. Nil for no limit.
    public var sizeLimit: Int?
    /// Most entries removed per write (diskcache's cull limit).
    public var limit: Int
    /// Which entries go first.
    public var order: EvictionPolicy
    /// Look for expired entries every this many writes.
    public var expiredEvery: Int

    /// A culling request; see the properties.
    public init(sizeLimit: Int?, limit: Int, order: EvictionPolicy, expiredEvery: Int = 16) {
        self.sizeLimit = sizeLimit
        self.limit = limit
        self.order = order
        self.expiredEvery = expiredEvery
    }
}

