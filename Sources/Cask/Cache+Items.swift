import CaskStore

/// An entry the cache picked (the front of a queue, the newest or oldest entry): the key it is
/// stored under and its ``CacheEntry`` — value, expire time, tag and store time, read from the same
/// record in one engine operation (what diskcache returns with `expire_time=True, tag=True`). The
/// entry's properties read through the item: `item.value`, `item.expireTime`, `item.tag`.
@dynamicMemberLookup
public struct CacheItem<Value> {
    /// The key the entry is stored under; it names the same entry when passed back to
    /// ``Cache/get(_:as:)`` or ``Cache/delete(_:)``.
    public var key: StoredKey
    /// The value with its metadata.
    public var entry: CacheEntry<Value>

    /// A property of ``entry``.
    public subscript<T>(dynamicMember property: KeyPath<CacheEntry<Value>, T>) -> T { entry[keyPath: property] }
}

extension CacheItem: Sendable where Value: Sendable {}
extension CacheItem: Equatable where Value: Equatable {}

extension CacheEntry {
    /// The entry of a record: its times in µs (an expire time of 0: never), its tag bytes (none: empty).
    init(_ value: Value, expire: Int64, tag: some Collection<UInt8>, storeTime: Int64) {
        self.init(value: value, expireTime: expire == 0 ? nil : Double(expire) / 1e6,
                  tag: tag.isEmpty ? nil : String(decoding: tag, as: UTF8.self), storeTime: Double(storeTime) / 1e6)
    }

    /// The metadata of `record` around `value`.
    init(record: RecordView, value: Value) {
        self.init(value, expire: record.expireTime, tag: record.tag, storeTime: record.storeTime)
    }
}

extension CacheItem {
    /// The item of `record`, stored under the canonical key bytes `key`, around `value`.
    init(key: [UInt8], record: RecordView, value: Value) {
        self.init(key: StoredKey(bytes: key), entry: CacheEntry(record: record, value: value))
    }
}

extension Cache {
    // MARK: Items with their metadata

    /// Removes `key` and returns its value with its expire time, tag and store time, all taken from
    /// the record that is removed (one atomic engine operation: of two concurrent pops, one gets
    /// the entry). If decoding throws (wrong type, an unreadable value file), the entry stays.
    public func popEntry<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> CacheEntry<V>? {
        try store.mutate(key.cacheKeyBytes, now: now) { current -> (Mutation, CacheEntry<V>?) in
            guard let current else { return (.keep, nil) }
            return (.delete, CacheEntry(record: current, value: try decode(current, as: type)))
        }
    }

    /// ``pull(prefix:side:as:)`` with the item's expire time, tag and store time (read from the
    /// record it removes, in the same transaction).
    public func pullEntry<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> CacheItem<V>? {
        try queueTake(prefix: prefix, side: side, remove: true, as: type)
    }

    /// ``peek(prefix:side:as:)`` with the item's expire time, tag and store time.
    public func peekEntry<V: Decodable>(prefix: String? = nil, side: QueueSide = .front, as type: V.Type = V.self) throws -> CacheItem<V>? {
        try queueTake(prefix: prefix, side: side, remove: false, as: type)
    }

    /// The newest (or, with `last: false`, oldest) live entry as stored, whatever its type
    /// (``StoredValue``), with its key and metadata; ``peekItem(last:as:)`` decodes it.
    public func peekItem(last: Bool = true) throws -> CacheItem<StoredValue>? {
        try peekListed(last: last) { try storedValue(rawKey: $0) }
    }

    /// The newest (or, with `last: false`, oldest) live entry decoded as `type`, with its key and
    /// metadata (value and metadata from one read of its record).
    /// - Throws: `.typeMismatch` if that entry is not a `type` (it is not passed over: the error
    ///   is about the newest, or oldest, entry).
    public func peekItem<V: Decodable>(last: Bool = true, as type: V.Type) throws -> CacheItem<V>? {
        try peekListed(last: last) { try entry(canonicalKey: $0, as: type) }
    }

    /// Walks the store-order listing from its newest (or oldest) end to the first entry `read`
    /// finds: one removed between the listing and its read is passed over for the next one.
    private func peekListed<V>(last: Bool, _ read: ([UInt8]) throws -> CacheEntry<V>?) throws -> CacheItem<V>? {
        let entries = try liveEntries()
        for listed in (last ? Array(entries.reversed()) : entries) {
            if let entry = try read(listed.key) { return CacheItem(key: StoredKey(bytes: listed.key), entry: entry) }
        }
        return nil
    }
}

/// A listed key passes straight back to the cache: `.string("a")` names the same entry as `"a"`,
/// `.bytes(b)` as `b`, `.integer("42")` as `42`, and `.raw` its bytes as they are.
extension StoredKey: CacheKey {
    /// The canonical bytes this key was decoded from (``init(bytes:)`` and this are inverses).
    public var cacheKeyBytes: [UInt8] {
        switch self {
        case .string(let s): s.cacheKeyBytes
        case .bytes(let b): b.cacheKeyBytes
        case .integer(let s): prefixed(0x69, s.utf8)
        case .double(let s): prefixed(0x66, s.utf8)
        case .json(let s): prefixed(0x6A, s.utf8)
        case .raw(let b): b
        }
    }
}
