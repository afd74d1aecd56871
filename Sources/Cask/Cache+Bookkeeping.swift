import CaskStore

/// The cache's own namespace: records whose engine key starts with 0x00, which no typed key does —
/// queue bounds, collection counts and order bounds, throttle state, memoize access records. They are
/// bytes in, bytes out, never counted or listed as entries, and copied by export/import. Memoize,
/// the collections and the recipes reach them only through these methods (never the engine), and
/// inside a transaction these calls join it like every other operation of the cache.
extension Cache {
    /// Throws unless `key` is in the cache's own namespace.
    static func requireBookkeeping(_ key: [UInt8]) throws {
        guard key.first == 0x00 else {
            throw CaskError(.invalidArgument, "not a key of the cache's own namespace (first byte 0x00)")
        }
    }

    /// The engine key of a bookkeeping record: 0x00, a kind, and for named ones 0x01 and the name bytes.
    static func bookkeepingKey(_ kind: String, _ name: [UInt8]? = nil) -> [UInt8] {
        [0x00] + Array(kind.utf8) + (name.map { [0x01] + $0 } ?? [])
    }

    /// The bytes of the bookkeeping record `key`, or nil.
    func bookkeeping(_ key: [UInt8]) throws -> [UInt8]? {
        try Cache.requireBookkeeping(key)
        return try store.get(key, now: now)
    }

    /// Replaces (or with nil, removes) the bookkeeping record `key`.
    func setBookkeeping(_ key: [UInt8], _ value: [UInt8]?, tag: [UInt8] = []) throws {
        try Cache.requireBookkeeping(key)
        if let value { try store.put(key, value, tag: tag, now: now) } else { try store.delete(key, now: now) }
    }

    /// Reads and replaces the bookkeeping record `key` atomically across threads and processes:
    /// `body` gets the current bytes and returns the new ones (nil removes the record).
    func updateBookkeeping<R>(_ key: [UInt8], tag: [UInt8] = [], _ body: ([UInt8]?) throws -> ([UInt8]?, R)) throws -> R {
        try Cache.requireBookkeeping(key)
        return try store.mutate(key, now: now) { current -> (Mutation, R) in
            let (next, result) = try body(current.map { Array($0.value) })
            guard let next else { return (current == nil ? .keep : .delete, result) }
            return (.put(value: next, tag: tag), result)
        }
    }

    /// Deletes every record (entries and bookkeeping records alike) whose engine key starts with one
    /// of `prefixes`. Returns how many live records were deleted per prefix, in order.
    func deleteRecords(withPrefixes prefixes: [[UInt8]]) throws -> [Int] {
        let doomed = try store.listEntries(now: now).map(\.key).filter { k in prefixes.contains { k.starts(with: $0) } }
        var removed = [Int](repeating: 0, count: prefixes.count)
        try store.mutateMany(doomed, now: now) { i, current in
            if current != nil, let p = prefixes.firstIndex(where: { doomed[i].starts(with: $0) }) { removed[p] += 1 }
            return .delete
        }
        return removed
    }
}
