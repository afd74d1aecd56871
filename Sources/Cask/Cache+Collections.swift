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
        try store.readMany(keys.map(\.cacheKeyBytes), now: now) { i, view in
            if let view { captured[i] = try Cache.capture(view) }
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
        do {
            for (_, v) in items {
                let (encoding, bytes) = try ValueCodec.encode(v, coder: coder)
                prepared.append(try prepare(encoding, bytes))
            }
            let tagBytes = Array((tag ?? "").utf8)
            let replaced = try store.mutateMany(items.map { $0.0.cacheKeyBytes }, now: t) { i, _ in
                .put(value: prepared[i].payload, tag: tagBytes, expireTime: exp, flags: prepared[i].flags)
            }
            removeFiles(replaced)
        } catch {
            for p in prepared { if let f = p.file { files.remove(f) } }
            throw error
        }
    }

    /// Deletes several keys; returns how many were present.
    @discardableResult
    public func delete<K: CacheKey>(many keys: [K]) throws -> Int {
        var present = 0
        let replaced = try store.mutateMany(keys.map(\.cacheKeyBytes), now: now) { _, current in
            if current != nil { present += 1 }
            return .delete
        }
        removeFiles(replaced)
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

    /// The newest (or, with `last: false`, oldest) entry's key and bytes.
    public func peekItem(last: Bool = true) throws -> (key: StoredKey, value: [UInt8])? {
        let entries = try liveEntries()
        for e in (last ? Array(entries.reversed()) : entries) {
            // The entry may have been removed since the listing: then look at the next one.
            if let found = try e.key.withUnsafeBytes({ k in try store.read(k, now: now) { try Cache.capture($0) } }) {
                return (StoredKey(bytes: e.key), try materialize(found).1)
            }
        }
        return nil
    }

    /// The engine's listing without the cache's own bookkeeping records (queue bounds).
    func liveEntries() throws -> [ListedEntry] {
        try store.listEntries(now: now).filter { $0.key.first != 0x00 }
    }

    // MARK: Transactions

    /// Runs `body` with every shard locked: its reads and writes are isolated from all other threads
    /// and processes, and its writes are applied together when it returns (none if it throws).
    /// Do not use the cache itself inside `body`, only the transaction.
    public func transact<R>(_ body: (CacheTransaction) throws -> R) throws -> R {
        let t = now
        var written: [ValueFiles.Reference] = []
        var replaced: [[UInt8]] = []
        do {
            let r = try store.transact(now: t) { tx in
                let ctx = CacheTransaction(cache: self, tx: tx, now: t)
                defer {
                    written = ctx.written
                    replaced = ctx.replacedFiles
                }
                return try body(ctx)
            }
            removeFiles(replaced)
            return r
        } catch {
            for f in written { files.remove(f) }
            throw error
        }
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
        do {
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
        } catch {
            if let f = prepared.file { files.remove(f) }
            throw error
        }
    }

    /// Removes and returns the front (or back) item of the queue `prefix`, skipping items that
    /// expired or were deleted.
    public func pull<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> (key: StoredKey, value: V)? {
        try queueTake(prefix: prefix, side: side, remove: true, as: type)
    }

    /// The front (or back) item of the queue `prefix`, without removing it.
    public func peek<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> (key: StoredKey, value: V)? {
        try queueTake(prefix: prefix, side: side, remove: false, as: type)
    }

    func queueTake<V: Decodable>(prefix: String?, side: QueueSide, remove: Bool, as type: V.Type) throws -> (key: StoredKey, value: V)? {
        let found = try transact { tx -> ([UInt8], Stored)? in
            var (head, tail) = try tx.queueBounds(prefix)
            var result: ([UInt8], Stored)?
            while head < tail && result == nil {
                let number = side == .front ? head : tail - 1
                let key = Cache.queueKey(prefix, number)
                if let v = try tx.tx.read(key, { try Cache.capture($0) }) {
                    result = (key, v)
                    if remove { try tx.deleteRaw(key) }
                }
                if result == nil || remove {
                    if side == .front { head += 1 } else { tail -= 1 }
                }
            }
            try tx.setQueueBounds(prefix, head, tail)
            return result
        }
        guard let (key, stored) = found else { return nil }
        let (encoding, bytes) = try materialize(stored)
        if remove, case .file(_, let ref) = stored { files.remove(ref) }
        return (StoredKey(bytes: key), try ValueCodec.decode(type, encoding: encoding, bytes: bytes, coder: coder))
    }

    static let queueStart: Int64 = 500_000_000_000_000

    static func queueKey(_ prefix: String?, _ n: Int64) -> [UInt8] {
        guard let prefix else { return n.cacheKeyBytes }
        let digits = String(n)
        return (prefix + "-" + String(repeating: "0", count: max(0, 15 - digits.count)) + digits).cacheKeyBytes
    }

    /// The engine key of a queue's bounds record: a leading 0x00 byte, which no typed key has.
    static func queueBoundsKey(_ prefix: String?) -> [UInt8] {
        [0x00] + Array("queue".utf8) + (prefix.map { [0x01] + Array($0.utf8) } ?? [])
    }
}

