import CaskStore

/// Figures about a cache.
public struct CacheStatistics: Sendable, Equatable {
    /// Reads that found a live value (when statistics are on).
    public var hits: UInt64
    /// Reads that found nothing.
    public var misses: UInt64
    /// Entries removed to keep the cache under its size limit, by every process so far.
    public var evictions: UInt64
    /// Expired entries removed, by every process so far.
    public var expirations: UInt64
    /// Entries (expired ones not yet removed included).
    public var count: Int
    /// Bytes on disk (log segments + value files).
    public var volume: Int
    /// Figures per shard.
    public var shards: [ShardStatistics]
    /// Local misses the second tier answered (``SecondTier``; counted by every process of the
    /// directory since the machine started, like the other counters).
    public var sharedHits: UInt64 = 0
    /// Local misses the second tier did not have either.
    public var sharedMisses: UInt64 = 0
    /// Calls to the second tier that failed or timed out.
    public var sharedErrors: UInt64 = 0
}

extension Cache {
    /// Removes every expired entry now. Returns how many.
    @discardableResult
    public func expire() throws -> Int {
        try store.removeExpired(now: now).count
    }

    /// Removes every entry tagged `tag`. Returns how many. With the tag index on, costs in
    /// proportion to the tag's entries; otherwise a pass over the in-memory index.
    @discardableResult
    public func evict(tag: String) throws -> Int {
        try store.removeTagged(Array(tag.utf8), now: now).count
    }

    /// Enforces the size limit now: removes expired entries, then evicts by policy until every
    /// shard is under its share of the limit. Returns how many entries were removed. Works whatever
    /// `cullLimit` is (that setting only bounds the culling each write does).
    @discardableResult
    public func cull() throws -> Int {
        var total = try expire()
        let request = Cache.cullRequest(configuration, limit: 64)
        guard let limit = request.sizeLimit.map({ max(1, $0 / store.shardCount) }) else { return total }
        for shard in 0..<store.shardCount {
            while try store.liveSize(shard: shard) > limit {
                let removed = try store.evict(shard: shard, count: request.limit, order: request.order, onlyExpired: false, now: now)
                total += removed.count
                if removed.isEmpty { break }
            }
        }
        return total
    }

    /// Removes every entry (and the cache's own bookkeeping records). Returns how many there were.
    @discardableResult
    public func clear() throws -> Int { try store.clear() }

    /// Counters and sizes. Hits and misses are counted only with `statistics` on; evictions and
    /// expirations always. Counters are shared by all processes (kept in the shards' shared headers).
    public func stats() throws -> CacheStatistics {
        let shards = try store.statistics()
        let c = store.counters
        return CacheStatistics(hits: c.hits, misses: c.misses, evictions: c.evictions, expirations: c.expirations,
                               count: shards.reduce(0) { $0 + $1.count },
                               volume: shards.reduce(0) { $0 + $1.logBytes + $1.valueFileBytes }, shards: shards,
                               sharedHits: c.tierHits, sharedMisses: c.tierMisses, sharedErrors: c.tierErrors)
    }

    /// Sets hits, misses, evictions and expirations back to zero.
    public func resetStats() { store.resetCounters() }

    /// Compacts every shard now.
    @discardableResult
    public func compact() throws -> [CompactionResult] { try store.compact() }
}
