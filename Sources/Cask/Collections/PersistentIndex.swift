import CaskStore

/// An ordered dictionary kept in a cache directory that never evicts, shared by every thread and
/// process that opens it (diskcache's `Index`). Keys keep their insertion order; setting an existing
/// key keeps its place.
///
/// ```swift
/// let settings = try PersistentIndex<String, Int>(directory: "/var/tmp/app-index")
/// try settings.updateValue(3, forKey: "retries")
/// let retries = try settings["retries"]          // 3
/// for (key, value) in try settings.items() { print(key, value) }
/// ```
///
/// There is no subscript setter: a setter cannot throw, and a write can fail (full disk,
/// permissions); ``updateValue(_:forKey:)`` and ``removeValue(forKey:)`` report those failures.
///
/// Layout: each entry is a record under ``CodableKey`` `{"i": <name>, "k": <key>}` holding
/// `{"n": <slot>, "v": <value>}`; slot `n` is a record `"<name>-<15 digits>"` holding the key, in a
/// queue (head/tail record) that gives the order; a count record sits in the cache's own namespace.
/// Every change runs inside ``Cache/transact(_:)``.
public struct PersistentIndex<Key: Codable & Sendable, Value: Codable & Sendable>: Sendable {
    /// The cache holding the entries (eviction off).
    public let cache: Cache
    /// The index's name: the entries' key prefix.
    public let name: String

    struct Entry: Codable { var n: Int64; var v: Value }
    struct EntryKey: Encodable, Sendable { var i: String; var k: Key }

    /// Opens (creating if needed) an index on its own directory; its cache never evicts.
    public init(directory: String, clock: any CacheClock = SystemClock()) throws {
        try self.init(cache: Cache(directory: directory, settings: CacheSettings(evictionPolicy: EvictionPolicy.none), clock: clock),
                      name: "index")
    }

    /// An index named `name` inside `cache`, which must have the ``EvictionPolicy`` `.none`.
    public init(cache: Cache, name: String) throws {
        guard cache.configuration.evictionPolicy == .none else {
            throw CaskError(.invalidArgument, "a PersistentIndex needs a cache that never evicts (evictionPolicy .none)", path: cache.directory)
        }
        self.cache = cache
        self.name = name
    }

    var slotPrefix: String { name + ".order" }
    var countKey: [UInt8] { Cache.bookkeepingKey("index", Array(name.utf8)) }
    func entryKey(_ key: Key) -> CodableKey<EntryKey> { CodableKey(EntryKey(i: name, k: key)) }

    /// The value for `key`, or nil.
    public subscript(key: Key) -> Value? {
        get throws { try cache.get(entryKey(key), as: Entry.self)?.v }
    }

    /// Sets the value for `key` (a new key goes last; an existing key keeps its place).
    /// - Returns: The previous value, if any.
    @discardableResult
    public func updateValue(_ value: Value, forKey key: Key) throws -> Value? {
        try cache.transact { tx in
            let ek = entryKey(key)
            if let old = try tx.get(ek, as: Entry.self) {
                try tx.set(ek, Entry(n: old.n, v: value))
                return old.v
            }
            var (head, tail) = try tx.queueBounds(slotPrefix)
            let n = tail
            tail += 1
            try tx.set(StoredKeyBytes(bytes: Cache.queueKey(slotPrefix, n)), key)
            try tx.set(ek, Entry(n: n, v: value))
            try tx.setQueueBounds(slotPrefix, head, tail)
            try addCount(tx, 1)
            return nil
        }
    }

    /// Removes `key`; returns its value, or nil if absent.
    @discardableResult
    public func removeValue(forKey key: Key) throws -> Value? {
        try cache.transact { tx in
            let ek = entryKey(key)
            guard let old = try tx.get(ek, as: Entry.self) else { return nil }
            try tx.delete(ek)
            try tx.deleteRaw(Cache.queueKey(slotPrefix, old.n))
            let live = try addCount(tx, -1)
            try compactOrderIfSparse(tx, live: live)
            return old.v
        }
    }