/// The cache as seen inside ``Cache/transact(_:)``.
public final class CacheTransaction {
    let cache: Cache
    let tx: StoreTransaction
    let now: Int64
    var written: [ValueFiles.Reference] = []
    var replacedFiles: [[UInt8]] = []

    init(cache: Cache, tx: StoreTransaction, now: Int64) {
        self.cache = cache
        self.tx = tx
        self.now = now
    }

    /// The value of `key` as the transaction sees it.
    public func get<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? {
        guard let stored = try tx.read(key.cacheKeyBytes, { try Cache.capture($0) }) else { return nil }
        let (encoding, bytes) = try cache.materialize(stored)
        return try ValueCodec.decode(type, encoding: encoding, bytes: bytes, coder: cache.coder)
    }

    /// The bytes of `key` as the transaction sees them.
    public func get(_ key: some CacheKey) throws -> [UInt8]? { try get(key, as: [UInt8].self) }

    /// Buffers a write of `key`.
    public func set<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws {
        let (encoding, bytes) = try ValueCodec.encode(value, coder: cache.coder)
        try putPrepared(key.cacheKeyBytes, try cache.prepare(encoding, bytes), expire: expire, tag: tag)
    }

    /// Buffers a delete of `key`; returns whether it was present.
    @discardableResult
    public func delete(_ key: some CacheKey) throws -> Bool { try deleteRaw(key.cacheKeyBytes) }

    /// Adds `delta` to the integer under `key` inside the transaction; see ``Cache/incr(_:by:default:)``.
    @discardableResult
    public func incr(_ key: some CacheKey, by delta: Int64 = 1, default defaultValue: Int64? = 0) throws -> Int64 {
        let current: Int64? = try get(key, as: Int64.self)
        guard let start = current ?? defaultValue else { throw CaskError(.notFound, "incr of a missing key without a default") }
        let (result, overflow) = start.addingReportingOverflow(delta)
        if overflow { throw CaskError(.invalidArgument, "incr overflows Int64") }
        try set(key, result)
        return result
    }

    func putPrepared(_ key: [UInt8], _ p: Cache.Prepared, expire: Expiry?, tag: String?) throws {
        if let f = p.file { written.append(f) }
        if let old = try tx.read(key, { v -> [UInt8]? in
            v.flags & RecordFlags.valueInFile.rawValue != 0 ? Array(v.value) : nil
        }), let old { replacedFiles.append(old) }
        try tx.put(key, p.payload, tag: Array((tag ?? "").utf8), expireTime: cache.expireTime(expire, now: now), flags: p.flags)
    }

    @discardableResult
    func deleteRaw(_ key: [UInt8]) throws -> Bool {
        if let old = try tx.read(key, { v -> [UInt8]? in
            v.flags & RecordFlags.valueInFile.rawValue != 0 ? Array(v.value) : nil
        }), let old { replacedFiles.append(old) }
        return try tx.delete(key)
    }

    func queueBounds(_ prefix: String?) throws -> (Int64, Int64) {
        guard let b = try tx.get(Cache.queueBoundsKey(prefix)), b.count == 16 else { return (Cache.queueStart, Cache.queueStart) }
        return (ValueCodec.int64(Array(b[0..<8])), ValueCodec.int64(Array(b[8..<16])))
    }

    func setQueueBounds(_ prefix: String?, _ head: Int64, _ tail: Int64) throws {
        let key = Cache.queueBoundsKey(prefix)
        if head == tail {
            try tx.delete(key)
        } else {
            try tx.put(key, ValueCodec.le(head) + ValueCodec.le(tail))
        }
    }
}
