import CCaskSupport
import CaskStore

/// Which end of a queue.
public enum QueueSide: Sendable {
    case front, back
}

extension Cache {
    // MARK: Bulk operations (one lock per shard)

    /// The bytes of several keys; nil where absent. Takes each shard's lock once.
    public func get<K: CacheKey>(many keys: [K]) throws -> [[UInt8]?] {
        try get(many: keys, as: [UInt8].self)
    }

    /// Several values decoded as `type`; nil where absent.
    public func get<K: CacheKey, V: Decodable>(many keys: [K], as type: V.Type) throws -> [V?] {
        var captured = [Stored?](repeating: nil, count: keys.count)
        try store.fetchMany(keys.map(\.cacheKeyBytes), now: now) { i, view, file in
            if let view { captured[i] = try Cache.capture(view, file) }
        }
        return try captured.map { stored in
            guard let stored else { return nil }
            let (encoding, bytes) = try materialize(stored)
            return try ValueCodec.decode(type, encoding: encoding, bytes: bytes, coder: coder)
        }
    }

    /// Stores several key-value pairs, taking each shard's write lock once.
    public func set<K: CacheKey, V: Encodable>(many items: [(K, V)], expire: Expiry? = nil, tag: String? = nil) throws {
        let t = now
        let exp = try expireTime(expire, now: t)
        var prepared: [Prepared] = []
        // Value files no record took (a failure part way) are unlinked; committed ones stay.
        defer { for p in prepared { p.file?.discard() } }
        for (_, v) in items {
            let (encoding, bytes) = try ValueCodec.encode(v, coder: coder)
            prepared.append(try prepare(encoding, bytes))
        }
        let tagBytes = Array((tag ?? "").utf8)
        try store.mutateMany(items.map { $0.0.cacheKeyBytes }, now: t) { i, _ in
            prepared[i].mutation(tag: tagBytes, expireTime: exp)
        }
    }

    /// Deletes several keys; returns how many were present.
    @discardableResult
    public func delete<K: CacheKey>(many keys: [K]) throws -> Int {
        var present = 0
        try store.mutateMany(keys.map(\.cacheKeyBytes), now: now) { _, current in
            if current != nil { present += 1 }
            return .delete
        }
        return present
    }

    // MARK: Iteration (store order)

    /// The live keys, oldest stored first (or newest first with `reversed`). A key that is set
    /// again moves to the end: the order is that of the last store.
    public func keys(reversed: Bool = false) throws -> [StoredKey] {
        let keys = try liveEntries().map { StoredKey(bytes: $0.key) }
        return reversed ? keys.reversed() : keys
    }

    /// The keys with `tag`, oldest stored first.
    public func keys(tag: String) throws -> [StoredKey] {
        let t = Array(tag.utf8)
        return try liveEntries().filter { $0.tag == t }.map { StoredKey(bytes: $0.key) }
    }

    /// The engine's listing without the cache's own bookkeeping records (queue bounds).
    func liveEntries() throws -> [ListedEntry] {
        try store.listEntries(now: now).filter { $0.key.first != 0x00 }
    }

    // MARK: Transactions

    /// Runs `body` with every shard locked: its reads and writes are isolated from all other threads
    /// and processes, and its writes are applied together when it returns (none if it throws).
    ///
    /// Inside `body`, on its thread, the cache's own operations join the transaction: `cache.incr`
    /// there is the same as `tx.incr`, and a nested `transact` runs inside this one. Operations that
    /// need every shard on their own (`clear`, `compact`, `cull`, `count`, listings) throw
    /// `.invalidArgument` there instead of waiting for locks the transaction holds.
    public func transact<R>(_ body: (CacheTransaction) throws -> R) throws -> R {
        try store.transact(now: now) { tx in try body(CacheTransaction(cache: self, tx: tx)) }
    }

    // MARK: Queues

    /// Appends `value` at the back (or front) of the queue named `prefix`; returns its key.
    /// Queue keys are integers (no prefix) or strings `"<prefix>-<15 digits>"`, numbered from
    /// 500,000,000,000,000 as diskcache numbers them; a head/tail record per prefix keeps push and
    /// pull O(1).
    @discardableResult
    public func push<V: Encodable>(_ value: V, prefix: String? = nil, side: QueueSide = .back,
                                   expire: Expiry? = nil, tag: String? = nil) throws -> StoredKey {
        let (encoding, bytes) = try ValueCodec.encode(value, coder: coder)
        let prepared = try prepare(encoding, bytes)
        defer { prepared.file?.discard() }
        return try transact { tx in
            var (head, tail) = try tx.queueBounds(prefix)
            let number: Int64
            switch side {
            case .back: number = tail; tail += 1
            case .front: head -= 1; number = head
            }
            let key = Cache.queueKey(prefix, number)
            try tx.putPrepared(key, prepared, expire: expire, tag: tag)
            try tx.setQueueBounds(prefix, head, tail)
            return StoredKey(bytes: key)
        }
    }

    /// Removes and returns the front (or back) item of the queue `prefix`, skipping items that
    /// were deleted and removing items that expired (counted as expirations) on the way. The item is
    /// decoded before it is removed: if decoding throws, nothing changes. ``pullEntry(prefix:side:as:)``
    /// returns the item's expire time and tag too.
    public func pull<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> (key: StoredKey, value: V)? {
        try queueTake(prefix: prefix, side: side, remove: true, as: type).map { ($0.key, $0.value) }
    }

    /// The front (or back) item of the queue `prefix`, without removing it (expired items passed on
    /// the way are removed). ``peekEntry(prefix:side:as:)`` returns its expire time and tag too.
    public func peek<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> (key: StoredKey, value: V)? {
        try queueTake(prefix: prefix, side: side, remove: false, as: type).map { ($0.key, $0.value) }
    }