    /// Keys removed from the middle leave empty order slots that every walk of the order passes.
    /// When they outnumber the live keys (and 64), the live slots are renumbered from the head, in
    /// order, and each entry is pointed at its new slot: the walk stays proportional to the live
    /// keys, at an amortized cost of O(1) rewrites per removal.
    func compactOrderIfSparse(_ tx: CacheTransaction, live: Int64) throws {
        let (head, tail) = try tx.queueBounds(slotPrefix)
        guard tail - head - live > max(64, live) else { return }
        var next = head
        for n in head..<tail {
            let slot = StoredKeyBytes(bytes: Cache.queueKey(slotPrefix, n))
            guard let key = try tx.get(slot, as: Key.self) else { continue }
            let ek = entryKey(key)
            guard let entry = try tx.get(ek, as: Entry.self) else { try tx.delete(slot); continue }
            if n != next {
                try tx.delete(slot)
                try tx.set(StoredKeyBytes(bytes: Cache.queueKey(slotPrefix, next)), key)
                try tx.set(ek, Entry(n: next, v: entry.v))
            }
            next += 1
        }
        try tx.setQueueBounds(slotPrefix, head, next)
    }

    /// Removes and returns the first (oldest inserted) entry.
    public func popFirst() throws -> (key: Key, value: Value)? { try pop(front: true) }

    /// Removes and returns the last (newest inserted) entry.
    public func popLast() throws -> (key: Key, value: Value)? { try pop(front: false) }

    func pop(front: Bool) throws -> (key: Key, value: Value)? {
        try cache.transact { tx in
            var (head, tail) = try tx.queueBounds(slotPrefix)
            var found: (Key, Value)?
            while head < tail && found == nil {
                let n = front ? head : tail - 1
                let slot = StoredKeyBytes(bytes: Cache.queueKey(slotPrefix, n))
                if let key = try tx.get(slot, as: Key.self) {
                    try tx.delete(slot)
                    let ek = entryKey(key)
                    if let entry = try tx.get(ek, as: Entry.self) {
                        try tx.delete(ek)
                        found = (key, entry.v)
                    }
                }
                if front { head += 1 } else { tail -= 1 }
            }
            try tx.setQueueBounds(slotPrefix, head, tail)
            if found != nil { try addCount(tx, -1) }
            return found.map { (key: $0.0, value: $0.1) }
        }
    }

    /// Number of entries.
    public var count: Int {
        get throws { try cache.bookkeeping(countKey).map { $0.count == 8 ? Int(ValueCodec.int64($0)) : 0 } ?? 0 }
    }

    public var isEmpty: Bool { get throws { try count == 0 } }

    /// The keys in insertion order (a consistent snapshot).
    public func keys() throws -> [Key] { try items().map(\.key) }

    /// The values in key insertion order.
    public func values() throws -> [Value] { try items().map(\.value) }

    /// The entries in insertion order (or newest first with `reversed`), read in one transaction.
    public func items(reversed: Bool = false) throws -> [(key: Key, value: Value)] {
        let all = try cache.transact { tx -> [(key: Key, value: Value)] in
            let (head, tail) = try tx.queueBounds(slotPrefix)
            var out: [(key: Key, value: Value)] = []
            for n in head..<tail {
                guard let key = try tx.get(StoredKeyBytes(bytes: Cache.queueKey(slotPrefix, n)), as: Key.self),
                      let entry = try tx.get(entryKey(key), as: Entry.self) else { continue }
                out.append((key, entry.v))
            }
            return out
        }
        return reversed ? all.reversed() : all
    }

    /// Adds `delta` to the entry count; returns the new count.
    @discardableResult
    func addCount(_ tx: CacheTransaction, _ delta: Int64) throws -> Int64 {
        try tx.cache.updateBookkeeping(countKey) { current -> ([UInt8]?, Int64) in
            let next = max(0, (current.map { $0.count == 8 ? ValueCodec.int64($0) : 0 } ?? 0) + delta)
            return (next == 0 ? nil : ValueCodec.le(next), next)
        }
    }

    /// Memoizes `body` in this index's cache (which never evicts): see
    /// ``Cache/memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)->MemoizedFunction<A,Output>``.
    public func memoize<Arguments: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", typed: Bool = false, validity: [ValidityPolicy] = [],
        _ body: @escaping @Sendable (Arguments) throws -> Output
    ) -> MemoizedFunction<Arguments, Output> {
        cache.memoize(name: name, version: version, typed: typed, validity: validity, body)
    }

    /// Memoizes an `async` function in this index's cache.
    public func memoize<Arguments: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", typed: Bool = false, validity: [ValidityPolicy] = [],
        _ body: @escaping @Sendable (Arguments) async throws -> Output
    ) -> AsyncMemoizedFunction<Arguments, Output> {
        cache.memoize(name: name, version: version, typed: typed, validity: validity, body)
    }
}
