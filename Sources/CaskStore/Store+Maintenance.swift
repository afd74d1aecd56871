/// Per-shard figures of a store.
public struct ShardStatistics: Sendable, Equatable {
    /// The shard.
    public var shard: Int
    /// Live entries (expired ones not yet removed included; reserved keys left out).
    public var count: Int
    /// Bytes of the live records in the log.
    public var liveBytes: Int
    /// Bytes of all segments (live + dead).
    public var logBytes: Int
    /// Bytes of the value files of live entries.
    public var valueFileBytes: Int
    /// Live segments.
    public var segments: Int
    /// Bytes of the log no live entry needs (compaction reclaims them).
    public var deadBytes: Int { max(0, logBytes - liveBytes) }
}

/// Counters kept in the shared headers (all processes add to them).
public struct StoreCounters: Sendable, Equatable {
    /// Reads that found a value.
    public var hits: UInt64 = 0
    /// Reads that found nothing.
    public var misses: UInt64 = 0
    /// Entries removed to stay under a size limit.
    public var evictions: UInt64 = 0
    /// Expired entries removed.
    public var expirations: UInt64 = 0
    /// Local misses a second tier (shared by several caches) answered.
    public var tierHits: UInt64 = 0
    /// Local misses the second tier did not have either.
    public var tierMisses: UInt64 = 0
    /// Calls to the second tier that failed or timed out.
    public var tierErrors: UInt64 = 0
}

/// What a second tier did, for ``Store/countTier(_:)``.
package enum TierEvent: Sendable {
    case hit, miss, error
}

/// A live entry as listed in store order.
public struct ListedEntry: Sendable {
    /// The key bytes.
    public var key: [UInt8]
    /// The tag bytes (empty: none).
    public var tag: [UInt8]
    /// When it was stored (µs since the epoch).
    public var storeTime: Int64
    /// When it expires (µs since the epoch; 0: never).
    public var expireTime: Int64
    /// Its record's sequence number (store-wide: the order records were stored in).
    public var sequence: UInt64
    /// Its shard.
    public var shard: Int
}

extension Store {
    /// The shard of a key with this hash (the only place the placement rule is written).
    @inline(__always)
    package func shardNumber(hash: UInt64) -> Int { Int((hash >> 33) % UInt64(shardCount)) }

    /// Per-shard figures.
    public func statistics() throws -> [ShardStatistics] {
        try shards.map { sh in
            try sh.withCurrentState { s in
                ShardStatistics(shard: sh.number, count: s.userEntryCount(), liveBytes: s.directory.liveBytes,
                                logBytes: s.totalBytes, valueFileBytes: s.externalBytes, segments: s.manifest.segments.count)
            }
        }
    }

    /// Hits, misses, evictions and expirations counted so far by every process.
    public var counters: StoreCounters {
        var c = StoreCounters()
        for s in shards {
            c.hits += s.shared.load(.hits)
            c.misses += s.shared.load(.misses)
            c.evictions += s.shared.load(.evictions)
            c.expirations += s.shared.load(.expirations)
            c.tierHits += s.shared.load(.tierHits)
            c.tierMisses += s.shared.load(.tierMisses)
            c.tierErrors += s.shared.load(.tierErrors)
        }
        return c
    }

    /// Counts one event of the cache's second tier (in shard 0's shared header).
    package func countTier(_ event: TierEvent) {
        let field: SharedHeader.Field = switch event {
        case .hit: .tierHits
        case .miss: .tierMisses
        case .error: .tierErrors
        }
        shards[0].shared.add(field, 1)
    }

    /// Sets the shared counters to zero.
    public func resetCounters() {
        for s in shards {
            s.shared.store(.hits, 0)
            s.shared.store(.misses, 0)
            s.shared.store(.evictions, 0)
            s.shared.store(.expirations, 0)
            s.shared.store(.tierHits, 0)
            s.shared.store(.tierMisses, 0)
            s.shared.store(.tierErrors, 0)
        }
    }

    /// Size of shard `shard` that counts against a size limit: live records plus value files.
    package func liveSize(shard: Int) throws -> Int {
        try shards[shard].withCurrentState { s in s.directory.liveBytes + s.externalBytes }
    }

    /// Runs the eviction walk of one shard. See `Shard.evict`.
    package func evict(shard: Int, count: Int, order: EvictionPolicy, onlyExpired: Bool, now: Int64) throws -> [RemovedRecord] {
        try shards[shard].evict(count: count, order: order, onlyExpired: onlyExpired, now: now, budget: max(512, count * 64))
    }

    /// Deletes the entries expired at `now` in every shard.
    package func removeExpired(now: Int64) throws -> [RemovedRecord] {
        var out: [RemovedRecord] = []
        for s in shards { out += try s.removeAll(tag: nil, now: now) { $0.isExpired(at: now) } }
        return out
    }

    /// Deletes every entry tagged `tag`.
    package func removeTagged(_ tag: [UInt8], now: Int64) throws -> [RemovedRecord] {
        var out: [RemovedRecord] = []
        for s in shards {
            guard let id = try s.withCurrentState({ st in st.directory.tags.id(of: tag) }) else { continue }
            out += try s.removeAll(tag: id, now: now) { $0.tag == id }
        }
        return out
    }

    /// The live (unexpired at `now`) entries of every shard, oldest stored first: by sequence, which
    /// is store-wide, so the order holds across shards and processes whatever the clock says.
    public func listEntries(now: Int64 = wallClockMicros()) throws -> [ListedEntry] {
        var all: [ListedEntry] = []
        for sh in shards {
            try sh.withCurrentState { s in
                let view = s.view
                s.directory.forEach { _, _, e in
                    guard !e.isExpired(at: now), let seg = view.segment(e.segment) else { return }
                    let p = seg.bytes(at: Int(e.offset))
                    let h = RecordCodec.header(at: p)
                    all.append(ListedEntry(
                        key: Array(UnsafeRawBufferPointer(start: p + h.keyOffset, count: h.keyLength)),
                        tag: Array(UnsafeRawBufferPointer(start: p + h.tagOffset, count: h.tagLength)),
                        storeTime: h.storeTime, expireTime: e.expireTime, sequence: h.sequence, shard: sh.number))
                }
            }
        }
        all.sort { ($0.sequence, $0.shard) < ($1.sequence, $1.shard) }
        return all
    }
}