    /// The front (or back) live item of queue `prefix` with its metadata, read (and with `remove`,
    /// deleted) in one transaction.
    func queueTake<V: Decodable>(prefix: String?, side: QueueSide, remove: Bool, as type: V.Type) throws -> CacheItem<V>? {
        try transact { tx -> CacheItem<V>? in
            var (head, tail) = try tx.queueBounds(prefix)
            var result: CacheItem<V>?
            while head < tail && result == nil {
                let number = side == .front ? head : tail - 1
                let key = Cache.queueKey(prefix, number)
                if let item = try tx.tx.read(key, { try CacheItem(key: key, record: $0, value: decode($0, as: type)) }) {
                    result = item
                    if remove { try tx.tx.delete(key) }
                } else {
                    try tx.tx.deleteIfExpired(key)
                }
                if result == nil || remove {
                    if side == .front { head += 1 } else { tail -= 1 }
                }
            }
            try tx.setQueueBounds(prefix, head, tail)
            return result
        }
    }

    static let queueStart: Int64 = 500_000_000_000_000

    static func queueKey(_ prefix: String?, _ n: Int64) -> [UInt8] {
        guard let prefix else { return n.cacheKeyBytes }
        let digits = String(n)
        return (prefix + "-" + String(repeating: "0", count: max(0, 15 - digits.count)) + digits).cacheKeyBytes
    }

    /// The engine key of a queue's bounds record: a leading 0x00 byte, which no typed key has.
    static func queueBoundsKey(_ prefix: String?) -> [UInt8] {
        bookkeepingKey("queue", prefix.map { Array($0.utf8) })
    }
}

/// The cache as seen inside ``Cache/transact(_:)``. Each operation is the cache's own, run inside
/// the transaction (one implementation for both). Valid only in the body, on the body's thread.
public final class CacheTransaction {
    let cache: Cache
    let tx: StoreTransaction

    init(cache: Cache, tx: StoreTransaction) {
        self.cache = cache
        self.tx = tx
    }

    /// The transaction's time (µs since the epoch).
    var now: Int64 { tx.now }

    /// Throws unless the calling thread is running this transaction's body.
    func active() throws -> Cache {
        guard cask_current_transaction() == Unmanaged.passUnretained(tx).toOpaque() else {
            throw CaskError(.invalidArgument, "a transaction is only usable inside its body, on the body's thread", path: cache.directory)
        }
        return cache
    }

    /// The value of `key` as the transaction sees it.
    public func get<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? {
        try active().get(key, as: type)
    }

    /// The bytes of `key` as the transaction sees them.
    public func get(_ key: some CacheKey) throws -> [UInt8]? { try active().get(key, as: [UInt8].self) }

    /// Buffers a write of `key`; see ``Cache/set(_:_:expire:tag:)-(_,V,_,_)``.
    public func set<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws {
        try active().set(key, value, expire: expire, tag: tag)
    }

    /// Buffers a write of `key` if it is absent; see ``Cache/add(_:_:expire:tag:)``.
    @discardableResult
    public func add<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws -> Bool {
        try active().add(key, value, expire: expire, tag: tag)
    }

    /// Buffers a delete of `key`; returns whether it was present.
    @discardableResult
    public func delete(_ key: some CacheKey) throws -> Bool { try active().delete(key) }

    /// Removes `key` and returns its value; see ``Cache/pop(_:as:)``.
    public func pop<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? { try active().pop(key, as: type) }

    /// Removes `key` and returns its value with its metadata; see ``Cache/popEntry(_:as:)``.
    public func popEntry<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> CacheEntry<V>? {
        try active().popEntry(key, as: type)
    }

    /// Gives a live `key` a new expiry; see ``Cache/touch(_:expire:)``.
    @discardableResult
    public func touch(_ key: some CacheKey, expire: Expiry?) throws -> Bool { try active().touch(key, expire: expire) }

    /// Adds `delta` to the integer under `key` inside the transaction; see ``Cache/incr(_:by:default:)``
    /// (the entry keeps its tag and expiry).
    @discardableResult
    public func incr(_ key: some CacheKey, by delta: Int64 = 1, default defaultValue: Int64? = 0) throws -> Int64 {
        try active().incr(key, by: delta, default: defaultValue)
    }

    /// Subtracts `delta`; see ``Cache/decr(_:by:default:)``.
    @discardableResult
    public func decr(_ key: some CacheKey, by delta: Int64 = 1, default defaultValue: Int64? = 0) throws -> Int64 {
        try active().decr(key, by: delta, default: defaultValue)
    }

    func putPrepared(_ key: [UInt8], _ p: Cache.Prepared, expire: Expiry?, tag: String?) throws {
        let cache = try active()
        let write = p.mutation(tag: Array((tag ?? "").utf8), expireTime: try cache.expireTime(expire, now: tx.now))
        try tx.mutate(key) { _ in (write, ()) }
    }

    @discardableResult
    func deleteRaw(_ key: [UInt8]) throws -> Bool { try tx.delete(key) }

    func queueBounds(_ prefix: String?) throws -> (Int64, Int64) {
        guard let b = try active().bookkeeping(Cache.queueBoundsKey(prefix)), b.count == 16 else { return (Cache.queueStart, Cache.queueStart) }
        return (ValueCodec.int64(Array(b[0..<8])), ValueCodec.int64(Array(b[8..<16])))
    }

    func setQueueBounds(_ prefix: String?, _ head: Int64, _ tail: Int64) throws {
        try active().setBookkeeping(Cache.queueBoundsKey(prefix), head == tail ? nil : ValueCodec.le(head) + ValueCodec.le(tail))
    }
}
