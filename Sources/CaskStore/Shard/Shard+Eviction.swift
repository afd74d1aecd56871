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

/// The use counter of `AccessTracking.frequency`: a new entry starts at 1; each read adds 1 up to
/// 8, and beyond that with probability 1 / (10 * (n - 7) + 1), so the counter grows with the
/// logarithm of the reads (at most 255). Each pass of the eviction walk takes 1 away.
enum AccessCounter {
    static let initial: UInt16 = 1
    static let linear: UInt16 = 8

    @inline(__always)
    static func increment(_ counter: inout UInt16, random: UInt64) {
        guard counter < 255 else { return }
        if counter < linear {
            counter += 1
            return
        }
        if random % (UInt64(counter - linear + 1) * 10 + 1) == 0 { counter += 1 }
    }
}

extension Shard {
    /// Records a read for the eviction walk (in memory only).
    @inline(__always)
    func noteAccess(_ s: inout ShardState, hash: UInt64) {
        switch options.evictionPolicy {
        case .leastRecentlyStored, .none: return
        case .leastRecentlyUsed: s.directory.setAccess(hash: hash) { $0 = 1 }
        case .leastFrequentlyUsed:
            s.randomState ^= s.randomState << 13
            s.randomState ^= s.randomState >> 7
            s.randomState ^= s.randomState << 17
            let r = s.randomState
            s.directory.setAccess(hash: hash) { AccessCounter.increment(&$0, random: r) }
        }
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
    /// them. Examines at most `budget` records. Caller holds the write lock.
    func evictLocked(_ s: inout ShardState, count: Int, order: EvictionPolicy, onlyExpired: Bool, now: Int64,
                     budget: Int) throws -> [RemovedRecord] {
        var removed: [RemovedRecord] = []
        // Expiry sweeps have a hand of their own, so they never move the eviction order's hand.
        var hand = (onlyExpired ? s.expiryHand : s.hand) ?? LogPosition(segment: s.manifest.segments[0].id, offset: 0)
        var steps = 0
        var wraps = 0
        while removed.count < count && steps < budget && wraps < 2 {
            guard let index = s.manifest.segments.firstIndex(where: { $0.id == hand.segment }),
                  let seg = s.segment(hand.segment) else {
                hand = LogPosition(segment: s.manifest.segments[0].id, offset: 0)
                wraps += 1
                continue
            }
            let length = s.segmentLengths[seg.id] ?? 0
            if Int(hand.offset) >= length {
                if index + 1 < s.manifest.segments.count {
                    hand = LogPosition(segment: s.manifest.segments[index + 1].id, offset: 0)
                } else {
                    hand = LogPosition(segment: s.manifest.segments[0].id, offset: 0)
                    wraps += 1
                }
                continue
            }
            try seg.ensureMapped(length)
            let p = seg.bytes(at: Int(hand.offset))
            // The walk only needs the header; values are CRC-checked when they are read.
            guard let h = RecordCodec.plausibleHeader(p, available: length - Int(hand.offset)) else {
                // Damage (reported at load): continue after it.
                let next = Shard.resync(seg.bytes(at: 0), from: Int(hand.offset) + 1, to: length, after: 0) ?? length
                hand.offset = UInt32(next)
                continue
            }
            steps += 1
            let here = hand
            hand.offset += UInt32(h.length)
            guard h.kind == .put else { continue }
            let key = UnsafeRawBufferPointer(start: p + RecordHeader.size, count: h.keyLength)
            let hash = KeyHash.hash(key)
            let view = s.view
            guard let e = s.directory.find(hash: hash, key: key, matches: { view.keyMatches($0, key) }),
                  e.position == here else { continue }
            let expired = e.isExpired(at: now)
            var victim = expired
            if !victim && !onlyExpired {
                switch order {
                case .leastRecentlyStored, .none:
                    victim = true
                case .leastRecentlyUsed:
                    if e.access != 0 { s.directory.setAccess(hash: hash) { $0 = 0 } } else { victim = true }
                case .leastFrequentlyUsed:
                    if e.access > 0 { s.directory.setAccess(hash: hash) { $0 -= 1 } } else { victim = true }
                }
            }
            guard victim else { continue }
            removed.append(try removeLocked(&s, hash: hash, key: key, entry: e, expired: expired, now: now))
        }
        if onlyExpired { s.expiryHand = hand } else { s.hand = hand }
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
    /// while the shard's live size exceeds `sizeLimit`, up to `limit` victims in `order`.
    func runCull(_ s: inout ShardState, _ cull: CullRequest, now: Int64) throws -> [RemovedRecord] {
        var removed: [RemovedRecord] = []
        s.writesSinceCull += 1
        if s.writesSinceCull >= cull.expiredEvery && s.directory.expiringCount > 0 {
            s.writesSinceCull = 0
            removed = try evictLocked(&s, count: cull.limit, order: cull.order, onlyExpired: true, now: now, budget: cull.limit * 8)
        }
        if let limit = cull.sizeLimit, s.directory.liveBytes + s.externalBytes > limit {
            removed += try evictLocked(&s, count: cull.limit, order: cull.order, onlyExpired: false, now: now,
                                       budget: max(512, cull.limit * 64))
        }
        return removed
    }
}

/// Culling a writer does under the same lock as its write (``StoreOptions/cull``).
public struct CullRequest: Sendable, Equatable {
    /// Live bytes (records + value files) above which the shard evicts; nil for no limit.
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

